"""Reflections: encrypted at rest, key rotation, listing, access, and the patient's export."""

import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from api.extensions import db
from api.models import AuditLog, Reflection
from api.services.crypto import decrypt_text
from tests.api.entries_helpers import DAILY_ANSWERS, checkin, post, reflection

URL = "/api/v1/me/reflections"


def test_reflection_text_never_reaches_the_database_in_plain_text(client, world):
    secret = "I remembered the night of the accident and cried for an hour"
    r = post(client, world.headers(world.patient_a), URL, reflection(secret))
    assert r.status_code == 201 and r.json["text"] == secret
    raw = db.session.execute(text("SELECT text_ciphertext FROM reflections")).scalar_one()
    assert b"accident" not in bytes(raw) and bytes(raw).startswith(b"gAAAAA")  # a Fernet token
    listed = client.get(URL, headers=world.headers(world.patient_a)).json["items"]
    assert [i["text"] for i in listed] == [secret]


def test_reflection_limits(client, world):
    h = world.headers(world.patient_a)
    assert post(client, h, URL, reflection("x" * 10_000)).status_code == 201
    too_long = post(client, h, URL, reflection("x" * 10_001))
    assert too_long.status_code == 422 and "text" in too_long.json["errors"]["json"]


def test_reflection_is_idempotent(client, world):
    h, body = world.headers(world.patient_a), reflection()
    key = str(uuid.uuid4())
    first, again = post(client, h, URL, body, key), post(client, h, URL, body, key)
    assert first.json == again.json and db.session.query(Reflection).count() == 1


def test_rotate_keys_reencrypts_with_the_new_key(app, client, world):
    post(client, world.headers(world.patient_a), URL, reflection("before rotation"))
    post(
        client,
        world.headers(world.patient_a),
        "/api/v1/me/checkins",
        checkin("daily", DAILY_ANSWERS | {"note": "a private note"}),
    )
    key_file = Path(app.config["REFLECTION_KEYS_FILE"])
    old = key_file.read_text().split()[0]
    result = app.test_cli_runner().invoke(args=["rotate-keys", "--new-local-key"])
    assert "re-encrypted 1 reflections and 1 check-in notes" in result.output, result.output
    new = key_file.read_text().split()[0]
    assert new != old
    token = bytes(db.session.scalar(select(Reflection.text_ciphertext)))
    assert Fernet(new.encode()).decrypt(token) == b"before rotation"
    assert decrypt_text(token) == "before rotation"


def test_production_requires_configured_keys(app):
    from api.config import ConfigError
    from api.services.crypto import cipher

    app.extensions.pop("reflection_cipher", None)
    app.config["ENV_MODE"] = "production"
    with pytest.raises(ConfigError):
        cipher()


def test_clinician_reads_reflections_of_own_team_only(client, world):
    post(client, world.headers(world.patient_a), URL, reflection("shared with my team"))
    own = client.get(
        f"/api/v1/care/patients/{world.patient_a.id}/reflections", headers=world.headers(world.clinician_a)
    )
    assert own.status_code == 200 and own.json["items"][0]["text"] == "shared with my team"
    audit = db.session.scalars(select(AuditLog).where(AuditLog.resource_type == "reflection")).all()
    assert [(a.action, a.actor_id) for a in audit] == [
        ("create", world.patient_a.id),
        ("list", world.clinician_a.id),
    ]


def test_export_holds_everything_about_the_patient(client, world):
    h = world.headers(world.patient_a)
    post(client, h, URL, reflection("for the export"))
    post(client, h, "/api/v1/me/checkins", checkin())
    post(client, world.headers(world.patient_b), URL, reflection("someone else's"))
    r = client.get("/api/v1/me/export", headers=h)
    assert r.status_code == 200
    assert r.json["profile"]["email"] == "pat.a@example.org"
    assert [x["text"] for x in r.json["reflections"]] == ["for the export"]
    assert [c["total"] for c in r.json["checkins"]] == [9]
    assert len(r.json["devices"]) == 1
    assert db.session.query(AuditLog).filter_by(action="export", patient_id=world.patient_a.id).count() == 1
