"""Concurrent retries with one Idempotency-Key create exactly one row (PostgreSQL: real concurrency)."""

import threading
import uuid

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import CheckIn
from tests.api.entries_helpers import checkin
from tests.conftest import ON_POSTGRES


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite serialises writers; concurrency is proven on PostgreSQL")
def test_twenty_concurrent_submissions_with_one_key_create_one_row(app, world):
    headers = world.headers(world.patient_a) | {"Idempotency-Key": str(uuid.uuid4())}
    body = checkin()
    barrier = threading.Barrier(20)
    results = []

    def submit():
        with app.test_client() as c:
            barrier.wait()
            r = c.post("/api/v1/me/checkins", json=body, headers=headers)
            results.append((r.status_code, r.json.get("id")))

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1
    assert {status for status, _ in results} == {201}
    assert len({entry_id for _, entry_id in results}) == 1
