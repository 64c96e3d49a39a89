"""/api/v1/care/patients/{id}/...: a patient's schedule settings, dosing sessions, prompts, adherence."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.models import Prompt
from api.services.accounts import patient_for_clinician
from api.services.dosing import (
    cancel_session,
    correct_session,
    get_session,
    list_sessions,
    record_session,
    session_body,
)
from api.services.prompts import ledger, read_adherence
from api.services.schedules import read_schedule, update_schedule
from schemas.prompts import AdherenceSchema, CarePromptsQuerySchema, PromptLedgerSchema
from schemas.schedules import (
    DosingSessionCreateSchema,
    DosingSessionPatchSchema,
    DosingSessionResultSchema,
    DosingSessionSchema,
    PatientSchedulePatchSchema,
    PatientScheduleSchema,
)

blp = Blueprint(
    "care_schedules", __name__, url_prefix="/api/v1/care", description="Care team: schedules and prompts"
)


@blp.route("/patients/<int:patient_id>/schedule", methods=["GET"])
@auth_required("clinician")
@blp.response(200, PatientScheduleSchema)
def show_schedule(patient_id: int) -> dict:
    return read_schedule(patient_for_clinician(current_user(), patient_id))


@blp.route("/patients/<int:patient_id>/schedule", methods=["PATCH"])
@auth_required("clinician")
@blp.arguments(PatientSchedulePatchSchema, required=False)  # all optional: no body, no change
@blp.response(200, PatientScheduleSchema)
def patch_schedule(body: dict, patient_id: int) -> dict:
    """Template, quiet hours, planned sessions; re-plans the patient's unsent prompts."""
    return update_schedule(current_user(), patient_for_clinician(current_user(), patient_id), body)


@blp.route("/patients/<int:patient_id>/dosing-sessions", methods=["GET"])
@auth_required("clinician")
@blp.response(200, DosingSessionSchema(many=True))
def list_dosing_sessions(patient_id: int) -> list:
    return list_sessions(patient_for_clinician(current_user(), patient_id))


@blp.route("/patients/<int:patient_id>/dosing-sessions", methods=["POST"])
@auth_required("clinician")
@blp.arguments(DosingSessionCreateSchema)
@blp.response(201, DosingSessionResultSchema)
def add_dosing_session(body: dict, patient_id: int) -> dict:
    """Record a dosing session; all its prompts are planned at once."""
    profile = patient_for_clinician(current_user(), patient_id)
    session, planned = record_session(current_user(), profile, body["session_number"], body["started_at"])
    return session_body(session, planned_prompts=planned)


@blp.route("/patients/<int:patient_id>/dosing-sessions/<int:session_id>", methods=["PATCH"])
@auth_required("clinician")
@blp.arguments(DosingSessionPatchSchema)
@blp.response(200, DosingSessionResultSchema)
def patch_dosing_session(body: dict, patient_id: int, session_id: int) -> dict:
    """Correct the start time; unsent prompts are re-planned, sent ones stay as they were."""
    session = get_session(patient_for_clinician(current_user(), patient_id), session_id)
    session, replanned = correct_session(session, body["started_at"])
    return session_body(session, replanned=replanned)


@blp.route("/patients/<int:patient_id>/dosing-sessions/<int:session_id>", methods=["DELETE"])
@auth_required("clinician")
@blp.response(200, DosingSessionResultSchema)
def delete_dosing_session(patient_id: int, session_id: int) -> dict:
    """Cancel the session (kept, with cancelled_at); its unsent prompts are cancelled."""
    session = get_session(patient_for_clinician(current_user(), patient_id), session_id)
    session, cancelled = cancel_session(session)
    return session_body(session, cancelled_prompts=cancelled)


@blp.route("/patients/<int:patient_id>/prompts", methods=["GET"])
@auth_required("clinician")
@blp.arguments(CarePromptsQuerySchema, location="query")
@blp.response(200, PromptLedgerSchema(many=True))
def list_prompts(query: dict, patient_id: int) -> list[Prompt]:
    """The prompt ledger with every timestamp, in due order."""
    patient_for_clinician(current_user(), patient_id)
    return ledger(
        patient_id, query.get("state"), query.get("dosing_session_id"), query["limit"], query["offset"]
    )


@blp.route("/patients/<int:patient_id>/adherence", methods=["GET"])
@auth_required("clinician")
@blp.response(200, AdherenceSchema)
def show_adherence(patient_id: int) -> dict:
    """Last 7 and 28 days: due, sent, completed, expired, open, completion rate."""
    patient_for_clinician(current_user(), patient_id)
    return read_adherence(patient_id)
