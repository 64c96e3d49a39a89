"""Prompts: the patient's open prompts and history, the care team's ledger, adherence."""

import marshmallow as ma

from schemas.common import MAX_ID, id_field

# Mirrors api.models.prompts.PROMPT_STATES (schemas import nothing from the app; a test checks it).
PROMPT_STATES = ("scheduled", "sent", "delivered", "opened", "completed", "expired", "cancelled")
PATIENT_VISIBLE_STATES = tuple(s for s in PROMPT_STATES if s != "cancelled")


class MePromptsQuerySchema(ma.Schema):
    state = ma.fields.String(
        validate=ma.validate.OneOf(PATIENT_VISIBLE_STATES),
        metadata={"description": "History: prompts in this state, newest first"},
    )
    all = ma.fields.Boolean(
        load_default=False, metadata={"description": "History: every prompt so far, newest first"}
    )
    limit = ma.fields.Integer(load_default=200, validate=ma.validate.Range(min=1, max=500))


class PatientPromptSchema(ma.Schema):
    id = ma.fields.Integer()
    dosing_session_id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "instrument | reflection"})
    instrument_id = ma.fields.String(allow_none=True)
    prompt_text = ma.fields.String(allow_none=True)
    day = ma.fields.Integer(metadata={"description": "Day after the dosing session"})
    state = ma.fields.String()
    intended_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    delivered_at = ma.fields.DateTime(allow_none=True)
    opened_at = ma.fields.DateTime(allow_none=True)
    answered_at = ma.fields.DateTime(allow_none=True)
    expired_at = ma.fields.DateTime(allow_none=True)


class CarePromptsQuerySchema(ma.Schema):
    state = ma.fields.String(validate=ma.validate.OneOf(PROMPT_STATES))
    dosing_session_id = id_field()
    limit = ma.fields.Integer(load_default=500, validate=ma.validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=MAX_ID))


class PromptLedgerSchema(PatientPromptSchema):
    rule_key = ma.fields.String()
    occurrence = ma.fields.Integer()
    sent_at = ma.fields.DateTime(allow_none=True)
    cancelled_at = ma.fields.DateTime(allow_none=True)
    undeliverable_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "Set when the worker gave up pushing it"}
    )
    reminder_due_at = ma.fields.DateTime(allow_none=True)
    reminders_sent = ma.fields.Integer()
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    template_id = ma.fields.Integer(allow_none=True)
    template_version = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class AdherenceWindowSchema(ma.Schema):
    days = ma.fields.Integer()
    since = ma.fields.DateTime()
    due = ma.fields.Integer(metadata={"description": "Prompts that became due in the window"})
    sent = ma.fields.Integer(metadata={"description": "Of those, pushed at least once"})
    completed = ma.fields.Integer()
    expired = ma.fields.Integer(metadata={"description": "Window closed without an answer"})
    open = ma.fields.Integer(metadata={"description": "Still answerable"})
    undeliverable = ma.fields.Integer()
    completion_rate = ma.fields.Float(
        allow_none=True, metadata={"description": "completed / (completed + expired); null if both 0"}
    )


class AdherenceSchema(ma.Schema):
    as_of = ma.fields.DateTime()
    windows = ma.fields.List(ma.fields.Nested(AdherenceWindowSchema))
