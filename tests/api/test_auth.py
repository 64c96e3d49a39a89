"""Sign-in, refresh rotation with reuse detection, logout, invites and rate limiting."""

import uuid
from datetime import timedelta

import jwt
import pytest
from flask import Flask
from sqlalchemy import select

from api import create_app
from api.extensions import db
from api.models import Invite, RefreshToken
from api.models.types import utcnow
from tests.conftest import PASSWORD

REDIS_URL = "redis://127.0.0.1:6379/15"


def login(client, email, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def test_login_returns_short_lived_access_token_and_refresh_token(client, world, app):
    r = login(client, "CLIN.A@example.org")
    assert r.status_code == 200, r.json
    claims = jwt.decode(r.json["access_token"], app.config["SECRET_KEY"], algorithms=["HS256"])
    assert claims["sub"] == str(world.clinician_a.id) and claims["role"] == "clinician"
    assert claims["exp"] - claims["iat"] == 15 * 60 == r.json["expires_in"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json['access_token']}"})
    assert me.json["email"] == "clin.a@example.org"


def test_wrong_password_and_unknown_account_get_the_same_401(client, world):
    wrong = login(client, "clin.a@example.org", "not the password")
    unknown = login(client, "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json["message"] == unknown.json["message"]
    assert wrong.json["code"] == "invalid_credentials"


def test_expired_access_token_is_rejected(client, world, app):
    now = utcnow() - timedelta(minutes=16)
    token = jwt.encode(
        {
            "sub": str(world.patient_a.id),
            "role": "patient",
            "typ": "access",
            "iat": now,
            "exp": now + timedelta(minutes=15),
        },
        app.config["SECRET_KEY"],
        algorithm="HS256",
    )
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_forged_token_is_rejected(client, world):
    token = jwt.encode(
        {
            "sub": str(world.admin.id),
            "role": "admin",
            "typ": "access",
            "exp": utcnow() + timedelta(minutes=5),
        },
        "a-guessed-secret-as-long-as-the-real-one",
        algorithm="HS256",
    )
    assert client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_family(client, world):
    first = login(client, "pat.a@example.org").json["refresh_token"]
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert second.status_code == 200
    second_token = second.json["refresh_token"]
    assert second_token != first
    # The old token stops working, and its reuse burns the whole family, including the new token.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": first}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second_token}).status_code == 401
    family = db.session.scalars(select(RefreshToken)).all()
    assert len(family) == 2 and all(t.revoked_at is not None for t in family)


def test_logout_revokes_the_refresh_token(client, world):
    token = login(client, "pat.a@example.org").json["refresh_token"]
    assert client.post("/api/v1/auth/logout", json={"refresh_token": token}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": token}).status_code == 401


def test_deactivated_user_cannot_use_tokens(client, world):
    pair = login(client, "clin.b@example.org").json
    r = client.patch(
        f"/api/v1/admin/users/{world.clinician_b.id}",
        json={"is_active": False},
        headers=world.headers(world.admin),
    )
    assert r.status_code == 200
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code
        == 401
    )
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    )


def test_login_is_rate_limited_per_account(client, world):
    statuses = [login(client, "pat.a@example.org", "wrong", ip=f"10.0.1.{i}").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    # The right password from yet another address is still refused while the account is throttled.
    blocked = login(client, "pat.a@example.org", ip="10.0.2.1")
    assert blocked.status_code == 429 and blocked.json["code"] == "rate_limited"
    assert "Retry-After" in blocked.headers
    # Other accounts are unaffected.
    assert login(client, "pat.b@example.org", ip="10.0.2.2").status_code == 200


def test_login_limits_are_shared_between_processes_through_redis(world, database_url, tmp_path):
    """With RATELIMIT_STORAGE_URI on Redis (docker-compose sets it), every API process counts the same
    attempts: five wrong passwords in one process and the sixth try in another is refused."""
    redis = pytest.importorskip("redis").Redis.from_url(REDIS_URL)
    try:
        redis.ping()
    except OSError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4()}"

    def process() -> Flask:
        return create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": database_url,
                "REFLECTION_KEYS_FILE": str(tmp_path / "reflection.keys"),
                "RATELIMIT_STORAGE_URI": REDIS_URL,
                "RATELIMIT_KEY_PREFIX": prefix,
            }
        )

    try:
        first = process().test_client()
        assert [login(first, "pat.a@example.org", "wrong").status_code for _ in range(5)] == [401] * 5
        second = process().test_client()
        assert login(second, "pat.a@example.org").status_code == 429
    finally:
        for key in redis.scan_iter(f"*{prefix}*"):
            redis.delete(key)


def test_login_is_rate_limited_per_ip(client, world):
    statuses = [login(client, f"user{i}@example.org", "wrong", ip="10.9.9.9").status_code for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


def enrol(client, world, email="new.patient@example.org"):
    r = client.post(
        "/api/v1/care/patients",
        headers=world.headers(world.clinician_a),
        json={"email": email, "display_name": "New Patient", "timezone": "Europe/Berlin"},
    )
    assert r.status_code == 201, r.json
    return r.json


def test_invite_activates_once(client, world):
    enrolled = enrol(client, world)
    assert login(client, "new.patient@example.org", "a new password 1").status_code == 401
    r = client.post(
        "/api/v1/auth/accept-invite",
        json={"code": enrolled["invite_code"].lower(), "password": "a new password 1"},
    )
    assert r.status_code == 200 and r.json["access_token"]
    assert login(client, "new.patient@example.org", "a new password 1").status_code == 200
    again = client.post(
        "/api/v1/auth/accept-invite", json={"code": enrolled["invite_code"], "password": "another password 2"}
    )
    assert again.status_code == 400 and again.json["code"] == "invalid_invite"
    assert login(client, "new.patient@example.org", "another password 2").status_code == 401


def test_invite_expires_after_seven_days(client, world):
    enrolled = enrol(client, world)
    invite = db.session.scalars(select(Invite)).one()
    assert timedelta(days=6, hours=23) < invite.expires_at - utcnow() <= timedelta(days=7)
    invite.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    r = client.post(
        "/api/v1/auth/accept-invite", json={"code": enrolled["invite_code"], "password": "x" * 12}
    )
    assert r.status_code == 400


def test_reissued_invite_replaces_the_old_code(client, world):
    enrolled = enrol(client, world)
    r = client.post(
        f"/api/v1/care/patients/{enrolled['patient']['id']}/invite", headers=world.headers(world.clinician_a)
    )
    assert r.status_code == 201
    old = client.post(
        "/api/v1/auth/accept-invite", json={"code": enrolled["invite_code"], "password": "x" * 12}
    )
    assert old.status_code == 400
    new = client.post(
        "/api/v1/auth/accept-invite", json={"code": r.json["invite_code"], "password": "x" * 12}
    )
    assert new.status_code == 200
