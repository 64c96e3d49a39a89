"""One JSON error shape for every 4xx/5xx: status, a short code, a message, field-level errors."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Api, abort
from werkzeug.exceptions import HTTPException

SHORT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorSchema(ma.Schema):
    status = ma.fields.Integer(metadata={"description": "HTTP status"})
    code = ma.fields.String(metadata={"description": "Short machine-readable code"})
    message = ma.fields.String(metadata={"description": "Human-readable message"})
    errors = ma.fields.Dict(metadata={"description": "Field-level messages, by location and field"})


def error_body(status: int, message: str, code: str | None = None, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "code": code or SHORT_CODES.get(status, "error"),
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return body


class JsonErrorApi(Api):
    """flask-smorest Api whose error payload is our single error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> tuple[dict, int, dict]:
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        message = data.get("message") or error.description or error.name
        if error.code == 422 and not data.get("message"):
            message = "The request has invalid fields."
        headers = dict(data.get("headers") or {})
        if error.code == 429 and getattr(error, "retry_after", None):
            headers.setdefault("Retry-After", str(error.retry_after))
        return error_body(error.code or 500, message, data.get("code"), errors), error.code or 500, headers


def reject_unreadable_bodies() -> None:
    """Refuse (415) an API request body that is not JSON, instead of reading it as empty: a PATCH
    sent as text/plain would otherwise change nothing and still answer 200."""
    has_body = request.content_length or request.headers.get("Transfer-Encoding")
    if request.path.startswith("/api/") and has_body and not request.is_json:
        abort(415, message="Send the request body as application/json.")
