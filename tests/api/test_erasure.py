"""Erasure of a patient's data by an admin: what goes, what stays (counts, the audit record), and the
legal hold that blocks it."""

import uuid

import pytest
from sqlalchemy import text

from api.extensions import db
from api.models import (
    Alert,
    AlertDelivery,
    AlertEvent,
    AuditLog,
    CheckIn,
    Device,
    DosingSession,
    ErasedAlertCount,
    IdempotencyRecord,
    Invite,
    PatientProfile,
    Prompt,
    Reflection,
    RefreshToken,
    User,
)
from api.models.types import utcnow
from tests.api.data_rights_helpers import build_record, count
from tests.conftest import PASSWORD

REASON = "GDPR art. 17 request #4711"


def url(patient):
    return f"/api/v1/admin/patients/{patient.id}"


def erase(client, world, patient, body=None, user=None):
    return client.delete(
        url(patient),
        json={"reason": REASON} if body is None else body,
        headers=world.headers(user or world.admin),
    )


def owned_by(patient_id):
    """Rows per table that belong to the patient."""
    return {
        "checkins": count(CheckIn, CheckIn.patient_id == patient_id),
        "reflections": count(Reflection, Reflection.patient_id == patient_id),
        "prompts": count(Prompt, Prompt.patient_id == patient_id),
        "dosing_sessions": count(DosingSession, DosingSession.patient_id == patient_id),
        "devices": count(Device, Device.user_id == patient_id),
        "idempotency_records": count(IdempotencyRecord, IdempotencyRecord.user_id == patient_id),
        "refresh_tokens": count(RefreshToken, RefreshToken.user_id == patient_id),
        "invites": count(Invite, Invite.user_id == patient_id),
        "alerts": count(Alert, Alert.patient_id == patient_id),
    }


@pytest.fixture
def full(client, world):
    """patient_a with entries, alerts with events and deliveries, a session (refresh token) and an invite."""
    record = build_record(client, world)
    login = client.post("/api/v1/auth/login", json={"email": "pat.a@example.org", "password": PASSWORD})
    assert login.status_code == 200, login.json
    db.session.add(
        Invite(user_id=world.patient_a.id, code_hash=uuid.uuid4().hex, expires_at=utcnow(), used_at=utcnow())
    )
    db.session.commit()
    return record


def test_erasure_removes_the_patients_data(client, world, full):
    pid = world.patient_a.id
    before = owned_by(pid)
    assert all(before.values()), before
    alert_ids = [a.id for a in db.session.query(Alert).filter_by(patient_id=pid)]
    events = count(AlertEvent, AlertEvent.alert_id.in_(alert_ids))
    deliveries = count(AlertDelivery, AlertDelivery.alert_id.in_(alert_ids))
    assert events and deliveries
    other = owned_by(world.patient_b.id)

    r = erase(client, world, world.patient_a)
    assert r.status_code == 200, r.json
    removed = r.json["removed"]
    assert {k: removed[k] for k in before} == before
    assert (removed["alert_events"], removed["alert_deliveries"]) == (events, deliveries)

    db.session.expire_all()
    assert all(v == 0 for v in owned_by(pid).values())
    assert count(AlertEvent, AlertEvent.alert_id.in_(alert_ids)) == 0
    assert count(AlertDelivery, AlertDelivery.alert_id.in_(alert_ids)) == 0
    assert db.session.get(PatientProfile, pid) is None
    # Other patients are untouched.
    assert owned_by(world.patient_b.id) == other


def test_the_user_is_anonymised_and_cannot_sign_in(client, world, full):
    pid = world.patient_a.id
    access = world.headers(world.patient_a)
    assert erase(client, world, world.patient_a).status_code == 200
    db.session.expire_all()
    user = db.session.get(User, pid)
    assert (user.email, user.display_name, user.password_hash, user.is_active) == (
        f"erased-{pid}@invalid",
        "Erased patient",
        None,
        False,
    )
    login = client.post("/api/v1/auth/login", json={"email": "pat.a@example.org", "password": PASSWORD})
    assert login.status_code == 401
    assert client.get("/api/v1/me", headers=access).status_code == 401
    # The care team no longer sees the patient.
    h = world.headers(world.clinician_a)
    assert client.get(f"/api/v1/care/patients/{pid}", headers=h).status_code == 404
    assert pid not in [p["id"] for p in client.get("/api/v1/care/patients", headers=h).json]
    # Erasing twice: the patient is gone.
    assert erase(client, world, world.patient_a).status_code == 404


def test_alerts_are_kept_only_as_counts(client, world, full):
    alerts = [(a.care_team_id, a.severity, a.rule) for a in db.session.query(Alert).all()]
    assert sorted(alerts) == sorted(
        [(world.team_a.id, "urgent", "phq9_item9"), (world.team_a.id, "low", "missed_checkins")]
    )
    # An earlier erasure of another patient of the team already counted an urgent item-9 alert.
    db.session.add(
        ErasedAlertCount(care_team_id=world.team_a.id, severity="urgent", rule="phq9_item9", count=2)
    )
    db.session.commit()
    assert erase(client, world, world.patient_a).status_code == 200
    db.session.expire_all()
    counts = {(c.care_team_id, c.severity, c.rule): c.count for c in db.session.query(ErasedAlertCount)}
    assert counts == {
        (world.team_a.id, "urgent", "phq9_item9"): 3,
        (world.team_a.id, "low", "missed_checkins"): 1,
    }
    assert count(Alert) == 0


def test_an_audit_record_stays_and_earlier_ones_are_kept(client, world, full):
    pid = world.patient_a.id
    earlier = count(AuditLog, AuditLog.patient_id == pid)
    assert earlier > 0
    r = erase(client, world, world.patient_a)
    assert r.status_code == 200
    row = db.session.query(AuditLog).filter_by(action="erase").one()
    assert (row.actor_id, row.actor_role, row.resource_type, row.resource_id, row.patient_id) == (
        world.admin.id,
        "admin",
        "patient",
        str(pid),
        pid,
    )
    assert REASON in row.detail
    assert f"checkins={r.json['removed']['checkins']}" in row.detail
    assert f"alerts={r.json['removed']['alerts']}" in row.detail
    # No content: no note, reflection text, email or name.
    for secret in ("Alice", "lake", "pat.a@example.org", world.patient_a.display_name):
        assert secret not in row.detail
    assert count(AuditLog, AuditLog.patient_id == pid) == earlier + 1


def test_audit_rows_remain_append_only(client, world, full):
    assert erase(client, world, world.patient_a).status_code == 200
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(text("UPDATE audit_log SET detail = 'x'"))
    db.session.rollback()


def test_legal_hold_blocks_erasure(client, world, full):
    pid = world.patient_a.id
    h = world.headers(world.admin)
    r = client.patch(url(world.patient_a), json={"legal_hold": True}, headers=h)
    assert r.status_code == 200 and r.json == {
        "id": pid,
        "care_team_id": world.team_a.id,
        "legal_hold": True,
        "enrolled_at": r.json["enrolled_at"],
    }
    before = owned_by(pid)
    blocked = erase(client, world, world.patient_a)
    assert blocked.status_code == 409
    assert blocked.json["code"] == "legal_hold" and "legal hold" in blocked.json["message"]
    db.session.expire_all()
    assert owned_by(pid) == before
    assert db.session.get(User, pid).email == "pat.a@example.org"
    assert count(AuditLog, AuditLog.action == "erase") == 0
    hold = db.session.query(AuditLog).filter_by(action="update", resource_type="patient").one()
    assert hold.detail == "legal_hold=True"

    assert client.patch(url(world.patient_a), json={"legal_hold": False}, headers=h).status_code == 200
    assert erase(client, world, world.patient_a).status_code == 200


def test_reason_is_required(client, world):
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 201}):
        r = erase(client, world, world.patient_a, body=body)
        assert r.status_code == 422, body
        assert "reason" in r.json["errors"]["json"]
    r = client.delete(url(world.patient_a), headers=world.headers(world.admin))
    assert r.status_code == 422
    assert db.session.get(User, world.patient_a.id).is_active


def test_only_admins_erase_or_hold(client, world):
    for user in (world.clinician_a, world.patient_a):
        assert erase(client, world, world.patient_a, user=user).status_code == 403
        r = client.patch(url(world.patient_a), json={"legal_hold": True}, headers=world.headers(user))
        assert r.status_code == 403
    assert erase(client, world, world.clinician_a).status_code == 404
    r = client.patch(url(world.clinician_a), json={"legal_hold": True}, headers=world.headers(world.admin))
    assert r.status_code == 404
    r = client.patch(url(world.patient_a), json={}, headers=world.headers(world.admin))
    assert r.status_code == 422
