"""docker-compose.yml cannot run here (no Docker engine), so check it against the code instead."""

import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_present():
    assert set(COMPOSE["services"]) == {"db", "redis", "api", "worker"}
    assert COMPOSE["services"]["db"]["image"].startswith("postgres:16")
    assert "healthcheck" in COMPOSE["services"]["db"] and "db-data" in COMPOSE["volumes"]
    assert "healthcheck" in COMPOSE["services"]["redis"]


def test_api_processes_share_the_rate_limit_storage():
    env = COMPOSE["services"]["api"]["environment"]
    assert env["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert set(COMPOSE["services"]["api"]["depends_on"]) == {"db", "redis"}


def test_api_runs_migrations_then_the_same_gunicorn_entry_point_as_make_run():
    command = COMPOSE["services"]["api"]["command"]
    assert "flask --app api db upgrade &&" in command
    local = (ROOT / "scripts" / "run-local.sh").read_text()
    assert "gunicorn --config gunicorn.conf.py" in command and "gunicorn --config gunicorn.conf.py" in local
    assert "'api:create_app()'" in command and "'api:create_app()'" in local
    assert "flask --app api db upgrade" in local


def test_worker_entry_point_matches_make_run():
    assert COMPOSE["services"]["worker"]["command"] == "python -m worker"
    assert "python -m worker" in (ROOT / "scripts" / "run-local.sh").read_text()
    assert (ROOT / "worker" / "__main__.py").exists()


def test_environment_variables_are_ones_the_code_reads():
    env = COMPOSE["services"]["api"]["environment"]
    code = "\n".join(p.read_text() for p in [*(ROOT / "api").rglob("*.py"), *(ROOT / "worker").rglob("*.py")])
    for name in env:
        assert f'"{name}"' in code or name in (
            "PROMETHEUS_MULTIPROC_DIR",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ), name
    assert env["APP_ENV"] == "production" and env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert COMPOSE["services"]["worker"]["environment"] == env


def test_production_refuses_the_default_secret(monkeypatch):
    import pytest

    from api import create_app
    from api.config import ConfigError

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app()


def test_gunicorn_app_spec_builds_the_app():
    module, _, call = shlex.split("'api:create_app()'")[0].partition(":")
    assert module == "api" and call == "create_app()"


def test_the_image_installs_the_runtime_pins_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile
    pins = (ROOT / "requirements.lock").read_text().splitlines()
    runtime = {line.split("==")[0].lower().replace("_", "-") for line in pins if "==" in line}
    assert runtime.isdisjoint({"pytest", "ruff", "playwright", "schemathesis", "pyinstrument"})
    assert {"flask", "gunicorn", "firebase-admin", "apscheduler", "redis"} <= runtime
    dev = (ROOT / "requirements-dev.lock").read_text().splitlines()
    assert "-r requirements.lock" in dev and "pytest==" in "\n".join(dev)
