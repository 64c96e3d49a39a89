"""Structured JSON logs with a request id, and Prometheus request metrics."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import inspect

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter("http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

access_log = logging.getLogger("api.access")


def configure_logging(level: str = "INFO") -> None:
    """One JSON object per line on stderr. Messages never carry bodies, passwords, tokens or health data."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def init_observability(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        LATENCY.labels(endpoint, request.method).observe(elapsed)
        # The path holds only opaque ids; query strings are left out as they may carry filters.
        access_log.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "endpoint": endpoint,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user_id": _user_id(),
            },
        )
        return response


def _user_id() -> int | None:
    """The signed-in user's id, read from the identity map without SQL: after a commit or a rollback
    (e.g. the database went away) the instance is expired, and ``user.id`` would query the database
    again while the response is being finished."""
    user = g.get("user")
    if user is None:
        return None
    state = inspect(user, raiseerr=False)
    if state is None or state.identity is None:
        return getattr(user, "id", None)
    return state.identity[0]


def metrics_response(state: dict[str, float]) -> Response:
    """Prometheus exposition of the request metrics (aggregated over gunicorn workers when
    PROMETHEUS_MULTIPROC_DIR is set) plus gauges of system state read from the database at scrape time."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    state_registry = CollectorRegistry()
    for name, value in state.items():
        Gauge(name, name.replace("_", " "), registry=state_registry).set(value)
    return Response(payload + generate_latest(state_registry), mimetype=CONTENT_TYPE_LATEST)
