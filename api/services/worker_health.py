"""Worker health for /readyz and /metrics: the last successful run of each job (over all worker
processes) and the send backlog."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from api.extensions import db
from api.models import Prompt, WorkerHeartbeat
from api.models.prompts import SCHEDULED

# A prompt still unsent this long after it became sendable counts as backlog.
BACKLOG_AFTER = timedelta(minutes=2)
# Heartbeat rows are per process (ids change on restart); older ones are left out of "workers".
WORKER_LISTED_FOR = timedelta(days=1)


def send_backlog(now: datetime) -> int:
    """Prompts that have been sendable for over ``BACKLOG_AFTER`` and are still unsent: due,
    window open, not given up on, not waiting for a retry. (Undeliverable prompts stay
    ``scheduled`` until they expire, and a prompt backing off is not late, so neither counts.)"""
    cutoff = now - BACKLOG_AFTER
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Prompt)
            .where(
                Prompt.state == SCHEDULED,
                Prompt.intended_at <= cutoff,
                Prompt.expires_at > now,
                Prompt.undeliverable_at.is_(None),
                or_(Prompt.next_attempt_at.is_(None), Prompt.next_attempt_at <= cutoff),
            )
        )
        or 0
    )


def worker_health(now: datetime) -> dict[str, Any]:
    """``{"jobs": {job: {...}}, "workers": [...], "backlog": n}``.

    Per job: the newest ``last_success_at`` over all workers, its age in seconds (None if never)
    and the newest ``last_error_at``. Per worker and job (active within ``WORKER_LISTED_FOR``): the
    raw heartbeat. Times are ISO 8601 strings.
    """
    hb = WorkerHeartbeat
    jobs = {
        job: {
            "last_success_at": _iso(success),
            "seconds_since_success": None if success is None else round((now - success).total_seconds(), 3),
            "last_error_at": _iso(error),
        }
        for job, success, error in db.session.execute(
            select(hb.job, func.max(hb.last_success_at), func.max(hb.last_error_at))
            .group_by(hb.job)
            .order_by(hb.job)
        )
    }
    since = now - WORKER_LISTED_FOR
    recent = select(hb).where(or_(hb.last_success_at > since, hb.last_error_at > since))
    workers = [
        {
            "worker_id": row.worker_id,
            "job": row.job,
            "last_success_at": _iso(row.last_success_at),
            "last_error_at": _iso(row.last_error_at),
            "last_error": row.last_error,
        }
        for row in db.session.scalars(recent.order_by(hb.worker_id, hb.job))
    ]
    return {"jobs": jobs, "workers": workers, "backlog": send_backlog(now)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


__all__ = ["BACKLOG_AFTER", "WORKER_LISTED_FOR", "send_backlog", "worker_health"]
