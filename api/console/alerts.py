"""/console/alerts: the clinician's alert queue (self-refreshing), an alert's page, acknowledge, resolve."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from api.console.common import flash_service_error, iso, load_form
from api.console.queries import user_names
from api.console.session import login_required
from api.extensions import db
from api.models import Alert
from api.models.types import utcnow
from api.services.alerts import acknowledge, alert_for_clinician, alert_queue, resolve
from api.services.audit import audit
from schemas.alerts import OUTCOMES, ResolveSchema

bp = Blueprint("alerts", __name__)

OUTCOME_LABELS = {
    "contacted": "Patient contacted",
    "no_action_needed": "No action needed",
    "escalated_to_emergency_services": "Escalated to emergency services",
    "other": "Other (see note)",
}
assert set(OUTCOME_LABELS) == set(OUTCOMES)


def time_left(alert: Alert, now: datetime) -> str:
    """Human text for the acknowledgement deadline (the page's script keeps it ticking)."""
    if alert.state != "open":
        return "Acknowledged"
    seconds = int((alert.ack_deadline_at - now).total_seconds())
    minutes = abs(seconds) // 60
    if minutes >= 48 * 60:
        span = f"{minutes // 1440} d {minutes % 1440 // 60} h"
    elif minutes >= 120:
        span = f"{minutes // 60} h {minutes % 60} min"
    else:
        span = f"{minutes} min"
    return f"{span} left" if seconds >= 0 else f"Overdue by {span}"


def _alert_json(alert: Alert, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": alert.id,
        "patient_id": alert.patient_id,
        "patient_name": names.get(alert.patient_id),
        "severity": alert.severity,
        "rule": alert.rule,
        "summary": alert.summary,
        "label": alert.label,
        "state": alert.state,
        "trigger_count": alert.trigger_count,
        "escalation_level": alert.escalation_level,
        "created_at": iso(alert.created_at),
        "ack_deadline_at": iso(alert.ack_deadline_at),
        "acknowledged_at": iso(alert.acknowledged_at),
    }


def _queue_digest(alerts: list[Alert]) -> str:
    key = ";".join(
        f"{a.id}:{a.state}:{a.severity}:{a.trigger_count}:{a.escalation_level}:{a.ack_deadline_at.isoformat()}"
        for a in alerts
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _audit_queue(alerts: list[Alert], digest: str, polled: bool) -> None:
    """One "list alert" row per patient shown, as the API writes. A poll that returns exactly what
    this session was last shown is not a new view and is not recorded again."""
    if polled and session.get("queue_seen") == digest:
        return
    for patient_id in sorted({a.patient_id for a in alerts}):
        audit("list", "alert", patient_id=patient_id, detail="console poll" if polled else "console")
    session["queue_seen"] = digest
    db.session.commit()


def _rows_context() -> dict[str, Any]:
    alerts = alert_queue(g.user)
    names = user_names({a.patient_id for a in alerts} | {a.acknowledged_by_id for a in alerts})
    return {"alerts": alerts, "names": names, "now": utcnow(), "time_left": time_left}


@bp.route("/alerts")
@login_required("clinician")
def queue() -> str:
    context = _rows_context()
    digest = _queue_digest(context["alerts"])
    _audit_queue(context["alerts"], digest, polled=False)
    return render_template(
        "console/alerts.html",
        digest=digest,
        poll_seconds=current_app.config["CONSOLE_POLL_SECONDS"],
        outcomes=OUTCOME_LABELS,
        **context,
    )


@bp.route("/alerts.json")
@login_required("clinician", refresh=False)
def queue_json() -> Response:
    """Polled by the queue page. Session-authenticated; does not count as user activity."""
    context = _rows_context()
    digest = _queue_digest(context["alerts"])
    _audit_queue(context["alerts"], digest, polled=True)
    return jsonify(
        {
            "now": iso(context["now"]),
            "digest": digest,
            "alerts": [_alert_json(a, context["names"]) for a in context["alerts"]],
            "html": render_template("console/_alert_rows.html", **context),
        }
    )


@bp.route("/alerts/<int:alert_id>")
@login_required("clinician")
def show(alert_id: int) -> str:
    alert = alert_for_clinician(g.user, alert_id)
    audit("read", "alert", alert.id, patient_id=alert.patient_id, detail="console")
    db.session.commit()
    actors = {e.actor_id for e in alert.events} | {
        alert.patient_id,
        alert.acknowledged_by_id,
        alert.resolved_by_id,
    }
    actors |= {d.recipient_id for d in alert.deliveries}
    return render_template(
        "console/alert.html",
        alert=alert,
        names=user_names(actors),
        now=utcnow(),
        time_left=time_left,
        outcomes=OUTCOME_LABELS,
    )


def _back(alert: Alert) -> Response:
    target = request.form.get("return_to")
    if target == "alert":
        return redirect(url_for("console.alerts.show", alert_id=alert.id))
    if target == "patient":
        return redirect(url_for("console.patients.show", patient_id=alert.patient_id) + "#alerts")
    return redirect(url_for("console.alerts.queue"))


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required("clinician")
def acknowledge_alert(alert_id: int) -> Response:
    alert = alert_for_clinician(g.user, alert_id)
    try:
        acknowledge(alert, g.user)
    except HTTPException as error:
        flash_service_error(error)
    else:
        flash(f"Alert #{alert.id} acknowledged.", "success")
    return _back(alert)


@bp.route("/alerts/<int:alert_id>/resolve", methods=["POST"])
@login_required("clinician")
def resolve_alert(alert_id: int) -> Response:
    alert = alert_for_clinician(g.user, alert_id)
    body, errors = load_form(
        ResolveSchema(),
        {"note": request.form.get("note", "").strip(), "outcome": request.form.get("outcome", "")},
    )
    if errors:
        if "note" in errors:
            flash("Resolving needs a note: what was done and why.", "error")
        if "outcome" in errors:
            flash("Choose the outcome of this alert.", "error")
        return redirect(url_for("console.alerts.show", alert_id=alert.id) + "#resolve")
    try:
        resolve(alert, g.user, body["note"], body["outcome"])
    except HTTPException as error:
        flash_service_error(error)
    else:
        flash(f"Alert #{alert.id} resolved.", "success")
    return _back(alert)
