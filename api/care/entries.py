"""/api/v1/care/patients/{id}: check-ins, reflections and trends of a patient in the clinician's teams."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.services.accounts import patient_for_clinician
from api.services.checkins import checkin_page
from api.services.reflections import reflection_page
from api.services.trends import read_trends
from schemas.checkins import (
    CheckInPageSchema,
    CheckInQuerySchema,
    PageQuerySchema,
    ReflectionPageSchema,
    TrendQuerySchema,
    TrendsSchema,
)

blp = Blueprint(
    "care_entries", __name__, url_prefix="/api/v1/care/patients", description="A patient's entries"
)


@blp.route("/<int:patient_id>/checkins", methods=["GET"])
@auth_required("clinician")
@blp.arguments(CheckInQuerySchema, location="query")
@blp.response(200, CheckInPageSchema)
def patient_checkins(query: dict, patient_id: int) -> dict:
    patient_for_clinician(current_user(), patient_id)
    return checkin_page(patient_id, query)


@blp.route("/<int:patient_id>/trends", methods=["GET"])
@auth_required("clinician")
@blp.arguments(TrendQuerySchema, location="query")
@blp.response(200, TrendsSchema)
def patient_trends(query: dict, patient_id: int) -> dict:
    patient_for_clinician(current_user(), patient_id)
    return read_trends(patient_id, query.get("since"))


@blp.route("/<int:patient_id>/reflections", methods=["GET"])
@auth_required("clinician")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, ReflectionPageSchema)
def patient_reflections(query: dict, patient_id: int) -> dict:
    patient_for_clinician(current_user(), patient_id)
    return reflection_page(patient_id, query.get("cursor"), query["limit"])
