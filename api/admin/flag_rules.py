"""/api/v1/admin/flag-rules: per-team thresholds of the flag rules (validated, audited)."""

from __future__ import annotations

from flask_smorest import Blueprint, abort
from sqlalchemy import select

from api.auth.guards import auth_required, current_user
from api.domain.flags import thresholds_from_dict, thresholds_to_dict, validate_thresholds
from api.extensions import db
from api.models import CareTeam, FlagRuleSetting
from api.models.types import utcnow
from api.services.accounts import get_care_team
from api.services.audit import audit
from schemas.alerts import FlagRulesSchema

blp = Blueprint("admin_flag_rules", __name__, url_prefix="/api/v1/admin/flag-rules", description="Flag rules")


def _view(team_id: int, overrides: dict) -> dict:
    return {
        "care_team_id": team_id,
        "thresholds": overrides,
        "effective": thresholds_to_dict(thresholds_from_dict(overrides)),
    }


@blp.route("", methods=["GET"])
@blp.response(200, FlagRulesSchema(many=True))
@auth_required("admin")
def list_flag_rules() -> list[dict]:
    settings = {s.care_team_id: s.thresholds for s in db.session.scalars(select(FlagRuleSetting))}
    return [
        _view(t, settings.get(t, {})) for t in db.session.scalars(select(CareTeam.id).order_by(CareTeam.id))
    ]


@blp.route("/<int:team_id>", methods=["GET"])
@blp.response(200, FlagRulesSchema)
@auth_required("admin")
def show_flag_rules(team_id: int) -> dict:
    get_care_team(team_id)
    setting = db.session.get(FlagRuleSetting, team_id)
    return _view(team_id, setting.thresholds if setting else {})


@blp.route("/<int:team_id>", methods=["PUT"])
@blp.arguments(FlagRulesSchema)
@blp.response(200, FlagRulesSchema)
@auth_required("admin")
def put_flag_rules(body: dict, team_id: int) -> dict:
    get_care_team(team_id)
    errors = validate_thresholds(body["thresholds"])
    if errors:
        abort(422, errors={"json": {"thresholds": errors}})
    setting = db.session.get(FlagRuleSetting, team_id) or FlagRuleSetting(care_team_id=team_id)
    before = dict(setting.thresholds or {})
    setting.thresholds, setting.updated_at, setting.updated_by_id = (
        body["thresholds"],
        utcnow(),
        current_user().id,
    )
    db.session.add(setting)
    changed = sorted(
        k for k in set(before) | set(body["thresholds"]) if before.get(k) != body["thresholds"].get(k)
    )
    audit("update", "flag_rules", team_id, detail=f"changed={','.join(changed)}"[:500])
    db.session.commit()
    return _view(team_id, setting.thresholds)
