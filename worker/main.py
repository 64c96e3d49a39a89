"""The worker process: one APScheduler BlockingScheduler with an in-memory job store per process.
The database rows are the queue; job stores are never shared between processes."""

from __future__ import annotations

import logging
import signal
from threading import Event
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from api import create_app
from worker.jobs import register_jobs
from worker.notifier.factory import notifier_from_env
from worker.settings import settings_from_env

log = logging.getLogger("worker")


def main() -> None:
    app = create_app()
    settings = settings_from_env()
    notifier = notifier_from_env()
    # Our jobs log their own outcome and heartbeat; APScheduler's per-run INFO lines and its
    # "skipped: maximum number of running instances" warnings (a long dispatch run) are noise.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    stopping = Event()
    register_jobs(scheduler, app, notifier, settings, stopping)

    def stop(signum: int, frame: FrameType | None) -> None:
        # Graceful: running jobs finish their batch and record it (no lease left to run out).
        stopping.set()
        if scheduler.running:
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    log.info(
        "worker starting",
        extra={"worker_id": settings.worker_id, "jobs": [j.id for j in scheduler.get_jobs()]},
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        stop(signal.SIGINT, None)
    finally:
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
        log.info("worker stopped", extra={"worker_id": settings.worker_id})
