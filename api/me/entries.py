"""/api/v1/me: a patient's check-ins, reflections, trends and data export."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.extensions import db
from api.services.audit import audit
from api.services.checkins import checkin_page
from api.services.export import export_patient
from api.services.idempotency import Outcome
from api.services.reflections import reflection_page
from api.services.submissions import submit_batch, submit_entry
from api.services.trends import read_trends
from schemas.checkins import (
    BatchResultSchema,
    BatchSchema,
    CheckInCreateSchema,
    CheckInPageSchema,
    CheckInQuerySchema,
    CheckInSchema,
    ExportSchema,
    IdempotencyHeaderSchema,
    PageQuerySchema,
    ReflectionCreateSchema,
    ReflectionPageSchema,
    ReflectionSchema,
    TrendQuerySchema,
    TrendsSchema,
)

blp = Blueprint("me_entries", __name__, url_prefix="/api/v1/me", description="A patient's own entries")

RETRY_NOTE = "Retries with the same Idempotency-Key and body return the original response."

# Instances, not classes, for the submission endpoints (the busiest of the API): given a class, webargs
# builds a new schema on every request.
IDEMPOTENCY_HEADER = IdempotencyHeaderSchema()


def _reply(outcome: Outcome) -> Response:
    response = jsonify(outcome.body)
    response.status_code = outcome.status
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/checkins", methods=["POST"])
@auth_required("patient")
@blp.arguments(IDEMPOTENCY_HEADER, location="headers", as_kwargs=True)
@blp.arguments(CheckInCreateSchema())
@blp.response(201, CheckInSchema, description=f"Stored. {RETRY_NOTE}")
@blp.alt_response(200, schema=CheckInSchema, description="This client_uuid was already stored")
@blp.alt_response(422, description="Invalid fields, or the Idempotency-Key was used with another body")
def post_checkin(data: dict, idempotency_key: str) -> Response:
    return _reply(
        submit_entry(current_user(), "checkin", idempotency_key, request.path, request.get_json(), data)
    )


@blp.route("/checkins:batch", methods=["POST"])
@auth_required("patient")
@blp.arguments(IDEMPOTENCY_HEADER, location="headers", as_kwargs=True)
@blp.arguments(BatchSchema())
@blp.response(200, BatchResultSchema, description="One result per entry; each succeeds or fails on its own")
def post_batch(data: dict, idempotency_key: str) -> Response:
    return _reply(submit_batch(current_user(), idempotency_key, request.path, request.get_json()))


@blp.route("/checkins", methods=["GET"])
@auth_required("patient")
@blp.arguments(CheckInQuerySchema, location="query")
@blp.response(200, CheckInPageSchema)
def get_checkins(query: dict) -> dict:
    return checkin_page(current_user().id, query)


@blp.route("/trends", methods=["GET"])
@auth_required("patient")
@blp.arguments(TrendQuerySchema, location="query")
@blp.response(200, TrendsSchema)
def get_trends(query: dict) -> dict:
    return read_trends(current_user().id, query.get("since"))


@blp.route("/reflections", methods=["POST"])
@auth_required("patient")
@blp.arguments(IDEMPOTENCY_HEADER, location="headers", as_kwargs=True)
@blp.arguments(ReflectionCreateSchema())
@blp.response(201, ReflectionSchema, description=f"Stored, encrypted at rest. {RETRY_NOTE}")
@blp.alt_response(200, schema=ReflectionSchema, description="This client_uuid was already stored")
def post_reflection(data: dict, idempotency_key: str) -> Response:
    return _reply(
        submit_entry(current_user(), "reflection", idempotency_key, request.path, request.get_json(), data)
    )


@blp.route("/reflections", methods=["GET"])
@auth_required("patient")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, ReflectionPageSchema)
def get_reflections(query: dict) -> dict:
    return reflection_page(current_user().id, query.get("cursor"), query["limit"])


@blp.route("/export", methods=["GET"])
@auth_required("patient")
@blp.response(200, ExportSchema)
def get_export() -> dict:
    user = current_user()
    audit("export", "patient", user.id, patient_id=user.id)
    db.session.commit()
    return export_patient(user)
