"""Prompts: the ledger of everything planned for a patient, and the notification worker's queue.

One row per planned occurrence of a template rule for one dosing session. The unique key
(patient_id, rule_key, dosing_session_id, occurrence) means nothing is ever planned twice: the
planner (``api.services.planning``) only inserts missing keys and updates rows still ``scheduled``.

Lifecycle (``state``)::

    scheduled -> sent -> delivered -> opened -> completed
        |          \\________\\_________\\______-> expired   (expires_at passed, never answered)
        +-> cancelled   (re-planned away, or its dosing session was cancelled; never sent)
        +-> expired     (the window closed before the worker sent it)
    scheduled / sent / delivered -> opened, scheduled -> delivered are allowed too: the app may show
    a due prompt before the worker sends it (``open_prompts_for``).

``undeliverable_at`` is a flag, not a state: the worker sets it when it gives up pushing (no active
device, permanent FCM error, attempts exhausted). The prompt keeps its state (normally
``scheduled``), stays visible in the app while its window is open and in the care team's ledger, and
is expired like any other when the window closes.

Worker contract (the worker itself is a later task):

* Send claim: ``state='scheduled' AND intended_at <= now AND expires_at > now AND undeliverable_at IS
  NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now) AND (locked_until IS NULL OR
  locked_until < now)`` ordered by ``intended_at`` (index ``ix_prompts_state_intended``); it sets
  ``locked_until``/``locked_by`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), increments ``attempts``.
* After the push, the final transition must be conditional: ``UPDATE ... SET state='sent',
  sent_at=now, reminder_due_at=sent_at + reminder_hours[0] WHERE id=:id AND state='scheduled' AND
  locked_by=:me``. The planner clears ``locked_by``/``locked_until`` whenever it re-times or cancels a
  row, so a claim made stale by a re-plan fails this update instead of overwriting the new plan.
* Failures: ``last_error`` and ``next_attempt_at`` (backoff); give up -> ``undeliverable_at``.
* Reminders: ``state IN ('sent','delivered','opened') AND reminder_due_at <= now`` (index
  ``ix_prompts_state_reminder``); after each, ``reminders_sent += 1`` and ``reminder_due_at =
  sent_at + reminder_hours[reminders_sent]`` or NULL when none are left or it would fall after
  ``expires_at``.
* Expiry: ``state IN ('scheduled','sent','delivered','opened') AND expires_at <= now`` (index
  ``ix_prompts_state_expires``) -> ``expired``, ``expired_at``, ``reminder_due_at = NULL``.

``reminder_hours`` (hours after sending) is copied from the rule at planning time so a template edit
after sending cannot change a prompt in flight.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.extensions import db
from api.models.types import UtcDateTime, utcnow

SCHEDULED = "scheduled"
SENT = "sent"
DELIVERED = "delivered"
OPENED = "opened"
COMPLETED = "completed"
EXPIRED = "expired"
CANCELLED = "cancelled"
PROMPT_STATES = (SCHEDULED, SENT, DELIVERED, OPENED, COMPLETED, EXPIRED, CANCELLED)
# Not answered yet and not closed by a state change (the window may still have passed).
PENDING_STATES = (SCHEDULED, SENT, DELIVERED, OPENED)
# States reached only once the worker has sent the prompt; the planner never touches these rows.
HISTORY_STATES = (SENT, DELIVERED, OPENED, COMPLETED, EXPIRED)


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Prompt(db.Model):
    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("patient_id", "rule_key", "dosing_session_id", "occurrence"),
        CheckConstraint(f"state IN ({_quoted(PROMPT_STATES)})", name="state"),
        CheckConstraint("kind IN ('instrument', 'reflection')", name="kind"),
        Index("ix_prompts_patient_intended", "patient_id", "intended_at"),
        Index("ix_prompts_state_intended", "state", "intended_at"),
        Index("ix_prompts_state_reminder", "state", "reminder_due_at"),
        Index("ix_prompts_state_expires", "state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient_profiles.user_id", ondelete="CASCADE"))
    dosing_session_id: Mapped[int] = mapped_column(
        ForeignKey("dosing_sessions.id", ondelete="CASCADE"), index=True
    )
    rule_key: Mapped[str] = mapped_column(String(64))
    occurrence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    instrument_id: Mapped[str | None] = mapped_column(String(40))
    prompt_text: Mapped[str | None] = mapped_column(Text)
    day: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=SCHEDULED)
    intended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    undeliverable_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminder_hours: Mapped[list] = mapped_column(JSON, default=list)
    reminder_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Provenance: the template (plain integer: templates may be deleted, history stays) and its version.
    template_id: Mapped[int | None] = mapped_column(Integer)
    template_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "DELIVERED",
    "EXPIRED",
    "HISTORY_STATES",
    "OPENED",
    "PENDING_STATES",
    "PROMPT_STATES",
    "SCHEDULED",
    "SENT",
    "Prompt",
]
