"""Fixtures for the worker's database jobs: a fake FCM server with a real FcmNotifier pointed at it,
a controllable clock, prompt builders and recorders for the alerts hooks."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from api.extensions import db
from api.models import CareTeam, Device, DosingSession, PatientProfile, Prompt, User
from api.models.prompts import SCHEDULED
from api.models.types import utcnow
from api.services import alerts
from tests.fakes.fcm_server import FakeFcmServer
from worker.notifier.fcm import FcmNotifier, StaticTokenCredential
from worker.settings import WorkerSettings

PROJECT = "ic-worker-test"
STATIC_TOKEN = "worker-test-token"
WORKER_ID = "worker-test-1"


@pytest.fixture(scope="session")
def fcm_server() -> Iterator[FakeFcmServer]:
    with FakeFcmServer() as server:
        yield server


@pytest.fixture
def fcm(fcm_server: FakeFcmServer) -> FakeFcmServer:
    fcm_server.reset()
    fcm_server.set_default((200, None))
    return fcm_server


@pytest.fixture(scope="session")
def fcm_notifier(fcm_server: FakeFcmServer) -> Iterator[FcmNotifier]:
    with FcmNotifier(PROJECT, StaticTokenCredential(STATIC_TOKEN), endpoint=fcm_server.url) as notifier:
        yield notifier


class Clock:
    """A frozen "now" for the worker functions (``clock=`` argument), moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow())


@pytest.fixture
def settings() -> WorkerSettings:
    return WorkerSettings(worker_id=WORKER_ID, batch_size=50, lease_seconds=60, max_attempts=3)


@dataclass
class HookCalls:
    undeliverable: list[tuple[int, str]] = field(default_factory=list)
    expired: list[set[int]] = field(default_factory=list)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> HookCalls:
    """Record the calls into the alerts service instead of raising alerts."""
    calls = HookCalls()
    monkeypatch.setattr(
        alerts,
        "on_prompt_undeliverable",
        lambda prompt_id, reason: calls.undeliverable.append((prompt_id, reason)),
    )
    monkeypatch.setattr(
        alerts, "on_prompts_expired", lambda patient_ids: calls.expired.append(set(patient_ids))
    )
    return calls


@dataclass
class Patients:
    team: CareTeam
    patient_a: User
    patient_b: User


def add_patient(team: CareTeam, email: str, timezone: str) -> User:
    """A patient with one active device; no password (hashing one costs ~0.8 s)."""
    user = User(email=email, display_name=email.split("@")[0], role="patient", password_hash=None)
    db.session.add(user)
    db.session.flush()
    db.session.add(PatientProfile(user_id=user.id, care_team_id=team.id, timezone=timezone))
    add_device(user)
    return user


@pytest.fixture
def patients(app: object) -> Patients:
    """Two patients of one care team, each with one active device (a cheap ``world``)."""
    team = CareTeam(name="Worker Team")
    db.session.add(team)
    db.session.flush()
    result = Patients(
        team,
        add_patient(team, "w.pat.a@example.org", "Europe/Berlin"),
        add_patient(team, "w.pat.b@example.org", "America/New_York"),
    )
    db.session.commit()
    return result


_occurrences = itertools.count(1)


def add_session(patient: User, started_at: datetime | None = None) -> DosingSession:
    session = DosingSession(
        patient_id=patient.id, session_number=1, started_at=started_at or utcnow() - timedelta(days=3)
    )
    db.session.add(session)
    db.session.flush()
    return session


def add_device(patient: User, active: bool = True, token: str | None = None) -> Device:
    device = Device(
        user_id=patient.id,
        token=token or f"tok-{patient.id}-{uuid.uuid4().hex[:10]}",
        platform="ios",
        active=active,
        deactivated_at=None if active else utcnow(),
        deactivation_reason=None if active else "UNREGISTERED",
    )
    db.session.add(device)
    db.session.flush()
    return device


def add_prompt(
    patient: User,
    intended_at: datetime,
    expires_at: datetime | None = None,
    reminder_hours: list[float] | None = None,
    state: str = SCHEDULED,
    **fields: object,
) -> Prompt:
    session = db.session.query(DosingSession).filter_by(patient_id=patient.id).first() or add_session(patient)
    prompt = Prompt(
        patient_id=patient.id,
        dosing_session_id=session.id,
        rule_key="phq9-weekly",
        occurrence=next(_occurrences),
        kind="instrument",
        instrument_id="phq9",
        day=7,
        state=state,
        intended_at=intended_at,
        expires_at=expires_at or intended_at + timedelta(hours=12),
        reminder_hours=[] if reminder_hours is None else reminder_hours,
        template_version=1,
        **{"reminders_sent": 0, "attempts": 0, **fields},
    )
    db.session.add(prompt)
    db.session.commit()
    return prompt


def active_tokens(patient: User) -> list[str]:
    return sorted(d.token for d in db.session.query(Device).filter_by(user_id=patient.id, active=True).all())


def reload(prompt: Prompt) -> Prompt:
    db.session.expire_all()
    return db.session.get(Prompt, prompt.id)
