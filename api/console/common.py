"""Helpers shared by the console's route modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import marshmallow as ma
from flask import flash, request
from werkzeug.exceptions import HTTPException

from api.extensions import db


def wants_json() -> bool:
    return request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def flatten_errors(errors: Any, prefix: str = "") -> list[str]:
    """Nested error dicts (marshmallow's and the services' shape) as "field: message" lines.
    The location level ("json", "query", "form") is dropped: the console has one form per request."""
    if isinstance(errors, dict):
        lines: list[str] = []
        for key, value in errors.items():
            if not prefix and key in ("json", "query", "form"):
                lines += flatten_errors(value, "")
            else:
                lines += flatten_errors(value, f"{prefix}.{key}" if prefix else str(key))
        return lines
    if isinstance(errors, list | tuple):
        lines = []
        for item in errors:
            lines += flatten_errors(item, prefix) if isinstance(item, dict | list) else [_line(prefix, item)]
        return lines
    return [_line(prefix, errors)]


def _line(field: str, message: object) -> str:
    return f"{field.replace('_schema', '').strip('.') or 'Error'}: {message}" if field else str(message)


def service_error_lines(error: HTTPException) -> list[str]:
    """The message and field errors of a service's ``abort(...)`` (flask-smorest puts them in .data)."""
    data = getattr(error, "data", None) or {}
    lines = flatten_errors(data.get("errors") or data.get("messages") or {})
    message = data.get("message")
    if message:
        lines.insert(0, message)
    return lines or [error.description or error.name]


def flash_service_error(error: HTTPException) -> None:
    """Roll back whatever the failed service left in the session and tell the user why."""
    db.session.rollback()
    for line in service_error_lines(error):
        flash(line, "error")


def load_form(schema: ma.Schema, data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """Validate form data with one of the API's marshmallow schemas: (data, {}) or (None, errors)."""
    try:
        return schema.load(data), {}
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return None, {k: v if isinstance(v, list) else [str(v)] for k, v in messages.items()}


def form_int(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    try:
        return int(value) if value else None
    except ValueError:
        return None


def valid_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_local(value: str, zone: str) -> datetime | None:
    """An <input type="datetime-local"> value read as wall-clock time in `zone` (aware), or None.
    A nonexistent or repeated local time (DST) resolves like the scheduler does (fold=0)."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=ZoneInfo(zone), fold=0)
