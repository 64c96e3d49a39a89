"""Alerts, flag-rule thresholds and on-duty settings."""

import marshmallow as ma

from schemas.common import id_field

SEVERITIES = ("low", "medium", "high", "urgent")
STATES = ("open", "acknowledged", "resolved")
OUTCOMES = ("contacted", "no_action_needed", "escalated_to_emergency_services", "other")


class AlertQuerySchema(ma.Schema):
    state = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(STATES)),
        metadata={"description": "Default: open and acknowledged"},
    )
    severity = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(SEVERITIES)))
    patient_id = id_field()
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))


class AlertEventSchema(ma.Schema):
    at = ma.fields.DateTime()
    kind = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    detail = ma.fields.Dict()


class AlertDeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    channel = ma.fields.String()
    recipient_id = ma.fields.Integer(allow_none=True)
    escalation_level = ma.fields.Integer()
    state = ma.fields.String()
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    sent_at = ma.fields.DateTime(allow_none=True)


class AlertSchema(ma.Schema):
    id = ma.fields.Integer()
    patient_id = ma.fields.Integer()
    care_team_id = ma.fields.Integer()
    rule = ma.fields.String()
    severity = ma.fields.String()
    summary = ma.fields.String()
    label = ma.fields.String(allow_none=True)
    evidence = ma.fields.Dict()
    source_type = ma.fields.String(allow_none=True)
    source_id = ma.fields.Integer(allow_none=True)
    trigger_count = ma.fields.Integer()
    state = ma.fields.String()
    created_at = ma.fields.DateTime()
    last_triggered_at = ma.fields.DateTime()
    ack_deadline_at = ma.fields.DateTime()
    escalation_level = ma.fields.Integer()
    acknowledged_at = ma.fields.DateTime(allow_none=True)
    acknowledged_by_id = ma.fields.Integer(allow_none=True)
    resolved_at = ma.fields.DateTime(allow_none=True)
    resolved_by_id = ma.fields.Integer(allow_none=True)
    resolution_note = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)


class AlertDetailSchema(AlertSchema):
    events = ma.fields.List(ma.fields.Nested(AlertEventSchema))
    deliveries = ma.fields.List(ma.fields.Nested(AlertDeliverySchema))


class ResolveSchema(ma.Schema):
    note = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))


class FlagRulesSchema(ma.Schema):
    care_team_id = ma.fields.Integer(dump_only=True)
    thresholds = ma.fields.Dict(
        required=True,
        metadata={"description": "Overrides of the default thresholds; omitted keys keep their defaults"},
    )
    effective = ma.fields.Dict(dump_only=True, metadata={"description": "All thresholds in force"})
    updated_at = ma.fields.DateTime(dump_only=True, allow_none=True)
