"""Users, care teams, patients and devices."""

import marshmallow as ma

from schemas.common import TimeZoneField, email_field, id_field, password_field

ROLES = ("admin", "clinician", "patient")


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    email = ma.fields.String(dump_only=True)
    display_name = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True)
    is_active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)


class MeSchema(UserSchema):
    timezone = ma.fields.String(dump_only=True, allow_none=True)
    care_team_id = ma.fields.Integer(dump_only=True, allow_none=True)
    care_team_ids = ma.fields.List(ma.fields.Integer(), dump_only=True)


class MePatchSchema(ma.Schema):
    timezone = TimeZoneField()
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))


class StaffCreateSchema(ma.Schema):
    email = email_field(required=True)
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(["admin", "clinician"]))
    password = password_field(required=True)


class UserPatchSchema(ma.Schema):
    is_active = ma.fields.Boolean()
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))


class CareTeamCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    contact_phone = ma.fields.String(validate=ma.validate.Length(max=40), allow_none=True)


class CareTeamPatchSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))
    contact_phone = ma.fields.String(validate=ma.validate.Length(max=40), allow_none=True)
    clinician_ids = ma.fields.List(id_field(), validate=ma.validate.Length(max=200))
    on_duty_ids = ma.fields.List(
        id_field(),
        validate=ma.validate.Length(max=200),
        metadata={"description": "Members who receive alerts first"},
    )
    backup_clinician_id = id_field(
        allow_none=True, metadata={"description": "Receives an alert nobody acknowledged"}
    )
    webhook_url = ma.fields.URL(
        allow_none=True, schemes={"https", "http"}, validate=ma.validate.Length(max=500)
    )
    webhook_secret = ma.fields.String(
        load_only=True, allow_none=True, validate=ma.validate.Length(min=16, max=200)
    )


class CareTeamSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    contact_phone = ma.fields.String(allow_none=True)
    clinician_ids = ma.fields.Method("_clinician_ids", dump_only=True)
    on_duty_ids = ma.fields.Method("_on_duty_ids", dump_only=True)
    backup_clinician_id = ma.fields.Integer(dump_only=True, allow_none=True)
    webhook_url = ma.fields.String(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)

    def _clinician_ids(self, team: object) -> list[int]:
        return sorted(m.user_id for m in team.members)

    def _on_duty_ids(self, team: object) -> list[int]:
        return sorted(m.user_id for m in team.members if m.on_duty)


class EnrolSchema(ma.Schema):
    email = email_field(required=True)
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    timezone = TimeZoneField(required=True)
    care_team_id = id_field(allow_none=True)


class PatientSchema(ma.Schema):
    id = ma.fields.Integer(attribute="user_id", dump_only=True)
    email = ma.fields.String(attribute="user.email", dump_only=True)
    display_name = ma.fields.String(attribute="user.display_name", dump_only=True)
    care_team_id = ma.fields.Integer(dump_only=True)
    timezone = ma.fields.String(dump_only=True)
    enrolled_at = ma.fields.DateTime(dump_only=True)
    activated_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class InviteSchema(ma.Schema):
    invite_code = ma.fields.String(dump_only=True, metadata={"description": "One-time code, valid 7 days"})
    invite_expires_at = ma.fields.DateTime(dump_only=True)


class EnrolledSchema(InviteSchema):
    patient = ma.fields.Nested(PatientSchema, dump_only=True)


class DeviceCreateSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=8, max=4096))
    platform = ma.fields.String(required=True, validate=ma.validate.OneOf(["ios", "android", "web"]))


class DeviceSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    platform = ma.fields.String(dump_only=True)
    active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    last_seen_at = ma.fields.DateTime(dump_only=True)
