"""Thin wrappers the console needs that the services do not offer (yet).

Each one mirrors logic that currently lives in an API endpoint or builds on a service function, so
the console and the API behave the same: the alert queue's query and order (``api/care/alerts.py``),
saving flag-rule thresholds (``api/admin/flag_rules.py``), and previewing *unsaved* schedule rules
(``preview_template`` only accepts a stored template).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from api.domain.schedule import validate_rules
from api.extensions import db
from api.models import Alert, ScheduleTemplate, User
from api.models.alerts import RESOLVED
from api.services.alerts import SEVERITY_RANK
from api.services.schedules import known_instruments, preview_template


def patient_alerts(patient_id: int, limit: int = 100) -> list[Alert]:
    """A patient's alerts, unresolved first, then newest first."""
    unresolved_first = case((Alert.state == RESOLVED, 1), else_=0)
    return list(
        db.session.scalars(
            select(Alert)
            .where(Alert.patient_id == patient_id)
            .order_by(unresolved_first, Alert.created_at.desc(), Alert.id.desc())
            .limit(limit)
        )
    )


def open_alert_counts(patient_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per patient: number of unresolved alerts and the most severe of them."""
    if not patient_ids:
        return {}
    rows = db.session.execute(
        select(Alert.patient_id, func.count(), func.min(SEVERITY_RANK))
        .where(Alert.patient_id.in_(patient_ids), Alert.state != RESOLVED)
        .group_by(Alert.patient_id)
    ).all()
    names = ("urgent", "high", "medium", "low")
    return {pid: {"count": n, "worst": names[rank]} for pid, n, rank in rows}


def user_names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


def preview_rules(
    rules_data: Any,
    timezone: str,
    dosing: datetime,
    quiet_start: str | None,
    quiet_end: str | None,
    last_session: bool,
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """Validate rules an admin is editing (not saved) and preview them with the service used for
    stored templates. Returns (preview, {}) or (None, errors keyed "rules.N.field")."""
    errors = validate_rules(rules_data, known_instruments())
    if errors:
        return None, errors
    # A transient template (never added to the session) carrying the edited rules.
    draft = ScheduleTemplate(name="(preview)", rules=rules_data, version=0)
    return preview_template(draft, timezone, dosing, quiet_start, quiet_end, last_session), {}
