"""Profile the check-in path in process: ``POST /api/v1/me/checkins`` through Flask's test client on
PostgreSQL, under pyinstrument, with the production settings that matter for the path (JSON access log,
Prometheus multiprocess metrics, Fernet keys from the environment).

    .venv/bin/python bench/profile_checkin.py [--checkins 400] [--patients 100] \
        [--out bench/profiles/checkin.txt] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Same request mix as bench/api.py (daily check-ins, every 10th a PHQ-9, a fresh Idempotency-Key and
client UUID each, rotating over patients). Writes pyinstrument's text profile to ``--out`` and prints
``name: value unit`` lines: in-process requests/s, wall and CPU ms per check-in and SQL statements per
check-in (without the profiler; CPU ms and statements are the figures least disturbed by other load), then
wall ms per check-in under the profiler.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

_metrics_dir = tempfile.mkdtemp(prefix="ic-profile-metrics-")
atexit.register(shutil.rmtree, _metrics_dir, ignore_errors=True)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _metrics_dir)  # before prometheus_client is imported

from _common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    ROOT,
    access_token,
    app_for,
    drop_database,
    fresh_database,
    machine_line,
    migrate,
    print_table,
    report,
    seed_patients,
    seed_team,
    server_env,
)
from pyinstrument import Profiler  # noqa: E402
from sqlalchemy import event  # noqa: E402
from tqdm import tqdm  # noqa: E402

PHQ9 = {f"q{i}": 1 for i in range(1, 6)} | {f"q{i}": 0 for i in range(6, 10)}


def body(n: int, recorded_at: str) -> dict:
    """The n-th request body: a daily check-in, every 10th a PHQ-9; none concerning."""
    if n % 10 == 0:
        answers: dict = PHQ9
        instrument = "phq9"
    else:
        answers = {
            "mood": random.randint(5, 8),
            "anxiety": random.randint(1, 4),
            "hours_slept": random.choice([6.5, 7, 7.5, 8]),
            "sleep_quality": random.randint(2, 4),
            "energy": random.randint(4, 8),
        }
        instrument = "daily"
    return {
        "client_uuid": str(uuid.uuid4()),
        "instrument_id": instrument,
        "instrument_version": "1.0",
        "answers": answers,
        "recorded_at": recorded_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkins", type=int, default=400)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "profiles" / "checkin.txt")
    parser.add_argument("--show-all", action="store_true", help="keep library frames in the profile")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    machine_line("start")
    name, url = fresh_database(args.database_url, "ic_bench_profile")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = server_env(url, Path(tmp))
            app = app_for(env, ACCESS_TOKEN_MINUTES=240)
            # The production access log (JSON lines), into a file rather than the terminal.
            from api.observability import configure_logging

            configure_logging("INFO")
            logging.getLogger().handlers[0].setStream(open(Path(tmp) / "access.log", "w"))  # noqa: SIM115
            with app.app_context():
                from api.extensions import db
                from api.models.types import utcnow

                migrate()
                team, _ = seed_team("profile", clinicians=3, devices=False)
                patients = seed_patients(team, args.patients)
                headers = [{"Authorization": f"Bearer {access_token(p)}"} for p in patients]
                db.session.commit()
                db.session.remove()
                engine = db.engine
            client = app.test_client()
            recorded_at = (utcnow() - timedelta(minutes=1)).isoformat()

            statements = [0]
            event.listen(
                engine, "before_cursor_execute", lambda *_: statements.__setitem__(0, statements[0] + 1)
            )

            def run(count: int, label: str) -> float:
                started = time.perf_counter()
                for n in tqdm(range(count), desc=label, leave=False, disable=None):
                    key = str(uuid.uuid4())
                    response = client.post(
                        "/api/v1/me/checkins",
                        json=body(n, recorded_at),
                        headers=headers[n % len(headers)] | {"Idempotency-Key": key},
                    )
                    if response.status_code != 201:
                        raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)}")
                return time.perf_counter() - started

            run(50, "warm-up")
            statements[0] = 0
            cpu = time.process_time()
            elapsed = run(args.checkins, "unprofiled")
            cpu = time.process_time() - cpu
            report("inprocess_checkin_rps", args.checkins / elapsed, "requests/s")
            report("inprocess_checkin_wall_ms", elapsed / args.checkins * 1000, "ms")
            report("inprocess_checkin_cpu_ms", cpu / args.checkins * 1000, "ms")
            report("sql_statements_per_checkin", statements[0] / args.checkins, "statements")
            profiler = Profiler(interval=0.0005)
            profiler.start()
            elapsed = run(args.checkins, "profiled")
            profiler.stop()
            report("profiled_checkin_ms", elapsed / args.checkins * 1000, "ms")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(profiler.output_text(unicode=False, color=False, show_all=args.show_all))
            print(f"profile written to {args.out}", flush=True)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        drop_database(args.database_url, name)
    machine_line("end")
    print_table()


if __name__ == "__main__":
    main()
