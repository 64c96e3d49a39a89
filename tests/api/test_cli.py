"""Flask CLI: create-admin and seed-demo."""

from sqlalchemy import select

from api.extensions import db
from api.models import Device, PatientProfile, User


def test_create_admin(app):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "Root@Example.org", "--password", "a long password"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "root@example.org"))
    assert user.role == "admin" and user.password_hash.startswith("$argon2id$")


def test_create_admin_rejects_short_password(app):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "a@example.org", "--password", "short"]
    )
    assert result.exit_code != 0
    assert db.session.scalar(select(User)) is None


def test_seed_demo_is_repeatable(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert "already present" in runner.invoke(args=["seed-demo"]).output
    patients = db.session.scalars(select(PatientProfile)).all()
    assert len(patients) == 2 and all(p.activated_at for p in patients)
    assert db.session.query(Device).count() == 3  # two patients and the clinician on duty
