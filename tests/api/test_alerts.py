"""Flags raised from submissions, the patient's crisis response, dedupe, the alert lifecycle,
routing to the clinicians on duty, escalation, and access control."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import Alert, AlertDelivery, AuditLog, CareTeamMember, CheckIn
from api.models.types import utcnow
from api.services.alerts import escalate_overdue
from tests.api.entries_helpers import DAILY_ANSWERS, checkin, post, reflection
from tests.conftest import add_user

URL = "/api/v1/me/checkins"


def phq9(item9=0, rest=1):
    return checkin(answers={f"q{i}": rest for i in range(1, 9)} | {"q9": item9})


def alerts():
    return db.session.scalars(select(Alert).order_by(Alert.id)).all()


def test_item9_of_2_raises_an_urgent_alert_and_returns_crisis_resources(client, world):
    r = post(client, world.headers(world.patient_a), URL, phq9(item9=2))
    assert r.status_code == 201
    (alert,) = alerts()
    assert (alert.rule, alert.severity, alert.state, alert.patient_id, alert.care_team_id) == (
        "phq9_item9",
        "urgent",
        "open",
        world.patient_a.id,
        world.team_a.id,
    )
    assert alert.source_type == "checkin" and alert.source_id == r.json["id"]
    support = r.json["support"]
    assert (
        "care team has been notified" in support["message"]
        and "not monitored around the clock" in support["message"]
    )
    contacts = {(x["action"], x["contact"]) for x in support["resources"]}
    assert {("call", "988"), ("text", "988"), ("call", "911"), ("call", "+1 555 0101")} <= contacts
    # The patient never sees rule names, thresholds or severities.
    text = r.get_data(as_text=True)
    assert "phq9_item9" not in text and "urgent" not in text


def test_item9_of_1_is_high_with_support_and_0_raises_nothing(client, world):
    h = world.headers(world.patient_a)
    none = post(client, h, URL, phq9(item9=0))
    assert none.json["support"] is None and alerts() == []
    high = post(client, h, URL, phq9(item9=1))
    assert high.json["support"] is not None and [a.severity for a in alerts()] == ["high"]


def test_medium_flag_raises_an_alert_without_crisis_screen(client, world):
    r = post(
        client,
        world.headers(world.patient_a),
        URL,
        checkin("gad7", {f"q{i}": 3 for i in range(1, 6)} | {"q6": 0, "q7": 0}),
    )
    assert r.json["total"] == 15 and r.json["support"] is None
    assert [(a.rule, a.severity) for a in alerts()] == [("gad7_total", "medium")]


def test_crisis_language_in_a_reflection_raises_high_with_matches(client, world):
    r = post(
        client,
        world.headers(world.patient_a),
        "/api/v1/me/reflections",
        reflection("Honestly I don't want to be here anymore."),
    )
    assert r.json["support"] is not None
    (alert,) = alerts()
    assert alert.rule == "crisis_language" and alert.severity == "high"
    assert alert.evidence["matches"][0]["context"].startswith("Honestly")


def test_negated_crisis_language_in_a_note_still_flags_for_review(client, world):
    post(
        client,
        world.headers(world.patient_a),
        URL,
        checkin("daily", DAILY_ANSWERS | {"note": "I am not going to hurt myself, just tired"}),
    )
    (alert,) = alerts()
    assert alert.rule == "crisis_language" and alert.evidence["matches"][0]["negated"] is True


def test_second_trigger_attaches_to_the_open_alert(client, world):
    h = world.headers(world.patient_a)
    post(client, h, URL, phq9(item9=1))
    post(client, h, URL, phq9(item9=2))
    (alert,) = alerts()
    assert alert.trigger_count == 2 and alert.severity == "urgent"  # upgraded, not duplicated
    assert [e.kind for e in alert.events] == ["created", "retriggered"]
    assert alert.evidence["q9"] == 2


def test_a_resolved_alert_does_not_absorb_a_new_trigger(client, world):
    h = world.headers(world.patient_a)
    post(client, h, URL, phq9(item9=1))
    alert_id = alerts()[0].id
    client.post(
        f"/api/v1/care/alerts/{alert_id}/resolve",
        json={"note": "called", "outcome": "contacted"},
        headers=world.headers(world.clinician_a),
    )
    post(client, h, URL, phq9(item9=1))
    assert [a.state for a in alerts()] == ["resolved", "open"]


def test_entry_and_alert_commit_together(client, world, app, monkeypatch):
    import api.services.alerts as alerts_service

    def broken(*args, **kwargs):
        raise RuntimeError("alert storage failed")

    monkeypatch.setattr(alerts_service, "raise_alert", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = post(client, world.headers(world.patient_a), URL, phq9(item9=2))
    assert r.status_code == 500
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0


def test_thresholds_are_configurable_per_team_and_audited(client, world):
    h = world.headers(world.admin)
    bad = client.put(
        f"/api/v1/admin/flag-rules/{world.team_a.id}",
        json={"thresholds": {"gad7_total_medium": "x", "nope": 1}},
        headers=h,
    )
    assert bad.status_code == 422 and set(bad.json["errors"]["json"]["thresholds"]) == {
        "gad7_total_medium",
        "nope",
    }
    ok = client.put(
        f"/api/v1/admin/flag-rules/{world.team_a.id}",
        json={"thresholds": {"gad7_total_medium": 10}},
        headers=h,
    )
    assert ok.status_code == 200 and ok.json["effective"]["gad7_total_medium"] == 10
    assert db.session.query(AuditLog).filter_by(resource_type="flag_rules", action="update").count() == 1
    gad7_12 = {f"q{i}": 2 for i in range(1, 7)} | {"q7": 0}
    post(client, world.headers(world.patient_a), URL, checkin("gad7", gad7_12))
    post(client, world.headers(world.patient_b), URL, checkin("gad7", gad7_12))
    assert [(a.patient_id, a.rule) for a in alerts()] == [(world.patient_a.id, "gad7_total")]


def test_alert_queue_lifecycle_and_ordering(client, world):
    h = world.headers(world.patient_a)
    post(client, h, URL, checkin("gad7", {f"q{i}": 3 for i in range(1, 8)}))  # medium
    post(client, h, URL, phq9(item9=2))  # urgent, newer
    ch = world.headers(world.clinician_a)
    queue = client.get("/api/v1/care/alerts", headers=ch).json
    assert [a["severity"] for a in queue] == ["urgent", "medium"]
    urgent = queue[0]["id"]
    no_note = client.post(f"/api/v1/care/alerts/{urgent}/resolve", json={"outcome": "contacted"}, headers=ch)
    assert no_note.status_code == 422 and "note" in no_note.json["errors"]["json"]
    ack = client.post(f"/api/v1/care/alerts/{urgent}/acknowledge", headers=ch)
    assert ack.json["state"] == "acknowledged" and ack.json["acknowledged_by_id"] == world.clinician_a.id
    done = client.post(
        f"/api/v1/care/alerts/{urgent}/resolve",
        headers=ch,
        json={"note": "Phoned, safe, plan reviewed", "outcome": "contacted"},
    )
    assert done.json["state"] == "resolved" and done.json["outcome"] == "contacted"
    again = client.post(f"/api/v1/care/alerts/{urgent}/acknowledge", headers=ch)
    assert again.status_code == 409
    detail = client.get(f"/api/v1/care/alerts/{urgent}", headers=ch).json
    assert [e["kind"] for e in detail["events"]] == ["created", "acknowledged", "resolved"]
    assert [a["id"] for a in client.get("/api/v1/care/alerts", headers=ch).json] == [queue[1]["id"]]
    actions = [
        a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.resource_type == "alert"))
    ]
    assert {"create", "list", "acknowledge", "resolve", "read"} <= set(actions)


def test_clinicians_see_only_their_teams_alerts(client, world):
    post(client, world.headers(world.patient_a), URL, phq9(item9=2))
    alert_id = alerts()[0].id
    other = world.headers(world.clinician_b)
    assert client.get("/api/v1/care/alerts", headers=other).json == []
    for method, path in (("GET", ""), ("POST", "/acknowledge")):
        assert (
            client.open(f"/api/v1/care/alerts/{alert_id}{path}", method=method, headers=other).status_code
            == 404
        )
    assert client.get("/api/v1/care/alerts", headers=world.headers(world.patient_a)).status_code == 403


def test_alert_goes_to_clinicians_on_duty_or_the_whole_team(client, world):
    second = add_user("clin.a2@example.org", "clinician")
    db.session.add(CareTeamMember(team_id=world.team_a.id, user_id=second.id))
    db.session.commit()
    post(client, world.headers(world.patient_a), URL, phq9(item9=1))
    assert sorted(d.recipient_id for d in alerts()[0].deliveries) == sorted([world.clinician_a.id, second.id])
    r = client.patch(
        f"/api/v1/admin/care-teams/{world.team_a.id}",
        headers=world.headers(world.admin),
        json={
            "on_duty_ids": [second.id],
            "backup_clinician_id": world.clinician_a.id,
            "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_secret": "s" * 32,
        },
    )
    assert r.status_code == 200 and r.json["on_duty_ids"] == [second.id]
    assert "webhook_secret" not in r.json
    post(client, world.headers(world.patient_a), URL, checkin("gad7", {f"q{i}": 3 for i in range(1, 8)}))
    new = alerts()[1]
    assert sorted((d.channel, d.recipient_id) for d in new.deliveries) == [
        ("push", second.id),
        ("webhook", None),
    ]


def test_on_duty_must_be_team_members(client, world):
    r = client.patch(
        f"/api/v1/admin/care-teams/{world.team_a.id}",
        headers=world.headers(world.admin),
        json={"on_duty_ids": [world.clinician_b.id]},
    )
    assert r.status_code == 422 and "on_duty_ids" in r.json["errors"]["json"]


def test_unacknowledged_alert_escalates_to_backup_then_team(client, world, app):
    backup = add_user("backup@example.org", "clinician")
    db.session.add(CareTeamMember(team_id=world.team_a.id, user_id=backup.id))
    world.team_a.backup_clinician_id = backup.id
    world.team_a.webhook_url, world.team_a.webhook_secret = "http://127.0.0.1:9/hook", "s" * 32
    db.session.commit()
    post(client, world.headers(world.patient_a), URL, phq9(item9=2))
    alert = alerts()[0]
    deadline = alert.ack_deadline_at
    assert timedelta(minutes=14) < deadline - utcnow() <= timedelta(minutes=15)
    assert escalate_overdue(utcnow()) == 0  # not yet due
    assert escalate_overdue(deadline + timedelta(seconds=1)) == 1
    db.session.refresh(alert)
    step1 = [(d.channel, d.recipient_id) for d in alert.deliveries if d.escalation_level == 1]
    assert alert.escalation_level == 1 and step1 == [("push", backup.id)]
    assert escalate_overdue(alert.ack_deadline_at + timedelta(seconds=1)) == 1
    db.session.refresh(alert)
    step2 = sorted((d.channel, d.recipient_id or 0) for d in alert.deliveries if d.escalation_level == 2)
    assert step2 == sorted([("push", world.clinician_a.id), ("push", backup.id), ("webhook", 0)])
    assert [e.kind for e in alert.events] == ["created", "escalated", "escalated"]


def test_acknowledged_alert_does_not_escalate(client, world):
    post(client, world.headers(world.patient_a), URL, phq9(item9=2))
    alert = alerts()[0]
    client.post(f"/api/v1/care/alerts/{alert.id}/acknowledge", headers=world.headers(world.clinician_a))
    assert escalate_overdue(utcnow() + timedelta(hours=1)) == 0


@pytest.mark.parametrize("severity,minutes", [("urgent", 15), ("high", 120), ("medium", 1440), ("low", 4320)])
def test_default_deadlines(app, severity, minutes):
    from api.services.alerts import ack_deadline

    assert ack_deadline(severity) == timedelta(minutes=minutes)


def test_outbox_rows_are_written_with_the_alert(client, world):
    post(client, world.headers(world.patient_a), URL, phq9(item9=2))
    rows = db.session.scalars(select(AlertDelivery)).all()
    assert [(d.channel, d.recipient_id, d.state) for d in rows] == [("push", world.clinician_a.id, "pending")]
