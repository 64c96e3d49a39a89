"""Patient submissions over HTTP: Idempotency-Key, single entries and batch sync. The stored
response is exactly what the client saw, so a replay is byte-for-byte the same answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask_smorest import abort

from api.extensions import db
from api.models import User
from api.services.checkins import checkin_view, create_checkin
from api.services.entries import EntryInvalid
from api.services.idempotency import Outcome, fingerprint, run_once
from api.services.reflections import create_reflection, reflection_view
from schemas.checkins import CheckInCreateSchema, CheckInSchema, ReflectionCreateSchema, ReflectionSchema

KINDS: dict[str, tuple[Callable, Callable, type[ma.Schema], type[ma.Schema]]] = {
    "checkin": (create_checkin, checkin_view, CheckInCreateSchema, CheckInSchema),
    "reflection": (create_reflection, reflection_view, ReflectionCreateSchema, ReflectionSchema),
}


def submit_entry(user: User, kind: str, key: str, path: str, raw: dict, data: dict) -> Outcome:
    create, view, _, out_schema = KINDS[kind]

    def work() -> tuple[int, dict]:
        try:
            entry, created = create(user.patient, data)
        except EntryInvalid as invalid:
            db.session.rollback()
            abort(422, errors={"json": invalid.errors})
        return (201 if created else 200), out_schema().dump(view(entry))

    return run_once(user.id, key, fingerprint(path, raw), work)


def _batch_entry(user: User, kind: str, index: int, raw: Any) -> dict[str, Any]:
    create, view, in_schema, out_schema = KINDS[kind]
    result: dict[str, Any] = {
        "index": index,
        "kind": kind,
        "client_uuid": raw.get("client_uuid") if isinstance(raw, dict) else None,
    }
    try:
        data = in_schema().load(raw)
        # A savepoint per entry: one bad entry never undoes the others.
        with db.session.begin_nested():
            entry, created = create(user.patient, data)
    except ma.ValidationError as invalid:
        return result | {"status": 422, "errors": invalid.messages}
    except EntryInvalid as invalid:
        return result | {"status": 422, "errors": invalid.errors}
    return result | {
        "status": 201 if created else 200,
        "id": entry.id,
        "entry": out_schema().dump(view(entry)),
    }


def submit_batch(user: User, key: str, path: str, raw: dict) -> Outcome:
    def work() -> tuple[int, dict]:
        results = [_batch_entry(user, "checkin", i, e) for i, e in enumerate(raw.get("checkins", []))]
        results += [_batch_entry(user, "reflection", i, e) for i, e in enumerate(raw.get("reflections", []))]
        return 200, {"results": results}

    return run_once(user.id, key, fingerprint(path, raw), work)
