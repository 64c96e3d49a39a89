"""FHIR R4: a patient's Bundle for the care team and the instruments as Questionnaires, validated
with the fhir.resources R4B models (R4-compatible), not only with our own schemas."""

from collections import Counter
from datetime import datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire

from api.domain.instruments import CATALOGUE
from api.extensions import db
from api.models import Alert, AuditLog, CheckIn
from api.services.fhir import CANONICAL_BASE, SCORE_SYSTEM, questionnaire_id
from api.services.instruments import enabled_ids
from tests.api.data_rights_helpers import NOTE, build_record

ENABLED = {"daily", "phq9", "phq2", "gad7", "gad2", "pcl5", "who5"}
LOINC = "http://loinc.org"


def bundle_url(patient):
    return f"/api/v1/care/patients/{patient.id}/fhir"


def validate(resource: dict):
    """Validate with the R4B model of its type (pydantic; unknown fields and bad ids are errors)."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.fixture
def exported(client, world):
    record = build_record(client, world)
    r = client.get(bundle_url(world.patient_a), headers=world.headers(world.clinician_a))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/fhir+json"
    return record, r.json


def by_type(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def test_every_resource_of_the_bundle_validates(exported):
    record, bundle = exported
    assert set(record.checkin_ids) == ENABLED == enabled_ids()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    for entry in bundle["entry"]:
        validate(entry["resource"])
    counts = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    checkins = db.session.query(CheckIn).filter_by(patient_id=record.patient.id).count()
    scored = db.session.query(CheckIn).filter(CheckIn.total.is_not(None)).count()
    unresolved = db.session.query(Alert).filter(Alert.state != "resolved").count()
    assert (checkins, scored, unresolved) == (7, 6, 1)
    assert counts == {"Patient": 1, "QuestionnaireResponse": 7, "Observation": 6, "Flag": 1}


def test_references_resolve_inside_the_bundle(exported):
    _, bundle = exported
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(url.startswith("urn:uuid:") for url in full_urls) and len(full_urls) == len(bundle["entry"])

    def references(node):
        if isinstance(node, dict):
            if "reference" in node:
                yield node["reference"]
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    refs = list(references(bundle["entry"]))
    assert refs and set(refs) <= full_urls


def test_patient_carries_only_what_we_hold(exported, world):
    _, bundle = exported
    (patient,) = by_type(bundle)["Patient"]
    assert patient["id"] == str(world.patient_a.id)
    assert patient["name"] == [{"text": world.patient_a.display_name}]
    assert patient["telecom"][0] == {"system": "email", "value": "pat.a@example.org", "use": "home"}
    assert not {"birthDate", "gender", "address"} & set(patient)


def test_questionnaire_responses_carry_typed_answers(exported):
    record, bundle = exported
    responses = {r["id"]: r for r in by_type(bundle)["QuestionnaireResponse"]}
    phq9 = responses[f"checkin-{record.checkin_ids['phq9']}"]
    assert phq9["questionnaire"] == f"{CANONICAL_BASE}/Questionnaire/phq9|1.0"
    assert phq9["status"] == "completed"
    row = db.session.get(CheckIn, record.checkin_ids["phq9"])
    assert datetime.fromisoformat(phq9["authored"]) == row.recorded_at
    answers = {i["linkId"]: i["answer"][0] for i in phq9["item"]}
    assert list(answers) == [f"q{n}" for n in range(1, 10)]
    assert answers["q9"]["valueCoding"]["code"] == "2"
    assert answers["q9"]["valueCoding"]["display"] == "More than half the days"
    assert answers["q9"]["valueCoding"]["extension"][0]["valueDecimal"] == 2

    daily = {i["linkId"]: i["answer"][0] for i in responses[f"checkin-{record.checkin_ids['daily']}"]["item"]}
    assert daily["mood"] == {"valueInteger": 5}
    assert daily["hours_slept"] == {"valueDecimal": 7.5}
    assert daily["sleep_quality"]["valueCoding"]["code"] == "1"
    # The note is stored encrypted and exported decrypted.
    assert daily["note"] == {"valueString": NOTE}


def test_scored_totals_are_observations(exported):
    record, bundle = exported
    observations = {o["id"]: o for o in by_type(bundle)["Observation"]}
    qr_urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    expected_loinc = {"phq9": "44261-6", "phq2": "55758-7", "gad7": "70274-6", "pcl5": "101698-9"}
    for instrument_id, checkin_id in record.checkin_ids.items():
        row = db.session.get(CheckIn, checkin_id)
        observation = observations.get(f"checkin-{checkin_id}-total")
        if instrument_id == "daily":
            assert observation is None
            continue
        codes = {(c["system"], c["code"]) for c in observation["code"]["coding"]}
        assert (SCORE_SYSTEM, f"{instrument_id}-total") in codes
        loinc = {code for system, code in codes if system == LOINC}
        assert loinc == ({expected_loinc[instrument_id]} if instrument_id in expected_loinc else set())
        assert observation["category"][0]["coding"][0]["code"] == "survey"
        assert observation["valueQuantity"]["value"] == row.total
        assert datetime.fromisoformat(observation["effectiveDateTime"]) == row.recorded_at
        assert observation["derivedFrom"] == [{"reference": qr_urls[f"checkin-{checkin_id}"]}]
    phq9 = observations[f"checkin-{record.checkin_ids['phq9']}-total"]
    assert (
        phq9["valueQuantity"]["value"] == 10 and phq9["interpretation"][0]["coding"][0]["code"] == "moderate"
    )


def test_unresolved_alerts_are_flags(exported):
    _, bundle = exported
    (flag,) = by_type(bundle)["Flag"]
    alert = db.session.query(Alert).filter_by(state="open").one()
    assert alert.rule == "phq9_item9"
    assert flag["status"] == "active"
    assert flag["category"][0]["coding"][0]["code"] == "clinical"
    assert flag["code"]["text"] == alert.summary
    assert datetime.fromisoformat(flag["period"]["start"]) == alert.created_at


def test_acknowledged_alerts_stay_flags(client, world):
    build_record(client, world)
    alert = db.session.query(Alert).filter_by(state="open").one()
    r = client.post(f"/api/v1/care/alerts/{alert.id}/acknowledge", headers=world.headers(world.clinician_a))
    assert r.status_code == 200
    bundle = client.get(bundle_url(world.patient_a), headers=world.headers(world.clinician_a)).json
    assert [r["id"] for r in by_type(bundle)["Flag"]] == [f"alert-{alert.id}"]


def test_export_is_audited_and_limited_to_the_care_team(client, world):
    build_record(client, world)
    other = client.get(bundle_url(world.patient_a), headers=world.headers(world.clinician_b))
    assert other.status_code == 404
    assert client.get(bundle_url(world.patient_a), headers=world.headers(world.patient_a)).status_code == 403
    assert client.get(bundle_url(world.patient_a)).status_code == 401
    assert db.session.query(AuditLog).filter_by(action="export").count() == 0
    r = client.get(bundle_url(world.patient_a), headers=world.headers(world.clinician_a))
    assert r.status_code == 200
    row = db.session.query(AuditLog).filter_by(action="export", resource_type="fhir_bundle").one()
    assert (row.actor_id, row.patient_id) == (world.clinician_a.id, world.patient_a.id)
    assert "QuestionnaireResponse=7" in row.detail


def test_a_patient_without_entries_is_a_bundle_of_one(client, world):
    r = client.get(bundle_url(world.patient_b), headers=world.headers(world.clinician_b))
    assert r.status_code == 200
    Bundle.model_validate(r.json)
    assert [e["resource"]["resourceType"] for e in r.json["entry"]] == ["Patient"]


@pytest.mark.parametrize("instrument_id", sorted(ENABLED))
def test_enabled_instruments_are_questionnaires(client, world, instrument_id):
    instrument = CATALOGUE[instrument_id]
    r = client.get(f"/api/v1/fhir/Questionnaire/{instrument_id}", headers=world.headers(world.patient_a))
    assert r.status_code == 200 and r.mimetype == "application/fhir+json"
    Questionnaire.model_validate(r.json)
    assert r.json["url"] == f"{CANONICAL_BASE}/Questionnaire/{instrument_id}"
    assert r.json["version"] == instrument.version and r.json["status"] == "active"
    items = r.json["item"]
    assert [i["linkId"] for i in items] == [i.id for i in instrument.items]
    assert [i["text"] for i in items] == [i.text for i in instrument.items]
    kinds = {
        "choice": "choice",
        "scale": "integer",
        "number": "decimal",
        "text": "string",
        "boolean": "boolean",
    }
    for item, body in zip(instrument.items, items, strict=True):
        assert body["type"] == kinds[item.kind]
        if item.kind == "choice":
            assert [
                (o["valueCoding"]["code"], o["valueCoding"]["display"]) for o in body["answerOption"]
            ] == [(str(o.value), o.label) for o in item.options]
        else:
            assert "answerOption" not in body


def test_questionnaire_answer_codes_match_the_responses(client, world):
    """A response's valueCoding is one of the answerOptions of the Questionnaire it points at."""
    record = build_record(client, world)
    bundle = client.get(bundle_url(world.patient_a), headers=world.headers(world.clinician_a)).json
    for response in by_type(bundle)["QuestionnaireResponse"]:
        url, version = response["questionnaire"].split("|")
        q = client.get(
            f"/api/v1/fhir/Questionnaire/{url.rsplit('/', 1)[1]}", headers=world.headers(world.admin)
        )
        assert (q.json["url"], q.json["version"]) == (url, version)
        options = {i["linkId"]: i.get("answerOption", []) for i in q.json["item"]}
        for item in response["item"]:
            coding = item["answer"][0].get("valueCoding")
            if coding:
                assert coding in [o["valueCoding"] for o in options[item["linkId"]]]
    assert record.checkin_ids


def test_answer_codes_mean_one_label_per_instrument():
    """Answer codes are per instrument (code = option value): one value must mean one label."""
    for instrument in CATALOGUE.values():
        labels: dict[int, set[str]] = {}
        for item in instrument.items:
            if item.kind == "choice":
                for option in item.options:
                    labels.setdefault(option.value, set()).add(option.label)
        assert all(len(v) == 1 for v in labels.values()), instrument.id


def test_disabled_and_unknown_questionnaires_are_404(client, world):
    h = world.headers(world.clinician_a)
    assert client.get("/api/v1/fhir/Questionnaire/cssrs-screener", headers=h).status_code == 404
    assert client.get("/api/v1/fhir/Questionnaire/bdi", headers=h).status_code == 404
    r = client.patch(
        "/api/v1/admin/instruments/cssrs_screener", json={"enabled": True}, headers=world.headers(world.admin)
    )
    assert r.status_code == 200
    r = client.get("/api/v1/fhir/Questionnaire/cssrs-screener", headers=h)
    assert r.status_code == 200
    Questionnaire.model_validate(r.json)
    assert r.json["id"] == questionnaire_id("cssrs_screener") == "cssrs-screener"
    q3 = next(i for i in r.json["item"] if i["linkId"] == "q3")
    assert q3["type"] == "boolean"
    assert q3["enableWhen"] == [{"question": "q2", "operator": "=", "answerBoolean": True}]
