"""The patient's right of access: everything the server holds about them, as one document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from api.extensions import db
from api.models import Alert, CheckIn, Device, Prompt, Reflection, User
from api.models.types import utcnow
from api.services.checkins import checkin_view
from api.services.reflections import reflection_view

PROMPT_FIELDS = (
    "id",
    "kind",
    "instrument_id",
    "prompt_text",
    "day",
    "state",
    "intended_at",
    "expires_at",
    "sent_at",
    "delivered_at",
    "opened_at",
    "answered_at",
    "expired_at",
    "cancelled_at",
    "undeliverable_at",
)
# What the patient may see of an alert about them: that it existed and how it was handled, not the
# internal rule names and thresholds.
ALERT_FIELDS = ("id", "severity", "state", "created_at", "acknowledged_at", "resolved_at", "outcome")


def _plain(row: object, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {f: getattr(row, f) for f in fields}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def export_patient(user: User) -> dict[str, Any]:
    profile = user.patient
    checkins = db.session.scalars(
        select(CheckIn).where(CheckIn.patient_id == user.id).order_by(CheckIn.recorded_at)
    )
    reflections = db.session.scalars(
        select(Reflection).where(Reflection.patient_id == user.id).order_by(Reflection.recorded_at)
    )
    devices = db.session.scalars(select(Device).where(Device.user_id == user.id))
    prompts = db.session.scalars(
        select(Prompt).where(Prompt.patient_id == user.id).order_by(Prompt.intended_at)
    )
    alerts = db.session.scalars(select(Alert).where(Alert.patient_id == user.id).order_by(Alert.created_at))
    return {
        "exported_at": utcnow(),
        "profile": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "timezone": profile.timezone,
            "care_team_id": profile.care_team_id,
            "enrolled_at": profile.enrolled_at.isoformat(),
            "activated_at": profile.activated_at.isoformat() if profile.activated_at else None,
        },
        "devices": [
            {"id": d.id, "platform": d.platform, "active": d.active, "created_at": d.created_at.isoformat()}
            for d in devices
        ],
        "checkins": [checkin_view(c) for c in checkins],
        "reflections": [reflection_view(r) for r in reflections],
        "prompts": [_plain(p, PROMPT_FIELDS) for p in prompts],
        "alerts": [_plain(a, ALERT_FIELDS) for a in alerts],
    }
