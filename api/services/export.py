"""The patient's right of access: everything the server holds about them, as one document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.extensions import db
from api.models import CheckIn, Device, Reflection, User
from api.models.types import utcnow
from api.services.checkins import checkin_view
from api.services.reflections import reflection_view


def export_patient(user: User) -> dict[str, Any]:
    profile = user.patient
    checkins = db.session.scalars(
        select(CheckIn).where(CheckIn.patient_id == user.id).order_by(CheckIn.recorded_at)
    )
    reflections = db.session.scalars(
        select(Reflection).where(Reflection.patient_id == user.id).order_by(Reflection.recorded_at)
    )
    devices = db.session.scalars(select(Device).where(Device.user_id == user.id))
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
        "prompts": [],
        "alerts": [],
    }
