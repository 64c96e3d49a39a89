"""Fault test: SIGKILL a gunicorn worker in the middle of a load. Clients retry with the same
Idempotency-Key; no acknowledged check-in is missing and none is duplicated. Runs the real entry point
(`gunicorn --config gunicorn.conf.py 'api:create_app()'`) against PostgreSQL."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from api.extensions import db
from api.models import CheckIn
from tests.api.entries_helpers import checkin
from tests.conftest import ON_POSTGRES, add_patient

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="several server processes need PostgreSQL")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_sigkill_of_a_gunicorn_worker_loses_and_duplicates_nothing(app, world, database_url, tmp_path):
    patients = [add_patient(f"crash{i}@example.org", world.team_a, device=False) for i in range(10)]
    db.session.commit()
    headers = [world.headers(p) for p in patients]
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path),
        "WEB_CONCURRENCY": "2",
        "REFLECTION_KEYS_FILE": str(tmp_path / "k"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "api:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=3).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        acknowledged, retries, lock = {}, [0], threading.Lock()

        def submit(n):
            key, body, h = (
                str(uuid.uuid4()),
                checkin(),
                headers[n % len(headers)] | {"Idempotency-Key": str(n)},
            )
            h["Idempotency-Key"] = key
            for _ in range(20):  # a client keeps retrying with the same key until it gets an answer
                try:
                    r = requests.post(base + "/api/v1/me/checkins", json=body, headers=h, timeout=10)
                except requests.RequestException:
                    with lock:
                        retries[0] += 1
                    time.sleep(0.2)
                    continue
                if r.status_code in (200, 201):
                    with lock:
                        acknowledged[key] = r.json()["id"]
                    return
                with lock:
                    retries[0] += 1
                time.sleep(0.2)
            raise AssertionError(f"check-in {n} never acknowledged")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(submit, n) for n in range(300)]
            while len(acknowledged) < 60:
                time.sleep(0.05)
            os.kill(worker_pids(server.pid)[0], signal.SIGKILL)  # mid-load
            for f in futures:
                f.result()
        db.session.remove()
        stored = list(db.session.scalars(select(CheckIn.id)))
        assert len(stored) == len(set(stored)) == 300
        assert set(acknowledged.values()) == set(stored)
        assert db.session.scalar(select(func.count(func.distinct(CheckIn.client_uuid)))) == 300
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
