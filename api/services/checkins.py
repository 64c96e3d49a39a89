"""Check-ins: validate against the instrument, score on the server, store exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from api.domain.instruments import Instrument
from api.domain.scoring import score_response, score_to_dict, validate_response
from api.extensions import db
from api.models import CheckIn, PatientProfile
from api.services.audit import audit
from api.services.crypto import decrypt_text, encrypt_text
from api.services.entries import EntryInvalid, apply_cursor, check_recorded_at, page
from api.services.instruments import enabled_instrument
from api.services.planning import answer_prompt


def _nest(flat: dict[str, list[str]]) -> dict[str, Any]:
    """{"answers.q3": [...]} -> {"answers": {"q3": [...]}}, the shape of marshmallow's own errors."""
    nested: dict[str, Any] = {}
    for key, messages in flat.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = messages
        else:
            nested[head] = messages
    return nested


def _text_items(instrument: Instrument) -> set[str]:
    return {item.id for item in instrument.items if item.kind == "text"}


def answers_of(checkin: CheckIn) -> dict[str, Any]:
    """The answers as submitted, with the encrypted note decrypted back in."""
    answers = dict(checkin.answers)
    if checkin.note_ciphertext is not None:
        answers["note"] = decrypt_text(checkin.note_ciphertext)
    return answers


def find_by_uuid(patient_id: int, client_uuid: str) -> CheckIn | None:
    return db.session.scalar(
        select(CheckIn).where(CheckIn.patient_id == patient_id, CheckIn.client_uuid == client_uuid)
    )


def create_checkin(profile: PatientProfile, data: dict[str, Any]) -> tuple[CheckIn, bool]:
    """Add a validated, scored check-in to the session (no commit). Returns (check-in, created);
    a client UUID already stored returns the stored check-in, so a retry never duplicates.
    Raises EntryInvalid with field messages."""
    client_uuid = str(data["client_uuid"])
    existing = find_by_uuid(profile.user_id, client_uuid)
    if existing is not None:
        return existing, False
    instrument = enabled_instrument(data["instrument_id"])
    if instrument is None:
        raise EntryInvalid({"instrument_id": ["Unknown or disabled instrument."]})
    errors = _nest(validate_response(instrument, data["instrument_version"], data["answers"]))
    errors |= check_recorded_at(profile, data["recorded_at"])
    if errors:
        raise EntryInvalid(errors)
    score = score_response(instrument, data["answers"])
    text_items = _text_items(instrument)
    note = next((data["answers"][k] for k in text_items if data["answers"].get(k)), None)
    checkin = CheckIn(
        patient_id=profile.user_id,
        client_uuid=client_uuid,
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        answers={k: v for k, v in data["answers"].items() if k not in text_items},
        note_ciphertext=encrypt_text(note) if note else None,
        total=score.total,
        band=score.band,
        score=score_to_dict(score),
        recorded_at=data["recorded_at"],
    )
    db.session.add(checkin)
    if data.get("prompt_id") is not None:
        checkin.prompt_error = answer_prompt(
            profile.user_id, data["prompt_id"], data["recorded_at"], "instrument", instrument.id
        )
        checkin.prompt_id = None if checkin.prompt_error else data["prompt_id"]
    db.session.flush()
    audit("create", "checkin", checkin.id, patient_id=profile.user_id)
    return checkin, True


def list_checkins(
    patient_id: int,
    instrument_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[CheckIn], str | None]:
    query = select(CheckIn).where(CheckIn.patient_id == patient_id)
    if instrument_id:
        query = query.where(CheckIn.instrument_id == instrument_id)
    if since:
        query = query.where(CheckIn.recorded_at >= since)
    if until:
        query = query.where(CheckIn.recorded_at < until)
    rows = list(db.session.scalars(apply_cursor(query, CheckIn, cursor).limit(limit + 1)))
    return page(rows, limit)


_VIEW_FIELDS = (
    "id",
    "client_uuid",
    "instrument_id",
    "instrument_version",
    "total",
    "band",
    "score",
    "prompt_id",
    "prompt_error",
    "recorded_at",
    "received_at",
)


def checkin_view(checkin: CheckIn) -> dict[str, Any]:
    """Plain data for CheckInSchema: the row's fields with the note decrypted into the answers."""
    return {**{f: getattr(checkin, f) for f in _VIEW_FIELDS}, "answers": answers_of(checkin)}


def checkin_page(patient_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """One page of a patient's check-ins for the patient or their care team; the read is audited."""
    rows, next_cursor = list_checkins(patient_id, **query)
    audit("list", "checkin", patient_id=patient_id, detail=f"count={len(rows)}")
    db.session.commit()
    return {"items": [checkin_view(c) for c in rows], "next_cursor": next_cursor}
