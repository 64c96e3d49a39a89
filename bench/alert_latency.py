"""Alert latency: from the API's answer to a concerning check-in to the care team's push and webhook.

    .venv/bin/python bench/alert_latency.py [--alerts 200] [--rate 5] [--clinicians 3] \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

In a scratch database (created, migrated with the project's migrations, dropped at the end): one care
team whose ``--clinicians`` clinicians are all on duty with one device each and which has a signed
webhook, and ``--alerts`` patients. It starts the real API (``gunicorn --config gunicorn.conf.py
'api:create_app()'``) and one real ``python -m worker`` (``NOTIFIER=fcm``, the real firebase-admin path
pointed at ``tests.fakes.fcm_server.FakeFcmServer``; the worker's own default job intervals, so the alert
outbox is polled every ``WORKER_ALERT_INTERVAL_SECONDS`` = 0.5 s), both production-like (APP_ENV=production).
The fake FCM server and ``tests.fakes.webhook_receiver`` run in this process and note arrival times on the
same monotonic clock as the sender.

Each patient submits one PHQ-9 with item 9 >= 1 (alternately 1 and 2: the ``phq9_item9`` rule, high or
urgent), at a steady ``--rate`` per second. One check-in per patient, so the per-(patient, rule)
deduplication of unresolved alerts never folds two into one: every check-in opens its own alert, whose
outbox rows (a push per on-duty clinician and the team webhook, both sent at once, not only on
escalation) commit with the check-in. For each alert (found by the check-in id the API returned) it
measures the time from the API response to

* ``push_first``: the first of the team's pushes arriving at the fake FCM (push data carries the alert id);
* ``push_all``: the last of them, i.e. every on-duty clinician's phone reached;
* ``webhook``: the webhook arriving (its body carries ``alert_id``);

and prints p50, p95, p99 and max of each, the alerts never delivered and deliveries beyond one per
device/webhook (both must be 0), and a breakdown of the push time into ``outbox_pickup`` (alert commit to
the start of the worker run that sent it: polling interval plus scheduling) and ``run_start_to_first_push``
(that run's claim, queries and firebase-admin send), as ``name: value unit`` lines and then a Markdown
table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_DATABASE_URL,
    ROOT,
    access_token,
    app_for,
    drop_database,
    fresh_database,
    machine_line,
    migrate,
    percentile,
    print_table,
    report,
    seed_patients,
    seed_team,
    server_env,
    stop,
    wait_http,
)
from flask import Flask
from sqlalchemy import select
from tqdm import tqdm

from tests.fakes.fcm_server import FakeFcmServer, RecordedRequest
from tests.fakes.webhook_receiver import webhook_receiver
from tests.faults.gunicorn import free_port, start_gunicorn

PROJECT = "ic-alert-bench"
WEBHOOK_SECRET = "alert-bench-webhook-secret-0123456789"


class ArrivalFcm(FakeFcmServer):
    """Notes the arrival time of every push per alert id (monotonic, and wall clock for the breakdown)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.wall: dict[str, list[float]] = defaultdict(list)

    def _record(self, request: RecordedRequest) -> None:
        now, wall = time.monotonic(), time.time()
        try:
            alert_id = request.body["message"]["data"]["alert_id"]
        except (KeyError, TypeError):
            alert_id = None
        with self._cond:
            if alert_id is not None and request.status == 200:
                self.arrivals[alert_id].append(now)
                self.wall[alert_id].append(wall)
        super()._record(request)


def phq9(item9: int, recorded_at: str) -> dict:
    """A PHQ-9 body with items 1-8 at 1 and item 9 at ``item9`` (>= 1 raises ``phq9_item9``)."""
    return {
        "client_uuid": str(uuid.uuid4()),
        "instrument_id": "phq9",
        "instrument_version": "1.0",
        "answers": {f"q{i}": 1 for i in range(1, 9)} | {"q9": item9},
        "recorded_at": recorded_at,
    }


def post_checkin(port: int, token: str, body: dict) -> tuple[int, dict, float]:
    """One POST on a fresh connection; returns (status, JSON body, monotonic time the answer was read)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            "/api/v1/me/checkins",
            json.dumps(body),
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        response = conn.getresponse()
        raw = response.read()
        done = time.monotonic()
    finally:
        conn.close()
    return response.status, json.loads(raw or b"{}"), done


def wait_for_worker(app: Flask, timeout: float = 60.0) -> None:
    """Block until the worker has recorded a heartbeat of its alert-delivery job."""
    from api.extensions import db
    from api.models import WorkerHeartbeat

    deadline = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.job == "alerts")):
                db.session.remove()
                return
            time.sleep(0.2)
    raise RuntimeError("the worker did not start its alert job")


def summarise(name: str, values: list[float]) -> None:
    """Report p50, p95, p99 and max of ``values`` (seconds) in ms."""
    for pct in (50, 95, 99):
        report(f"{name}_p{pct}_ms", percentile(values, pct) * 1000, "ms")
    report(f"{name}_max_ms", max(values) * 1000 if values else float("nan"), "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="concerning check-ins per second")
    parser.add_argument("--clinicians", type=int, default=3, help="on-duty clinicians, one device each")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"ic-bench-alerts-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    machine_line("start")
    print(
        f"{args.alerts} concerning check-ins at {args.rate:g}/s, one per patient; {args.clinicians} on-duty "
        f"clinicians with a device each + a team webhook; 1 API (gunicorn.conf.py) + 1 worker "
        f"(WORKER_ALERT_INTERVAL_SECONDS={os.environ.get('WORKER_ALERT_INTERVAL_SECONDS', '0.5 (default)')})",
        flush=True,
    )
    name, url = fresh_database(args.database_url, "ic_bench_alerts")
    procs: list[subprocess.Popen] = []
    try:
        with ArrivalFcm() as fcm, webhook_receiver() as hooks:
            env = server_env(url, tmp)
            app = app_for(env, ACCESS_TOKEN_MINUTES=240)
            with app.app_context():
                from api.extensions import db
                from api.models.types import utcnow

                migrate()
                team, _ = seed_team("alerts", clinicians=args.clinicians, devices=True)
                team.webhook_url, team.webhook_secret = hooks.url, WEBHOOK_SECRET
                patients = seed_patients(team, args.alerts)
                tokens = [access_token(p) for p in patients]
                db.session.commit()
                db.session.remove()

            port = free_port()
            procs.append(start_gunicorn("api:create_app()", port, env, tmp / "api.log"))
            worker_env = {
                **env,
                "NOTIFIER": "fcm",
                "FCM_PROJECT_ID": PROJECT,
                "FCM_ENDPOINT": fcm.url,
                "FCM_STATIC_TOKEN": "alert-bench-token",
                "WORKER_ID": "alert-bench",
            }
            with open(tmp / "worker.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "worker"],
                        cwd=ROOT,
                        env=worker_env,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
            wait_http(f"http://127.0.0.1:{port}/healthz")
            wait_for_worker(app)

            recorded_at = (utcnow() - timedelta(minutes=1)).isoformat()
            answers: list[tuple[int, dict, float] | None] = [None] * args.alerts
            lock = threading.Lock()
            progress = tqdm(total=args.alerts, desc="check-ins", leave=False, disable=None)

            def submit(i: int) -> None:
                result = post_checkin(port, tokens[i], phq9(1 + i % 2, recorded_at))
                with lock:
                    answers[i] = result
                    progress.update()

            started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                futures = []
                for i in range(args.alerts):
                    delay = started + i / args.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    futures.append(pool.submit(submit, i))
                for future in futures:
                    future.result()
            progress.close()
            sending = time.monotonic() - started
            report("checkins_sent", args.alerts, "check-ins")
            report("send_rate", args.alerts / sending, "check-ins/s")
            ok = [a for a in answers if a is not None and a[0] == 201]
            report("checkin_non201", args.alerts - len(ok), "responses")
            report("checkin_with_support", sum(1 for a in ok if a[1].get("support")), "responses")

            # Each check-in's alert, by the check-in id the API returned.
            from api.models import Alert

            with app.app_context():
                by_checkin = dict(
                    db.session.execute(
                        select(Alert.source_id, Alert.id).where(Alert.source_type == "checkin")
                    ).all()
                )
                db.session.remove()
            responded = {str(by_checkin[a[1]["id"]]): a[2] for a in ok if a[1].get("id") in by_checkin}
            report("alerts_opened", len(responded), "alerts")

            # Wait (at most 60 s) until every alert reached every device and the webhook.
            def complete() -> bool:
                with fcm._cond:
                    pushed = all(len(fcm.arrivals.get(a, ())) >= args.clinicians for a in responded)
                hooked = {str(d.json["alert_id"]) for d in list(hooks.deliveries)}
                return pushed and set(responded) <= hooked

            deadline = time.monotonic() + 60
            while not complete() and time.monotonic() < deadline:
                time.sleep(0.1)

            push_first, push_all, webhook = [], [], []
            with fcm._cond:
                arrivals = {k: sorted(v) for k, v in fcm.arrivals.items()}
            hook_times: dict[str, list[float]] = defaultdict(list)
            for delivery in list(hooks.deliveries):
                hook_times[str(delivery.json["alert_id"])].append(delivery.received_at)
            missing_push = missing_webhook = 0
            for alert_id, at in responded.items():
                times = arrivals.get(alert_id, [])
                if len(times) >= args.clinicians:
                    push_first.append(times[0] - at)
                    push_all.append(times[args.clinicians - 1] - at)
                else:
                    missing_push += 1
                if hook_times.get(alert_id):
                    webhook.append(min(hook_times[alert_id]) - at)
                else:
                    missing_webhook += 1
            summarise("push_first", push_first)
            summarise("push_all", push_all)
            summarise("webhook", webhook)
            report("alerts_not_pushed_to_every_device", missing_push, "alerts")
            report("alerts_without_webhook", missing_webhook, "alerts")
            report(
                "push_duplicates",
                sum(max(0, len(arrivals.get(a, [])) - args.clinicians) for a in responded),
                "pushes",
            )
            report("webhook_duplicates", sum(max(0, len(v) - 1) for v in hook_times.values()), "webhooks")
            early = sum(1 for v in push_first + webhook if v < 0)
            report("deliveries_before_response", early, "deliveries")

            # Where the time goes (wall clocks of this host): the alert's commit (created_at) -> the start
            # of the worker's delivery run that claimed its first push (the delivery's sent_at, stamped
            # with the run's start) -> the push's arrival.
            from api.models import AlertDelivery

            with app.app_context():
                rows = db.session.execute(
                    select(Alert.id, Alert.created_at, AlertDelivery.sent_at)
                    .join(AlertDelivery, AlertDelivery.alert_id == Alert.id)
                    .where(AlertDelivery.channel == "push", AlertDelivery.sent_at.is_not(None))
                ).all()
                db.session.remove()
            run_start: dict[str, tuple[float, float]] = {}
            for alert_id, created_at, sent_at in rows:
                key = str(alert_id)
                first = min(run_start.get(key, (0, sent_at.timestamp()))[1], sent_at.timestamp())
                run_start[key] = (created_at.timestamp(), first)
            with fcm._cond:
                walls = {k: min(v) for k, v in fcm.wall.items() if v}
            pickup = [s - c for a, (c, s) in run_start.items() if a in responded]
            send = [walls[a] - s for a, (_, s) in run_start.items() if a in responded and a in walls]
            report("outbox_pickup_p50_ms", percentile(pickup, 50) * 1000, "ms")
            report("outbox_pickup_p95_ms", percentile(pickup, 95) * 1000, "ms")
            report("outbox_pickup_max_ms", max(pickup, default=float("nan")) * 1000, "ms")
            report("run_start_to_first_push_p50_ms", percentile(send, 50) * 1000, "ms")
            report("run_start_to_first_push_p95_ms", percentile(send, 95) * 1000, "ms")
            report("run_start_to_first_push_max_ms", max(send, default=float("nan")) * 1000, "ms")
            with app.app_context():
                db.engine.dispose()
    finally:
        stop(procs)
        drop_database(args.database_url, name)
        shutil.rmtree(tmp, ignore_errors=True)
    machine_line("end")
    print_table()


if __name__ == "__main__":
    main()
