"""FHIR R4 views of what we hold: instruments as Questionnaires, and a patient's record as a Bundle.

Pure builders over our rows and the instrument catalogue; they return plain JSON-ready dicts (the
tests validate every resource with the ``fhir.resources`` R4B models). Design notes:

* Canonical URLs live under ``CANONICAL_BASE``; a check-in points at the Questionnaire of the
  instrument *version* it answered (``.../Questionnaire/phq9|1.0``).
* FHIR ids allow ``[A-Za-z0-9-.]`` only, so instrument ids map ``_`` to ``-`` (``cssrs-screener``).
* Choice answers are Codings in one code system per instrument (code = the option's value, display
  = its label, plus the R4 ``ordinalValue`` extension carrying the score). Within an instrument a
  value means the same label on every item (checked by a test).
* Bundle entries get stable ``urn:uuid`` full URLs (uuid5 of type and id), and references inside
  the Bundle use them, so a re-export of the same rows produces the same identities.
* Scored totals become Observations coded with LOINC where LOINC has a total-score term (PHQ-9,
  PHQ-2, GAD-7, PCL-5) and always with our own ``.../CodeSystem/scores`` code; WHO-5 (we store the
  0-100 percentage score) and GAD-2 have our code only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from api.domain.instruments import CATALOGUE, Instrument, Item, Option
from api.extensions import db
from api.models import Alert, CheckIn, PatientProfile
from api.models.alerts import ACKNOWLEDGED, OPEN
from api.models.types import utcnow
from api.services.checkins import answers_of

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"
CANONICAL_BASE = "https://integration-companion.example/fhir"
SCORE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/scores"
BAND_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/bands"
ALERT_RULE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/alert-rules"
PATIENT_ID_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/patient-id"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
FLAG_PRIORITY = "http://hl7.org/fhir/StructureDefinition/flag-priority"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_CODES = "http://hl7.org/fhir/flagPriorityCodes"

# LOINC total-score terms (checked against loinc.org; PCL-5 "PTSD PCL-5 score", past-month recall
# like ours). No term is used where we could not confirm one: WHO-5 and GAD-2 carry our code only.
LOINC_TOTALS: dict[str, tuple[str, str]] = {
    "phq9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "phq2": ("55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]"),
    "gad7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
    "pcl5": ("101698-9", "PTSD PCL-5 score [PCL-5]"),
}

_ITEM_TYPES = {
    "choice": "choice",
    "scale": "integer",
    "number": "decimal",
    "text": "string",
    "boolean": "boolean",
}
_PRIORITY = {"urgent": "PH", "high": "PH", "medium": "PM", "low": "PL"}
_PRIORITY_DISPLAY = {"PH": "High priority", "PM": "Medium priority", "PL": "Low priority"}
# Namespace of the uuid5 full URLs of Bundle entries.
_ENTRY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, CANONICAL_BASE)


# --- helpers ---------------------------------------------------------------------------------------


def fhir_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def questionnaire_id(instrument_id: str) -> str:
    """FHIR ids cannot contain underscores."""
    return instrument_id.replace("_", "-")


def instrument_for_questionnaire_id(fhir_id: str) -> Instrument | None:
    for instrument in CATALOGUE.values():
        if fhir_id in (instrument.id, questionnaire_id(instrument.id)):
            return instrument
    return None


def questionnaire_url(instrument_id: str) -> str:
    return f"{CANONICAL_BASE}/Questionnaire/{questionnaire_id(instrument_id)}"


def questionnaire_canonical(instrument_id: str, version: str) -> str:
    return f"{questionnaire_url(instrument_id)}|{version}"


def answer_system(instrument_id: str) -> str:
    return f"{CANONICAL_BASE}/CodeSystem/{questionnaire_id(instrument_id)}-answers"


def _coding(instrument: Instrument, option: Option) -> dict[str, Any]:
    return {
        "extension": [{"url": ORDINAL_VALUE, "valueDecimal": option.value}],
        "system": answer_system(instrument.id),
        "code": str(option.value),
        "display": option.label,
    }


def _number(value: float | None, kind: str) -> dict[str, Any]:
    return {"valueInteger": int(value)} if kind == "integer" else {"valueDecimal": value}


def entry_url(resource_type: str, resource_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ENTRY_NAMESPACE, f'{resource_type}/{resource_id}')}"


def _ref(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": entry_url(resource_type, resource_id)}


# --- Questionnaire ---------------------------------------------------------------------------------


def _enable_when(instrument: Instrument, item: Item) -> list[dict[str, Any]]:
    if item.shown_if is None:
        return []
    controller_id, expected = item.shown_if
    controller = instrument.item(controller_id)
    condition: dict[str, Any] = {"question": controller_id, "operator": "="}
    if controller is not None and controller.kind == "boolean":
        condition["answerBoolean"] = expected == 1
    elif controller is not None and controller.kind == "choice":
        option = next((o for o in controller.options if o.value == expected), Option(expected, str(expected)))
        condition["answerCoding"] = _coding(instrument, option)
    else:
        condition["answerInteger"] = expected
    return [condition]


def _questionnaire_item(instrument: Instrument, item: Item) -> dict[str, Any]:
    kind = _ITEM_TYPES[item.kind]
    body: dict[str, Any] = {"linkId": item.id, "text": item.text, "type": kind, "required": item.required}
    if kind in ("integer", "decimal"):
        body["extension"] = [
            {"url": MIN_VALUE, **_number(item.minimum, kind)},
            {"url": MAX_VALUE, **_number(item.maximum, kind)},
        ]
    if kind == "choice":
        body["answerOption"] = [{"valueCoding": _coding(instrument, o)} for o in item.options]
    if kind == "string" and item.max_length is not None:
        body["maxLength"] = item.max_length
    enable_when = _enable_when(instrument, item)
    if enable_when:
        body["enableWhen"] = enable_when
    return body


def questionnaire_resource(instrument: Instrument) -> dict[str, Any]:
    """The instrument definition as an R4 Questionnaire (one per instrument version)."""
    name = "".join(part[:1].upper() + part[1:] for part in instrument.id.split("_"))
    return {
        "resourceType": "Questionnaire",
        "id": questionnaire_id(instrument.id),
        "url": questionnaire_url(instrument.id),
        "version": instrument.version,
        "name": name,
        "title": instrument.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": instrument.instructions,
        "copyright": instrument.source,
        "item": [_questionnaire_item(instrument, item) for item in instrument.items],
    }


# --- a patient's record ----------------------------------------------------------------------------


def patient_resource(profile: PatientProfile) -> dict[str, Any]:
    """Only what we hold: no birth date, gender or address."""
    user = profile.user
    return {
        "resourceType": "Patient",
        "id": str(profile.user_id),
        "identifier": [{"system": PATIENT_ID_SYSTEM, "value": str(profile.user_id)}],
        "active": bool(user.is_active),
        "name": [{"text": user.display_name}],
        "telecom": [{"system": "email", "value": user.email, "use": "home"}],
    }


def _guess_answer(value: object) -> dict[str, Any] | None:
    """An answer to an item the current catalogue no longer defines: typed by its JSON value."""
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    if isinstance(value, str):
        return {"valueString": value}
    return None


def _answer(instrument: Instrument | None, item: Item | None, value: object) -> dict[str, Any] | None:
    if instrument is None or item is None:
        return _guess_answer(value)
    if item.kind == "choice":
        option = next((o for o in item.options if o.value == value), None)
        return {"valueCoding": _coding(instrument, option)} if option is not None else _guess_answer(value)
    if item.kind == "boolean":
        return {"valueBoolean": value == 1}
    if item.kind == "scale":
        return {"valueInteger": int(value)} if isinstance(value, int | float) else _guess_answer(value)
    if item.kind == "number":
        return {"valueDecimal": value} if isinstance(value, int | float) else _guess_answer(value)
    return {"valueString": str(value)}


def _response_items(instrument: Instrument | None, answers: dict[str, Any]) -> list[dict[str, Any]]:
    order = [item.id for item in instrument.items] if instrument is not None else []
    order += sorted(k for k in answers if k not in order)
    items = []
    for link_id in order:
        value = answers.get(link_id)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # not asked or not answered: FHIR omits items without answers
        item = instrument.item(link_id) if instrument is not None else None
        answer = _answer(instrument, item, value)
        if answer is None:
            continue
        body: dict[str, Any] = {"linkId": link_id}
        if item is not None:
            body["text"] = item.text
        body["answer"] = [answer]
        items.append(body)
    return items


def questionnaire_response(checkin: CheckIn) -> dict[str, Any]:
    instrument = CATALOGUE.get(checkin.instrument_id)
    patient = _ref("Patient", str(checkin.patient_id))
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"checkin-{checkin.id}",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{checkin.client_uuid}"},
        "questionnaire": questionnaire_canonical(checkin.instrument_id, checkin.instrument_version),
        "status": "completed",
        "subject": patient,
        "authored": fhir_instant(checkin.recorded_at),
        "author": patient,
        "source": patient,
        "item": _response_items(instrument, answers_of(checkin)),
    }


def score_code(instrument_id: str) -> dict[str, Any]:
    instrument = CATALOGUE.get(instrument_id)
    title = instrument.title if instrument is not None else instrument_id
    display = f"{title} total score"
    coding = [{"system": SCORE_SYSTEM, "code": f"{instrument_id}-total", "display": display}]
    if instrument_id in LOINC_TOTALS:
        code, loinc_display = LOINC_TOTALS[instrument_id]
        coding.insert(0, {"system": LOINC, "code": code, "display": loinc_display})
    return {"coding": coding, "text": display}


def total_observation(checkin: CheckIn) -> dict[str, Any] | None:
    """The server-computed total of a scored check-in; None for unscored ones (daily, C-SSRS)."""
    if checkin.total is None:
        return None
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"checkin-{checkin.id}-total",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": score_code(checkin.instrument_id),
        "subject": _ref("Patient", str(checkin.patient_id)),
        "effectiveDateTime": fhir_instant(checkin.recorded_at),
        "issued": fhir_instant(checkin.received_at),
        "valueQuantity": {"value": checkin.total, "unit": "{score}", "system": UCUM, "code": "{score}"},
        "derivedFrom": [_ref("QuestionnaireResponse", f"checkin-{checkin.id}")],
    }
    if checkin.band:
        label = (checkin.score or {}).get("band_label") or checkin.band
        observation["interpretation"] = [
            {"coding": [{"system": BAND_SYSTEM, "code": checkin.band, "display": label}], "text": label}
        ]
    return observation


def alert_flag(alert: Alert) -> dict[str, Any]:
    priority = _PRIORITY.get(alert.severity, "PM")
    return {
        "resourceType": "Flag",
        "id": f"alert-{alert.id}",
        "extension": [
            {
                "url": FLAG_PRIORITY,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": FLAG_PRIORITY_CODES,
                            "code": priority,
                            "display": _PRIORITY_DISPLAY[priority],
                        }
                    ],
                    "text": alert.severity,
                },
            }
        ],
        "status": "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
        "code": {"coding": [{"system": ALERT_RULE_SYSTEM, "code": alert.rule}], "text": alert.summary},
        "subject": _ref("Patient", str(alert.patient_id)),
        "period": {"start": fhir_instant(alert.created_at)},
    }


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": entry_url(resource["resourceType"], resource["id"]), "resource": resource}


def collection_bundle(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": fhir_instant(utcnow())},
        "type": "collection",
        "timestamp": fhir_instant(utcnow()),
        "entry": [_entry(r) for r in resources],
    }


def patient_bundle(profile: PatientProfile) -> tuple[dict[str, Any], dict[str, int]]:
    """Everything the care team holds about the patient that FHIR R4 can carry: the Patient, one
    QuestionnaireResponse per check-in, an Observation per scored total, a Flag per unresolved
    alert. Returns (bundle, counts per resource type)."""
    checkins = db.session.scalars(
        select(CheckIn).where(CheckIn.patient_id == profile.user_id).order_by(CheckIn.recorded_at, CheckIn.id)
    ).all()
    alerts = db.session.scalars(
        select(Alert)
        .where(Alert.patient_id == profile.user_id, Alert.state.in_((OPEN, ACKNOWLEDGED)))
        .order_by(Alert.created_at, Alert.id)
    ).all()
    resources = [patient_resource(profile)]
    observations = []
    for checkin in checkins:
        resources.append(questionnaire_response(checkin))
        observation = total_observation(checkin)
        if observation is not None:
            observations.append(observation)
    resources += observations
    resources += [alert_flag(a) for a in alerts]
    counts = {
        "Patient": 1,
        "QuestionnaireResponse": len(checkins),
        "Observation": len(observations),
        "Flag": len(alerts),
    }
    return collection_bundle(resources), counts


__all__ = [
    "CANONICAL_BASE",
    "FHIR_JSON",
    "LOINC_TOTALS",
    "SCORE_SYSTEM",
    "alert_flag",
    "collection_bundle",
    "instrument_for_questionnaire_id",
    "patient_bundle",
    "patient_resource",
    "questionnaire_canonical",
    "questionnaire_resource",
    "questionnaire_response",
    "total_observation",
]
