"""/console/admin: care teams and clinicians, schedule templates (with a live preview), flag-rule
thresholds per team, and the crisis resources in force (read-only: they are deployment config)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from api.console.common import (
    flash_service_error,
    flatten_errors,
    form_int,
    load_form,
    parse_local,
    valid_zone,
)
from api.console.queries import preview_rules
from api.console.session import login_required
from api.domain.flags import Thresholds, validate_thresholds
from api.domain.schedule import validate_rules
from api.extensions import db
from api.models import CareTeam, User
from api.models.types import utcnow
from api.services.accounts import (
    create_care_team,
    create_staff_user,
    get_care_team,
    update_care_team,
    update_user,
)
from api.services.flag_rules import flag_rules_view, save_flag_rules
from api.services.schedules import (
    create_template,
    default_template,
    delete_template,
    get_template,
    known_instruments,
    list_templates,
    update_template,
)
from schemas.accounts import CareTeamCreateSchema, CareTeamPatchSchema, StaffCreateSchema

bp = Blueprint("admin", __name__, url_prefix="/admin")

# What each threshold means, for the form (mirrors the comments on api.domain.flags.Thresholds).
THRESHOLD_HELP: dict[str, str] = {
    "phq9_item9_high": "PHQ-9 item 9 (thoughts of death or self-harm) at or above this raises a high alert.",
    "phq9_item9_urgent": "PHQ-9 item 9 at or above this raises an urgent alert.",
    "phq9_total_high": "PHQ-9 total at or above this raises a high alert.",
    "phq9_rise_high": "A PHQ-9 rise of at least this much (vs previous or baseline) raises a high alert.",
    "pcl5_rise_medium": "A PCL-5 rise vs baseline of at least this much raises a medium alert.",
    "pcl5_rise_high": "A PCL-5 rise vs baseline of at least this much raises a high alert.",
    "gad7_total_medium": "GAD-7 total at or above this raises a medium alert.",
    "who5_score_medium": "WHO-5 percentage score at or below this raises a medium alert.",
    "daily_mood_low": "Daily mood at or below this on two consecutive days raises a medium alert.",
    "daily_mood_drop_from_median": "Daily mood this far below the patient's 7-day median raises a medium alert.",
    "post_session_window_days": "Days 0 to N after a dose label mood and sleep alerts 'expected post-session window'.",
    "sleep_hours_low": "Hours slept below this on two consecutive nights raises a medium alert.",
    "missed_streak": "This many consecutive expired prompts raises a low alert.",
    "cssrs_recent_months": "What 'recent' means for C-SSRS question 6, in months.",
}


@bp.route("")
@bp.route("/")
@login_required("admin")
def home() -> Response:
    return redirect(url_for("console.admin.teams"))


# --- care teams ------------------------------------------------------------------------------


def _clinicians() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == "clinician").order_by(User.display_name)))


@bp.route("/teams", methods=["GET", "POST"])
@login_required("admin")
def teams() -> Response | str | tuple[str, int]:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        phone = request.form.get("contact_phone", "").strip() or None
        body, errors = load_form(
            CareTeamCreateSchema(), {"name": request.form.get("name", "").strip(), "contact_phone": phone}
        )
        if body is not None:
            try:
                team = create_care_team(body["name"], body.get("contact_phone"))
            except HTTPException as error:
                flash_service_error(error)
            else:
                flash(f"Care team “{team.name}” created. Add its clinicians below.", "success")
                return redirect(url_for("console.admin.team", team_id=team.id))
    all_teams = list(db.session.scalars(select(CareTeam).order_by(CareTeam.name)))
    names = {u.id: u.display_name for u in _clinicians()}
    page = render_template(
        "console/admin/teams.html", teams=all_teams, names=names, errors=errors, form=request.form
    )
    return (page, 422) if errors else page


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@login_required("admin")
def team(team_id: int) -> Response | str | tuple[str, int]:
    team = get_care_team(team_id)
    errors: dict[str, list[str]] = {}
    rejected = False
    if request.method == "POST":
        data: dict[str, Any] = {
            "name": request.form.get("name", "").strip(),
            "contact_phone": request.form.get("contact_phone", "").strip() or None,
            "webhook_url": request.form.get("webhook_url", "").strip() or None,
            "clinician_ids": [int(i) for i in request.form.getlist("member") if i.isdigit()],
            "on_duty_ids": [int(i) for i in request.form.getlist("on_duty") if i.isdigit()],
            "backup_clinician_id": form_int("backup_clinician_id"),
        }
        if request.form.get("webhook_secret"):
            data["webhook_secret"] = request.form["webhook_secret"]
        body, errors = load_form(CareTeamPatchSchema(), data)
        if body is not None:
            try:
                update_care_team(team, body)
            except HTTPException as error:
                flash_service_error(error)
                team = get_care_team(team_id)
                rejected = True
            else:
                flash("Care team saved.", "success")
                return redirect(url_for("console.admin.team", team_id=team.id))
    members = {m.user_id: m for m in team.members}
    page = render_template(
        "console/admin/team.html", team=team, members=members, clinicians=_clinicians(), errors=errors
    )
    return (page, 422) if errors or rejected else page


# --- clinicians ------------------------------------------------------------------------------


@bp.route("/clinicians", methods=["GET", "POST"])
@login_required("admin")
def clinicians() -> Response | str | tuple[str, int]:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        body, errors = load_form(
            StaffCreateSchema(),
            {
                "email": request.form.get("email", "").strip(),
                "display_name": request.form.get("display_name", "").strip(),
                "role": request.form.get("role", "clinician"),
                "password": request.form.get("password", ""),
            },
        )
        team_id = form_int("team_id")
        if body is not None:
            try:
                user = create_staff_user(body["email"], body["display_name"], body["role"], body["password"])
                if team_id is not None and body["role"] == "clinician":
                    team = get_care_team(team_id)
                    update_care_team(team, {"clinician_ids": [m.user_id for m in team.members] + [user.id]})
            except HTTPException as error:
                flash_service_error(error)
            else:
                flash(f"Account for {user.display_name} created.", "success")
                return redirect(url_for("console.admin.clinicians"))
    staff = list(
        db.session.scalars(select(User).where(User.role != "patient").order_by(User.role, User.display_name))
    )
    all_teams = list(db.session.scalars(select(CareTeam).order_by(CareTeam.name)))
    page = render_template(
        "console/admin/clinicians.html",
        staff=staff,
        teams=all_teams,
        errors=errors,
        form=request.form if errors or request.method == "POST" else {},
    )
    return (page, 422) if errors else page


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@login_required("admin")
def set_active(user_id: int) -> Response:
    user = db.get_or_404(User, user_id)
    if user.role == "patient":
        return redirect(url_for("console.admin.clinicians"))
    active = request.form.get("active") == "1"
    if user.id == g.user.id and not active:
        flash("You cannot deactivate your own account.", "error")
    else:
        update_user(user, {"is_active": active})
        flash(f"{user.display_name} {'reactivated' if active else 'deactivated'}.", "success")
    return redirect(url_for("console.admin.clinicians"))


# --- schedule templates ----------------------------------------------------------------------


def _rule_error_lines(errors: dict[str, list[str]], rules: Any) -> list[str]:
    """ "rules.2.instrument_id" -> "Rule 3 (phq9-weekly), instrument_id: ..." for the editor."""
    lines = []
    for key, messages in errors.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[0] == "rules" and parts[1].isdigit():
            index = int(parts[1])
            rule_key = rules[index].get("key") if isinstance(rules[index], dict) else None
            where = f"Rule {index + 1}" + (f" ({rule_key})" if isinstance(rule_key, str) else "")
            field = ".".join(parts[2:])
            lines += [f"{where}{', ' + field if field else ''}: {m}" for m in messages]
        else:
            lines += [f"{key}: {m}" for m in messages]
    return lines


def _parse_rules(text: str) -> tuple[Any, list[str]]:
    try:
        rules = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"The rules are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."]
    errors = validate_rules(rules, known_instruments())
    return rules, _rule_error_lines(errors, rules)


def _preview_params(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    errors = []
    timezone = (values.get("timezone") or "UTC").strip()
    if not valid_zone(timezone):
        errors.append("Preview time zone: not an IANA time zone name (e.g. Europe/Berlin).")
        timezone = "UTC"
    dosing = parse_local(values.get("dosing") or "", timezone) if values.get("dosing") else None
    if dosing is None:
        if values.get("dosing"):
            errors.append("Preview dose start: not a date and time.")
        tomorrow = utcnow().astimezone(ZoneInfo(timezone)).date() + timedelta(days=1)
        dosing = datetime.combine(tomorrow, time(9, 0), tzinfo=ZoneInfo(timezone))
    quiet = {}
    for name in ("quiet_start", "quiet_end"):
        value = (values.get(name) or "").strip()
        try:
            quiet[name] = time.fromisoformat(value).strftime("%H:%M") if value else None
        except ValueError:
            errors.append(f"Preview {name.replace('_', ' ')}: use HH:MM.")
            quiet[name] = None
    last = values.get("last_session")
    return {
        "timezone": timezone,
        "dosing": dosing,
        "quiet_start": quiet["quiet_start"],
        "quiet_end": quiet["quiet_end"],
        "last_session": last in (True, "1", "on", "true"),
    }, errors


def _preview(rules_text: str, values: dict[str, Any]) -> dict[str, Any]:
    """Everything the preview panel shows for the given rules text and preview settings."""
    params, param_errors = _preview_params(values)
    rules, errors = _parse_rules(rules_text)
    result: dict[str, Any] = {"params": params, "errors": param_errors + errors, "preview": None}
    if not errors:
        preview, rule_errors = preview_rules(rules, **params)
        result["preview"] = preview
        result["errors"] += _rule_error_lines(rule_errors, rules)
    if result["preview"]:
        counts = [d["count"] for d in result["preview"]["per_day"]]
        result["max_per_day"] = max(counts, default=0)
        result["days"] = len(counts)
    return result


def _editor(
    template: Any, name: str, rules_text: str, is_default: bool, values: dict[str, Any], errors: list[str]
) -> str:
    return render_template(
        "console/admin/schedule.html",
        template=template,
        name=name,
        rules_text=rules_text,
        is_default=is_default,
        errors=errors,
        panel=_preview(rules_text, values),
    )


def _pretty(rules: list[dict]) -> str:
    """One rule per line, unset fields left out: short enough to read and edit as a whole."""
    lines = [
        json.dumps({k: v for k, v in rule.items() if v is not None}, ensure_ascii=False) for rule in rules
    ]
    return "[\n  " + ",\n  ".join(lines) + "\n]"


@bp.route("/schedules")
@login_required("admin")
def schedules() -> str:
    return render_template("console/admin/schedules.html", templates=list_templates())


@bp.route("/schedules/new", methods=["GET", "POST"])
@login_required("admin")
def new_schedule() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return _editor(None, "", _pretty(default_template().rules), False, {"last_session": "1"}, [])
    name = request.form.get("name", "").strip()
    rules_text = request.form.get("rules", "")
    is_default = request.form.get("is_default") == "1"
    rules, errors = _parse_rules(rules_text)
    if not name:
        errors.insert(0, "Name: required.")
    if request.form.get("action") == "preview" or errors:
        page = _editor(None, name, rules_text, is_default, request.form, errors)
        return (page, 422) if errors else page
    try:
        template = create_template(name, rules, is_default)
    except HTTPException as error:
        db.session.rollback()
        return _editor(
            None,
            name,
            rules_text,
            is_default,
            request.form,
            flatten_errors(error.data.get("errors", {})) or [str(error.description)],
        ), 422
    flash(f"Template “{template.name}” created.", "success")
    return redirect(url_for("console.admin.schedule", template_id=template.id))


@bp.route("/schedules/<int:template_id>", methods=["GET", "POST"])
@login_required("admin")
def schedule(template_id: int) -> Response | str | tuple[str, int]:
    template = get_template(template_id)
    if request.method == "GET":
        return _editor(
            template, template.name, _pretty(template.rules), template.is_default, {"last_session": "1"}, []
        )
    name = request.form.get("name", "").strip()
    rules_text = request.form.get("rules", "")
    is_default = template.is_default or request.form.get("is_default") == "1"
    rules, errors = _parse_rules(rules_text)
    if not name:
        errors.insert(0, "Name: required.")
    if request.form.get("action") == "preview" or errors:
        page = _editor(template, name, rules_text, is_default, request.form, errors)
        return (page, 422) if errors else page
    before = template.version
    changes: dict[str, Any] = {"name": name, "rules": rules}
    if is_default and not template.is_default:
        changes["is_default"] = True
    try:
        template = update_template(template, changes)
    except HTTPException as error:
        db.session.rollback()
        lines = flatten_errors((getattr(error, "data", None) or {}).get("errors", {})) or [
            str(error.description)
        ]
        return _editor(get_template(template_id), name, rules_text, is_default, request.form, lines), 422
    if template.version == before:
        flash("Nothing changed.", "info")
    else:
        flash(
            f"Template saved as version {template.version}; patients following it were re-planned.", "success"
        )
    return redirect(url_for("console.admin.schedule", template_id=template.id))


@bp.route("/schedules/<int:template_id>/delete", methods=["POST"])
@login_required("admin")
def remove_schedule(template_id: int) -> Response:
    template = get_template(template_id)
    name = template.name
    try:
        delete_template(template)
    except HTTPException as error:
        flash_service_error(error)
        return redirect(url_for("console.admin.schedule", template_id=template_id))
    flash(f"Template “{name}” deleted.", "success")
    return redirect(url_for("console.admin.schedules"))


@bp.route("/schedules/preview.json", methods=["POST"])
@login_required("admin")
def preview_json() -> Response:
    """Live preview for the editor: validation errors, or the timeline and notifications per day."""
    values = request.get_json(silent=True) or {}
    panel = _preview(str(values.get("rules", "")), values)
    return jsonify(
        {
            "ok": not panel["errors"],
            "errors": panel["errors"],
            "per_day": panel["preview"]["per_day"] if panel["preview"] else [],
            "html": render_template("console/admin/_preview.html", panel=panel),
        }
    )


# --- flag rules ------------------------------------------------------------------------------


def _threshold_fields() -> list[dict[str, Any]]:
    defaults = Thresholds()
    return [
        {
            "name": f.name,
            "default": getattr(defaults, f.name),
            "integer": f.type in ("int", int),
            "help": THRESHOLD_HELP.get(f.name, ""),
        }
        for f in fields(Thresholds)
    ]


@bp.route("/flag-rules")
@login_required("admin")
def flag_rules() -> str:
    all_teams = list(db.session.scalars(select(CareTeam).order_by(CareTeam.name)))
    views = {t.id: flag_rules_view(t.id) for t in all_teams}
    return render_template("console/admin/flag_rules.html", teams=all_teams, views=views)


@bp.route("/flag-rules/<int:team_id>", methods=["GET", "POST"])
@login_required("admin")
def team_flag_rules(team_id: int) -> Response | str | tuple[str, int]:
    team = get_care_team(team_id)
    specs = _threshold_fields()
    errors: dict[str, list[str]] = {}
    submitted: dict[str, str] = {}
    if request.method == "POST":
        overrides: dict[str, Any] = {}
        for spec in specs:
            raw = request.form.get(spec["name"], "").strip()
            submitted[spec["name"]] = raw
            if not raw:
                continue  # blank: the default applies
            try:
                number = float(raw)
            except ValueError:
                errors[spec["name"]] = ["must be a number"]
                continue
            overrides[spec["name"]] = int(number) if number.is_integer() and spec["integer"] else number
        # Every problem at once: fields that are not numbers, then the domain's checks of the rest.
        errors = (
            {**validate_thresholds(overrides), **errors}
            if errors
            else save_flag_rules(team.id, overrides, g.user)
        )
        if not errors:
            flash(f"Flag-rule thresholds for “{team.name}” saved.", "success")
            return redirect(url_for("console.admin.team_flag_rules", team_id=team.id))
        db.session.rollback()
    view = flag_rules_view(team.id)
    values = submitted or {k: str(v) for k, v in view["thresholds"].items()}
    page = render_template(
        "console/admin/flag_rule_form.html", team=team, specs=specs, view=view, values=values, errors=errors
    )
    return (page, 422) if errors else page


# --- crisis resources ------------------------------------------------------------------------


@bp.route("/crisis-resources")
@login_required("admin")
def crisis_resources() -> str:
    all_teams = list(db.session.scalars(select(CareTeam).order_by(CareTeam.name)))
    return render_template(
        "console/admin/crisis.html",
        message=current_app.config["CRISIS_MESSAGE"],
        resources=current_app.config["CRISIS_RESOURCES"],
        teams=all_teams,
    )
