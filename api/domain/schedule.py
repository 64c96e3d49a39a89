"""Schedule expansion: turn a template of rules anchored on a dosing session into prompt occurrences.

Everything here is pure (plain data in, plain data out; no Flask, no database) so the API, the worker
and the admin preview all share exactly one implementation of "when is this prompt due".

Time model
----------
* "Day N" is the local calendar date of the dose start in the patient's zone plus N days, at the
  rule's local wall-clock time. A 09:00 rule therefore stays 09:00 local across DST changes and the
  UTC instant moves by an hour instead.
* Acute-window rules (``hours_after_dose``) are absolute: dose start + H hours.
* Quiet hours are applied to the local wall-clock time; a prompt inside them moves to the end of
  quiet hours (the next morning if it fell in the evening part of a window that wraps midnight).
* All stored instants are tz-aware UTC; ``local_due`` is only for display.

Default template rationale (``DEFAULT_RULES``)
----------------------------------------------
* Dosing day, 20:00 local: a short "settled and safe?" reflection. A session started at 09:00 lasts
  roughly 6-8 hours, so 20:00 lands a few hours after the patient has gone home and still before
  quiet hours (21:30) for any start time, and "tonight" in the prompt stays true. A fixed local time
  was chosen over "+N hours after dose" because a late start would push the latter into quiet hours
  and deliver a "tonight" question the next morning.
* Days 1-7: the daily check-in at 09:00 and a short reflection at 19:00. After a dose, low mood,
  insomnia and brooding are reported mostly for 1-3 days, with low mood clustering around days 3-5
  (largely explained by poor sleep), so monitoring is densest then. Phase 2 protocols also had daily
  contact for 7 days after each dosing session. The evening reflections rotate through library
  prompts (with sleep/body on days 3 and 5) so the patient is not asked the same thing every night.
  Their reminder is +2 h (21:00) so that it, too, arrives before quiet hours.
* PHQ-9 and GAD-7 on days 3, 7, 14, 21 and 28 at 10:00 (an hour after the daily check-in so the
  patient is not handed three questionnaires at once); WHO-5 on days 14 and 28; PCL-5 on day 28.
  Dosing sessions are about 4 weeks apart, so day 28 lines up with preparation for the next one.
* Daily check-in again on day 10 as a taper between the dense first week and the weekly cadence.
* After the last session only: a weekly daily check-in on days 35, 42, 49 and 56 (to week 8), plus
  PHQ-9 on days 42 and 56 (fortnightly, matching PHQ-9's two-week recall window).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

KIND_INSTRUMENT = "instrument"
KIND_REFLECTION = "reflection"
KINDS = (KIND_INSTRUMENT, KIND_REFLECTION)

APPLIES_EVERY_SESSION = "every_session"
APPLIES_LAST_SESSION = "last_session"
APPLIES_TO = (APPLIES_EVERY_SESSION, APPLIES_LAST_SESSION)

MAX_DAY = 365
MAX_ACUTE_HOURS = 72.0
MAX_OPEN_HOURS = 168.0

# Error key used when the timing form itself (not one field) is wrong: none or several given.
TIMING_ERROR_FIELD = "timing"

PROMPT_SETTLED = "How are you settling in after today's session? Do you feel safe tonight?"
PROMPT_STOOD_OUT = "What stood out to you from your session?"
PROMPT_FEELINGS = "What feelings have come up today?"
PROMPT_SLEEP_BODY = "How have you been sleeping, and how does your body feel today?"
PROMPT_RETURNING = "Is there a memory, image or insight from your session that you keep returning to?"
PROMPT_GROUNDED = "What helped you feel grounded or cared for today?"
PROMPT_BRING = "Is there anything you would like to bring to your next integration session?"

# Reflection rules must use one of these exact texts: reviewed wording, and stable strings let
# responses be grouped by prompt across patients.
REFLECTION_PROMPTS: tuple[str, ...] = (
    PROMPT_SETTLED,
    PROMPT_STOOD_OUT,
    PROMPT_FEELINGS,
    PROMPT_SLEEP_BODY,
    PROMPT_RETURNING,
    PROMPT_GROUNDED,
    PROMPT_BRING,
)

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

_ALLOWED_FIELDS = frozenset(
    {
        "key",
        "kind",
        "instrument_id",
        "prompt_text",
        "day_offsets",
        "day_offset",
        "repeat_every_days",
        "until_day",
        "hours_after_dose",
        "local_time",
        "open_hours",
        "reminder_hours",
        "applies_to",
    }
)


class RuleValidationError(ValueError):
    """Raised by ``rule_from_dict`` / ``Rule(...)`` for an invalid rule; ``errors`` is field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    """One line of a schedule template.

    Timing is exactly one of three flat forms (flat rather than nested so the JSON admins edit stays
    simple and errors map 1:1 onto fields):

    * ``day_offsets=(1, 2, 3)`` + ``local_time`` - explicit days after the dose;
    * ``day_offset=1`` (+ ``repeat_every_days=2`` + ``until_day=9``) + ``local_time`` - a start day,
      optionally repeated up to and including ``until_day``;
    * ``hours_after_dose=10.0`` - acute window, absolute hours after dose start, no local time.

    Constructing a Rule validates it (per-rule checks only; cross-rule checks such as duplicate keys
    live in ``validate_rules``) and normalises ``day_offsets`` / ``reminder_hours`` to sorted tuples.
    """

    key: str
    kind: str
    instrument_id: str | None = None
    prompt_text: str | None = None
    day_offsets: tuple[int, ...] | None = None
    day_offset: int | None = None
    repeat_every_days: int | None = None
    until_day: int | None = None
    hours_after_dose: float | None = None
    local_time: time | None = None
    open_hours: float = 24.0
    reminder_hours: tuple[float, ...] = field(default=(4.0,))
    applies_to: str = APPLIES_EVERY_SESSION

    def __post_init__(self) -> None:
        # Validate through the dict form so code-built and API-built rules obey the same rules.
        errors = _rule_errors(rule_to_dict(self), known_instruments=None)
        t = self.local_time
        if t is not None and (not isinstance(t, time) or t.second or t.microsecond or t.tzinfo):
            errors["local_time"] = ["Must be a naive datetime.time with whole minutes."]
        if errors:
            raise RuleValidationError(errors)
        # Canonical order makes occurrence numbers independent of how the admin listed the days.
        if self.day_offsets is not None:
            object.__setattr__(self, "day_offsets", tuple(sorted(self.day_offsets)))
        object.__setattr__(self, "reminder_hours", tuple(sorted(self.reminder_hours)))

    @property
    def is_acute(self) -> bool:
        return self.hours_after_dose is not None

    def days(self) -> tuple[int, ...]:
        """Day offsets of a day-based rule in occurrence order (empty for acute rules)."""
        if self.day_offsets is not None:
            return self.day_offsets
        if self.day_offset is not None:
            if self.repeat_every_days is None or self.until_day is None:
                return (self.day_offset,)
            return tuple(range(self.day_offset, self.until_day + 1, self.repeat_every_days))
        return ()


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock window in which no prompt is sent. ``start > end`` wraps midnight;
    ``start == end`` means no quiet hours. ``start`` is inclusive, ``end`` exclusive."""

    start: time = time(21, 30)
    end: time = time(8, 0)

    def contains(self, at: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    def shift(self, day: date, at: time) -> tuple[date, time]:
        """Move a local (day, time) out of quiet hours to the end of the window; unchanged if outside."""
        if not self.contains(at):
            return day, at
        # Evening part of a window wrapping midnight -> end of quiet hours on the next morning.
        if self.start > self.end and at >= self.start:
            return day + timedelta(days=1), self.end
        return day, self.end


@dataclass(frozen=True)
class PlannedOccurrence:
    rule_key: str
    occurrence: int  # 0-based index within the rule for one dosing session; part of a DB unique key
    day: int  # scheduled day after the dose (before any quiet-hours shift)
    due_at: datetime  # UTC
    expires_at: datetime  # UTC, due_at + open_hours
    local_due: datetime  # patient's zone, display only


def resolve_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Return the UTC instant for local wall-clock ``at`` on ``day`` in ``tz``.

    Deterministic DST rule (this is what ``fold=0`` gives with zoneinfo):

    * Gap (the local time does not exist, e.g. 02:30 on a spring-forward day): interpreted with the
      offset in force *before* the transition, i.e. shifted forward by the gap length - 02:30 becomes
      03:30 local for a one-hour gap.
    * Fold (the local time happens twice, e.g. 01:30 on a fall-back day in New York): the first
      occurrence (still on summer time) is used.
    """
    local = datetime.combine(day, at.replace(tzinfo=None)).replace(tzinfo=tz, fold=0)
    return local.astimezone(UTC)


def expand(
    rules: Sequence[Rule],
    dose_start: datetime,
    tz: ZoneInfo,
    quiet_hours: QuietHours | None,
    is_last_session: bool,
) -> list[PlannedOccurrence]:
    """Expand ``rules`` for one dosing session into occurrences sorted by ``due_at``.

    Ties on ``due_at`` keep template order (stable sort), so the admin's ordering is respected.
    Rules with ``applies_to="last_session"`` only expand when ``is_last_session`` is true.
    """
    if dose_start.tzinfo is None or dose_start.utcoffset() is None:
        raise ValueError("dose_start must be timezone-aware")
    keys = [r.key for r in rules]
    if len(set(keys)) != len(keys):
        # Occurrences are keyed by (rule_key, occurrence); duplicates would collide in the DB.
        raise ValueError("rule keys must be unique within a template")

    dose_start = dose_start.astimezone(UTC)
    dose_date = dose_start.astimezone(tz).date()
    out: list[PlannedOccurrence] = []
    for rule in rules:
        if rule.applies_to == APPLIES_LAST_SESSION and not is_last_session:
            continue
        if rule.hours_after_dose is not None:
            nominal = dose_start + timedelta(hours=rule.hours_after_dose)
            nominal_local = nominal.astimezone(tz)
            day = (nominal_local.date() - dose_date).days
            due = nominal
            if quiet_hours is not None and quiet_hours.contains(nominal_local.time()):
                due = resolve_local(*quiet_hours.shift(nominal_local.date(), nominal_local.time()), tz)
            out.append(_occurrence(rule, 0, day, due, tz))
            continue
        assert rule.local_time is not None  # guaranteed by Rule validation for day-based forms
        for index, day in enumerate(rule.days()):
            local_day, local_time = dose_date + timedelta(days=day), rule.local_time
            if quiet_hours is not None:
                local_day, local_time = quiet_hours.shift(local_day, local_time)
            out.append(_occurrence(rule, index, day, resolve_local(local_day, local_time, tz), tz))
    out.sort(key=lambda o: o.due_at)
    return out


def _occurrence(rule: Rule, index: int, day: int, due: datetime, tz: ZoneInfo) -> PlannedOccurrence:
    return PlannedOccurrence(
        rule_key=rule.key,
        occurrence=index,
        day=day,
        due_at=due,
        expires_at=due + timedelta(hours=rule.open_hours),
        local_due=due.astimezone(tz),
    )


def preview(
    rules: Sequence[Rule],
    dose_start: datetime,
    tz: ZoneInfo,
    quiet_hours: QuietHours | None,
    is_last_session: bool = True,
) -> dict[str, Any]:
    """Admin-facing preview of a template for a hypothetical dose (JSON-ready).

    Defaults to the last session so last-session-only rules are visible too.
    """
    by_key = {r.key: r for r in rules}
    timeline: list[dict[str, Any]] = []
    per_day: dict[str, int] = {}
    for occ in expand(rules, dose_start, tz, quiet_hours, is_last_session):
        rule = by_key[occ.rule_key]
        timeline.append(
            {
                "rule_key": occ.rule_key,
                "kind": rule.kind,
                "instrument_id": rule.instrument_id,
                "day": occ.day,
                "local_due": occ.local_due.isoformat(),
                "due_at": occ.due_at.isoformat(),
                "expires_at": occ.expires_at.isoformat(),
            }
        )
        local_date = occ.local_due.date().isoformat()
        per_day[local_date] = per_day.get(local_date, 0) + 1
    return {
        "timeline": timeline,
        "per_day": [{"date": d, "count": n} for d, n in sorted(per_day.items())],
    }


# --- (de)serialisation -------------------------------------------------------------------------


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """JSON-friendly dict; timing fields and ``local_time`` are present only when set."""
    d: dict[str, Any] = {
        "key": rule.key,
        "kind": rule.kind,
        "instrument_id": rule.instrument_id,
        "prompt_text": rule.prompt_text,
    }
    for name in ("day_offsets", "day_offset", "repeat_every_days", "until_day", "hours_after_dose"):
        value = getattr(rule, name)
        if value is not None:
            d[name] = list(value) if isinstance(value, tuple) else value
    if rule.local_time is not None:
        t = rule.local_time
        d["local_time"] = t.strftime("%H:%M") if isinstance(t, time) else t
    d["open_hours"] = rule.open_hours
    reminders = rule.reminder_hours
    d["reminder_hours"] = list(reminders) if isinstance(reminders, tuple | list) else reminders
    d["applies_to"] = rule.applies_to
    return d


def rule_from_dict(d: Mapping[str, Any]) -> Rule:
    """Build a Rule from its dict form; raises ``RuleValidationError`` (a ValueError) if invalid.

    Instrument ids are not checked here (that needs the catalogue): use ``validate_rules`` first.
    """
    if not isinstance(d, Mapping):
        raise RuleValidationError({"rule": ["Must be an object."]})
    errors = _rule_errors(d, known_instruments=None)
    if errors:
        raise RuleValidationError(errors)
    local_time = d.get("local_time")
    day_offsets = d.get("day_offsets")
    return Rule(
        key=d["key"],
        kind=d["kind"],
        instrument_id=d.get("instrument_id"),
        prompt_text=d.get("prompt_text"),
        day_offsets=tuple(day_offsets) if day_offsets is not None else None,
        day_offset=d.get("day_offset"),
        repeat_every_days=d.get("repeat_every_days"),
        until_day=d.get("until_day"),
        hours_after_dose=d.get("hours_after_dose"),
        local_time=_parse_hhmm(local_time) if local_time is not None else None,
        open_hours=d.get("open_hours", 24.0),
        reminder_hours=tuple(d.get("reminder_hours", (4.0,))),
        applies_to=d.get("applies_to", APPLIES_EVERY_SESSION),
    )


# --- validation --------------------------------------------------------------------------------


def validate_rules(rules_data: list[dict], known_instruments: set[str]) -> dict[str, list[str]]:
    """Validate a template's rules as submitted by an admin; returns ALL errors keyed "rules.N.field".

    Per-rule problems use the field name (``rules.2.instrument_id``, ``rules.0.day_offsets``);
    "none or several timing forms" uses ``rules.N.timing``. Cross-rule problems are reported on the
    later rule: duplicate keys on ``rules.N.key``, overlaps (same instrument - or the same reflection
    prompt - on the same day and local time, or the same hours_after_dose) on its timing field.
    An empty dict means valid.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(rules_data, list) or not rules_data:
        return {"rules": ["Must be a non-empty list of rules."]}

    seen_keys: dict[str, int] = {}
    slots: list[tuple[int, str, tuple[str, str | None], set[tuple[Any, ...]]]] = []
    for i, d in enumerate(rules_data):
        prefix = f"rules.{i}"
        if not isinstance(d, Mapping):
            errors[prefix] = ["Must be an object."]
            continue
        rule_errors = _rule_errors(d, known_instruments)
        for name, messages in rule_errors.items():
            errors.setdefault(f"{prefix}.{name}", []).extend(messages)

        key = d.get("key")
        if isinstance(key, str) and "key" not in rule_errors:
            if key in seen_keys:
                errors.setdefault(f"{prefix}.key", []).append(
                    f"Duplicate rule key; already used by rules.{seen_keys[key]}."
                )
            else:
                seen_keys[key] = i

        if not rule_errors:
            slots.append((i, _timing_field(d), _identity(d), _slots(d)))

    # Overlap check only over rules that are individually valid, so slot computation is safe.
    for a in range(len(slots)):
        for b in range(a + 1, len(slots)):
            i, _, ident_i, slots_i = slots[a]
            j, field_j, ident_j, slots_j = slots[b]
            common = slots_i & slots_j
            if ident_i != ident_j or not common:
                continue
            what = f"instrument '{ident_j[1]}'" if ident_j[0] == KIND_INSTRUMENT else "reflection prompt"
            errors.setdefault(f"rules.{j}.{field_j}", []).append(
                f"Overlaps rules.{i} ({rules_data[i]['key']}): same {what} at {_describe_slots(common)}."
            )
    return errors


def _rule_errors(d: Mapping[str, Any], known_instruments: set[str] | None) -> dict[str, list[str]]:
    """Per-rule checks on the dict form. Keys are bare field names (or "timing")."""
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    def given(name: str) -> bool:
        return d.get(name) is not None

    for name in d:
        if name not in _ALLOWED_FIELDS:
            err(str(name), "Unknown field.")

    key = d.get("key")
    if not isinstance(key, str) or not _KEY_RE.match(key):
        err("key", "Required: 1-64 chars of lowercase letters, digits, '-' or '_'.")

    kind = d.get("kind")
    if kind not in KINDS:
        err("kind", "Must be 'instrument' or 'reflection'.")
    elif kind == KIND_INSTRUMENT:
        instrument_id = d.get("instrument_id")
        if not isinstance(instrument_id, str) or not instrument_id:
            err("instrument_id", "Required for instrument rules.")
        elif known_instruments is not None and instrument_id not in known_instruments:
            err("instrument_id", f"Unknown instrument '{instrument_id}'.")
        if given("prompt_text"):
            err("prompt_text", "Only allowed for reflection rules.")
    else:
        if given("instrument_id"):
            err("instrument_id", "Not allowed for reflection rules.")
        if d.get("prompt_text") not in REFLECTION_PROMPTS:
            err("prompt_text", "Must be one of the prompt library texts.")

    # Timing: exactly one form.
    forms = [name for name in ("day_offsets", "day_offset", "hours_after_dose") if given(name)]
    if len(forms) != 1:
        err(TIMING_ERROR_FIELD, "Give exactly one of day_offsets, day_offset or hours_after_dose.")

    if given("day_offsets"):
        offsets = d["day_offsets"]
        if not isinstance(offsets, list | tuple) or not offsets:
            err("day_offsets", "Must be a non-empty list of days.")
        elif not all(_is_int(x) and 0 <= x <= MAX_DAY for x in offsets):
            err("day_offsets", f"Each day must be an integer from 0 to {MAX_DAY}.")
        elif len(set(offsets)) != len(offsets):
            err("day_offsets", "Days must not repeat.")

    if given("day_offset"):
        start = d["day_offset"]
        start_ok = _is_int(start) and 0 <= start <= MAX_DAY
        if not start_ok:
            err("day_offset", f"Must be an integer from 0 to {MAX_DAY}.")
        repeat, until = d.get("repeat_every_days"), d.get("until_day")
        if repeat is not None and not (_is_int(repeat) and 1 <= repeat <= MAX_DAY):
            err("repeat_every_days", f"Must be an integer from 1 to {MAX_DAY}.")
        if until is not None:
            if not (_is_int(until) and 0 <= until <= MAX_DAY):
                err("until_day", f"Must be an integer from 0 to {MAX_DAY}.")
            elif start_ok and until < start:
                err("until_day", "Must be on or after day_offset.")
            if repeat is None:
                err("until_day", "Only valid together with repeat_every_days.")
        elif repeat is not None:
            err("until_day", "Required when repeat_every_days is set.")
    else:
        for name in ("repeat_every_days", "until_day"):
            if given(name):
                err(name, "Only valid together with day_offset.")

    if given("hours_after_dose"):
        hours = d["hours_after_dose"]
        if not (_is_number(hours) and 0 <= hours <= MAX_ACUTE_HOURS):
            err("hours_after_dose", f"Must be a number of hours from 0 to {MAX_ACUTE_HOURS:g}.")
        if given("local_time"):
            err("local_time", "Not used with hours_after_dose.")
    elif given("day_offsets") or given("day_offset"):
        local_time = d.get("local_time")
        if local_time is None:
            err("local_time", "Required for day-based rules.")
        elif not isinstance(local_time, str) or not _HHMM_RE.match(local_time):
            err("local_time", "Must be a time in HH:MM format (00:00-23:59).")

    open_hours = d.get("open_hours", 24.0)
    open_ok = _is_number(open_hours) and 0 < open_hours <= MAX_OPEN_HOURS
    if not open_ok:
        err("open_hours", f"Must be more than 0 and at most {MAX_OPEN_HOURS:g} hours.")

    reminders = d.get("reminder_hours", (4.0,))
    if not isinstance(reminders, list | tuple) or not all(_is_number(h) for h in reminders):
        err("reminder_hours", "Must be a list of hours after sending.")
    else:
        # Reminders only make sense while the prompt can still be answered.
        if any(h <= 0 or (open_ok and h >= open_hours) for h in reminders):
            err("reminder_hours", "Each reminder must fall within the open window (0 < hours < open_hours).")
        if len(set(reminders)) != len(reminders):
            err("reminder_hours", "Reminders must not repeat.")

    if d.get("applies_to", APPLIES_EVERY_SESSION) not in APPLIES_TO:
        err("applies_to", "Must be 'every_session' or 'last_session'.")
    return errors


def _is_int(x: object) -> bool:
    # bool is an int subclass; true/false in JSON must not count as day 1/0.
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    return (isinstance(x, int | float) and not isinstance(x, bool)) and math.isfinite(x)


def _parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _timing_field(d: Mapping[str, Any]) -> str:
    for name in ("day_offsets", "day_offset", "hours_after_dose"):
        if d.get(name) is not None:
            return name
    return TIMING_ERROR_FIELD


def _identity(d: Mapping[str, Any]) -> tuple[str, str | None]:
    # Two rules "ask the same thing" if they name the same instrument, or the same reflection prompt.
    if d["kind"] == KIND_INSTRUMENT:
        return (KIND_INSTRUMENT, d["instrument_id"])
    return (KIND_REFLECTION, d["prompt_text"])


def _slots(d: Mapping[str, Any]) -> set[tuple[Any, ...]]:
    """Comparable time slots of a valid rule dict: ("day", n, "HH:MM") or ("hours", h)."""
    if d.get("hours_after_dose") is not None:
        return {("hours", float(d["hours_after_dose"]))}
    if d.get("day_offsets") is not None:
        days: Sequence[int] = d["day_offsets"]
    elif d.get("repeat_every_days") is not None:
        days = range(d["day_offset"], d["until_day"] + 1, d["repeat_every_days"])
    else:
        days = [d["day_offset"]]
    return {("day", n, d["local_time"]) for n in days}


def _describe_slots(common: set[tuple[Any, ...]]) -> str:
    parts = []
    for slot in sorted(common, key=lambda s: (s[0], s[1])):
        parts.append(f"day {slot[1]} {slot[2]}" if slot[0] == "day" else f"{slot[1]:g} h after dose")
    return ", ".join(parts)


# --- default template ---------------------------------------------------------------------------

DEFAULT_TEMPLATE_NAME = "MDMA-AT integration (default)"

DEFAULT_RULES: tuple[Rule, ...] = (
    # Dosing evening safety/settling check; open overnight until 10:00 next morning.
    Rule(
        key="evening-settled",
        kind=KIND_REFLECTION,
        prompt_text=PROMPT_SETTLED,
        day_offsets=(0,),
        local_time=time(20, 0),
        open_hours=14.0,
        reminder_hours=(1.0,),
    ),
    # Daily check-in: every day of the first week, then a day-10 taper.
    Rule(
        key="daily-am",
        kind=KIND_INSTRUMENT,
        instrument_id="daily",
        day_offsets=(1, 2, 3, 4, 5, 6, 7, 10),
        local_time=time(9, 0),
        open_hours=24.0,
        reminder_hours=(4.0,),
    ),
    # Evening reflections days 1-7, rotating prompts; sleep/body on days 3 and 5 (low-mood window).
    Rule(
        key="reflect-session",
        kind=KIND_REFLECTION,
        prompt_text=PROMPT_STOOD_OUT,
        day_offsets=(1,),
        local_time=time(19, 0),
        open_hours=14.0,
        reminder_hours=(2.0,),
    ),
    Rule(
        key="reflect-feelings",
        kind=KIND_REFLECTION,
        prompt_text=PROMPT_FEELINGS,
        day_offsets=(2, 4, 6),
        local_time=time(19, 0),
        open_hours=14.0,
        reminder_hours=(2.0,),
    ),
    Rule(
        key="reflect-sleep",
        kind=KIND_REFLECTION,
        prompt_text=PROMPT_SLEEP_BODY,
        day_offsets=(3, 5),
        local_time=time(19, 0),
        open_hours=14.0,
        reminder_hours=(2.0,),
    ),
    Rule(
        key="reflect-bring",
        kind=KIND_REFLECTION,
        prompt_text=PROMPT_BRING,
        day_offsets=(7,),
        local_time=time(19, 0),
        open_hours=14.0,
        reminder_hours=(2.0,),
    ),
    # Validated questionnaires; 48 h window and a next-day reminder because they take longer.
    Rule(
        key="phq9",
        kind=KIND_INSTRUMENT,
        instrument_id="phq9",
        day_offsets=(3, 7, 14, 21, 28),
        local_time=time(10, 0),
        open_hours=48.0,
        reminder_hours=(4.0, 24.0),
    ),
    Rule(
        key="gad7",
        kind=KIND_INSTRUMENT,
        instrument_id="gad7",
        day_offsets=(3, 7, 14, 21, 28),
        local_time=time(10, 0),
        open_hours=48.0,
        reminder_hours=(4.0, 24.0),
    ),
    Rule(
        key="who5",
        kind=KIND_INSTRUMENT,
        instrument_id="who5",
        day_offsets=(14, 28),
        local_time=time(10, 0),
        open_hours=48.0,
        reminder_hours=(4.0, 24.0),
    ),
    Rule(
        key="pcl5",
        kind=KIND_INSTRUMENT,
        instrument_id="pcl5",
        day_offsets=(28,),
        local_time=time(10, 0),
        open_hours=72.0,
        reminder_hours=(4.0, 24.0, 48.0),
    ),
    # Follow-up after the final dosing session only, to week 8.
    Rule(
        key="followup-daily",
        kind=KIND_INSTRUMENT,
        instrument_id="daily",
        day_offset=35,
        repeat_every_days=7,
        until_day=56,
        local_time=time(9, 0),
        open_hours=48.0,
        reminder_hours=(4.0, 24.0),
        applies_to=APPLIES_LAST_SESSION,
    ),
    Rule(
        key="followup-phq9",
        kind=KIND_INSTRUMENT,
        instrument_id="phq9",
        day_offset=42,
        repeat_every_days=14,
        until_day=56,
        local_time=time(10, 0),
        open_hours=48.0,
        reminder_hours=(4.0, 24.0),
        applies_to=APPLIES_LAST_SESSION,
    ),
)
