"""Audit records. Written in the same transaction as the action they describe."""

from __future__ import annotations

from flask import g, has_request_context, request

from api.extensions import db
from api.models import AuditLog


def audit(
    action: str,
    resource_type: str,
    resource_id: object = None,
    patient_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Record who did what to which resource (and whose data it was). Never include health content."""
    actor = g.get("user") if has_request_context() else None
    db.session.add(
        AuditLog(
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else ("system" if not has_request_context() else None),
            action=action,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id),
            patient_id=patient_id,
            ip=request.remote_addr if has_request_context() else None,
            request_id=g.get("request_id") if has_request_context() else None,
            detail=detail,
        )
    )
