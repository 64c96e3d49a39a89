"""Dispatch: claim due prompts, push them to every active device of their patient, record outcomes.

One batch is three steps, and no transaction is open while the network is used:

1. claim (short transaction, ``worker.leases.claim``): lease up to ``batch_size`` due prompts, count
   the attempt, and load the active devices of all their patients with one query;
2. send every message of the batch with one ``notifier.send`` call (FCM: ``send_each`` per 500);
3. record (short transaction): set-based UPDATEs (executemany) for sent / retry rows and dead
   devices, conditional on ``locked_by = me`` so a lease taken over or a row re-planned meanwhile is
   left alone; undeliverable rows call the alerts hook inside a savepoint.

Push content is deliberately generic (lock screens, Google and Apple see it): a fixed title and body,
and ``data`` with only the opaque prompt id and the message kind. Logs carry counts, never tokens.

Attempts are counted when a prompt is claimed (``attempts + 1`` in the claim UPDATE), so a prompt
whose sending keeps killing the worker (its lease keeps running out) is still bounded: a claim past
``max_attempts`` marks it undeliverable without sending.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from threading import Event
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import Select, bindparam, case, literal, or_, select, update

from api.extensions import db
from api.models import Device, Prompt
from api.models.prompts import DELIVERED, SCHEDULED, SENT
from api.models.types import UtcDateTime, utcnow
from api.services import alerts as alert_hooks
from api.services.alerts import paused_patients_clause
from worker.leases import claim, lease_is_free
from worker.notifier import base as push
from worker.notifier.backoff import retry_delay
from worker.settings import WorkerSettings

log = logging.getLogger("worker.dispatch")

TITLE = "Integration Companion"
PROMPT_BODY = "You have a new check-in"
REMINDER_BODY = "A check-in is waiting for you"
KIND_PROMPT = "prompt"
KIND_REMINDER = "reminder"

# Reasons handed to ``api.services.alerts.on_prompt_undeliverable`` (shown to the care team).
REASON_NO_DEVICE = "no_active_device"
REASON_RETRIES_EXHAUSTED = "retries_exhausted"
REASON_REJECTED = "push_rejected"

devices_table = Device.__table__
prompts_table = Prompt.__table__


# --- messages and devices -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    device_id: int
    token: str


def active_devices(patient_ids: Iterable[int]) -> dict[int, list[Target]]:
    """The active devices of many patients, one query."""
    ids = sorted(set(patient_ids))
    found: dict[int, list[Target]] = defaultdict(list)
    if not ids:
        return found
    rows = db.session.execute(
        select(Device.user_id, Device.id, Device.token)
        .where(Device.user_id.in_(ids), Device.active.is_(True))
        .order_by(Device.id)
    )
    for user_id, device_id, token in rows:
        found[user_id].append(Target(device_id, token))
    return found


def push_message(
    prompt_id: int, token: str, kind: str, expires_at: datetime, now: datetime
) -> push.PushMessage:
    """The push for one prompt on one device: no health information, only the opaque prompt id.

    The collapse key is the same for the prompt and its reminders, so a reminder replaces the
    earlier notification instead of stacking; the TTL makes an undelivered push die with the window.
    """
    ttl = int(min(push.MAX_TTL_SECONDS, max(0.0, (expires_at - now).total_seconds())))
    return push.PushMessage(
        token=token,
        title=TITLE,
        body=PROMPT_BODY if kind == KIND_PROMPT else REMINDER_BODY,
        data={"prompt_id": str(prompt_id), "kind": kind},
        collapse_key=f"prompt-{prompt_id}",
        ttl_seconds=ttl,
    )


@dataclass
class PushOutcome:
    """What the push service said about all devices of one prompt."""

    devices: int = 0
    sent: int = 0
    retry: int = 0
    dead: int = 0
    retry_after: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``sent`` (at least one device accepted it), ``no_device``, ``retry`` (nothing accepted,
        something transient), else ``rejected`` (every device refused it for good)."""
        if self.sent:
            return "sent"
        if not self.devices:
            return "no_device"
        if self.retry:
            return "retry"
        return "rejected"

    def error_text(self) -> str | None:
        return ",".join(dict.fromkeys(self.errors))[:500] or None


@dataclass(frozen=True, slots=True)
class DeadDevice:
    device_id: int
    reason: str


def push_all(
    notifier: push.Notifier,
    items: Sequence[tuple[int, int, datetime]],
    devices: dict[int, list[Target]],
    kind: str,
    now: datetime,
) -> tuple[dict[int, PushOutcome], list[DeadDevice], int]:
    """Send one message per (prompt, active device) in a single ``notifier.send`` call.

    ``items`` are (prompt_id, patient_id, expires_at). Returns the outcome per prompt id, the devices
    whose token is dead, and the number of messages sent.
    """
    outcomes = {prompt_id: PushOutcome() for prompt_id, _, _ in items}
    messages: list[push.PushMessage] = []
    owners: list[tuple[int, int]] = []  # (prompt_id, device_id) per message
    for prompt_id, patient_id, expires_at in items:
        for target in devices.get(patient_id, ()):
            messages.append(push_message(prompt_id, target.token, kind, expires_at, now))
            owners.append((prompt_id, target.device_id))
            outcomes[prompt_id].devices += 1
    results: list[push.SendResult] = notifier.send(messages) if messages else []
    if len(results) != len(messages):
        raise RuntimeError("the notifier returned a different number of results than messages")
    dead: dict[int, DeadDevice] = {}
    for (prompt_id, device_id), result in zip(owners, results, strict=True):
        outcome = outcomes[prompt_id]
        if result.outcome == push.SENT:
            outcome.sent += 1
            continue
        outcome.errors.append(result.error_code or result.outcome)
        if result.outcome == push.RETRY:
            outcome.retry += 1
            if result.retry_after is not None:
                outcome.retry_after = max(outcome.retry_after or 0.0, result.retry_after)
        elif result.outcome == push.DEAD_TOKEN:
            outcome.dead += 1
            dead[device_id] = DeadDevice(device_id, (result.error_code or push.DEAD_TOKEN)[:40])
    return outcomes, list(dead.values()), len(messages)


def deactivate_devices(dead: Sequence[DeadDevice], now: datetime, claimed_at: datetime) -> None:
    """Deactivate devices whose token FCM called dead, in the caller's transaction (executemany).

    A device registered again since the claim (``last_seen_at`` moved on) is kept: the app just
    told us the token is current, which beats an answer about a request sent before that.
    """
    if not dead:
        return
    stmt = (
        update(devices_table)
        .where(
            devices_table.c.id == bindparam("b_id"),
            devices_table.c.active.is_(True),
            devices_table.c.last_seen_at <= bindparam("b_claimed_at", type_=UtcDateTime()),
        )
        .values(active=False, deactivated_at=bindparam("b_now"), deactivation_reason=bindparam("b_reason"))
    )
    db.session.execute(
        stmt,
        [{"b_id": d.device_id, "b_reason": d.reason, "b_now": now, "b_claimed_at": claimed_at} for d in dead],
    )


# --- claiming -------------------------------------------------------------------------------------


def due_prompts_query(now: datetime, limit: int) -> Select[Any]:
    """The ids of prompts due for sending, oldest first. THE place to extend the send conditions
    (e.g. pausing patients): every claim goes through here."""
    query = select(Prompt.id).where(
        Prompt.state == SCHEDULED,
        Prompt.intended_at <= now,
        Prompt.expires_at > now,
        Prompt.undeliverable_at.is_(None),
        or_(Prompt.next_attempt_at.is_(None), Prompt.next_attempt_at <= now),
        lease_is_free(now),
    )
    if current_app.config["PAUSE_PROMPTS_ON_URGENT"]:
        # A patient in crisis is not asked to rate their sleep while an urgent alert is open.
        query = query.where(~paused_patients_clause())
    return query.order_by(Prompt.intended_at, Prompt.id).limit(limit)


@dataclass(frozen=True, slots=True)
class ClaimedPrompt:
    id: int
    patient_id: int
    intended_at: datetime
    expires_at: datetime
    reminder_hours: list[float]
    attempts: int


def claim_due_prompts(
    now: datetime, settings: WorkerSettings
) -> tuple[list[ClaimedPrompt], dict[int, list[Target]]]:
    """Lease a batch of due prompts (counting the attempt) and load their patients' active devices."""
    rows = claim(
        due_prompts_query(now, settings.batch_size),
        now,
        settings.worker_id,
        settings.lease_seconds,
        returning=[
            prompts_table.c.id,
            prompts_table.c.patient_id,
            prompts_table.c.intended_at,
            prompts_table.c.expires_at,
            prompts_table.c.reminder_hours,
            prompts_table.c.attempts,
        ],
        attempts=prompts_table.c.attempts + 1,
    )
    claimed = sorted((ClaimedPrompt(*row) for row in rows), key=lambda p: (p.intended_at, p.id))
    # A second short read (the claim is committed): if it fails, the lease simply runs out.
    devices = active_devices(p.patient_id for p in claimed) if claimed else {}
    db.session.commit()
    return claimed, devices


# --- recording ------------------------------------------------------------------------------------


def first_reminder_at(
    sent_at: datetime, reminder_hours: Sequence[float], expires_at: datetime
) -> datetime | None:
    """``sent_at`` + the first reminder hour, if that is still inside the answer window."""
    return next_reminder_at(sent_at, reminder_hours, after=sent_at, expires_at=expires_at)


def next_reminder_at(
    sent_at: datetime, reminder_hours: Sequence[float], after: datetime, expires_at: datetime
) -> datetime | None:
    """The earliest ``sent_at + h`` (h in ``reminder_hours``) strictly after ``after`` and before
    ``expires_at``; None when there is none. Hours already in the past are skipped, so a worker
    that was down never fires a pile of stale reminders back to back."""
    times = sorted(sent_at + timedelta(hours=float(h)) for h in reminder_hours or () if float(h) > 0)
    upcoming = [t for t in times if t > after]
    if not upcoming or upcoming[0] >= expires_at:
        return None
    return upcoming[0]


def _release(ids: Sequence[int], worker_id: str) -> None:
    """Drop whatever lease this worker still holds on ``ids`` (rows no outcome UPDATE matched)."""
    if ids:
        db.session.execute(
            update(prompts_table)
            .where(prompts_table.c.id.in_(ids), prompts_table.c.locked_by == worker_id)
            .values(locked_until=None, locked_by=None)
        )


def mark_undeliverable(prompt_id: int, worker_id: str, reason: str, error: str | None, now: datetime) -> bool:
    """Flag a claimed, still unsent prompt undeliverable and tell the alerts service. It keeps state
    ``scheduled``, so the app still shows it while its window is open (``open_prompts_for``).

    Runs in the caller's transaction; the hook runs in a savepoint so a failing hook (logged) does
    not undo the outcomes recorded around it. Returns whether the row was flagged.
    """
    result = db.session.execute(
        update(prompts_table)
        .where(
            prompts_table.c.id == prompt_id,
            prompts_table.c.locked_by == worker_id,
            prompts_table.c.state == SCHEDULED,
        )
        .values(
            undeliverable_at=now,
            last_error=(error or reason)[:500],
            next_attempt_at=None,
            locked_until=None,
            locked_by=None,
        )
    )
    if result.rowcount != 1:
        return False
    try:
        with db.session.begin_nested():
            alert_hooks.on_prompt_undeliverable(prompt_id, reason)
    except Exception as exc:
        log.error(
            "undeliverable hook failed",
            extra={"prompt_id": prompt_id, "reason": reason, "error": type(exc).__name__},
        )
    return True


@dataclass
class BatchCounts:
    """Counters of one claimed batch, or of a run of batches, of a claim loop."""

    claimed: int = 0

    def add(self, other: BatchCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


Counts = TypeVar("Counts", bound=BatchCounts)


def drain(
    batch: Callable[[], Counts],
    total: Counts,
    settings: WorkerSettings,
    stopping: Event | None,
    logger: logging.Logger,
    message: str,
) -> Counts:
    """Run ``batch`` while full batches keep coming, within ``run_budget_seconds``, so a job returns
    (and records its heartbeat) regularly even while a big backlog drains; logs the totals."""
    deadline = time.monotonic() + settings.run_budget_seconds
    while True:
        stats = batch()
        total.add(stats)
        if stats.claimed < settings.batch_size or time.monotonic() >= deadline:
            break
        if stopping is not None and stopping.is_set():
            break
    if total.claimed:
        logger.info(message, extra={"worker_id": settings.worker_id, **total.as_dict()})
    return total


@dataclass
class DispatchStats(BatchCounts):
    messages: int = 0
    sent: int = 0
    retried: int = 0
    undeliverable: int = 0
    dead_tokens: int = 0


def _record_prompt_outcomes(
    claimed: Sequence[ClaimedPrompt],
    outcomes: dict[int, PushOutcome],
    exhausted: Sequence[ClaimedPrompt],
    dead: Sequence[DeadDevice],
    settings: WorkerSettings,
    claimed_at: datetime,
    now: datetime,
    stats: DispatchStats,
) -> None:
    me = settings.worker_id
    sent_rows: list[dict[str, Any]] = []
    retry_rows: list[dict[str, Any]] = []
    give_up: list[tuple[int, str, str | None]] = [(p.id, REASON_RETRIES_EXHAUSTED, None) for p in exhausted]
    for prompt in claimed:
        outcome = outcomes[prompt.id]
        verdict = outcome.verdict
        if verdict == "sent":
            sent_rows.append(
                {
                    "b_id": prompt.id,
                    "b_reminder": first_reminder_at(now, prompt.reminder_hours, prompt.expires_at),
                }
            )
        elif verdict == "no_device":
            give_up.append((prompt.id, REASON_NO_DEVICE, None))
        elif verdict == "retry":
            # attempts counts this claim too: the first retry waits retry_delay(0, ...).
            next_at = now + timedelta(
                seconds=retry_delay(
                    prompt.attempts - 1,
                    outcome.retry_after,
                    base=settings.retry_base_seconds,
                    cap=settings.retry_cap_seconds,
                )
            )
            # Out of attempts, or the next one (e.g. a long Retry-After) would fall after the window.
            if prompt.attempts >= settings.max_attempts or next_at >= prompt.expires_at:
                give_up.append((prompt.id, REASON_RETRIES_EXHAUSTED, outcome.error_text()))
            else:
                retry_rows.append({"b_id": prompt.id, "b_next": next_at, "b_error": outcome.error_text()})
        else:  # rejected: every device refused it for good (dead tokens, permanent errors)
            # Every token dead: the devices are deactivated below, so the patient has none left.
            reason = REASON_NO_DEVICE if outcome.dead == outcome.devices else REASON_REJECTED
            give_up.append((prompt.id, reason, outcome.error_text()))

    try:
        deactivate_devices(dead, now, claimed_at)
        # Set-based: one UPDATE per distinct first-reminder time (prompts of one rule share it,
        # so a batch of 500 is typically one or two statements).
        by_reminder: dict[datetime | None, list[int]] = defaultdict(list)
        for row in sent_rows:
            by_reminder[row["b_reminder"]].append(row["b_id"])
        state = prompts_table.c.state
        for reminder_at, ids in by_reminder.items():
            db.session.execute(
                update(prompts_table)
                .where(prompts_table.c.id.in_(ids), prompts_table.c.locked_by == me)
                .values(
                    # Conditional on the old values: the app may have marked the prompt delivered or
                    # opened while we were sending; those keep their state.
                    state=case((state == SCHEDULED, SENT), else_=state),
                    sent_at=now,
                    reminder_due_at=case(
                        (state.in_((SCHEDULED, SENT, DELIVERED)), literal(reminder_at, UtcDateTime())),
                        else_=prompts_table.c.reminder_due_at,
                    ),
                    next_attempt_at=None,
                    last_error=None,
                    locked_until=None,
                    locked_by=None,
                )
            )
        if retry_rows:
            db.session.execute(
                update(prompts_table)
                .where(prompts_table.c.id == bindparam("b_id"), prompts_table.c.locked_by == me)
                .values(
                    next_attempt_at=bindparam("b_next", type_=UtcDateTime()),
                    last_error=bindparam("b_error"),
                    locked_until=None,
                    locked_by=None,
                ),
                retry_rows,
            )
        undeliverable = sum(mark_undeliverable(pid, me, reason, error, now) for pid, reason, error in give_up)
        # The sent/retry UPDATEs released their rows; a row given up on that was no longer
        # 'scheduled' (the app marked it delivered/opened meanwhile) still holds our lease.
        _release([pid for pid, _, _ in give_up], me)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    stats.sent += len(sent_rows)
    stats.retried += len(retry_rows)
    stats.undeliverable += undeliverable
    stats.dead_tokens += len(dead)
    elapsed = (now - claimed_at).total_seconds()
    if elapsed > settings.lease_seconds / 2:
        # Close to a lease running out mid-send (another worker could send the batch again).
        log.warning(
            "dispatch batch took more than half its lease",
            extra={"seconds": round(elapsed, 1), "lease_seconds": settings.lease_seconds},
        )


def dispatch_batch(
    notifier: push.Notifier, settings: WorkerSettings, clock: Callable[[], datetime] = utcnow
) -> DispatchStats:
    """Claim, send and record one batch of due prompts."""
    now = clock()
    stats = DispatchStats()
    claimed, devices = claim_due_prompts(now, settings)
    stats.claimed = len(claimed)
    if not claimed:
        return stats
    # Past the attempt limit only when earlier claims never recorded an outcome (the worker died
    # or stalled each time): give up instead of risking another crash.
    exhausted = [p for p in claimed if p.attempts > settings.max_attempts]
    to_send = [p for p in claimed if p.attempts <= settings.max_attempts]
    outcomes, dead, stats.messages = push_all(
        notifier, [(p.id, p.patient_id, p.expires_at) for p in to_send], devices, KIND_PROMPT, clock()
    )
    _record_prompt_outcomes(to_send, outcomes, exhausted, dead, settings, now, clock(), stats)
    return stats


def run_dispatch(
    notifier: push.Notifier, settings: WorkerSettings, stopping: Event | None = None
) -> DispatchStats:
    """Dispatch batches while full batches keep coming, within ``run_budget_seconds``."""
    return drain(
        lambda: dispatch_batch(notifier, settings), DispatchStats(), settings, stopping, log, "dispatched"
    )


__all__ = [
    "KIND_PROMPT",
    "KIND_REMINDER",
    "PROMPT_BODY",
    "REASON_NO_DEVICE",
    "REASON_REJECTED",
    "REASON_RETRIES_EXHAUSTED",
    "REMINDER_BODY",
    "TITLE",
    "BatchCounts",
    "ClaimedPrompt",
    "DispatchStats",
    "PushOutcome",
    "Target",
    "active_devices",
    "claim_due_prompts",
    "deactivate_devices",
    "dispatch_batch",
    "drain",
    "due_prompts_query",
    "first_reminder_at",
    "mark_undeliverable",
    "next_reminder_at",
    "push_all",
    "push_message",
    "run_dispatch",
]
