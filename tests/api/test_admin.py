"""Admin: care teams, staff accounts, team membership."""

from api.extensions import db
from api.models import AuditLog


def test_admin_creates_team_and_clinician_and_assigns(client, world):
    h = world.headers(world.admin)
    team = client.post(
        "/api/v1/admin/care-teams", json={"name": "Team C", "contact_phone": "+1 555 0199"}, headers=h
    )
    assert team.status_code == 201
    clin = client.post(
        "/api/v1/admin/users",
        headers=h,
        json={
            "email": "clin.c@example.org",
            "display_name": "Dr C",
            "role": "clinician",
            "password": "long enough pw",
        },
    )
    assert clin.status_code == 201 and clin.json["role"] == "clinician" and "password" not in clin.json
    r = client.patch(
        f"/api/v1/admin/care-teams/{team.json['id']}", headers=h, json={"clinician_ids": [clin.json["id"]]}
    )
    assert r.status_code == 200 and r.json["clinician_ids"] == [clin.json["id"]]
    login = client.post(
        "/api/v1/auth/login", json={"email": "clin.c@example.org", "password": "long enough pw"}
    )
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json['access_token']}"})
    assert me.json["care_team_ids"] == [team.json["id"]]
    assert db.session.query(AuditLog).filter_by(resource_type="care_team", action="update").count() == 1


def test_only_clinicians_can_be_team_members(client, world):
    r = client.patch(
        f"/api/v1/admin/care-teams/{world.team_a.id}",
        headers=world.headers(world.admin),
        json={"clinician_ids": [world.patient_a.id]},
    )
    assert r.status_code == 422 and "clinician_ids" in r.json["errors"]["json"]


def test_duplicate_team_name_and_email_are_409(client, world):
    h = world.headers(world.admin)
    assert client.post("/api/v1/admin/care-teams", json={"name": "Team A"}, headers=h).status_code == 409
    r = client.post(
        "/api/v1/admin/users",
        headers=h,
        json={
            "email": "clin.a@example.org",
            "display_name": "dup",
            "role": "clinician",
            "password": "long enough pw",
        },
    )
    assert r.status_code == 409 and r.json["errors"]["json"]["email"]


def test_admin_cannot_create_patients_directly(client, world):
    r = client.post(
        "/api/v1/admin/users",
        headers=world.headers(world.admin),
        json={"email": "p@example.org", "display_name": "P", "role": "patient", "password": "long enough pw"},
    )
    assert r.status_code == 422 and "role" in r.json["errors"]["json"]


def test_unknown_team_is_404(client, world):
    assert client.get("/api/v1/admin/care-teams/999", headers=world.headers(world.admin)).status_code == 404
