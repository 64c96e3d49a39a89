"""Patient: open prompts, history, received / opened receipts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from api.extensions import db
from api.models import AuditLog, Prompt
from api.models.types import utcnow
from schemas.prompts import PROMPT_STATES
from tests.api.schedule_helpers import make_due, prompts_of, record

ME = "/api/v1/me/prompts"


@pytest.fixture
def planned(client, world):
    """Patient A's first session planned; nothing due yet."""
    assert record(client, world, world.patient_a, 1).status_code == 201
    return prompts_of(world.patient_a.id)


def test_schema_states_mirror_the_model():
    from api.models.prompts import PROMPT_STATES as MODEL_STATES

    assert PROMPT_STATES == MODEL_STATES


def test_default_list_shows_what_is_due_and_open(client, world, planned):
    h = world.headers(world.patient_a)
    assert client.get(ME, headers=h).json == []  # everything is in the future
    sent = make_due(planned[0], "sent")
    behind = make_due(planned[1], "scheduled", opened_hours=0.5)  # the worker is late: shown anyway
    done = make_due(planned[2], "completed")
    r = client.get(ME, headers=h)
    assert r.status_code == 200
    assert [p["id"] for p in r.json] == [sent.id, behind.id]
    item = r.json[0]
    assert item["state"] == "sent" and item["kind"] == planned[0].kind
    assert "locked_by" not in item and "attempts" not in item and "rule_key" not in item
    history = client.get(ME, query_string={"all": "true"}, headers=h)
    assert {p["id"] for p in history.json} == {sent.id, behind.id, done.id}  # nothing from the future
    completed = client.get(ME, query_string={"state": "completed"}, headers=h)
    assert [p["id"] for p in completed.json] == [done.id]
    assert client.get(ME, query_string={"state": "cancelled"}, headers=h).status_code == 422
    assert db.session.query(AuditLog).filter_by(action="list", resource_type="prompt").count() == 4


def test_received_then_opened_are_timestamped_and_idempotent(client, world, planned):
    h = world.headers(world.patient_a)
    prompt = make_due(planned[0], "sent")
    r = client.post(f"{ME}/{prompt.id}/received", headers=h)
    assert r.status_code == 200 and r.json["state"] == "delivered"
    delivered_at = datetime.fromisoformat(r.json["delivered_at"])
    assert utcnow() - delivered_at < timedelta(seconds=30)
    again = client.post(f"{ME}/{prompt.id}/received", headers=h)
    assert again.status_code == 200 and again.json == r.json

    opened = client.post(f"{ME}/{prompt.id}/opened", headers=h)
    assert opened.status_code == 200 and opened.json["state"] == "opened" and opened.json["opened_at"]
    assert opened.json["delivered_at"] == r.json["delivered_at"]
    repeat = client.post(f"{ME}/{prompt.id}/opened", headers=h)
    assert repeat.json == opened.json
    late_receipt = client.post(f"{ME}/{prompt.id}/received", headers=h)
    assert late_receipt.json["state"] == "opened"

    row = db.session.get(Prompt, prompt.id)
    db.session.refresh(row)
    assert (row.state, row.delivered_at, row.opened_at) == (
        "opened",
        delivered_at,
        datetime.fromisoformat(opened.json["opened_at"]),
    )
    audits = db.session.query(AuditLog).filter_by(resource_type="prompt", resource_id=str(prompt.id)).all()
    assert [(a.action, a.patient_id) for a in audits] == [
        ("received", world.patient_a.id),
        ("received", world.patient_a.id),
        ("opened", world.patient_a.id),
        ("opened", world.patient_a.id),
        ("received", world.patient_a.id),
    ]


def test_open_before_receipt_and_answered_prompts_keep_their_state(client, world, planned):
    h = world.headers(world.patient_a)
    prompt = make_due(planned[0], "scheduled")
    opened = client.post(f"{ME}/{prompt.id}/opened", headers=h)
    assert opened.json["state"] == "opened" and opened.json["delivered_at"] is None
    receipt = client.post(f"{ME}/{prompt.id}/received", headers=h)
    assert receipt.json["state"] == "opened" and receipt.json["delivered_at"]
    done = make_due(planned[1], "completed")
    for action in ("received", "opened"):
        r = client.post(f"{ME}/{done.id}/{action}", headers=h)
        assert r.status_code == 200 and r.json["state"] == "completed"
        assert r.json["delivered_at"] is None and r.json["opened_at"] is None


def test_prompts_of_others_future_or_cancelled_are_404(client, world, planned):
    record(client, world, world.patient_b, 1)
    other = make_due(prompts_of(world.patient_b.id)[0], "sent")
    future = planned[-1]
    cancelled = make_due(planned[0], "cancelled")
    h = world.headers(world.patient_a)
    for prompt_id in (other.id, future.id, cancelled.id, 999999):
        for action in ("received", "opened"):
            r = client.post(f"{ME}/{prompt_id}/{action}", headers=h)
            assert r.status_code == 404 and r.json["message"] == "No such prompt."
    db.session.refresh(other)
    assert other.state == "sent" and other.delivered_at is None
    assert other.id not in [p["id"] for p in client.get(ME, query_string={"all": "true"}, headers=h).json]


@pytest.mark.parametrize("user", ["clinician_a", "admin"])
def test_patients_only(client, world, user, planned):
    h = world.headers(getattr(world, user))
    assert client.get(ME, headers=h).status_code == 403
    assert client.post(f"{ME}/{planned[0].id}/received", headers=h).status_code == 403
    assert client.post(f"{ME}/{planned[0].id}/opened").status_code == 401
