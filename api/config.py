"""Configuration from environment variables, with safe local defaults."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEV_SECRET = "dev-only-insecure-secret-change-me"


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen mode."""


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app config from the environment; `overrides` (tests) win over the environment."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    env = os.environ
    config: dict[str, Any] = {
        "ENV_MODE": env.get("APP_ENV", "development"),
        "SECRET_KEY": env.get("SECRET_KEY", DEV_SECRET),
        "SQLALCHEMY_DATABASE_URI": env.get(
            "DATABASE_URL", f"sqlite:///{Path(instance_path) / 'companion.sqlite3'}"
        ),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Refuse bodies beyond this before they are parsed; the largest legitimate body is a
        # batch of 100 check-ins or a 10,000-character reflection.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1_000_000),
        "ACCESS_TOKEN_MINUTES": _int("ACCESS_TOKEN_MINUTES", 15),
        "REFRESH_TOKEN_DAYS": _int("REFRESH_TOKEN_DAYS", 30),
        "INVITE_DAYS": _int("INVITE_DAYS", 7),
        "LOGIN_LIMIT_PER_ACCOUNT": env.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"),
        "LOGIN_LIMIT_PER_IP": env.get("LOGIN_LIMIT_PER_IP", "30 per 15 minutes"),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "REFLECTION_KEYS": env.get("REFLECTION_KEYS", ""),
        # Acknowledgement deadlines per severity, in seconds; past them an alert escalates.
        "ALERT_ACK_SECONDS": {
            "urgent": _int("ALERT_ACK_SECONDS_URGENT", 15 * 60),
            "high": _int("ALERT_ACK_SECONDS_HIGH", 2 * 3600),
            "medium": _int("ALERT_ACK_SECONDS_MEDIUM", 24 * 3600),
            "low": _int("ALERT_ACK_SECONDS_LOW", 72 * 3600),
        },
        # Retention periods (days) enforced by worker.retention.run_retention; see docs/data-rights.md.
        "IDEMPOTENCY_RETENTION_DAYS": _int("IDEMPOTENCY_RETENTION_DAYS", 7),
        "PUSH_RECORD_RETENTION_DAYS": _int("PUSH_RECORD_RETENTION_DAYS", 90),
        "AUDIT_RETENTION_DAYS": _int("AUDIT_RETENTION_DAYS", 6 * 365),
        # HMAC key that pseudonymises patient ids in research exports (stable per key).
        "RESEARCH_EXPORT_KEY": env.get("RESEARCH_EXPORT_KEY", ""),
        "PAUSE_PROMPTS_ON_URGENT": env.get("PAUSE_PROMPTS_ON_URGENT", "true") == "true",
        "CRISIS_RESOURCES": json.loads(env["CRISIS_RESOURCES"])
        if env.get("CRISIS_RESOURCES")
        else [
            {"name": "988 Suicide & Crisis Lifeline", "action": "call", "contact": "988"},
            {"name": "988 Suicide & Crisis Lifeline", "action": "text", "contact": "988"},
            {"name": "Emergency services (immediate danger)", "action": "call", "contact": "911"},
        ],
        "CRISIS_MESSAGE": env.get(
            "CRISIS_MESSAGE",
            (
                "Thank you for telling us. Your care team has been notified and will reach out. This app is not "
                "monitored around the clock: if you are in danger or thinking about ending your life, call or text "
                "988 now, or call 911."
            ),
        ),
        "API_TITLE": "Integration Companion API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
    }
    config.update(overrides or {})
    if config["ENV_MODE"] == "production" and config["SECRET_KEY"] in ("", DEV_SECRET):
        raise ConfigError("SECRET_KEY must be set to a strong secret when APP_ENV=production")
    return config
