"""Fault test: SIGKILL a gunicorn worker in the middle of a load. Clients retry with the same
Idempotency-Key; no acknowledged check-in is missing and none is duplicated. Runs the real entry point
(`gunicorn --config gunicorn.conf.py 'api:create_app()'`) against PostgreSQL."""

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from api.extensions import db
from api.models import CheckIn
from tests.api.entries_helpers import checkin
from tests.conftest import ON_POSTGRES, add_patient
from tests.faults.gunicorn import running_api, worker_pids

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="several server processes need PostgreSQL")
SENT = 300


def test_sigkill_of_a_gunicorn_worker_loses_and_duplicates_nothing(app, world, database_url, tmp_path):
    patients = [add_patient(f"crash{i}@example.org", world.team_a, device=False) for i in range(10)]
    db.session.commit()
    headers = [world.headers(p) for p in patients]
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path),
        "WEB_CONCURRENCY": "2",
        "REFLECTION_KEYS_FILE": str(tmp_path / "k"),
    }
    with running_api(env) as (server, base):
        acknowledged, retries, lock = {}, [0], threading.Lock()

        def submit(n):
            key, body = str(uuid.uuid4()), checkin()
            h = headers[n % len(headers)] | {"Idempotency-Key": key}
            for _ in range(20):  # a client keeps retrying with the same key until it gets an answer
                try:
                    r = requests.post(base + "/api/v1/me/checkins", json=body, headers=h, timeout=10)
                except requests.RequestException:
                    r = None
                if r is not None and r.status_code in (200, 201):
                    with lock:
                        acknowledged[key] = r.json()["id"]
                    return
                with lock:
                    retries[0] += 1
                time.sleep(0.2)
            raise AssertionError(f"check-in {n} never acknowledged")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(submit, n) for n in range(SENT)]
            while len(acknowledged) < 60:
                time.sleep(0.05)
            os.kill(min(worker_pids(server.pid)), signal.SIGKILL)  # mid-load
            for f in futures:
                f.result()
    db.session.remove()
    stored = list(db.session.scalars(select(CheckIn.id)))
    lost = len(set(acknowledged.values()) - set(stored))
    print(
        f"api_crash: sent={SENT} received={len(stored)} lost={lost} "
        f"duplicated={len(stored) - len(set(stored))} client_retries={retries[0]}"
    )
    assert len(stored) == len(set(stored)) == SENT
    assert set(acknowledged.values()) == set(stored)
    assert db.session.scalar(select(func.count(func.distinct(CheckIn.client_uuid)))) == SENT
