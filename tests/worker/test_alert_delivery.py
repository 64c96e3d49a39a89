"""Alert outbox delivery through the real firebase-admin path (fake FCM server) and signed webhooks."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from api.extensions import db
from api.models import Alert, AlertDelivery, Device
from api.models.types import utcnow
from tests.api.entries_helpers import checkin, post
from tests.fakes.fcm_server import FakeFcmServer
from tests.fakes.webhook_receiver import webhook_receiver
from worker.alerts import MAX_DELIVERY_ATTEMPTS, deliver_alerts
from worker.notifier.fcm import FcmNotifier, StaticTokenCredential
from worker.webhooks import verify

SECRET = "webhook-secret-0123456789"


@pytest.fixture(scope="module")
def fcm():
    with FakeFcmServer() as server:
        notifier = FcmNotifier("demo-project", StaticTokenCredential("static-token"), endpoint=server.url)
        yield server, notifier
        notifier.close()


@pytest.fixture
def receiver():
    with webhook_receiver() as r:
        yield r


def urgent_checkin(client, world):
    body = checkin(answers={f"q{i}": 1 for i in range(1, 9)} | {"q9": 2})
    assert post(client, world.headers(world.patient_a), "/api/v1/me/checkins", body).status_code == 201


def clinician_device(world, token="clinician-phone-token-1"):
    db.session.add(Device(user_id=world.clinician_a.id, token=token, platform="ios"))
    db.session.commit()


def test_push_and_webhook_carry_no_health_information(client, world, fcm, receiver):
    server, notifier = fcm
    server.reset()
    clinician_device(world)
    world.team_a.webhook_url, world.team_a.webhook_secret = receiver.url, SECRET
    db.session.commit()
    urgent_checkin(client, world)
    assert deliver_alerts(notifier, "w1") == 2
    alert = db.session.scalar(select(Alert))
    (push,) = server.requests
    message = push.body["message"]
    assert message["token"] == "clinician-phone-token-1"
    assert message["notification"] == {
        "title": "Integration Companion",
        "body": "A patient alert needs review",
    }
    assert message["data"] == {"alert_id": str(alert.id), "kind": "alert"}
    everything = str(push.body) + receiver.deliveries[0].raw.decode()
    for leaked in ("pat.a", "phq9", "q9", "Team A"):
        assert leaked not in everything
    hook = receiver.deliveries[0]
    assert verify(
        SECRET, hook.headers["x-companion-timestamp"], hook.raw, hook.headers["x-companion-signature"]
    )
    assert not verify(
        "wrong-secret-000000",
        hook.headers["x-companion-timestamp"],
        hook.raw,
        hook.headers["x-companion-signature"],
    )
    assert hook.json == {
        "alert_id": alert.id,
        "care_team_id": world.team_a.id,
        "severity": "urgent",
        "created_at": alert.created_at.isoformat(),
        "escalation": False,
        "escalation_level": 0,
    }
    assert {d.state for d in db.session.scalars(select(AlertDelivery))} == {"sent"}
    assert deliver_alerts(notifier, "w1") == 0  # nothing sent twice


def test_failed_webhook_is_retried_with_backoff_then_recorded(client, world, fcm, receiver):
    _, notifier = fcm
    receiver.status = 503
    world.team_a.webhook_url, world.team_a.webhook_secret = receiver.url, SECRET
    db.session.commit()
    urgent_checkin(client, world)
    deliver_alerts(notifier, "w1")
    hook = db.session.scalar(select(AlertDelivery).where(AlertDelivery.channel == "webhook"))
    assert hook.state == "pending" and hook.attempts == 1 and hook.last_error == "HTTP 503"
    assert hook.next_attempt_at > utcnow() - timedelta(seconds=1)
    for day in range(1, MAX_DELIVERY_ATTEMPTS):
        deliver_alerts(notifier, "w1", now=utcnow() + timedelta(days=day))
    db.session.refresh(hook)
    assert hook.state == "failed" and hook.attempts == MAX_DELIVERY_ATTEMPTS
    alert = db.session.scalar(select(Alert))
    assert "delivery_failed" in [e.kind for e in alert.events]


def test_clinician_without_a_device_is_a_recorded_failure(client, world, fcm):
    _, notifier = fcm
    urgent_checkin(client, world)
    deliver_alerts(notifier, "w1")
    (delivery,) = db.session.scalars(select(AlertDelivery)).all()
    assert delivery.state == "failed" and delivery.last_error == "no_active_device"


def test_dead_clinician_token_is_deactivated(client, world, fcm):
    server, notifier = fcm
    server.reset()
    server.program("dead-clinician-token", [(404, "UNREGISTERED")])
    clinician_device(world, "dead-clinician-token")
    urgent_checkin(client, world)
    deliver_alerts(notifier, "w1")
    device = db.session.scalar(select(Device).where(Device.token == "dead-clinician-token"))
    assert device.active is False and device.deactivation_reason == "UNREGISTERED"


def test_an_alert_delivered_nowhere_is_reported_by_readyz(client, world, fcm):
    _, notifier = fcm
    assert client.get("/readyz").json["checks"]["alerts_undelivered"] == 0
    urgent_checkin(client, world)  # the only clinician has no device, and there is no webhook
    assert client.get("/readyz").json["checks"]["alerts_undelivered"] == 0  # still pending
    deliver_alerts(notifier, "w1")
    r = client.get("/readyz")
    assert r.json["checks"]["alerts_undelivered"] == 1 and r.status_code == 200
    assert "alerts_undelivered 1.0" in client.get("/metrics").get_data(as_text=True)
