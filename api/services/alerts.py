"""Alerts: flag rules applied to stored entries, deduplication, the delivery outbox, the alert
lifecycle and escalation. Everything here runs inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_smorest import abort
from sqlalchemy import and_, case, select
from sqlalchemy.exc import IntegrityError

from api.domain.flags import (
    Entry,
    Flag,
    History,
    MissedPrompt,
    PastCheckin,
    Thresholds,
    evaluate_entry,
    evaluate_missed,
    max_severity,
    severity_rank,
    thresholds_from_dict,
    undeliverable_flag,
)
from api.extensions import db
from api.models import (
    Alert,
    AlertDelivery,
    AlertEvent,
    CareTeam,
    CareTeamMember,
    CheckIn,
    DosingSession,
    FlagRuleSetting,
    PatientProfile,
    Prompt,
    Reflection,
    User,
)
from api.models.alerts import ACKNOWLEDGED, OPEN, RESOLVED
from api.models.types import utcnow
from api.services.audit import audit
from api.services.checkins import answers_of
from api.services.reflections import text_of

HISTORY_WINDOW = timedelta(days=60)
ESCALATE_TO_BACKUP, ESCALATE_TO_TEAM = 1, 2


def ack_deadline(severity: str) -> timedelta:
    return timedelta(seconds=current_app.config["ALERT_ACK_SECONDS"][severity])


def thresholds_for(team_id: int) -> Thresholds:
    setting = db.session.get(FlagRuleSetting, team_id)
    return thresholds_from_dict(setting.thresholds if setting else {})


def _history(profile: PatientProfile, before: datetime) -> History:
    rows = db.session.execute(
        select(CheckIn.instrument_id, CheckIn.answers, CheckIn.total, CheckIn.recorded_at).where(
            CheckIn.patient_id == profile.user_id,
            CheckIn.recorded_at >= before - HISTORY_WINDOW,
            CheckIn.recorded_at < before,
        )
    ).all()
    doses = db.session.scalars(
        select(DosingSession.started_at)
        .where(DosingSession.patient_id == profile.user_id, DosingSession.cancelled_at.is_(None))
        .order_by(DosingSession.started_at)
    ).all()
    first_dose = doses[0] if doses else None
    last_dose = max((d for d in doses if d <= before), default=None)
    baseline: dict[str, int] = {}
    if first_dose is not None:
        # The pre-dosing baseline: the latest total of each instrument before the first dose.
        for instrument_id, total in db.session.execute(
            select(CheckIn.instrument_id, CheckIn.total)
            .where(
                CheckIn.patient_id == profile.user_id,
                CheckIn.recorded_at < first_dose,
                CheckIn.total.is_not(None),
            )
            .order_by(CheckIn.recorded_at)
        ):
            baseline[instrument_id] = total
    return History(
        checkins=[PastCheckin(i, a, t, at) for i, a, t, at in rows],
        baseline_totals=baseline,
        last_dose_at=last_dose,
        tz=ZoneInfo(profile.timezone),
    )


def screen_checkin(profile: PatientProfile, checkin: CheckIn) -> str | None:
    """Evaluate the flag rules on a stored check-in (its note included); returns the highest severity."""
    entry = Entry(
        "checkin",
        checkin.instrument_id,
        checkin.answers,
        checkin.total,
        checkin.score.get("risk", {}),
        checkin.recorded_at,
        answers_of(checkin).get("note"),
    )
    return _raise(
        profile,
        evaluate_entry(entry, _history(profile, checkin.recorded_at), thresholds_for(profile.care_team_id)),
        "checkin",
        checkin.id,
    )


def screen_reflection(profile: PatientProfile, reflection: Reflection) -> str | None:
    entry = Entry("reflection", None, {}, None, {}, reflection.recorded_at, text_of(reflection))
    return _raise(
        profile,
        evaluate_entry(
            entry, _history(profile, reflection.recorded_at), thresholds_for(profile.care_team_id)
        ),
        "reflection",
        reflection.id,
    )


def _raise(
    profile: PatientProfile, flags: list[Flag], source_type: str | None, source_id: int | None
) -> str | None:
    """Open or attach an alert for each flag; returns the highest severity raised."""
    for flag in flags:
        raise_alert(profile, flag, source_type, source_id)
    return max_severity(f.severity for f in flags)


def raise_alert(profile: PatientProfile, flag: Flag, source_type: str | None, source_id: int | None) -> Alert:
    now = utcnow()
    existing = _open_alert(profile.user_id, flag.rule)
    if existing is None:
        alert = Alert(
            patient_id=profile.user_id,
            care_team_id=profile.care_team_id,
            rule=flag.rule,
            severity=flag.severity,
            summary=flag.summary[:300],
            label=flag.label,
            evidence=flag.evidence,
            source_type=source_type,
            source_id=source_id,
            created_at=now,
            last_triggered_at=now,
            ack_deadline_at=now + ack_deadline(flag.severity),
        )
        try:
            with db.session.begin_nested():
                db.session.add(alert)
        except IntegrityError:
            # A concurrent submission opened it first: attach to that one.
            existing = _open_alert(profile.user_id, flag.rule)
        else:
            alert.events.append(AlertEvent(kind="created", at=now, detail={"severity": flag.severity}))
            _enqueue(alert, 0)
            audit("create", "alert", alert.id, patient_id=profile.user_id, detail=flag.rule)
            return alert
    assert existing is not None
    existing.trigger_count += 1
    existing.evidence, existing.last_triggered_at = flag.evidence, now
    existing.source_type, existing.source_id = source_type, source_id
    detail: dict[str, Any] = {"severity": flag.severity, "count": existing.trigger_count}
    if severity_rank(flag.severity) > severity_rank(existing.severity):
        # Worse than before: the stricter deadline applies and the team is told again.
        existing.severity, existing.summary = flag.severity, flag.summary[:300]
        existing.ack_deadline_at = min(existing.ack_deadline_at, now + ack_deadline(flag.severity))
        if existing.state == OPEN:
            _enqueue(existing, existing.escalation_level)
        detail["upgraded"] = True
    existing.events.append(AlertEvent(kind="retriggered", at=now, detail=detail))
    audit("update", "alert", existing.id, patient_id=profile.user_id, detail="retriggered")
    return existing


def _open_alert(patient_id: int, rule: str) -> Alert | None:
    return db.session.scalar(
        select(Alert).where(Alert.patient_id == patient_id, Alert.rule == rule, Alert.state != RESOLVED)
    )


def _team_clinicians(team_id: int, on_duty_only: bool) -> list[int]:
    query = (
        select(CareTeamMember.user_id)
        .join(User, User.id == CareTeamMember.user_id)
        .where(CareTeamMember.team_id == team_id, User.is_active.is_(True))
    )
    if on_duty_only:
        query = query.where(CareTeamMember.on_duty.is_(True))
    return list(db.session.scalars(query))


def _enqueue(alert: Alert, level: int) -> None:
    """Outbox rows for one delivery step: on duty (level 0), backup (1), whole team + webhook (2)."""
    team = db.session.get(CareTeam, alert.care_team_id)
    if level == 0:
        recipients = _team_clinicians(team.id, on_duty_only=True) or _team_clinicians(
            team.id, on_duty_only=False
        )
    elif level == ESCALATE_TO_BACKUP:
        recipients = [team.backup_clinician_id] if team.backup_clinician_id else []
    else:
        recipients = _team_clinicians(team.id, on_duty_only=False)
    now = utcnow()
    for user_id in recipients:
        alert.deliveries.append(
            AlertDelivery(channel="push", recipient_id=user_id, escalation_level=level, next_attempt_at=now)
        )
    if team.webhook_url and level != ESCALATE_TO_BACKUP:
        alert.deliveries.append(AlertDelivery(channel="webhook", escalation_level=level, next_attempt_at=now))


def support_for(profile: PatientProfile, severity: str | None) -> dict[str, Any] | None:
    """What the patient sees at once after a high or urgent flag: never rule names or thresholds."""
    if severity not in ("high", "urgent"):
        return None
    resources = list(current_app.config["CRISIS_RESOURCES"])
    team = profile.care_team
    if team.contact_phone:
        resources.append(
            {"name": f"Your care team ({team.name})", "action": "call", "contact": team.contact_phone}
        )
    return {"message": current_app.config["CRISIS_MESSAGE"], "resources": resources}


def on_prompts_expired(patient_ids: set[int]) -> None:
    """The missed-check-in rule, run by the worker after it expires prompts."""
    for patient_id in patient_ids:
        profile = db.session.get(PatientProfile, patient_id)
        prompts = db.session.execute(
            select(Prompt.intended_at, Prompt.day, Prompt.state, Prompt.rule_key)
            .where(Prompt.patient_id == patient_id, Prompt.state.in_(("expired", "completed")))
            .order_by(Prompt.intended_at.desc())
            .limit(20)
        ).all()
        missed = [MissedPrompt(at, day, state, weekly=day > 7) for at, day, state, _ in reversed(prompts)]
        flag = evaluate_missed(missed, thresholds_for(profile.care_team_id))
        if flag is not None:
            raise_alert(profile, flag, "prompt", None)


def on_prompt_undeliverable(prompt_id: int, reason: str) -> None:
    prompt = db.session.get(Prompt, prompt_id)
    profile = db.session.get(PatientProfile, prompt.patient_id)
    raise_alert(profile, undeliverable_flag(prompt_id, reason), "prompt", prompt_id)


def paused_patients_clause() -> Any:
    """SQL condition true for patients whose routine prompts are paused (an open urgent alert)."""
    return (
        select(Alert.id)
        .where(
            and_(Alert.patient_id == Prompt.patient_id, Alert.severity == "urgent", Alert.state != RESOLVED)
        )
        .exists()
    )


def alert_for_clinician(user: User, alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.care_team_id not in {link.team_id for link in user.team_links}:
        abort(404, message="No such alert.")
    return alert


def acknowledge(alert: Alert, user: User) -> Alert:
    if alert.state == RESOLVED:
        abort(409, message="This alert is already resolved.")
    if alert.state == OPEN:
        now = utcnow()
        alert.state, alert.acknowledged_at, alert.acknowledged_by_id = ACKNOWLEDGED, now, user.id
        alert.events.append(AlertEvent(kind="acknowledged", at=now, actor_id=user.id))
    audit("acknowledge", "alert", alert.id, patient_id=alert.patient_id)
    db.session.commit()
    return alert


def resolve(alert: Alert, user: User, note: str, outcome: str) -> Alert:
    if alert.state == RESOLVED:
        abort(409, message="This alert is already resolved.")
    now = utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = now, user.id
    alert.state, alert.resolved_at, alert.resolved_by_id = RESOLVED, now, user.id
    alert.resolution_note, alert.outcome = note, outcome
    alert.events.append(AlertEvent(kind="resolved", at=now, actor_id=user.id, detail={"outcome": outcome}))
    audit("resolve", "alert", alert.id, patient_id=alert.patient_id, detail=outcome)
    db.session.commit()
    return alert


def escalate_overdue(now: datetime, limit: int = 200) -> int:
    """Open alerts past their acknowledgement deadline move one step: backup, then the whole team."""
    overdue = db.session.scalars(
        select(Alert)
        .where(Alert.state == OPEN, Alert.ack_deadline_at <= now, Alert.escalation_level < ESCALATE_TO_TEAM)
        .order_by(Alert.ack_deadline_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for alert in overdue:
        team = db.session.get(CareTeam, alert.care_team_id)
        level = alert.escalation_level + 1
        if level == ESCALATE_TO_BACKUP and not team.backup_clinician_id:
            level = ESCALATE_TO_TEAM  # no backup named: straight to the whole team
        alert.escalation_level = level
        alert.ack_deadline_at = now + ack_deadline(alert.severity)
        _enqueue(alert, level)
        alert.events.append(AlertEvent(kind="escalated", at=now, detail={"level": level}))
        audit("escalate", "alert", alert.id, patient_id=alert.patient_id, detail=f"level={level}")
    db.session.commit()
    return len(overdue)


SEVERITY_RANK = case({"urgent": 0, "high": 1, "medium": 2, "low": 3}, value=Alert.severity)
QUEUE_STATES = ("open", "acknowledged")


def alert_queue(
    clinician: User,
    states: list[str] | None = None,
    severities: list[str] | None = None,
    patient_id: int | None = None,
    limit: int = 200,
) -> list[Alert]:
    """Alerts of the clinician's teams, most severe first, then oldest first (API and console)."""
    query = select(Alert).where(
        Alert.care_team_id.in_({link.team_id for link in clinician.team_links}),
        Alert.state.in_(states or QUEUE_STATES),
    )
    if severities:
        query = query.where(Alert.severity.in_(severities))
    if patient_id:
        query = query.where(Alert.patient_id == patient_id)
    return list(db.session.scalars(query.order_by(SEVERITY_RANK, Alert.created_at, Alert.id).limit(limit)))
