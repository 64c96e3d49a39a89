"""/api/v1/care: a clinician's view of the patients of their own care teams."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.extensions import db
from api.models import PatientProfile
from api.services.accounts import enrol_patient, patient_for_clinician, patients_visible_to, reissue_invite
from api.services.audit import audit
from schemas.accounts import EnrolledSchema, EnrolSchema, InviteSchema, PatientSchema

blp = Blueprint("care", __name__, url_prefix="/api/v1/care", description="Care team")


@blp.route("/patients", methods=["GET"])
@auth_required("clinician")
@blp.response(200, PatientSchema(many=True))
def list_patients() -> list[PatientProfile]:
    patients = patients_visible_to(current_user())
    audit("list", "patient", detail=f"count={len(patients)}")
    db.session.commit()
    return patients


@blp.route("/patients", methods=["POST"])
@auth_required("clinician")
@blp.arguments(EnrolSchema)
@blp.response(201, EnrolledSchema)
def enrol(body: dict) -> dict:
    user, code, invite = enrol_patient(
        current_user(), body["email"], body["display_name"], body["timezone"], body.get("care_team_id")
    )
    return {"patient": user.patient, "invite_code": code, "invite_expires_at": invite.expires_at}


@blp.route("/patients/<int:patient_id>", methods=["GET"])
@auth_required("clinician")
@blp.response(200, PatientSchema)
def show_patient(patient_id: int) -> PatientProfile:
    profile = patient_for_clinician(current_user(), patient_id)
    audit("read", "patient", patient_id, patient_id=patient_id)
    db.session.commit()
    return profile


@blp.route("/patients/<int:patient_id>/invite", methods=["POST"])
@auth_required("clinician")
@blp.response(201, InviteSchema)
def new_invite(patient_id: int) -> dict:
    profile = patient_for_clinician(current_user(), patient_id)
    code, invite = reissue_invite(profile.user)
    return {"invite_code": code, "invite_expires_at": invite.expires_at}
