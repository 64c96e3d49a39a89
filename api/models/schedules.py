"""Schedule templates, per-patient schedule settings and dosing sessions.

* ``ScheduleTemplate.rules`` holds the canonical dict form of ``api.domain.schedule.Rule``
  (``rule_to_dict(rule_from_dict(...))``); ``version`` goes up by one on every edit and is copied onto
  the prompts planned from it. Exactly one template is the default (a partial unique index).
* ``PatientSchedule`` rows are created lazily: a patient without a row uses the default template,
  quiet hours 21:30-08:00 and 3 planned dosing sessions (the column defaults below). The row is
  written the first time the care team changes one of these settings.
* ``DosingSession`` rows are never deleted: cancelling sets ``cancelled_at`` (prompts already sent for
  the session stay as history and keep their foreign key). ``session_number`` is unique per patient
  among *non-cancelled* sessions (partial unique index), so a cancelled session 2 can be recorded again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import db
from api.models.types import UtcDateTime, utcnow

DEFAULT_QUIET_START = "21:30"
DEFAULT_QUIET_END = "08:00"
DEFAULT_PLANNED_SESSIONS = 3


class ScheduleTemplate(db.Model):
    __tablename__ = "schedule_templates"
    __table_args__ = (
        # At most one default template.
        Index(
            "uq_schedule_templates_one_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    rules: Mapped[list] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PatientSchedule(db.Model):
    """A patient's schedule settings (created lazily; see the module docstring)."""

    __tablename__ = "patient_schedules"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient_profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    # Null: follow whichever template is the default.
    template_id: Mapped[int | None] = mapped_column(ForeignKey("schedule_templates.id"), index=True)
    # Local wall-clock "HH:MM" in the patient's zone; start == end means no quiet hours.
    quiet_start: Mapped[str] = mapped_column(String(5), default=DEFAULT_QUIET_START)
    quiet_end: Mapped[str] = mapped_column(String(5), default=DEFAULT_QUIET_END)
    # Dosing sessions in the protocol; session number == planned_sessions is the "last" one.
    planned_sessions: Mapped[int] = mapped_column(Integer, default=DEFAULT_PLANNED_SESSIONS)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DosingSession(db.Model):
    __tablename__ = "dosing_sessions"
    __table_args__ = (
        Index(
            "uq_dosing_sessions_active_number",
            "patient_id",
            "session_number",
            unique=True,
            sqlite_where=text("cancelled_at IS NULL"),
            postgresql_where=text("cancelled_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient_profiles.user_id", ondelete="CASCADE"), index=True
    )
    session_number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


__all__ = ["DosingSession", "PatientSchedule", "ScheduleTemplate"]
