"""Bulk seeding of due prompts for the multi-worker tests and bench/dispatch.py (Core executemany
INSERTs; SQLAlchemy batches them into multi-row INSERT ... RETURNING on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert

from api.extensions import db
from api.models import CareTeam, Device, DosingSession, PatientProfile, Prompt, User


def _insert_returning_ids(model: type, rows: list[dict]) -> list[int]:
    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return [row[0] for row in db.session.execute(stmt, rows)]


def seed_due_prompts(
    patients: int,
    prompts_per_patient: int,
    now: datetime,
    devices_per_patient: int = 1,
    spread_seconds: int = 60,
) -> list[int]:
    """``patients`` patients with ``devices_per_patient`` active devices each and
    ``prompts_per_patient`` prompts each, due within the last ``spread_seconds``, open for 12 hours.
    Commits; returns the prompt ids."""
    tag = uuid.uuid4().hex[:8]
    team = CareTeam(name=f"Bulk team {tag}")
    db.session.add(team)
    db.session.flush()
    user_ids = _insert_returning_ids(
        User,
        [
            {"email": f"bulk-{tag}-{i}@example.org", "display_name": f"bulk {i}", "role": "patient"}
            for i in range(patients)
        ],
    )
    db.session.execute(
        insert(PatientProfile),
        [{"user_id": uid, "care_team_id": team.id, "timezone": "Europe/Berlin"} for uid in user_ids],
    )
    db.session.execute(
        insert(Device),
        [
            {"user_id": uid, "token": f"bulk-{tag}-{uid}-{d}", "platform": "android"}
            for uid in user_ids
            for d in range(devices_per_patient)
        ],
    )
    session_ids = _insert_returning_ids(
        DosingSession,
        [{"patient_id": uid, "session_number": 1, "started_at": now - timedelta(days=2)} for uid in user_ids],
    )
    rows = []
    for uid, sid in zip(user_ids, session_ids, strict=True):
        for k in range(prompts_per_patient):
            intended = now - timedelta(seconds=(k * 7919 + uid) % max(spread_seconds, 1))
            rows.append(
                {
                    "patient_id": uid,
                    "dosing_session_id": sid,
                    "rule_key": "daily",
                    "occurrence": k,
                    "kind": "instrument",
                    "instrument_id": "daily",
                    "day": 2,
                    "state": "scheduled",
                    "intended_at": intended,
                    "expires_at": intended + timedelta(hours=12),
                    "reminder_hours": [4],
                    "reminders_sent": 0,
                    "attempts": 0,
                    "template_version": 1,
                }
            )
    prompt_ids = _insert_returning_ids(Prompt, rows)
    db.session.commit()
    return prompt_ids
