"""The bare-insert baseline of ``bench/api.py``: a minimal Flask + Flask-SQLAlchemy app with one JSON
POST endpoint that inserts one row comparable to a check-in. bench/api.py starts it with the project's
gunicorn settings, side by side with the real API:

    DATABASE_URL=postgresql+psycopg://... gunicorn --config gunicorn.conf.py 'bench.baseline_app:create_app()'

No auth, validation, scoring, flags, audit or idempotency: it is the floor the check-in path is
measured against (``checkin_vs_bare_insert``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, Response, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class BareCheckIn(db.Model):
    __tablename__ = "bench_bare_checkins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    instrument_id: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[str] = mapped_column(String(16))
    answers: Mapped[dict] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


def create_app(database_url: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url or os.environ["DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}  # as the real app
    db.init_app(app)

    @app.post("/bare/checkins")
    def post_checkin() -> tuple[Response, int]:
        body = request.get_json()
        row = BareCheckIn(
            client_uuid=body["client_uuid"],
            instrument_id=body["instrument_id"],
            instrument_version=body["instrument_version"],
            answers=body["answers"],
            recorded_at=datetime.fromisoformat(body["recorded_at"]),
        )
        db.session.add(row)
        db.session.flush()  # INSERT ... RETURNING id, without a reload after the commit
        reply = {"id": row.id, "client_uuid": row.client_uuid}
        db.session.commit()
        return jsonify(reply), 201

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app


def create_table(database_url: str) -> None:
    """Create the baseline's table (bench/api.py calls this once, before gunicorn starts)."""
    app = create_app(database_url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
