"""Erasure and legal hold of a patient (admins)."""

import marshmallow as ma

from api.services.erasure import REASON_MAX_LENGTH


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("Must not be blank.")


class ErasureRequestSchema(ma.Schema):
    reason = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=3, max=REASON_MAX_LENGTH), _not_blank],
        metadata={
            "description": "Why the data is erased (kept in the audit log, e.g. the request reference)"
        },
    )


class ErasureResultSchema(ma.Schema):
    patient_id = ma.fields.Integer(dump_only=True)
    erased_at = ma.fields.DateTime(dump_only=True)
    removed = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        dump_only=True,
        metadata={"description": "Rows removed per kind; alerts are kept only as de-identified counts"},
    )


class PatientAdminPatchSchema(ma.Schema):
    legal_hold = ma.fields.Boolean(
        required=True, metadata={"description": "While true, the patient's data cannot be erased"}
    )


class PatientAdminSchema(ma.Schema):
    id = ma.fields.Integer(attribute="user_id", dump_only=True)
    care_team_id = ma.fields.Integer(dump_only=True)
    legal_hold = ma.fields.Boolean(dump_only=True)
    enrolled_at = ma.fields.DateTime(dump_only=True)
