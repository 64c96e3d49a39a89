"""Dispatch throughput: ``python -m worker`` processes on PostgreSQL against FakeFcmServer.

    .venv/bin/python bench/dispatch.py [--prompts 20000] [--workers 1 2] \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Measures, each in its own process so they do not share a GIL:

* the fake server's own ceiling (a load generator of raw HTTP/1.1 keep-alive clients);
* ``FcmNotifier.send`` alone (the real firebase-admin ``send_each`` path) and its CPU per message;
* end to end: N due prompts (one device each) in a fresh migrated database, drained by 1 and by 2
  worker processes; notifications/s is measured at the fake server (first to last request), plus
  duplicates (requests beyond one per prompt) and unsent prompts, which must both be 0, and the
  workers' CPU per notification (from the first prompt marked sent to the last).

A profile of one worker (where that CPU goes) is in ``bench/profiles/dispatch.txt``.

Prints ``name: value unit`` lines, then a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from _common import (
    DEFAULT_DATABASE_URL,
    ROOT,
    drop_database,
    fresh_database,
    machine_line,
    print_table,
    process_cpu_seconds,
    report,
)
from sqlalchemy import func, select
from tqdm import tqdm

from tests.fakes.fcm_server import FakeFcmServer

PROJECT = "ic-bench"
TOKEN = "bench-token"
# --- the fake server, in a child process -------------------------------------------------------


class TimedFake(FakeFcmServer):
    """Also notes when the first and the last request arrived."""

    first: float | None = None
    last: float | None = None

    def _record(self, request):  # type: ignore[override]
        now = time.monotonic()
        with self._cond:
            self.first = self.first if self.first is not None else now
            self.last = now
        super()._record(request)


def _fake_main(conn) -> None:
    with TimedFake() as fake:
        conn.send(fake.url)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "reset":
                fake.reset()
                fake.first = fake.last = None
                conn.send(None)
            elif command == "stats":
                requests = fake.requests
                per_prompt = Counter()
                for r in requests:
                    with contextlib.suppress(KeyError, TypeError):  # a truncated (None) body
                        per_prompt[r.body["message"]["data"]["prompt_id"]] += 1
                conn.send((len(requests), fake.first, fake.last, dict(per_prompt)))


class FakeProcess:
    def __init__(self) -> None:
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=_fake_main, args=(child,), daemon=True)
        self.proc.start()
        self.url = self.conn.recv()

    def call(self, command: str):
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(5)


# --- 1. the fake server's ceiling ----------------------------------------------------------------

BODY = json.dumps(
    {"message": {"token": "t", "notification": {"title": "x", "body": "y"}, "data": {"prompt_id": "1"}}}
).encode()


def _load_client(url: str, seconds: float, threads: int, out) -> None:
    host, port = url.removeprefix("http://").split(":")
    counts = [0] * threads
    stop_at = time.monotonic() + seconds

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port))
        path = f"/v1/projects/{PROJECT}/messages:send"
        while time.monotonic() < stop_at:
            conn.request("POST", path, BODY, {"Content-Type": "application/json"})
            conn.getresponse().read()
            counts[i] += 1
        conn.close()

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(sum(counts))


def fake_ceiling(fake: FakeProcess, seconds: float = 5.0, clients: int = 2, threads: int = 16) -> float:
    fake.call("reset")
    queue: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=_load_client, args=(fake.url, seconds, threads, queue)) for _ in range(clients)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    report("fake_server_ceiling", total / seconds, "requests/s")
    return total / seconds


# --- 2. the notifier alone -----------------------------------------------------------------------


def notifier_alone(fake: FakeProcess, messages: int) -> None:
    from worker.notifier.base import PushMessage
    from worker.notifier.fcm import FcmNotifier, StaticTokenCredential

    fake.call("reset")
    pushes = [
        PushMessage(
            f"tok-{i}",
            "Integration Companion",
            "You have a new check-in",
            {"prompt_id": str(i), "kind": "prompt"},
            f"prompt-{i}",
            3600,
        )
        for i in range(messages)
    ]
    with FcmNotifier(PROJECT, StaticTokenCredential(TOKEN), endpoint=fake.url) as notifier:
        notifier.send(pushes[:500])  # warm up the connection pool
        fake.call("reset")
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        results_ = notifier.send(pushes)
        elapsed = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    assert all(r.outcome == "sent" for r in results_)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    report("notifier_send_each", messages / elapsed, "msgs/s")
    report("notifier_cpu_per_message", cpu / messages * 1000, "ms")


# --- 3. end to end -------------------------------------------------------------------------------


def end_to_end(
    fake: FakeProcess, base_url: str, prompts: int, worker_count: int, tmp: Path, ceiling: float
) -> None:
    from flask_migrate import upgrade

    from api import create_app
    from api.extensions import db
    from api.models import Prompt
    from api.models.types import utcnow
    from tests.worker.seed import seed_due_prompts

    name, url = fresh_database(base_url, "ic_bench_dispatch")
    procs: list[subprocess.Popen] = []
    try:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            ids = seed_due_prompts(patients=prompts // 10, prompts_per_patient=10, now=utcnow())
            report(f"seed_{worker_count}_worker", len(ids) / (time.perf_counter() - started), "rows/s")
            fake.call("reset")
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(tmp / "instance"),
                "NOTIFIER": "fcm",
                "FCM_PROJECT_ID": PROJECT,
                "FCM_ENDPOINT": fake.url,
                "FCM_STATIC_TOKEN": TOKEN,
                "WORKER_DISPATCH_INTERVAL_SECONDS": "0.2",
                "LOG_LEVEL": "WARNING",
            }
            for i in range(worker_count):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "worker"],
                        cwd=ROOT,
                        env={**env, "WORKER_ID": f"bench-{worker_count}-{i}"},
                        stdout=subprocess.DEVNULL,
                    )
                )
            deadline = time.monotonic() + 600
            sent = 0
            cpu_from: tuple[float, int] | None = None
            with tqdm(total=len(ids), desc=f"dispatch, {worker_count} worker(s)", unit="prompts") as bar:
                while time.monotonic() < deadline:
                    db.session.rollback()
                    now_sent = db.session.scalar(
                        select(func.count()).select_from(Prompt).where(Prompt.state == "sent")
                    )
                    bar.update(now_sent - sent)
                    sent = now_sent
                    if cpu_from is None and sent:  # the workers are up: count CPU from here
                        cpu_from = (sum(process_cpu_seconds(p.pid) for p in procs), sent)
                    if sent == len(ids):
                        break
                    time.sleep(0.2)
            count, first, last, per_prompt = fake.call("stats")
            duplicates = sum(n - 1 for n in per_prompt.values() if n > 1)
            rate = count / max(last - first, 1e-9)
            report(f"dispatch_{worker_count}_worker", rate, "notifications/s")
            report(f"dispatch_{worker_count}_worker_vs_fake_server_ceiling", rate / ceiling, "ratio")
            if cpu_from is not None and sent > cpu_from[1]:
                worker_cpu = sum(process_cpu_seconds(p.pid) for p in procs) - cpu_from[0]
                per_message = worker_cpu / (sent - cpu_from[1]) * 1000
                report(f"worker_cpu_per_notification_{worker_count}_worker", per_message, "ms")
            report(f"duplicates_{worker_count}_worker", duplicates, "requests")
            report(f"unsent_{worker_count}_worker", len(ids) - sent, "prompts")
            db.session.remove()
            db.engine.dispose()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        drop_database(base_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=20000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
    )
    args = parser.parse_args()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"ic-bench-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)

    machine_line("start")
    fake = FakeProcess()
    try:
        ceiling = fake_ceiling(fake)
        notifier_alone(fake, 5000)
        for count in args.workers:
            end_to_end(fake, args.database_url, args.prompts, count, tmp, ceiling)
    finally:
        fake.stop()
    machine_line("end")
    print_table()


if __name__ == "__main__":
    main()
