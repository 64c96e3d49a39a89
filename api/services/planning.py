"""Planning: the persistence edge around the pure schedule expansion (``api.domain.schedule.expand``).

Rules of the ledger (``api.models.prompts``):

* Every occurrence of a rule for a dosing session is one ``prompts`` row, keyed by
  (patient_id, rule_key, dosing_session_id, occurrence); rows are inserted only for missing keys.
* Re-planning only ever changes rows that are still ``scheduled`` (never sent) and whose answer
  window has not closed yet: they are re-timed, or cancelled when their rule/occurrence is no longer
  in the plan; previously cancelled rows whose occurrence is back in the plan are revived. Rows that
  were sent (sent/delivered/opened/completed/expired) are history and never touched.
* A scheduled row whose window already closed under its current plan is history as well (it was
  visible in the app and missed; the worker marks it expired).
* The planner never creates, revives or keeps a ``scheduled`` row whose window has already closed at
  planning time (a dose recorded late, or corrected to an earlier time): nobody could answer it, and
  counting it as missed would distort adherence.
* Later sessions supersede earlier ones: occurrences of a session due at or after the start of the
  patient's next (non-cancelled) dosing session are not planned, so the questionnaires of "day 28"
  never arrive during the next dosing day. Cancelling the later session brings them back.
* "Last" session: ``session_number == planned_sessions`` (the patient's schedule settings), which
  switches on ``applies_to="last_session"`` rules (the 8-week follow-up).

Nothing here commits: callers own the transaction (and write the audit row for their action).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update

from api.domain.schedule import (
    DEFAULT_RULES,
    DEFAULT_TEMPLATE_NAME,
    KIND_INSTRUMENT,
    PlannedOccurrence,
    QuietHours,
    Rule,
    expand,
    rule_from_dict,
    rule_to_dict,
)
from api.extensions import db
from api.models import DosingSession, PatientProfile, PatientSchedule, Prompt, ScheduleTemplate
from api.models.prompts import (
    CANCELLED,
    COMPLETED,
    DELIVERED,
    EXPIRED,
    OPENED,
    PENDING_STATES,
    SCHEDULED,
    SENT,
)
from api.models.schedules import DEFAULT_PLANNED_SESSIONS, DEFAULT_QUIET_END, DEFAULT_QUIET_START
from api.models.types import utcnow

log = logging.getLogger(__name__)

# Patients per batch when many are re-planned at once (template edits): keeps IN lists bounded.
REPLAN_BATCH = 500

ADHERENCE_WINDOWS = (7, 28)

MSG_NO_SUCH_PROMPT = "No such prompt."
MSG_EXPIRED = "This prompt has expired."
MSG_WRONG_KIND = "This prompt asks for a different check-in."
MSG_ALREADY_ANSWERED = "This prompt has already been answered."
MSG_NOT_OPEN = "This prompt is no longer open."


@dataclass
class PlanChanges:
    """What a (re-)plan did to one patient's prompts."""

    created: int = 0
    updated: int = 0
    cancelled: int = 0
    revived: int = 0

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.cancelled or self.revived)

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "cancelled": self.cancelled,
            "revived": self.revived,
        }

    def describe(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.as_dict().items())


# --- settings and templates ---------------------------------------------------------------------


def default_template() -> ScheduleTemplate:
    """The default template (seeded by migration 0003; recreated from the code if it went missing)."""
    template = db.session.scalar(select(ScheduleTemplate).where(ScheduleTemplate.is_default.is_(True)))
    if template is None:
        template = ScheduleTemplate(
            name=DEFAULT_TEMPLATE_NAME,
            rules=[rule_to_dict(r) for r in DEFAULT_RULES],
            version=1,
            is_default=True,
        )
        db.session.add(template)
        db.session.flush()
    return template


def settings_for(patient_id: int) -> PatientSchedule:
    """The patient's schedule settings; a transient row with the defaults when none was written yet."""
    settings = db.session.get(PatientSchedule, patient_id)
    if settings is None:
        settings = _default_settings(patient_id)
    return settings


def ensure_settings(patient_id: int) -> PatientSchedule:
    """The persisted settings row, created with the defaults when missing (lazy creation)."""
    settings = db.session.get(PatientSchedule, patient_id)
    if settings is None:
        settings = _default_settings(patient_id)
        db.session.add(settings)
    return settings


def _default_settings(patient_id: int) -> PatientSchedule:
    return PatientSchedule(
        patient_id=patient_id,
        template_id=None,
        quiet_start=DEFAULT_QUIET_START,
        quiet_end=DEFAULT_QUIET_END,
        planned_sessions=DEFAULT_PLANNED_SESSIONS,
    )


def template_for(settings: PatientSchedule) -> ScheduleTemplate:
    if settings.template_id is not None:
        template = db.session.get(ScheduleTemplate, settings.template_id)
        if template is not None:
            return template
    return default_template()


def quiet_hours_of(settings: PatientSchedule) -> QuietHours:
    return QuietHours(start=parse_hhmm(settings.quiet_start), end=parse_hhmm(settings.quiet_end))


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def rules_of(template: ScheduleTemplate) -> list[Rule]:
    return [rule_from_dict(d) for d in template.rules]


# --- planning -----------------------------------------------------------------------------------


@dataclass
class _Context:
    """Everything needed to plan one patient."""

    patient_id: int
    tz: ZoneInfo
    quiet: QuietHours
    planned_sessions: int
    template: ScheduleTemplate
    rules: list[Rule]
    sessions: list[DosingSession]  # non-cancelled, by start time


def _wanted(ctx: _Context) -> dict[int, dict[tuple[str, int], PlannedOccurrence]]:
    """The plan: per active session, (rule_key, occurrence) -> occurrence (superseded ones dropped)."""
    plan: dict[int, dict[tuple[str, int], PlannedOccurrence]] = {}
    for i, session in enumerate(ctx.sessions):
        cutoff = ctx.sessions[i + 1].started_at if i + 1 < len(ctx.sessions) else None
        occurrences = expand(
            ctx.rules,
            session.started_at,
            ctx.tz,
            ctx.quiet,
            is_last_session=session.session_number == ctx.planned_sessions,
        )
        plan[session.id] = {
            (o.rule_key, o.occurrence): o for o in occurrences if cutoff is None or o.due_at < cutoff
        }
    return plan


def _load_contexts(patient_ids: Sequence[int], lock: bool) -> list[_Context]:
    """Profiles (locked), settings, sessions and templates of many patients: one query per table."""
    query = select(PatientProfile).where(PatientProfile.user_id.in_(patient_ids))
    if lock:
        # Serialises concurrent re-plans of one patient (PostgreSQL); SQLite serialises writers anyway.
        query = query.order_by(PatientProfile.user_id).with_for_update()
    profiles = list(db.session.scalars(query))
    settings = {
        s.patient_id: s
        for s in db.session.scalars(
            select(PatientSchedule).where(PatientSchedule.patient_id.in_(patient_ids))
        )
    }
    sessions: dict[int, list[DosingSession]] = defaultdict(list)
    for s in db.session.scalars(
        select(DosingSession)
        .where(DosingSession.patient_id.in_(patient_ids), DosingSession.cancelled_at.is_(None))
        .order_by(DosingSession.started_at, DosingSession.session_number)
    ):
        sessions[s.patient_id].append(s)

    templates: dict[int | None, ScheduleTemplate] = {None: default_template()}
    wanted_ids = {s.template_id for s in settings.values() if s.template_id is not None}
    if wanted_ids:
        for t in db.session.scalars(select(ScheduleTemplate).where(ScheduleTemplate.id.in_(wanted_ids))):
            templates[t.id] = t
    rules_cache: dict[int, list[Rule]] = {}

    contexts = []
    for profile in profiles:
        setting = settings.get(profile.user_id) or _default_settings(profile.user_id)
        template = templates.get(setting.template_id) or templates[None]
        if template.id not in rules_cache:
            rules_cache[template.id] = rules_of(template)
        contexts.append(
            _Context(
                patient_id=profile.user_id,
                tz=ZoneInfo(profile.timezone),
                quiet=quiet_hours_of(setting),
                planned_sessions=setting.planned_sessions,
                template=template,
                rules=rules_cache[template.id],
                sessions=sessions.get(profile.user_id, []),
            )
        )
    return contexts


def _planned_fields(occ: PlannedOccurrence, rule: Rule, template: ScheduleTemplate) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "instrument_id": rule.instrument_id if rule.kind == KIND_INSTRUMENT else None,
        "prompt_text": None if rule.kind == KIND_INSTRUMENT else rule.prompt_text,
        "day": occ.day,
        "intended_at": occ.due_at,
        "expires_at": occ.expires_at,
        "reminder_hours": list(rule.reminder_hours),
        "template_id": template.id,
        "template_version": template.version,
    }


def _reset_delivery(row: Prompt) -> None:
    """A re-timed, revived or cancelled row loses any claim the worker had on it."""
    row.locked_by = None
    row.locked_until = None
    row.next_attempt_at = None
    row.attempts = 0
    row.undeliverable_at = None


def _cancel(row: Prompt, now: datetime) -> None:
    row.state = CANCELLED
    row.cancelled_at = now
    row.locked_by = None
    row.locked_until = None
    row.next_attempt_at = None


_Key = tuple[int, str, int]  # (dosing_session_id, rule_key, occurrence)


@dataclass
class _Ledger:
    """A patient's rows as the planner needs them: mutable ones as entities, history as keys."""

    mutable: dict[_Key, Prompt] = field(default_factory=dict)  # scheduled / cancelled
    history: set[_Key] = field(default_factory=set)  # sent, delivered, opened, completed, expired


def _load_ledgers(patient_ids: Sequence[int], only_session_id: int | None = None) -> dict[int, _Ledger]:
    """Two queries for a whole batch of patients."""
    whose = [Prompt.patient_id.in_(patient_ids)]
    if only_session_id is not None:
        whose.append(Prompt.dosing_session_id == only_session_id)
    ledgers: dict[int, _Ledger] = defaultdict(_Ledger)
    for p in db.session.scalars(select(Prompt).where(*whose, Prompt.state.in_((SCHEDULED, CANCELLED)))):
        ledgers[p.patient_id].mutable[(p.dosing_session_id, p.rule_key, p.occurrence)] = p
    for patient_id, *key in db.session.execute(
        select(Prompt.patient_id, Prompt.dosing_session_id, Prompt.rule_key, Prompt.occurrence).where(
            *whose, Prompt.state.not_in((SCHEDULED, CANCELLED))
        )
    ):
        ledgers[patient_id].history.add(tuple(key))
    return ledgers


def _apply(ctx: _Context, ledger: _Ledger, now: datetime, only_session_id: int | None = None) -> PlanChanges:
    """Bring one patient's ledger in line with the plan. Returns what changed."""
    changes = PlanChanges()
    plan = _wanted(ctx)
    if only_session_id is not None:
        plan = {only_session_id: plan.get(only_session_id, {})}
    rules = {r.key: r for r in ctx.rules}
    mutable, history = ledger.mutable, ledger.history

    new_rows = []
    seen: set[_Key] = set()
    for session_id, occurrences in plan.items():
        for (rule_key, index), occ in occurrences.items():
            key = (session_id, rule_key, index)
            seen.add(key)
            if key in history:
                continue
            window_open = occ.expires_at > now
            fields = _planned_fields(occ, rules[rule_key], ctx.template)
            row = mutable.get(key)
            if row is None:
                if window_open:
                    new_rows.append(
                        Prompt(
                            patient_id=ctx.patient_id,
                            dosing_session_id=session_id,
                            rule_key=rule_key,
                            occurrence=index,
                            state=SCHEDULED,
                            reminders_sent=0,
                            attempts=0,
                            **fields,
                        )
                    )
            elif row.state == SCHEDULED:
                if row.expires_at <= now:
                    continue  # closed under its current plan: history (the worker expires it)
                if not window_open:
                    _cancel(row, now)
                    changes.cancelled += 1
                elif any(getattr(row, k) != v for k, v in fields.items()):
                    retimed = row.intended_at != occ.due_at
                    for k, v in fields.items():
                        setattr(row, k, v)
                    if retimed:
                        _reset_delivery(row)
                    changes.updated += 1
            elif window_open:  # cancelled earlier by planning; its occurrence is back in the plan
                for k, v in fields.items():
                    setattr(row, k, v)
                row.state, row.cancelled_at = SCHEDULED, None
                _reset_delivery(row)
                changes.revived += 1

    # Scheduled rows no longer in the plan (rule removed, session cancelled or superseded).
    for key, row in mutable.items():
        if key not in seen and row.state == SCHEDULED and row.expires_at > now:
            _cancel(row, now)
            changes.cancelled += 1

    if new_rows:
        db.session.add_all(new_rows)
        changes.created = len(new_rows)
    db.session.flush()
    return changes


def plan_session(session: DosingSession, now: datetime | None = None) -> int:
    """Plan every prompt of one (new) dosing session as rows at once; only missing keys are inserted.

    Returns the number of rows created. Other sessions are not touched: after recording a session,
    call ``replan_patient`` so earlier sessions drop the occurrences it supersedes.
    """
    now = now or utcnow()
    if session.cancelled_at is not None:
        return 0
    db.session.flush()
    (ctx,) = _load_contexts([session.patient_id], lock=True)
    ledger = _load_ledgers([session.patient_id], only_session_id=session.id)[session.patient_id]
    return _apply(ctx, ledger, now, only_session_id=session.id).created


def replan_patient(patient_id: int, reason: str, now: datetime | None = None) -> PlanChanges:
    """Re-plan a patient after a dosing-session correction, a time-zone or settings change or a
    template edit: re-time / cancel / create unsent prompts; sent ones stay as history."""
    now = now or utcnow()
    db.session.flush()
    contexts = _load_contexts([patient_id], lock=True)
    if not contexts:
        return PlanChanges()
    changes = _apply(contexts[0], _load_ledgers([patient_id])[patient_id], now)
    log.info("replanned", extra={"patient_id": patient_id, "reason": reason, "changes": changes.describe()})
    return changes


def replan_patients(
    patient_ids: Iterable[int], reason: str, now: datetime | None = None
) -> dict[int, PlanChanges]:
    """``replan_patient`` for many patients with batched loads; returns the changes per patient."""
    now = now or utcnow()
    db.session.flush()
    ids = sorted(set(patient_ids))
    out: dict[int, PlanChanges] = {}
    for start in range(0, len(ids), REPLAN_BATCH):
        batch = ids[start : start + REPLAN_BATCH]
        contexts = _load_contexts(batch, lock=True)
        ledgers = _load_ledgers(batch)
        for ctx in contexts:
            out[ctx.patient_id] = _apply(ctx, ledgers[ctx.patient_id], now)
    log.info("replanned patients", extra={"reason": reason, "patients": len(out)})
    return out


def patients_using_template(template: ScheduleTemplate) -> list[int]:
    """Patients with a non-cancelled dosing session whose schedule follows ``template``
    (explicitly, or through the default when it is the default). One query."""
    uses = PatientSchedule.template_id == template.id
    if template.is_default:
        uses = or_(uses, PatientSchedule.template_id.is_(None), PatientSchedule.patient_id.is_(None))
    query = (
        select(DosingSession.patient_id)
        .distinct()
        .outerjoin(PatientSchedule, PatientSchedule.patient_id == DosingSession.patient_id)
        .where(DosingSession.cancelled_at.is_(None), uses)
    )
    return sorted(db.session.scalars(query))


def cancel_session_prompts(session_id: int, now: datetime | None = None) -> int:
    """Cancel every not-yet-sent prompt of a dosing session (one UPDATE); returns how many."""
    now = now or utcnow()
    result = db.session.execute(
        update(Prompt)
        .where(Prompt.dosing_session_id == session_id, Prompt.state == SCHEDULED)
        .values(state=CANCELLED, cancelled_at=now, locked_by=None, locked_until=None, next_attempt_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


# --- answering ----------------------------------------------------------------------------------


def answer_prompt(
    patient_id: int,
    prompt_id: int,
    answered_at: datetime,
    kind: str,
    instrument_id: str | None,
    now: datetime | None = None,
) -> str | None:
    """Link an answer (check-in or reflection) to its prompt, inside the caller's transaction.

    Returns None and marks the prompt ``completed`` when it is the patient's, answerable and asks
    for this kind (and instrument). Otherwise returns a short patient-facing message and changes
    nothing; the caller keeps the entry and reports the message. Never commits.

    Answerable: sent/delivered/opened, or scheduled and already due (shown before the worker sent
    it), with ``answered_at`` before ``expires_at``. An answer recorded offline inside the window is
    accepted even if the worker expired the prompt before the answer reached the server.
    """
    now = now or utcnow()
    prompt = db.session.execute(
        select(Prompt).where(Prompt.id == prompt_id).with_for_update()
    ).scalar_one_or_none()
    if prompt is None or prompt.patient_id != patient_id or prompt.intended_at > max(now, answered_at):
        return MSG_NO_SUCH_PROMPT
    if prompt.kind != kind or (kind == KIND_INSTRUMENT and prompt.instrument_id != instrument_id):
        return MSG_WRONG_KIND
    if prompt.state == COMPLETED:
        return MSG_ALREADY_ANSWERED
    if prompt.state == CANCELLED:
        return MSG_NOT_OPEN
    if answered_at >= prompt.expires_at:
        return MSG_EXPIRED
    # state is scheduled (due), sent, delivered, opened - or expired by the worker while the answer,
    # recorded in time, was still on the phone.
    prompt.state = COMPLETED
    prompt.answered_at = answered_at
    prompt.reminder_due_at = None
    prompt.locked_by = None
    prompt.locked_until = None
    prompt.next_attempt_at = None
    return None


# --- reads --------------------------------------------------------------------------------------


def open_prompts_for(patient_id: int, now: datetime | None = None) -> list[Prompt]:
    """Prompts the app should show now: due, window still open, not answered, cancelled or expired.

    Includes scheduled ones that are due but not sent yet (worker behind) and undeliverable ones.
    """
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Prompt)
            .where(
                Prompt.patient_id == patient_id,
                Prompt.state.in_((SCHEDULED, SENT, DELIVERED, OPENED)),
                Prompt.intended_at <= now,
                Prompt.expires_at > now,
            )
            .order_by(Prompt.intended_at, Prompt.id)
        )
    )


def adherence(patient_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Adherence over the last 7 and 28 days.

    A window of N days holds the prompts that became due in [now - N days, now), cancelled ones
    excluded. Per window:

    * ``due``: prompts that became due; ``sent``: of those, ever pushed (``sent_at`` set);
    * ``completed``: answered; ``expired``: the window closed without an answer (state ``expired``, or
      still pending with ``expires_at <= now`` because the worker has not marked it yet);
    * ``open``: still answerable now; ``undeliverable``: the worker gave up pushing them;
    * ``completion_rate`` = completed / (completed + expired), None when there is nothing to rate.
      Prompts still open are left out until they are answered or expire.
    """
    now = now or utcnow()
    longest = now - timedelta(days=max(ADHERENCE_WINDOWS))
    rows = db.session.execute(
        select(
            Prompt.state, Prompt.intended_at, Prompt.expires_at, Prompt.sent_at, Prompt.undeliverable_at
        ).where(
            Prompt.patient_id == patient_id,
            Prompt.state != CANCELLED,
            Prompt.intended_at >= longest,
            Prompt.intended_at < now,
        )
    ).all()
    windows = []
    for days in ADHERENCE_WINDOWS:
        since = now - timedelta(days=days)
        counts = {"due": 0, "sent": 0, "completed": 0, "expired": 0, "open": 0, "undeliverable": 0}
        for state, intended_at, expires_at, sent_at, undeliverable_at in rows:
            if intended_at < since:
                continue
            counts["due"] += 1
            counts["sent"] += sent_at is not None
            counts["undeliverable"] += undeliverable_at is not None
            if state == COMPLETED:
                counts["completed"] += 1
            elif state == EXPIRED or (state in PENDING_STATES and expires_at <= now):
                counts["expired"] += 1
            else:
                counts["open"] += 1
        rated = counts["completed"] + counts["expired"]
        windows.append(
            {
                "days": days,
                "since": since,
                **counts,
                "completion_rate": round(counts["completed"] / rated, 4) if rated else None,
            }
        )
    return {"as_of": now, "windows": windows}


__all__ = [
    "PlanChanges",
    "adherence",
    "answer_prompt",
    "cancel_session_prompts",
    "default_template",
    "ensure_settings",
    "open_prompts_for",
    "patients_using_template",
    "plan_session",
    "quiet_hours_of",
    "replan_patient",
    "replan_patients",
    "settings_for",
    "template_for",
]
