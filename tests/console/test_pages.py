"""Console pages through the test client: team isolation, auditing, dosing sessions, admin forms."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api.extensions import db
from api.models import Alert, AuditLog, CareTeam, CareTeamMember, DosingSession, FlagRuleSetting, Prompt, User
from api.models.types import utcnow
from tests.api.entries_helpers import DAILY_ANSWERS, PHQ9_ANSWERS, checkin, post, reflection
from tests.api.schedule_helpers import local_dose
from tests.console.conftest import csrf_token, post_form, sign_in


def _urgent_alert(client, world) -> Alert:
    r = post(
        client,
        world.headers(world.patient_a),
        "/api/v1/me/checkins",
        checkin("phq9", {**PHQ9_ANSWERS, "q9": 2}),
    )
    assert r.status_code == 201
    return db.session.scalars(select(Alert).where(Alert.severity == "urgent")).one()


def _audit_rows(patient_id: int, actor_id: int) -> list[AuditLog]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditLog).where(AuditLog.patient_id == patient_id, AuditLog.actor_id == actor_id)
        )
    )


# --- team isolation --------------------------------------------------------------------------


def test_clinician_of_another_team_gets_404_for_the_patient_and_its_data(client, world):
    alert = _urgent_alert(client, world)
    sign_in(client, world.clinician_b)
    pid = world.patient_a.id
    for path in (
        f"/console/patients/{pid}",
        f"/console/patients/{pid}/trends.json",
        f"/console/alerts/{alert.id}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/console/patients/99999").status_code == 404
    r = post_form(
        client,
        f"/console/patients/{pid}/dosing-sessions",
        {"session_number": "1", "started_at": "2030-01-01T09:00"},
        page="/console/alerts",
    )
    assert r.status_code == 404
    r = post_form(client, f"/console/alerts/{alert.id}/acknowledge", page="/console/alerts")
    assert r.status_code == 404
    assert _audit_rows(pid, world.clinician_b.id) == []
    queue = client.get("/console/alerts.json").json
    assert queue["alerts"] == []


# --- auditing --------------------------------------------------------------------------------


def test_patient_page_views_are_audited(client, world):
    pid = world.patient_a.id
    sign_in(client, world.clinician_a)
    r = client.get(f"/console/patients/{pid}")
    assert r.status_code == 200
    kinds = {(row.action, row.resource_type) for row in _audit_rows(pid, world.clinician_a.id)}
    assert {
        ("read", "patient"),
        ("list", "dosing_session"),
        ("read", "adherence"),
        ("read", "patient_schedule"),
        ("list", "prompt"),
        ("list", "alert"),
        ("list", "reflection"),
    } <= kinds
    client.get(f"/console/patients/{pid}/trends.json")
    trend_row = [row for row in _audit_rows(pid, world.clinician_a.id) if row.resource_type == "trends"]
    assert len(trend_row) == 1 and trend_row[0].actor_role == "clinician" and trend_row[0].ip == "127.0.0.1"
    client.get("/console/patients")
    assert (
        db.session.query(AuditLog)
        .filter_by(action="list", resource_type="patient", actor_id=world.clinician_a.id)
        .count()
        == 1
    )


def test_alert_views_are_audited_and_identical_polls_are_not_recorded_twice(client, world):
    alert = _urgent_alert(client, world)
    pid = world.patient_a.id
    sign_in(client, world.clinician_a)
    token = csrf_token(client, "/console/alerts")  # the first view of the queue

    def listed() -> list[AuditLog]:
        rows = _audit_rows(pid, world.clinician_a.id)
        return [r for r in rows if (r.action, r.resource_type) == ("list", "alert")]

    assert len(listed()) == 1
    client.get("/console/alerts.json")
    client.get("/console/alerts.json")
    assert len(listed()) == 1  # the same queue as already shown: not a new view
    client.post(f"/console/alerts/{alert.id}/acknowledge", data={"csrf_token": token})
    client.get("/console/alerts.json")
    assert len(listed()) == 2  # the queue changed: a new view
    client.get(f"/console/alerts/{alert.id}")
    assert any(
        (r.action, r.resource_type, r.resource_id) == ("read", "alert", str(alert.id))
        for r in _audit_rows(pid, world.clinician_a.id)
    )


# --- alert queue -----------------------------------------------------------------------------


def test_queue_json_lists_the_teams_open_alerts_most_severe_then_oldest(client, world):
    urgent = _urgent_alert(client, world)
    older_medium = Alert(
        patient_id=world.patient_a.id,
        care_team_id=world.team_a.id,
        rule="gad7_total",
        severity="medium",
        summary="GAD-7 total 16",
        evidence={},
        created_at=utcnow() - timedelta(hours=3),
        last_triggered_at=utcnow(),
        ack_deadline_at=utcnow() + timedelta(hours=20),
    )
    newer_medium = Alert(
        patient_id=world.patient_a.id,
        care_team_id=world.team_a.id,
        rule="who5_low",
        severity="medium",
        summary="WHO-5 low",
        evidence={},
        created_at=utcnow() - timedelta(hours=1),
        last_triggered_at=utcnow(),
        ack_deadline_at=utcnow() + timedelta(hours=23),
    )
    other_team = Alert(
        patient_id=world.patient_b.id,
        care_team_id=world.team_b.id,
        rule="gad7_total",
        severity="urgent",
        summary="x",
        evidence={},
        last_triggered_at=utcnow(),
        ack_deadline_at=utcnow() + timedelta(minutes=5),
    )
    db.session.add_all([older_medium, newer_medium, other_team])
    db.session.commit()
    sign_in(client, world.clinician_a)
    body = client.get("/console/alerts.json").json
    assert [a["id"] for a in body["alerts"]] == [urgent.id, older_medium.id, newer_medium.id]
    assert body["alerts"][0]["severity"] == "urgent" and body["alerts"][0]["ack_deadline_at"]
    assert f'data-alert-id="{urgent.id}"' in body["html"] and "min left" in body["html"]
    page = client.get("/console/alerts").get_data(as_text=True)
    assert page.index(f'data-alert-id="{urgent.id}"') < page.index(f'data-alert-id="{older_medium.id}"')


def test_resolve_needs_a_note_and_an_outcome(client, world):
    alert = _urgent_alert(client, world)
    sign_in(client, world.clinician_a)
    r = post_form(
        client, f"/console/alerts/{alert.id}/resolve", {"note": "  ", "outcome": ""}, page="/console/alerts"
    )
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/alerts/{alert.id}#resolve")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Resolving needs a note" in page and "Choose the outcome" in page
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == "open"
    r = post_form(
        client,
        f"/console/alerts/{alert.id}/resolve",
        {"note": "Called; safe.", "outcome": "contacted", "return_to": "queue"},
        page="/console/alerts",
    )
    assert r.headers["Location"] == "/console/alerts"
    db.session.expire_all()
    resolved = db.session.get(Alert, alert.id)
    assert (resolved.state, resolved.outcome, resolved.resolution_note) == (
        "resolved",
        "contacted",
        "Called; safe.",
    )
    r = post_form(
        client,
        f"/console/alerts/{alert.id}/resolve",
        {"note": "again", "outcome": "other"},
        page="/console/alerts",
    )
    assert "already resolved" in client.get(r.headers["Location"]).get_data(as_text=True)


# --- patient page ----------------------------------------------------------------------------


def test_patient_page_shows_profile_alerts_reflections_and_trends(client, world):
    headers = world.headers(world.patient_a)
    post(client, headers, "/api/v1/me/reflections", reflection("The garden helped today."))
    post(client, headers, "/api/v1/me/checkins", checkin("daily", DAILY_ANSWERS))
    alert = _urgent_alert(client, world)
    sign_in(client, world.clinician_a)
    page = client.get(f"/console/patients/{world.patient_a.id}").get_data(as_text=True)
    assert f"<title>Patient #{world.patient_a.id} · Integration Companion</title>" in page
    assert "The garden helped today." in page and world.patient_a.email in page
    assert f'data-alert-id="{alert.id}"' in page
    data = client.get(f"/console/patients/{world.patient_a.id}/trends.json?days=30").json
    assert data["days"] == 30
    assert [p["v"] for p in data["series"]["daily.mood"]] == [DAILY_ANSWERS["mood"]]
    assert data["series"]["phq9.total"][0]["v"] == 10
    assert data["bands"]["phq9"]["bands"][0]["label"] == "Minimal"
    assert data["bands"]["pcl5"]["bands"][1] == {"minimum": 33, "label": "Probable PTSD"}


def test_dosing_sessions_are_recorded_corrected_and_cancelled_through_the_services(client, world):
    pid = world.patient_a.id
    sign_in(client, world.clinician_a)
    page = f"/console/patients/{pid}"
    dose = local_dose("Europe/Berlin", days_ahead=3)
    r = post_form(
        client,
        f"/console/patients/{pid}/dosing-sessions",
        {"session_number": "1", "started_at": dose.strftime("%Y-%m-%dT%H:%M")},
        page=page,
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("#dosing")
    assert "Dosing session 1 recorded" in client.get(page).get_data(as_text=True)
    session = db.session.scalars(select(DosingSession).where(DosingSession.patient_id == pid)).one()
    assert session.started_at == dose  # read as the patient's local time
    assert db.session.query(Prompt).filter_by(dosing_session_id=session.id, state="scheduled").count() > 0

    later = dose + timedelta(hours=2)
    post_form(
        client,
        f"/console/patients/{pid}/dosing-sessions/{session.id}/correct",
        {"started_at": later.strftime("%Y-%m-%dT%H:%M")},
        page=page,
    )
    db.session.expire_all()
    assert db.session.get(DosingSession, session.id).started_at == later
    assert "corrected; unsent prompts re-planned" in client.get(page).get_data(as_text=True)

    r = post_form(
        client,
        f"/console/patients/{pid}/dosing-sessions",
        {"session_number": "1", "started_at": dose.strftime("%Y-%m-%dT%H:%M")},
        page=page,
    )
    assert "already" in client.get(page).get_data(as_text=True).lower()  # the service's duplicate message
    r = post_form(
        client,
        f"/console/patients/{pid}/dosing-sessions",
        {"session_number": "9", "started_at": "not a date"},
        page=page,
    )
    assert "started_at" in client.get(page).get_data(as_text=True)

    post_form(client, f"/console/patients/{pid}/dosing-sessions/{session.id}/cancel", page=page)
    db.session.expire_all()
    assert db.session.get(DosingSession, session.id).cancelled_at is not None
    assert db.session.query(Prompt).filter_by(dosing_session_id=session.id, state="scheduled").count() == 0
    actions = {(r.action, r.resource_type) for r in _audit_rows(pid, world.clinician_a.id)}
    assert {
        ("create", "dosing_session"),
        ("update", "dosing_session"),
        ("cancel", "dosing_session"),
    } <= actions


def test_schedule_settings_form_updates_the_patient_schedule(client, world):
    pid = world.patient_a.id
    sign_in(client, world.clinician_a)
    page = f"/console/patients/{pid}"
    post_form(
        client,
        f"/console/patients/{pid}/schedule",
        {"template_id": "", "quiet_start": "22:00", "quiet_end": "07:30", "planned_sessions": "4"},
        page=page,
    )
    text = client.get(page).get_data(as_text=True)
    assert "Schedule settings saved" in text and 'value="22:00"' in text and 'value="4"' in text
    post_form(
        client,
        f"/console/patients/{pid}/schedule",
        {"quiet_start": "25:00", "quiet_end": "07:30", "planned_sessions": "4"},
        page=page,
    )
    assert "HH:MM" in client.get(page).get_data(as_text=True)


# --- admin -----------------------------------------------------------------------------------


def test_admin_creates_a_team_and_a_clinician_and_sets_duty_and_backup(client, world):
    sign_in(client, world.admin)
    r = post_form(client, "/console/admin/teams", {"name": "Team C", "contact_phone": "+1 555 0199"})
    team = db.session.scalars(select(CareTeam).where(CareTeam.name == "Team C")).one()
    assert r.headers["Location"] == f"/console/admin/teams/{team.id}"
    r = post_form(client, "/console/admin/teams", {"name": "Team C"})
    assert r.status_code == 200 and "A care team with this name exists." in r.get_data(as_text=True)

    r = post_form(
        client,
        "/console/admin/clinicians",
        {
            "email": "c@example.org",
            "display_name": "Dr C",
            "role": "clinician",
            "password": "short",
            "team_id": str(team.id),
        },
    )
    assert r.status_code == 422 and "Length must be between 10 and 200." in r.get_data(as_text=True)
    r = post_form(
        client,
        "/console/admin/clinicians",
        {
            "email": "c@example.org",
            "display_name": "Dr C",
            "role": "clinician",
            "password": "long enough pw",
            "team_id": str(team.id),
        },
    )
    assert r.status_code == 302
    new = db.session.scalars(select(User).where(User.email == "c@example.org")).one()
    assert new.role == "clinician" and [link.team_id for link in new.team_links] == [team.id]

    r = post_form(
        client,
        f"/console/admin/teams/{team.id}",
        {
            "name": "Team C",
            "member": [str(new.id), str(world.clinician_a.id)],
            "on_duty": [str(new.id)],
            "backup_clinician_id": str(world.clinician_a.id),
        },
        page=f"/console/admin/teams/{team.id}",
    )
    assert r.status_code == 302
    db.session.expire_all()
    team = db.session.get(CareTeam, team.id)
    assert {m.user_id: m.on_duty for m in team.members} == {new.id: True, world.clinician_a.id: False}
    assert team.backup_clinician_id == world.clinician_a.id
    r = post_form(
        client,
        f"/console/admin/teams/{team.id}",
        {"name": "Team C", "member": [str(new.id)], "on_duty": [str(world.clinician_b.id)]},
        page=f"/console/admin/teams/{team.id}",
    )
    assert r.status_code == 422 and "Not members of this team" in r.get_data(as_text=True)
    assert (
        db.session.query(CareTeamMember).filter_by(team_id=team.id, user_id=world.clinician_b.id).count() == 0
    )


def test_admin_deactivates_a_clinician(client, world):
    sign_in(client, world.admin)
    post_form(client, f"/console/admin/users/{world.clinician_b.id}/active", {"active": "0"})
    db.session.expire_all()
    assert db.session.get(User, world.clinician_b.id).is_active is False
    post_form(client, f"/console/admin/users/{world.admin.id}/active", {"active": "0"})
    db.session.expire_all()
    assert db.session.get(User, world.admin.id).is_active is True


def test_flag_rule_thresholds_are_validated_and_saved(client, world):
    sign_in(client, world.admin)
    path = f"/console/admin/flag-rules/{world.team_a.id}"
    r = post_form(client, path, {"phq9_total_high": "30", "sleep_hours_low": "abc"}, page=path)
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and "must be between 1 and 27" in text and "must be a number" in text
    assert db.session.get(FlagRuleSetting, world.team_a.id) is None
    r = post_form(
        client, path, {"phq9_total_high": "18", "sleep_hours_low": "4.5", "phq9_item9_urgent": ""}, page=path
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(FlagRuleSetting, world.team_a.id).thresholds == {
        "phq9_total_high": 18,
        "sleep_hours_low": 4.5,
    }
    assert db.session.query(AuditLog).filter_by(action="update", resource_type="flag_rules").count() == 1


def test_crisis_resources_are_shown_read_only(client, world, app):
    sign_in(client, world.admin)
    text = client.get("/console/admin/crisis-resources").get_data(as_text=True)
    assert "988 Suicide &amp; Crisis Lifeline" in text and "+1 555 0101" in text
    assert "<form" not in text.split("<main")[1].split("</main>")[0]


def test_schedule_template_save_shows_rule_errors_and_bumps_the_version(client, world):
    sign_in(client, world.admin)
    template_id = db.session.scalar(select(db.text("id FROM schedule_templates WHERE is_default")))
    path = f"/console/admin/schedules/{template_id}"
    token = csrf_token(client, path)
    bad = '[{"key": "x", "kind": "instrument", "instrument_id": "nope", "day_offsets": [1], "local_time": "9am"}]'
    r = client.post(path, data={"csrf_token": token, "name": "Default", "rules": bad, "action": "save"})
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and "Unknown instrument &#39;nope&#39;" in text and "HH:MM" in text
    r = client.post(path, data={"csrf_token": token, "name": "Default", "rules": "[", "action": "save"})
    assert r.status_code == 422 and "not valid JSON" in r.get_data(as_text=True)
    good = '[{"key": "daily", "kind": "instrument", "instrument_id": "daily", "day_offsets": [1, 2], "local_time": "09:00"}]'
    r = client.post(path, data={"csrf_token": token, "name": "Default", "rules": good, "action": "preview"})
    assert r.status_code == 200 and "<strong>2</strong> notifications on" in r.get_data(as_text=True)
    r = client.post(path, data={"csrf_token": token, "name": "Default", "rules": good, "action": "save"})
    assert r.status_code == 302
    assert "saved as version 2" in client.get(path).get_data(as_text=True)
    preview = client.post(
        "/console/admin/schedules/preview.json",
        json={"rules": bad, "timezone": "Mars/Base"},
        headers={"X-CSRFToken": token},
    ).json
    assert preview["ok"] is False and any("time zone" in e for e in preview["errors"])
    assert (
        client.post("/console/admin/schedules/preview.json", json={"rules": good}).status_code == 400
    )  # no CSRF token
