"""Fault test (soak only): PostgreSQL goes away in the middle of a load of check-ins against the real API
entry point (`gunicorn --config gunicorn.conf.py 'api:create_app()'`).

While the database is down the API answers 503 with Retry-After (never a 500 or a stack trace); it recovers
on its own, without a gunicorn restart; clients retry with the same Idempotency-Key after a 503 or a
connection error, and every acknowledged check-in is stored exactly once. Two outages: a clean stop held
for a few seconds, then an immediate (crash-like) restart.

The shared cluster is never touched: the test creates a throw-away cluster (`pg_createcluster`, as root,
Debian's postgresql-common) on a free port, restarts that one, and drops it at the end. Runs when
``SOAK_DB_RESTART=1`` (`make soak` sets it) on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from api import create_app
from api.extensions import db
from api.models import CareTeam, CheckIn, IdempotencyRecord
from tests.api.entries_helpers import checkin
from tests.conftest import ON_POSTGRES, add_patient, bearer
from tests.faults.gunicorn import free_port, running_api, worker_pids

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "icfaults"
CHECKINS = int(os.environ.get("SOAK_DB_RESTART_CHECKINS", "1000"))
DOWN_SECONDS = float(os.environ.get("SOAK_DB_DOWN_SECONDS", "5"))
CLIENTS = 8
PATIENTS = 20

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="restarts a PostgreSQL cluster"),
    pytest.mark.skipif(os.environ.get("SOAK_DB_RESTART") != "1", reason="soak only (SOAK_DB_RESTART=1)"),
]


def pg_version() -> str:
    versions = sorted((p.name for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit()), key=int)
    if not versions:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    return versions[-1]


@dataclass
class Cluster:
    """A throw-away PostgreSQL cluster managed with Debian's pg_ctlcluster."""

    version: str
    port: int

    def ctl(self, action: str, *options: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, CLUSTER, action, *options],
            check=True,
            capture_output=True,
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


def _drop_cluster(version: str) -> None:
    if Path(f"/etc/postgresql/{version}/{CLUSTER}").exists():
        subprocess.run(["pg_dropcluster", "--stop", version, CLUSTER], check=True, capture_output=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if shutil.which("pg_createcluster") is None or os.geteuid() != 0:
        pytest.skip("needs root and postgresql-common (pg_createcluster) for a throw-away cluster")
    version = pg_version()
    _drop_cluster(version)  # a leftover of an interrupted run
    port = free_port()
    subprocess.run(
        ["pg_createcluster", version, CLUSTER, "-p", str(port), "--", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    try:
        hba = Path(f"/etc/postgresql/{version}/{CLUSTER}/pg_hba.conf")
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        running = Cluster(version, port)
        running.ctl("start")
        yield running
    finally:
        _drop_cluster(version)


@dataclass
class Target:
    """The migrated database in the throw-away cluster, with patients and their bearer tokens."""

    url: str
    secret_key: str
    headers: list[dict[str, str]]
    engine: Engine


@pytest.fixture
def target(cluster: Cluster, tmp_path: Path) -> Iterator[Target]:
    admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "ic_faults"'))
    admin.dispose()
    url = cluster.url("ic_faults")
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "instance")}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "api", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        team = CareTeam(name="Restart team")
        db.session.add(team)
        db.session.flush()
        patients = [add_patient(f"restart{i}@example.org", team, device=False) for i in range(PATIENTS)]
        db.session.commit()
        headers = [bearer(p) for p in patients]
        db.session.remove()
        db.engine.dispose()
    engine = create_engine(url)
    yield Target(url, app.config["SECRET_KEY"], headers, engine)
    engine.dispose()


@pytest.fixture
def api_server(target: Target, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """The real entry point against the throw-away cluster; (process, base URL, log)."""
    env = {
        "DATABASE_URL": target.url,
        "SECRET_KEY": target.secret_key,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WEB_CONCURRENCY": "2",
        "REFLECTION_KEYS_FILE": str(tmp_path / "k"),
    }
    log = tmp_path / "gunicorn.log"
    with running_api(env, log) as (server, base):
        yield server, base, log


@dataclass
class Load:
    """What the clients saw."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> check-in id (str)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    replayed: int = 0  # acknowledged by a replay: an earlier attempt committed but its answer was lost
    bad_503s: list[str] = field(default_factory=list)  # 503s without Retry-After or a JSON error body
    unexpected: list[tuple[int, str]] = field(default_factory=list)  # anything but 2xx / 503
    lock: threading.Lock = field(default_factory=threading.Lock)


def submit(base: str, headers: dict[str, str], load: Load, deadline: float) -> None:
    """One check-in, retried with the same Idempotency-Key until acknowledged (honouring Retry-After)."""
    key, body = str(uuid.uuid4()), checkin()
    h = headers | {"Idempotency-Key": key}
    while time.monotonic() < deadline:
        try:
            r = requests.post(base + "/api/v1/me/checkins", json=body, headers=h, timeout=15)
        except requests.RequestException:
            with load.lock:
                load.connection_errors += 1
            time.sleep(0.5)
            continue
        with load.lock:
            load.statuses[r.status_code] += 1
        if r.status_code in (200, 201):
            with load.lock:
                load.acknowledged[key] = str(r.json()["id"])
                load.replayed += r.headers.get("Idempotent-Replayed") == "true"
            return
        if r.status_code == 503:
            retry_after = r.headers.get("Retry-After")
            is_json = r.headers.get("Content-Type", "").startswith("application/json")
            if retry_after is None or not is_json or "Traceback" in r.text:
                with load.lock:
                    load.bad_503s.append(f"{r.headers} {r.text[:200]}")
            time.sleep(float(retry_after or 1))
            continue
        with load.lock:
            load.unexpected.append((r.status_code, r.text[:300]))
        time.sleep(0.5)
    raise AssertionError(f"check-in {key} never acknowledged")


def wait_for_acks(load: Load, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(load.acknowledged) < n:
        assert time.monotonic() < deadline, f"only {len(load.acknowledged)} of {n} acknowledged"
        time.sleep(0.05)


def test_db_restart_mid_load_loses_and_duplicates_nothing(cluster, target, api_server):
    server, base, log = api_server
    pids = worker_pids(server.pid)
    assert len(pids) == 2
    load = Load()
    outage_503s = 0
    deadline = time.monotonic() + 600
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [
            pool.submit(submit, base, target.headers[n % PATIENTS], load, deadline) for n in range(CHECKINS)
        ]
        # 1. A clean stop, held for DOWN_SECONDS: in-flight transactions are cut, new ones can't connect.
        wait_for_acks(load, CHECKINS // 5)
        before = load.statuses[503]
        cluster.ctl("stop", "-m", "fast")
        time.sleep(DOWN_SECONDS)
        outage_503s = load.statuses[503] - before
        cluster.ctl("start")
        # 2. A crash-like restart (no shutdown checkpoint; recovery replays the WAL).
        wait_for_acks(load, CHECKINS * 3 // 5)
        cluster.ctl("restart", "-m", "immediate")
        for f in futures:
            f.result()
    # Recovered without a restart of gunicorn: the same master and the same workers answer.
    assert server.poll() is None
    assert worker_pids(server.pid) == pids
    key = str(uuid.uuid4())
    first_try = requests.post(
        base + "/api/v1/me/checkins",
        json=checkin(),
        headers=target.headers[0] | {"Idempotency-Key": key},
        timeout=15,
    )
    if first_try.status_code == 201:
        load.acknowledged[key] = str(first_try.json()["id"])

    with target.engine.connect() as conn:
        stored = list(conn.execute(select(CheckIn.id, CheckIn.client_uuid)))
        records = conn.scalar(select(func.count()).select_from(IdempotencyRecord))
    ids = [str(row.id) for row in stored]
    acknowledged = set(load.acknowledged.values())
    lost = acknowledged - set(ids)
    duplicated = len(ids) - len(set(ids)) + len(stored) - len({row.client_uuid for row in stored})
    print(
        f"\ndb_restart: sent={len(load.acknowledged)} received={len(stored)} lost={len(lost)}"
        f" duplicated={duplicated}"
        f"\ndb_restart: checkins={CHECKINS} statuses={dict(sorted(load.statuses.items()))}"
        f" 503_while_stopped={outage_503s} connection_errors={load.connection_errors} replayed={load.replayed}"
        f" down_seconds={DOWN_SECONDS:g} unexpected={len(load.unexpected)} bad_503s={len(load.bad_503s)}"
    )
    logged = log.read_text(errors="replace")

    assert first_try.status_code == 201, first_try.text
    assert load.unexpected == []
    assert load.bad_503s == []
    assert outage_503s > 0  # the outage was seen, and answered with 503s
    assert "Traceback" not in logged and "unhandled error" not in logged
    assert len(load.acknowledged) == CHECKINS + 1  # the load, and one more after recovery
    assert lost == set() and duplicated == 0
    assert {str(row.id) for row in stored} == acknowledged  # nothing stored that nobody was told about
    assert records == len(stored) == CHECKINS + 1
