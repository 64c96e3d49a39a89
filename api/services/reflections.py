"""Reflections: free text, encrypted at rest, stored exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.extensions import db
from api.models import PatientProfile, Reflection
from api.services.audit import audit
from api.services.crypto import decrypt_text, encrypt_text
from api.services.entries import EntryInvalid, apply_cursor, check_recorded_at, page
from api.services.planning import answer_prompt


def text_of(reflection: Reflection) -> str:
    return decrypt_text(reflection.text_ciphertext)


def create_reflection(profile: PatientProfile, data: dict[str, Any]) -> tuple[Reflection, bool]:
    """Add a reflection to the session (no commit); a stored client UUID returns the stored entry."""
    client_uuid = str(data["client_uuid"])
    existing = db.session.scalar(
        select(Reflection).where(
            Reflection.patient_id == profile.user_id, Reflection.client_uuid == client_uuid
        )
    )
    if existing is not None:
        return existing, False
    errors = check_recorded_at(profile, data["recorded_at"])
    if errors:
        raise EntryInvalid(errors)
    reflection = Reflection(
        patient_id=profile.user_id,
        client_uuid=client_uuid,
        text_ciphertext=encrypt_text(data["text"]),
        tags=data.get("tags") or [],
        recorded_at=data["recorded_at"],
    )
    db.session.add(reflection)
    if data.get("prompt_id") is not None:
        reflection.prompt_error = answer_prompt(
            profile.user_id, data["prompt_id"], data["recorded_at"], "reflection", None
        )
        reflection.prompt_id = None if reflection.prompt_error else data["prompt_id"]
    db.session.flush()
    audit("create", "reflection", reflection.id, patient_id=profile.user_id)
    return reflection, True


def list_reflections(patient_id: int, cursor: str | None, limit: int) -> tuple[list[Reflection], str | None]:
    query = select(Reflection).where(Reflection.patient_id == patient_id)
    rows = list(db.session.scalars(apply_cursor(query, Reflection, cursor).limit(limit + 1)))
    return page(rows, limit)


_VIEW_FIELDS = ("id", "client_uuid", "tags", "prompt_id", "prompt_error", "recorded_at", "received_at")


def reflection_view(reflection: Reflection) -> dict[str, Any]:
    return {**{f: getattr(reflection, f) for f in _VIEW_FIELDS}, "text": text_of(reflection)}


def reflection_page(patient_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    """One page of a patient's reflections (decrypted) for the patient or their care team; audited."""
    rows, next_cursor = list_reflections(patient_id, cursor, limit)
    audit("list", "reflection", patient_id=patient_id, detail=f"count={len(rows)}")
    db.session.commit()
    return {"items": [reflection_view(r) for r in rows], "next_cursor": next_cursor}
