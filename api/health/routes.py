"""Liveness, readiness and metrics for operators and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.observability import metrics_response
from api.services.health import readiness, state_gauges

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> tuple[Response, int]:
    report = readiness()
    return jsonify(report), 200 if report["ready"] else 503


@blp.get("/metrics")
def metrics() -> Response:
    return metrics_response(state_gauges())
