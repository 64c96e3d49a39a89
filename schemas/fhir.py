"""FHIR resources on the wire. The resources are built as plain FHIR JSON (api.services.fhir) and
returned as application/fhir+json; these schemas only document them in /openapi.json."""

import marshmallow as ma


class FhirResourceSchema(ma.Schema):
    resourceType = ma.fields.String(dump_only=True, metadata={"description": "FHIR R4 resource type"})
    id = ma.fields.String(dump_only=True)


class FhirBundleSchema(FhirResourceSchema):
    type = ma.fields.String(dump_only=True, metadata={"description": "Always `collection`"})
    timestamp = ma.fields.String(dump_only=True)
    entry = ma.fields.List(
        ma.fields.Dict(),
        dump_only=True,
        metadata={
            "description": "fullUrl (urn:uuid) and resource: the Patient, a QuestionnaireResponse per "
            "check-in, an Observation per scored total, a Flag per unresolved alert"
        },
    )


class FhirQuestionnaireSchema(FhirResourceSchema):
    url = ma.fields.String(dump_only=True, metadata={"description": "Canonical URL (versioned with `|`)"})
    version = ma.fields.String(dump_only=True)
    title = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True)
    item = ma.fields.List(ma.fields.Dict(), dump_only=True)
