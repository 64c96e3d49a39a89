"""Upgrading an empty database to head matches the models exactly (on SQLite and PostgreSQL)."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from api.extensions import db
from api.services.health import migration_heads


def _drift(connection):
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, db.metadata)


def test_migrated_schema_matches_models(app):
    with db.engine.connect() as conn:
        assert _drift(conn) == []
        assert set(MigrationContext.configure(conn).get_current_heads()) == migration_heads()


def test_downgrade_to_base_and_back(app):
    db.session.remove()
    downgrade(revision="base")
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == ()
    upgrade()
    with db.engine.connect() as conn:
        assert _drift(conn) == []
