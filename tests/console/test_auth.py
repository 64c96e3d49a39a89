"""Console sign-in: staff only, CSRF on console forms only, idle sign-out, rate limiting, cookie flags."""

from __future__ import annotations

import time

import pytest

from api import create_app
from api.console import session as console_session
from api.extensions import db
from api.models import Alert, AuditLog
from tests.api.entries_helpers import PHQ9_ANSWERS, checkin, post
from tests.conftest import PASSWORD
from tests.console.conftest import csrf_token, post_form, sign_in


def test_clinician_signs_in_and_lands_on_the_alert_queue(client, world):
    r = sign_in(client, world.clinician_a)
    assert r.status_code == 302 and r.headers["Location"] == "/console/alerts"
    page = client.get("/console/alerts")
    assert page.status_code == 200 and "Alert queue" in page.get_data(as_text=True)
    row = db.session.query(AuditLog).filter_by(action="sign_in", actor_id=world.clinician_a.id).one()
    assert row.resource_type == "console_session"


def test_admin_signs_in_and_lands_on_care_teams(client, world):
    r = sign_in(client, world.admin)
    assert r.status_code == 302 and r.headers["Location"] == "/console/admin/teams"


def test_patients_cannot_sign_in_and_are_told_why(client, world):
    r = sign_in(client, world.patient_a)
    body = r.get_data(as_text=True)
    assert r.status_code == 403
    assert "Patients sign in with the Integration Companion app" in body
    assert client.get("/console/alerts").status_code == 302  # not signed in


def test_wrong_password_gets_one_generic_message(client, world):
    for user in (world.clinician_a, world.patient_a):
        r = sign_in(client, user, password="not the password")
        assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)
    r = client.post(
        "/console/login",
        data={"email": "nobody@example.org", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert r.status_code == 401 and "Wrong email or password." in r.get_data(as_text=True)


def test_deactivated_staff_cannot_sign_in_and_are_signed_out(client, world):
    sign_in(client, world.clinician_a)
    world.clinician_a.is_active = False
    db.session.commit()
    assert client.get("/console/alerts").status_code == 302
    assert sign_in(client, world.clinician_a).status_code == 401


def test_roles_see_only_their_own_pages(client, world):
    sign_in(client, world.admin)
    assert client.get("/console/alerts").status_code == 403
    assert client.get(f"/console/patients/{world.patient_a.id}").status_code == 403
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/admin/teams")})
    sign_in(client, world.clinician_a)
    assert client.get("/console/admin/teams").status_code == 403
    assert client.get("/console/admin/schedules").status_code == 403


def test_anonymous_pages_redirect_to_sign_in_and_come_back(client, world):
    r = client.get(f"/console/patients/{world.patient_a.id}")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/console/login?next=/console/patients/")
    assert client.get("/console/alerts.json").status_code == 401
    r = sign_in(client, world.clinician_a, next=f"/console/patients/{world.patient_a.id}")
    assert r.headers["Location"] == f"/console/patients/{world.patient_a.id}"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/", "/api/v1/me"])
def test_sign_in_never_redirects_off_the_console(client, world, target):
    r = sign_in(client, world.clinician_a, next=target)
    assert r.status_code == 302 and r.headers["Location"] == "/console/alerts"


def test_sign_out_ends_the_session(client, world):
    sign_in(client, world.clinician_a)
    r = client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/alerts")})
    assert r.status_code == 302 and "reason=signed_out" in r.headers["Location"]
    assert client.get("/console/alerts").status_code == 302
    assert db.session.query(AuditLog).filter_by(action="sign_out", actor_id=world.clinician_a.id).count() == 1


# --- CSRF ------------------------------------------------------------------------------------


def test_console_forms_without_the_csrf_token_are_rejected(client, world):
    r = client.post("/console/login", data={"email": world.clinician_a.email, "password": PASSWORD})
    assert r.status_code == 400 and "expired or was not sent from the console" in r.get_data(as_text=True)
    sign_in(client, world.clinician_a)
    post(
        client,
        world.headers(world.patient_a),
        "/api/v1/me/checkins",
        checkin("phq9", {**PHQ9_ANSWERS, "q9": 2}),
    )
    alert = db.session.query(Alert).one()
    r = client.post(f"/console/alerts/{alert.id}/acknowledge", data={})
    assert r.status_code == 400
    r = client.post(f"/console/alerts/{alert.id}/acknowledge", data={"csrf_token": "forged"})
    assert r.status_code == 400
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == "open"
    r = post_form(client, f"/console/alerts/{alert.id}/acknowledge", page="/console/alerts")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == "acknowledged"


def test_csrf_does_not_apply_to_the_json_api(client, world):
    r = client.post("/api/v1/auth/login", json={"email": world.clinician_a.email, "password": PASSWORD})
    assert r.status_code == 200 and "access_token" in r.json
    r = client.post(
        "/api/v1/care/patients",
        json={"email": "new@example.org", "display_name": "New", "timezone": "UTC"},
        headers=world.headers(world.clinician_a),
    )
    assert r.status_code == 201


# --- idle sign-out ---------------------------------------------------------------------------


def _advance(monkeypatch, minutes: float) -> None:
    start = time.time()
    monkeypatch.setattr(console_session, "now", lambda: start + minutes * 60)


def test_idle_for_15_minutes_signs_out(client, world, monkeypatch):
    sign_in(client, world.clinician_a)
    _advance(monkeypatch, 14)
    assert client.get("/console/alerts").status_code == 200  # activity at minute 14
    _advance(monkeypatch, 14 + 15.5)
    r = client.get("/console/alerts")
    assert r.status_code == 302 and "reason=idle" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "signed out after 15 minutes without activity" in page
    monkeypatch.undo()
    assert client.get("/console/alerts").status_code == 302  # the session itself was cleared


def test_background_polls_do_not_count_as_activity(client, world, monkeypatch):
    sign_in(client, world.clinician_a)
    for minute in (5, 10, 14.5):
        _advance(monkeypatch, minute)
        assert client.get("/console/alerts.json").status_code == 200
    _advance(monkeypatch, 15.5)
    r = client.get("/console/alerts.json")
    assert r.status_code == 401 and r.json["reason"] == "idle"


def test_stay_signed_in_from_the_warning_counts_as_activity(client, world, monkeypatch):
    sign_in(client, world.clinician_a)
    token = csrf_token(client, "/console/alerts")
    _advance(monkeypatch, 14)
    assert client.post("/console/session/keepalive", headers={"X-CSRFToken": token}).status_code == 200
    _advance(monkeypatch, 28)
    assert client.get("/console/alerts.json").status_code == 200
    assert client.post("/console/session/keepalive").status_code == 400  # no token


def test_sessions_have_an_absolute_lifetime(client, world, monkeypatch, app):
    sign_in(client, world.clinician_a)
    start = time.time()
    hours = app.config["CONSOLE_MAX_SESSION_HOURS"]
    for step in range(1, hours * 6 + 2):  # active every 10 minutes, past the cap
        monkeypatch.setattr(console_session, "now", lambda s=step: start + s * 600)
        r = client.get("/console/alerts")
        if r.status_code == 302:
            assert "reason=expired" in r.headers["Location"]
            assert step * 600 >= hours * 3600
            return
    pytest.fail("the session never expired")


# --- rate limiting and cookies ---------------------------------------------------------------


def test_sign_in_is_rate_limited_per_account(client, world, app):
    limit = int(app.config["LOGIN_LIMIT_PER_ACCOUNT"].split()[0])
    for _ in range(limit):
        assert sign_in(client, world.clinician_a, password="wrong password!").status_code == 401
    r = sign_in(client, world.clinician_a)
    assert r.status_code == 429 and "Too many attempts" in r.get_data(as_text=True)
    assert client.get("/console/login").status_code == 200  # showing the form is not limited


def test_session_cookie_is_httponly_samesite_and_scoped_to_the_console(client, world):
    r = sign_in(client, world.clinician_a)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http in development and tests


def test_session_cookie_is_secure_in_production(database_url):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "ENV_MODE": "production",
            "SECRET_KEY": "a-long-production-secret-for-this-test-0123456789",
            "REFLECTION_KEYS": "x",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_console_pages_are_not_cached_and_forbid_inline_script(client, world):
    sign_in(client, world.clinician_a)
    r = client.get("/console/alerts")
    assert r.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
