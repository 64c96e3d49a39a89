"""SQLAlchemy models. The schema itself is only ever changed by a migration in migrations/."""

from api.models.accounts import CareTeam, CareTeamMember, Invite, PatientProfile, User
from api.models.audit import AuditLog
from api.models.auth import RefreshToken
from api.models.checkins import CheckIn, IdempotencyRecord, InstrumentSetting, Reflection
from api.models.devices import Device

__all__ = [
    "AuditLog",
    "CareTeam",
    "CareTeamMember",
    "CheckIn",
    "Device",
    "IdempotencyRecord",
    "InstrumentSetting",
    "Invite",
    "PatientProfile",
    "Reflection",
    "RefreshToken",
    "User",
]
