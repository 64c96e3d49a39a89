"""Fault test: many clients retrying with the same Idempotency-Key, some retries concurrent, never
create a duplicate and never lose an acknowledged check-in. The suite runs a scaled-down storm;
`make soak` runs the full one (50 clients, 1,000 check-ins)."""

import os
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import CheckIn, IdempotencyRecord
from tests.api.entries_helpers import checkin
from tests.conftest import ON_POSTGRES, add_patient

CLIENTS = 50
CHECKINS = int(os.environ.get("SOAK_CHECKINS", "200"))

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="concurrent writers need PostgreSQL")


def test_retry_storm_creates_exactly_one_row_per_checkin(app, world):
    patients = [add_patient(f"storm{i}@example.org", world.team_a, device=False) for i in range(CLIENTS)]
    db.session.commit()
    headers = [world.headers(p) for p in patients]
    rng = random.Random(7)
    plan = []  # (client, key, body, attempts, concurrent)
    for n in range(CHECKINS):
        client = n % CLIENTS
        plan.append((client, str(uuid.uuid4()), checkin(), rng.randint(1, 3), rng.random() < 0.3))
    failures, acknowledged, lock = [], {}, threading.Lock()

    def send(client, key, body):
        with app.test_client() as c:
            r = c.post("/api/v1/me/checkins", json=body, headers=headers[client] | {"Idempotency-Key": key})
            return r.status_code, r.get_json()

    def submit(entry):
        client, key, body, attempts, concurrent = entry
        if concurrent and attempts > 1:
            with ThreadPoolExecutor(attempts) as pool:
                results = list(pool.map(lambda _: send(client, key, body), range(attempts)))
        else:
            results = [send(client, key, body) for _ in range(attempts)]
        with lock:
            if any(status != 201 for status, _ in results) or len({b["id"] for _, b in results}) != 1:
                failures.append((key, [s for s, _ in results]))
            acknowledged[key] = results[0][1]["id"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(submit, plan))
    db.session.remove()
    rows = list(db.session.scalars(select(CheckIn.id)))
    stored = set(rows)
    requests_sent = sum(attempts for _, _, _, attempts, _ in plan)
    print(
        f"retry_storm: sent={CHECKINS} requests={requests_sent} received={len(rows)} "
        f"lost={len(set(acknowledged.values()) - stored)} duplicated={len(rows) - len(stored)}"
    )
    assert failures == []
    assert len(rows) == CHECKINS
    assert set(acknowledged.values()) == stored  # every acknowledged check-in is there, once
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == CHECKINS
