"""Handlers for errors raised outside flask-smorest's HTTP exceptions: database outages and bugs."""

from __future__ import annotations

import logging

from flask import Response, jsonify
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import InternalServerError

from api.errors import error_body
from api.extensions import db

log = logging.getLogger(__name__)


def database_error(error: DBAPIError) -> tuple[Response, int, dict[str, str]]:
    """A lost database connection is a 503 the client should retry, never a 500 with a trace."""
    if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
        db.session.rollback()
        log.warning("database unavailable: %s", type(error).__name__)
        return (
            jsonify(error_body(503, "The service is temporarily unavailable; retry shortly.")),
            503,
            {"Retry-After": "2"},
        )
    return unexpected_error(error)


def unexpected_error(error: Exception) -> tuple[Response, int, dict[str, str]]:
    log.exception("unhandled error", exc_info=error)
    db.session.rollback()  # nothing half-done may be committed by a later flush
    return jsonify(error_body(500, InternalServerError.description)), 500, {}
