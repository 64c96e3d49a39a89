"""Check-ins, reflections, idempotency records and instrument settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import db
from api.models.types import UtcDateTime, utcnow


class CheckIn(db.Model):
    """One instrument response. Scores are computed on the server and stored with it."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("patient_id", "client_uuid"),
        Index("ix_checkins_patient_recorded", "patient_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id", ondelete="CASCADE"))
    client_uuid: Mapped[str] = mapped_column(String(36))
    instrument_id: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[str] = mapped_column(String(16))
    answers: Mapped[dict] = mapped_column(JSON)
    # Free text of a daily check-in note, encrypted like reflections; never inside `answers`.
    note_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    total: Mapped[int | None] = mapped_column(Integer)
    band: Mapped[str | None] = mapped_column(String(40))
    score: Mapped[dict] = mapped_column(JSON)
    prompt_id: Mapped[int | None] = mapped_column(Integer, index=True)
    prompt_error: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Reflection(db.Model):
    """Free text, encrypted at rest (Fernet); the database never holds the plain text."""

    __tablename__ = "reflections"
    __table_args__ = (
        UniqueConstraint("patient_id", "client_uuid"),
        Index("ix_reflections_patient_recorded", "patient_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id", ondelete="CASCADE"))
    client_uuid: Mapped[str] = mapped_column(String(36))
    text_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    tags: Mapped[list] = mapped_column(JSON)
    prompt_id: Mapped[int | None] = mapped_column(Integer, index=True)
    prompt_error: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IdempotencyRecord(db.Model):
    """The first response to a (user, Idempotency-Key), replayed for retries. The unique constraint,
    not a read-then-write check, is what stops a concurrent retry from executing twice."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class InstrumentSetting(db.Model):
    """Per-deployment switch for an instrument (e.g. the licensed C-SSRS screener is off by default)."""

    __tablename__ = "instrument_settings"

    instrument_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)


__all__ = ["CheckIn", "IdempotencyRecord", "InstrumentSetting", "Reflection"]
