"""Idempotency-Key handling (Stripe's contract): the first response is stored with a fingerprint
of the request in the same transaction as the work, and replayed for every retry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from flask_smorest import abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.extensions import db
from api.models import IdempotencyRecord


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool


def fingerprint(path: str, body: object) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(user_id: int, key: str, digest: str) -> Outcome | None:
    record = db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    )
    if record is None:
        return None
    if record.fingerprint != digest:
        abort(
            422,
            message="This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
            errors={"headers": {"Idempotency-Key": ["Already used with a different request body."]}},
        )
    return Outcome(record.status_code, record.response_body, True)


def run_once(user_id: int, key: str, digest: str, work: Callable[[], tuple[int, dict]]) -> Outcome:
    """Run `work` (which adds rows to the session without committing) exactly once per key.

    A concurrent duplicate blocks on the unique (user_id, key) index until the first commits, then
    fails its insert; it rolls back and replays the stored response. A second attempt also covers a
    race on another unique guard (the client's entry UUID), which `work` resolves by looking it up."""
    for attempt in (1, 2):
        earlier = _replay(user_id, key, digest)
        if earlier:
            return earlier
        try:
            status, body = work()
            db.session.add(
                IdempotencyRecord(
                    user_id=user_id, key=key, fingerprint=digest, status_code=status, response_body=body
                )
            )
            db.session.commit()
        except IntegrityError:
            # Raised at the entry's insert or at the commit, once the concurrent first request committed.
            db.session.rollback()
            if attempt == 2:
                raise
            continue
        return Outcome(status, body, False)
    raise AssertionError("unreachable")
