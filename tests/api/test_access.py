"""Each role's access matrix: who reaches which endpoint, and 404 for other teams' patients."""

import re

import pytest

from api.extensions import db
from api.models import AuditLog

ENDPOINTS = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/me/devices"),
    ("GET", "/api/v1/care/patients"),
    ("GET", "/api/v1/admin/care-teams"),
    ("GET", "/api/v1/admin/users"),
]
ALLOWED = {
    "admin": {"/api/v1/me", "/api/v1/admin/care-teams", "/api/v1/admin/users"},
    "clinician": {"/api/v1/me", "/api/v1/me/devices", "/api/v1/care/patients"},
    "patient": {"/api/v1/me", "/api/v1/me/devices"},
}


@pytest.mark.parametrize("role", ["admin", "clinician", "patient"])
def test_role_matrix(client, world, role):
    user = {"admin": world.admin, "clinician": world.clinician_a, "patient": world.patient_a}[role]
    for method, path in ENDPOINTS:
        r = client.open(path, method=method, headers=world.headers(user))
        expected = 200 if path in ALLOWED[role] else 403
        assert r.status_code == expected, (role, path, r.status_code)


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_anonymous_gets_401(client, world, method, path):
    r = client.open(path, method=method)
    assert r.status_code == 401 and r.json["code"] == "unauthorized"


def test_clinician_sees_only_their_team(client, world):
    r = client.get("/api/v1/care/patients", headers=world.headers(world.clinician_a))
    assert [p["id"] for p in r.json] == [world.patient_a.id]
    own = client.get(f"/api/v1/care/patients/{world.patient_a.id}", headers=world.headers(world.clinician_a))
    assert own.status_code == 200 and own.json["timezone"] == "Europe/Berlin"


def test_clinician_of_team_a_gets_404_for_patient_of_team_b(client, world):
    other = client.get(
        f"/api/v1/care/patients/{world.patient_b.id}", headers=world.headers(world.clinician_a)
    )
    missing = client.get("/api/v1/care/patients/99999", headers=world.headers(world.clinician_a))
    assert other.status_code == missing.status_code == 404
    assert other.json == missing.json


def test_clinician_cannot_enrol_into_another_team(client, world):
    r = client.post(
        "/api/v1/care/patients",
        headers=world.headers(world.clinician_a),
        json={
            "email": "x@example.org",
            "display_name": "X",
            "timezone": "UTC",
            "care_team_id": world.team_b.id,
        },
    )
    assert r.status_code == 422 and "care_team_id" in r.json["errors"]["json"]


def test_patient_data_reads_are_audited(client, world):
    client.get(f"/api/v1/care/patients/{world.patient_a.id}", headers=world.headers(world.clinician_a))
    row = db.session.query(AuditLog).filter_by(action="read", resource_type="patient").one()
    assert (row.actor_id, row.actor_role, row.patient_id, row.ip) == (
        world.clinician_a.id,
        "clinician",
        world.patient_a.id,
        "127.0.0.1",
    )
    assert row.request_id


def test_denied_access_to_another_team_writes_no_read_record(client, world):
    client.get(f"/api/v1/care/patients/{world.patient_b.id}", headers=world.headers(world.clinician_a))
    assert db.session.query(AuditLog).filter_by(patient_id=world.patient_b.id).count() == 0


def test_audit_log_is_append_only(world):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from api.services.audit import audit

    audit("read", "patient", 1, patient_id=1)
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("UPDATE audit_log SET action = 'tampered'"))
    db.session.rollback()


def _protected_operations_with_a_body(client) -> list[tuple[str, str]]:
    """(method, path) of every documented operation that takes a body and a token; ids filled with 1."""
    paths = client.get("/openapi.json").json["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation and operation.get("security")
    ]


def test_callers_are_checked_before_the_body_is_parsed(client, world):
    """A bad body from someone not allowed there gets 401/403, never field messages about the body."""
    operations = _protected_operations_with_a_body(client)
    assert ("POST", "/api/v1/me/checkins") in operations
    garbage = {"unexpected": ["garbage"]}
    for method, path in operations:
        r = client.open(path, method=method, json=garbage)
        assert r.status_code == 401, (method, path, r.status_code)
    admin_only = [(m, p) for m, p in operations if p.startswith("/api/v1/admin/")]
    assert admin_only
    for method, path in admin_only:
        r = client.open(path, method=method, json=garbage, headers=world.headers(world.patient_a))
        assert r.status_code == 403, (method, path, r.status_code)
