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
import resource
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import (
    DEFAULT_DATABASE_URL,
    drop_database,
    fresh_database,
    machine_line,
    print_table,
    process_cpu_seconds,
    report,
)
from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from tqdm import tqdm

from api import create_app
from api.extensions import db
from api.models import CareTeam, DosingSession, PatientProfile, Prompt, User
from api.services.planning import replan_patients

BATCH = 500  # patients per transaction
ZONES = ["America/New_York", "Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata"]


def scratch_database(base_url: str) -> tuple[str, str | None]:
    """(url, name of the PostgreSQL database to drop afterwards, or None for a SQLite file)."""
    url = make_url(base_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database).unlink(missing_ok=True)
        return base_url, None
    name, scratch_url = fresh_database(base_url, "ic_bench_plan")
    return scratch_url, name


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
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = process_cpu_seconds(pid)
        except OSError:
            return None
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    machine_line("start")
    url, scratch = scratch_database(args.database_url)
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
        if scratch:
            drop_database(args.database_url, scratch)
    report("plan_patients", args.patients, "patients")
    report("plan_dosing_sessions", args.patients * 3, "sessions")
    report("plan_prompt_rows", rows, "rows")
    report("plan_duplicate_keys", rows - keys, "rows")
    report("plan_total_seconds", plan.seconds, "s")
    report("plan_rows_per_second", rows / plan.seconds, "rows/s")
    report("plan_client_cpu_seconds", plan.client_cpu_seconds, "s")
    if plan.db_cpu_seconds is not None:
        report("plan_db_cpu_seconds", plan.db_cpu_seconds, "s")
    report("plan_peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")
    report("replan_total_seconds", replan.seconds, "s")
    report("replan_client_cpu_seconds", replan.client_cpu_seconds, "s")
    if replan.db_cpu_seconds is not None:
        report("replan_db_cpu_seconds", replan.db_cpu_seconds, "s")
    report("replan_changed_rows", replan.changed_rows, "rows")
    machine_line("end")
    print_table()


if __name__ == "__main__":
    main()
