"""A patient with a bit of everything (check-ins of every enabled instrument, a reflection, dosing
sessions, prompts in every state, alerts), for the FHIR, research export and erasure tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from api.domain.instruments import CATALOGUE, Instrument
from api.extensions import db
from api.models import Alert, DosingSession, Prompt, User
from api.models.types import utcnow
from api.services.instruments import enabled_ids
from tests.api.entries_helpers import checkin, post, reflection

NOTE = "Slept badly; my sister Alice visited me."
REFLECTION_TEXT = "Today I noticed I could breathe again at the lake."
_occurrence = itertools.count(1)


def answers_for(instrument: Instrument, note: str = NOTE) -> dict:
    """A valid answer to every item that is asked (the first option of a choice, mid-scale...)."""
    answers: dict = {}
    for item in instrument.items:
        if item.shown_if is not None and answers.get(item.shown_if[0]) != item.shown_if[1]:
            continue
        if item.kind == "choice":
            answers[item.id] = item.options[1].value
        elif item.kind == "boolean":
            answers[item.id] = 0
        elif item.kind == "scale":
            answers[item.id] = 5
        elif item.kind == "number":
            answers[item.id] = 7.5
        else:
            answers[item.id] = note
    if instrument.id == "phq9":
        answers["q9"] = 2  # raises an urgent alert
    return answers


@dataclass
class Record:
    patient: User
    checkin_ids: dict[str, int] = field(default_factory=dict)
    sessions: list[DosingSession] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)


def add_prompt(
    patient: User, session: DosingSession, state: str, hours_ago: float, **fields: object
) -> Prompt:
    intended = utcnow() - timedelta(hours=hours_ago)
    prompt = Prompt(
        patient_id=patient.id,
        dosing_session_id=session.id,
        rule_key="phq9-weekly",
        occurrence=next(_occurrence),
        kind="instrument",
        instrument_id="phq9",
        prompt_text="How have the last two weeks been?",
        day=7,
        state=state,
        intended_at=intended,
        expires_at=intended + timedelta(hours=12),
        reminder_hours=[],
        template_version=1,
        reminders_sent=0,
        attempts=1,
        **fields,
    )
    db.session.add(prompt)
    return prompt


def build_record(client, world, patient: User | None = None) -> Record:
    """Check-ins of every enabled instrument (PHQ-9 with q9=2 raises an urgent alert), a reflection,
    two dosing sessions (one cancelled), prompts in several states and a resolved alert."""
    patient = patient or world.patient_a
    record = Record(patient)
    now = utcnow()
    first = DosingSession(patient_id=patient.id, session_number=1, started_at=now - timedelta(days=10))
    cancelled = DosingSession(
        patient_id=patient.id, session_number=2, started_at=now - timedelta(days=3), cancelled_at=now
    )
    db.session.add_all([first, cancelled])
    db.session.flush()
    record.sessions = [first, cancelled]
    record.prompts = [
        add_prompt(patient, first, "scheduled", -24),
        add_prompt(
            patient,
            first,
            "completed",
            60,
            sent_at=now - timedelta(hours=60),
            delivered_at=now - timedelta(hours=59.9),
            opened_at=now - timedelta(hours=58),
            answered_at=now - timedelta(hours=57.5),
        ),
        add_prompt(
            patient,
            first,
            "expired",
            100,
            sent_at=now - timedelta(hours=100),
            expired_at=now - timedelta(hours=88),
            last_error="UNAVAILABLE",
        ),
        add_prompt(patient, first, "cancelled", 30, cancelled_at=now - timedelta(hours=40)),
    ]
    db.session.add(
        Alert(
            patient_id=patient.id,
            care_team_id=patient.patient.care_team_id,
            rule="missed_checkins",
            severity="low",
            summary="3 check-ins missed in a row",
            evidence={"missed": 3},
            state="resolved",
            created_at=now - timedelta(days=5),
            last_triggered_at=now - timedelta(days=5),
            ack_deadline_at=now - timedelta(days=2),
            acknowledged_at=now - timedelta(days=5) + timedelta(hours=3),
            resolved_at=now - timedelta(days=4),
            resolution_note="Called the patient, all fine.",
            outcome="contacted",
        )
    )
    db.session.commit()

    headers = world.headers(patient)
    for minutes, instrument_id in enumerate(sorted(enabled_ids()), start=1):
        body = checkin(
            instrument_id,
            answers_for(CATALOGUE[instrument_id]),
            recorded_at=now - timedelta(hours=20, minutes=minutes),
        )
        r = post(client, headers, "/api/v1/me/checkins", body)
        assert r.status_code == 201, (instrument_id, r.json)
        record.checkin_ids[instrument_id] = r.json["id"]
    r = post(client, headers, "/api/v1/me/reflections", reflection(REFLECTION_TEXT, tags=["lake walk"]))
    assert r.status_code == 201, r.json
    return record


def count(model: type, *criteria: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0


__all__ = ["NOTE", "REFLECTION_TEXT", "Record", "add_prompt", "answers_for", "build_record", "count"]
