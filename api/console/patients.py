"""/console/patients: the clinician's patients, a patient's page (profile, dosing sessions, adherence,
alerts, reflections, charts) and the dosing-session and schedule forms. Every view is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from api.console.common import flash_service_error, flatten_errors, form_int, iso, load_form, parse_local
from api.console.queries import open_alert_counts, patient_alerts, user_names
from api.console.session import login_required
from api.domain.instruments import CATALOGUE
from api.extensions import db
from api.models import DosingSession, PatientProfile
from api.models.types import utcnow
from api.services.accounts import patient_for_clinician, patients_visible_to
from api.services.audit import audit
from api.services.dosing import cancel_session, correct_session, get_session, list_sessions, record_session
from api.services.prompts import ledger, read_adherence
from api.services.reflections import list_reflections, reflection_view
from api.services.schedules import list_templates, read_schedule, update_schedule
from api.services.trends import trends
from schemas.schedules import DosingSessionCreateSchema, DosingSessionPatchSchema, PatientSchedulePatchSchema

bp = Blueprint("patients", __name__)

CHART_WINDOWS = (30, 90, 180, 365)
DEFAULT_WINDOW = 90
# Scored instruments charted with their severity bands, in page order.
CHARTED_INSTRUMENTS = ("phq9", "gad7", "pcl5")
REFLECTIONS_SHOWN = 20


def _go_to_patient(patient_id: int, anchor: str = "") -> Response:
    return redirect(
        url_for("console.patients.show", patient_id=patient_id) + (f"#{anchor}" if anchor else "")
    )


@bp.route("/patients")
@login_required("clinician")
def index() -> str:
    patients = patients_visible_to(g.user)
    audit("list", "patient", detail=f"count={len(patients)},console")
    db.session.commit()
    counts = open_alert_counts([p.user_id for p in patients])
    return render_template("console/patients.html", patients=patients, counts=counts)


@bp.route("/patients/<int:patient_id>")
@login_required("clinician")
def show(patient_id: int) -> str:
    profile = patient_for_clinician(g.user, patient_id)
    audit("read", "patient", patient_id, patient_id=patient_id, detail="console")
    db.session.commit()
    sessions = list_sessions(profile)  # audited by the service
    adherence = read_adherence(patient_id)  # audited by the service
    schedule = read_schedule(profile)  # audited by the service
    upcoming = ledger(patient_id, state="scheduled", limit=10)  # audited by the service
    alerts = patient_alerts(patient_id)
    audit("list", "alert", patient_id=patient_id, detail=f"count={len(alerts)},console")
    reflections, _ = list_reflections(patient_id, None, REFLECTIONS_SHOWN)
    audit("list", "reflection", patient_id=patient_id, detail=f"count={len(reflections)},console")
    db.session.commit()
    names = user_names({s.created_by_id for s in sessions} | {a.resolved_by_id for a in alerts})
    active_numbers = {s.session_number for s in sessions if s.cancelled_at is None}
    next_number = next(
        (n for n in range(1, schedule["planned_sessions"] + 1) if n not in active_numbers),
        schedule["planned_sessions"],
    )
    return render_template(
        "console/patient.html",
        profile=profile,
        patient=profile.user,
        sessions=sessions,
        next_number=next_number,
        adherence=adherence,
        schedule=schedule,
        templates=list_templates(),
        upcoming=upcoming,
        alerts=alerts,
        reflections=[reflection_view(r) for r in reflections],
        names=names,
        chart_windows=CHART_WINDOWS,
        default_window=DEFAULT_WINDOW,
        instruments={i: CATALOGUE[i].title for i in CHARTED_INSTRUMENTS},
        now=utcnow(),
    )


def _bands(raw: dict[str, Any]) -> dict[str, Any]:
    """trends()' severity bands, plus the cut-point of instruments scored by one (PCL-5: 33)."""
    bands = dict(raw)
    for instrument_id in CHARTED_INSTRUMENTS:
        inst = CATALOGUE[instrument_id]
        if instrument_id not in bands and inst.positive_at is not None:
            bands[instrument_id] = {
                "range": inst.total_range,
                "bands": [
                    {"minimum": inst.total_range[0], "label": "Below cut-point"},
                    {"minimum": inst.positive_at, "label": inst.positive_label or "Positive"},
                ],
            }
    return bands


@bp.route("/patients/<int:patient_id>/trends.json")
@login_required("clinician")
def trends_json(patient_id: int) -> Response:
    """The charts' data: the same ``trends()`` the app and the API use, as JSON."""
    patient_for_clinician(g.user, patient_id)
    days = request.args.get("days", DEFAULT_WINDOW, type=int)
    days = days if days in CHART_WINDOWS else DEFAULT_WINDOW
    now = utcnow()
    data = trends(patient_id, now - timedelta(days=days))
    audit("read", "trends", patient_id=patient_id, detail=f"days={days},console")
    db.session.commit()
    numbers = {
        started_at: number
        for started_at, number in db.session.execute(
            select(DosingSession.started_at, DosingSession.session_number).where(
                DosingSession.patient_id == patient_id, DosingSession.cancelled_at.is_(None)
            )
        )
    }
    return jsonify(
        {
            "since": iso(data["since"]),
            "now": iso(now),
            "days": days,
            "series": {
                name: [{"t": iso(p["t"]), "v": p["v"], "band": p["band"]} for p in points]
                for name, points in data["series"].items()
            },
            "bands": _bands(data["bands"]),
            "titles": {i: CATALOGUE[i].title for i in CATALOGUE},
            "dosing_sessions": [{"t": iso(t), "number": numbers.get(t)} for t in data["dosing_sessions"]],
        }
    )


def _started_at(profile: PatientProfile) -> str | None:
    """The form's local dose start as ISO 8601 with the patient's offset, for the API's schema."""
    value = parse_local(request.form.get("started_at", ""), profile.timezone)
    return value.isoformat() if value else None


@bp.route("/patients/<int:patient_id>/dosing-sessions", methods=["POST"])
@login_required("clinician")
def record_dosing_session(patient_id: int) -> Response:
    profile = patient_for_clinician(g.user, patient_id)
    body, errors = load_form(
        DosingSessionCreateSchema(),
        {"session_number": request.form.get("session_number"), "started_at": _started_at(profile)},
    )
    if errors:
        for line in flatten_errors(errors):
            flash(line, "error")
        return _go_to_patient(patient_id, "dosing")
    try:
        session, planned = record_session(g.user, profile, body["session_number"], body["started_at"])
    except HTTPException as error:
        if error.code == 404:
            raise
        flash_service_error(error)
    else:
        flash(f"Dosing session {session.session_number} recorded; {planned} prompts planned.", "success")
    return _go_to_patient(patient_id, "dosing")


@bp.route("/patients/<int:patient_id>/dosing-sessions/<int:session_id>/correct", methods=["POST"])
@login_required("clinician")
def correct_dosing_session(patient_id: int, session_id: int) -> Response:
    profile = patient_for_clinician(g.user, patient_id)
    session = get_session(profile, session_id)
    body, errors = load_form(DosingSessionPatchSchema(), {"started_at": _started_at(profile)})
    if errors:
        for line in flatten_errors(errors):
            flash(line, "error")
        return _go_to_patient(patient_id, "dosing")
    try:
        session, changes = correct_session(session, body["started_at"])
    except HTTPException as error:
        if error.code == 404:
            raise
        flash_service_error(error)
    else:
        summary = ", ".join(f"{k} {v}" for k, v in changes.items())
        flash(
            f"Dosing session {session.session_number} corrected; unsent prompts re-planned ({summary}).",
            "success",
        )
    return _go_to_patient(patient_id, "dosing")


@bp.route("/patients/<int:patient_id>/dosing-sessions/<int:session_id>/cancel", methods=["POST"])
@login_required("clinician")
def cancel_dosing_session(patient_id: int, session_id: int) -> Response:
    profile = patient_for_clinician(g.user, patient_id)
    session = get_session(profile, session_id)
    try:
        session, cancelled = cancel_session(session)
    except HTTPException as error:
        if error.code == 404:
            raise
        flash_service_error(error)
    else:
        flash(
            f"Dosing session {session.session_number} cancelled; {cancelled} unsent prompts cancelled.",
            "success",
        )
    return _go_to_patient(patient_id, "dosing")


@bp.route("/patients/<int:patient_id>/schedule", methods=["POST"])
@login_required("clinician")
def update_patient_schedule(patient_id: int) -> Response:
    profile = patient_for_clinician(g.user, patient_id)
    form: dict[str, Any] = {
        "template_id": form_int("template_id"),
        "quiet_start": request.form.get("quiet_start", "").strip(),
        "quiet_end": request.form.get("quiet_end", "").strip(),
        "planned_sessions": request.form.get("planned_sessions", "").strip(),
    }
    body, errors = load_form(PatientSchedulePatchSchema(), form)
    if errors:
        for line in flatten_errors(errors):
            flash(line, "error")
        return _go_to_patient(patient_id, "schedule")
    try:
        result = update_schedule(g.user, profile, body)
    except HTTPException as error:
        if error.code == 404:
            raise
        flash_service_error(error)
    else:
        changes = ", ".join(f"{k} {v}" for k, v in result.get("replanned", {}).items())
        flash(f"Schedule settings saved; unsent prompts re-planned ({changes}).", "success")
    return _go_to_patient(patient_id, "schedule")
