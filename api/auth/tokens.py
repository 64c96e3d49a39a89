"""Short-lived JWT access tokens and rotating opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from flask import current_app
from sqlalchemy import select, update

from api.extensions import db
from api.models import RefreshToken, User
from api.models.types import utcnow

ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class RefreshRejected(Exception):
    """The refresh token is unknown, expired, revoked, or was already rotated (reuse)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(user: User, now: datetime | None = None) -> tuple[str, int]:
    now = now or utcnow()
    lifetime = timedelta(minutes=current_app.config["ACCESS_TOKEN_MINUTES"])
    claims = {"sub": str(user.id), "role": user.role, "iat": now, "exp": now + lifetime, "typ": "access"}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM), int(
        lifetime.total_seconds()
    )


def decode_access_token(token: str) -> dict:
    """Raises jwt.InvalidTokenError when the token is forged, expired or not an access token."""
    claims = jwt.decode(
        token,
        current_app.config["SECRET_KEY"],
        algorithms=[ALGORITHM],
        options={"require": ["sub", "exp", "role"]},
    )
    if claims.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return claims


def _new_refresh(user_id: int, family_id: str, now: datetime) -> str:
    raw = secrets.token_urlsafe(32)
    db.session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_hash=token_digest(raw),
            issued_at=now,
            expires_at=now + timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"]),
        )
    )
    return raw


def issue_token_pair(user: User) -> TokenPair:
    """Start a new refresh-token family (a sign-in)."""
    now = utcnow()
    refresh = _new_refresh(user.id, str(uuid.uuid4()), now)
    access, expires_in = issue_access_token(user, now)
    return TokenPair(access, refresh, expires_in)


def revoke_family(family_id: str, now: datetime) -> None:
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def rotate_refresh_token(raw: str) -> tuple[User, TokenPair]:
    """Exchange a refresh token for a new pair. Reusing a rotated token revokes its whole family:
    it means the token was copied, so neither copy can be trusted any more."""
    now = utcnow()
    row = db.session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_digest(raw)).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise RefreshRejected("unknown")
    if row.rotated_at is not None:
        revoke_family(row.family_id, now)
        db.session.commit()
        raise RefreshRejected("reused")
    if row.revoked_at is not None or row.expires_at <= now:
        raise RefreshRejected("revoked or expired")
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise RefreshRejected("inactive")
    row.rotated_at = now
    new_raw = _new_refresh(user.id, row.family_id, now)
    access, expires_in = issue_access_token(user, now)
    return user, TokenPair(access, new_raw, expires_in)


def revoke_refresh_token(raw: str) -> RefreshToken | None:
    row = db.session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_digest(raw))
    ).scalar_one_or_none()
    if row is not None:
        revoke_family(row.family_id, utcnow())
    return row
