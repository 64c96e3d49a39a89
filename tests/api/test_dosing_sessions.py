"""Care team: dosing sessions, schedule settings, the prompt ledger and adherence."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.domain.schedule import QuietHours
from api.extensions import db
from api.models import AuditLog, DosingSession, Prompt
from api.models.types import utcnow
from tests.api.schedule_helpers import default_plan, local_dose, make_due, prompts_of, record

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def sessions_url(patient, sid=None):
    base = f"/api/v1/care/patients/{patient.id}/dosing-sessions"
    return base if sid is None else f"{base}/{sid}"


def test_recording_a_session_plans_the_default_template(client, world):
    dose = local_dose(BERLIN, days_ahead=3)
    r = record(client, world, world.patient_a, 1, dose)
    assert r.status_code == 201, r.json
    expected = default_plan(dose, BERLIN)
    assert r.json["planned_prompts"] == len(expected) == 29
    assert r.json["session_number"] == 1 and r.json["cancelled_at"] is None
    assert datetime.fromisoformat(r.json["started_at"]) == dose
    rows = prompts_of(world.patient_a.id)
    assert [(p.rule_key, p.occurrence, p.intended_at, p.expires_at) for p in rows] == [
        (o.rule_key, o.occurrence, o.due_at, o.expires_at) for o in expected
    ]
    assert all(p.dosing_session_id == r.json["id"] and p.state == "scheduled" for p in rows)
    audit = db.session.query(AuditLog).filter_by(resource_type="dosing_session", action="create").one()
    assert (audit.actor_id, audit.patient_id) == (world.clinician_a.id, world.patient_a.id)

    listed = client.get(sessions_url(world.patient_a), headers=world.headers(world.clinician_a))
    assert listed.status_code == 200 and [s["id"] for s in listed.json] == [r.json["id"]]


def test_last_session_gets_the_follow_up(client, world):
    h = world.headers(world.clinician_a)
    patch = client.patch(
        f"/api/v1/care/patients/{world.patient_a.id}/schedule", json={"planned_sessions": 1}, headers=h
    )
    assert patch.status_code == 200 and patch.json["planned_sessions"] == 1
    dose = local_dose(BERLIN)
    r = record(client, world, world.patient_a, 1, dose)
    assert r.json["planned_prompts"] == len(default_plan(dose, BERLIN, is_last=True)) == 35
    assert len(prompts_of(world.patient_a.id, rule_key="followup-daily")) == 4


def test_invalid_sessions_are_rejected(client, world):
    h = world.headers(world.clinician_a)
    dose = local_dose(BERLIN)
    naive = client.post(
        sessions_url(world.patient_a),
        json={"session_number": 1, "started_at": "2026-12-01T09:00:00"},
        headers=h,
    )
    assert naive.status_code == 422 and "started_at" in naive.json["errors"]["json"]
    out_of_range = record(client, world, world.patient_a, 11, dose)
    assert out_of_range.status_code == 422 and "session_number" in out_of_range.json["errors"]["json"]
    beyond_plan = record(client, world, world.patient_a, 4, dose)  # 3 sessions planned by default
    assert beyond_plan.status_code == 422 and "session_number" in beyond_plan.json["errors"]["json"]
    unknown = client.post(
        sessions_url(world.patient_a),
        json={"session_number": 1, "started_at": dose.isoformat(), "x": 1},
        headers=h,
    )
    assert unknown.status_code == 422 and "x" in unknown.json["errors"]["json"]

    assert record(client, world, world.patient_a, 2, dose).status_code == 201
    again = record(client, world, world.patient_a, 2, dose + timedelta(days=1))
    assert again.status_code == 409 and again.json["code"] == "conflict"
    # Session 1 cannot start after session 2.
    disorder = record(client, world, world.patient_a, 1, dose + timedelta(days=2))
    assert disorder.status_code == 422 and "started_at" in disorder.json["errors"]["json"]
    assert db.session.query(DosingSession).count() == 1


def test_correction_replans_unsent_prompts_only(client, world):
    h = world.headers(world.clinician_a)
    dose = local_dose(BERLIN, days_ahead=3)
    sid = record(client, world, world.patient_a, 1, dose).json["id"]
    rows = prompts_of(world.patient_a.id)
    sent, completed = rows[0], rows[1]
    sent.state, sent.sent_at = "sent", utcnow()
    completed.state, completed.answered_at = "completed", utcnow()
    db.session.commit()
    kept = {p.id: (p.state, p.intended_at, p.sent_at, p.answered_at) for p in (sent, completed)}
    before = {p.id: p.intended_at for p in rows}

    r = client.patch(
        sessions_url(world.patient_a, sid),
        json={"started_at": (dose + timedelta(days=1)).isoformat()},
        headers=h,
    )
    assert r.status_code == 200, r.json
    assert r.json["replanned"] == {"created": 0, "updated": len(rows) - 2, "cancelled": 0, "revived": 0}
    after = prompts_of(world.patient_a.id)
    assert len(after) == len(rows)
    assert len({(p.dosing_session_id, p.rule_key, p.occurrence) for p in after}) == len(after)
    for p in after:
        if p.id in kept:
            assert (p.state, p.intended_at, p.sent_at, p.answered_at) == kept[p.id]
        else:
            assert p.state == "scheduled" and p.intended_at == before[p.id] + timedelta(days=1)
    assert db.session.query(AuditLog).filter_by(resource_type="dosing_session", action="update").count() == 1


def test_cancel_cancels_unsent_prompts_only(client, world):
    h = world.headers(world.clinician_a)
    sid = record(client, world, world.patient_a, 1).json["id"]
    rows = prompts_of(world.patient_a.id)
    make_due(rows[0], "delivered")
    r = client.delete(sessions_url(world.patient_a, sid), headers=h)
    assert r.status_code == 200 and r.json["cancelled_at"] and r.json["cancelled_prompts"] == len(rows) - 1
    assert Counter(p.state for p in prompts_of(world.patient_a.id)) == {
        "cancelled": len(rows) - 1,
        "delivered": 1,
    }
    assert all(p.cancelled_at for p in prompts_of(world.patient_a.id, state="cancelled"))
    again = client.delete(sessions_url(world.patient_a, sid), headers=h)
    assert again.status_code == 200 and again.json["cancelled_prompts"] == 0
    # A cancelled session can no longer be corrected, and its number can be recorded again.
    fix = client.patch(
        sessions_url(world.patient_a, sid), json={"started_at": utcnow().isoformat()}, headers=h
    )
    assert fix.status_code == 409
    redo = record(client, world, world.patient_a, 1)
    assert redo.status_code == 201 and redo.json["planned_prompts"] == len(rows)


def test_time_zone_change_moves_unsent_prompts_to_the_new_local_time(client, world):
    dose = local_dose(BERLIN, days_ahead=3)
    record(client, world, world.patient_a, 1, dose)
    first = prompts_of(world.patient_a.id)[0]
    make_due(first, "sent")
    r = client.patch("/api/v1/me", json={"timezone": NEW_YORK}, headers=world.headers(world.patient_a))
    assert r.status_code == 200
    ny = ZoneInfo(NEW_YORK)
    daily = prompts_of(world.patient_a.id, rule_key="daily-am")
    assert daily and all(p.intended_at.astimezone(ny).time() == time(9, 0) for p in daily)
    # Day N is counted from the dose's local date in the new zone.
    expected = default_plan(dose, NEW_YORK)
    planned = {(o.rule_key, o.occurrence): o.due_at for o in expected}
    for p in prompts_of(world.patient_a.id):
        if p.id == first.id:
            assert p.state == "sent"  # history untouched
        else:
            assert p.intended_at == planned[(p.rule_key, p.occurrence)]


def test_schedule_settings_quiet_hours_move_prompts(client, world):
    h = world.headers(world.clinician_a)
    url = f"/api/v1/care/patients/{world.patient_a.id}/schedule"
    shown = client.get(url, headers=h)
    assert shown.status_code == 200
    assert (shown.json["template_id"], shown.json["quiet_start"], shown.json["quiet_end"]) == (
        None,
        "21:30",
        "08:00",
    )
    assert shown.json["template"]["is_default"] is True and shown.json["planned_sessions"] == 3

    dose = local_dose(BERLIN)
    record(client, world, world.patient_a, 1, dose)
    r = client.patch(url, json={"quiet_start": "22:00", "quiet_end": "09:30"}, headers=h)
    assert r.status_code == 200 and r.json["quiet_end"] == "09:30"
    assert r.json["replanned"]["updated"] == 8  # the eight 09:00 daily check-ins
    quiet = QuietHours(time(22, 0), time(9, 30))
    expected = {(o.rule_key, o.occurrence): o.due_at for o in default_plan(dose, BERLIN, quiet=quiet)}
    for p in prompts_of(world.patient_a.id):
        assert p.intended_at == expected[(p.rule_key, p.occurrence)]
    berlin = ZoneInfo(BERLIN)
    assert {
        p.intended_at.astimezone(berlin).time() for p in prompts_of(world.patient_a.id, rule_key="daily-am")
    } == {time(9, 30)}
    bad = client.patch(
        url, json={"quiet_start": "25:00", "planned_sessions": 0, "template_id": 999}, headers=h
    )
    assert bad.status_code == 422 and {"quiet_start", "planned_sessions"} <= set(bad.json["errors"]["json"])
    missing = client.patch(url, json={"template_id": 999}, headers=h)
    assert missing.status_code == 422 and "template_id" in missing.json["errors"]["json"]
    record(client, world, world.patient_a, 3, dose + timedelta(days=60))
    fewer = client.patch(url, json={"planned_sessions": 2}, headers=h)
    assert fewer.status_code == 422 and "planned_sessions" in fewer.json["errors"]["json"]
    assert (
        db.session.query(AuditLog).filter_by(resource_type="patient_schedule", action="update").count() == 1
    )


def test_ledger_filter_and_adherence(client, world):
    h = world.headers(world.clinician_a)
    sid = record(client, world, world.patient_a, 1).json["id"]
    rows = prompts_of(world.patient_a.id)
    make_due(rows[0], "sent")
    r = client.get(f"/api/v1/care/patients/{world.patient_a.id}/prompts", headers=h)
    assert r.status_code == 200 and len(r.json) == len(rows)
    item = next(p for p in r.json if p["id"] == rows[0].id)
    for field in ("intended_at", "expires_at", "sent_at", "delivered_at", "opened_at", "answered_at",
                  "expired_at", "cancelled_at", "undeliverable_at", "reminder_due_at", "rule_key",
                  "occurrence", "attempts", "template_version"):  # fmt: skip
        assert field in item
    sent = client.get(
        f"/api/v1/care/patients/{world.patient_a.id}/prompts", query_string={"state": "sent"}, headers=h
    )
    assert [p["id"] for p in sent.json] == [rows[0].id]
    by_session = client.get(
        f"/api/v1/care/patients/{world.patient_a.id}/prompts",
        query_string={"dosing_session_id": sid + 1},
        headers=h,
    )
    assert by_session.json == []
    bad = client.get(
        f"/api/v1/care/patients/{world.patient_a.id}/prompts", query_string={"state": "lost"}, headers=h
    )
    assert bad.status_code == 422 and "state" in bad.json["errors"]["query"]

    adherence = client.get(f"/api/v1/care/patients/{world.patient_a.id}/adherence", headers=h)
    assert adherence.status_code == 200
    week = adherence.json["windows"][0]
    assert (week["days"], week["due"], week["sent"], week["open"], week["completion_rate"]) == (
        7,
        1,
        1,
        1,
        None,
    )
    reads = db.session.query(AuditLog).filter_by(patient_id=world.patient_a.id, actor_id=world.clinician_a.id)
    assert {(a.action, a.resource_type) for a in reads} >= {("list", "prompt"), ("read", "adherence")}


CARE_ENDPOINTS = [
    ("GET", "schedule", None),
    ("PATCH", "schedule", {"quiet_end": "09:00"}),
    ("GET", "dosing-sessions", None),
    ("POST", "dosing-sessions", {"session_number": 2, "started_at": "2030-01-01T09:00:00+00:00"}),
    ("PATCH", "dosing-sessions/{sid}", {"started_at": "2030-01-01T09:00:00+00:00"}),
    ("DELETE", "dosing-sessions/{sid}", None),
    ("GET", "prompts", None),
    ("GET", "adherence", None),
]


@pytest.mark.parametrize("method,path,body", CARE_ENDPOINTS)
def test_other_teams_clinician_gets_404_everywhere(client, world, method, path, body):
    sid = record(client, world, world.patient_b, 1).json["id"]
    url = f"/api/v1/care/patients/{world.patient_b.id}/{path.format(sid=sid)}"
    before = Counter((p.state, p.intended_at) for p in prompts_of(world.patient_b.id))
    audits = db.session.query(AuditLog).filter_by(actor_id=world.clinician_a.id).count()
    r = client.open(url, method=method, json=body, headers=world.headers(world.clinician_a))
    assert r.status_code == 404, (method, url, r.status_code)
    assert r.json["message"] == "No such patient."
    assert Counter((p.state, p.intended_at) for p in prompts_of(world.patient_b.id)) == before
    assert db.session.query(AuditLog).filter_by(actor_id=world.clinician_a.id).count() == audits
    # Patients and admins are not care team members.
    for user in (world.patient_b, world.admin):
        assert client.open(url, method=method, json=body, headers=world.headers(user)).status_code == 403


def test_session_of_another_patient_is_404(client, world):
    sid_b = record(client, world, world.patient_b, 1).json["id"]
    r = client.delete(sessions_url(world.patient_a, sid_b), headers=world.headers(world.clinician_a))
    assert r.status_code == 404
    assert db.session.get(DosingSession, sid_b).cancelled_at is None


def test_prompt_rows_carry_utc_times(client, world):
    record(client, world, world.patient_b, 1, local_dose(NEW_YORK))
    p = db.session.query(Prompt).first()
    assert p.intended_at.tzinfo is not None and p.intended_at.utcoffset() == timedelta(0)
    assert p.intended_at > datetime.now(UTC)
