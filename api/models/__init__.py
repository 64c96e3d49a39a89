"""SQLAlchemy models. The schema itself is only ever changed by a migration in migrations/."""

from api.models.accounts import CareTeam, CareTeamMember, Invite, PatientProfile, User
from api.models.audit import AuditLog
from api.models.auth import RefreshToken
from api.models.devices import Device

__all__ = [
    "AuditLog",
    "CareTeam",
    "CareTeamMember",
    "Device",
    "Invite",
    "PatientProfile",
    "RefreshToken",
    "User",
]
