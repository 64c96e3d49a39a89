"""/api/v1/admin/patients/{id}: erasure of a patient's data and the legal hold that blocks it."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required
from api.models import PatientProfile
from api.models.types import utcnow
from api.services.erasure import erase_patient, get_patient, set_legal_hold
from schemas.data_rights import (
    ErasureRequestSchema,
    ErasureResultSchema,
    PatientAdminPatchSchema,
    PatientAdminSchema,
)

blp = Blueprint("admin_data_rights", __name__, url_prefix="/api/v1/admin/patients", description="Data rights")


@blp.route("/<int:patient_id>", methods=["PATCH"])
@auth_required("admin")
@blp.arguments(PatientAdminPatchSchema)
@blp.response(200, PatientAdminSchema)
def patch_patient(body: dict, patient_id: int) -> PatientProfile:
    """Set or lift the legal hold."""
    return set_legal_hold(get_patient(patient_id), body["legal_hold"])


@blp.route("/<int:patient_id>", methods=["DELETE"])
@auth_required("admin")
@blp.arguments(ErasureRequestSchema)
@blp.response(200, ErasureResultSchema)
@blp.alt_response(409, description="The patient is under legal hold")
def erase(body: dict, patient_id: int) -> dict:
    """Erase the patient's data (irreversible). Alerts are kept only as de-identified counts; the
    audit log keeps who erased, when, why and how many rows."""
    removed = erase_patient(patient_id, body["reason"].strip())
    return {"patient_id": patient_id, "erased_at": utcnow(), "removed": removed}
