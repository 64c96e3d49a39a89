"""Operator endpoints, structured logs and the OpenAPI document."""

import json
import logging

from api.observability import configure_logging


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["checks"]["migrations"] == "ok"


def test_readyz_reports_pending_migrations(client, app):
    from sqlalchemy import text

    from api.extensions import db

    db.session.execute(text("UPDATE alembic_version SET version_num = 'stale'"))
    db.session.commit()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["checks"]["migrations"] == "pending"


def test_metrics_count_requests_by_endpoint_and_status(client):
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{endpoint="health.healthz",method="GET",status="200"}' in body
    assert "http_request_duration_seconds_bucket" in body


def test_request_id_is_returned_and_echoed(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert len(generated) == 32


def test_logs_are_json_lines_without_secrets(client, world, capsys):
    configure_logging("INFO")
    try:
        client.post(
            "/api/v1/auth/login",
            json={"email": "pat.a@example.org", "password": "correct horse battery"},
            headers={"X-Request-ID": "req-42"},
        )
        err = capsys.readouterr().err.strip().splitlines()
    finally:
        logging.getLogger().handlers.clear()
    records = [json.loads(line) for line in err]
    access = [r for r in records if r.get("logger") == "api.access"]
    assert access and access[-1]["request_id"] == "req-42" and access[-1]["status"] == 200
    assert "correct horse" not in "\n".join(err) and "access_token" not in "\n".join(err)


def test_openapi_document(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/accept-invite",
        "/api/v1/me",
        "/api/v1/me/devices",
        "/api/v1/admin/care-teams",
        "/api/v1/admin/users",
        "/api/v1/care/patients",
    ):
        assert path in spec["paths"], path
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_readyz_and_metrics_show_worker_ticks_and_backlog(client, app):
    from worker.jobs import run_job

    run_job(app, "worker-test", "dispatch", lambda: None)
    checks = client.get("/readyz").json["checks"]
    assert checks["worker"]["jobs"]["dispatch"]["seconds_since_success"] < 60
    assert checks["worker"]["backlog"] == 0
    body = client.get("/metrics").get_data(as_text=True)
    assert "prompts_send_backlog 0.0" in body and "worker_dispatch_seconds_since_success" in body
