"""/api/v1/instruments: the catalogue the app renders without a release; admins switch instruments."""

from __future__ import annotations

from flask_smorest import Blueprint, abort

from api.auth.guards import auth_required, current_user
from api.domain.instruments import CATALOGUE, instrument_to_dict
from api.services.instruments import enabled_ids, enabled_instrument, set_enabled
from schemas.checkins import InstrumentSchema, InstrumentSettingSchema

blp = Blueprint("instruments", __name__, url_prefix="/api/v1", description="Instruments")


@blp.route("/instruments", methods=["GET"])
@auth_required("patient", "clinician", "admin")
@blp.response(200, InstrumentSchema(many=True))
def list_instruments() -> list[dict]:
    """Enabled instruments (admins see all, with `enabled`)."""
    enabled = enabled_ids()
    visible = CATALOGUE if current_user().role == "admin" else {i: CATALOGUE[i] for i in sorted(enabled)}
    return [instrument_to_dict(inst) | {"enabled": i in enabled} for i, inst in visible.items()]


@blp.route("/instruments/<instrument_id>", methods=["GET"])
@auth_required("patient", "clinician", "admin")
@blp.response(200, InstrumentSchema)
def show_instrument(instrument_id: str) -> dict:
    instrument = enabled_instrument(instrument_id)
    if instrument is None and not (current_user().role == "admin" and instrument_id in CATALOGUE):
        abort(404, message="No such instrument.")
    return instrument_to_dict(CATALOGUE[instrument_id]) | {"enabled": instrument is not None}


@blp.route("/admin/instruments/<instrument_id>", methods=["PATCH"])
@auth_required("admin")
@blp.arguments(InstrumentSettingSchema)
@blp.response(200, InstrumentSchema)
def patch_instrument(body: dict, instrument_id: str) -> dict:
    set_enabled(instrument_id, body["enabled"], current_user().id)
    return instrument_to_dict(CATALOGUE[instrument_id]) | {"enabled": body["enabled"]}
