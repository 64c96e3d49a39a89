"""Real ``python -m worker`` subprocesses pointed at a FakeFcmServer, and helpers for the tests that run
them (tests/worker/test_multiworker.py, tests/faults/test_fcm_storm.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.fcm_server import FakeFcmServer, RecordedRequest

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    """``python -m worker`` subprocesses with the FCM notifier pointed at ``fcm_url``; each one's
    stderr (JSON log lines) goes to ``tmp_path/<name>.log``. Call :meth:`stop_all` at teardown
    (SIGTERM, then SIGKILL)."""

    def __init__(self, database_url: str, fcm_url: str, tmp_path: Path, batch_size: int = 500) -> None:
        self.database_url, self.fcm_url, self.tmp_path = database_url, fcm_url, tmp_path
        self.batch_size = batch_size
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, **env: str) -> subprocess.Popen:
        """Start a worker with ``WORKER_ID=name``; ``env`` overrides the environment (e.g. settings)."""
        environ = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "INSTANCE_PATH": str(self.tmp_path / "instance"),
            "NOTIFIER": "fcm",
            "FCM_PROJECT_ID": "ic-multiworker",
            "FCM_ENDPOINT": self.fcm_url,
            "FCM_STATIC_TOKEN": "multiworker-token",
            "WORKER_ID": name,
            "WORKER_DISPATCH_INTERVAL_SECONDS": "0.2",
            "WORKER_BATCH_SIZE": str(self.batch_size),
            "LOG_LEVEL": "INFO",
            **env,
        }
        stderr = open(self.tmp_path / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker"], cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=stderr
        )
        stderr.close()
        self.procs[name] = proc
        return proc

    def log_records(self, name: str) -> list[dict[str, Any]]:
        """The JSON log records the worker ``name`` wrote (other lines are skipped)."""
        records = []
        for line in (self.tmp_path / f"{name}.log").read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def complete_requests(server: FakeFcmServer) -> list[RecordedRequest]:
    """The requests with a whole body: a worker killed while writing one leaves a truncated body
    behind (parsed as None)."""
    return [r for r in server.requests if r.body is not None]


def prompt_id_of(request: RecordedRequest) -> int:
    return int(request.body["message"]["data"]["prompt_id"])


def requests_per_prompt(server: FakeFcmServer) -> Counter[int]:
    """How many messages:send requests the fake received per prompt id."""
    return Counter(prompt_id_of(r) for r in complete_requests(server))


__all__ = ["ROOT", "Workers", "complete_requests", "prompt_id_of", "requests_per_prompt", "wait_until"]
