"""Planning throughput: the default schedule for N patients with 3 dosing sessions each.

    .venv/bin/python bench/plan.py [--patients 10000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a fresh migrated database (PostgreSQL by default; `--database-url sqlite:///...` for SQLite), inserts
the patients and their dosing sessions in bulk, then plans every prompt through the service the API uses
(`api.services.planning.replan_patients`, batched). Prints `name: value unit` lines and a Markdown table.
Target: under 60 s in total for 10,000 patients.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import uuid
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    url, cleanup = fresh_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    try:
        with app.app_context():
            upgrade()
            start = datetime.now(UTC) + timedelta(days=1)
            ids = seed(args.patients, start)
            began = time.perf_counter()
            for chunk in tqdm(range(0, len(ids), 500), desc="plan", unit="x500 patients"):
                replan_patients(ids[chunk : chunk + 500], "bench", now=start - timedelta(days=1))
                db.session.commit()
            elapsed = time.perf_counter() - began
            rows = db.session.scalar(select(func.count()).select_from(Prompt))
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
        ("plan_total_seconds", round(elapsed, 1), "s"),
        ("plan_rows_per_second", round(rows / elapsed), "rows/s"),
        ("plan_peak_rss", round(peak_mb), "MiB"),
    ]
    for name, value, unit in figures:
        print(f"{name}: {value} {unit}")
    print("\n| figure | value |\n| --- | --- |")
    for name, value, unit in figures:
        print(f"| {name} | {value} {unit} |")


if __name__ == "__main__":
    main()
