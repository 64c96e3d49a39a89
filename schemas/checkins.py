"""Check-ins, reflections, instruments, trends and the patient's export."""

import marshmallow as ma

from schemas.common import AwareDateTime, id_field


class IdempotencyHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # other request headers are none of our business

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        required=True,
        validate=ma.validate.Length(min=8, max=200),
        metadata={
            "description": "Client-generated unique key (a UUID); a retry with the same key and body "
            "returns the original response. Kept at least 7 days."
        },
    )


class CheckInCreateSchema(ma.Schema):
    client_uuid = ma.fields.UUID(
        required=True, metadata={"description": "Client-generated id; a second guard against duplicates"}
    )
    instrument_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    instrument_version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=16))
    answers = ma.fields.Dict(keys=ma.fields.String(), required=True)
    recorded_at = AwareDateTime(required=True, metadata={"description": "When the patient filled it in"})
    prompt_id = id_field(allow_none=True, load_default=None)


class CrisisResourceSchema(ma.Schema):
    name = ma.fields.String()
    action = ma.fields.String()
    contact = ma.fields.String()


class SupportSchema(ma.Schema):
    message = ma.fields.String()
    resources = ma.fields.List(ma.fields.Nested(CrisisResourceSchema))


class CheckInSchema(ma.Schema):
    id = ma.fields.Integer()
    client_uuid = ma.fields.String()
    instrument_id = ma.fields.String()
    instrument_version = ma.fields.String()
    answers = ma.fields.Dict(metadata={"description": "As submitted (a note is stored encrypted)"})
    total = ma.fields.Integer(allow_none=True)
    band = ma.fields.String(allow_none=True)
    score = ma.fields.Dict()
    prompt_id = ma.fields.Integer(allow_none=True)
    prompt_error = ma.fields.String(
        allow_none=True, metadata={"description": "Why the entry was kept but not linked to the prompt"}
    )
    recorded_at = ma.fields.DateTime()
    received_at = ma.fields.DateTime()
    support = ma.fields.Nested(
        SupportSchema,
        allow_none=True,
        metadata={"description": "Crisis resources, present when the entry raised a high or urgent flag"},
    )


class CheckInPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CheckInSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CheckInQuerySchema(ma.Schema):
    instrument_id = ma.fields.String()
    since = AwareDateTime(metadata={"description": "recorded_at >= since"})
    until = AwareDateTime(metadata={"description": "recorded_at < until"})
    cursor = ma.fields.String()
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class BatchSchema(ma.Schema):
    checkins = ma.fields.List(ma.fields.Dict(), load_default=list, validate=ma.validate.Length(max=100))
    reflections = ma.fields.List(ma.fields.Dict(), load_default=list, validate=ma.validate.Length(max=100))

    @ma.validates_schema
    def _at_most_100(self, data: dict, **kwargs: object) -> None:
        if len(data["checkins"]) + len(data["reflections"]) > 100:
            raise ma.ValidationError("At most 100 entries per batch.", "_schema")


class BatchEntryResultSchema(ma.Schema):
    index = ma.fields.Integer()
    kind = ma.fields.String()
    client_uuid = ma.fields.String(allow_none=True)
    status = ma.fields.Integer(metadata={"description": "201 created, 200 already stored, 422 invalid"})
    id = ma.fields.Integer(allow_none=True)
    errors = ma.fields.Dict(allow_none=True)
    entry = ma.fields.Dict(allow_none=True)


class BatchResultSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(BatchEntryResultSchema))
    support = ma.fields.Nested(SupportSchema, allow_none=True)


class ReflectionCreateSchema(ma.Schema):
    client_uuid = ma.fields.UUID(required=True)
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000))
    tags = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=40)),
        load_default=list,
        validate=ma.validate.Length(max=20),
    )
    recorded_at = AwareDateTime(required=True)
    prompt_id = id_field(allow_none=True, load_default=None)


class ReflectionSchema(ma.Schema):
    id = ma.fields.Integer()
    client_uuid = ma.fields.String()
    text = ma.fields.String()
    tags = ma.fields.List(ma.fields.String())
    prompt_id = ma.fields.Integer(allow_none=True)
    prompt_error = ma.fields.String(allow_none=True)
    recorded_at = ma.fields.DateTime()
    received_at = ma.fields.DateTime()
    support = ma.fields.Nested(SupportSchema, allow_none=True)


class ReflectionPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ReflectionSchema))
    next_cursor = ma.fields.String(allow_none=True)


class PageQuerySchema(ma.Schema):
    cursor = ma.fields.String()
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class TrendQuerySchema(ma.Schema):
    since = AwareDateTime(metadata={"description": "Default: 90 days ago"})


class TrendPointSchema(ma.Schema):
    t = ma.fields.DateTime(metadata={"description": "recorded_at"})
    v = ma.fields.Float()
    band = ma.fields.String(allow_none=True)


class TrendsSchema(ma.Schema):
    since = ma.fields.DateTime()
    series = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.Nested(TrendPointSchema)),
        metadata={"description": "e.g. daily.mood, daily.hours_slept, phq9.total"},
    )
    bands = ma.fields.Dict(metadata={"description": "Severity band lower bounds per instrument, for shading"})
    dosing_sessions = ma.fields.List(
        ma.fields.DateTime(), metadata={"description": "Dosing start times, to mark on charts"}
    )


class InstrumentSettingSchema(ma.Schema):
    enabled = ma.fields.Boolean(required=True)


class ExportSchema(ma.Schema):
    exported_at = ma.fields.DateTime()
    profile = ma.fields.Dict()
    devices = ma.fields.List(ma.fields.Dict())
    checkins = ma.fields.List(ma.fields.Nested(CheckInSchema))
    reflections = ma.fields.List(ma.fields.Nested(ReflectionSchema))
    prompts = ma.fields.List(ma.fields.Dict())
    alerts = ma.fields.List(ma.fields.Dict())


class InstrumentSchema(ma.Schema):
    """An instrument definition as data: items with their options, scoring and bands."""

    id = ma.fields.String()
    version = ma.fields.String()
    title = ma.fields.String()
    instructions = ma.fields.String()
    source = ma.fields.String()
    recall_period = ma.fields.String()
    scoring = ma.fields.String()
    total_range = ma.fields.List(ma.fields.Integer(), allow_none=True)
    bands = ma.fields.List(ma.fields.Dict())
    positive_at = ma.fields.Integer(allow_none=True)
    positive_label = ma.fields.String(allow_none=True)
    risk_items = ma.fields.List(ma.fields.String())
    enabled_by_default = ma.fields.Boolean()
    enabled = ma.fields.Boolean()
    items = ma.fields.List(ma.fields.Dict())
