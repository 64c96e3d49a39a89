"""Console sign-in state: a signed session cookie holding the user id and activity times.

* Idle sign-out: ``last_seen`` is refreshed by every page view and form post. Background polls
  (the alert queue's JSON) deliberately do *not* refresh it, so an open but unattended queue still
  signs out after ``CONSOLE_IDLE_MINUTES``. The page warns two minutes before and offers to stay
  signed in (``POST /console/session/keepalive``).
* An absolute cap (``CONSOLE_MAX_SESSION_HOURS``) bounds a session however active it is.
* The account is re-read on every request: a deactivated account is signed out at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for

from api.console.common import wants_json
from api.extensions import db
from api.models import User

STAFF_ROLES = ("clinician", "admin")
IDLE, EXPIRED = "idle", "expired"


def now() -> float:
    """Seconds since the epoch; a module attribute so tests can move the console's clock."""
    return time.time()


def sign_in(user: User) -> None:
    session.clear()  # a fresh session (and CSRF token) at every sign-in
    stamp = now()
    session["uid"] = user.id
    session["signed_in_at"] = stamp
    session["last_seen"] = stamp


def sign_out() -> None:
    session.clear()


def touch() -> None:
    session["last_seen"] = now()


def session_user() -> tuple[User | None, str | None]:
    """The signed-in staff user, or (None, reason) where reason is "idle", "expired" or None."""
    uid = session.get("uid")
    if uid is None:
        return None, None
    config = current_app.config
    current = now()
    if current - float(session.get("last_seen", 0)) > config["CONSOLE_IDLE_MINUTES"] * 60:
        sign_out()
        return None, IDLE
    if current - float(session.get("signed_in_at", 0)) > config["CONSOLE_MAX_SESSION_HOURS"] * 3600:
        sign_out()
        return None, EXPIRED
    user = db.session.get(User, uid)
    if user is None or not user.is_active or user.role not in STAFF_ROLES:
        sign_out()
        return None, None
    return user, None


def _safe_next() -> str | None:
    """Where to return after signing in: only a page of this console (no open redirect)."""
    if request.method != "GET" or wants_json():
        return None
    path = request.full_path.rstrip("?")
    return path if path.startswith("/console/") and not path.startswith("//") else None


def login_required(*roles: str, refresh: bool = True) -> Callable:
    """Admit a signed-in user with one of `roles` (sets ``g.user`` so audit rows name them).
    ``refresh=False`` for background requests that must not count as activity."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user, reason = session_user()
            if user is None:
                if wants_json():
                    return jsonify({"status": 401, "message": "Signed out.", "reason": reason}), 401
                return redirect(url_for("console.auth.login", next=_safe_next(), reason=reason))
            g.user = user
            if user.role not in roles:
                abort(403)
            if refresh:
                touch()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def home_for(user: User) -> str:
    return url_for("console.admin.teams") if user.role == "admin" else url_for("console.alerts.queue")
