"""Push device registrations."""

from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import select

from api.extensions import db
from api.models import Device, User
from api.models.types import utcnow
from api.services.audit import audit


def register_device(user: User, token: str, platform: str) -> tuple[Device, bool]:
    """Register or refresh a token. A token re-registered by another user moves to that user:
    the phone changed hands or accounts, and pushes must follow the signed-in account."""
    now = utcnow()
    device = db.session.execute(
        select(Device).where(Device.token == token).with_for_update()
    ).scalar_one_or_none()
    created = device is None
    if created:
        device = Device(user_id=user.id, token=token, platform=platform, created_at=now)
        db.session.add(device)
    else:
        device.user_id = user.id
        device.platform = platform
    device.active, device.deactivated_at, device.deactivation_reason = True, None, None
    device.last_seen_at = now
    db.session.flush()
    audit("register", "device", device.id, patient_id=user.id if user.role == "patient" else None)
    db.session.commit()
    return device, created


def remove_device(user: User, device_id: int) -> None:
    device = db.session.get(Device, device_id)
    if device is None or device.user_id != user.id:
        abort(404, message="No such device.")
    audit("delete", "device", device.id, patient_id=user.id if user.role == "patient" else None)
    db.session.delete(device)
    db.session.commit()
