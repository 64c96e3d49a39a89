"""Helpers shared by the HTTP benchmarks (``bench/api.py``, ``bench/alert_latency.py``): figures,
a scratch PostgreSQL database migrated with the project's migrations, seeded patients, and
gunicorn started through the real entry point. Not a benchmark itself."""

from __future__ import annotations

import math
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The repository first: ``import api`` must find the package, not the script bench/api.py.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p != str(ROOT)]

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DEFAULT_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

results: list[tuple[str, float, str]] = []


def report(name: str, value: float, unit: str) -> None:
    """Print one figure as ``name: value unit`` and keep it for the closing table."""
    results.append((name, value, unit))
    print(f"{name}: {value:.6g} {unit}", flush=True)


def print_table() -> None:
    print("\n| measure | value | unit |\n| --- | ---: | --- |")
    for name, value, unit in results:
        print(f"| {name} | {value:.6g} | {unit} |")


def machine_line(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(
        f"[{when}] cpus: {os.cpu_count()}  load average: {one:.2f} {five:.2f} {fifteen:.2f}",
        flush=True,
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux /proc), start-up included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- a scratch database ----------------------------------------------------------------------------


def fresh_database(base_url: str, prefix: str) -> tuple[str, str]:
    """CREATE DATABASE <prefix>_<pid>_<random>; returns (name, url)."""
    base = make_url(base_url)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, base.set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, name: str) -> None:
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def server_env(url: str, tmp: Path) -> dict[str, str]:
    """The environment of a production-like API or worker process (docker-compose.yml): production
    mode, a strong secret, Fernet keys, Prometheus multiprocess metrics."""
    metrics = tmp / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "REFLECTION_KEYS": Fernet.generate_key().decode(),
        "INSTANCE_PATH": str(tmp / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "LOG_LEVEL": "INFO",
    }


def app_for(env: dict[str, str], **overrides: Any) -> Any:
    """An app bound to the same database and keys as the server processes, for seeding and checks."""
    from api import create_app

    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "REFLECTION_KEYS": env["REFLECTION_KEYS"],
            **overrides,
        }
    )


def migrate() -> None:
    """Run the project's migrations (inside an app context)."""
    from flask_migrate import upgrade

    upgrade()


# --- seeding (inside an app context) ---------------------------------------------------------------


def seed_team(name: str, clinicians: int, devices: bool) -> tuple[Any, list[Any]]:
    """A care team whose clinicians are all on duty (each with one device when ``devices``)."""
    from api.extensions import db
    from api.models import CareTeam, CareTeamMember, Device, User

    team = CareTeam(name=name, contact_phone="+1 555 0100")
    db.session.add(team)
    db.session.flush()
    staff = []
    for i in range(clinicians):
        user = User(email=f"clin{i}@{name}.bench", display_name=f"clin{i}", role="clinician")
        db.session.add(user)
        db.session.flush()
        db.session.add(CareTeamMember(team_id=team.id, user_id=user.id, on_duty=True))
        if devices:
            db.session.add(Device(user_id=user.id, token=f"clinician-{user.id}-phone", platform="ios"))
        staff.append(user)
    db.session.flush()
    return team, staff


def seed_patients(team: Any, count: int, label: str = "p") -> list[Any]:
    """``count`` active patients of ``team``, enrolled two weeks ago (no password: they sign in by invite)."""
    from api.extensions import db
    from api.models import PatientProfile, User
    from api.models.types import utcnow

    enrolled = utcnow() - timedelta(days=14)
    users = [
        User(email=f"{label}{i}@{team.name}.bench", display_name=f"{label}{i}", role="patient")
        for i in range(count)
    ]
    db.session.add_all(users)
    db.session.flush()
    db.session.add_all(
        [
            PatientProfile(
                user_id=u.id,
                care_team_id=team.id,
                timezone="Europe/Berlin",
                enrolled_at=enrolled,
                activated_at=enrolled,
            )
            for u in users
        ]
    )
    db.session.flush()
    return users


def access_token(user: Any) -> str:
    from api.auth.tokens import issue_access_token

    return issue_access_token(user)[0]


# --- server processes ------------------------------------------------------------------------------


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(procs: Sequence[subprocess.Popen]) -> None:
    """SIGTERM each process we started, then wait (SIGKILL after 30 s)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (pct in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
