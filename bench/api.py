"""Check-in submission throughput and latency under gunicorn on PostgreSQL, against a bare insert.

    .venv/bin/python bench/api.py [--patients 1000] [--warmup 10] [--duration 30] [--threads 2] \
        [--connections 16] [--phq9-every 10] \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

In a scratch database (created, migrated with the project's migrations, dropped at the end) it seeds
one care team and ``--patients`` patients, then starts, with the same ``gunicorn.conf.py`` (workers from
WEB_CONCURRENCY, default 3 sync workers) and a production-like environment:

* the real API, ``gunicorn --config gunicorn.conf.py 'api:create_app()'``: ``POST /api/v1/me/checkins``
  with real bearer-token auth, validation, scoring, flag evaluation, audit and Idempotency-Key;
* the baseline, ``bench/baseline_app.py``: minimal Flask + Flask-SQLAlchemy, one JSON POST inserting one
  comparable row into a table of the same database.

``wrk`` (a separate client process, ``bench/checkins.lua``) drives each for ``--warmup`` seconds
(discarded), then ``--duration`` seconds measured, with ``--threads``/``--connections`` (default -t2 -c16,
on the same machine as the servers). Every request carries a fresh Idempotency-Key and client UUID and
rotates over the patients' tokens; every ``--phq9-every``-th is a PHQ-9, the rest daily check-ins, none
concerning. After each measured run the stored rows are checked against the 2xx responses wrk saw:
``*_lost`` (acknowledged but not stored) and ``*_duplicates`` must be 0; ``*_unacknowledged_stored`` are
requests still in flight when wrk stopped (stored, answer never read), at most one per connection.

Prints ``name: value unit`` lines, then a Markdown table. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
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
    stop,
    wait_http,
)
from sqlalchemy import Connection, Engine, text
from tqdm import tqdm

from tests.faults.gunicorn import free_port, start_gunicorn

LUA = ROOT / "bench" / "checkins.lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def run_wrk(
    base: str, path: str, tokens: Path, out: Path, seconds: int, args: argparse.Namespace, label: str
) -> tuple[str, dict]:
    """One wrk run; returns (tag of its client UUIDs, wrk's figures)."""
    tag = secrets.token_hex(4)
    command = [
        WRK,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        base,
        "--",
        str(tokens),
        tag,
        path,
        str(out / tag),
        str(args.phq9_every),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with tqdm(total=seconds, desc=label, unit="s", leave=False, disable=None) as bar:
        started = time.monotonic()
        while proc.poll() is None:
            time.sleep(0.5)
            bar.n = min(seconds, int(time.monotonic() - started))
            bar.refresh()
    output = proc.stdout.read() if proc.stdout else ""
    match = re.search(r"^BENCH_JSON (\{.*\})$", output, re.M)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{output}")
    return tag, json.loads(match.group(1))


def acknowledged(out: Path, tag: str) -> list[str]:
    """The client UUIDs of every 2xx response of the run ``tag`` (written by bench/checkins.lua)."""
    uuids: list[str] = []
    for part in out.glob(f"{tag}.*"):
        uuids += [line for line in part.read_text().splitlines() if line]
    return uuids


def stored(conn: Connection, table: str, tag: str) -> list[str]:
    """The client UUIDs stored in ``table`` by the run ``tag``."""
    return list(
        conn.execute(text(f"SELECT client_uuid FROM {table} WHERE client_uuid LIKE :p"), {"p": f"{tag}-%"})
        .scalars()
        .all()
    )


def measure(
    name: str,
    base: str,
    path: str,
    table: str,
    tokens: Path,
    out: Path,
    engine: Engine,
    args: argparse.Namespace,
) -> float:
    """Warm up, then one measured wrk run against ``base + path``; reports its figures and checks the
    stored rows of the measured run against the acknowledged client UUIDs. Returns requests/s."""
    run_wrk(base, path, tokens, out, args.warmup, args, f"{name} warm-up")
    tag, figures = run_wrk(base, path, tokens, out, args.duration, args, f"{name} measured")
    rps = figures["requests"] / (figures["duration_us"] / 1e6)
    report(f"{name}_rps", rps, "requests/s")
    report(f"{name}_p50_ms", figures["p50_us"] / 1000, "ms")
    report(f"{name}_p90_ms", figures["p90_us"] / 1000, "ms")
    report(f"{name}_p99_ms", figures["p99_us"] / 1000, "ms")
    report(f"{name}_requests", figures["requests"], "requests")
    report(f"{name}_2xx", figures["ok"], "responses")
    report(f"{name}_non2xx", figures["non2xx"], "responses")
    if figures["statuses"].strip():
        print(f"{name}_non2xx_statuses: {figures['statuses'].strip()}", flush=True)
    socket_errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    report(f"{name}_socket_errors", socket_errors, "errors")
    acked = acknowledged(out, tag)
    with engine.connect() as conn:
        rows = stored(conn, table, tag)
    rows_set, acked_set = set(rows), set(acked)
    report(f"{name}_rows_stored", len(rows), "rows")
    report(f"{name}_lost", len(acked_set - rows_set), "check-ins")
    report(f"{name}_duplicates", len(rows) - len(rows_set) + len(acked) - len(acked_set), "check-ins")
    report(f"{name}_unacknowledged_stored", len(rows_set - acked_set), "check-ins")
    if len(acked) != figures["ok"]:
        print(f"warning: {len(acked)} acknowledged UUIDs parsed but wrk counted {figures['ok']} 2xx")
    return rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--phq9-every", type=int, default=10)
    parser.add_argument("--only", choices=("checkin", "bare_insert"), help="measure only one of the two")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"ic-bench-api-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    machine_line("start")
    workers = os.environ.get("WEB_CONCURRENCY", "3")
    print(
        f"gunicorn: {workers} sync workers (gunicorn.conf.py); wrk -t{args.threads} -c{args.connections}, "
        f"{args.warmup} s warm-up + {args.duration} s measured; {args.patients} patients",
        flush=True,
    )
    name, url = fresh_database(args.database_url, "ic_bench_api")
    procs: list[subprocess.Popen] = []
    try:
        env = server_env(url, tmp)
        app = app_for(env, ACCESS_TOKEN_MINUTES=240)
        with app.app_context():
            from api.extensions import db

            migrate()
            team, _ = seed_team("bench", clinicians=3, devices=False)
            patients = []
            for start in tqdm(range(0, args.patients, 500), desc="seed patients", leave=False, disable=None):
                patients += seed_patients(team, min(500, args.patients - start), label=f"p{start}-")
            tokens = [access_token(p) for p in patients]
            db.session.commit()
            engine = db.engine
            tokens_file = tmp / "tokens.txt"
            tokens_file.write_text("\n".join(tokens) + "\n")

            from baseline_app import create_table

            create_table(url)

            api_port, bare_port = free_port(), free_port()
            procs.append(start_gunicorn("api:create_app()", api_port, env, tmp / "api.log"))
            procs.append(
                start_gunicorn("bench.baseline_app:create_app()", bare_port, env, tmp / "baseline.log")
            )
            api_base, bare_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
            wait_http(api_base + "/healthz")
            wait_http(bare_base + "/healthz")
            out = tmp / "acked"
            out.mkdir(exist_ok=True)

            checkin_rps = bare_rps = None
            if args.only in (None, "checkin"):
                checkin_rps = measure(
                    "checkin", api_base, "/api/v1/me/checkins", "checkins", tokens_file, out, engine, args
                )
            if args.only in (None, "bare_insert"):
                bare_rps = measure(
                    "bare_insert",
                    bare_base,
                    "/bare/checkins",
                    "bench_bare_checkins",
                    tokens_file,
                    out,
                    engine,
                    args,
                )
            if checkin_rps and bare_rps:
                report("checkin_vs_bare_insert", checkin_rps / bare_rps, "ratio")
            errors = sum('"level": "ERROR"' in line for line in (tmp / "api.log").read_text().splitlines())
            report("checkin_server_error_log_lines", errors, "lines")
            db.session.remove()
            db.engine.dispose()
    finally:
        stop(procs)
        drop_database(args.database_url, name)
        shutil.rmtree(tmp, ignore_errors=True)
    machine_line("end")
    print_table()


if __name__ == "__main__":
    main()
