"""Builders for check-in and reflection requests used by several test modules."""

import uuid
from datetime import timedelta

from api.models.types import utcnow

PHQ9_ANSWERS = {f"q{i}": 1 for i in range(1, 10)}
DAILY_ANSWERS = {"mood": 6, "anxiety": 3, "hours_slept": 7.5, "sleep_quality": 3, "energy": 5}


def checkin(instrument_id="phq9", answers=None, recorded_at=None, **extra):
    return {
        "client_uuid": str(uuid.uuid4()),
        "instrument_id": instrument_id,
        "instrument_version": "1.0",
        "answers": PHQ9_ANSWERS if answers is None else answers,
        "recorded_at": (recorded_at or utcnow() - timedelta(minutes=1)).isoformat(),
        **extra,
    }


def reflection(text="Today I noticed I could breathe again.", **extra):
    return {
        "client_uuid": str(uuid.uuid4()),
        "text": text,
        "tags": ["body"],
        "recorded_at": (utcnow() - timedelta(minutes=1)).isoformat(),
        **extra,
    }


def post(client, headers, path, body, key=None):
    return client.post(path, json=body, headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())})
