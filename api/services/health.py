"""Readiness: the database answers and its schema is at the migrations' head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from api.extensions import db
from api.models import Alert, AlertDelivery
from api.models.types import utcnow
from api.services.worker_health import worker_health

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def migration_heads() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def undelivered_alerts() -> int:
    """Unresolved alerts that reached nobody: no delivery sent and none still pending."""
    reached = (
        select(AlertDelivery.id)
        .where(AlertDelivery.alert_id == Alert.id, AlertDelivery.state.in_(("pending", "sent")))
        .exists()
    )
    return db.session.scalar(select(func.count(Alert.id)).where(Alert.state != "resolved", ~reached)) or 0


def readiness() -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == migration_heads() else "pending"
        if checks["migrations"] == "ok":
            # Reported, not fatal: the API must stay up to take check-ins while someone fixes delivery.
            checks["alerts_undelivered"] = undelivered_alerts()
            checks["worker"] = worker_health(utcnow())
    except Exception as exc:  # any failure to reach the database means not ready
        checks["database"] = f"unavailable: {type(exc).__name__}"
    ready = checks.get("database") == "ok" and checks.get("migrations") == "ok"
    return {"ready": ready, "checks": checks}


def state_gauges() -> dict[str, float]:
    """Read at scrape time, so a stuck worker or a failing delivery is visible without logs."""
    now = utcnow()
    health = worker_health(now)
    gauges: dict[str, float] = {
        "alerts_undelivered": undelivered_alerts(),
        "prompts_send_backlog": health["backlog"],
    }
    for job, state in health["jobs"].items():
        if state["seconds_since_success"] is not None:
            gauges[f"worker_{job}_seconds_since_success"] = state["seconds_since_success"]
    return gauges
