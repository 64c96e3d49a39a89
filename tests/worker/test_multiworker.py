"""Real ``python -m worker`` processes on PostgreSQL against FakeFcmServer: several workers never
send a prompt twice, and a worker killed mid-batch loses nothing once its lease runs out."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import Prompt
from api.models.prompts import SENT
from api.models.types import utcnow
from tests.conftest import ON_POSTGRES
from tests.fakes.fcm_server import FakeFcmServer
from tests.worker.processes import Workers, complete_requests, requests_per_prompt, wait_until
from tests.worker.seed import seed_due_prompts

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="SKIP LOCKED needs PostgreSQL")

PROMPTS = 5000
BATCH = 500


@pytest.fixture
def fake_fcm() -> Iterator[FakeFcmServer]:
    with FakeFcmServer() as server:
        yield server


@pytest.fixture
def workers(app, database_url: str, fake_fcm: FakeFcmServer, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(database_url, fake_fcm.url, tmp_path, batch_size=BATCH)
    yield running
    running.stop_all()


def sent_count() -> int:
    db.session.rollback()  # a fresh snapshot, and no transaction left open while workers run
    return db.session.scalar(select(func.count()).select_from(Prompt).where(Prompt.state == SENT))


def test_two_workers_send_each_prompt_exactly_once(app, workers, fake_fcm):
    ids = seed_due_prompts(patients=PROMPTS // 10, prompts_per_patient=10, now=utcnow())
    assert len(ids) == PROMPTS

    workers.start("mw-1")
    workers.start("mw-2")
    assert wait_until(lambda: sent_count() == PROMPTS, timeout=90), f"sent {sent_count()} of {PROMPTS}"
    workers.stop_all()

    per_prompt = requests_per_prompt(fake_fcm)
    duplicates = {pid: n for pid, n in per_prompt.items() if n > 1}
    print(
        f"two_workers: sent={PROMPTS} received={len(per_prompt)} lost={len(set(ids) - set(per_prompt))} "
        f"duplicated={len(duplicates)}"
    )
    assert set(per_prompt) == set(ids)
    assert duplicates == {}
    assert fake_fcm.request_count == PROMPTS
    assert all(
        r.body["message"]["android"]["collapse_key"] == f"prompt-{r.body['message']['data']['prompt_id']}"
        for r in fake_fcm.requests
    )
    db.session.rollback()
    assert set(db.session.scalars(select(Prompt.attempts).where(Prompt.id.in_(ids)))) == {1}
    # Both processes took part (their own structured logs say how many prompts each sent).
    sent_by = {
        name: sum(r.get("sent", 0) for r in workers.log_records(name) if r.get("message") == "dispatched")
        for name in ("mw-1", "mw-2")
    }
    assert sum(sent_by.values()) == PROMPTS
    assert all(sent_by.values()), sent_by
    # Graceful stop on SIGTERM.
    assert [p.returncode for p in workers.procs.values()] == [0, 0]


def test_a_worker_killed_mid_batch_loses_nothing(app, workers, fake_fcm):
    total = 2000  # four batches: enough to kill one mid-flight, and quicker than 5,000
    ids = seed_due_prompts(patients=total // 10, prompts_per_patient=10, now=utcnow())
    lease = {"WORKER_LEASE_SECONDS": "3"}

    victim = workers.start("mw-victim", **lease)
    assert fake_fcm.wait_for(BATCH + BATCH // 3, timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    workers.start("mw-survivor", **lease)
    assert wait_until(lambda: sent_count() == total, timeout=90), f"sent {sent_count()} of {total}"

    per_prompt = requests_per_prompt(fake_fcm)
    duplicates = {pid for pid, n in per_prompt.items() if n > 1}
    print(
        f"worker_crash: sent={total} received={len(per_prompt)} lost={len(set(ids) - set(per_prompt))} "
        f"duplicated={len(duplicates)} (the in-flight batch, same collapse key)"
    )
    assert set(per_prompt) == set(ids)  # every prompt reached its device
    # Only the batch in flight when the worker died can be sent twice ...
    assert len(duplicates) <= BATCH
    assert all(per_prompt[pid] == 2 for pid in duplicates)
    # ... and those were claimed twice (the lease ran out) and share their collapse key.
    db.session.rollback()
    attempts = {
        pid: n for pid, n in db.session.execute(select(Prompt.id, Prompt.attempts).where(Prompt.id.in_(ids)))
    }
    assert all(attempts[pid] == 2 for pid in duplicates)
    # The killed worker's claim was taken over once its lease ran out (the path under test).
    assert any(n == 2 for n in attempts.values())
    assert sum(1 for n in attempts.values() if n == 2) <= BATCH
    keys = {
        pid: {
            r.body["message"]["android"]["collapse_key"]
            for r in complete_requests(fake_fcm)
            if r.body["message"]["data"]["prompt_id"] == str(pid)
        }
        for pid in list(duplicates)[:50]
    }
    assert all(k == {f"prompt-{pid}"} for pid, k in keys.items())
