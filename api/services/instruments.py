"""The instrument catalogue as this deployment serves it (which instruments are enabled)."""

from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import select

from api.domain.instruments import CATALOGUE, Instrument
from api.extensions import db
from api.models import InstrumentSetting
from api.models.types import utcnow
from api.services.audit import audit


def enabled_ids() -> set[str]:
    overrides = {s.instrument_id: s.enabled for s in db.session.scalars(select(InstrumentSetting))}
    return {i for i, inst in CATALOGUE.items() if overrides.get(i, inst.enabled_by_default)}


def enabled_instrument(instrument_id: str) -> Instrument | None:
    instrument = CATALOGUE.get(instrument_id)
    if instrument is None:
        return None
    setting = db.session.get(InstrumentSetting, instrument_id)
    return instrument if (setting.enabled if setting else instrument.enabled_by_default) else None


def set_enabled(instrument_id: str, enabled: bool, admin_id: int) -> None:
    if instrument_id not in CATALOGUE:
        abort(404, message="No such instrument.")
    setting = db.session.get(InstrumentSetting, instrument_id)
    if setting is None:
        setting = InstrumentSetting(instrument_id=instrument_id, enabled=enabled)
        db.session.add(setting)
    setting.enabled, setting.updated_at, setting.updated_by_id = enabled, utcnow(), admin_id
    audit("update", "instrument_setting", instrument_id, detail=f"enabled={enabled}")
    db.session.commit()
