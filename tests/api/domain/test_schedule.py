from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from api.domain.schedule import (
    DEFAULT_RULES,
    DEFAULT_TEMPLATE_NAME,
    REFLECTION_PROMPTS,
    PlannedOccurrence,
    QuietHours,
    Rule,
    RuleValidationError,
    expand,
    preview,
    resolve_local,
    rule_from_dict,
    rule_to_dict,
    validate_rules,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KNOWN = {"daily", "phq9", "gad7", "who5", "pcl5"}
PROMPT = REFLECTION_PROMPTS[2]


def local(tz: ZoneInfo, y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """Aware UTC instant of a (non-ambiguous) local wall time."""
    return datetime(y, m, d, hh, mm, tzinfo=tz).astimezone(UTC)


def daily_rule(key: str = "daily-am", at: time = time(9, 0), days: tuple[int, ...] = (0, 1, 2, 3)) -> Rule:
    return Rule(key=key, kind="instrument", instrument_id="daily", day_offsets=days, local_time=at)


def by_rule(occs: list[PlannedOccurrence]) -> dict[str, list[PlannedOccurrence]]:
    out: dict[str, list[PlannedOccurrence]] = defaultdict(list)
    for o in occs:
        out[o.rule_key].append(o)
    return out


def valid_dict(**overrides: object) -> dict:
    d: dict = {
        "key": "daily-am",
        "kind": "instrument",
        "instrument_id": "daily",
        "day_offsets": [1, 2, 3],
        "local_time": "09:00",
        "open_hours": 24,
        "reminder_hours": [4],
        "applies_to": "every_session",
    }
    d.update(overrides)
    return {k: v for k, v in d.items() if v is not ...}


# --- resolve_local / DST ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "change_day", "before_offset", "after_offset"),
    [
        (BERLIN, date(2026, 3, 29), 1, 2),  # CET -> CEST
        (BERLIN, date(2026, 10, 25), 2, 1),  # CEST -> CET
        (NEW_YORK, date(2026, 3, 8), -5, -4),  # EST -> EDT
        (NEW_YORK, date(2026, 11, 1), -4, -5),  # EDT -> EST
    ],
)
def test_daily_rules_keep_local_wall_time_across_dst(tz, change_day, before_offset, after_offset):
    rules = [daily_rule("am", time(9, 0), (0, 1, 2, 3)), daily_rule("pm", time(19, 0), (0, 1, 2, 3))]
    # Dose two days before the change, 08:00 local: days 0-1 before, days 2-3 on/after the change.
    dose_day = change_day - timedelta(days=2)
    dose = datetime.combine(dose_day, time(8, 0), tzinfo=tz).astimezone(UTC)
    occs = by_rule(expand(rules, dose, tz, None, is_last_session=False))

    for key, hour in (("am", 9), ("pm", 19)):
        got = occs[key]
        assert [o.day for o in got] == [0, 1, 2, 3]
        assert [o.local_due.date() for o in got] == [dose_day + timedelta(days=n) for n in range(4)]
        assert all(o.local_due.hour == hour and o.local_due.minute == 0 for o in got)
        assert [o.due_at.hour for o in got] == [
            (hour - before_offset) % 24,
            (hour - before_offset) % 24,
            (hour - after_offset) % 24,
            (hour - after_offset) % 24,
        ]
        # UTC instant shifts by exactly one hour across the change, so gaps are 24h +- 1h.
        gaps = [(b.due_at - a.due_at) for a, b in pairwise(got)]
        shift = timedelta(hours=before_offset - after_offset)
        assert gaps == [timedelta(hours=24), timedelta(hours=24) + shift, timedelta(hours=24)]
        assert all(o.due_at.tzinfo is UTC for o in got)


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc", "expected_local_hour"),
    [
        # Berlin spring forward at 02:00 -> 03:00; 02:30 does not exist -> 03:30 CEST.
        (BERLIN, date(2026, 3, 29), datetime(2026, 3, 29, 1, 30, tzinfo=UTC), 3),
        # New York spring forward at 02:00 -> 03:00; 02:30 does not exist -> 03:30 EDT.
        (NEW_YORK, date(2026, 3, 8), datetime(2026, 3, 8, 7, 30, tzinfo=UTC), 3),
    ],
)
def test_gap_time_shifts_forward_by_gap_length(tz, day, expected_utc, expected_local_hour):
    got = resolve_local(day, time(2, 30), tz)
    assert got == expected_utc
    assert got.tzinfo is UTC
    assert got.astimezone(tz).hour == expected_local_hour
    assert got.astimezone(tz).minute == 30
    # Deterministic: same answer every time, and 1 h after the 01:30 of that day.
    assert resolve_local(day, time(2, 30), tz) == got
    assert got - resolve_local(day, time(1, 30), tz) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("tz", "day", "at", "first_utc"),
    [
        # Berlin fall back 03:00 CEST -> 02:00 CET: 02:30 happens at 00:30Z and again at 01:30Z.
        (BERLIN, date(2026, 10, 25), time(2, 30), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # New York fall back 02:00 EDT -> 01:00 EST: 01:30 happens at 05:30Z and again at 06:30Z.
        (NEW_YORK, date(2026, 11, 1), time(1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    ],
)
def test_fold_time_resolves_to_first_occurrence(tz, day, at, first_utc):
    got = resolve_local(day, at, tz)
    assert got == first_utc
    second = datetime.combine(day, at, tzinfo=tz).replace(fold=1).astimezone(UTC)
    assert second - got == timedelta(hours=1)
    assert got.astimezone(tz).time() == at


def test_expand_gap_rule_without_quiet_hours():
    rule = Rule(key="r", kind="instrument", instrument_id="daily", day_offsets=(1,), local_time=time(2, 30))
    dose = local(BERLIN, 2026, 3, 28, 9)
    (occ,) = expand([rule], dose, BERLIN, None, is_last_session=False)
    assert occ.due_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert occ.local_due.time() == time(3, 30)
    assert occ.day == 1


def test_day_is_local_calendar_date_of_dose():
    # 23:30 UTC on 2026-06-01 is already 2026-06-02 in Berlin: day 0 must be June 2nd local.
    dose = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    (occ,) = expand([daily_rule(days=(0,))], dose, BERLIN, None, False)
    assert occ.local_due.date() == date(2026, 6, 2)
    assert occ.due_at == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)


def test_naive_dose_start_rejected():
    with pytest.raises(ValueError, match="aware"):
        expand([daily_rule()], datetime(2026, 6, 1, 9), BERLIN, None, False)


def test_duplicate_keys_rejected_by_expand():
    with pytest.raises(ValueError, match="unique"):
        expand(
            [daily_rule("x"), daily_rule("x", time(19, 0))], local(BERLIN, 2026, 6, 1, 9), BERLIN, None, False
        )


# --- quiet hours ------------------------------------------------------------------------------


def test_quiet_hours_contains_wrapping_window():
    q = QuietHours()
    assert q.contains(time(21, 30))
    assert q.contains(time(23, 59))
    assert q.contains(time(0, 0))
    assert q.contains(time(7, 59))
    assert not q.contains(time(8, 0))
    assert not q.contains(time(21, 29))
    assert not q.contains(time(12, 0))


def test_quiet_hours_non_wrapping_and_disabled():
    q = QuietHours(start=time(13, 0), end=time(15, 0))
    assert q.contains(time(13, 0)) and q.contains(time(14, 59))
    assert not q.contains(time(15, 0)) and not q.contains(time(12, 59))
    assert q.shift(date(2026, 6, 1), time(14, 0)) == (date(2026, 6, 1), time(15, 0))
    off = QuietHours(start=time(8, 0), end=time(8, 0))
    assert not off.contains(time(8, 0)) and not off.contains(time(23, 0))


def test_evening_rule_in_quiet_hours_moves_to_next_morning():
    dose = local(BERLIN, 2026, 6, 1, 9)
    rule = daily_rule("late", time(22, 0), (1,))
    (occ,) = expand([rule], dose, BERLIN, QuietHours(), False)
    assert occ.local_due == datetime(2026, 6, 3, 8, 0, tzinfo=BERLIN)
    assert occ.due_at == datetime(2026, 6, 3, 6, 0, tzinfo=UTC)
    assert occ.day == 1  # still the scheduled day
    # Without quiet hours it really is 22:00.
    (raw,) = expand([rule], dose, BERLIN, None, False)
    assert raw.local_due == datetime(2026, 6, 2, 22, 0, tzinfo=BERLIN)


def test_acute_rule_in_quiet_hours_moves_to_next_morning():
    # Dose at 20:30 local + 3 h = 23:30 local -> 08:00 local next day.
    dose = local(NEW_YORK, 2026, 6, 1, 20, 30)
    rule = Rule(key="acute", kind="reflection", prompt_text=PROMPT, hours_after_dose=3)
    (occ,) = expand([rule], dose, NEW_YORK, QuietHours(), False)
    assert occ.local_due == datetime(2026, 6, 2, 8, 0, tzinfo=NEW_YORK)
    assert occ.due_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
    assert occ.day == 0
    # Outside quiet hours the acute rule is exactly dose + 3 h.
    (early,) = expand([rule], local(NEW_YORK, 2026, 6, 1, 9), NEW_YORK, QuietHours(), False)
    assert early.due_at == local(NEW_YORK, 2026, 6, 1, 12)


def test_acute_rule_after_midnight_moves_to_same_morning():
    # Dose at 22:00 + 4 h = 02:00 local next day (morning part) -> 08:00 that same day.
    dose = local(BERLIN, 2026, 6, 1, 22)
    rule = Rule(key="acute", kind="reflection", prompt_text=PROMPT, hours_after_dose=4)
    (occ,) = expand([rule], dose, BERLIN, QuietHours(), False)
    assert occ.local_due == datetime(2026, 6, 2, 8, 0, tzinfo=BERLIN)
    assert occ.day == 1


@pytest.mark.parametrize(
    ("at", "expected_day_offset", "expected_time"),
    [
        (time(23, 59), 1, time(8, 0)),  # evening part -> next morning
        (time(0, 0), 0, time(8, 0)),  # just past midnight -> same morning
        (time(3, 0), 0, time(8, 0)),
        (time(7, 59), 0, time(8, 0)),
        (time(8, 0), 0, time(8, 0)),  # end is exclusive: stays
        (time(21, 29), 0, time(21, 29)),  # just before start: stays
        (time(21, 30), 1, time(8, 0)),  # start is inclusive
    ],
)
def test_quiet_hours_wraparound_boundaries(at, expected_day_offset, expected_time):
    dose = local(BERLIN, 2026, 6, 1, 9)
    (occ,) = expand([daily_rule("r", at, (2,))], dose, BERLIN, QuietHours(), False)
    assert occ.local_due.date() == date(2026, 6, 3) + timedelta(days=expected_day_offset)
    assert occ.local_due.time() == expected_time


def test_quiet_hours_shift_on_dst_change_keeps_local_0800():
    # 22:00 on the evening before Berlin's spring-forward moves to 08:00 CEST (06:00Z).
    dose = local(BERLIN, 2026, 3, 27, 9)
    (occ,) = expand([daily_rule("r", time(22, 0), (1,))], dose, BERLIN, QuietHours(), False)
    assert occ.local_due.time() == time(8, 0)
    assert occ.due_at == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


# --- occurrences, expiry, repeats, last session -----------------------------------------------


def test_occurrence_numbers_are_stable_and_unique_per_rule():
    rules = [
        daily_rule("a", time(9, 0), (7, 1, 3)),
        Rule(
            key="b",
            kind="instrument",
            instrument_id="phq9",
            day_offset=0,
            repeat_every_days=2,
            until_day=6,
            local_time=time(22, 0),
        ),
    ]
    dose = local(BERLIN, 2026, 3, 25, 9)
    first = expand(rules, dose, BERLIN, QuietHours(), False)
    second = expand(list(reversed(rules)), dose, BERLIN, QuietHours(), False)
    assert first == second  # sorted by due_at, independent of template order here (no ties)
    grouped = by_rule(first)
    assert [(o.occurrence, o.day) for o in grouped["a"]] == [(0, 1), (1, 3), (2, 7)]
    assert [(o.occurrence, o.day) for o in grouped["b"]] == [(0, 0), (1, 2), (2, 4), (3, 6)]
    keys = [(o.rule_key, o.occurrence) for o in first]
    assert len(keys) == len(set(keys)) == 7
    assert [o.due_at for o in first] == sorted(o.due_at for o in first)


def test_expires_at_is_due_plus_open_hours():
    rule = Rule(
        key="r",
        kind="instrument",
        instrument_id="phq9",
        day_offsets=(1,),
        local_time=time(10, 0),
        open_hours=36,
    )
    (occ,) = expand([rule], local(BERLIN, 2026, 6, 1, 9), BERLIN, None, False)
    assert occ.expires_at == occ.due_at + timedelta(hours=36)
    assert occ.expires_at == datetime(2026, 6, 3, 20, 0, tzinfo=UTC)
    # Default window is 24 h.
    (d,) = expand([daily_rule(days=(1,))], local(BERLIN, 2026, 6, 1, 9), BERLIN, None, False)
    assert d.expires_at - d.due_at == timedelta(hours=24)


def test_repeat_rule_every_two_days_until_day_nine():
    rule = Rule(
        key="r",
        kind="instrument",
        instrument_id="daily",
        day_offset=1,
        repeat_every_days=2,
        until_day=9,
        local_time=time(9, 0),
    )
    occs = expand([rule], local(BERLIN, 2026, 6, 1, 9), BERLIN, None, False)
    assert [o.day for o in occs] == [1, 3, 5, 7, 9]
    assert [o.occurrence for o in occs] == [0, 1, 2, 3, 4]
    assert [o.local_due.date().day for o in occs] == [2, 4, 6, 8, 10]


def test_single_day_offset_without_repeat():
    rule = Rule(key="r", kind="instrument", instrument_id="daily", day_offset=10, local_time=time(9, 0))
    occs = expand([rule], local(BERLIN, 2026, 6, 1, 9), BERLIN, None, False)
    assert [(o.day, o.occurrence) for o in occs] == [(10, 0)]


def test_last_session_rules_only_expand_for_last_session():
    rules = [
        daily_rule("every", time(9, 0), (1,)),
        Rule(
            key="last",
            kind="instrument",
            instrument_id="daily",
            day_offset=35,
            repeat_every_days=7,
            until_day=56,
            local_time=time(9, 0),
            applies_to="last_session",
        ),
    ]
    dose = local(BERLIN, 2026, 6, 1, 9)
    not_last = expand(rules, dose, BERLIN, None, is_last_session=False)
    assert {o.rule_key for o in not_last} == {"every"}
    last = expand(rules, dose, BERLIN, None, is_last_session=True)
    assert [o.day for o in last if o.rule_key == "last"] == [35, 42, 49, 56]
    assert len([o for o in last if o.rule_key == "every"]) == 1


# --- default template -------------------------------------------------------------------------


def _default(tz: ZoneInfo = BERLIN, last: bool = False, dose_hour: int = 9) -> list[PlannedOccurrence]:
    return expand(DEFAULT_RULES, local(tz, 2026, 3, 2, dose_hour), tz, QuietHours(), last)


def _instrument_days(occs: list[PlannedOccurrence], instrument_id: str) -> list[int]:
    rules = {r.key: r for r in DEFAULT_RULES}
    return sorted(o.day for o in occs if rules[o.rule_key].instrument_id == instrument_id)


def test_default_template_name_and_keys_unique():
    assert DEFAULT_TEMPLATE_NAME == "MDMA-AT integration (default)"
    keys = [r.key for r in DEFAULT_RULES]
    assert len(keys) == len(set(keys))


def test_default_template_validates_against_instrument_catalogue():
    from api.domain.instruments import CATALOGUE

    assert validate_rules([rule_to_dict(r) for r in DEFAULT_RULES], set(CATALOGUE)) == {}


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK])
def test_default_days_1_to_7_have_daily_at_0900_and_reflection_at_1900(tz):
    occs = _default(tz)
    rules = {r.key: r for r in DEFAULT_RULES}
    for n in range(1, 8):
        on_day = [o for o in occs if o.day == n]
        daily = [o for o in on_day if rules[o.rule_key].instrument_id == "daily"]
        reflections = [o for o in on_day if rules[o.rule_key].kind == "reflection"]
        assert [o.local_due.time() for o in daily] == [time(9, 0)], n
        assert [o.local_due.time() for o in reflections] == [time(19, 0)], n
        assert all(rules[o.rule_key].prompt_text in REFLECTION_PROMPTS for o in reflections)
    # The dosing day (2026-03-02, a 09:00 start) and the DST change (Mar 8 in NY) do not disturb this.
    assert _instrument_days(occs, "daily") == [1, 2, 3, 4, 5, 6, 7, 10]


def test_default_instrument_days():
    occs = _default()
    assert _instrument_days(occs, "phq9") == [3, 7, 14, 21, 28]
    assert _instrument_days(occs, "gad7") == [3, 7, 14, 21, 28]
    assert _instrument_days(occs, "who5") == [14, 28]
    assert _instrument_days(occs, "pcl5") == [28]
    rules = {r.key: r for r in DEFAULT_RULES}
    assert all(
        o.local_due.time() == time(10, 0) for o in occs if rules[o.rule_key].instrument_id in {"phq9", "pcl5"}
    )


def test_default_dosing_evening_settled_check():
    occs = _default()
    rules = {r.key: r for r in DEFAULT_RULES}
    day0 = [o for o in occs if o.day == 0]
    assert len(day0) == 1
    rule = rules[day0[0].rule_key]
    assert rule.kind == "reflection"
    assert "safe" in rule.prompt_text
    assert day0[0].local_due == datetime(2026, 3, 2, 20, 0, tzinfo=BERLIN)


def test_default_last_session_follow_up():
    last = _default(last=True)
    not_last = _default(last=False)
    assert _instrument_days(last, "daily") == [1, 2, 3, 4, 5, 6, 7, 10, 35, 42, 49, 56]
    assert _instrument_days(last, "phq9") == [3, 7, 14, 21, 28, 42, 56]
    assert max(o.day for o in not_last) == 28
    assert max(o.day for o in last) == 56


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK])
@pytest.mark.parametrize("last", [False, True])
def test_no_default_prompt_falls_in_quiet_hours_for_0900_dose(tz, last):
    q = QuietHours()
    # Without quiet-hour adjustment nothing would need moving either.
    raw = expand(DEFAULT_RULES, local(tz, 2026, 3, 2, 9), tz, None, last)
    assert raw == _default(tz, last)
    assert not [o for o in raw if q.contains(o.local_due.time())]
    # Reminders of the defaults also land outside quiet hours.
    rules = {r.key: r for r in DEFAULT_RULES}
    for o in raw:
        for h in rules[o.rule_key].reminder_hours:
            assert not q.contains((o.local_due + timedelta(hours=h)).astimezone(tz).time()), (o, h)


def test_default_reflection_prompts_come_from_library():
    assert 5 <= len(REFLECTION_PROMPTS) <= 8
    assert len(set(REFLECTION_PROMPTS)) == len(REFLECTION_PROMPTS)
    for r in DEFAULT_RULES:
        if r.kind == "reflection":
            assert r.prompt_text in REFLECTION_PROMPTS


# --- (de)serialisation ------------------------------------------------------------------------


def test_rule_dict_round_trip_for_all_forms():
    for rule in DEFAULT_RULES:
        assert rule_from_dict(rule_to_dict(rule)) == rule
    acute = Rule(
        key="acute",
        kind="reflection",
        prompt_text=PROMPT,
        hours_after_dose=10.5,
        open_hours=12,
        reminder_hours=(),
    )
    d = rule_to_dict(acute)
    assert d == {
        "key": "acute",
        "kind": "reflection",
        "instrument_id": None,
        "prompt_text": PROMPT,
        "hours_after_dose": 10.5,
        "open_hours": 12,
        "reminder_hours": [],
        "applies_to": "every_session",
    }
    assert rule_from_dict(d) == acute


def test_rule_to_dict_shape_for_repeat_rule():
    rule = next(r for r in DEFAULT_RULES if r.key == "followup-daily")
    assert rule_to_dict(rule) == {
        "key": "followup-daily",
        "kind": "instrument",
        "instrument_id": "daily",
        "prompt_text": None,
        "day_offset": 35,
        "repeat_every_days": 7,
        "until_day": 56,
        "local_time": "09:00",
        "open_hours": 48.0,
        "reminder_hours": [4.0, 24.0],
        "applies_to": "last_session",
    }


def test_rule_from_dict_defaults_and_normalisation():
    rule = rule_from_dict(
        {
            "key": "x",
            "kind": "instrument",
            "instrument_id": "daily",
            "day_offsets": [7, 1],
            "local_time": "09:05",
        }
    )
    assert rule.day_offsets == (1, 7)
    assert rule.local_time == time(9, 5)
    assert rule.open_hours == 24
    assert rule.reminder_hours == (4.0,)
    assert rule.applies_to == "every_session"


def test_rule_from_dict_and_constructor_reject_invalid():
    with pytest.raises(RuleValidationError) as exc:
        rule_from_dict(valid_dict(local_time="9:00"))
    assert exc.value.errors == {"local_time": ["Must be a time in HH:MM format (00:00-23:59)."]}
    with pytest.raises(ValueError):
        Rule(key="x", kind="instrument", instrument_id="daily", day_offsets=(1,))  # no local_time
    with pytest.raises(RuleValidationError):
        Rule(key="x", kind="instrument", instrument_id="daily", day_offsets=(1,), local_time="09:00")  # type: ignore[arg-type]


# --- validation -------------------------------------------------------------------------------


def test_validate_rules_accepts_valid_template():
    rules = [
        valid_dict(),
        valid_dict(key="pm", kind="reflection", instrument_id=None, prompt_text=PROMPT, local_time="19:00"),
        valid_dict(key="rep", day_offsets=..., day_offset=8, repeat_every_days=7, until_day=29),
        valid_dict(
            key="acute",
            kind="reflection",
            instrument_id=None,
            prompt_text=REFLECTION_PROMPTS[0],
            day_offsets=...,
            local_time=...,
            hours_after_dose=10,
        ),
    ]
    assert validate_rules(rules, KNOWN) == {}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"instrument_id": "bdi"}, {"rules.0.instrument_id": ["Unknown instrument 'bdi'."]}),
        ({"day_offsets": [0, 366]}, {"rules.0.day_offsets": ["Each day must be an integer from 0 to 365."]}),
        ({"day_offsets": [-1]}, {"rules.0.day_offsets": ["Each day must be an integer from 0 to 365."]}),
        ({"day_offsets": [1, 1]}, {"rules.0.day_offsets": ["Days must not repeat."]}),
        ({"day_offsets": []}, {"rules.0.day_offsets": ["Must be a non-empty list of days."]}),
        ({"local_time": "24:00"}, {"rules.0.local_time": ["Must be a time in HH:MM format (00:00-23:59)."]}),
        ({"local_time": "9am"}, {"rules.0.local_time": ["Must be a time in HH:MM format (00:00-23:59)."]}),
        ({"local_time": ...}, {"rules.0.local_time": ["Required for day-based rules."]}),
        ({"open_hours": 0}, {"rules.0.open_hours": ["Must be more than 0 and at most 168 hours."]}),
        (
            {"open_hours": 169, "reminder_hours": []},
            {"rules.0.open_hours": ["Must be more than 0 and at most 168 hours."]},
        ),
        (
            {"open_hours": 4},
            {
                "rules.0.reminder_hours": [
                    "Each reminder must fall within the open window (0 < hours < open_hours)."
                ]
            },
        ),
        (
            {"reminder_hours": [0]},
            {
                "rules.0.reminder_hours": [
                    "Each reminder must fall within the open window (0 < hours < open_hours)."
                ]
            },
        ),
        (
            {"day_offset": 1},
            {"rules.0.timing": ["Give exactly one of day_offsets, day_offset or hours_after_dose."]},
        ),
        (
            {"day_offsets": ...},
            {"rules.0.timing": ["Give exactly one of day_offsets, day_offset or hours_after_dose."]},
        ),
        (
            {"day_offsets": ..., "day_offset": 1, "repeat_every_days": 2},
            {"rules.0.until_day": ["Required when repeat_every_days is set."]},
        ),
        (
            {"day_offsets": ..., "day_offset": 5, "repeat_every_days": 2, "until_day": 3},
            {"rules.0.until_day": ["Must be on or after day_offset."]},
        ),
        (
            {"day_offsets": ..., "local_time": ..., "hours_after_dose": 73},
            {"rules.0.hours_after_dose": ["Must be a number of hours from 0 to 72."]},
        ),
        (
            {"day_offsets": ..., "hours_after_dose": 10},
            {"rules.0.local_time": ["Not used with hours_after_dose."]},
        ),
        (
            {"applies_to": "first_session"},
            {"rules.0.applies_to": ["Must be 'every_session' or 'last_session'."]},
        ),
        (
            {"kind": "reflection", "instrument_id": None, "prompt_text": "Tell me everything."},
            {"rules.0.prompt_text": ["Must be one of the prompt library texts."]},
        ),
        ({"colour": "red"}, {"rules.0.colour": ["Unknown field."]}),
    ],
)
def test_validate_rules_single_field_errors(overrides, expected):
    assert validate_rules([valid_dict(**overrides)], KNOWN) == expected
    # Same error on the second rule gets that rule's index in the key.
    shifted = {k.replace("rules.0.", "rules.1.", 1): v for k, v in expected.items()}
    assert (
        validate_rules([valid_dict(key="first", local_time="12:00"), valid_dict(**overrides)], KNOWN)
        == shifted
    )


def test_validate_rules_duplicate_keys():
    errors = validate_rules(
        [valid_dict(), valid_dict(local_time="12:00"), valid_dict(local_time="13:00")], KNOWN
    )
    assert errors == {
        "rules.1.key": ["Duplicate rule key; already used by rules.0."],
        "rules.2.key": ["Duplicate rule key; already used by rules.0."],
    }


def test_validate_rules_overlapping_duplicates():
    rules = [
        valid_dict(key="a", day_offsets=[1, 3, 5]),
        # Same instrument, same time, day 3 in common via a repeat rule.
        valid_dict(key="b", day_offsets=..., day_offset=3, repeat_every_days=4, until_day=11),
        # Same instrument and days but a different time: no overlap.
        valid_dict(key="c", day_offsets=[1, 3, 5], local_time="19:00"),
        # Different instrument at the same slot: no overlap.
        valid_dict(key="d", instrument_id="phq9", day_offsets=[1]),
        # Same reflection prompt at the same slot twice.
        valid_dict(key="e", kind="reflection", instrument_id=None, prompt_text=PROMPT, local_time="19:00"),
        valid_dict(
            key="f",
            kind="reflection",
            instrument_id=None,
            prompt_text=PROMPT,
            local_time="19:00",
            day_offsets=[3],
        ),
        # Same acute hours for the same prompt.
        valid_dict(
            key="g",
            kind="reflection",
            instrument_id=None,
            prompt_text=PROMPT,
            day_offsets=...,
            local_time=...,
            hours_after_dose=10,
        ),
        valid_dict(
            key="h",
            kind="reflection",
            instrument_id=None,
            prompt_text=PROMPT,
            day_offsets=...,
            local_time=...,
            hours_after_dose=10.0,
        ),
    ]
    errors = validate_rules(rules, KNOWN)
    assert set(errors) == {"rules.1.day_offset", "rules.5.day_offsets", "rules.7.hours_after_dose"}
    assert errors["rules.1.day_offset"] == ["Overlaps rules.0 (a): same instrument 'daily' at day 3 09:00."]
    assert errors["rules.5.day_offsets"] == ["Overlaps rules.4 (e): same reflection prompt at day 3 19:00."]
    assert errors["rules.7.hours_after_dose"] == [
        "Overlaps rules.6 (g): same reflection prompt at 10 h after dose."
    ]


def test_validate_rules_reports_all_errors_at_once():
    rules = [
        valid_dict(instrument_id="nope", local_time="25:00", open_hours=200),
        valid_dict(key="Bad Key!", day_offsets=..., day_offset=2, repeat_every_days=3),
        valid_dict(
            key="r",
            kind="reflection",
            instrument_id=None,
            prompt_text="free text",
            day_offsets=[1],
            hours_after_dose=5,
        ),
        "not a rule",
    ]
    errors = validate_rules(rules, KNOWN)
    assert errors == {
        "rules.0.instrument_id": ["Unknown instrument 'nope'."],
        "rules.0.local_time": ["Must be a time in HH:MM format (00:00-23:59)."],
        "rules.0.open_hours": ["Must be more than 0 and at most 168 hours."],
        "rules.1.key": ["Required: 1-64 chars of lowercase letters, digits, '-' or '_'."],
        "rules.1.until_day": ["Required when repeat_every_days is set."],
        "rules.2.prompt_text": ["Must be one of the prompt library texts."],
        "rules.2.timing": ["Give exactly one of day_offsets, day_offset or hours_after_dose."],
        "rules.2.local_time": ["Not used with hours_after_dose."],
        "rules.3": ["Must be an object."],
    }


def test_validate_rules_empty_list():
    assert validate_rules([], KNOWN) == {"rules": ["Must be a non-empty list of rules."]}


def test_validate_rules_rejects_bool_as_number():
    errors = validate_rules([valid_dict(day_offsets=[True])], KNOWN)
    assert errors == {"rules.0.day_offsets": ["Each day must be an integer from 0 to 365."]}


# --- preview ----------------------------------------------------------------------------------


def test_preview_timeline_and_per_day_counts():
    dose = local(BERLIN, 2026, 3, 27, 9)
    rules = [
        daily_rule("am", time(9, 0), (0, 1, 2)),
        Rule(key="pm", kind="reflection", prompt_text=PROMPT, day_offsets=(1,), local_time=time(22, 0)),
        Rule(
            key="last",
            kind="instrument",
            instrument_id="phq9",
            day_offsets=(2,),
            local_time=time(10, 0),
            applies_to="last_session",
        ),
    ]
    out = preview(rules, dose, BERLIN, QuietHours())
    # Day 1's 22:00 reflection moves to 08:00 on Mar 29 (the DST change day), before the 09:00 daily.
    assert out["per_day"] == [
        {"date": "2026-03-27", "count": 1},
        {"date": "2026-03-28", "count": 1},
        {"date": "2026-03-29", "count": 3},
    ]
    assert [e["rule_key"] for e in out["timeline"]] == ["am", "am", "pm", "am", "last"]
    pm = out["timeline"][2]
    assert pm == {
        "rule_key": "pm",
        "kind": "reflection",
        "instrument_id": None,
        "day": 1,
        "local_due": "2026-03-29T08:00:00+02:00",
        "due_at": "2026-03-29T06:00:00+00:00",
        "expires_at": "2026-03-30T06:00:00+00:00",
    }
    assert out["timeline"][0]["local_due"] == "2026-03-27T09:00:00+01:00"
    assert out["timeline"][4]["instrument_id"] == "phq9"

    not_last = preview(rules, dose, BERLIN, QuietHours(), is_last_session=False)
    assert [e["rule_key"] for e in not_last["timeline"]] == ["am", "am", "pm", "am"]
    assert not_last["per_day"][-1] == {"date": "2026-03-29", "count": 2}


def test_preview_default_template_counts():
    out = preview(DEFAULT_RULES, local(BERLIN, 2026, 3, 2, 9), BERLIN, QuietHours())
    counts = {d["date"]: d["count"] for d in out["per_day"]}
    assert counts["2026-03-02"] == 1  # dosing evening check
    assert counts["2026-03-03"] == 2  # day 1: daily + reflection
    assert counts["2026-03-05"] == 4  # day 3: daily, phq9, gad7, reflection
    assert counts["2026-03-30"] == 4  # day 28: phq9, gad7, who5, pcl5
    assert sum(counts.values()) == len(out["timeline"]) == len(_default(last=True))
    assert Counter(e["day"] for e in out["timeline"])[56] == 2  # follow-up daily + phq9
