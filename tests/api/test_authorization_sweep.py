"""Authorisation sweep, built from /openapi.json: every operation, as every role and anonymously, aimed at
another care team's and another patient's objects, is refused (401 anonymous, 403 wrong role, 404 someone
else's object) and its response carries none of the other party's identifiers or health data.

ACCESS is the access rule of every documented operation; a new operation without an entry fails
`test_every_documented_operation_has_an_access_rule`, so nothing reaches the document unreviewed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api.extensions import db
from api.models import (
    Alert,
    CareTeam,
    CheckIn,
    Device,
    DosingSession,
    PatientProfile,
    Prompt,
    Reflection,
    ScheduleTemplate,
    User,
)
from api.models.types import utcnow
from tests.api.entries_helpers import DAILY_ANSWERS, checkin, post, reflection
from tests.api.schedule_helpers import local_dose
from tests.conftest import World

ALL_ROLES = frozenset({"patient", "clinician", "admin"})


@dataclass(frozen=True)
class Rule:
    """Who may call an operation (`roles`; empty: no token needed) and whose objects it reaches (`scope`):
    public, catalogue (the same non-personal content for everyone), own (the caller's own account and data),
    team (patients and alerts of the caller's care teams), global (admins: every team)."""

    roles: frozenset[str]
    scope: str


PUBLIC = Rule(frozenset(), "public")
CATALOGUE = Rule(ALL_ROLES, "catalogue")
OWN_ACCOUNT = Rule(ALL_ROLES, "own")
OWN_DEVICES = Rule(frozenset({"patient", "clinician"}), "own")
PATIENT_OWN = Rule(frozenset({"patient"}), "own")
CLINICIAN_TEAM = Rule(frozenset({"clinician"}), "team")
ADMIN = Rule(frozenset({"admin"}), "global")

P = "/api/v1"
ACCESS: dict[tuple[str, str], Rule] = {
    # Sign-in and tokens: public by nature.
    ("POST", f"{P}/auth/login"): PUBLIC,
    ("POST", f"{P}/auth/refresh"): PUBLIC,
    ("POST", f"{P}/auth/logout"): PUBLIC,
    ("POST", f"{P}/auth/accept-invite"): PUBLIC,
    # The signed-in user.
    ("GET", f"{P}/me"): OWN_ACCOUNT,
    ("PATCH", f"{P}/me"): OWN_ACCOUNT,
    ("GET", f"{P}/me/devices"): OWN_DEVICES,
    ("POST", f"{P}/me/devices"): OWN_DEVICES,
    ("DELETE", f"{P}/me/devices/{{device_id}}"): OWN_DEVICES,
    # A patient's own entries and prompts.
    ("POST", f"{P}/me/checkins"): PATIENT_OWN,
    ("GET", f"{P}/me/checkins"): PATIENT_OWN,
    ("POST", f"{P}/me/checkins:batch"): PATIENT_OWN,
    ("GET", f"{P}/me/trends"): PATIENT_OWN,
    ("POST", f"{P}/me/reflections"): PATIENT_OWN,
    ("GET", f"{P}/me/reflections"): PATIENT_OWN,
    ("GET", f"{P}/me/export"): PATIENT_OWN,
    ("GET", f"{P}/me/prompts"): PATIENT_OWN,
    ("POST", f"{P}/me/prompts/{{prompt_id}}/received"): PATIENT_OWN,
    ("POST", f"{P}/me/prompts/{{prompt_id}}/opened"): PATIENT_OWN,
    # Catalogue: no personal data.
    ("GET", f"{P}/instruments"): CATALOGUE,
    ("GET", f"{P}/instruments/{{instrument_id}}"): CATALOGUE,
    ("GET", f"{P}/fhir/Questionnaire/{{questionnaire_id}}"): CATALOGUE,
    # Care team: patients of the clinician's own teams.
    ("GET", f"{P}/care/patients"): CLINICIAN_TEAM,
    ("POST", f"{P}/care/patients"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}"): CLINICIAN_TEAM,
    ("POST", f"{P}/care/patients/{{patient_id}}/invite"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/checkins"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/trends"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/reflections"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/schedule"): CLINICIAN_TEAM,
    ("PATCH", f"{P}/care/patients/{{patient_id}}/schedule"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/dosing-sessions"): CLINICIAN_TEAM,
    ("POST", f"{P}/care/patients/{{patient_id}}/dosing-sessions"): CLINICIAN_TEAM,
    ("PATCH", f"{P}/care/patients/{{patient_id}}/dosing-sessions/{{session_id}}"): CLINICIAN_TEAM,
    ("DELETE", f"{P}/care/patients/{{patient_id}}/dosing-sessions/{{session_id}}"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/prompts"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/adherence"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/patients/{{patient_id}}/fhir"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/alerts"): CLINICIAN_TEAM,
    ("GET", f"{P}/care/alerts/{{alert_id}}"): CLINICIAN_TEAM,
    ("POST", f"{P}/care/alerts/{{alert_id}}/acknowledge"): CLINICIAN_TEAM,
    ("POST", f"{P}/care/alerts/{{alert_id}}/resolve"): CLINICIAN_TEAM,
    # Administration.
    ("PATCH", f"{P}/admin/instruments/{{instrument_id}}"): ADMIN,
    ("GET", f"{P}/admin/care-teams"): ADMIN,
    ("POST", f"{P}/admin/care-teams"): ADMIN,
    ("GET", f"{P}/admin/care-teams/{{team_id}}"): ADMIN,
    ("PATCH", f"{P}/admin/care-teams/{{team_id}}"): ADMIN,
    ("GET", f"{P}/admin/users"): ADMIN,
    ("POST", f"{P}/admin/users"): ADMIN,
    ("PATCH", f"{P}/admin/users/{{user_id}}"): ADMIN,
    ("GET", f"{P}/admin/flag-rules"): ADMIN,
    ("GET", f"{P}/admin/flag-rules/{{team_id}}"): ADMIN,
    ("PUT", f"{P}/admin/flag-rules/{{team_id}}"): ADMIN,
    ("GET", f"{P}/admin/schedules"): ADMIN,
    ("POST", f"{P}/admin/schedules"): ADMIN,
    ("GET", f"{P}/admin/schedules/{{template_id}}"): ADMIN,
    ("PATCH", f"{P}/admin/schedules/{{template_id}}"): ADMIN,
    ("DELETE", f"{P}/admin/schedules/{{template_id}}"): ADMIN,
    ("GET", f"{P}/admin/schedules/{{template_id}}/preview"): ADMIN,
    ("PATCH", f"{P}/admin/patients/{{patient_id}}"): ADMIN,
    ("DELETE", f"{P}/admin/patients/{{patient_id}}"): ADMIN,
}

# Served by the app but not part of the API document: public operator endpoints and the document itself.
PUBLIC_OUTSIDE_DOCUMENT = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"}
# Server-rendered console (session cookie + CSRF; its access rules are tested in tests/console/) and static
# files.
OUTSIDE_SWEEP_PREFIXES = ("/console/", "/static/")


@dataclass
class Targets:
    """The other party's objects (patient B of team B), and patient A's for mixed paths."""

    other_patient: User
    other_team: CareTeam
    other_clinician: User
    other_device_id: int
    other_session_id: int
    other_prompt_id: int
    other_alert_id: int
    own_patient_id: int
    template_id: int
    markers: list[str]  # strings only the other party's data contains


# Path parameters that name the other party's objects, and those naming shared, non-personal things.
OTHER_PARAMS: dict[str, Callable[[Targets], object]] = {
    "patient_id": lambda t: t.other_patient.id,
    "session_id": lambda t: t.other_session_id,
    "prompt_id": lambda t: t.other_prompt_id,
    "alert_id": lambda t: t.other_alert_id,
    "device_id": lambda t: t.other_device_id,
    "team_id": lambda t: t.other_team.id,
    "user_id": lambda t: t.other_clinician.id,
}
SHARED_PARAMS: dict[str, Callable[[Targets], object]] = {
    "instrument_id": lambda t: "phq9",
    "questionnaire_id": lambda t: "phq9",
    "template_id": lambda t: t.template_id,
}
# Nested paths are also tried with the caller's own parent and the other party's child.
OWN_PARENT = {"patient_id": lambda t: t.own_patient_id}


def _iso(delta: timedelta = timedelta()) -> str:
    return (utcnow() + delta).isoformat()


# Valid bodies and queries, so each request is decided by authorisation and not by validation (flask-smorest
# parses the arguments before the guard runs). Where a body can name an object, it names the other party's.
BODIES: dict[tuple[str, str], Callable[[Targets], dict[str, Any]]] = {
    ("POST", f"{P}/auth/login"): lambda t: {"email": t.other_patient.email, "password": "not the password"},
    ("POST", f"{P}/auth/refresh"): lambda t: {"refresh_token": "not-a-refresh-token"},
    ("POST", f"{P}/auth/logout"): lambda t: {"refresh_token": "not-a-refresh-token"},
    ("POST", f"{P}/auth/accept-invite"): lambda t: {
        "code": "not-an-invite",
        "password": "long enough password",
    },
    ("PATCH", f"{P}/me"): lambda t: {"display_name": "Renamed by the sweep"},
    ("POST", f"{P}/me/devices"): lambda t: {"token": f"sweep-token-{uuid.uuid4().hex}", "platform": "ios"},
    ("POST", f"{P}/me/checkins"): lambda t: checkin("daily", DAILY_ANSWERS, prompt_id=t.other_prompt_id),
    ("POST", f"{P}/me/checkins:batch"): lambda t: {
        "checkins": [checkin("daily", DAILY_ANSWERS, prompt_id=t.other_prompt_id)],
        "reflections": [reflection(prompt_id=t.other_prompt_id)],
    },
    ("POST", f"{P}/me/reflections"): lambda t: reflection(prompt_id=t.other_prompt_id),
    ("POST", f"{P}/care/patients"): lambda t: {
        "email": f"sweep-{uuid.uuid4().hex[:8]}@example.org",
        "display_name": "Sweep",
        "timezone": "UTC",
        "care_team_id": t.other_team.id,
    },
    ("PATCH", f"{P}/care/patients/{{patient_id}}/schedule"): lambda t: {"planned_sessions": 3},
    ("POST", f"{P}/care/patients/{{patient_id}}/dosing-sessions"): lambda t: {
        "session_number": 2,
        "started_at": _iso(timedelta(days=20)),
    },
    ("PATCH", f"{P}/care/patients/{{patient_id}}/dosing-sessions/{{session_id}}"): lambda t: {
        "started_at": _iso(timedelta(days=5))
    },
    ("POST", f"{P}/care/alerts/{{alert_id}}/resolve"): lambda t: {
        "note": "Called, fine.",
        "outcome": "contacted",
    },
    ("PATCH", f"{P}/admin/instruments/{{instrument_id}}"): lambda t: {"enabled": True},
    ("POST", f"{P}/admin/care-teams"): lambda t: {"name": "Sweep team"},
    ("PATCH", f"{P}/admin/care-teams/{{team_id}}"): lambda t: {"name": "Renamed team"},
    ("POST", f"{P}/admin/users"): lambda t: {
        "email": "sweep.staff@example.org",
        "display_name": "Sweep",
        "role": "clinician",
        "password": "long enough password",
    },
    ("PATCH", f"{P}/admin/users/{{user_id}}"): lambda t: {"is_active": False},
    ("PUT", f"{P}/admin/flag-rules/{{team_id}}"): lambda t: {"thresholds": {}},
    ("POST", f"{P}/admin/schedules"): lambda t: {"name": "Sweep", "rules": [{"key": "x"}]},
    ("PATCH", f"{P}/admin/schedules/{{template_id}}"): lambda t: {"name": "Renamed"},
    ("PATCH", f"{P}/admin/patients/{{patient_id}}"): lambda t: {"legal_hold": True},
    ("DELETE", f"{P}/admin/patients/{{patient_id}}"): lambda t: {"reason": "sweep request"},
}
QUERIES: dict[tuple[str, str], Callable[[Targets], dict[str, Any]]] = {
    ("GET", f"{P}/care/alerts"): lambda t: {"patient_id": t.other_patient.id},
    ("GET", f"{P}/care/patients/{{patient_id}}/prompts"): lambda t: {"dosing_session_id": t.other_session_id},
    ("GET", f"{P}/admin/schedules/{{template_id}}/preview"): lambda t: {
        "timezone": "UTC",
        "dosing": _iso(timedelta(days=2)),
    },
}
# Operations without another party's id in the path that a permitted caller may still aim at the other
# party through the body: the answer they must give (anything else is checked for leaks only).
SCOPED_BODY_STATUS = {("POST", f"{P}/care/patients"): 422}  # enrolling into another team


def _document(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/openapi.json").get_json()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield method.upper(), path, operation | {"parameters": item.get("parameters", [])}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


# --- the table is complete ------------------------------------------------------------------------------


def test_every_documented_operation_has_an_access_rule(app):
    documented = {(method, path) for method, path, _ in _operations(_document(app))}
    missing = sorted(documented - ACCESS.keys())
    assert not missing, f"operations without an entry in ACCESS (add their access rule): {missing}"
    stale = sorted(ACCESS.keys() - documented)
    assert not stale, f"ACCESS entries for operations no longer in the document: {stale}"


def test_every_api_route_is_in_the_document(app):
    """An undocumented route would escape the sweep; the only others are listed above, explicitly."""
    documented = {path for _, path, _ in _operations(_document(app))}
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
        if path.startswith(OUTSIDE_SWEEP_PREFIXES) or path in PUBLIC_OUTSIDE_DOCUMENT:
            continue
        assert path in documented, f"route {rule.rule} is neither documented nor listed as outside the sweep"


def test_path_parameters_and_bodies_are_provided(app):
    for method, path, operation in _operations(_document(app)):
        for name in _path_params(path):
            assert name in OTHER_PARAMS or name in SHARED_PARAMS, (
                f"no value for {{{name}}} in {method} {path}"
            )
        if operation.get("requestBody", {}).get("required"):
            assert (method, path) in BODIES, f"no body for {method} {path}"
        required_query = [p for p in operation["parameters"] if p["in"] == "query" and p.get("required")]
        if required_query:
            assert (method, path) in QUERIES, f"no query for {method} {path}"


def test_security_is_declared_as_the_table_says(app):
    for method, path, operation in _operations(_document(app)):
        secured = bool(operation.get("security"))
        assert secured == (ACCESS[(method, path)] is not PUBLIC), (method, path)


# --- the other party's objects --------------------------------------------------------------------------


@pytest.fixture
def targets(client: FlaskClient, world: World) -> Targets:
    """Patient B (team B) with a device, a check-in with a note, a reflection, a dosing session with its
    prompts and an open alert, all made through the API as patient B and clinician B."""
    b = world.headers(world.patient_b)
    note, text = f"note-of-b-{uuid.uuid4().hex}", f"reflection-of-b-{uuid.uuid4().hex}"
    entry = checkin("daily", DAILY_ANSWERS | {"note": note})
    mine = reflection(text)
    assert post(client, b, f"{P}/me/checkins", entry).status_code == 201
    assert post(client, b, f"{P}/me/reflections", mine).status_code == 201
    concerning = checkin(answers={f"q{i}": 1 for i in range(1, 9)} | {"q9": 1})
    assert post(client, b, f"{P}/me/checkins", concerning).status_code == 201
    session = client.post(
        f"{P}/care/patients/{world.patient_b.id}/dosing-sessions",
        json={"session_number": 1, "started_at": local_dose("America/New_York").isoformat()},
        headers=world.headers(world.clinician_b),
    )
    assert session.status_code == 201, session.json
    device = db.session.scalars(select(Device).where(Device.user_id == world.patient_b.id)).first()
    prompt = db.session.scalars(select(Prompt).where(Prompt.patient_id == world.patient_b.id)).first()
    alert = db.session.scalars(select(Alert).where(Alert.patient_id == world.patient_b.id)).one()
    template = db.session.scalars(select(ScheduleTemplate).order_by(ScheduleTemplate.id)).first()
    assert device and prompt and template
    markers = [
        world.patient_b.email,
        world.patient_b.display_name,
        world.clinician_b.email,
        world.team_b.name,
        "America/New_York",  # patient B's time zone; patient A's is Europe/Berlin
        device.token,
        note,
        text,
        entry["client_uuid"],
        mine["client_uuid"],
        concerning["client_uuid"],
    ]
    return Targets(
        other_patient=world.patient_b,
        other_team=world.team_b,
        other_clinician=world.clinician_b,
        other_device_id=device.id,
        other_session_id=session.json["id"],
        other_prompt_id=prompt.id,
        other_alert_id=alert.id,
        own_patient_id=world.patient_a.id,
        template_id=template.id,
        markers=markers,
    )


def _snapshot(t: Targets) -> dict[str, Any]:
    """The state of the other party's objects, to show that no refused request changed them."""
    db.session.expire_all()
    pid = t.other_patient.id
    profile = db.session.get(PatientProfile, pid)
    session = db.session.get(DosingSession, t.other_session_id)
    alert = db.session.get(Alert, t.other_alert_id)
    return {
        "user": (t.other_patient.is_active, t.other_patient.display_name, t.other_clinician.is_active),
        "profile": (profile.legal_hold, profile.care_team_id, profile.timezone),
        "team": (t.other_team.name, sorted(m.user_id for m in t.other_team.members)),
        "session": (session.started_at, session.cancelled_at),
        "prompts": sorted(
            (p.id, p.state, p.intended_at)
            for p in db.session.scalars(select(Prompt).where(Prompt.patient_id == pid))
        ),
        "devices": sorted(
            (d.id, d.user_id, d.active)
            for d in db.session.scalars(select(Device).where(Device.user_id == pid))
        ),
        "alert": (alert.state, alert.acknowledged_at, alert.resolved_at),
        "checkins": db.session.query(CheckIn).filter_by(patient_id=pid).count(),
        "reflections": db.session.query(Reflection).filter_by(patient_id=pid).count(),
    }


# --- the sweep ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    method: str
    path: str  # the document's template
    url: str
    rule: Rule
    aims_at_other: bool  # a path parameter names the other party's object


def _attempts(document: dict[str, Any], t: Targets) -> Iterator[Attempt]:
    for method, path, _ in _operations(document):
        rule = ACCESS[(method, path)]
        params = _path_params(path)
        fillers = [{**OTHER_PARAMS, **SHARED_PARAMS}]
        if len(params) > 1 and params[0] in OWN_PARENT:
            fillers.append({**OTHER_PARAMS, **SHARED_PARAMS, **OWN_PARENT})
        for filler in fillers:
            values = {name: filler[name](t) for name in params}
            url = path.format(**values)
            aims = any(name in OTHER_PARAMS and filler[name] is OTHER_PARAMS[name] for name in params)
            yield Attempt(method, path, url, rule, aims)


def _expected(attempt: Attempt, role: str | None) -> set[int] | None:
    """The statuses allowed for this caller; None: any non-5xx answer, checked for leaks only."""
    rule = attempt.rule
    if rule is PUBLIC:
        return None
    if role is None:
        return {401}
    if role not in rule.roles:
        return {403}
    if attempt.aims_at_other:
        return {404}
    status = SCOPED_BODY_STATUS.get((attempt.method, attempt.path))
    return {status} if status else None


def _leaks(response_text: str, t: Targets) -> list[str]:
    found = [marker for marker in t.markers if marker in response_text]
    try:
        body = json.loads(response_text)
    except ValueError:
        return found

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("patient_id", "user_id") and value == t.other_patient.id:
                    yield f"{key}={value}"
                if key == "care_team_id" and value == t.other_team.id:
                    yield f"{key}={value}"
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return found + list(walk(body))


ACTORS = {
    "anonymous": None,
    "patient": lambda w: w.patient_a,
    "clinician": lambda w: w.clinician_a,
    "admin": lambda w: w.admin,
}


@pytest.mark.parametrize("actor", list(ACTORS))
def test_no_operation_reaches_another_party(app, client, world, targets, actor):
    document = _document(app)
    user = ACTORS[actor](world) if ACTORS[actor] else None
    role = user.role if user else None
    before = _snapshot(targets)
    problems, tried = [], 0
    for attempt in _attempts(document, targets):
        if attempt.rule.scope == "global" and role == "admin":
            continue  # an admin's remit is every team: there is no "other party" to be kept from
        tried += 1
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if user is not None:
            headers |= world.headers(user)
        key = (attempt.method, attempt.path)
        response = client.open(
            attempt.url,
            method=attempt.method,
            headers=headers,
            json=BODIES[key](targets) if key in BODIES else None,
            query_string=QUERIES[key](targets) if key in QUERIES else None,
        )
        label = f"{attempt.method} {attempt.url}"
        expected = _expected(attempt, role)
        if response.status_code >= 500:
            problems.append(f"{label}: {response.status_code}")
        elif expected is not None and response.status_code not in expected:
            problems.append(f"{label}: {response.status_code}, expected {sorted(expected)}")
        leaked = _leaks(response.get_data(as_text=True), targets)
        if leaked:
            problems.append(f"{label}: {response.status_code} leaks {leaked}")
    assert tried >= len(ACCESS) // 2
    assert not problems, "\n".join(problems)
    assert _snapshot(targets) == before, "a refused request changed the other party's data"


def test_public_operator_endpoints_need_no_token_and_leak_nothing(client, targets):
    for path in sorted(PUBLIC_OUTSIDE_DOCUMENT):
        response = client.get(path)
        assert response.status_code in (200, 503), path  # /readyz is 503 without a running worker
        assert not _leaks(response.get_data(as_text=True), targets), path
