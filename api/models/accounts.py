"""Accounts, care teams, patient profiles and invites."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.extensions import db
from api.models.types import UtcDateTime, utcnow

ROLES = ("admin", "clinician", "patient")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    # Null until a patient accepts their invite.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    patient: Mapped[PatientProfile | None] = relationship(
        back_populates="user", foreign_keys="PatientProfile.user_id", uselist=False
    )
    team_links: Mapped[list[CareTeamMember]] = relationship(back_populates="user")


class CareTeam(db.Model):
    __tablename__ = "care_teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    backup_clinician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Paging/chat integration: alerts are POSTed here, signed with HMAC-SHA256 of the secret.
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    members: Mapped[list[CareTeamMember]] = relationship(back_populates="team", cascade="all, delete-orphan")


class CareTeamMember(db.Model):
    """A clinician assigned to a care team."""

    __tablename__ = "care_team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("care_teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Alerts go first to the clinicians on duty; escalations to the backup, then the whole team.
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)

    team: Mapped[CareTeam] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="team_links")


class PatientProfile(db.Model):
    __tablename__ = "patient_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    care_team_id: Mapped[int] = mapped_column(ForeignKey("care_teams.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set by an admin (litigation, regulator request): blocks erasure of the patient's data.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="patient", foreign_keys=[user_id])
    care_team: Mapped[CareTeam] = relationship()


class Invite(db.Model):
    """A one-time invite code, stored hashed; used once, expires."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
