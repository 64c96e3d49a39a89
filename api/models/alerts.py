"""Alerts to care teams, their history, the delivery outbox, and per-team flag thresholds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.extensions import db
from api.models.types import UtcDateTime, utcnow

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
OUTCOMES = ("contacted", "no_action_needed", "escalated_to_emergency_services", "other")


class Alert(db.Model):
    __tablename__ = "alerts"
    __table_args__ = (
        # Dedupe: one unresolved alert per patient and rule; a second trigger attaches to it. A
        # unique index, so two concurrent submissions cannot both open one.
        Index(
            "uq_alerts_open_rule",
            "patient_id",
            "rule",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
        Index("ix_alerts_team_state", "care_team_id", "state"),
        Index("ix_alerts_escalation", "state", "ack_deadline_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id", ondelete="CASCADE"))
    care_team_id: Mapped[int] = mapped_column(ForeignKey("care_teams.id"))
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(String(300))
    label: Mapped[str | None] = mapped_column(String(80))
    evidence: Mapped[dict] = mapped_column(JSON)
    source_type: Mapped[str | None] = mapped_column(String(20))
    source_id: Mapped[int | None] = mapped_column(Integer)
    trigger_count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_triggered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ack_deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(40))

    events: Mapped[list[AlertEvent]] = relationship(order_by="AlertEvent.id", cascade="all, delete-orphan")
    deliveries: Mapped[list[AlertDelivery]] = relationship(
        order_by="AlertDelivery.id", cascade="all, delete-orphan"
    )


class AlertEvent(db.Model):
    """Every step of an alert's life: created, retriggered, escalated, acknowledged, resolved."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AlertDelivery(db.Model):
    """The outbox: written in the same transaction as the alert, claimed and sent by the worker.
    Each row is one push to one clinician or one webhook call, with its attempts and result."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # push | webhook
    recipient_id: Mapped[int | None] = mapped_column(Integer)  # clinician user id for push
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FlagRuleSetting(db.Model):
    """Per-team overrides of the default flag thresholds (see api.domain.flags.Thresholds)."""

    __tablename__ = "flag_rule_settings"

    care_team_id: Mapped[int] = mapped_column(
        ForeignKey("care_teams.id", ondelete="CASCADE"), primary_key=True
    )
    thresholds: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
