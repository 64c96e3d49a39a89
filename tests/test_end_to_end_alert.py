"""End to end on PostgreSQL: a PHQ-9 with item 9 = 2 reaches the care team's phone (real firebase-admin
path to a fake FCM server) and webhook within 2 seconds of the API's response, via a real `python -m worker`
process; nobody acknowledges, so after the (shortened) deadline it escalates to the backup clinician."""

import time

import pytest
from sqlalchemy import select

from api.extensions import db
from api.models import Alert, CareTeamMember, Device, WorkerHeartbeat
from tests.api.entries_helpers import checkin, post
from tests.conftest import ON_POSTGRES, add_user
from tests.fakes.fcm_server import FakeFcmServer
from tests.fakes.webhook_receiver import webhook_receiver
from tests.worker.processes import Workers, wait_until
from worker.webhooks import verify

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL: API and worker are separate processes"
)

SECRET = "e2e-webhook-secret-0123456789"


def test_urgent_alert_reaches_the_team_within_two_seconds_then_escalates(
    app, client, world, database_url, tmp_path
):
    backup = add_user("backup@example.org", "clinician")
    db.session.add(CareTeamMember(team_id=world.team_a.id, user_id=backup.id))
    db.session.add_all(
        [
            Device(user_id=world.clinician_a.id, token="on-duty-phone", platform="ios"),
            Device(user_id=backup.id, token="backup-phone", platform="android"),
        ]
    )
    db.session.commit()
    app.config["ALERT_ACK_SECONDS"] = {**app.config["ALERT_ACK_SECONDS"], "urgent": 4}
    with FakeFcmServer() as fcm, webhook_receiver() as hooks:
        r = client.patch(
            f"/api/v1/admin/care-teams/{world.team_a.id}",
            headers=world.headers(world.admin),
            json={
                "on_duty_ids": [world.clinician_a.id],
                "backup_clinician_id": backup.id,
                "webhook_url": hooks.url,
                "webhook_secret": SECRET,
            },
        )
        assert r.status_code == 200
        workers = Workers(database_url, fcm.url, tmp_path)
        try:
            workers.start(
                "e2e-worker",
                WORKER_ALERT_INTERVAL_SECONDS="0.2",
                WORKER_ESCALATION_INTERVAL_SECONDS="0.5",
                ALERT_ACK_SECONDS_URGENT="4",
            )

            def worker_ready():
                db.session.rollback()
                return (
                    db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.job == "alerts"))
                    is not None
                )

            assert wait_until(worker_ready, 60, interval=0.02), "worker did not start"
            body = checkin(answers={f"q{i}": 1 for i in range(1, 9)} | {"q9": 2})
            response = post(client, world.headers(world.patient_a), "/api/v1/me/checkins", body)
            responded = time.monotonic()
            assert response.status_code == 201 and response.json["support"] is not None

            def pushed(token):
                return [q for q in fcm.requests if q.token == token]

            assert wait_until(lambda: pushed("on-duty-phone") and hooks.deliveries, 2.0, interval=0.02)
            assert time.monotonic() - responded < 2.0
            message = pushed("on-duty-phone")[0].body["message"]
            alert_id = db.session.scalar(select(Alert.id))
            assert message["notification"]["body"] == "A patient alert needs review"
            assert message["data"] == {"alert_id": str(alert_id), "kind": "alert"}
            assert "phq9" not in str(message) and "pat.a" not in str(message)
            hook = hooks.deliveries[0]
            assert verify(
                SECRET, hook.headers["x-companion-timestamp"], hook.raw, hook.headers["x-companion-signature"]
            )
            assert hook.json["alert_id"] == alert_id and hook.json["escalation"] is False
            assert pushed("backup-phone") == []

            # Nobody acknowledges: after the 4 s deadline the backup clinician is paged.
            assert wait_until(lambda: pushed("backup-phone"), 15.0, interval=0.02)
            db.session.rollback()
            alert = db.session.get(Alert, alert_id)
            assert alert.escalation_level == 1 and [e.kind for e in alert.events][:2] == [
                "created",
                "escalated",
            ]
        finally:
            workers.stop_all()
