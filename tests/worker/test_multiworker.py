"""Real ``python -m worker`` processes on PostgreSQL against FakeFcmServer: several workers never
send a prompt twice, and a worker killed mid-batch loses nothing once its lease runs out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import Prompt
from api.models.prompts import SENT
from api.models.types import utcnow
from tests.conftest import ON_POSTGRES
from tests.fakes.fcm_server import FakeFcmServer
from tests.worker.seed import seed_due_prompts

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="SKIP LOCKED needs PostgreSQL")

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = 5000
BATCH = 500


@pytest.fixture
def fake_fcm() -> Iterator[FakeFcmServer]:
    with FakeFcmServer() as server:
        yield server


class Workers:
    """``python -m worker`` subprocesses; stopped (SIGTERM, then SIGKILL) at teardown."""

    def __init__(self, database_url: str, fcm_url: str, tmp_path: Path) -> None:
        self.database_url, self.fcm_url, self.tmp_path = database_url, fcm_url, tmp_path
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, **env: str) -> subprocess.Popen:
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
            "WORKER_BATCH_SIZE": str(BATCH),
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

    def log_records(self, name: str) -> list[dict]:
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


@pytest.fixture
def workers(app, database_url: str, fake_fcm: FakeFcmServer, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(database_url, fake_fcm.url, tmp_path)
    yield running
    running.stop_all()


def sent_count() -> int:
    db.session.rollback()  # a fresh snapshot, and no transaction left open while workers run
    return db.session.scalar(select(func.count()).select_from(Prompt).where(Prompt.state == SENT))


def wait_until(condition, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def complete_requests(server: FakeFcmServer) -> list:
    # A worker killed while writing a request leaves a truncated body behind (parsed as None).
    return [r for r in server.requests if r.body is not None]


def requests_per_prompt(server: FakeFcmServer) -> Counter:
    return Counter(int(r.body["message"]["data"]["prompt_id"]) for r in complete_requests(server))


def test_two_workers_send_each_prompt_exactly_once(app, workers, fake_fcm):
    ids = seed_due_prompts(patients=PROMPTS // 10, prompts_per_patient=10, now=utcnow())
    assert len(ids) == PROMPTS

    workers.start("mw-1")
    workers.start("mw-2")
    assert wait_until(lambda: sent_count() == PROMPTS, timeout=90), f"sent {sent_count()} of {PROMPTS}"
    workers.stop_all()

    per_prompt = requests_per_prompt(fake_fcm)
    assert set(per_prompt) == set(ids)
    duplicates = {pid: n for pid, n in per_prompt.items() if n > 1}
    assert duplicates == {}
    assert fake_fcm.request_count == PROMPTS
    assert all(
        r.body["message"]["android"]["collapse_key"] == f"prompt-{r.body['message']['data']['prompt_id']}"
        for r in fake_fcm.requests
    )
    db.session.rollback()
    assert set(db.session.scalars(select(Prompt.attempts).where(Prompt.id.in_(ids)))) == {1}
    # Both processes took part (their own structured logs say how many prompts each sent).
    sent_by = {
        name: sum(r.get("sent", 0) for r in workers.log_records(name) if r.get("message") == "dispatched")
        for name in ("mw-1", "mw-2")
    }
    assert sum(sent_by.values()) == PROMPTS
    assert all(sent_by.values()), sent_by
    # Graceful stop on SIGTERM.
    assert [p.returncode for p in workers.procs.values()] == [0, 0]


def test_a_worker_killed_mid_batch_loses_nothing(app, workers, fake_fcm):
    total = 2000  # four batches: enough to kill one mid-flight, and quicker than 5,000
    ids = seed_due_prompts(patients=total // 10, prompts_per_patient=10, now=utcnow())
    lease = {"WORKER_LEASE_SECONDS": "3"}

    victim = workers.start("mw-victim", **lease)
    assert fake_fcm.wait_for(BATCH + BATCH // 3, timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    workers.start("mw-survivor", **lease)
    assert wait_until(lambda: sent_count() == total, timeout=90), f"sent {sent_count()} of {total}"

    per_prompt = requests_per_prompt(fake_fcm)
    assert set(per_prompt) == set(ids)  # every prompt reached its device
    duplicates = {pid for pid, n in per_prompt.items() if n > 1}
    # Only the batch in flight when the worker died can be sent twice ...
    assert len(duplicates) <= BATCH
    assert all(per_prompt[pid] == 2 for pid in duplicates)
    # ... and those were claimed twice (the lease ran out) and share their collapse key.
    db.session.rollback()
    attempts = {
        pid: n for pid, n in db.session.execute(select(Prompt.id, Prompt.attempts).where(Prompt.id.in_(ids)))
    }
    assert all(attempts[pid] == 2 for pid in duplicates)
    # The killed worker's claim was taken over once its lease ran out (the path under test).
    assert any(n == 2 for n in attempts.values())
    assert sum(1 for n in attempts.values() if n == 2) <= BATCH
    keys = {
        pid: {
            r.body["message"]["android"]["collapse_key"]
            for r in complete_requests(fake_fcm)
            if r.body["message"]["data"]["prompt_id"] == str(pid)
        }
        for pid in list(duplicates)[:50]
    }
    assert all(k == {f"prompt-{pid}"} for pid, k in keys.items())
