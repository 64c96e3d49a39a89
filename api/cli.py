"""Flask CLI commands: `flask --app api create-admin | seed-demo` (plus Flask-Migrate's `db`)."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from api.data_rights_cli import register_data_rights_cli
from api.extensions import db
from api.models import Device, User
from api.services.accounts import (
    accept_invite,
    create_care_team,
    create_staff_user,
    enrol_patient,
    update_care_team,
)
from api.services.crypto import add_local_key, reencrypt_all

DEMO_PASSWORD = "demo-password-123"


def register_cli(app: Flask) -> None:
    register_key_rotation(app)
    register_data_rights_cli(app)

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--name", default="Administrator")
    @click.password_option("--password", prompt="Password", help="At least 10 characters.")
    def create_admin(email: str, name: str, password: str) -> None:
        """Create an admin account."""
        if len(password) < 10:
            raise click.BadParameter("at least 10 characters", param_hint="--password")
        user = create_staff_user(email, name, "admin", password)
        click.echo(f"admin {user.email} created (id {user.id})")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """An admin, a care team, a clinician on duty and two patients, all with devices, for trying things by hand."""
        if db.session.scalar(select(User).where(User.email == "admin@demo.test")):
            click.echo("demo data already present")
            return
        create_staff_user("admin@demo.test", "Demo Admin", "admin", DEMO_PASSWORD)
        team = create_care_team("Demo care team", "+1 555 0100")
        clinician = create_staff_user("clinician@demo.test", "Dr Demo", "clinician", DEMO_PASSWORD)
        # On duty, with a phone, so a demo alert visibly reaches someone (the console notifier prints it).
        db.session.add(Device(user_id=clinician.id, token="demo-clinician-device-token", platform="ios"))
        update_care_team(team, {"clinician_ids": [clinician.id], "on_duty_ids": [clinician.id]})
        for n, tz in ((1, "America/New_York"), (2, "Europe/Berlin")):
            patient, code, _ = enrol_patient(clinician, f"patient{n}@demo.test", f"Patient {n}", tz, team.id)
            accept_invite(code, DEMO_PASSWORD)
            db.session.add(Device(user_id=patient.id, token=f"demo-device-token-{n}", platform="android"))
            db.session.commit()
        click.echo(
            f"demo accounts: admin@demo.test, clinician@demo.test, patient1@demo.test, "
            f"patient2@demo.test (password {DEMO_PASSWORD}); care team id {team.id}"
        )


def register_key_rotation(app: Flask) -> None:
    @app.cli.command("rotate-keys")
    @click.option("--new-local-key", is_flag=True, help="First prepend a fresh key to the local key file.")
    def rotate_keys(new_local_key: bool) -> None:
        """Re-encrypt every reflection and check-in note with the newest key (the first in REFLECTION_KEYS)."""
        if new_local_key:
            add_local_key(app)
        counts = reencrypt_all()
        click.echo(f"re-encrypted {counts['reflections']} reflections and {counts['notes']} check-in notes")
