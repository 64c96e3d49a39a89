"""What check-ins and reflections share: time checks, client-UUID dedupe, prompt linking, cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta

from flask_smorest import abort
from sqlalchemy import Select, and_, or_

from api.models import PatientProfile
from api.models.types import utcnow

# Device clocks drift; a check-in stamped a few minutes ahead is still "now".
CLOCK_SKEW = timedelta(minutes=5)


class EntryInvalid(Exception):
    """Field-level errors for one entry (kept separate from HTTP so batch sync can report per entry)."""

    def __init__(self, errors: dict) -> None:
        super().__init__("invalid entry")
        self.errors = errors


def check_recorded_at(profile: PatientProfile, recorded_at: datetime) -> dict[str, list[str]]:
    if recorded_at > utcnow() + CLOCK_SKEW:
        return {"recorded_at": ["Is in the future; check the device clock."]}
    if recorded_at < profile.enrolled_at:
        return {"recorded_at": ["Is before your enrolment."]}
    return {}


def encode_cursor(recorded_at: datetime, entry_id: int) -> str:
    raw = json.dumps([recorded_at.isoformat(), entry_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def apply_cursor(query: Select, model: type, cursor: str | None) -> Select:
    """Newest first; the cursor is the (recorded_at, id) of the last row of the previous page."""
    query = query.order_by(model.recorded_at.desc(), model.id.desc())
    if not cursor:
        return query
    try:
        at_iso, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(at_iso)
        last_id = int(last_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        abort(422, errors={"query": {"cursor": ["Not a cursor returned by this endpoint."]}})
    return query.where(or_(model.recorded_at < at, and_(model.recorded_at == at, model.id < last_id)))


def page(rows: list, limit: int) -> tuple[list, str | None]:
    """`rows` was fetched with limit + 1 to learn whether another page exists."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].recorded_at, rows[-1].id)
