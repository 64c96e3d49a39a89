import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.domain.flags import (
    POST_SESSION_LABEL,
    RULES,
    SEVERITY_ORDER,
    Entry,
    Flag,
    History,
    MissedPrompt,
    PastCheckin,
    Thresholds,
    evaluate_entry,
    evaluate_missed,
    max_severity,
    thresholds_from_dict,
    thresholds_to_dict,
    undeliverable_flag,
    validate_thresholds,
)

TZ = ZoneInfo("America/Los_Angeles")
T = Thresholds()
# Noon local time on a fixed day: far from midnight so day arithmetic is unambiguous.
NOW = datetime(2025, 3, 20, 12, 0, tzinfo=TZ)


def history(checkins=(), baseline=None, last_dose_at=None, tz=TZ):
    return History(checkins=list(checkins), baseline_totals=baseline or {}, last_dose_at=last_dose_at, tz=tz)


def checkin(instrument, answers=None, total=None, risk=None, at=NOW, text=None):
    return Entry("checkin", instrument, answers or {}, total, risk or {}, at, text)


def daily(mood=None, hours=None, at=NOW, text=None):
    answers = {}
    if mood is not None:
        answers["mood"] = mood
    if hours is not None:
        answers["hours_slept"] = hours
    return checkin("daily", answers, at=at, text=text)


def past_daily(days_ago, mood=None, hours=None, hour=12):
    answers = {}
    if mood is not None:
        answers["mood"] = mood
    if hours is not None:
        answers["hours_slept"] = hours
    at = (NOW - timedelta(days=days_ago)).replace(hour=hour)
    return PastCheckin("daily", answers, None, at)


def rules(flags):
    return {f.rule: f for f in flags}


def only(flags, rule):
    matching = [f for f in flags if f.rule == rule]
    assert len(matching) == 1, flags
    return matching[0]


# -------------------- helpers


def test_severity_order_and_max():
    assert SEVERITY_ORDER == ("low", "medium", "high", "urgent")
    assert max_severity(["medium", "urgent", "low"]) == "urgent"
    assert max_severity(["low", None, "high"]) == "high"
    assert max_severity([]) is None
    with pytest.raises(ValueError):
        max_severity(["critical"])


def test_flag_rejects_unknown_severity():
    with pytest.raises(ValueError):
        Flag("phq9_total", "severe", "x", {})


def test_naive_datetimes_rejected():
    with pytest.raises(ValueError):
        Entry("checkin", "daily", {}, None, {}, datetime(2025, 1, 1, 12), None)
    with pytest.raises(ValueError):
        PastCheckin("daily", {}, None, datetime(2025, 1, 1, 12))


# -------------------- PHQ-9


@pytest.mark.parametrize(("q9", "expected"), [(0, None), (1, "high"), (2, "urgent"), (3, "urgent")])
def test_phq9_item9(q9, expected):
    flags = evaluate_entry(checkin("phq9", {"q9": q9}, total=q9), history(), T)
    got = rules(flags).get("phq9_item9")
    if expected is None:
        assert got is None
    else:
        assert got.severity == expected
        assert got.evidence["q9"] == q9
        assert len([f for f in flags if f.rule == "phq9_item9"]) == 1


def test_phq9_item9_from_risk_dict_when_answers_missing():
    flags = evaluate_entry(checkin("phq9", {}, total=5, risk={"q9": 2}), history(), T)
    assert only(flags, "phq9_item9").severity == "urgent"


@pytest.mark.parametrize(("total", "fires"), [(19, False), (20, True), (27, True)])
def test_phq9_total(total, fires):
    flags = rules(evaluate_entry(checkin("phq9", {"q9": 0}, total=total), history(), T))
    assert ("phq9_total" in flags) is fires
    if fires:
        assert flags["phq9_total"].severity == "high"
        assert flags["phq9_total"].evidence["total"] == total


def test_phq9_total_computed_from_items_when_total_missing():
    answers = {f"q{i}": 3 for i in range(1, 8)} | {"q8": 0, "q9": 0}  # 21
    assert "phq9_total" in rules(evaluate_entry(checkin("phq9", answers), history(), T))


def phq_prev(total, days_ago):
    return PastCheckin("phq9", {}, total, NOW - timedelta(days=days_ago))


@pytest.mark.parametrize(("total", "fires"), [(14, False), (15, True)])
def test_phq9_rise_from_previous(total, fires):
    h = history([phq_prev(3, 30), phq_prev(10, 7)], baseline={"phq9": 12})
    flags = rules(evaluate_entry(checkin("phq9", total=total), h, T))
    assert ("phq9_rise" in flags) is fires
    if fires:
        ev = flags["phq9_rise"].evidence
        assert flags["phq9_rise"].severity == "high"
        assert (ev["compared_to"], ev["previous"], ev["rise"], ev["baseline"]) == ("previous", 10, 5, 12)


@pytest.mark.parametrize(("total", "fires"), [(12, False), (13, True)])
def test_phq9_rise_from_baseline(total, fires):
    h = history([phq_prev(14, 7)], baseline={"phq9": 8})
    flags = rules(evaluate_entry(checkin("phq9", total=total), h, T))
    assert ("phq9_rise" in flags) is fires
    if fires:
        ev = flags["phq9_rise"].evidence
        assert (ev["compared_to"], ev["baseline"], ev["rise"]) == ("baseline", 8, 5)


def test_phq9_rise_uses_most_recent_previous_regardless_of_input_order():
    # History given out of order; the most recent (8) must be the comparator, not the oldest (2).
    h = history([phq_prev(8, 3), phq_prev(2, 60), phq_prev(5, 20)])
    assert "phq9_rise" not in rules(evaluate_entry(checkin("phq9", total=12), h, T))
    assert rules(evaluate_entry(checkin("phq9", total=13), h, T))["phq9_rise"].evidence["previous"] == 8


def test_phq9_rise_ignores_history_at_or_after_entry():
    h = history([PastCheckin("phq9", {}, 15, NOW), PastCheckin("phq9", {}, 15, NOW + timedelta(days=1))])
    assert "phq9_rise" not in rules(evaluate_entry(checkin("phq9", total=15), h, T))
    h2 = history([PastCheckin("phq9", {}, 15, NOW), phq_prev(10, 7)])
    assert rules(evaluate_entry(checkin("phq9", total=15), h2, T))["phq9_rise"].evidence["previous"] == 10


def test_phq9_rise_without_any_comparator_is_silent():
    assert evaluate_entry(checkin("phq9", {"q9": 0}, total=18), history(), T) == []


# -------------------- C-SSRS


def cssrs(**yes):
    answers = {f"q{i}": 0 for i in range(1, 7)} | {"q6_recent": 0}
    answers.update(yes)
    return checkin("cssrs_screener", answers)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, None),
        ({"q1": 1}, "medium"),
        ({"q2": 1}, "medium"),
        ({"q1": 1, "q2": 1, "q3": 1}, "high"),
        ({"q3": 1}, "high"),
        ({"q4": 1}, "urgent"),
        ({"q5": 1}, "urgent"),
        ({"q6": 1, "q6_recent": 1}, "urgent"),
        ({"q6": 1, "q6_recent": 0}, "high"),  # lifetime, not recent: not urgent, still flagged
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 1}, "urgent"),
        ({"q6_recent": 1}, None),  # "recent" alone means nothing without q6
    ],
)
def test_cssrs_paths(answers, expected):
    flags = [f for f in evaluate_entry(cssrs(**answers), history(), T) if f.rule == "cssrs"]
    if expected is None:
        assert flags == []
    else:
        assert len(flags) == 1
        assert flags[0].severity == expected


def test_cssrs_missing_recent_treated_as_recent():
    entry = checkin("cssrs_screener", {"q1": 0, "q2": 0, "q6": 1})
    assert only(evaluate_entry(entry, history(), T), "cssrs").severity == "urgent"


def test_cssrs_scored_triage_can_only_raise():
    raised = checkin("cssrs_screener", {"q1": 1}, risk={"triage": "urgent"})
    assert only(evaluate_entry(raised, history(), T), "cssrs").severity == "urgent"
    not_lowered = checkin("cssrs_screener", {"q4": 1}, risk={"triage": "low"})
    assert only(evaluate_entry(not_lowered, history(), T), "cssrs").severity == "urgent"


# -------------------- PCL-5 / GAD-7 / WHO-5


@pytest.mark.parametrize(("total", "expected"), [(39, None), (40, "medium"), (44, "medium"), (45, "high")])
def test_pcl5_rise_from_baseline(total, expected):
    flags = rules(evaluate_entry(checkin("pcl5", total=total), history(baseline={"pcl5": 30}), T))
    if expected is None:
        assert "pcl5_rise" not in flags
    else:
        assert flags["pcl5_rise"].severity == expected
        assert flags["pcl5_rise"].evidence["rise"] == total - 30


def test_pcl5_without_baseline_is_silent():
    assert evaluate_entry(checkin("pcl5", total=70), history(), T) == []


@pytest.mark.parametrize(("total", "fires"), [(14, False), (15, True)])
def test_gad7_total(total, fires):
    flags = rules(evaluate_entry(checkin("gad7", total=total), history(), T))
    assert ("gad7_total" in flags) is fires
    if fires:
        assert flags["gad7_total"].severity == "medium"


@pytest.mark.parametrize(("raw", "fires"), [(6, True), (7, True), (8, False)])
def test_who5_low(raw, fires):
    flags = rules(evaluate_entry(checkin("who5", total=raw * 4), history(), T))
    assert ("who5_low" in flags) is fires
    if fires:
        f = flags["who5_low"]
        assert f.severity == "medium"
        assert f.evidence["score"] == raw * 4
        assert f.evidence["suggest"] == "phq9"


def test_who5_score_28_vs_32():
    assert evaluate_entry(checkin("who5", total=28), history(), T)[0].evidence["score"] == 28
    assert evaluate_entry(checkin("who5", total=32), history(), T) == []
    unscored = checkin("who5", total=None, answers={f"q{i}": v for i, v in enumerate([2, 2, 1, 1, 1], 1)})
    assert evaluate_entry(unscored, history(), T)[0].evidence["score"] == 28


# -------------------- daily


def test_mood_low_two_consecutive_days():
    flags = evaluate_entry(daily(mood=2), history([past_daily(1, mood=2)]), T)
    f = only(flags, "mood_low_streak")
    assert f.severity == "medium"
    assert (f.evidence["mood"], f.evidence["previous_mood"]) == (2, 2)
    assert f.label is None


@pytest.mark.parametrize(("today", "yesterday"), [(3, 2), (2, 3)])
def test_mood_three_is_not_low(today, yesterday):
    flags = evaluate_entry(daily(mood=today), history([past_daily(1, mood=yesterday)]), T)
    assert "mood_low_streak" not in rules(flags)


def test_mood_low_today_but_previous_day_missing():
    # Low two days ago does not count: the previous calendar day has no entry.
    flags = evaluate_entry(daily(mood=1), history([past_daily(2, mood=1)]), T)
    assert "mood_low_streak" not in rules(flags)


def test_mood_low_uses_most_recent_entry_of_previous_day():
    h = history([past_daily(1, mood=5, hour=20), past_daily(1, mood=1, hour=8)])
    assert "mood_low_streak" not in rules(evaluate_entry(daily(mood=1), h, T))
    h2 = history([past_daily(1, mood=5, hour=8), past_daily(1, mood=1, hour=20)])
    assert "mood_low_streak" in rules(evaluate_entry(daily(mood=1), h2, T))


def test_previous_day_is_patient_local():
    # 23:30 local yesterday is already "today" in UTC; it must still count as the previous local day.
    tz = ZoneInfo("America/Los_Angeles")
    entry_at = datetime(2025, 3, 20, 9, 0, tzinfo=tz)
    late_yesterday = datetime(2025, 3, 19, 23, 30, tzinfo=tz)
    assert late_yesterday.astimezone(UTC).date() == entry_at.astimezone(UTC).date()
    h = history([PastCheckin("daily", {"mood": 1}, None, late_yesterday)], tz=tz)
    assert "mood_low_streak" in rules(evaluate_entry(daily(mood=1, at=entry_at), h, T))
    # The same instants read in UTC are the same day, so no previous-day streak.
    h_utc = history([PastCheckin("daily", {"mood": 1}, None, late_yesterday)], tz=ZoneInfo("UTC"))
    assert "mood_low_streak" not in rules(evaluate_entry(daily(mood=1, at=entry_at), h_utc, T))


def median_history(*moods):
    # moods[0] was yesterday, moods[1] the day before, ...
    return history([past_daily(i + 1, mood=m) for i, m in enumerate(moods)])


@pytest.mark.parametrize(("mood", "fires"), [(4, False), (3, True), (2, True)])
def test_mood_drop_from_7_day_median(mood, fires):
    h = median_history(6, 5, 7, 6, 6)  # median 6
    flags = rules(evaluate_entry(daily(mood=mood), h, T))
    assert ("mood_drop" in flags) is fires
    if fires:
        ev = flags["mood_drop"].evidence
        assert ev["median"] == 6
        assert ev["drop"] == 6 - mood
        assert len(ev["values"]) == 5


def test_mood_drop_needs_three_prior_values():
    assert "mood_drop" not in rules(evaluate_entry(daily(mood=1), median_history(8, 8), T))
    assert "mood_drop" in rules(evaluate_entry(daily(mood=1), median_history(8, 8, 8), T))


def test_mood_drop_ignores_days_older_than_seven():
    old = [past_daily(d, mood=9) for d in (8, 9, 10)]
    recent = [past_daily(d, mood=5) for d in (1, 2, 3)]
    flags = rules(evaluate_entry(daily(mood=3), history(old + recent), T))
    assert "mood_drop" not in flags  # median of the last 7 days is 5, drop 2
    flags = rules(evaluate_entry(daily(mood=2), history(old + recent), T))
    assert flags["mood_drop"].evidence["median"] == 5


@pytest.mark.parametrize(
    ("today", "yesterday", "fires"), [(3.5, 3.5, True), (4, 3.5, False), (3.5, 4, False), (0, 3.9, True)]
)
def test_sleep_short_two_nights(today, yesterday, fires):
    flags = rules(evaluate_entry(daily(hours=today), history([past_daily(1, hours=yesterday)]), T))
    assert ("sleep_short" in flags) is fires
    if fires:
        assert flags["sleep_short"].severity == "medium"
        assert flags["sleep_short"].evidence["hours_slept"] == today


def test_sleep_short_needs_previous_day():
    assert evaluate_entry(daily(hours=2), history([past_daily(2, hours=2)]), T) == []


@pytest.mark.parametrize(("days_since_dose", "labelled"), [(0, True), (3, True), (5, True), (6, False)])
def test_post_session_label(days_since_dose, labelled):
    h = history([past_daily(1, mood=1)], last_dose_at=NOW - timedelta(days=days_since_dose))
    f = only(evaluate_entry(daily(mood=1), h, T), "mood_low_streak")
    # Never suppressed: the flag is there either way, only the label differs.
    assert f.severity == "medium"
    assert f.label == (POST_SESSION_LABEL if labelled else None)
    if labelled:
        assert f.evidence["days_since_dose"] == days_since_dose


def test_post_session_label_not_applied_to_crisis_language():
    h = history([past_daily(1, mood=1)], last_dose_at=NOW - timedelta(days=2))
    flags = rules(evaluate_entry(daily(mood=1, text="I want to die"), h, T))
    assert flags["mood_low_streak"].label == POST_SESSION_LABEL
    assert flags["crisis_language"].label is None


def test_post_session_window_configurable():
    h = history([past_daily(1, mood=1)], last_dose_at=NOW - timedelta(days=6))
    t = thresholds_from_dict({"post_session_window_days": 7})
    assert only(evaluate_entry(daily(mood=1), h, t), "mood_low_streak").label == POST_SESSION_LABEL


# -------------------- crisis language


def test_crisis_language_in_reflection():
    entry = Entry("reflection", None, {}, None, {}, NOW, "Some days I am not going to hurt myself, I promise")
    f = only(evaluate_entry(entry, history(), T), "crisis_language")
    assert f.severity == "high"
    assert f.evidence["matches"] == [
        {
            "phrase": "hurt myself",
            "category": "self_harm",
            "negated": True,
            "context": "Some days I am not going to hurt myself, I promise",
        }
    ]


def test_crisis_language_in_daily_note_adds_to_other_flags():
    entry = daily(mood=1, text="I don\u2019t want to be here anymore")
    flags = rules(evaluate_entry(entry, history([past_daily(1, mood=1)]), T))
    assert set(flags) == {"mood_low_streak", "crisis_language"}
    assert flags["crisis_language"].evidence["matches"][0]["category"] == "wish_to_die"


def test_crisis_language_on_instrument_checkin_note_does_not_remove_instrument_flags():
    entry = checkin("phq9", {"q9": 2}, total=22, text="I want to kill myself")
    flags = rules(evaluate_entry(entry, history(), T))
    assert set(flags) == {"phq9_item9", "phq9_total", "crisis_language"}
    assert flags["phq9_item9"].severity == "urgent"


def test_no_text_or_clean_text_no_crisis_flag():
    assert evaluate_entry(Entry("reflection", None, {}, None, {}, NOW, None), history(), T) == []
    clean = Entry("reflection", None, {}, None, {}, NOW, "I felt calm and went for a walk")
    assert evaluate_entry(clean, history(), T) == []


def test_all_flag_evidence_is_json_serialisable():
    h = history(
        [past_daily(1, mood=1, hours=2), *[past_daily(d, mood=8) for d in (2, 3, 4)]],
        last_dose_at=NOW - timedelta(days=1),
    )
    flags = evaluate_entry(daily(mood=1, hours=2, text="end it all"), h, T)
    assert {f.rule for f in flags} == {"mood_low_streak", "mood_drop", "sleep_short", "crisis_language"}
    assert all(f.rule in RULES for f in flags)
    json.dumps([f.evidence for f in flags])


# -------------------- missed prompts


def prompt(day, state="expired", weekly=False, offset_hours=0):
    return MissedPrompt(NOW + timedelta(days=day, hours=offset_hours), day, state, weekly)


def test_two_consecutive_expired_in_first_week():
    f = evaluate_missed([prompt(1), prompt(2)], T)
    assert f is not None
    assert (f.rule, f.severity, f.evidence["count"]) == ("missed_prompts", "low", 2)


def test_one_expired_is_not_enough():
    assert evaluate_missed([prompt(1, "completed"), prompt(2)], T) is None


def test_completed_breaks_streak():
    assert evaluate_missed([prompt(1), prompt(2, "completed"), prompt(3)], T) is None


def test_streak_after_completion_counts():
    assert evaluate_missed([prompt(1), prompt(2, "completed"), prompt(3), prompt(4)], T) is not None


def test_input_order_does_not_matter():
    assert evaluate_missed([prompt(3), prompt(2, "completed"), prompt(1)], T) is None
    assert evaluate_missed([prompt(4), prompt(3), prompt(2, "completed")], T) is not None


def test_non_weekly_prompts_after_first_week_do_not_count():
    assert evaluate_missed([prompt(9), prompt(10)], T) is None


def test_two_expired_weekly_prompts_later():
    f = evaluate_missed([prompt(14, weekly=True), prompt(21, weekly=True)], T)
    assert f is not None
    assert [p["day"] for p in f.evidence["prompts"]] == [14, 21]


def test_weekly_later_broken_by_completion():
    prompts = [prompt(14, weekly=True), prompt(21, "completed", weekly=True), prompt(28, weekly=True)]
    assert evaluate_missed(prompts, T) is None


def test_pending_prompt_is_neutral():
    assert evaluate_missed([prompt(1), prompt(2, "pending"), prompt(3)], T) is not None


def test_missed_streak_threshold_configurable():
    t = thresholds_from_dict({"missed_streak": 3})
    assert evaluate_missed([prompt(1), prompt(2)], t) is None
    assert evaluate_missed([prompt(1), prompt(2), prompt(3)], t) is not None


def test_undeliverable_flag():
    f = undeliverable_flag(42, "no push token")
    assert (f.rule, f.severity) == ("undeliverable", "low")
    assert f.evidence == {"prompt_id": 42, "reason": "no push token"}


# -------------------- thresholds


def test_threshold_defaults():
    assert thresholds_to_dict(Thresholds()) == {
        "phq9_item9_high": 1,
        "phq9_item9_urgent": 2,
        "phq9_total_high": 20,
        "phq9_rise_high": 5,
        "pcl5_rise_medium": 10,
        "pcl5_rise_high": 15,
        "gad7_total_medium": 15,
        "who5_score_medium": 28,
        "daily_mood_low": 2,
        "daily_mood_drop_from_median": 3,
        "post_session_window_days": 5,
        "sleep_hours_low": 4,
        "missed_streak": 2,
        "cssrs_recent_months": 3,
    }


def test_thresholds_round_trip_and_partial_override():
    t = thresholds_from_dict({"gad7_total_medium": 12, "sleep_hours_low": 4.5})
    assert t.gad7_total_medium == 12
    assert t.sleep_hours_low == 4.5
    assert t.phq9_total_high == 20  # untouched default
    assert thresholds_from_dict(thresholds_to_dict(t)) == t


def test_custom_threshold_changes_rule():
    t = thresholds_from_dict({"gad7_total_medium": 12})
    assert "gad7_total" in rules(evaluate_entry(checkin("gad7", total=12), history(), t))
    assert "gad7_total" not in rules(evaluate_entry(checkin("gad7", total=12), history(), T))


def test_validate_thresholds_valid():
    assert validate_thresholds({}) == {}
    assert validate_thresholds(thresholds_to_dict(Thresholds())) == {}
    assert validate_thresholds({"daily_mood_drop_from_median": 2.5}) == {}


@pytest.mark.parametrize(
    ("d", "field", "fragment"),
    [
        ({"phq9_totl_high": 20}, "phq9_totl_high", "unknown"),
        ({"phq9_total_high": "20"}, "phq9_total_high", "integer"),
        ({"phq9_total_high": 20.0}, "phq9_total_high", "integer"),
        ({"phq9_total_high": True}, "phq9_total_high", "integer"),
        ({"phq9_total_high": None}, "phq9_total_high", "integer"),
        ({"sleep_hours_low": "4"}, "sleep_hours_low", "number"),
        ({"sleep_hours_low": float("nan")}, "sleep_hours_low", "number"),
        ({"phq9_total_high": 28}, "phq9_total_high", "between"),
        ({"phq9_total_high": 0}, "phq9_total_high", "between"),
        ({"phq9_item9_high": 4}, "phq9_item9_high", "between"),
        ({"sleep_hours_low": 25}, "sleep_hours_low", "between"),
        ({"who5_score_medium": -1}, "who5_score_medium", "between"),
        ({"missed_streak": 0}, "missed_streak", "between"),
        ({"phq9_item9_urgent": 1, "phq9_item9_high": 2}, "phq9_item9_urgent", ">="),
        ({"pcl5_rise_high": 8}, "pcl5_rise_high", ">="),  # below default medium (10)
    ],
)
def test_validate_thresholds_errors(d, field, fragment):
    errors = validate_thresholds(d)
    assert field in errors, errors
    assert any(fragment in msg for msg in errors[field]), errors
    with pytest.raises(ValueError):
        thresholds_from_dict(d)


def test_validate_thresholds_reports_each_field():
    errors = validate_thresholds({"bogus": 1, "gad7_total_medium": "x", "missed_streak": 2})
    assert set(errors) == {"bogus", "gad7_total_medium"}


def test_validate_thresholds_non_dict():
    assert validate_thresholds([1, 2]) == {"_schema": ["must be an object"]}  # type: ignore[arg-type]
