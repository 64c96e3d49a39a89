"""Retention: delete (or scrub) rows past their retention period, in short batched transactions.

Periods come from the app config (environment, see api/config.py), in days:

* ``IDEMPOTENCY_RETENTION_DAYS`` (7): ``idempotency_records`` by ``created_at``. A retry after that
  is treated as a new request (entries still dedupe on their client UUID).
* ``PUSH_RECORD_RETENTION_DAYS`` (90): push records, i.e.

  - ``alert_deliveries`` rows that are finished (``sent`` or ``failed``), by ``created_at``, except
    those of alerts not yet resolved (their delivery history still drives ``/readyz``);
  - ``devices`` deactivated (``active`` false) longer ago than that: the push token goes;
  - the delivery-attempt fields of prompts whose window closed (``expires_at``) before the cutoff and
    that are in a final state (completed, expired, cancelled): ``last_error``, ``next_attempt_at``,
    ``locked_until`` and ``locked_by`` are set to NULL. The prompt row and its timestamps stay (it is
    the adherence history), so this is an UPDATE, not a DELETE.
* ``AUDIT_RETENTION_DAYS`` (2190, six years): ``audit_log`` rows by ``at``. The append-only trigger
  rejects UPDATE only; deleting rows past the period is allowed.

Each batch selects at most ``batch_size`` ids (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
workers running the job at once neither block nor double-count) and deletes them in one short
transaction; a run ends when a batch comes back short. Counts are logged as one structured line and,
when anything went, recorded in one audit row (actor ``system``).

Register in ``worker/jobs.py`` as an hourly interval job, e.g.
``add_job(scheduler, app, worker_id, "retention", lambda: run_retention(utcnow()), 3600)``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from api.extensions import db
from api.models import Alert, AlertDelivery, AuditLog, Device, IdempotencyRecord, Prompt
from api.models.alerts import RESOLVED
from api.models.prompts import CANCELLED, COMPLETED, EXPIRED
from api.models.types import utcnow
from api.services.audit import audit

log = logging.getLogger("worker.retention")

JOB_RETENTION = "retention"
DEFAULT_BATCH_SIZE = 1000
FINAL_PROMPT_STATES = (COMPLETED, EXPIRED, CANCELLED)
PUSH_ATTEMPT_FIELDS = ("last_error", "next_attempt_at", "locked_until", "locked_by")


def _cutoff(now: datetime, setting: str) -> datetime:
    days = int(current_app.config[setting])
    if days < 1:
        raise ValueError(f"{setting} must be at least 1 day")
    return now - timedelta(days=days)


def _batched(model: Any, condition: ColumnElement[bool], batch_size: int, **values: Any) -> int:
    """Delete (or, with ``values``, update) the rows matching ``condition``, batch by batch."""
    table = model.__table__
    total = 0
    while True:
        ids = (
            select(model.id)
            .where(condition)
            .order_by(model.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        stmt = update(table).values(**values) if values else delete(table)
        try:
            count = db.session.execute(stmt.where(table.c.id.in_(ids))).rowcount or 0
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        total += count
        if count < batch_size:
            return total


def run_retention(now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, int]:
    """Apply every retention period at ``now``; returns rows deleted (or scrubbed) per kind."""
    now = now or utcnow()
    idempotency_cutoff = _cutoff(now, "IDEMPOTENCY_RETENTION_DAYS")
    push_cutoff = _cutoff(now, "PUSH_RECORD_RETENTION_DAYS")
    audit_cutoff = _cutoff(now, "AUDIT_RETENTION_DAYS")
    unresolved_alert = (
        select(Alert.id).where(Alert.id == AlertDelivery.alert_id, Alert.state != RESOLVED).exists()
    )
    counts = {
        "idempotency_records": _batched(
            IdempotencyRecord, IdempotencyRecord.created_at < idempotency_cutoff, batch_size
        ),
        "alert_deliveries": _batched(
            AlertDelivery,
            and_(
                AlertDelivery.state.in_(("sent", "failed")),
                AlertDelivery.created_at < push_cutoff,
                ~unresolved_alert,
            ),
            batch_size,
        ),
        "devices": _batched(
            Device,
            and_(
                Device.active.is_(False),
                Device.deactivated_at.is_not(None),
                Device.deactivated_at < push_cutoff,
            ),
            batch_size,
        ),
        "prompt_push_fields": _batched(
            Prompt,
            and_(
                Prompt.state.in_(FINAL_PROMPT_STATES),
                Prompt.expires_at < push_cutoff,
                or_(*(getattr(Prompt, f).is_not(None) for f in PUSH_ATTEMPT_FIELDS)),
            ),
            batch_size,
            # Keep updated_at as it was: scrubbing is not a change of the prompt's history.
            updated_at=Prompt.__table__.c.updated_at,
            **dict.fromkeys(PUSH_ATTEMPT_FIELDS),
        ),
        "audit_log": _batched(AuditLog, AuditLog.at < audit_cutoff, batch_size),
    }
    log.info("retention", extra={"job": JOB_RETENTION, **{f"removed_{k}": v for k, v in counts.items()}})
    if any(counts.values()):
        audit("retention", "system", detail=",".join(f"{k}={v}" for k, v in counts.items()))
        db.session.commit()
    return counts


__all__ = ["JOB_RETENTION", "run_retention"]
