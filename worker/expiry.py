"""Expiry: pending prompts whose answer window closed become ``expired``, in set-based batches.

Each batch is one transaction: ``UPDATE ... WHERE id IN (SELECT id ... LIMIT n FOR UPDATE SKIP
LOCKED) RETURNING patient_id``, then the missed-check-in hook for the affected patients. The hook
runs in a savepoint: if it fails (logged) the prompts are expired anyway; the rule looks at the
patient's recent history, so their next expiry evaluates it again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from api.extensions import db
from api.models import Prompt
from api.models.prompts import EXPIRED, PENDING_STATES
from api.models.types import utcnow
from api.services import alerts as alert_hooks

log = logging.getLogger("worker.expiry")

prompts_table = Prompt.__table__


def expire_batch(now: datetime, limit: int, state: str) -> tuple[int, set[int]]:
    """Expire up to ``limit`` overdue prompts in ``state`` and run the hook; returns (count,
    patient ids). One state and no ORDER BY, so the (state, expires_at) index range scan stops
    after ``limit`` rows even when a million prompts closed at once."""
    overdue = (
        select(Prompt.id)
        .where(Prompt.state == state, Prompt.expires_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(prompts_table)
        .where(prompts_table.c.id.in_(overdue))
        # A lease on the row is void now: the sender's conditional outcome UPDATE will not match.
        .values(state=EXPIRED, expired_at=now, reminder_due_at=None, locked_until=None, locked_by=None)
        .returning(prompts_table.c.patient_id)
    )
    try:
        patient_ids = [row[0] for row in db.session.execute(stmt)]
        affected = set(patient_ids)
        if affected:
            try:
                with db.session.begin_nested():
                    alert_hooks.on_prompts_expired(affected)
            except Exception as exc:
                log.error(
                    "expiry hook failed", extra={"patients": len(affected), "error": type(exc).__name__}
                )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(patient_ids), affected


def expire_overdue_prompts(now: datetime | None = None, batch_size: int = 5000) -> int:
    """Expire every overdue pending prompt, batch by batch; returns how many."""
    now = now or utcnow()
    total = 0
    for state in PENDING_STATES:
        while True:
            count, _ = expire_batch(now, batch_size, state)
            total += count
            if count < batch_size:
                break
    if total:
        log.info("expired prompts", extra={"count": total})
    return total


__all__ = ["expire_batch", "expire_overdue_prompts"]
