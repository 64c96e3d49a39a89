"""Planning throughput: the default schedule for N patients with 3 dosing sessions each.

    .venv/bin/python bench/plan.py [--patients 10000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a fresh migrated database (PostgreSQL by default; `--database-url sqlite:///...` for SQLite), inserts
the patients and their dosing sessions in bulk, then plans every prompt through the service the API uses
(`api.services.planning.replan_patients`, 500 patients per transaction), then plans everyone once more,
which must change nothing. Prints `name: value unit` lines and a Markdown table: the planning time, its
client CPU share (the rest is waiting for the database), duplicate keys (must be 0), the re-plan time
and the rows it changed (must be 0). Target: planning under 60 s in total for 10,000 patients.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tqdm import tqdm  # noqa: E402

from api import create_app  # noqa: E402
from api.extensions import db  # noqa: E402
from api.models import CareTeam, DosingSession, PatientProfile, Prompt, User  # noqa: E402
from api.services.planning import replan_patients  # noqa: E402

BATCH = 500  # patients per transaction
ZONES = ["America/New_York", "Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata"]


def fresh_database(base_url: str) -> tuple[str, object]:
    url = make_url(base_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database).unlink(missing_ok=True)
        return base_url, None
    name = f"ic_bench_plan_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return url.set(database=name).render_as_string(hide_password=False), (admin, name)


def seed(patients: int, start: datetime) -> list[int]:
    team = CareTeam(name="Bench team")
    db.session.add(team)
    db.session.flush()
    ids = []
    for chunk in tqdm(range(0, patients, 1000), desc="seed", unit="k patients"):
        n = min(1000, patients - chunk)
        users = (
            db.session.execute(
                insert(User).returning(User.id),
                [
                    {
                        "email": f"p{chunk + i}@bench.test",
                        "display_name": f"p{chunk + i}",
                        "role": "patient",
                        "is_active": True,
                        "created_at": start,
                    }
                    for i in range(n)
                ],
            )
            .scalars()
            .all()
        )
        db.session.execute(
            insert(PatientProfile),
            [
                {
                    "user_id": u,
                    "care_team_id": team.id,
                    "timezone": ZONES[u % len(ZONES)],
                    "enrolled_at": start,
                }
                for u in users
            ],
        )
        db.session.execute(
            insert(DosingSession),
            [
                {
                    "patient_id": u,
                    "session_number": s + 1,
                    "started_at": start + timedelta(days=28 * s, hours=u % 5),
                    "created_at": start,
                    "updated_at": start,
                }
                for u in users
                for s in range(3)
            ],
        )
        ids += users
    db.session.commit()
    return ids


@dataclass
class Run:
    seconds: float
    client_cpu_seconds: float
    db_cpu_seconds: float | None  # None when the server's processes cannot be read (not local)
    changed_rows: int


def server_cpu() -> dict[int, float] | None:
    """CPU seconds so far of each server process connected to this database (local PostgreSQL only)."""
    if db.engine.dialect.name != "postgresql":
        return None
    pids = db.session.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    db.session.commit()
    return cpu


def plan_all(ids: list[int], now: datetime, desc: str) -> Run:
    """Plan every patient through the service, ``BATCH`` per transaction."""
    server_before = server_cpu()
    began, cpu = time.perf_counter(), time.process_time()
    changed = 0
    with tqdm(total=len(ids), desc=desc, unit="patients") as bar:
        for chunk in range(0, len(ids), BATCH):
            batch = ids[chunk : chunk + BATCH]
            changes = replan_patients(batch, "bench", now=now)
            db.session.commit()
            changed += sum(sum(c.as_dict().values()) for c in changes.values())
            bar.update(len(batch))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    server_after = server_cpu()
    db_cpu = None
    if server_before is not None and server_after is not None:
        db_cpu = sum(t - server_before.get(pid, 0.0) for pid, t in server_after.items())
    return Run(seconds, cpu, db_cpu, changed)


def none_or_round(value: float | None) -> float | str:
    return "n/a" if value is None else round(value, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(
        f"cpus: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True
    )
    url, cleanup = fresh_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    try:
        with app.app_context():
            upgrade()
            start = datetime.now(UTC) + timedelta(days=1)
            ids = seed(args.patients, start)
            now = start - timedelta(days=1)
            plan = plan_all(ids, now, "plan")
            rows = db.session.scalar(select(func.count()).select_from(Prompt))
            keys = db.session.scalar(
                select(func.count()).select_from(
                    select(Prompt.patient_id, Prompt.rule_key, Prompt.dosing_session_id, Prompt.occurrence)
                    .distinct()
                    .subquery()
                )
            )
            # Planning again must find nothing to do (and shows what the diff against stored rows costs).
            replan = plan_all(ids, now, "re-plan")
            db.session.remove()
            db.engine.dispose()
    finally:
        if cleanup:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = [
        ("plan_patients", args.patients, "patients"),
        ("plan_dosing_sessions", args.patients * 3, "sessions"),
        ("plan_prompt_rows", rows, "rows"),
        ("plan_duplicate_keys", rows - keys, "rows"),
        ("plan_total_seconds", round(plan.seconds, 1), "s"),
        ("plan_rows_per_second", round(rows / plan.seconds), "rows/s"),
        ("plan_client_cpu_seconds", round(plan.client_cpu_seconds, 1), "s"),
        ("plan_db_cpu_seconds", none_or_round(plan.db_cpu_seconds), "s"),
        ("plan_peak_rss", round(peak_mb), "MiB"),
        ("replan_total_seconds", round(replan.seconds, 1), "s"),
        ("replan_client_cpu_seconds", round(replan.client_cpu_seconds, 1), "s"),
        ("replan_db_cpu_seconds", none_or_round(replan.db_cpu_seconds), "s"),
        ("replan_changed_rows", replan.changed_rows, "rows"),
        ("load_average_1m_at_end", round(os.getloadavg()[0], 2), ""),
    ]
    for name, value, unit in figures:
        print(f"{name}: {value} {unit}".rstrip())
    print("\n| figure | value |\n| --- | --- |")
    for name, value, unit in figures:
        print(f"| {name} | {f'{value} {unit}'.strip()} |")


if __name__ == "__main__":
    main()
