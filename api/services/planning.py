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

import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, Integer, String, Update, bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.util import identity_key

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
from api.models.types import UtcDateTime, utcnow

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
#
# Set-based: per batch of patients, one query per table loads what planning needs, the pure
# ``expand`` computes the wanted occurrences, a diff against the stored rows (plain rows, no ORM
# entities) decides what to write, and the writes go out as one COPY (PostgreSQL; an executemany
# INSERT elsewhere) plus one executemany UPDATE per kind of change.

_prompts = Prompt.__table__

# Columns set from the plan, in the order of ``_planned_values`` (and compared to detect a change).
_PLANNED_COLUMNS = (
    "kind",
    "instrument_id",
    "prompt_text",
    "reminder_hours",
    "template_id",
    "template_version",
    "day",
    "intended_at",
    "expires_at",
)
_INTENDED_AT = _PLANNED_COLUMNS.index("intended_at")
_EXPIRES_AT = _PLANNED_COLUMNS.index("expires_at")
# A new row: (patient_id, dosing_session_id, rule_key, occurrence, created_at, updated_at, *planned).
_INSERT_COLUMNS = (
    "patient_id",
    "dosing_session_id",
    "rule_key",
    "occurrence",
    "created_at",
    "updated_at",
    *_PLANNED_COLUMNS,
)
_NEW_ROW_DEFAULTS = {"state": SCHEDULED, "reminders_sent": 0, "attempts": 0}
# A re-timed, revived or cancelled row loses any claim the worker had on it.
_RELEASE = {"locked_by": None, "locked_until": None, "next_attempt_at": None}
_RESET_DELIVERY = {**_RELEASE, "attempts": 0, "undeliverable_at": None}

_Key = tuple[int, str, int]  # (dosing_session_id, rule_key, occurrence)
_Planned = tuple[Any, ...]  # values of _PLANNED_COLUMNS


@dataclass(frozen=True, slots=True)
class _Session:
    id: int
    started_at: datetime
    session_number: int


@dataclass
class _Context:
    """Everything needed to plan one patient, as plain data (planning itself runs no query)."""

    patient_id: int
    tz: ZoneInfo
    quiet: QuietHours
    planned_sessions: int
    rules: list[Rule]
    rule_values: dict[str, _Planned]  # rule key -> the planned values every occurrence shares
    sessions: list[_Session]  # non-cancelled, by start time


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


def _rule_values(rule: Rule, template: ScheduleTemplate) -> _Planned:
    """The first six of ``_PLANNED_COLUMNS``: what every occurrence of ``rule`` shares."""
    instrument = rule.kind == KIND_INSTRUMENT
    return (
        rule.kind,
        rule.instrument_id if instrument else None,
        None if instrument else rule.prompt_text,
        list(rule.reminder_hours),
        template.id,
        template.version,
    )


def _planned_values(occ: PlannedOccurrence, rule_values: _Planned) -> _Planned:
    return (*rule_values, occ.day, occ.due_at, occ.expires_at)


def _load_contexts(patient_ids: Sequence[int]) -> list[_Context]:
    """Profiles (locked), settings, sessions and templates of many patients: one query per table."""
    # The lock serialises concurrent re-plans of one patient (PostgreSQL); SQLite serialises writers anyway.
    query = (
        select(PatientProfile)
        .where(PatientProfile.user_id.in_(patient_ids))
        .order_by(PatientProfile.user_id)
        .with_for_update()
    )
    profiles = list(db.session.scalars(query))
    settings = {
        s.patient_id: s
        for s in db.session.scalars(
            select(PatientSchedule).where(PatientSchedule.patient_id.in_(patient_ids))
        )
    }
    sessions: dict[int, list[_Session]] = defaultdict(list)
    for patient_id, *session in db.session.execute(
        select(
            DosingSession.patient_id,
            DosingSession.id,
            DosingSession.started_at,
            DosingSession.session_number,
        )
        .where(DosingSession.patient_id.in_(patient_ids), DosingSession.cancelled_at.is_(None))
        .order_by(DosingSession.started_at, DosingSession.session_number)
    ):
        sessions[patient_id].append(_Session(*session))

    templates: dict[int | None, ScheduleTemplate] = {None: default_template()}
    wanted_ids = {s.template_id for s in settings.values() if s.template_id is not None}
    if wanted_ids:
        for t in db.session.scalars(select(ScheduleTemplate).where(ScheduleTemplate.id.in_(wanted_ids))):
            templates[t.id] = t
    rules_cache: dict[int, tuple[list[Rule], dict[str, _Planned]]] = {}

    contexts = []
    for profile in profiles:
        setting = settings.get(profile.user_id) or _default_settings(profile.user_id)
        template = templates.get(setting.template_id) or templates[None]
        if template.id not in rules_cache:
            rules = rules_of(template)
            rules_cache[template.id] = (rules, {r.key: _rule_values(r, template) for r in rules})
        rules, rule_values = rules_cache[template.id]
        contexts.append(
            _Context(
                patient_id=profile.user_id,
                tz=ZoneInfo(profile.timezone),
                quiet=quiet_hours_of(setting),
                planned_sessions=setting.planned_sessions,
                rules=rules,
                rule_values=rule_values,
                sessions=sessions.get(profile.user_id, []),
            )
        )
    return contexts


@dataclass
class _Ledger:
    """A patient's rows as the planner needs them: mutable ones (scheduled / cancelled) as
    (id, state, planned values), history (sent, delivered, opened, completed, expired) as keys."""

    mutable: dict[_Key, tuple[int, str, _Planned]] = field(default_factory=dict)
    history: set[_Key] = field(default_factory=set)


def _load_ledgers(patient_ids: Sequence[int], only_session_id: int | None = None) -> dict[int, _Ledger]:
    """One query for a whole batch of patients."""
    c = _prompts.c
    query = select(
        c.patient_id,
        c.dosing_session_id,
        c.rule_key,
        c.occurrence,
        c.id,
        c.state,
        *(c[n] for n in _PLANNED_COLUMNS),
    ).where(c.patient_id.in_(patient_ids))
    if only_session_id is not None:
        query = query.where(c.dosing_session_id == only_session_id)
    ledgers: dict[int, _Ledger] = defaultdict(_Ledger)
    for patient_id, session_id, rule_key, occurrence, prompt_id, state, *planned in db.session.execute(query):
        key = (session_id, rule_key, occurrence)
        if state in (SCHEDULED, CANCELLED):
            ledgers[patient_id].mutable[key] = (prompt_id, state, tuple(planned))
        else:
            ledgers[patient_id].history.add(key)
    return ledgers


def _update(columns: Sequence[str], **fixed: Any) -> Update:
    """UPDATE one row by id (executemany), only while it is in the state the planner read: a row
    the worker sent meanwhile is history and stays as it is."""
    return (
        update(_prompts)
        .where(_prompts.c.id == bindparam("b_id"), _prompts.c.state == bindparam("b_state"))
        .values({**{c: bindparam(f"b_{c}", type_=_prompts.c[c].type) for c in columns}, **fixed})
    )


def _update_params(prompt_id: int, state: str, planned: _Planned | None = None) -> dict[str, Any]:
    params = {"b_id": prompt_id, "b_state": state}
    if planned is not None:
        params.update(zip((f"b_{c}" for c in _PLANNED_COLUMNS), planned, strict=True))
    return params


@dataclass
class _Writes:
    """What plans decided, for a batch of patients. ``created`` is drained by ``_insert_prompts``;
    the updates are run by ``apply_updates``, one executemany per kind of change."""

    now: datetime
    created: list[tuple[Any, ...]] = field(default_factory=list)  # values of _INSERT_COLUMNS
    updated: list[dict[str, Any]] = field(default_factory=list)  # same time, other planned values
    retimed: list[dict[str, Any]] = field(default_factory=list)
    revived: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[dict[str, Any]] = field(default_factory=list)

    def apply_updates(self) -> None:
        statements = (
            (_update(_PLANNED_COLUMNS), self.updated),
            (_update(_PLANNED_COLUMNS, **_RESET_DELIVERY), self.retimed),
            (_update(_PLANNED_COLUMNS, state=SCHEDULED, cancelled_at=None, **_RESET_DELIVERY), self.revived),
            (_update((), state=CANCELLED, cancelled_at=self.now, **_RELEASE), self.cancelled),
        )
        touched = []
        for stmt, params in statements:
            if params:
                db.session.execute(stmt, params)
                touched += [p["b_id"] for p in params]
                params.clear()
        # Prompt entities the caller's session already holds must not keep the old values.
        for prompt_id in touched:
            loaded = db.session.identity_map.get(identity_key(Prompt, prompt_id))
            if loaded is not None:
                db.session.expire(loaded)


def _insert_prompts(rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert new ``prompts`` rows (values of ``_INSERT_COLUMNS``).

    On PostgreSQL a binary COPY, by far the cheapest way in for both sides. ``rows`` may be a lazy
    iterable that plans as it goes (it must run no query): the server then inserts while the
    next patients are planned. Elsewhere an executemany INSERT.
    """
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        params = [{**_NEW_ROW_DEFAULTS, **dict(zip(_INSERT_COLUMNS, row, strict=True))} for row in rows]
        if params:
            db.session.execute(insert(_prompts), params)
        return
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    columns = (*_NEW_ROW_DEFAULTS, *_INSERT_COLUMNS)
    statement = f"COPY prompts ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    defaults = tuple(_NEW_ROW_DEFAULTS.values())
    reminders = len(defaults) + _INSERT_COLUMNS.index("reminder_hours")
    as_json: dict[tuple[float, ...], str] = {}  # a handful of distinct values: dump each once
    dbapi = connection.dialect.loaded_dbapi
    try:
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types([_copy_type(_prompts.c[c]) for c in columns])
            for row in itertools.chain((first,), rows):
                values = [*defaults, *row]
                hours = tuple(values[reminders])
                if hours not in as_json:
                    as_json[hours] = json.dumps(values[reminders])
                values[reminders] = as_json[hours]
                copy.write_row(values)
    except dbapi.Error as exc:
        # The same exception types as any other statement (IntegrityError for a duplicate key).
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=connection.dialect) from exc


def _copy_type(column: Column[Any]) -> str:
    """The PostgreSQL type a binary COPY sends for ``column``. JSON goes as text: the binary form of
    ``json`` is its text, dumped by the caller."""
    if isinstance(column.type, Integer):
        return "int4"
    if isinstance(column.type, UtcDateTime):
        return "timestamptz"
    if isinstance(column.type, String | JSON):
        return "text"
    raise TypeError(f"no COPY type for {column.name}")


def _apply(
    ctx: _Context, ledger: _Ledger, writes: _Writes, only_session_id: int | None = None
) -> PlanChanges:
    """Diff one patient's ledger against the plan and queue the writes. Runs no query."""
    now = writes.now
    changes = PlanChanges()
    plan = _wanted(ctx)
    if only_session_id is not None:
        plan = {only_session_id: plan.get(only_session_id, {})}
    mutable, history = ledger.mutable, ledger.history
    created_at = utcnow()  # the clock, as a column default would; ``now`` may be a planning time

    seen: set[_Key] = set()
    for session_id, occurrences in plan.items():
        for (rule_key, index), occ in occurrences.items():
            key = (session_id, rule_key, index)
            seen.add(key)
            if key in history:
                continue
            window_open = occ.expires_at > now
            planned = _planned_values(occ, ctx.rule_values[rule_key])
            stored = mutable.get(key)
            if stored is None:
                if window_open:
                    writes.created.append(
                        (ctx.patient_id, session_id, rule_key, index, created_at, created_at, *planned)
                    )
                    changes.created += 1
                continue
            prompt_id, state, current = stored
            if state == SCHEDULED:
                if current[_EXPIRES_AT] <= now:
                    continue  # closed under its current plan: history (the worker expires it)
                if not window_open:
                    writes.cancelled.append(_update_params(prompt_id, state))
                    changes.cancelled += 1
                elif current != planned:
                    retimed = current[_INTENDED_AT] != occ.due_at
                    (writes.retimed if retimed else writes.updated).append(
                        _update_params(prompt_id, state, planned)
                    )
                    changes.updated += 1
            elif window_open:  # cancelled earlier by planning; its occurrence is back in the plan
                writes.revived.append(_update_params(prompt_id, state, planned))
                changes.revived += 1

    # Scheduled rows no longer in the plan (rule removed, session cancelled or superseded).
    for key, (prompt_id, state, current) in mutable.items():
        if key not in seen and state == SCHEDULED and current[_EXPIRES_AT] > now:
            writes.cancelled.append(_update_params(prompt_id, state))
            changes.cancelled += 1
    return changes


def _plan(
    contexts: Sequence[_Context],
    ledgers: dict[int, _Ledger],
    now: datetime,
    only_session_id: int | None = None,
) -> dict[int, PlanChanges]:
    """Plan a batch of patients: new rows stream into the database while the next patients are
    planned, then the updates run."""
    writes = _Writes(now)
    out: dict[int, PlanChanges] = {}

    def created_rows() -> Iterator[tuple[Any, ...]]:
        for ctx in contexts:
            out[ctx.patient_id] = _apply(ctx, ledgers[ctx.patient_id], writes, only_session_id)
            yield from writes.created
            writes.created.clear()

    _insert_prompts(created_rows())
    writes.apply_updates()
    return out


def plan_session(session: DosingSession, now: datetime | None = None) -> int:
    """Plan every prompt of one (new) dosing session as rows at once; only missing keys are inserted.

    Returns the number of rows created. Other sessions are not touched: after recording a session,
    call ``replan_patient`` so earlier sessions drop the occurrences it supersedes.
    """
    now = now or utcnow()
    if session.cancelled_at is not None:
        return 0
    db.session.flush()
    contexts = _load_contexts([session.patient_id])
    ledgers = _load_ledgers([session.patient_id], only_session_id=session.id)
    return _plan(contexts, ledgers, now, only_session_id=session.id)[session.patient_id].created


def replan_patient(patient_id: int, reason: str, now: datetime | None = None) -> PlanChanges:
    """Re-plan a patient after a dosing-session correction, a time-zone or settings change or a
    template edit: re-time / cancel / create unsent prompts; sent ones stay as history."""
    changes = _replan([patient_id], now).get(patient_id, PlanChanges())
    log.info("replanned", extra={"patient_id": patient_id, "reason": reason, "changes": changes.describe()})
    return changes


def replan_patients(
    patient_ids: Iterable[int], reason: str, now: datetime | None = None
) -> dict[int, PlanChanges]:
    """``replan_patient`` for many patients with batched loads and writes; returns the changes per patient."""
    out = _replan(patient_ids, now)
    log.info("replanned patients", extra={"reason": reason, "patients": len(out)})
    return out


def _replan(patient_ids: Iterable[int], now: datetime | None) -> dict[int, PlanChanges]:
    """Plan ``REPLAN_BATCH`` patients per load; patients without a plan context are left out."""
    now = now or utcnow()
    db.session.flush()
    ids = sorted(set(patient_ids))
    out: dict[int, PlanChanges] = {}
    for start in range(0, len(ids), REPLAN_BATCH):
        batch = ids[start : start + REPLAN_BATCH]
        out.update(_plan(_load_contexts(batch), _load_ledgers(batch), now))
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
