"""Admin: schedule templates - validation, versions, re-planning, deletion rules, preview."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from api.domain.schedule import DEFAULT_RULES, DEFAULT_TEMPLATE_NAME, REFLECTION_PROMPTS, rule_to_dict
from api.extensions import db
from api.models import AuditLog, ScheduleTemplate
from tests.api.schedule_helpers import local_dose, make_due, prompts_of, record

URL = "/api/v1/admin/schedules"
BERLIN = "Europe/Berlin"


def daily(key="daily-am", days=(1, 2, 3), at="09:00", **extra):
    return {
        "key": key,
        "kind": "instrument",
        "instrument_id": "daily",
        "day_offsets": list(days),
        "local_time": at,
        **extra,
    }


def reflection(key="reflect", days=(1,), at="19:00"):
    return {
        "key": key,
        "kind": "reflection",
        "prompt_text": REFLECTION_PROMPTS[1],
        "day_offsets": list(days),
        "local_time": at,
        "open_hours": 12,
        "reminder_hours": [2],
    }


def default_id():
    return db.session.query(ScheduleTemplate).filter_by(is_default=True).one().id


def test_migration_seeds_the_default_template(client, world):
    r = client.get(URL, headers=world.headers(world.admin))
    assert r.status_code == 200 and len(r.json) == 1
    (template,) = r.json
    assert template["name"] == DEFAULT_TEMPLATE_NAME and template["is_default"] is True
    assert template["version"] == 1
    assert template["rules"] == [rule_to_dict(rule) for rule in DEFAULT_RULES]


def test_create_show_and_canonical_rules(client, world):
    h = world.headers(world.admin)
    r = client.post(URL, json={"name": "Short", "rules": [daily(days=(3, 1, 2)), reflection()]}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["version"] == 1 and r.json["is_default"] is False
    rules = r.json["rules"]
    assert rules[0]["day_offsets"] == [1, 2, 3] and rules[0]["open_hours"] == 24.0
    assert rules[0]["reminder_hours"] == [4.0] and rules[0]["applies_to"] == "every_session"
    shown = client.get(f"{URL}/{r.json['id']}", headers=h)
    assert shown.status_code == 200 and shown.json == r.json
    assert client.get(f"{URL}/99999", headers=h).status_code == 404
    dup = client.post(URL, json={"name": "Short", "rules": [daily()]}, headers=h)
    assert dup.status_code == 409 and dup.json["errors"]["json"]["name"]
    assert (
        db.session.query(AuditLog).filter_by(resource_type="schedule_template", action="create").count() == 1
    )


def test_rule_validation_errors_are_422_per_rule_and_field(client, world):
    h = world.headers(world.admin)
    rules = [
        daily(),
        {**daily(key="phq"), "instrument_id": "nope"},  # unknown instrument
        daily(key="far", days=(400,)),  # offset out of range
        daily(key="again", days=(3, 5)),  # overlaps rules.0 on day 3 at 09:00
        daily(),  # duplicate key
        {"key": "acute", "kind": "instrument", "instrument_id": "daily", "hours_after_dose": 99},
        "not a rule",
    ]
    r = client.post(URL, json={"name": "Broken", "rules": rules}, headers=h)
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    errors = r.json["errors"]["json"]["rules"]
    assert "Unknown instrument 'nope'." in errors["1"]["instrument_id"]
    assert errors["2"]["day_offsets"]
    assert "Overlaps rules.0" in errors["3"]["day_offsets"][0]
    assert errors["4"]["key"]
    assert errors["5"]["hours_after_dose"]
    assert errors["6"] == ["Must be an object."]
    assert "0" not in errors
    empty = client.post(URL, json={"name": "Empty", "rules": []}, headers=h)
    assert empty.status_code == 422 and empty.json["errors"]["json"]["rules"]
    unknown_field = client.post(URL, json={"name": "X", "rules": [daily()], "owner": 1}, headers=h)
    assert unknown_field.status_code == 422 and "owner" in unknown_field.json["errors"]["json"]
    # Also on PATCH; nothing was created or changed.
    patch = client.patch(f"{URL}/{default_id()}", json={"rules": [daily(), daily()]}, headers=h)
    assert patch.status_code == 422 and patch.json["errors"]["json"]["rules"]["1"]["key"]
    assert db.session.query(ScheduleTemplate).count() == 1
    assert db.session.get(ScheduleTemplate, default_id()).version == 1


def test_editing_the_default_template_replans_its_patients(client, world):
    dose = local_dose(BERLIN)
    record(client, world, world.patient_a, 1, dose)
    rows = prompts_of(world.patient_a.id)
    sent = prompts_of(world.patient_a.id, rule_key="daily-am")[0]
    make_due(sent, "sent")
    h = world.headers(world.admin)
    # Move the daily check-in to 08:30 and drop the reflections and questionnaires.
    new_rules = [rule_to_dict(DEFAULT_RULES[0]), {**rule_to_dict(DEFAULT_RULES[1]), "local_time": "08:30"}]
    r = client.patch(f"{URL}/{default_id()}", json={"rules": new_rules}, headers=h)
    assert r.status_code == 200 and r.json["version"] == 2

    after = prompts_of(world.patient_a.id)
    assert len(after) == len(rows)
    berlin = ZoneInfo(BERLIN)
    unsent_daily = [p for p in after if p.rule_key == "daily-am" and p.id != sent.id]
    assert len(unsent_daily) == 7
    assert all(p.intended_at.astimezone(berlin).time() == time(8, 30) for p in unsent_daily)
    assert all(p.template_version == 2 and p.state == "scheduled" for p in unsent_daily)
    kept = next(p for p in after if p.id == sent.id)
    assert kept.state == "sent" and kept.template_version == 1
    dropped = [p for p in after if p.rule_key not in ("daily-am", "evening-settled")]
    assert dropped and {p.state for p in dropped} == {"cancelled"}
    replans = db.session.query(AuditLog).filter_by(action="replan", patient_id=world.patient_a.id).all()
    assert len(replans) == 1 and "reason=template" in replans[0].detail
    # A name-only edit bumps the version but changes no prompt.
    renamed = client.patch(f"{URL}/{default_id()}", json={"name": "Renamed"}, headers=h)
    assert renamed.json["version"] == 3
    assert db.session.query(AuditLog).filter_by(action="replan").count() == 1


def test_patient_on_another_template_is_replanned_and_default_users_are_not(client, world):
    h = world.headers(world.admin)
    other = client.post(URL, json={"name": "Light", "rules": [daily(days=(1, 2))]}, headers=h).json
    patch = client.patch(
        f"/api/v1/care/patients/{world.patient_a.id}/schedule",
        json={"template_id": other["id"]},
        headers=world.headers(world.clinician_a),
    )
    assert patch.status_code == 200 and patch.json["template"]["name"] == "Light"
    record(client, world, world.patient_a, 1)
    record(client, world, world.patient_b, 1)
    assert len(prompts_of(world.patient_a.id)) == 2
    b_before = [(p.id, p.intended_at, p.state) for p in prompts_of(world.patient_b.id)]

    r = client.patch(f"{URL}/{other['id']}", json={"rules": [daily(days=(1, 2, 3))]}, headers=h)
    assert r.status_code == 200
    assert [p.day for p in prompts_of(world.patient_a.id, state="scheduled")] == [1, 2, 3]
    assert [(p.id, p.intended_at, p.state) for p in prompts_of(world.patient_b.id)] == b_before

    # In use: cannot be deleted. The default can never be deleted or unset.
    assert client.delete(f"{URL}/{other['id']}", headers=h).status_code == 409
    assert client.delete(f"{URL}/{default_id()}", headers=h).status_code == 409
    assert client.patch(f"{URL}/{default_id()}", json={"is_default": False}, headers=h).status_code == 409


def test_switching_the_default_replans_patients_on_the_default(client, world):
    h = world.headers(world.admin)
    record(client, world, world.patient_a, 1)
    old_default = default_id()
    new = client.post(URL, json={"name": "New default", "rules": [daily()], "is_default": True}, headers=h)
    assert new.status_code == 201 and new.json["is_default"] is True
    assert default_id() == new.json["id"]
    assert db.session.get(ScheduleTemplate, old_default).is_default is False
    assert len(prompts_of(world.patient_a.id, state="scheduled")) == 3
    # The old default is now unused and can go.
    assert client.delete(f"{URL}/{old_default}", headers=h).status_code == 204
    assert db.session.get(ScheduleTemplate, old_default) is None
    assert prompts_of(world.patient_a.id, state="cancelled")  # its prompts stay in the ledger


def test_preview_returns_timeline_and_per_day_counts(client, world):
    h = world.headers(world.admin)
    r = client.get(
        f"{URL}/{default_id()}/preview",
        query_string={"timezone": "America/New_York", "dosing": "2026-10-28T10:00:00-04:00"},
        headers=h,
    )
    assert r.status_code == 200, r.json
    body = r.json
    assert body["total"] == len(body["timeline"]) == 35  # last session by default: follow-up included
    per_day = {d["date"]: d["count"] for d in body["per_day"]}
    assert per_day["2026-10-28"] == 1  # the dosing evening
    assert per_day["2026-10-31"] == 4  # day 3: daily, PHQ-9, GAD-7, reflection
    assert sum(per_day.values()) == body["total"]
    day7 = next(i for i in body["timeline"] if i["rule_key"] == "daily-am" and i["day"] == 7)
    assert day7["due_at"].startswith("2026-11-04T14:00")
    not_last = client.get(
        f"{URL}/{default_id()}/preview",
        query_string={
            "timezone": "Europe/Berlin",
            "dosing": "2026-10-05T09:00:00+02:00",
            "last_session": "false",
            "quiet_start": "18:00",
            "quiet_end": "07:00",
        },
        headers=h,
    )
    assert not_last.status_code == 200 and not_last.json["total"] == 29
    assert all(not i["rule_key"].startswith("followup") for i in not_last.json["timeline"])
    assert not any(i["local_due"][11:16] == "19:00" for i in not_last.json["timeline"])


@pytest.mark.parametrize(
    "query,field",
    [
        ({"timezone": "Mars/Olympus", "dosing": "2026-10-28T10:00:00+00:00"}, "timezone"),
        ({"timezone": "UTC", "dosing": "2026-10-28T10:00:00"}, "dosing"),
        ({"timezone": "UTC"}, "dosing"),
        ({"timezone": "UTC", "dosing": "2026-10-28T10:00:00Z", "quiet_start": "7pm"}, "quiet_start"),
    ],
)
def test_preview_validates_its_query(client, world, query, field):
    r = client.get(f"{URL}/{default_id()}/preview", query_string=query, headers=world.headers(world.admin))
    assert r.status_code == 422 and field in r.json["errors"]["query"]


ADMIN_ENDPOINTS = [
    ("GET", ""),
    ("POST", ""),
    ("GET", "/{id}"),
    ("PATCH", "/{id}"),
    ("DELETE", "/{id}"),
    ("GET", "/{id}/preview?timezone=UTC&dosing=2026-10-28T10:00:00Z"),
]


@pytest.mark.parametrize("method,path", ADMIN_ENDPOINTS)
def test_admin_only(client, world, method, path):
    url = URL + path.format(id=default_id())
    body = {"name": "x", "rules": [daily()]} if method in ("POST", "PATCH") else None
    for user in (world.clinician_a, world.patient_a):
        r = client.open(url, method=method, json=body, headers=world.headers(user))
        assert r.status_code == 403
    assert client.open(url, method=method, json=body).status_code == 401
    assert db.session.query(ScheduleTemplate).count() == 1
