"""/api/v1/me: the signed-in user's profile and push devices."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.extensions import db
from api.models import Device, User
from api.services.accounts import team_ids_of, update_profile
from api.services.audit import audit
from api.services.devices import register_device, remove_device
from schemas.accounts import DeviceCreateSchema, DeviceSchema, MePatchSchema, MeSchema

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The signed-in user")


def _me(user: User) -> dict:
    body = {c: getattr(user, c) for c in ("id", "email", "display_name", "role", "is_active", "created_at")}
    if user.patient:
        body |= {"timezone": user.patient.timezone, "care_team_id": user.patient.care_team_id}
    else:
        body["care_team_ids"] = team_ids_of(user)
    return body


@blp.route("", methods=["GET"])
@auth_required("patient", "clinician", "admin")
@blp.response(200, MeSchema)
def show() -> dict:
    user = current_user()
    if user.role == "patient":
        audit("read", "profile", user.id, patient_id=user.id)
        db.session.commit()
    return _me(user)


@blp.route("", methods=["PATCH"])
@auth_required("patient", "clinician", "admin")
@blp.arguments(MePatchSchema, required=False)  # all optional: no body, no change
@blp.response(200, MeSchema)
def patch(body: dict) -> dict:
    return _me(update_profile(current_user(), body))


@blp.route("/devices", methods=["GET"])
@auth_required("patient", "clinician")
@blp.response(200, DeviceSchema(many=True))
def list_devices() -> list[Device]:
    return list(db.session.query(Device).filter_by(user_id=current_user().id).order_by(Device.id))


@blp.route("/devices", methods=["POST"])
@auth_required("patient", "clinician")
@blp.arguments(DeviceCreateSchema)
@blp.response(201, DeviceSchema)
@blp.alt_response(200, schema=DeviceSchema, description="The token was already registered; refreshed")
def add_device(body: dict) -> tuple[Device, int]:
    device, created = register_device(current_user(), body["token"], body["platform"])
    return device, 201 if created else 200


@blp.route("/devices/<int:device_id>", methods=["DELETE"])
@auth_required("patient", "clinician")
@blp.response(204)
def delete_device(device_id: int) -> None:
    remove_device(current_user(), device_id)
