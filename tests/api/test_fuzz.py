"""Property-based fuzzing of every operation in /openapi.json with schemathesis, in-process (WSGI).

Every generated request, valid or invalid, is sent to its operation once with each role's access token
(patient, clinician, admin). No response may be a server error; every response must match what the document
says about it (status code, content type, headers, body schema); invalid requests must be refused (4xx).
The example count is small and the generation deterministic, so the file stays fast and repeatable;
FUZZ_MAX_EXAMPLES=50 (say) runs a deeper search, FUZZ_COVERAGE=1 adds schemathesis's coverage phase.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from api import create_app
from api.extensions import db, limiter
from api.models import User
from tests.api.entries_helpers import DAILY_ANSWERS, checkin
from tests.conftest import PostgresDatabases, World

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,  # the same cases on every run; FUZZ_MAX_EXAMPLES explores further
            "database": "none",  # no .hypothesis directory in the working tree
            # The test sends each role's own bearer token; a generated (or deliberately missing) Authorization
            # header would be overwritten and the "invalid" case would in fact be valid.
            "with-security-parameters": False,
        },
        # The document's own examples, and random fuzzing. The coverage phase (boundary values of every
        # parameter) makes hundreds of requests per operation: too slow for every test run.
        "phases": {
            "examples": {"enabled": True},
            "fuzzing": {"enabled": True},
            "coverage": {"enabled": os.environ.get("FUZZ_COVERAGE") == "1"},
        },
    }
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _document_app() -> Flask:
    """An app used only to serve /openapi.json at collection time; requests go to the `app` fixture below."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


schema = schemathesis.openapi.from_wsgi("/openapi.json", _document_app(), config=CONFIG)


@pytest.fixture(scope="module")
def module_app(
    database_template: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, Callable[[], None]]]:
    """One app for the module and a function that puts its database back to the freshly migrated state:
    building an app per operation would cost more than fuzzing it."""
    tmp = tmp_path_factory.mktemp("fuzz")
    if isinstance(database_template, PostgresDatabases):
        name, url = database_template.clone()

        def reset() -> None:
            database_template.drop(name)
            with database_template.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{database_template.template}"'))

    else:
        assert isinstance(database_template, Path)
        path = tmp / "fuzz.sqlite3"
        url = f"sqlite:///{path}"

        def reset() -> None:
            shutil.copy(database_template, path)

    reset()
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "REFLECTION_KEYS_FILE": str(tmp / "reflection.keys"),
        }
    )
    with app.app_context():
        yield app, reset
        db.session.remove()
        db.engine.dispose()
    if isinstance(database_template, PostgresDatabases):
        database_template.drop(name)


@pytest.fixture
def app(module_app: tuple[Flask, Callable[[], None]]) -> Flask:
    """Overrides conftest's `app` (so its `world` fixture works unchanged): the module's app, on a fresh
    database for each operation."""
    module_app_, reset = module_app
    db.session.remove()
    db.engine.dispose()
    reset()
    limiter.reset()
    return module_app_


ROLES = ("patient", "clinician", "admin")  # in this order: the admin's changes come last in each example


def _user(world: World, role: str) -> User:
    return {"patient": world.patient_a, "clinician": world.clinician_a, "admin": world.admin}[role]


@schema.parametrize()
# The database is shared by the examples of one operation on purpose: each starts from the same world and
# whatever earlier examples created, like a real client session (and a fresh database per operation, not
# per example, keeps the file fast).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_document(case, app, world):
    for role in ROLES:
        try:
            case.call_and_validate(app=app, headers=world.headers(_user(world, role)), checks=CHECKS)
        except Exception as failure:
            failure.add_note(f"sent with the {role}'s access token")
            raise


HUGE = 2**70  # beyond any INTEGER column (and beyond what SQLite's driver can bind: OverflowError)


def test_ids_out_of_range_are_refused_not_server_errors(client, world):
    """Regression: the fuzzer found 500s for ids beyond the INTEGER range in a path; queries and bodies had
    the same fault. Paths now match no route (404), query and body fields are validated (422)."""
    clinician, admin = world.headers(world.clinician_a), world.headers(world.admin)
    patient = world.headers(world.patient_a) | {"Idempotency-Key": "out-of-range"}
    care = f"/api/v1/care/patients/{world.patient_a.id}"
    requests = [
        ("POST", f"/api/v1/care/patients/{HUGE}/invite", clinician, {}, None, 404),
        ("GET", f"/api/v1/admin/schedules/{HUGE}", admin, {}, None, 404),
        ("GET", "/api/v1/care/alerts", clinician, {"patient_id": HUGE}, None, 422),
        ("GET", f"{care}/prompts", clinician, {"dosing_session_id": HUGE}, None, 422),
        ("GET", f"{care}/prompts", clinician, {"offset": HUGE}, None, 422),
        ("PATCH", f"{care}/schedule", clinician, {}, {"template_id": HUGE}, 422),
        ("PATCH", f"/api/v1/admin/care-teams/{world.team_a.id}", admin, {}, {"clinician_ids": [HUGE]}, 422),
        (
            "POST",
            "/api/v1/care/patients",
            clinician,
            {},
            {"email": "n@example.org", "display_name": "N", "timezone": "UTC", "care_team_id": HUGE},
            422,
        ),
        ("POST", "/api/v1/me/checkins", patient, {}, checkin("daily", DAILY_ANSWERS, prompt_id=HUGE), 422),
    ]
    for method, url, headers, query, body, expected in requests:
        response = client.open(url, method=method, headers=headers, query_string=query, json=body)
        assert response.status_code == expected, (method, url, query, body, response.get_json())
