"""What survives a patient's erasure of their alerts: de-identified counts per team, severity and rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import db
from api.models.types import UtcDateTime, utcnow


class ErasedAlertCount(db.Model):
    """Alerts of erased patients, counted (never listed): the alert rows themselves are deleted with
    the patient. One row per (care team, severity, rule), incremented by every erasure."""

    __tablename__ = "erased_alert_counts"

    care_team_id: Mapped[int] = mapped_column(
        ForeignKey("care_teams.id", ondelete="CASCADE"), primary_key=True
    )
    severity: Mapped[str] = mapped_column(String(10), primary_key=True)
    rule: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


__all__ = ["ErasedAlertCount"]
