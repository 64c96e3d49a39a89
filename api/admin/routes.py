"""/api/v1/admin: care teams and staff accounts. Admins only."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from api.auth.guards import auth_required
from api.extensions import db
from api.models import CareTeam, User
from api.services.accounts import (
    create_care_team,
    create_staff_user,
    get_care_team,
    update_care_team,
    update_user,
)
from schemas.accounts import (
    CareTeamCreateSchema,
    CareTeamPatchSchema,
    CareTeamSchema,
    StaffCreateSchema,
    UserPatchSchema,
    UserSchema,
)

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin", description="Administration")


@blp.route("/care-teams", methods=["GET"])
@auth_required("admin")
@blp.response(200, CareTeamSchema(many=True))
def list_teams() -> list[CareTeam]:
    return list(db.session.scalars(select(CareTeam).order_by(CareTeam.id)))


@blp.route("/care-teams", methods=["POST"])
@auth_required("admin")
@blp.arguments(CareTeamCreateSchema)
@blp.response(201, CareTeamSchema)
def add_team(body: dict) -> CareTeam:
    return create_care_team(body["name"], body.get("contact_phone"))


@blp.route("/care-teams/<int:team_id>", methods=["GET"])
@auth_required("admin")
@blp.response(200, CareTeamSchema)
def show_team(team_id: int) -> CareTeam:
    return get_care_team(team_id)


@blp.route("/care-teams/<int:team_id>", methods=["PATCH"])
@auth_required("admin")
@blp.arguments(CareTeamPatchSchema, required=False)  # all optional: no body, no change
@blp.response(200, CareTeamSchema)
def patch_team(body: dict, team_id: int) -> CareTeam:
    return update_care_team(get_care_team(team_id), body)


@blp.route("/users", methods=["GET"])
@auth_required("admin")
@blp.response(200, UserSchema(many=True))
def list_users() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role != "patient").order_by(User.id)))


@blp.route("/users", methods=["POST"])
@auth_required("admin")
@blp.arguments(StaffCreateSchema)
@blp.response(201, UserSchema)
def add_user(body: dict) -> User:
    return create_staff_user(body["email"], body["display_name"], body["role"], body["password"])


@blp.route("/users/<int:user_id>", methods=["PATCH"])
@auth_required("admin")
@blp.arguments(UserPatchSchema, required=False)  # all optional: no body, no change
@blp.response(200, UserSchema)
def patch_user(body: dict, user_id: int) -> User:
    return update_user(db.get_or_404(User, user_id, description="No such user."), body)
