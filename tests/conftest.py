"""Fixtures: an app per test on a fresh, fully migrated database (SQLite by default, PostgreSQL when
TEST_DATABASE_URL or DATABASE_URL points at one)."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import create_app
from api.auth.passwords import hash_password
from api.auth.tokens import issue_access_token
from api.extensions import db, limiter
from api.models import CareTeam, CareTeamMember, Device, PatientProfile, User
from api.models.types import utcnow

PASSWORD = "correct horse battery"
BASE_URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
ON_POSTGRES = BASE_URL.startswith("postgresql")


def _migrate(url: str, instance: Path) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


class PostgresDatabases:
    """A migrated template database, cloned per test (CREATE DATABASE ... TEMPLATE is fast)."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.template = f"ic_tpl_{os.getpid()}"

    def _url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def create_template(self, instance: Path) -> None:
        self.drop(self.template)
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        _migrate(self._url(self.template), instance)

    def clone(self) -> tuple[str, str]:
        name = f"ic_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name, self._url(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    instance = tmp_path_factory.mktemp("instance")
    if ON_POSTGRES:
        pg = PostgresDatabases(BASE_URL)
        pg.create_template(instance)
        yield pg
        pg.drop(pg.template)
        pg.admin.dispose()
    else:
        template = instance / "template.sqlite3"
        _migrate(f"sqlite:///{template}", instance)
        yield template


@pytest.fixture
def database_url(database_template: object, tmp_path: Path) -> Iterator[str]:
    if isinstance(database_template, PostgresDatabases):
        name, url = database_template.clone()
        yield url
        database_template.drop(name)
    else:
        path = tmp_path / "test.sqlite3"
        shutil.copy(database_template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REFLECTION_KEYS_FILE": str(tmp_path / "reflection.keys"),
        }
    )
    limiter.reset()
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(user: User) -> dict[str, str]:
    token, _ = issue_access_token(user)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """Two care teams, each with a clinician and a patient, plus an admin."""

    admin: User
    team_a: CareTeam
    team_b: CareTeam
    clinician_a: User
    clinician_b: User
    patient_a: User
    patient_b: User

    def headers(self, user: User) -> dict[str, str]:
        return bearer(user)


@functools.cache
def _password_hash(password: str) -> str:
    # argon2id is deliberately slow; hash each test password once per session, not per user.
    return hash_password(password)


def add_user(email: str, role: str, password: str | None = PASSWORD) -> User:
    user = User(
        email=email,
        display_name=email.split("@")[0],
        role=role,
        password_hash=_password_hash(password) if password else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def add_patient(email: str, team: CareTeam, timezone: str = "Europe/Berlin", device: bool = True) -> User:
    user = add_user(email, "patient")
    # Enrolled two weeks ago, so entries recorded in the last days are after enrolment.
    enrolled = utcnow() - timedelta(days=14)
    db.session.add(
        PatientProfile(
            user_id=user.id,
            care_team_id=team.id,
            timezone=timezone,
            enrolled_at=enrolled,
            activated_at=enrolled,
        )
    )
    if device:
        db.session.add(
            Device(user_id=user.id, token=f"fcm-token-{user.id}-{uuid.uuid4().hex[:6]}", platform="android")
        )
    db.session.flush()
    return user


@pytest.fixture
def world(app: Flask) -> World:
    admin = add_user("admin@example.org", "admin")
    team_a, team_b = CareTeam(name="Team A", contact_phone="+1 555 0101"), CareTeam(name="Team B")
    db.session.add_all([team_a, team_b])
    db.session.flush()
    clinician_a = add_user("clin.a@example.org", "clinician")
    clinician_b = add_user("clin.b@example.org", "clinician")
    db.session.add_all(
        [
            CareTeamMember(team_id=team_a.id, user_id=clinician_a.id),
            CareTeamMember(team_id=team_b.id, user_id=clinician_b.id),
        ]
    )
    patient_a = add_patient("pat.a@example.org", team_a)
    patient_b = add_patient("pat.b@example.org", team_b, timezone="America/New_York")
    db.session.commit()
    return World(admin, team_a, team_b, clinician_a, clinician_b, patient_a, patient_b)
