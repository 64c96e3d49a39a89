"""The right to erasure, and the legal hold that suspends it.

Erasing a patient, in one transaction:

* deletes their check-ins (notes included), reflections, prompts, dosing sessions, schedule
  settings, devices, idempotency records, refresh tokens and invites, and their patient profile
  (so no clinician sees them any more: care endpoints answer 404);
* replaces their alerts (with the alerts' events and delivery rows) by counts: each alert adds 1
  to ``erased_alert_counts`` for its (care team, severity, rule), then the alert is deleted. Team
  and rule statistics stay right; nothing links a count to a person;
* keeps the ``users`` row as an anonymised tombstone (``erased-<id>@invalid``, "Erased patient",
  no password, inactive), so ids in the append-only audit log still resolve to an account;
* writes one audit row: who (the admin), when, why (the reason) and how many rows of each kind
  were removed, never their content. Earlier audit rows are kept as they are.

A profile with ``legal_hold`` set cannot be erased (409) until an admin lifts the hold.
"""

from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.extensions import db
from api.models import (
    Alert,
    AlertDelivery,
    AlertEvent,
    CheckIn,
    Device,
    DosingSession,
    ErasedAlertCount,
    IdempotencyRecord,
    Invite,
    PatientProfile,
    PatientSchedule,
    Prompt,
    Reflection,
    RefreshToken,
    User,
)
from api.models.types import utcnow
from api.services.audit import audit

ERASED_NAME = "Erased patient"
AUDIT_DETAIL_LENGTH = 500
REASON_MAX_LENGTH = 200


def erased_email(user_id: int) -> str:
    return f"erased-{user_id}@invalid"


def get_patient(patient_id: int, lock: bool = False) -> PatientProfile:
    query = select(PatientProfile).where(PatientProfile.user_id == patient_id)
    profile = db.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if profile is None:
        abort(404, message="No such patient.")
    return profile


def set_legal_hold(profile: PatientProfile, hold: bool) -> PatientProfile:
    profile.legal_hold = hold
    audit("update", "patient", profile.user_id, patient_id=profile.user_id, detail=f"legal_hold={hold}")
    db.session.commit()
    return profile


def _count_erased_alerts(patient_id: int) -> int:
    """Add the patient's alerts to erased_alert_counts; returns how many alerts were counted."""
    groups = db.session.execute(
        select(Alert.care_team_id, Alert.severity, Alert.rule, func.count(Alert.id))
        .where(Alert.patient_id == patient_id)
        .group_by(Alert.care_team_id, Alert.severity, Alert.rule)
    ).all()
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for team_id, severity, rule, n in groups:
        stmt = insert(ErasedAlertCount).values(
            care_team_id=team_id, severity=severity, rule=rule, count=n, updated_at=now
        )
        # Atomic increment: two erasures at once cannot lose a count.
        stmt = stmt.on_conflict_do_update(
            index_elements=["care_team_id", "severity", "rule"],
            set_={"count": ErasedAlertCount.__table__.c.count + stmt.excluded.count, "updated_at": now},
        )
        db.session.execute(stmt)
    return sum(n for *_, n in groups)


def _delete(model: type, *criteria: object) -> int:
    return db.session.execute(delete(model).where(*criteria)).rowcount or 0


def erase_patient(patient_id: int, reason: str) -> dict[str, int]:
    """Erase a patient (see the module docstring); returns the number of rows removed per kind."""
    profile = get_patient(patient_id, lock=True)
    if profile.legal_hold:
        abort(
            409,
            message="This patient's data is under legal hold and cannot be erased. An admin must "
            "lift the hold first (PATCH legal_hold=false).",
            code="legal_hold",
        )
    user = db.session.get(User, patient_id)
    alert_ids = select(Alert.id).where(Alert.patient_id == patient_id).scalar_subquery()
    removed: dict[str, int] = {}
    removed["alerts"] = _count_erased_alerts(patient_id)
    removed["alert_events"] = _delete(AlertEvent, AlertEvent.alert_id.in_(alert_ids))
    removed["alert_deliveries"] = _delete(AlertDelivery, AlertDelivery.alert_id.in_(alert_ids))
    _delete(Alert, Alert.patient_id == patient_id)
    removed["checkins"] = _delete(CheckIn, CheckIn.patient_id == patient_id)
    removed["reflections"] = _delete(Reflection, Reflection.patient_id == patient_id)
    # Prompts before the dosing sessions they belong to.
    removed["prompts"] = _delete(Prompt, Prompt.patient_id == patient_id)
    removed["dosing_sessions"] = _delete(DosingSession, DosingSession.patient_id == patient_id)
    removed["schedule_settings"] = _delete(PatientSchedule, PatientSchedule.patient_id == patient_id)
    removed["devices"] = _delete(Device, Device.user_id == patient_id)
    removed["idempotency_records"] = _delete(IdempotencyRecord, IdempotencyRecord.user_id == patient_id)
    removed["refresh_tokens"] = _delete(RefreshToken, RefreshToken.user_id == patient_id)
    removed["invites"] = _delete(Invite, Invite.user_id == patient_id)
    db.session.delete(profile)
    user.email = erased_email(patient_id)
    user.display_name = ERASED_NAME
    user.password_hash = None
    user.is_active = False
    # Counts first, the reason last: it is cut, never the counts, if the two exceed the column.
    counts = ",".join(f"{kind}={n}" for kind, n in removed.items())
    detail = f"removed {counts}; reason: {reason}"[:AUDIT_DETAIL_LENGTH]
    audit("erase", "patient", patient_id, patient_id=patient_id, detail=detail)
    db.session.commit()
    return removed


__all__ = ["ERASED_NAME", "erase_patient", "erased_email", "get_patient", "set_legal_hold"]
