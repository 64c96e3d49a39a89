"""Worker configuration: every knob comes from the environment, read here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    worker_id: str
    # Job intervals (seconds; floats so tests can run a real worker at a fast pace).
    dispatch_interval: float = 2.0
    reminder_interval: float = 10.0
    expiry_interval: float = 30.0
    reclaim_interval: float = 30.0
    # Rows per claim. 500 is one firebase-admin send_each chunk: one claim, one HTTP fan-out.
    batch_size: int = 500
    # Rows per set-based expiry UPDATE.
    expiry_batch_size: int = 5000
    # A claim is owned for this long. It must outlast a slow send (a 500-message chunk over
    # 100 connections with a 15 s HTTP timeout can take ~75 s when FCM stalls): a lease that runs
    # out mid-send lets another worker send the same prompt again (harmless thanks to the collapse
    # key, but a duplicate). A crashed worker's claims come back after at most this long.
    lease_seconds: float = 120.0
    # Delivery attempts (claims) per prompt before it is marked undeliverable. Ten, so that an FCM
    # outage failing half the requests for minutes gives up on a prompt with odds of at most 2**-10;
    # with the backoff below the attempts span about 12 minutes on average.
    max_attempts: int = 10
    # Backoff between attempts: full jitter over [0, min(cap, base * 2**n)], Retry-After as a floor.
    retry_base_seconds: float = 10.0
    retry_cap_seconds: float = 300.0
    # A dispatch run keeps claiming batches while work is due, for at most this long, so the job
    # returns (and records its heartbeat) regularly even while a big backlog drains.
    run_budget_seconds: float = 20.0
    # Alerts must reach a clinician within 2 s of the commit: a short claim loop on the outbox.
    alert_interval: float = 0.5
    escalation_interval: float = 5.0
    retention_interval: float = 3600.0


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    result = default if value in (None, "") else float(value)
    if result <= 0:
        raise ValueError(f"{name} must be > 0")
    return result


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    result = default if value in (None, "") else int(value)
    if result < 1:
        raise ValueError(f"{name} must be >= 1")
    return result


def settings_from_env(environ: Mapping[str, str] | None = None, pid: int | None = None) -> WorkerSettings:
    """The settings for this process (``environ`` defaults to ``os.environ``)."""
    env = os.environ if environ is None else environ
    defaults = WorkerSettings(worker_id="")
    return WorkerSettings(
        # Unique per process: leases and heartbeats are keyed by it. Max 64 characters (locked_by).
        worker_id=(env.get("WORKER_ID") or f"worker-{os.uname().nodename}-{pid or os.getpid()}")[:64],
        dispatch_interval=_float(env, "WORKER_DISPATCH_INTERVAL_SECONDS", defaults.dispatch_interval),
        reminder_interval=_float(env, "WORKER_REMINDER_INTERVAL_SECONDS", defaults.reminder_interval),
        expiry_interval=_float(env, "WORKER_EXPIRY_INTERVAL_SECONDS", defaults.expiry_interval),
        reclaim_interval=_float(env, "WORKER_RECLAIM_INTERVAL_SECONDS", defaults.reclaim_interval),
        batch_size=_int(env, "WORKER_BATCH_SIZE", defaults.batch_size),
        expiry_batch_size=_int(env, "WORKER_EXPIRY_BATCH_SIZE", defaults.expiry_batch_size),
        lease_seconds=_float(env, "WORKER_LEASE_SECONDS", defaults.lease_seconds),
        max_attempts=_int(env, "WORKER_MAX_ATTEMPTS", defaults.max_attempts),
        retry_base_seconds=_float(env, "WORKER_RETRY_BASE_SECONDS", defaults.retry_base_seconds),
        retry_cap_seconds=_float(env, "WORKER_RETRY_CAP_SECONDS", defaults.retry_cap_seconds),
        run_budget_seconds=_float(env, "WORKER_RUN_BUDGET_SECONDS", defaults.run_budget_seconds),
        alert_interval=_float(env, "WORKER_ALERT_INTERVAL_SECONDS", defaults.alert_interval),
        escalation_interval=_float(env, "WORKER_ESCALATION_INTERVAL_SECONDS", defaults.escalation_interval),
        retention_interval=_float(env, "WORKER_RETENTION_INTERVAL_SECONDS", defaults.retention_interval),
    )


__all__ = ["WorkerSettings", "settings_from_env"]
