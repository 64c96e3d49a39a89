"""/api/v1/admin/flag-rules: per-team thresholds of the flag rules (validated, audited)."""

from __future__ import annotations

from flask_smorest import Blueprint, abort
from sqlalchemy import select

from api.auth.guards import auth_required, current_user
from api.extensions import db
from api.models import CareTeam
from api.services.accounts import get_care_team
from api.services.flag_rules import flag_rules_view, save_flag_rules
from schemas.alerts import FlagRulesSchema

blp = Blueprint("admin_flag_rules", __name__, url_prefix="/api/v1/admin/flag-rules", description="Flag rules")


@blp.route("", methods=["GET"])
@auth_required("admin")
@blp.response(200, FlagRulesSchema(many=True))
def list_flag_rules() -> list[dict]:
    return [flag_rules_view(t) for t in db.session.scalars(select(CareTeam.id).order_by(CareTeam.id))]


@blp.route("/<int:team_id>", methods=["GET"])
@auth_required("admin")
@blp.response(200, FlagRulesSchema)
def show_flag_rules(team_id: int) -> dict:
    get_care_team(team_id)
    return flag_rules_view(team_id)


@blp.route("/<int:team_id>", methods=["PUT"])
@auth_required("admin")
@blp.arguments(FlagRulesSchema)
@blp.response(200, FlagRulesSchema)
def put_flag_rules(body: dict, team_id: int) -> dict:
    get_care_team(team_id)
    errors = save_flag_rules(team_id, body["thresholds"], current_user())
    if errors:
        abort(422, errors={"json": {"thresholds": errors}})
    return flag_rules_view(team_id)
