"""The signed-in user's profile and push devices."""

from api.extensions import db
from api.models import AuditLog, Device


def test_patient_changes_time_zone(client, world):
    h = world.headers(world.patient_a)
    r = client.patch("/api/v1/me", json={"timezone": "America/Chicago"}, headers=h)
    assert r.status_code == 200 and r.json["timezone"] == "America/Chicago"
    bad = client.patch("/api/v1/me", json={"timezone": "Mars/Olympus"}, headers=h)
    assert bad.status_code == 422 and bad.json["errors"]["json"]["timezone"]
    assert client.get("/api/v1/me", headers=h).json["timezone"] == "America/Chicago"


def test_staff_have_no_time_zone(client, world):
    r = client.patch("/api/v1/me", json={"timezone": "UTC"}, headers=world.headers(world.clinician_a))
    assert r.status_code == 422


def test_register_refresh_and_delete_device(client, world):
    h = world.headers(world.patient_a)
    first = client.post("/api/v1/me/devices", json={"token": "tok-abcdefgh-1", "platform": "ios"}, headers=h)
    assert first.status_code == 201
    again = client.post("/api/v1/me/devices", json={"token": "tok-abcdefgh-1", "platform": "ios"}, headers=h)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert client.delete(f"/api/v1/me/devices/{first.json['id']}", headers=h).status_code == 204
    assert db.session.get(Device, first.json["id"]) is None
    assert (
        db.session.query(AuditLog).filter_by(resource_type="device", patient_id=world.patient_a.id).count()
        == 3
    )


def test_same_token_registered_by_another_user_moves(client, world):
    a = client.post(
        "/api/v1/me/devices",
        json={"token": "shared-phone-token", "platform": "android"},
        headers=world.headers(world.patient_a),
    )
    b = client.post(
        "/api/v1/me/devices",
        json={"token": "shared-phone-token", "platform": "android"},
        headers=world.headers(world.clinician_a),
    )
    assert a.json["id"] == b.json["id"]
    device = db.session.get(Device, a.json["id"])
    db.session.refresh(device)
    assert device.user_id == world.clinician_a.id
    # The patient can no longer remove it: it is not theirs any more.
    r = client.delete(f"/api/v1/me/devices/{a.json['id']}", headers=world.headers(world.patient_a))
    assert r.status_code == 404


def test_admins_do_not_register_devices(client, world):
    r = client.post(
        "/api/v1/me/devices",
        json={"token": "tok-admin-123", "platform": "ios"},
        headers=world.headers(world.admin),
    )
    assert r.status_code == 403
