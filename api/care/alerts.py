"""/api/v1/care/alerts: the alert queue of the clinician's own teams, acknowledge and resolve."""

from __future__ import annotations

from flask_smorest import Blueprint

from api.auth.guards import auth_required, current_user
from api.extensions import db
from api.models import Alert
from api.services.alerts import acknowledge, alert_for_clinician, alert_queue, resolve
from api.services.audit import audit
from schemas.alerts import AlertDetailSchema, AlertQuerySchema, AlertSchema, ResolveSchema

blp = Blueprint("care_alerts", __name__, url_prefix="/api/v1/care/alerts", description="Alert queue")


@blp.route("", methods=["GET"])
@auth_required("clinician")
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertSchema(many=True))
def list_alerts(query: dict) -> list[Alert]:
    """Most severe first, then oldest first."""
    alerts = alert_queue(
        current_user(), query.get("state"), query.get("severity"), query.get("patient_id"), query["limit"]
    )
    for patient_id in sorted({a.patient_id for a in alerts}):
        audit("list", "alert", patient_id=patient_id)
    db.session.commit()
    return alerts


@blp.route("/<int:alert_id>", methods=["GET"])
@auth_required("clinician")
@blp.response(200, AlertDetailSchema)
def show_alert(alert_id: int) -> Alert:
    alert = alert_for_clinician(current_user(), alert_id)
    audit("read", "alert", alert.id, patient_id=alert.patient_id)
    db.session.commit()
    return alert


@blp.route("/<int:alert_id>/acknowledge", methods=["POST"])
@auth_required("clinician")
@blp.response(200, AlertSchema)
def acknowledge_alert(alert_id: int) -> Alert:
    return acknowledge(alert_for_clinician(current_user(), alert_id), current_user())


@blp.route("/<int:alert_id>/resolve", methods=["POST"])
@auth_required("clinician")
@blp.arguments(ResolveSchema)
@blp.response(200, AlertSchema)
def resolve_alert(body: dict, alert_id: int) -> Alert:
    return resolve(
        alert_for_clinician(current_user(), alert_id), current_user(), body["note"], body["outcome"]
    )
