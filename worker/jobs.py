"""The worker's periodic jobs. Each runs inside the app context and records a heartbeat."""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from worker.notifier.base import Notifier


def register_jobs(scheduler: BaseScheduler, app: Flask, notifier: Notifier, worker_id: str) -> None:
    """Jobs are added by the features that need them (prompt dispatch, reminders, expiry, alerts)."""
