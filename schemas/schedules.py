"""Schedule templates, a patient's schedule settings and dosing sessions."""

import marshmallow as ma

from schemas.common import AwareDateTime, TimeZoneField, id_field

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def hhmm_field(**kwargs: object) -> ma.fields.String:
    return ma.fields.String(
        validate=ma.validate.Regexp(HHMM, error="Must be a time in HH:MM format (00:00-23:59)."),
        metadata={"description": "Local wall-clock time, HH:MM", "example": "21:30"},
        **kwargs,
    )


RULES_DESCRIPTION = (
    "Rules of the template (see api/domain/schedule.py): key, kind (instrument|reflection), "
    "instrument_id or prompt_text, exactly one timing form (day_offsets | day_offset [+ repeat_every_days "
    "+ until_day] | hours_after_dose), local_time HH:MM for day-based rules, open_hours, reminder_hours, "
    "applies_to (every_session|last_session). Errors come back per rule: errors.json.rules.<index>.<field>."
)


def rules_field(**kwargs: object) -> ma.fields.List:
    return ma.fields.List(
        # Items are checked by the service (validate_rules), which reports every rule's errors at once.
        ma.fields.Raw(),
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": RULES_DESCRIPTION},
        **kwargs,
    )


class ScheduleTemplateCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    rules = rules_field(required=True)
    is_default = ma.fields.Boolean(load_default=False)


class ScheduleTemplatePatchSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))
    rules = rules_field()
    is_default = ma.fields.Boolean(
        metadata={"description": "true makes this the default (the previous default stops being one)"}
    )


class ScheduleTemplateSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    rules = ma.fields.List(ma.fields.Dict())
    version = ma.fields.Integer(metadata={"description": "Incremented on every edit; copied onto prompts"})
    is_default = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class TemplateRefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    version = ma.fields.Integer()
    is_default = ma.fields.Boolean()


class PreviewQuerySchema(ma.Schema):
    timezone = TimeZoneField(required=True)
    dosing = AwareDateTime(
        required=True, metadata={"description": "Dose start, ISO 8601 with offset (URL-encode the '+')"}
    )
    quiet_start = hhmm_field(load_default=None)
    quiet_end = hhmm_field(load_default=None)
    last_session = ma.fields.Boolean(
        load_default=True, metadata={"description": "Include last-session-only rules (default true)"}
    )


class PreviewItemSchema(ma.Schema):
    rule_key = ma.fields.String()
    kind = ma.fields.String()
    instrument_id = ma.fields.String(allow_none=True)
    day = ma.fields.Integer()
    local_due = ma.fields.String(metadata={"description": "ISO 8601 in the patient's zone"})
    due_at = ma.fields.String(metadata={"description": "ISO 8601, UTC"})
    expires_at = ma.fields.String()


class PreviewDaySchema(ma.Schema):
    date = ma.fields.String(metadata={"description": "Local date"})
    count = ma.fields.Integer(metadata={"description": "Notifications due that local day"})


class PreviewSchema(ma.Schema):
    template_id = ma.fields.Integer()
    version = ma.fields.Integer()
    timezone = ma.fields.String()
    dosing = ma.fields.DateTime()
    last_session = ma.fields.Boolean()
    total = ma.fields.Integer()
    timeline = ma.fields.List(ma.fields.Nested(PreviewItemSchema))
    per_day = ma.fields.List(ma.fields.Nested(PreviewDaySchema))


class ReplanSchema(ma.Schema):
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    cancelled = ma.fields.Integer()
    revived = ma.fields.Integer()


class PatientScheduleSchema(ma.Schema):
    patient_id = ma.fields.Integer()
    template_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "null: the patient follows the default template"}
    )
    template = ma.fields.Nested(TemplateRefSchema, metadata={"description": "The template in effect"})
    quiet_start = ma.fields.String()
    quiet_end = ma.fields.String()
    planned_sessions = ma.fields.Integer()
    updated_at = ma.fields.DateTime(allow_none=True)
    replanned = ma.fields.Nested(ReplanSchema, metadata={"description": "Only in a PATCH response"})


class PatientSchedulePatchSchema(ma.Schema):
    template_id = id_field(allow_none=True, metadata={"description": "null: use the default"})
    quiet_start = hhmm_field()
    quiet_end = hhmm_field()
    planned_sessions = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=10),
        metadata={"description": "Dosing sessions in the protocol; the last one gets the follow-up"},
    )


class DosingSessionCreateSchema(ma.Schema):
    session_number = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=10))
    started_at = AwareDateTime(required=True, metadata={"description": "Dose start, ISO 8601 with offset"})


class DosingSessionPatchSchema(ma.Schema):
    started_at = AwareDateTime(required=True, metadata={"description": "Corrected dose start"})


class DosingSessionSchema(ma.Schema):
    id = ma.fields.Integer()
    patient_id = ma.fields.Integer()
    session_number = ma.fields.Integer()
    started_at = ma.fields.DateTime()
    cancelled_at = ma.fields.DateTime(allow_none=True)
    created_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class DosingSessionResultSchema(DosingSessionSchema):
    planned_prompts = ma.fields.Integer(metadata={"description": "Prompts planned (POST)"})
    replanned = ma.fields.Nested(ReplanSchema, metadata={"description": "Re-plan result (PATCH)"})
    cancelled_prompts = ma.fields.Integer(metadata={"description": "Unsent prompts cancelled (DELETE)"})
