"""Dosing sessions: recorded, corrected and cancelled by the care team; each change re-plans prompts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_smorest import abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.extensions import db
from api.models import DosingSession, PatientProfile, User
from api.models.types import utcnow
from api.services.audit import audit
from api.services.planning import cancel_session_prompts, plan_session, replan_patient, settings_for


def session_body(session: DosingSession, **extra: Any) -> dict[str, Any]:
    body = {
        c: getattr(session, c)
        for c in (
            "id",
            "patient_id",
            "session_number",
            "started_at",
            "cancelled_at",
            "created_by_id",
            "created_at",
            "updated_at",
        )
    }
    return body | extra


def list_sessions(profile: PatientProfile) -> list[DosingSession]:
    sessions = list(
        db.session.scalars(
            select(DosingSession)
            .where(DosingSession.patient_id == profile.user_id)
            .order_by(DosingSession.session_number, DosingSession.id)
        )
    )
    audit("list", "dosing_session", patient_id=profile.user_id, detail=f"count={len(sessions)}")
    db.session.commit()
    return sessions


def get_session(profile: PatientProfile, session_id: int) -> DosingSession:
    session = db.session.get(DosingSession, session_id)
    if session is None or session.patient_id != profile.user_id:
        abort(404, message="No such dosing session.")
    return session


def _check_order(patient_id: int, number: int, started_at: datetime, exclude_id: int | None) -> None:
    """Active sessions must start in the order of their numbers (catches a mistyped date)."""
    query = select(DosingSession).where(
        DosingSession.patient_id == patient_id, DosingSession.cancelled_at.is_(None)
    )
    for other in db.session.scalars(query):
        if other.id == exclude_id:
            continue
        if (other.session_number < number and other.started_at >= started_at) or (
            other.session_number > number and other.started_at <= started_at
        ):
            abort(
                422,
                errors={
                    "json": {
                        "started_at": [
                            f"Session {number} must start "
                            f"{'after' if other.session_number < number else 'before'} "
                            f"session {other.session_number} ({other.started_at.isoformat()})."
                        ]
                    }
                },
            )


def record_session(
    clinician: User, profile: PatientProfile, session_number: int, started_at: datetime
) -> tuple[DosingSession, int]:
    """Record a dosing session and plan all its prompts. Returns the session and the number planned."""
    patient_id = profile.user_id
    planned_sessions = settings_for(patient_id).planned_sessions
    if session_number > planned_sessions:
        abort(
            422,
            errors={
                "json": {
                    "session_number": [
                        f"The patient's protocol plans {planned_sessions} sessions; "
                        "raise planned_sessions in their schedule first."
                    ]
                }
            },
        )
    duplicate = db.session.scalar(
        select(DosingSession.id).where(
            DosingSession.patient_id == patient_id,
            DosingSession.session_number == session_number,
            DosingSession.cancelled_at.is_(None),
        )
    )
    if duplicate is not None:
        _duplicate(session_number)
    _check_order(patient_id, session_number, started_at, exclude_id=None)
    session = DosingSession(
        patient_id=patient_id,
        session_number=session_number,
        started_at=started_at,
        created_by_id=clinician.id,
    )
    db.session.add(session)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent request recorded the same number first
        db.session.rollback()
        _duplicate(session_number)
    planned = plan_session(session)
    # Earlier sessions drop the occurrences this one supersedes.
    others = replan_patient(patient_id, "dosing_session")
    audit(
        "create",
        "dosing_session",
        session.id,
        patient_id=patient_id,
        detail=f"session={session_number},planned={planned},{others.describe()}",
    )
    db.session.commit()
    return session, planned


def _duplicate(session_number: int) -> None:
    abort(
        409,
        message=f"Session {session_number} is already recorded; correct or cancel it instead.",
        errors={"json": {"session_number": ["Already recorded."]}},
    )


def correct_session(session: DosingSession, started_at: datetime) -> tuple[DosingSession, dict[str, int]]:
    """Correct the start of a session and re-plan (unsent prompts only)."""
    if session.cancelled_at is not None:
        abort(409, message="This dosing session is cancelled.")
    _check_order(session.patient_id, session.session_number, started_at, exclude_id=session.id)
    session.started_at = started_at
    changes = replan_patient(session.patient_id, "dosing_session_correction")
    audit(
        "update",
        "dosing_session",
        session.id,
        patient_id=session.patient_id,
        detail=f"started_at,{changes.describe()}",
    )
    db.session.commit()
    return session, changes.as_dict()


def cancel_session(session: DosingSession) -> tuple[DosingSession, int]:
    """Cancel a session: its not-yet-sent prompts are cancelled; sent ones stay as history.
    Repeating the request changes nothing."""
    if session.cancelled_at is not None:
        audit("cancel", "dosing_session", session.id, patient_id=session.patient_id, detail="unchanged")
        db.session.commit()
        return session, 0
    now = utcnow()
    session.cancelled_at = now
    cancelled = cancel_session_prompts(session.id, now)
    # An earlier session gets back the occurrences this one had superseded.
    changes = replan_patient(session.patient_id, "dosing_session_cancelled", now)
    audit(
        "cancel",
        "dosing_session",
        session.id,
        patient_id=session.patient_id,
        detail=f"cancelled_prompts={cancelled},{changes.describe()}",
    )
    db.session.commit()
    return session, cancelled
