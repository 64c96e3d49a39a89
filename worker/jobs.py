"""The worker's periodic jobs. Each runs inside the app context, never lets an exception escape
(it is logged without data and recorded on the heartbeat) and records a heartbeat per run."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from threading import Event
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from sqlalchemy.exc import DBAPIError

from api.extensions import db
from api.models.types import utcnow
from api.services.alerts import escalate_overdue
from worker.alerts import deliver_alerts
from worker.dispatch import run_dispatch
from worker.expiry import expire_overdue_prompts
from worker.heartbeat import record_heartbeat
from worker.leases import reclaim_expired_leases
from worker.notifier.base import Notifier
from worker.reminders import run_reminders
from worker.retention import JOB_RETENTION, run_retention
from worker.settings import WorkerSettings

log = logging.getLogger("worker.jobs")

JOB_DISPATCH = "dispatch"
JOB_REMINDERS = "reminders"
JOB_EXPIRY = "expiry"
JOB_RECLAIM = "reclaim"
JOB_ALERTS = "alerts"
JOB_ESCALATION = "escalation"

_ROOT = Path(__file__).resolve().parents[1]


def describe_error(exc: BaseException) -> str:
    """Exception class (and the driver's, for database errors) plus where it was raised in our
    code. Never the message: database errors quote statements and parameters."""
    name = type(exc).__name__
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        name += f" ({type(exc.orig).__module__}.{type(exc.orig).__name__})"
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(_ROOT) and ".venv" not in path.parts:
            where = f"{path.relative_to(_ROOT)}:{frame.lineno}"
    return f"{name} at {where}" if where else name


def run_job(app: Flask, worker_id: str, job: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in an app context, log a failure, record the heartbeat. Returns ``fn``'s result
    (None if it failed)."""
    with app.app_context():
        try:
            try:
                result = fn()
            except Exception as exc:
                db.session.rollback()
                error = describe_error(exc)
                log.error("job failed", extra={"job": job, "worker_id": worker_id, "error": error})
                _heartbeat(worker_id, job, error)
                return None
            _heartbeat(worker_id, job, None)
            return result
        finally:
            db.session.remove()


def _heartbeat(worker_id: str, job: str, error: str | None) -> None:
    try:
        record_heartbeat(worker_id, job, utcnow(), error)
    except Exception as exc:  # the database is probably down; the job's own log line says so
        log.error(
            "heartbeat failed", extra={"job": job, "worker_id": worker_id, "error": describe_error(exc)}
        )


def add_job(
    scheduler: BaseScheduler,
    app: Flask,
    worker_id: str,
    job: str,
    fn: Callable[[], Any],
    seconds: float,
) -> None:
    """An interval job wrapped by ``run_job``, first run at once. One instance at a time, and missed
    runs coalesce (set as the scheduler's job defaults in ``worker.main``)."""
    scheduler.add_job(
        run_job,
        "interval",
        seconds=seconds,
        args=(app, worker_id, job, fn),
        id=job,
        name=job,
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )


def register_jobs(
    scheduler: BaseScheduler,
    app: Flask,
    notifier: Notifier,
    settings: WorkerSettings,
    stopping: Event | None = None,
) -> None:
    """Prompt dispatch, reminders, expiry and the lease sweep. ``stopping`` ends long runs early."""
    worker_id = settings.worker_id
    add_job(
        scheduler,
        app,
        worker_id,
        JOB_DISPATCH,
        partial(run_dispatch, notifier, settings, stopping),
        settings.dispatch_interval,
    )
    add_job(
        scheduler,
        app,
        worker_id,
        JOB_REMINDERS,
        partial(run_reminders, notifier, settings, stopping),
        settings.reminder_interval,
    )
    add_job(
        scheduler,
        app,
        worker_id,
        JOB_EXPIRY,
        lambda: expire_overdue_prompts(utcnow(), settings.expiry_batch_size),
        settings.expiry_interval,
    )
    add_job(scheduler, app, worker_id, JOB_RECLAIM, _reclaim, settings.reclaim_interval)
    add_job(
        scheduler,
        app,
        worker_id,
        JOB_ALERTS,
        partial(deliver_alerts, notifier, worker_id),
        settings.alert_interval,
    )
    add_job(
        scheduler,
        app,
        worker_id,
        JOB_ESCALATION,
        lambda: escalate_overdue(utcnow()),
        settings.escalation_interval,
    )
    add_job(
        scheduler, app, worker_id, JOB_RETENTION, lambda: run_retention(utcnow()), settings.retention_interval
    )


def _reclaim() -> int:
    count = reclaim_expired_leases(utcnow())
    if count:
        # Each one is a claim whose worker died or stalled past its lease.
        log.warning("reclaimed expired leases", extra={"count": count})
    return count


__all__ = [
    "JOB_ALERTS",
    "JOB_DISPATCH",
    "JOB_ESCALATION",
    "JOB_EXPIRY",
    "JOB_RECLAIM",
    "JOB_REMINDERS",
    "add_job",
    "describe_error",
    "register_jobs",
    "run_job",
]
