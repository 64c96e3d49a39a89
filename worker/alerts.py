"""Alert delivery from the outbox (push to clinicians, signed webhooks) and escalation of alerts
nobody acknowledged. Claims use a short transaction with SKIP LOCKED and a lease, like prompts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from api.extensions import db
from api.models import Alert, AlertDelivery, AlertEvent, CareTeam, Device
from api.models.types import utcnow
from worker.notifier.backoff import retry_delay
from worker.notifier.base import DEAD_TOKEN, SENT, Notifier, PushMessage
from worker.webhooks import WebhookError, post_webhook

log = logging.getLogger(__name__)

ALERT_TITLE = "Integration Companion"
ALERT_BODY = "A patient alert needs review"
MAX_DELIVERY_ATTEMPTS = 8
LEASE = timedelta(seconds=60)


def claim_deliveries(worker_id: str, now: datetime, batch: int = 100) -> list[int]:
    ids = list(
        db.session.scalars(
            select(AlertDelivery.id)
            .where(
                AlertDelivery.state == "pending",
                AlertDelivery.next_attempt_at <= now,
                (AlertDelivery.locked_until.is_(None)) | (AlertDelivery.locked_until < now),
            )
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        db.session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id.in_(ids))
            .values(locked_until=now + LEASE, locked_by=worker_id)
        )
    db.session.commit()
    return ids


def _webhook_payload(alert: Alert, delivery: AlertDelivery) -> dict:
    return {
        "alert_id": alert.id,
        "care_team_id": alert.care_team_id,
        "severity": alert.severity,
        "created_at": alert.created_at.isoformat(),
        "escalation": delivery.escalation_level > 0,
        "escalation_level": delivery.escalation_level,
    }


def _fail_or_retry(
    delivery: AlertDelivery, error: str, now: datetime, retry_after: float | None = None
) -> None:
    delivery.attempts += 1
    delivery.last_error = error[:500]
    delivery.locked_until = None
    if delivery.attempts >= MAX_DELIVERY_ATTEMPTS:
        delivery.state = "failed"
        db.session.add(
            AlertEvent(
                alert_id=delivery.alert_id,
                kind="delivery_failed",
                at=now,
                detail={"delivery_id": delivery.id, "channel": delivery.channel, "error": error},
            )
        )
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retry_delay(delivery.attempts - 1, retry_after))


def deliver_alerts(notifier: Notifier, worker_id: str, now: datetime | None = None) -> int:
    """Send every due outbox row; returns how many were sent."""
    now = now or utcnow()
    ids = claim_deliveries(worker_id, now)
    if not ids:
        return 0
    deliveries = db.session.scalars(select(AlertDelivery).where(AlertDelivery.id.in_(ids))).all()
    pushes = [d for d in deliveries if d.channel == "push"]
    devices = {}
    if pushes:
        rows = db.session.scalars(
            select(Device).where(
                Device.user_id.in_({d.recipient_id for d in pushes}), Device.active.is_(True)
            )
        )
        for device in rows:
            devices.setdefault(device.user_id, []).append(device)
    messages, owners = [], []
    for delivery in pushes:
        targets = devices.get(delivery.recipient_id, [])
        if not targets:
            delivery.attempts += 1
            delivery.state, delivery.last_error, delivery.locked_until = "failed", "no_active_device", None
            db.session.add(
                AlertEvent(
                    alert_id=delivery.alert_id,
                    kind="delivery_failed",
                    at=now,
                    detail={"delivery_id": delivery.id, "channel": "push", "error": "no_active_device"},
                )
            )
        for device in targets:
            messages.append(
                PushMessage(
                    token=device.token,
                    title=ALERT_TITLE,
                    body=ALERT_BODY,
                    data={"alert_id": str(delivery.alert_id), "kind": "alert"},
                    collapse_key=f"alert-{delivery.alert_id}",
                    ttl_seconds=3600,
                )
            )
            owners.append((delivery, device))
    results = notifier.send(messages) if messages else []
    outcome: dict[int, list] = {}
    for (delivery, device), result in zip(owners, results, strict=True):
        outcome.setdefault(delivery.id, []).append(result)
        if result.outcome == DEAD_TOKEN:
            device.active, device.deactivated_at, device.deactivation_reason = False, now, result.error_code
    sent = 0
    for delivery in pushes:
        results_for = outcome.get(delivery.id)
        if not results_for:
            continue
        if any(r.outcome == SENT for r in results_for):
            delivery.state, delivery.sent_at, delivery.locked_until = "sent", now, None
            delivery.attempts += 1
            sent += 1
        else:
            errors = ",".join(sorted({r.error_code or r.outcome for r in results_for}))
            retry_after = max((r.retry_after or 0 for r in results_for), default=0) or None
            _fail_or_retry(delivery, errors, now, retry_after)
    for delivery in (d for d in deliveries if d.channel == "webhook"):
        alert = db.session.get(Alert, delivery.alert_id)
        team = db.session.get(CareTeam, alert.care_team_id)
        try:
            post_webhook(team.webhook_url, team.webhook_secret or "", _webhook_payload(alert, delivery))
        except WebhookError as exc:
            _fail_or_retry(delivery, str(exc), now, exc.retry_after)
        else:
            delivery.state, delivery.sent_at, delivery.locked_until = "sent", now, None
            delivery.attempts += 1
            sent += 1
    db.session.commit()
    return sent
