"""Encryption at rest for free text (reflections, check-in notes) with rotatable Fernet keys."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from flask import Flask, current_app
from sqlalchemy import select

from api.config import ConfigError
from api.extensions import db
from api.models import CheckIn, Reflection


def _keys(app: Flask) -> list[str]:
    """REFLECTION_KEYS (comma-separated, newest first); else, outside production, a key file
    generated once in the instance folder so `make run` works with no set-up."""
    configured = [k.strip() for k in app.config["REFLECTION_KEYS"].split(",") if k.strip()]
    if configured:
        return configured
    if app.config["ENV_MODE"] == "production":
        raise ConfigError("REFLECTION_KEYS must be set when APP_ENV=production")
    path = Path(app.config.get("REFLECTION_KEYS_FILE") or Path(app.instance_path) / "reflection.keys")
    if not path.exists():
        path.write_text(Fernet.generate_key().decode() + "\n")
        path.chmod(0o600)
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def cipher() -> MultiFernet:
    app = current_app._get_current_object()
    if "reflection_cipher" not in app.extensions:
        app.extensions["reflection_cipher"] = MultiFernet([Fernet(k) for k in _keys(app)])
    return app.extensions["reflection_cipher"]


def encrypt_text(text: str) -> bytes:
    return cipher().encrypt(text.encode())


def decrypt_text(token: bytes) -> str:
    return cipher().decrypt(bytes(token)).decode()


def add_local_key(app: Flask) -> None:
    """Prepend a fresh key to the local key file (development); production rotates REFLECTION_KEYS."""
    path = Path(app.config.get("REFLECTION_KEYS_FILE") or Path(app.instance_path) / "reflection.keys")
    existing = path.read_text() if path.exists() else ""
    path.write_text(Fernet.generate_key().decode() + "\n" + existing)
    app.extensions.pop("reflection_cipher", None)


def reencrypt_all(batch_size: int = 500) -> dict[str, int]:
    """Rotate every stored ciphertext to the primary key, committing in batches."""
    counts = {"reflections": 0, "notes": 0}
    for model, column, name in (
        (Reflection, "text_ciphertext", "reflections"),
        (CheckIn, "note_ciphertext", "notes"),
    ):
        last_id = 0
        while True:
            rows = db.session.scalars(
                select(model)
                .where(model.id > last_id, getattr(model, column).is_not(None))
                .order_by(model.id)
                .limit(batch_size)
            ).all()
            if not rows:
                break
            for row in rows:
                setattr(row, column, cipher().rotate(bytes(getattr(row, column))))
            last_id = rows[-1].id
            counts[name] += len(rows)
            db.session.commit()
    return counts
