"""The worker process: one APScheduler BlockingScheduler with an in-memory job store per process.
The database rows are the queue; job stores are never shared between processes."""

from __future__ import annotations

import logging
import os

from apscheduler.schedulers.blocking import BlockingScheduler

from api import create_app
from worker.jobs import register_jobs
from worker.notifier.factory import notifier_from_env

log = logging.getLogger("worker")


def main() -> None:
    app = create_app()
    notifier = notifier_from_env()
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    register_jobs(scheduler, app, notifier, worker_id=os.environ.get("WORKER_ID") or f"worker-{os.getpid()}")
    log.info("worker starting", extra={"jobs": [j.id for j in scheduler.get_jobs()]})
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("worker stopping")
