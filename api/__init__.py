"""Integration Companion API: the Flask app factory."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.routing import IntegerConverter

from api.config import load_config
from api.error_handlers import database_error, unexpected_error
from api.errors import reject_unreadable_bodies
from api.extensions import api, db, limiter, migrate
from api.observability import configure_logging, init_observability
from schemas.common import MAX_ID


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a larger number matches no route (404, as for an unknown id) instead of
    overflowing in the database driver (500), and the OpenAPI document states the bound."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_PATH") or None)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(load_config(app.instance_path, config))
    if not app.config.get("TESTING"):
        configure_logging(os.environ.get("LOG_LEVEL", "INFO"))

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    limiter.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    app.register_error_handler(DBAPIError, database_error)
    app.register_error_handler(Exception, unexpected_error)
    app.before_request(reject_unreadable_bodies)
    init_observability(app)

    from api import models  # noqa: F401  (register the tables with the metadata)
    from api.admin.data_rights import blp as admin_data_rights_blp
    from api.admin.flag_rules import blp as admin_flag_rules_blp
    from api.admin.routes import blp as admin_blp
    from api.admin.schedules import blp as admin_schedules_blp
    from api.auth.routes import blp as auth_blp
    from api.care.alerts import blp as care_alerts_blp
    from api.care.entries import blp as care_entries_blp
    from api.care.routes import blp as care_blp
    from api.care.schedules import blp as care_schedules_blp
    from api.cli import register_cli
    from api.console import init_console
    from api.fhir.routes import blp as fhir_blp
    from api.health.routes import blp as health_blp
    from api.instruments.routes import blp as instruments_blp
    from api.me.entries import blp as me_entries_blp
    from api.me.prompts import blp as me_prompts_blp
    from api.me.routes import blp as me_blp

    for blueprint in (
        auth_blp,
        me_blp,
        me_entries_blp,
        instruments_blp,
        care_blp,
        care_entries_blp,
        care_alerts_blp,
        admin_blp,
        admin_flag_rules_blp,
        me_prompts_blp,
        care_schedules_blp,
        admin_schedules_blp,
        fhir_blp,
        admin_data_rights_blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(health_blp)
    init_console(app)
    register_cli(app)
    return app
