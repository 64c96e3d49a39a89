"""Risk flag rules over plain data (no Flask, no database).

Every rule only *adds* flags; nothing here suppresses another rule's flag. Post-session context is
attached as a ``label`` on the daily mood/sleep flags, never used to drop them.

Thresholds are configurable per care team (admins); ``Thresholds()`` holds the clinical defaults.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.domain.crisis_text import screen_text

__all__ = [
    "CSSRS",
    "DAILY",
    "GAD7",
    "PCL5",
    "PHQ9",
    "POST_SESSION_LABEL",
    "RULES",
    "SEVERITY_ORDER",
    "WHO5",
    "Entry",
    "Flag",
    "History",
    "MissedPrompt",
    "PastCheckin",
    "Thresholds",
    "evaluate_entry",
    "evaluate_missed",
    "max_severity",
    "severity_rank",
    "thresholds_from_dict",
    "thresholds_to_dict",
    "undeliverable_flag",
    "validate_thresholds",
]

# Instrument ids as stored on check-ins.
PHQ9 = "phq9"
PCL5 = "pcl5"
GAD7 = "gad7"
WHO5 = "who5"
CSSRS = "cssrs_screener"
DAILY = "daily"

SEVERITY_ORDER: tuple[str, ...] = ("low", "medium", "high", "urgent")
_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}

# Stable machine ids; stored with alerts, so never rename.
RULES: tuple[str, ...] = (
    "phq9_item9",
    "cssrs",
    "phq9_total",
    "phq9_rise",
    "pcl5_rise",
    "gad7_total",
    "who5_low",
    "mood_low_streak",
    "mood_drop",
    "sleep_short",
    "crisis_language",
    "missed_prompts",
    "undeliverable",
)

POST_SESSION_LABEL = "expected post-session window"
# Rules that get the post-session label: mood/sleep dips are expected after a dosing session.
# Suicidality and crisis-language flags are deliberately never labelled "expected".
_POST_SESSION_RULES = frozenset({"mood_low_streak", "mood_drop", "sleep_short"})


def severity_rank(severity: str) -> int:
    """Index of ``severity`` in SEVERITY_ORDER (raises ValueError for unknown values)."""
    if severity not in _RANK:
        raise ValueError(f"unknown severity: {severity!r}")
    return _RANK[severity]


def max_severity(severities: Iterable[str | None]) -> str | None:
    """Highest severity among ``severities`` (None entries ignored); None if there are none."""
    best: str | None = None
    for s in severities:
        if s is None:
            continue
        rank = severity_rank(s)  # validates every value, including the first
        if best is None or rank > severity_rank(best):
            best = s
    return best


# --------------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    phq9_item9_high: int = 1  # item 9 >= this -> high
    phq9_item9_urgent: int = 2  # item 9 >= this -> urgent
    phq9_total_high: int = 20  # PHQ-9 total >= this -> high
    phq9_rise_high: int = 5  # rise vs previous PHQ-9 or baseline >= this -> high
    pcl5_rise_medium: int = 10  # PCL-5 rise vs baseline >= this -> medium
    pcl5_rise_high: int = 15  # ... >= this -> high
    gad7_total_medium: int = 15  # GAD-7 total >= this -> medium
    who5_score_medium: int = 28  # WHO-5 percentage score (raw x4) <= this -> medium
    daily_mood_low: int = 2  # mood <= this on two consecutive days -> medium
    daily_mood_drop_from_median: float = 3  # mood this far below own 7-day median -> medium
    post_session_window_days: int = 5  # days 0..N after a dose get the post-session label
    sleep_hours_low: float = 4  # hours slept < this on two consecutive nights -> medium
    missed_streak: int = 2  # consecutive expired prompts -> low
    cssrs_recent_months: int = 3  # what "recent" means for C-SSRS q6 (shown to clinicians)


# field -> (accepted types, min, max). Bools are rejected explicitly (bool is an int subclass).
_INT = (int,)
_NUM = (int, float)
_THRESHOLD_SPECS: dict[str, tuple[tuple[type, ...], float, float]] = {
    "phq9_item9_high": (_INT, 1, 3),
    "phq9_item9_urgent": (_INT, 1, 3),
    "phq9_total_high": (_INT, 1, 27),
    "phq9_rise_high": (_INT, 1, 27),
    "pcl5_rise_medium": (_INT, 1, 80),
    "pcl5_rise_high": (_INT, 1, 80),
    "gad7_total_medium": (_INT, 1, 21),
    "who5_score_medium": (_INT, 0, 100),
    "daily_mood_low": (_INT, 0, 10),
    "daily_mood_drop_from_median": (_NUM, 1, 10),
    "post_session_window_days": (_INT, 0, 30),
    "sleep_hours_low": (_NUM, 0, 24),
    "missed_streak": (_INT, 1, 20),
    "cssrs_recent_months": (_INT, 1, 24),
}
# (lower field, higher field): the escalation threshold must not be below the lower tier's.
_ORDERED_PAIRS = (("phq9_item9_high", "phq9_item9_urgent"), ("pcl5_rise_medium", "pcl5_rise_high"))


def validate_thresholds(d: dict) -> dict[str, list[str]]:
    """Field-level errors for a (partial) thresholds dict; ``{}`` means valid.

    Missing keys are fine (they keep their defaults). Cross-field ordering is checked against the
    merged result so a partial override cannot invert a tier.
    """
    if not isinstance(d, Mapping):
        return {"_schema": ["must be an object"]}
    errors: dict[str, list[str]] = {}
    for key, value in d.items():
        spec = _THRESHOLD_SPECS.get(key) if isinstance(key, str) else None
        if spec is None:
            errors.setdefault(str(key), []).append("unknown field")
            continue
        types, lo, hi = spec
        kind = "an integer" if types == _INT else "a number"
        if isinstance(value, bool) or not isinstance(value, types) or not math.isfinite(value):
            errors.setdefault(key, []).append(f"must be {kind}")
        elif not lo <= value <= hi:
            errors.setdefault(key, []).append(f"must be between {lo:g} and {hi:g}")
    if errors:
        return errors
    merged = {**thresholds_to_dict(Thresholds()), **d}
    for low, high in _ORDERED_PAIRS:
        if merged[high] < merged[low]:
            errors.setdefault(high, []).append(f"must be >= {low} ({merged[low]})")
    return errors


def thresholds_from_dict(d: dict) -> Thresholds:
    """Build Thresholds from a (partial) dict over the defaults; raises ValueError listing field errors."""
    errors = validate_thresholds(d)
    if errors:
        raise ValueError(f"invalid thresholds: {errors}")
    return dataclasses.replace(Thresholds(), **d)


def thresholds_to_dict(t: Thresholds) -> dict:
    """All thresholds as a plain JSON-serialisable dict."""
    return dataclasses.asdict(t)


# --------------------------------------------------------------------------------------------------
# Plain input data
# --------------------------------------------------------------------------------------------------


def _require_aware(dt: datetime, name: str) -> None:
    # Naive datetimes would silently be read in the server's zone and shift patient-local days.
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class Entry:
    kind: str  # "checkin" | "reflection"
    instrument_id: str | None
    answers: dict
    total: int | None  # as scored (WHO-5: the 0-100 percentage score)
    risk: dict  # from scoring, e.g. {"q9": 2} or {"triage": "high"}
    recorded_at: datetime
    text: str | None = None  # reflection text or the daily check-in note

    def __post_init__(self) -> None:
        _require_aware(self.recorded_at, "Entry.recorded_at")


@dataclass(frozen=True)
class PastCheckin:
    instrument_id: str
    answers: dict
    total: int | None
    recorded_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.recorded_at, "PastCheckin.recorded_at")


@dataclass(frozen=True)
class History:
    checkins: Sequence[PastCheckin]  # any order; rules sort and ignore anything not before the entry
    baseline_totals: dict[str, int]  # pre-dosing baseline total per instrument id
    last_dose_at: datetime | None
    tz: ZoneInfo  # patient zone: defines "days" and "nights"

    def __post_init__(self) -> None:
        if self.last_dose_at is not None:
            _require_aware(self.last_dose_at, "History.last_dose_at")


@dataclass(frozen=True)
class Flag:
    rule: str
    severity: str
    summary: str
    evidence: dict = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        severity_rank(self.severity)  # fail fast on typos


@dataclass(frozen=True)
class MissedPrompt:
    due_at: datetime
    day: int  # day offset after its dose
    state: str  # "expired" | "completed" | other (pending, cancelled, ... are neutral)
    weekly: bool


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """Numeric answer or None; tolerates numeric strings, rejects bools/NaN."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _yes(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "yes", "y", "true"}
    n = _num(value) if not isinstance(value, bool) else float(value)
    return n is not None and n >= 1


def _fmt(x: float) -> int | float:
    """Render whole floats as ints so evidence and summaries read naturally (3.0 -> 3)."""
    return int(x) if float(x).is_integer() else x


def _total(entry_total: int | None, answers: Mapping) -> float | None:
    """Stored total, falling back to the sum of q1..qN item answers when scoring left it empty."""
    t = _num(entry_total)
    if t is not None:
        return t
    items = [_num(v) for k, v in answers.items() if isinstance(k, str) and k[:1] == "q" and k[1:].isdigit()]
    items_ok = [v for v in items if v is not None]
    return sum(items_ok) if items_ok else None


def _local_date(dt: datetime, tz: ZoneInfo) -> date:
    return dt.astimezone(tz).date()


def _past(history: History, instrument_id: str, before: datetime) -> list[PastCheckin]:
    """History check-ins of one instrument strictly before ``before``, oldest first."""
    rows = [c for c in history.checkins if c.instrument_id == instrument_id and c.recorded_at < before]
    return sorted(rows, key=lambda c: c.recorded_at)


def _daily_by_day(history: History, before: datetime) -> dict[date, PastCheckin]:
    """Most recent daily check-in per patient-local day, strictly before ``before``."""
    by_day: dict[date, PastCheckin] = {}
    for c in _past(history, DAILY, before):  # oldest first, so later ones overwrite
        by_day[_local_date(c.recorded_at, history.tz)] = c
    return by_day


# --------------------------------------------------------------------------------------------------
# Entry rules
# --------------------------------------------------------------------------------------------------


def _phq9_rules(entry: Entry, history: History, t: Thresholds) -> list[Flag]:
    flags: list[Flag] = []
    # Item 9 from the answers, or the scorer's risk dict; take the worse if they disagree.
    q9_values = [v for v in (_num(entry.answers.get("q9")), _num(entry.risk.get("q9"))) if v is not None]
    if q9_values:
        q9 = max(q9_values)
        severity = "urgent" if q9 >= t.phq9_item9_urgent else "high" if q9 >= t.phq9_item9_high else None
        if severity:
            flags.append(
                Flag(
                    "phq9_item9",
                    severity,
                    f"PHQ-9 item 9 (thoughts of death/self-harm) answered {_fmt(q9)}",
                    {"q9": _fmt(q9), "high_at": t.phq9_item9_high, "urgent_at": t.phq9_item9_urgent},
                )
            )

    total = _total(entry.total, entry.answers)
    if total is None:
        return flags
    if total >= t.phq9_total_high:
        flags.append(
            Flag(
                "phq9_total",
                "high",
                f"PHQ-9 total {_fmt(total)} (>= {t.phq9_total_high})",
                {"total": _fmt(total), "threshold": t.phq9_total_high},
            )
        )

    # Compare with both the previous PHQ-9 and the pre-dosing baseline; report the larger rise.
    candidates: list[tuple[str, float]] = []
    scored = [p for p in _past(history, PHQ9, entry.recorded_at) if _total(p.total, p.answers) is not None]
    prev = scored[-1] if scored else None
    prev_total = _total(prev.total, prev.answers) if prev else None
    if prev_total is not None:
        candidates.append(("previous", prev_total))
    baseline = _num(history.baseline_totals.get(PHQ9))
    if baseline is not None:
        candidates.append(("baseline", baseline))
    if candidates:
        compared_to, ref = max(candidates, key=lambda c: total - c[1])  # ties: "previous" (listed first)
        rise = total - ref
        if rise >= t.phq9_rise_high:
            evidence: dict[str, Any] = {
                "total": _fmt(total),
                "rise": _fmt(rise),
                "compared_to": compared_to,
                "previous": _fmt(prev_total) if prev_total is not None else None,
                "previous_at": prev.recorded_at.isoformat() if prev and prev_total is not None else None,
                "baseline": _fmt(baseline) if baseline is not None else None,
                "threshold": t.phq9_rise_high,
            }
            flags.append(
                Flag(
                    "phq9_rise",
                    "high",
                    f"PHQ-9 up {_fmt(rise)} from {compared_to} ({_fmt(ref)} -> {_fmt(total)})",
                    evidence,
                )
            )
    return flags


def _cssrs_rule(entry: Entry, t: Thresholds) -> list[Flag]:
    a = entry.answers
    yes = {k: _yes(a.get(k)) for k in ("q1", "q2", "q3", "q4", "q5", "q6")}
    # Missing q6_recent counts as recent: when unsure, escalate.
    q6_recent = _yes(a["q6_recent"]) if a.get("q6_recent") is not None else True
    reasons: list[tuple[str, str]] = []
    if yes["q4"] or yes["q5"]:
        reasons.append(("urgent", "suicidal intent" + (" with plan" if yes["q5"] else "")))
    if yes["q6"] and q6_recent:
        reasons.append(("urgent", f"suicidal behaviour within {t.cssrs_recent_months} months"))
    if yes["q6"] and not q6_recent:
        # Standard C-SSRS triage rates lifetime (not recent) behaviour like q3: moderate -> our "high".
        reasons.append(("high", f"suicidal behaviour over {t.cssrs_recent_months} months ago"))
    if yes["q3"]:
        reasons.append(("high", "suicidal thoughts with method"))
    if yes["q1"] or yes["q2"]:
        reasons.append(("medium", "wish to be dead / suicidal thoughts"))
    # A scorer-provided triage can only raise the severity, never lower it.
    triage = entry.risk.get("triage")
    if triage in _RANK:
        reasons.append((triage, f"scored triage {triage}"))
    if not reasons:
        return []
    severity = max_severity(r[0] for r in reasons)
    assert severity is not None
    top = [r[1] for r in reasons if r[0] == severity]
    return [
        Flag(
            "cssrs",
            severity,
            "C-SSRS screener: " + "; ".join(top),
            {
                "answers": {k: int(v) for k, v in yes.items()},
                "q6_recent": int(q6_recent),
                "recent_months": t.cssrs_recent_months,
                "triage": triage if triage in _RANK else None,
            },
        )
    ]


def _pcl5_rule(entry: Entry, history: History, t: Thresholds) -> list[Flag]:
    total = _total(entry.total, entry.answers)
    baseline = _num(history.baseline_totals.get(PCL5))
    if total is None or baseline is None:
        return []
    rise = total - baseline
    severity = "high" if rise >= t.pcl5_rise_high else "medium" if rise >= t.pcl5_rise_medium else None
    if not severity:
        return []
    return [
        Flag(
            "pcl5_rise",
            severity,
            f"PCL-5 up {_fmt(rise)} from baseline ({_fmt(baseline)} -> {_fmt(total)})",
            {
                "total": _fmt(total),
                "baseline": _fmt(baseline),
                "rise": _fmt(rise),
                "medium_at": t.pcl5_rise_medium,
                "high_at": t.pcl5_rise_high,
            },
        )
    ]


def _gad7_rule(entry: Entry, t: Thresholds) -> list[Flag]:
    total = _total(entry.total, entry.answers)
    if total is None or total < t.gad7_total_medium:
        return []
    return [
        Flag(
            "gad7_total",
            "medium",
            f"GAD-7 total {_fmt(total)} (>= {t.gad7_total_medium})",
            {"total": _fmt(total), "threshold": t.gad7_total_medium},
        )
    ]


def _who5_rule(entry: Entry, t: Thresholds) -> list[Flag]:
    # The stored total is already the 0-100 percentage score (raw x4); unscored answers are summed and scaled.
    if entry.total is not None:
        score = _num(entry.total)
    else:
        raw_sum = _total(None, entry.answers)
        score = None if raw_sum is None else raw_sum * 4
    if score is None:
        return []
    raw = score / 4
    if score > t.who5_score_medium:
        return []
    return [
        Flag(
            "who5_low",
            "medium",
            f"WHO-5 wellbeing score {_fmt(score)} (<= {t.who5_score_medium}); consider PHQ-9",
            {"raw": _fmt(raw), "score": _fmt(score), "threshold": t.who5_score_medium, "suggest": "phq9"},
        )
    ]


def _daily_rules(entry: Entry, history: History, t: Thresholds) -> list[Flag]:
    flags: list[Flag] = []
    today = _local_date(entry.recorded_at, history.tz)
    yesterday = today - timedelta(days=1)
    by_day = _daily_by_day(history, entry.recorded_at)
    prev = by_day.get(yesterday)

    mood = _num(entry.answers.get("mood"))
    prev_mood = _num(prev.answers.get("mood")) if prev else None
    if (
        mood is not None
        and prev_mood is not None
        and mood <= t.daily_mood_low
        and prev_mood <= t.daily_mood_low
    ):
        flags.append(
            Flag(
                "mood_low_streak",
                "medium",
                f"Mood {_fmt(prev_mood)} yesterday and {_fmt(mood)} today (<= {t.daily_mood_low})",
                {
                    "mood": _fmt(mood),
                    "previous_mood": _fmt(prev_mood),
                    "previous_day": yesterday.isoformat(),
                    "threshold": t.daily_mood_low,
                },
            )
        )

    if mood is not None:
        # The patient's own baseline: latest mood of each of the 7 local days before today.
        window = [today - timedelta(days=n) for n in range(7, 0, -1)]
        values = [
            (d, m) for d in window if d in by_day and (m := _num(by_day[d].answers.get("mood"))) is not None
        ]
        if len(values) >= 3:
            median = statistics.median(m for _, m in values)
            drop = median - mood
            if drop >= t.daily_mood_drop_from_median:
                flags.append(
                    Flag(
                        "mood_drop",
                        "medium",
                        f"Mood {_fmt(mood)} is {_fmt(drop)} below the 7-day median {_fmt(median)}",
                        {
                            "mood": _fmt(mood),
                            "median": _fmt(median),
                            "drop": _fmt(drop),
                            "values": [{"day": d.isoformat(), "mood": _fmt(m)} for d, m in values],
                            "threshold": _fmt(t.daily_mood_drop_from_median),
                        },
                    )
                )

    sleep = _num(entry.answers.get("hours_slept"))
    prev_sleep = _num(prev.answers.get("hours_slept")) if prev else None
    if (
        sleep is not None
        and prev_sleep is not None
        and sleep < t.sleep_hours_low
        and prev_sleep < t.sleep_hours_low
    ):
        flags.append(
            Flag(
                "sleep_short",
                "medium",
                f"Slept {_fmt(prev_sleep)}h then {_fmt(sleep)}h (< {_fmt(t.sleep_hours_low)}h two nights)",
                {
                    "hours_slept": _fmt(sleep),
                    "previous_hours_slept": _fmt(prev_sleep),
                    "previous_day": yesterday.isoformat(),
                    "threshold": _fmt(t.sleep_hours_low),
                },
            )
        )
    return flags


def _crisis_rule(entry: Entry) -> list[Flag]:
    if not entry.text:
        return []
    matches = screen_text(entry.text)
    if not matches:
        return []
    phrases = ", ".join(dict.fromkeys(f'"{m.phrase}"' + (" (negated)" if m.negated else "") for m in matches))
    source = "reflection" if entry.kind == "reflection" else "check-in note"
    # Always high, even if every match is negated: negation is context for the reviewer, not a filter.
    return [
        Flag(
            "crisis_language",
            "high",
            f"Crisis language in {source}: {phrases}",
            {"matches": [dataclasses.asdict(m) for m in matches]},
        )
    ]


def _post_session_day(entry: Entry, history: History) -> int | None:
    if history.last_dose_at is None:
        return None
    return (_local_date(entry.recorded_at, history.tz) - _local_date(history.last_dose_at, history.tz)).days


def evaluate_entry(entry: Entry, history: History, thresholds: Thresholds) -> list[Flag]:
    """All flags raised by one check-in or reflection (possibly empty). Never suppresses a flag."""
    t = thresholds
    flags: list[Flag] = []
    if entry.kind == "checkin":
        instrument = entry.instrument_id
        if instrument == PHQ9:
            flags += _phq9_rules(entry, history, t)
        elif instrument == CSSRS:
            flags += _cssrs_rule(entry, t)
        elif instrument == PCL5:
            flags += _pcl5_rule(entry, history, t)
        elif instrument == GAD7:
            flags += _gad7_rule(entry, t)
        elif instrument == WHO5:
            flags += _who5_rule(entry, t)
        elif instrument == DAILY:
            flags += _daily_rules(entry, history, t)
    # Text is screened for every entry kind that carries it.
    flags += _crisis_rule(entry)

    day = _post_session_day(entry, history)
    if day is not None and 0 <= day <= t.post_session_window_days:
        flags = [
            dataclasses.replace(f, label=POST_SESSION_LABEL, evidence={**f.evidence, "days_since_dose": day})
            if f.rule in _POST_SESSION_RULES
            else f
            for f in flags
        ]
    return flags


# --------------------------------------------------------------------------------------------------
# Prompt-level rules
# --------------------------------------------------------------------------------------------------


def _missed_eligible(p: MissedPrompt) -> bool:
    # Days 1-7 after a dose (any prompt), or weekly prompts after that first week.
    return 1 <= p.day <= 7 or (p.weekly and p.day > 7)


def evaluate_missed(expired: Sequence[MissedPrompt], thresholds: Thresholds) -> Flag | None:
    """Low flag if the patient's most recent eligible prompts form an unbroken expired streak.

    Only the trailing streak counts (a later completion means the patient re-engaged). A completed
    prompt always breaks the streak; other states (pending, cancelled, ...) and expired prompts outside
    the monitored days are neutral.
    """
    streak: list[MissedPrompt] = []
    for p in sorted(expired, key=lambda p: p.due_at):
        if p.state == "completed":
            streak = []
        elif p.state == "expired" and _missed_eligible(p):
            streak.append(p)
    if len(streak) < thresholds.missed_streak:
        return None
    return Flag(
        "missed_prompts",
        "low",
        f"{len(streak)} prompts in a row expired unanswered",
        {
            "count": len(streak),
            "threshold": thresholds.missed_streak,
            "prompts": [{"due_at": p.due_at.isoformat(), "day": p.day, "weekly": p.weekly} for p in streak],
        },
    )


def undeliverable_flag(prompt_id: int, reason: str) -> Flag:
    """Low flag when a prompt could not be delivered (e.g. no valid push token)."""
    return Flag(
        "undeliverable",
        "low",
        f"Prompt {prompt_id} could not be delivered: {reason}",
        {"prompt_id": prompt_id, "reason": reason},
    )
