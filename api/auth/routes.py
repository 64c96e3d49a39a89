"""/api/v1/auth: sign-in, refresh rotation, sign-out, invite acceptance."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint, abort

from api.auth.passwords import verify_password
from api.auth.tokens import (
    RefreshRejected,
    TokenPair,
    issue_token_pair,
    revoke_refresh_token,
    rotate_refresh_token,
)
from api.extensions import db, limiter
from api.models import User
from api.services.accounts import accept_invite, normalise_email
from api.services.audit import audit
from schemas.auth import AcceptInviteSchema, LoginSchema, RefreshSchema, TokenPairSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-in and tokens")


def _login_account_key() -> str:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return f"login-account:{normalise_email(email) if isinstance(email, str) else '-'}"


def _pair_body(pair: TokenPair) -> dict:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
    }


@blp.route("/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_login_account_key)
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Wrong email or password")
@blp.alt_response(429, description="Too many attempts; see Retry-After")
def login(body: dict) -> dict:
    user = db.session.query(User).filter_by(email=normalise_email(body["email"])).one_or_none()
    if not verify_password(user.password_hash if user else None, body["password"]) or not user.is_active:
        abort(401, message="Wrong email or password.", code="invalid_credentials")
    pair = issue_token_pair(user)
    db.session.commit()
    return _pair_body(pair)


@blp.route("/refresh", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Unknown, expired, revoked or reused refresh token")
def refresh(body: dict) -> dict:
    try:
        _, pair = rotate_refresh_token(body["refresh_token"])
    except RefreshRejected:
        abort(
            401, message="This refresh token is no longer valid; sign in again.", code="invalid_refresh_token"
        )
    db.session.commit()
    return _pair_body(pair)


@blp.route("/logout", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(204)
def logout(body: dict) -> None:
    revoke_refresh_token(body["refresh_token"])
    db.session.commit()


@blp.route("/accept-invite", methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"])
@blp.arguments(AcceptInviteSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(400, description="Invalid, used or expired invite code")
def accept(body: dict) -> dict:
    user = accept_invite(body["code"], body["password"])
    pair = issue_token_pair(user)
    audit("sign_in", "user", user.id, patient_id=user.id)
    db.session.commit()
    return _pair_body(pair)
