"""Retention: only rows past their period go (idempotency records, finished push records, old
deactivated devices, prompt push-attempt fields, audit rows), in batches, logged and audited."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.extensions import db
from api.models import Alert, AlertDelivery, AuditLog, Device, IdempotencyRecord, Prompt
from api.models.types import utcnow
from tests.api.data_rights_helpers import add_prompt, count
from tests.worker.conftest import add_session
from worker.retention import run_retention

DAY = timedelta(days=1)


@pytest.fixture
def now():
    return utcnow()


def idempotency(user, age, key):
    db.session.add(
        IdempotencyRecord(
            user_id=user.id, key=key, fingerprint="f" * 64, status_code=201, response_body={}, created_at=age
        )
    )


def alert(world, state, rule, created):
    row = Alert(
        patient_id=world.patient_a.id,
        care_team_id=world.team_a.id,
        rule=rule,
        severity="high",
        summary="PHQ-9 total 21",
        evidence={},
        state=state,
        created_at=created,
        last_triggered_at=created,
        ack_deadline_at=created + timedelta(hours=2),
    )
    db.session.add(row)
    db.session.flush()
    return row


def delivery(alert_row, state, created, channel="push"):
    row = AlertDelivery(
        alert_id=alert_row.id,
        channel=channel,
        recipient_id=1,
        state=state,
        attempts=1,
        next_attempt_at=created,
        created_at=created,
        sent_at=created if state == "sent" else None,
        last_error="UNAVAILABLE" if state == "failed" else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def device(world, token, active, deactivated_at=None, created=None):
    row = Device(
        user_id=world.patient_a.id,
        token=token,
        platform="ios",
        active=active,
        deactivated_at=deactivated_at,
        deactivation_reason=None if active else "UNREGISTERED",
        created_at=created or utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def audit_row(at, action="read"):
    row = AuditLog(at=at, action=action, resource_type="checkin", patient_id=1)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def rows(world, now):
    """For each kind, rows just past their period (to go) and just within it (to stay)."""
    idempotency(world.patient_a, now - 8 * DAY, "old")
    idempotency(world.patient_a, now - 6 * DAY, "recent")

    resolved = alert(world, "resolved", "phq9_total", now - 120 * DAY)
    unresolved = alert(world, "acknowledged", "phq9_item9", now - 120 * DAY)
    deliveries = {
        "old_sent": delivery(resolved, "sent", now - 91 * DAY),
        "old_failed": delivery(resolved, "failed", now - 91 * DAY, channel="webhook"),
        "recent_sent": delivery(resolved, "sent", now - 89 * DAY),
        "old_pending": delivery(resolved, "pending", now - 91 * DAY),
        "old_sent_unresolved": delivery(unresolved, "sent", now - 91 * DAY),
    }
    devices = {
        "old_inactive": device(world, "tok-old-inactive", False, now - 91 * DAY),
        "recent_inactive": device(world, "tok-recent-inactive", False, now - 10 * DAY),
        "old_active": device(world, "tok-old-active", True, created=now - 400 * DAY),
    }
    session = add_session(world.patient_a, now - 130 * DAY)
    fields = {"last_error": "UNAVAILABLE", "next_attempt_at": now - 100 * DAY, "locked_by": "worker-1"}
    prompts = {
        "old_expired": add_prompt(world.patient_a, session, "expired", 100 * 24 + 12, **fields),
        "recent_expired": add_prompt(world.patient_a, session, "expired", 10 * 24, **fields),
        "old_pending": add_prompt(world.patient_a, session, "scheduled", 100 * 24, **fields),
    }
    audits = {
        "old": audit_row(now - 2191 * DAY),
        "recent": audit_row(now - 2189 * DAY),
    }
    db.session.commit()
    groups = {"deliveries": deliveries, "devices": devices, "prompts": prompts, "audits": audits}
    return {group: {name: row.id for name, row in members.items()} for group, members in groups.items()}


def ids(model):
    db.session.expire_all()
    return set(db.session.scalars(select(model.id)))


def test_only_rows_past_their_period_go(app, world, rows, now):
    before = {k: db.session.get(Prompt, i) for k, i in rows["prompts"].items()}
    before = {k: (p.updated_at, p.sent_at) for k, p in before.items()}
    counts = run_retention(now, batch_size=2)
    assert counts == {
        "idempotency_records": 1,
        "alert_deliveries": 2,
        "devices": 1,
        "prompt_push_fields": 1,
        "audit_log": 1,
    }
    assert [r.key for r in db.session.scalars(select(IdempotencyRecord))] == ["recent"]
    d = rows["deliveries"]
    assert ids(AlertDelivery) == {d["recent_sent"], d["old_pending"], d["old_sent_unresolved"]}
    v = rows["devices"]
    assert {v["recent_inactive"], v["old_active"]} <= ids(Device) and v["old_inactive"] not in ids(Device)
    assert count(Device, Device.user_id == world.patient_a.id) == 3  # the fixture's device and the two kept

    p = {k: db.session.get(Prompt, i) for k, i in rows["prompts"].items()}
    old = p["old_expired"]
    assert (old.last_error, old.next_attempt_at, old.locked_by, old.locked_until) == (None, None, None, None)
    # The prompt's history stays, and scrubbing does not count as an update.
    assert (old.state, old.attempts) == ("expired", 1)
    assert (old.updated_at, old.sent_at) == before["old_expired"]
    for kept in ("recent_expired", "old_pending"):
        assert (p[kept].last_error, p[kept].locked_by) == ("UNAVAILABLE", "worker-1")

    assert rows["audits"]["old"] not in ids(AuditLog) and rows["audits"]["recent"] in ids(AuditLog)
    # Alerts themselves are not push records.
    assert count(Alert) == 2


def test_a_second_run_finds_nothing_and_writes_no_audit_row(app, rows, now):
    run_retention(now)
    audits = count(AuditLog)
    assert set(run_retention(now).values()) == {0}
    assert count(AuditLog) == audits


def test_runs_are_logged_and_audited(app, rows, now, caplog):
    with caplog.at_level(logging.INFO, logger="worker.retention"):
        counts = run_retention(now)
    (record,) = [r for r in caplog.records if r.name == "worker.retention"]
    assert record.getMessage() == "retention"
    assert (record.removed_audit_log, record.removed_idempotency_records) == (1, 1)
    row = db.session.query(AuditLog).filter_by(action="retention").one()
    assert row.actor_role == "system" and row.patient_id is None
    assert row.detail == ",".join(f"{k}={v}" for k, v in counts.items())


def test_periods_come_from_the_config(app, rows, now):
    app.config["IDEMPOTENCY_RETENTION_DAYS"] = 1
    app.config["AUDIT_RETENTION_DAYS"] = 3000
    app.config["PUSH_RECORD_RETENTION_DAYS"] = 5
    counts = run_retention(now)
    assert counts["idempotency_records"] == 2
    assert counts["audit_log"] == 0
    assert counts["alert_deliveries"] == 3  # the 89-day-old one now too
    assert counts["devices"] == 2
    assert counts["prompt_push_fields"] == 2


def test_defaults(app):
    assert (
        app.config["IDEMPOTENCY_RETENTION_DAYS"],
        app.config["PUSH_RECORD_RETENTION_DAYS"],
        app.config["AUDIT_RETENTION_DAYS"],
    ) == (7, 90, 2190)


def test_a_zero_period_is_refused(app, rows, now):
    app.config["AUDIT_RETENTION_DAYS"] = 0
    with pytest.raises(ValueError, match="AUDIT_RETENTION_DAYS"):
        run_retention(now)
    assert count(AuditLog) == 2
