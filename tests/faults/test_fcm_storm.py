"""Fault test: an FCM storm. For a while the (fake) FCM endpoint answers half of the requests with a 500 or
a 429 carrying Retry-After; two real ``python -m worker`` processes (firebase-admin path, PostgreSQL)
keep sending prompts that come due during the storm and retrying the failed ones.

Every prompt ends up accepted (200) exactly once, no retry of a message reaches FCM before the
Retry-After it was given, and nothing is marked undeliverable. The suite runs a short storm;
`make soak` runs a full minute (``SOAK_FCM_STORM_SECONDS=60``)."""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, select, update

from api.extensions import db
from api.models import Prompt
from api.models.prompts import SENT
from api.models.types import UtcDateTime, utcnow
from tests.conftest import ON_POSTGRES
from tests.fakes.fcm_server import FakeFcmServer, RecordedRequest
from tests.worker.processes import Workers, complete_requests, prompt_id_of, wait_until
from tests.worker.seed import seed_due_prompts

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="several worker processes need PostgreSQL")

STORM_SECONDS = float(os.environ.get("SOAK_FCM_STORM_SECONDS", "4"))
PROMPTS = max(300, int(50 * STORM_SECONDS) // 10 * 10)  # 300 in the suite, 3,000 in a 60 s soak
FAILURES = (
    (500, "INTERNAL"),
    (429, "QUOTA_EXCEEDED", {"Retry-After": "1"}),
    (429, "QUOTA_EXCEEDED", {"Retry-After": "2"}),
)
# Fast but real: the worker's own backoff (full jitter up to min(cap, base * 2**n)) with Retry-After as
# its floor. The jitter ceiling is kept near the Retry-After values, so a worker that ignored the header
# would retry early and fail the check. Enough attempts that a prompt outlives the storm (one failing 100
# times in a row at 50% is a 2**-100 event), so a give-up here is a real bug, not bad luck.
WORKER_ENV = {
    "WORKER_DISPATCH_INTERVAL_SECONDS": "0.2",
    "WORKER_RETRY_BASE_SECONDS": "0.25",
    "WORKER_RETRY_CAP_SECONDS": "2",
    "WORKER_MAX_ATTEMPTS": "100",
}
# Clock tolerance for the Retry-After check: the worker stores next_attempt_at with microseconds.
EPSILON = 0.001


@pytest.fixture
def fake_fcm() -> Iterator[FakeFcmServer]:
    with FakeFcmServer() as server:
        yield server


@pytest.fixture
def workers(app, database_url: str, fake_fcm: FakeFcmServer, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(database_url, fake_fcm.url, tmp_path, batch_size=200)
    yield running
    running.stop_all()


def seed_coming_due(total: int, until: float) -> list[int]:
    """``total`` prompts coming due one after another from now until ``until`` (``time.time()``)."""
    now = utcnow()
    ids = seed_due_prompts(patients=total // 10, prompts_per_patient=10, now=now, spread_seconds=1)
    step = max(until - time.time(), 0.0) / len(ids)
    db.session.execute(
        update(Prompt.__table__)
        .where(Prompt.__table__.c.id == bindparam("b_id"))
        .values(intended_at=bindparam("b_at", type_=UtcDateTime())),
        [{"b_id": pid, "b_at": now + timedelta(seconds=step * i)} for i, pid in enumerate(ids)],
    )
    db.session.commit()
    return ids


def sent_count(ids: list[int]) -> int:
    db.session.rollback()  # a fresh snapshot, and no transaction left open while workers run
    return db.session.scalar(select(func.count()).where(Prompt.id.in_(ids), Prompt.state == SENT))


def early_retries(
    by_prompt: dict[int, list[RecordedRequest]],
) -> tuple[list[tuple[int, float, float]], int, float]:
    """Retries that reached the fake before the Retry-After of the previous answer had passed:
    (prompt id, gap, retry-after) each; also how many retries followed a Retry-After and the smallest
    margin (gap - retry-after) seen."""
    early, checked, margin = [], 0, float("inf")
    for pid, requests in by_prompt.items():
        for before, after in pairwise(requests):
            if before.retry_after is None:
                continue
            checked += 1
            gap = after.received_at - before.received_at
            margin = min(margin, gap - before.retry_after)
            if gap + EPSILON < before.retry_after:
                early.append((pid, round(gap, 3), before.retry_after))
    return early, checked, margin


def test_fcm_storm_delivers_every_prompt_once_and_honours_retry_after(app, workers, fake_fcm):
    started, started_wall = time.monotonic(), time.time()
    # Half the prompts are due when the workers start (a backlog meets the storm), ...
    ids = seed_due_prompts(patients=PROMPTS // 20, prompts_per_patient=10, now=utcnow(), spread_seconds=5)
    fake_fcm.storm(STORM_SECONDS, FAILURES, failure_rate=0.5, seed=6)
    workers.start("storm-1", **WORKER_ENV)
    workers.start("storm-2", **WORKER_ENV)
    # ... the other half come due one after another while it lasts (it starts with the first request).
    assert fake_fcm.wait_for(1, timeout=60), "no worker sent anything"
    window = fake_fcm.storm_window
    assert window is not None
    ids += seed_coming_due(PROMPTS - len(ids), until=window[1] - 0.5)
    # The storm, then the retries it left behind (at most a Retry-After or the 2 s cap each).
    done = wait_until(lambda: sent_count(ids) == len(ids), timeout=STORM_SECONDS + 45)
    workers.stop_all()

    requests = complete_requests(fake_fcm)
    by_prompt: dict[int, list[RecordedRequest]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r.received_at):
        by_prompt[prompt_id_of(request)].append(request)
    accepted = Counter(pid for pid, rs in by_prompt.items() for r in rs if r.status == 200)
    statuses = Counter(r.status for r in requests)
    lost = [pid for pid in ids if accepted[pid] == 0]
    duplicated = sum(n - 1 for n in accepted.values() if n > 1)
    early, checked, margin = early_retries(by_prompt)
    db.session.rollback()
    undeliverable = db.session.scalar(
        select(func.count()).where(Prompt.id.in_(ids), Prompt.undeliverable_at.is_not(None))
    )
    attempts = dict(db.session.execute(select(Prompt.id, Prompt.attempts).where(Prompt.id.in_(ids))).all())
    print(
        f"\nfcm_storm: sent={len(ids)} received={len(accepted)} lost={len(lost)} duplicated={duplicated}"
        f"\nfcm_storm: storm_seconds={STORM_SECONDS:g} requests={len(requests)} status_200={statuses[200]}"
        f" status_500={statuses[500]} status_429={statuses[429]} retries_after_retry_after={checked}"
        f" early_retries={len(early)} min_retry_after_margin_s={margin:.3f}"
        f" max_attempts={max(attempts.values(), default=0)} undeliverable={undeliverable}"
        f" storm_began_after_s={window[0] - started_wall:.1f}"
        f" last_200_after_storm_s={max(r.received_at for r in requests) - window[1]:.1f}"
        f" seconds={time.monotonic() - started:.1f}"
    )

    assert done, f"sent {sent_count(ids)} of {len(ids)}"
    assert lost == [] and duplicated == 0
    assert set(by_prompt) == set(ids) and sum(accepted.values()) == len(ids) == statuses[200]
    assert early == [], f"retried before Retry-After: {early[:10]}"
    assert undeliverable == 0
    # The worker's bookkeeping agrees with what FCM saw: one request per claim (one device each).
    assert attempts == {pid: len(rs) for pid, rs in by_prompt.items()}
    # The storm really happened, lasted as long as asked, and hit about half of what it saw ...
    in_storm = [r for r in requests if r.received_at < window[1]]
    failed = [r for r in in_storm if r.storm]
    assert 0.3 < len(failed) / len(in_storm) < 0.7, (len(failed), len(in_storm))
    assert {r.status for r in failed} == {500, 429}
    assert checked >= 10  # ... and enough retries followed a Retry-After for the check to mean something
    assert all(r.status == 200 for r in requests if r.received_at >= window[1])
    assert [p.returncode for p in workers.procs.values()] == [0, 0]
