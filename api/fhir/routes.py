"""FHIR R4: a patient's record for their care team, and the instruments as Questionnaires."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask_smorest import Blueprint, abort

from api.auth.guards import auth_required, current_user
from api.extensions import db
from api.services.accounts import patient_for_clinician
from api.services.audit import audit
from api.services.fhir import (
    FHIR_JSON,
    instrument_for_questionnaire_id,
    patient_bundle,
    questionnaire_resource,
)
from api.services.instruments import enabled_ids
from schemas.fhir import FhirBundleSchema, FhirQuestionnaireSchema

blp = Blueprint("fhir", __name__, url_prefix="/api/v1", description="FHIR R4 interoperability")


def _fhir(resource: dict[str, Any]) -> Response:
    return Response(json.dumps(resource, ensure_ascii=False), mimetype=FHIR_JSON)


@blp.route("/care/patients/<int:patient_id>/fhir", methods=["GET"])
@auth_required("clinician")
@blp.response(200, FhirBundleSchema, content_type=FHIR_JSON)
def patient_fhir(patient_id: int) -> Response:
    """The patient's record as a FHIR R4 Bundle (type collection)."""
    profile = patient_for_clinician(current_user(), patient_id)
    bundle, counts = patient_bundle(profile)
    detail = ",".join(f"{kind}={n}" for kind, n in counts.items())
    audit("export", "fhir_bundle", patient_id, patient_id=patient_id, detail=detail)
    db.session.commit()
    return _fhir(bundle)


@blp.route("/fhir/Questionnaire/<questionnaire_id>", methods=["GET"])
@auth_required("patient", "clinician", "admin")
@blp.response(200, FhirQuestionnaireSchema, content_type=FHIR_JSON)
def questionnaire(questionnaire_id: str) -> Response:
    """An enabled instrument as a FHIR R4 Questionnaire (id as in /instruments, `_` written `-`)."""
    instrument = instrument_for_questionnaire_id(questionnaire_id)
    if instrument is None or instrument.id not in enabled_ids():
        abort(404, message="No such questionnaire.")
    return _fhir(questionnaire_resource(instrument))
