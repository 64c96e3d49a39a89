"""Per-instrument series for the app's and the console's charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from api.domain.instruments import CATALOGUE
from api.extensions import db
from api.models import CheckIn, DosingSession
from api.models.types import utcnow
from api.services.audit import audit

DAILY_SERIES = ("mood", "anxiety", "hours_slept", "sleep_quality", "energy")
DEFAULT_WINDOW = timedelta(days=90)


def trends(patient_id: int, since: datetime | None = None) -> dict[str, Any]:
    since = since or utcnow() - DEFAULT_WINDOW
    rows = db.session.execute(
        select(CheckIn.instrument_id, CheckIn.answers, CheckIn.total, CheckIn.band, CheckIn.recorded_at)
        .where(CheckIn.patient_id == patient_id, CheckIn.recorded_at >= since)
        .order_by(CheckIn.recorded_at, CheckIn.id)
    ).all()
    series: dict[str, list[dict[str, Any]]] = {}
    for instrument_id, answers, total, band, at in rows:
        if instrument_id == "daily":
            for item in DAILY_SERIES:
                if answers.get(item) is not None:
                    series.setdefault(f"daily.{item}", []).append({"t": at, "v": answers[item], "band": None})
        elif total is not None:
            series.setdefault(f"{instrument_id}.total", []).append({"t": at, "v": total, "band": band})
    bands = {
        i: {
            "range": inst.total_range,
            "bands": [{"minimum": b.minimum, "label": b.label} for b in inst.bands],
        }
        for i, inst in CATALOGUE.items()
        if inst.bands
    }
    doses = db.session.scalars(
        select(DosingSession.started_at)
        .where(DosingSession.patient_id == patient_id, DosingSession.cancelled_at.is_(None))
        .order_by(DosingSession.started_at)
    ).all()
    return {"since": since, "series": series, "bands": bands, "dosing_sessions": list(doses)}


def read_trends(patient_id: int, since: datetime | None) -> dict[str, Any]:
    """`trends` for the patient or their care team; the read is audited."""
    audit("read", "trends", patient_id=patient_id)
    db.session.commit()
    return trends(patient_id, since)
