"""Heartbeats: one ``worker_heartbeats`` row per (worker, job), upserted after every job run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.extensions import db
from api.models import WorkerHeartbeat

ERROR_LENGTH = 500


def record_heartbeat(worker_id: str, job: str, now: datetime, error: str | None = None) -> None:
    """Upsert the row and commit. ``error`` None records a success (``last_success_at``); otherwise
    ``last_error_at``/``last_error`` (a short description, never data from the rows)."""
    values = (
        {"last_success_at": now}
        if error is None
        else {"last_error_at": now, "last_error": error[:ERROR_LENGTH]}
    )
    # Both dialects spell the upsert the same way (ON CONFLICT DO UPDATE), from different modules.
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(WorkerHeartbeat).values(worker_id=worker_id, job=job, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["worker_id", "job"], set_=values)
    try:
        db.session.execute(stmt)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


__all__ = ["record_heartbeat"]
