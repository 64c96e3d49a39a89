"""Leases on ``prompts`` rows: how a worker claims rows, and the sweep of leases that ran out.

A claim is one short transaction: ``UPDATE prompts SET locked_until = now + lease, locked_by = me
WHERE id IN (SELECT id ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING ...``. The row
locks last only for that transaction; the lease (``locked_until``/``locked_by``) is what keeps other
workers away while this one sends outside any transaction. Concurrent claimers on PostgreSQL skip
each other's locked rows instead of waiting, so several workers never get the same row. On SQLite
SKIP LOCKED is dropped and the database's single writer lock serialises claims (one worker runs).

A lease that ran out (``locked_until < now``) is claimable again: that is the crash recovery. Every
write that concludes a claim is conditional on ``locked_by = me``, so a worker whose lease was
taken over (or whose row the planner re-timed, which clears the lock) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, or_, update

from api.extensions import db
from api.models import Prompt
from api.models.prompts import DELIVERED, OPENED, SCHEDULED, SENT

prompts = Prompt.__table__


def lease_is_free(now: datetime) -> ColumnElement[bool]:
    """Nobody holds the row: never claimed, released, or the holder's lease ran out."""
    return or_(Prompt.locked_until.is_(None), Prompt.locked_until < now)


def claim(
    ids: Select[Any],
    now: datetime,
    worker_id: str,
    lease_seconds: float,
    returning: Sequence[ColumnElement[Any]],
    **values: Any,
) -> list[Row[Any]]:
    """Lease the rows whose ids ``ids`` selects (it must select ``Prompt.id``, ordered and limited)
    to ``worker_id`` and commit; returns ``returning`` of each claimed row (in no particular order).

    ``values`` are extra columns set by the same UPDATE (e.g. ``attempts=Prompt.attempts + 1``).
    """
    locked = ids.with_for_update(skip_locked=True)
    stmt = (
        update(prompts)
        .where(prompts.c.id.in_(locked))
        .values(locked_until=now + timedelta(seconds=lease_seconds), locked_by=worker_id, **values)
        .returning(*returning)
    )
    try:
        rows = list(db.session.execute(stmt))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return rows


def reclaim_expired_leases(now: datetime) -> int:
    """Clear leases that ran out and return how many there were (for logs and metrics).

    Dispatch and reminders already treat an expired lease as free, so this only tidies up and
    makes crashed or stalled workers visible. The conditions follow the two claim patterns so
    the indexes on (state, intended_at) and (state, reminder_due_at) bound the scan.
    """
    stmt = (
        update(prompts)
        .where(
            or_(
                and_(Prompt.state == SCHEDULED, Prompt.intended_at <= now),
                and_(Prompt.state.in_((SENT, DELIVERED, OPENED)), Prompt.reminder_due_at <= now),
            ),
            Prompt.locked_until.is_not(None),
            Prompt.locked_until < now,
        )
        .values(locked_until=None, locked_by=None)
    )
    try:
        count = db.session.execute(stmt).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return int(count or 0)


__all__ = ["claim", "lease_is_free", "reclaim_expired_leases"]
