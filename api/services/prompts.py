"""Prompts as the patient's app and the care team see them (the planner lives in planning.py)."""

from __future__ import annotations

from datetime import datetime

from flask_smorest import abort
from sqlalchemy import select

from api.extensions import db
from api.models import Prompt
from api.models.prompts import CANCELLED, DELIVERED, OPENED, SCHEDULED, SENT
from api.models.types import utcnow
from api.services.audit import audit
from api.services.planning import adherence, open_prompts_for


def _visible_to_patient(now: datetime) -> list:
    # Prompts the patient could have seen: already due and not planned away.
    return [Prompt.intended_at <= now, Prompt.state != CANCELLED]


def patient_prompts(
    patient_id: int, state: str | None = None, all_: bool = False, limit: int = 200
) -> list[Prompt]:
    """Default: the prompts to show now. ``state`` / ``all_``: history, newest first."""
    now = utcnow()
    if state is None and not all_:
        prompts = open_prompts_for(patient_id, now)
    else:
        query = select(Prompt).where(Prompt.patient_id == patient_id, *_visible_to_patient(now))
        if state is not None:
            query = query.where(Prompt.state == state)
        prompts = list(
            db.session.scalars(query.order_by(Prompt.intended_at.desc(), Prompt.id.desc()).limit(limit))
        )
    audit("list", "prompt", patient_id=patient_id, detail=f"count={len(prompts)}")
    db.session.commit()
    return prompts


def _patient_prompt(patient_id: int, prompt_id: int, now: datetime) -> Prompt:
    prompt = db.session.execute(
        select(Prompt).where(Prompt.id == prompt_id, *_visible_to_patient(now)).with_for_update()
    ).scalar_one_or_none()
    if prompt is None or prompt.patient_id != patient_id:
        abort(404, message="No such prompt.")
    return prompt


def mark_received(patient_id: int, prompt_id: int) -> Prompt:
    """The app got the push (or showed the prompt): -> delivered. Repeating changes nothing."""
    now = utcnow()
    prompt = _patient_prompt(patient_id, prompt_id, now)
    changed = False
    if prompt.state in (SCHEDULED, SENT):
        prompt.state, prompt.delivered_at = DELIVERED, now
        changed = True
    elif prompt.state == OPENED and prompt.delivered_at is None:
        prompt.delivered_at = now  # the receipt arrived after the open; keep the state
        changed = True
    audit("received", "prompt", prompt.id, patient_id=patient_id, detail=None if changed else "unchanged")
    db.session.commit()
    return prompt


def mark_opened(patient_id: int, prompt_id: int) -> Prompt:
    """The patient opened the prompt: -> opened. Repeating changes nothing; answered or expired
    prompts keep their state."""
    now = utcnow()
    prompt = _patient_prompt(patient_id, prompt_id, now)
    changed = prompt.state in (SCHEDULED, SENT, DELIVERED)
    if changed:
        prompt.state, prompt.opened_at = OPENED, now
    audit("opened", "prompt", prompt.id, patient_id=patient_id, detail=None if changed else "unchanged")
    db.session.commit()
    return prompt


def ledger(
    patient_id: int,
    state: str | None = None,
    dosing_session_id: int | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[Prompt]:
    """Every prompt planned for the patient (care team view), in due order."""
    query = select(Prompt).where(Prompt.patient_id == patient_id)
    if state is not None:
        query = query.where(Prompt.state == state)
    if dosing_session_id is not None:
        query = query.where(Prompt.dosing_session_id == dosing_session_id)
    prompts = list(
        db.session.scalars(query.order_by(Prompt.intended_at, Prompt.id).limit(limit).offset(offset))
    )
    audit("list", "prompt", patient_id=patient_id, detail=f"count={len(prompts)}")
    db.session.commit()
    return prompts


def read_adherence(patient_id: int) -> dict:
    body = adherence(patient_id, utcnow())
    audit("read", "adherence", patient_id, patient_id=patient_id)
    db.session.commit()
    return body
