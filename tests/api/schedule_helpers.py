"""Builders for dosing sessions and prompts used by the schedule / prompt test modules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from api.domain.schedule import DEFAULT_RULES, PlannedOccurrence, QuietHours, expand
from api.extensions import db
from api.models import DosingSession, Prompt
from api.models.types import utcnow


def local_dose(tz: str, days_ahead: int = 2, at: time = time(9, 0)) -> datetime:
    """An aware dose start `days_ahead` local days from today at `at` in `tz` (in the future)."""
    zone = ZoneInfo(tz)
    day = utcnow().astimezone(zone).date() + timedelta(days=days_ahead)
    return datetime.combine(day, at, tzinfo=zone)


def at_local(tz: str, day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def default_plan(
    dose: datetime, tz: str, is_last: bool = False, quiet: QuietHours | None = None
) -> list[PlannedOccurrence]:
    return expand(DEFAULT_RULES, dose, ZoneInfo(tz), quiet or QuietHours(), is_last)


def record(client, world, patient, number: int = 1, started_at: datetime | None = None, clinician=None):
    clinician = clinician or (world.clinician_a if patient is world.patient_a else world.clinician_b)
    tz = "Europe/Berlin" if patient is world.patient_a else "America/New_York"
    started_at = started_at or local_dose(tz)
    return client.post(
        f"/api/v1/care/patients/{patient.id}/dosing-sessions",
        json={"session_number": number, "started_at": started_at.isoformat()},
        headers=world.headers(clinician),
    )


def add_session(patient_id: int, started_at: datetime, number: int = 1) -> DosingSession:
    session = DosingSession(patient_id=patient_id, session_number=number, started_at=started_at)
    db.session.add(session)
    db.session.flush()
    return session


def prompts_of(patient_id: int, **filters: object) -> list[Prompt]:
    db.session.expire_all()
    query = select(Prompt).where(Prompt.patient_id == patient_id).filter_by(**filters)
    return list(db.session.scalars(query.order_by(Prompt.intended_at, Prompt.id)))


def make_due(
    prompt: Prompt, state: str = "sent", opened_hours: float = 1.0, left_hours: float = 3.0
) -> Prompt:
    """Turn a planned prompt into one that is due now (sent `opened_hours` ago, open `left_hours` more)."""
    now = utcnow()
    prompt.intended_at = now - timedelta(hours=opened_hours)
    prompt.expires_at = now + timedelta(hours=left_hours)
    prompt.state = state
    if state != "scheduled":
        prompt.sent_at = prompt.intended_at
    db.session.commit()
    return prompt
