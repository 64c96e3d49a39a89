"""Schedule templates (admin) and per-patient schedule settings (care team)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_smorest import abort
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api.domain.instruments import CATALOGUE
from api.domain.schedule import QuietHours, preview, rule_from_dict, rule_to_dict, validate_rules
from api.extensions import db
from api.models import DosingSession, PatientProfile, PatientSchedule, ScheduleTemplate, User
from api.models.schedules import DEFAULT_QUIET_END, DEFAULT_QUIET_START
from api.services.audit import audit
from api.services.planning import (
    PlanChanges,
    default_template,
    ensure_settings,
    parse_hhmm,
    patients_using_template,
    replan_patient,
    replan_patients,
    rules_of,
    settings_for,
    template_for,
)

NAME_TAKEN = {"json": {"name": ["Already used by another template."]}}


def known_instruments() -> set[str]:
    return set(CATALOGUE)


def nest_rule_errors(flat: dict[str, list[str]]) -> dict[str, Any]:
    """``{"rules.2.instrument_id": [...]}`` -> ``{"rules": {"2": {"instrument_id": [...]}}}``: the
    nested shape marshmallow itself uses for errors inside a list, so every 422 reads the same."""
    nested: dict[str, Any] = {}
    for key, messages in flat.items():
        parts = key.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(parts[-1], []).extend(messages)
    return nested


def canonical_rules(rules_data: list[dict]) -> list[dict]:
    """Validate an admin's rules (all errors at once, 422) and return their canonical dict form."""
    errors = validate_rules(rules_data, known_instruments())
    if errors:
        abort(422, errors={"json": nest_rule_errors(errors)})
    return [rule_to_dict(rule_from_dict(d)) for d in rules_data]


# --- templates ----------------------------------------------------------------------------------


def list_templates() -> list[ScheduleTemplate]:
    default_template()  # make sure there is one to list
    return list(db.session.scalars(select(ScheduleTemplate).order_by(ScheduleTemplate.id)))


def get_template(template_id: int) -> ScheduleTemplate:
    return db.get_or_404(ScheduleTemplate, template_id, description="No such schedule template.")


def _make_default(template: ScheduleTemplate) -> None:
    current = default_template()
    if current.id != template.id:
        current.is_default = False
        db.session.flush()  # the partial unique index allows one default at a time
        template.is_default = True


def _flush_or_409() -> None:
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        abort(409, message="A schedule template with this name exists.", errors=NAME_TAKEN)


def _replan_users(template: ScheduleTemplate, reason: str) -> int:
    """Re-plan every patient following ``template``; one audit row per patient whose prompts changed."""
    changed = 0
    for patient_id, changes in replan_patients(patients_using_template(template), reason).items():
        if changes:
            changed += 1
            audit("replan", "prompt", patient_id=patient_id, detail=f"reason={reason},{changes.describe()}")
    return changed


def create_template(name: str, rules_data: list[dict], is_default: bool = False) -> ScheduleTemplate:
    template = ScheduleTemplate(name=name, rules=canonical_rules(rules_data), version=1, is_default=False)
    db.session.add(template)
    _flush_or_409()
    replanned = 0
    if is_default:
        _make_default(template)
        db.session.flush()
        replanned = _replan_users(template, f"template:{template.id}")
    audit("create", "schedule_template", template.id, detail=f"default={is_default},replanned={replanned}")
    db.session.commit()
    return template


def update_template(template: ScheduleTemplate, changes: dict) -> ScheduleTemplate:
    """Edit name / rules / default flag; version + 1 on any change; re-plans its patients when the
    rules change or it becomes the default."""
    touched: list[str] = []
    replan = False
    if "name" in changes and changes["name"] != template.name:
        template.name = changes["name"]
        touched.append("name")
    if "rules" in changes:
        rules = canonical_rules(changes["rules"])
        if rules != template.rules:
            template.rules = rules
            touched.append("rules")
            replan = True
    if "is_default" in changes and changes["is_default"] != template.is_default:
        if not changes["is_default"]:
            abort(
                409,
                message="There must always be a default template: make another template the default instead.",
                errors={"json": {"is_default": ["Cannot unset the default template."]}},
            )
        _make_default(template)
        touched.append("is_default")
        replan = True
    if not touched:
        return template
    template.version += 1
    _flush_or_409()
    replanned = _replan_users(template, f"template:{template.id}") if replan else 0
    audit(
        "update",
        "schedule_template",
        template.id,
        detail=f"{','.join(touched)},version={template.version},replanned={replanned}",
    )
    db.session.commit()
    return template


def delete_template(template: ScheduleTemplate) -> None:
    if template.is_default:
        abort(409, message="The default template cannot be deleted.")
    in_use = db.session.scalar(
        select(func.count()).select_from(PatientSchedule).where(PatientSchedule.template_id == template.id)
    )
    if in_use:
        abort(409, message=f"This template is used by {in_use} patient(s); assign them another first.")
    audit("delete", "schedule_template", template.id, detail=f"name={template.name}")
    db.session.delete(template)
    db.session.commit()


def preview_template(
    template: ScheduleTemplate,
    timezone: str,
    dosing: datetime,
    quiet_start: str | None = None,
    quiet_end: str | None = None,
    last_session: bool = True,
) -> dict[str, Any]:
    quiet = QuietHours(
        start=parse_hhmm(quiet_start or DEFAULT_QUIET_START), end=parse_hhmm(quiet_end or DEFAULT_QUIET_END)
    )
    body = preview(rules_of(template), dosing, ZoneInfo(timezone), quiet, is_last_session=last_session)
    return {
        "template_id": template.id,
        "version": template.version,
        "timezone": timezone,
        "dosing": dosing,
        "last_session": last_session,
        "total": len(body["timeline"]),
        **body,
    }


# --- a patient's settings -----------------------------------------------------------------------


def schedule_view(patient_id: int, replanned: PlanChanges | None = None) -> dict[str, Any]:
    settings = settings_for(patient_id)
    template = template_for(settings)
    body: dict[str, Any] = {
        "patient_id": patient_id,
        "template_id": settings.template_id,
        "template": template,
        "quiet_start": settings.quiet_start,
        "quiet_end": settings.quiet_end,
        "planned_sessions": settings.planned_sessions,
        "updated_at": settings.updated_at,
    }
    if replanned is not None:
        body["replanned"] = replanned.as_dict()
    return body


def read_schedule(profile: PatientProfile) -> dict[str, Any]:
    audit("read", "patient_schedule", profile.user_id, patient_id=profile.user_id)
    body = schedule_view(profile.user_id)
    db.session.commit()
    return body


def update_schedule(actor: User, profile: PatientProfile, changes: dict) -> dict[str, Any]:
    """Change template / quiet hours / planned sessions (creating the settings row if needed) and
    re-plan the patient's unsent prompts."""
    patient_id = profile.user_id
    if (
        changes.get("template_id") is not None
        and db.session.get(ScheduleTemplate, changes["template_id"]) is None
    ):
        abort(422, errors={"json": {"template_id": ["No such schedule template."]}})
    if "planned_sessions" in changes:
        highest = db.session.scalar(
            select(func.max(DosingSession.session_number)).where(
                DosingSession.patient_id == patient_id, DosingSession.cancelled_at.is_(None)
            )
        )
        if highest is not None and changes["planned_sessions"] < highest:
            abort(
                422,
                errors={
                    "json": {
                        "planned_sessions": [f"Session {highest} is recorded; cannot plan fewer sessions."]
                    }
                },
            )
    settings = ensure_settings(patient_id)
    for field in ("template_id", "quiet_start", "quiet_end", "planned_sessions"):
        if field in changes:
            setattr(settings, field, changes[field])
    settings.updated_by_id = actor.id
    db.session.flush()
    replanned = replan_patient(patient_id, "schedule_settings")
    audit(
        "update",
        "patient_schedule",
        patient_id,
        patient_id=patient_id,
        detail=f"{','.join(sorted(changes)) or '-'},{replanned.describe()}",
    )
    body = schedule_view(patient_id, replanned)
    db.session.commit()
    return body
