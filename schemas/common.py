"""Field types shared by several schemas."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import marshmallow as ma


class TimeZoneField(ma.fields.String):
    """An IANA time zone name, checked against zoneinfo."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        # ZoneInfo also accepts file paths such as "../x"; only catalogue names are valid here.
        if name not in available_timezones():
            raise ma.ValidationError("Not an IANA time zone name (e.g. Europe/Berlin).")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ma.ValidationError("Not an IANA time zone name (e.g. Europe/Berlin).") from exc
        return name


class AwareDateTime(ma.fields.AwareDateTime):
    """ISO 8601 with an offset; naive times are rejected rather than guessed."""


# Primary keys are INTEGER columns (32-bit on PostgreSQL): a larger number names no row, and would overflow
# in the database driver (a 500) if it reached a query.
MAX_ID = 2**31 - 1


def id_field(**kwargs: Any) -> ma.fields.Integer:
    """A reference to a row by its id, 1..MAX_ID (the range is stated in the OpenAPI document)."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def email_field(**kwargs: Any) -> ma.fields.Email:
    return ma.fields.Email(validate=ma.validate.Length(max=254), **kwargs)


def password_field(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(load_only=True, validate=ma.validate.Length(min=10, max=200), **kwargs)
