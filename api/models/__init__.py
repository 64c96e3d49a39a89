"""SQLAlchemy models. The schema itself is only ever changed by a migration in migrations/."""

from api.models.accounts import CareTeam, CareTeamMember, Invite, PatientProfile, User
from api.models.alerts import Alert, AlertDelivery, AlertEvent, FlagRuleSetting
from api.models.audit import AuditLog
from api.models.auth import RefreshToken
from api.models.checkins import CheckIn, IdempotencyRecord, InstrumentSetting, Reflection
from api.models.data_rights import ErasedAlertCount
from api.models.devices import Device
from api.models.prompts import Prompt
from api.models.schedules import DosingSession, PatientSchedule, ScheduleTemplate
from api.models.worker import WorkerHeartbeat

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertEvent",
    "AuditLog",
    "CareTeam",
    "CareTeamMember",
    "CheckIn",
    "Device",
    "DosingSession",
    "ErasedAlertCount",
    "FlagRuleSetting",
    "IdempotencyRecord",
    "InstrumentSetting",
    "Invite",
    "PatientProfile",
    "PatientSchedule",
    "Prompt",
    "Reflection",
    "RefreshToken",
    "ScheduleTemplate",
    "User",
    "WorkerHeartbeat",
]
