"""Patient submissions over HTTP: Idempotency-Key, single entries and batch sync. The stored
response is exactly what the client saw, so a replay is byte-for-byte the same answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask_smorest import abort

from api.domain.flags import max_severity
from api.extensions import db
from api.models import User
from api.services.alerts import screen_checkin, screen_reflection, support_for
from api.services.checkins import checkin_view, create_checkin
from api.services.entries import EntryInvalid
from api.services.idempotency import Outcome, fingerprint, run_once
from api.services.reflections import create_reflection, reflection_view
from schemas.checkins import CheckInCreateSchema, CheckInSchema, ReflectionCreateSchema, ReflectionSchema

# Schema instances, built once: marshmallow copies every declared field when a schema is instantiated,
# which cost more than the load or dump itself on every submission. Schemas keep no per-call state.
KINDS: dict[str, tuple[Callable, Callable, Callable, ma.Schema, ma.Schema]] = {
    "checkin": (create_checkin, screen_checkin, checkin_view, CheckInCreateSchema(), CheckInSchema()),
    "reflection": (
        create_reflection,
        screen_reflection,
        reflection_view,
        ReflectionCreateSchema(),
        ReflectionSchema(),
    ),
}


def _store_and_screen(user: User, kind: str, data: dict) -> tuple[Any, bool, str | None]:
    """Store the entry and evaluate the flag rules in the same transaction: the entry and any alert
    it raises commit together or not at all. A stored duplicate is not screened twice."""
    create, screen = KINDS[kind][0], KINDS[kind][1]
    entry, created = create(user.patient, data)
    return entry, created, screen(user.patient, entry) if created else None


def submit_entry(user: User, kind: str, key: str, path: str, raw: dict, data: dict) -> Outcome:
    view, out_schema = KINDS[kind][2], KINDS[kind][4]

    def work() -> tuple[int, dict]:
        try:
            entry, created, severity = _store_and_screen(user, kind, data)
        except EntryInvalid as invalid:
            db.session.rollback()
            abort(422, errors={"json": invalid.errors})
        body = out_schema.dump(view(entry) | {"support": support_for(user.patient, severity)})
        return (201 if created else 200), body

    return run_once(user.id, key, fingerprint(path, raw), work)


def _batch_entry(user: User, kind: str, index: int, raw: Any) -> tuple[dict[str, Any], str | None]:
    _, _, view, in_schema, out_schema = KINDS[kind]
    result: dict[str, Any] = {
        "index": index,
        "kind": kind,
        "client_uuid": raw.get("client_uuid") if isinstance(raw, dict) else None,
    }
    try:
        data = in_schema.load(raw)
        # A savepoint per entry: one bad entry never undoes the others.
        with db.session.begin_nested():
            entry, created, severity = _store_and_screen(user, kind, data)
    except ma.ValidationError as invalid:
        return result | {"status": 422, "errors": invalid.messages}, None
    except EntryInvalid as invalid:
        return result | {"status": 422, "errors": invalid.errors}, None
    entry_body = out_schema.dump(view(entry) | {"support": support_for(user.patient, severity)})
    return result | {"status": 201 if created else 200, "id": entry.id, "entry": entry_body}, severity


def submit_batch(user: User, key: str, path: str, raw: dict) -> Outcome:
    def work() -> tuple[int, dict]:
        outcomes = [_batch_entry(user, "checkin", i, e) for i, e in enumerate(raw.get("checkins", []))]
        outcomes += [_batch_entry(user, "reflection", i, e) for i, e in enumerate(raw.get("reflections", []))]
        severity = max_severity(s for _, s in outcomes)
        return 200, {"results": [r for r, _ in outcomes], "support": support_for(user.patient, severity)}

    return run_once(user.id, key, fingerprint(path, raw), work)
