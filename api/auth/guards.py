"""Bearer-token guard: every protected endpoint names the roles it admits."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import jwt
from flask import g, request
from flask_smorest import abort
from sqlalchemy.orm import joinedload

from api.auth.tokens import decode_access_token
from api.extensions import db
from api.models import User

BEARER = [{"bearerAuth": []}]


def current_user() -> User:
    return g.user


def auth_required(*roles: str) -> Callable:
    """Admit only a valid access token of an active user with one of `roles`. Goes right under
    `@blp.route`, so the caller is checked before the request is parsed: an anonymous or wrong-role
    request gets 401/403, never a 422 that describes the body it may not send."""

    # Patient endpoints read the patient's profile on nearly every request: load it with the user
    # (one query, not two).
    load = [joinedload(User.patient)] if "patient" in roles else []

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                abort(401, message="Missing bearer token.")
            try:
                claims = decode_access_token(header[7:])
            except jwt.InvalidTokenError:
                abort(401, message="Invalid or expired access token.")
            user = db.session.get(User, int(claims["sub"]), options=load)
            if user is None or not user.is_active:
                abort(401, message="Invalid or expired access token.")
            if user.role not in roles:
                abort(403, message="This endpoint is not available to your role.")
            g.user = user
            return view(*args, **kwargs)

        wrapper._apidoc = getattr(view, "_apidoc", {})  # keep flask-smorest's docs attached
        wrapper._apidoc.setdefault("manual_doc", {}).setdefault("security", BEARER)
        return wrapper

    return decorator
