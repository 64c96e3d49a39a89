"""The care-team and admin web console under /console: server-rendered pages on the API's services.

* Session-cookie sign-in for clinicians and admins (``api.console.session``), signed out after
  ``CONSOLE_IDLE_MINUTES`` without activity. Patients are refused.
* CSRF protection (Flask-WTF) applies to this blueprint only: ``WTF_CSRF_CHECK_DEFAULT`` is off
  app-wide and the console checks the token itself before each unsafe request. The JSON API is
  authenticated by bearer tokens, which a browser never attaches by itself, so it needs none.
* Every page or JSON view of patient data writes an ``audit_log`` row, as the API does.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from api.console.common import wants_json
from api.extensions import db

log = logging.getLogger(__name__)

csrf = CSRFProtect()

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# Same-origin only; no inline script or style, so injected markup cannot run or restyle the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def init_console(app: Flask) -> None:
    """Register the console blueprint and CSRF protection (for the console's routes only)."""
    production = app.config.get("ENV_MODE") == "production"
    app.config.setdefault("CONSOLE_IDLE_MINUTES", 15)
    app.config.setdefault("CONSOLE_MAX_SESSION_HOURS", 12)
    app.config.setdefault("CONSOLE_POLL_SECONDS", 5)
    # The session cookie is only used by the console: scope it to /console, keep it away from
    # scripts and cross-site requests, and send it over HTTPS only in production.
    # (Flask's defaults are always present in app.config, so only its default values are replaced.)
    if app.config.get("SESSION_COOKIE_NAME") in (None, "session"):
        app.config["SESSION_COOKIE_NAME"] = "ic_console"
    app.config["SESSION_COOKIE_PATH"] = app.config.get("SESSION_COOKIE_PATH") or "/console"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") not in ("Lax", "Strict"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE")) or production
    # CSRF is checked by the console blueprint itself (see _start below), not app-wide. Tokens live
    # as long as the console session (idle limit, absolute cap), so a queue page kept open and kept
    # alive does not end up with expired forms.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.register_blueprint(bp)


# Imported after `bp` exists: the route modules register their child blueprints on it.
from api.console import admin, alerts, auth, patients  # noqa: E402

bp.register_blueprint(auth.bp)
bp.register_blueprint(alerts.bp)
bp.register_blueprint(patients.bp)
bp.register_blueprint(admin.bp)


@bp.before_request
def _start() -> None:
    # `g` is per app context; when an outer context is already pushed (the test suite's), requests
    # share it. Start from a clean slate so neither the user nor a cached CSRF token carries over.
    for name in ("user", "csrf_token"):
        g.pop(name, None)
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin (not no-referrer): over HTTPS Flask-WTF checks the Referer of every form post.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "console.static":
        # Pages hold patient data: never cache them (the Back button after sign-out shows nothing).
        response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(status: int, message: str) -> tuple[Any, int]:
    if wants_json():
        return jsonify({"status": status, "message": message}), status
    return render_template("console/error.html", status=status, message=message), status


MESSAGES = {
    400: "The request could not be processed. Reload the page and try again.",
    403: "Your account does not have access to this page.",
    404: "Not found.",
    429: "Too many attempts. Wait a few minutes and try again.",
}


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[Any, int]:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 400 and error.__class__.__name__ == "CSRFError":
        message = "This form has expired or was not sent from the console. Reload the page and try again."
    else:
        message = data.get("message") or MESSAGES.get(status) or error.description or error.name
    return _error_page(status, message)


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[Any, int]:
    db.session.rollback()
    if isinstance(error, OperationalError | InterfaceError):
        log.warning("database unavailable: %s", type(error).__name__)
        return _error_page(503, "The service is temporarily unavailable; try again shortly.")
    log.exception("unhandled console error", exc_info=error)
    return _error_page(500, "Something went wrong. The error has been logged.")


@bp.app_template_filter("utc")
def _utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


@bp.app_template_filter("in_zone")
def _in_zone(value: datetime | None, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z") if value else "—"


@bp.app_template_filter("local_input")
def _local_input(value: datetime | None, zone: str) -> str:
    """The value of an <input type="datetime-local"> showing `value` in `zone`."""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") if value else ""


@bp.context_processor
def _globals() -> dict[str, Any]:
    return {
        "current_user": g.get("user"),
        "idle_seconds": current_app.config["CONSOLE_IDLE_MINUTES"] * 60,
    }


__all__ = ["bp", "csrf", "init_console"]
