import json

import pytest

from api.domain.instruments import CATALOGUE
from api.domain.scoring import Score, score_response, score_to_dict, validate_response

PHQ9 = CATALOGUE["phq9"]
PHQ2 = CATALOGUE["phq2"]
GAD7 = CATALOGUE["gad7"]
GAD2 = CATALOGUE["gad2"]
PCL5 = CATALOGUE["pcl5"]
WHO5 = CATALOGUE["who5"]
DAILY = CATALOGUE["daily"]
CSSRS = CATALOGUE["cssrs_screener"]


def answers_summing_to(instrument, total):
    """Spread a raw total over the items, filling each up to its maximum option in turn."""
    answers = {}
    remaining = total
    for item in instrument.items:
        top = max(o.value for o in item.options)
        answers[item.id] = min(top, remaining)
        remaining -= answers[item.id]
    assert remaining == 0, "total out of range for this instrument"
    return answers


def all_items(instrument, value):
    return {item.id: value for item in instrument.items}


VALID_DAILY = {"mood": 6, "anxiety": 3, "hours_slept": 7.5, "sleep_quality": 3, "energy": 5}

# ---------------------------------------------------------------- validation: valid submissions


@pytest.mark.parametrize(
    ("instrument", "answers"),
    [
        (PHQ9, all_items(PHQ9, 0)),
        (PHQ9, all_items(PHQ9, 3)),
        (PHQ2, {"q1": 1, "q2": 2}),
        (GAD7, all_items(GAD7, 2)),
        (GAD2, {"q1": 0, "q2": 3}),
        (PCL5, all_items(PCL5, 4)),
        (WHO5, all_items(WHO5, 5)),
        (DAILY, VALID_DAILY),
        (DAILY, {**VALID_DAILY, "note": "Walked by the sea."}),
        (DAILY, {**VALID_DAILY, "note": None}),
        (DAILY, {**VALID_DAILY, "note": "x" * 2000}),
        (DAILY, {**VALID_DAILY, "hours_slept": 0}),
        (DAILY, {**VALID_DAILY, "hours_slept": 24}),
        (DAILY, {**VALID_DAILY, "mood": 0, "energy": 10}),
        (CSSRS, {"q1": 0, "q2": 0, "q6": 0}),
        (CSSRS, {"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 0, "q6": 1, "q6_recent": 0}),
    ],
)
def test_valid_answers_have_no_errors(instrument, answers):
    assert validate_response(instrument, "1.0", answers) == {}


# ---------------------------------------------------------------- validation: each error kind


def test_wrong_version():
    errors = validate_response(PHQ9, "0.9", all_items(PHQ9, 1))
    assert errors == {"instrument_version": ["Unknown version 0.9 of phq9; current is 1.0"]}


@pytest.mark.parametrize("version", ["", None])
def test_missing_version(version):
    errors = validate_response(PHQ9, version, all_items(PHQ9, 1))
    assert errors == {"instrument_version": ["Missing instrument version."]}


def test_missing_required_item():
    answers = all_items(PHQ9, 1)
    del answers["q3"]
    assert validate_response(PHQ9, "1.0", answers) == {"answers.q3": ["Missing answer."]}


def test_null_counts_as_missing():
    answers = {**all_items(PHQ9, 1), "q9": None}
    assert validate_response(PHQ9, "1.0", answers) == {"answers.q9": ["Missing answer."]}


def test_empty_submission_reports_every_item():
    errors = validate_response(GAD7, "1.0", {})
    assert errors == {f"answers.q{n}": ["Missing answer."] for n in range(1, 8)}


def test_unknown_item():
    answers = {**all_items(PHQ2, 1), "q3": 1}
    assert validate_response(PHQ2, "1.0", answers) == {"answers.q3": ["Unknown item."]}


@pytest.mark.parametrize("value", [4, -1, 1.5, 1.0, "1", True, False, [1]])
def test_choice_out_of_options_or_wrong_type(value):
    answers = {**all_items(PHQ9, 1), "q4": value}
    assert validate_response(PHQ9, "1.0", answers) == {"answers.q4": ["Must be one of 0, 1, 2, 3."]}


def test_who5_options_listed_in_published_order():
    answers = {**all_items(WHO5, 1), "q2": 6}
    assert validate_response(WHO5, "1.0", answers) == {"answers.q2": ["Must be one of 5, 4, 3, 2, 1, 0."]}


@pytest.mark.parametrize("value", [True, "yes", 2, -1])
def test_boolean_must_be_0_or_1(value):
    answers = {"q1": value, "q2": 0, "q6": 0}
    assert validate_response(CSSRS, "1.0", answers) == {"answers.q1": ["Must be one of 0, 1."]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (11, "Must be between 0 and 10."),
        (-1, "Must be between 0 and 10."),
        (5.5, "Must be a whole number."),
        ("5", "Must be a whole number."),
        (True, "Must be a whole number."),
    ],
)
def test_scale_range_and_type(value, message):
    answers = {**VALID_DAILY, "mood": value}
    assert validate_response(DAILY, "1.0", answers) == {"answers.mood": [message]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (24.5, "Must be between 0 and 24."),
        (-0.5, "Must be between 0 and 24."),
        (7.25, "Must be a multiple of 0.5."),
        ("7", "Must be a number."),
        (True, "Must be a number."),
        (float("nan"), "Must be a number."),
        (float("inf"), "Must be a number."),
    ],
)
def test_number_range_step_and_type(value, message):
    answers = {**VALID_DAILY, "hours_slept": value}
    assert validate_response(DAILY, "1.0", answers) == {"answers.hours_slept": [message]}


def test_text_too_long():
    answers = {**VALID_DAILY, "note": "x" * 2001}
    assert validate_response(DAILY, "1.0", answers) == {"answers.note": ["Must be at most 2000 characters."]}


def test_text_wrong_type():
    answers = {**VALID_DAILY, "note": 42}
    assert validate_response(DAILY, "1.0", answers) == {"answers.note": ["Must be text."]}


def test_optional_text_may_be_blank():
    assert validate_response(DAILY, "1.0", {**VALID_DAILY, "note": ""}) == {}


@pytest.mark.parametrize("item_id", ["q3", "q4", "q5"])
def test_cssrs_follow_up_answered_when_q2_is_no(item_id):
    answers = {"q1": 1, "q2": 0, "q6": 0, item_id: 0}
    assert validate_response(CSSRS, "1.0", answers) == {f"answers.{item_id}": ["Only asked when q2 is Yes."]}


def test_cssrs_follow_up_answered_when_q2_is_missing():
    answers = {"q1": 1, "q6": 0, "q3": 1}
    assert validate_response(CSSRS, "1.0", answers) == {
        "answers.q2": ["Missing answer."],
        "answers.q3": ["Only asked when q2 is Yes."],
    }


def test_cssrs_recent_answered_when_q6_is_no():
    answers = {"q1": 0, "q2": 0, "q6": 0, "q6_recent": 1}
    assert validate_response(CSSRS, "1.0", answers) == {"answers.q6_recent": ["Only asked when q6 is Yes."]}


def test_cssrs_true_does_not_open_branch():
    # JSON true is not 1: it is an invalid q2 and must not unlock q3-q5 either.
    answers = {"q1": 0, "q2": True, "q3": 1, "q4": 0, "q5": 0, "q6": 0}
    errors = validate_response(CSSRS, "1.0", answers)
    assert errors["answers.q2"] == ["Must be one of 0, 1."]
    assert errors["answers.q3"] == ["Only asked when q2 is Yes."]


def test_cssrs_follow_ups_required_when_shown():
    answers = {"q1": 1, "q2": 1, "q6": 1}
    assert validate_response(CSSRS, "1.0", answers) == {
        "answers.q3": ["Missing answer."],
        "answers.q4": ["Missing answer."],
        "answers.q5": ["Missing answer."],
        "answers.q6_recent": ["Missing answer."],
    }


def test_all_errors_reported_together():
    answers = {
        "mood": 11,
        "anxiety": "3",
        "sleep_quality": 5,
        "energy": True,
        "note": "x" * 2001,
        "steps": 9000,
    }
    errors = validate_response(DAILY, "2.0", answers)
    assert errors == {
        "instrument_version": ["Unknown version 2.0 of daily; current is 1.0"],
        "answers.steps": ["Unknown item."],
        "answers.mood": ["Must be between 0 and 10."],
        "answers.anxiety": ["Must be a whole number."],
        "answers.hours_slept": ["Missing answer."],
        "answers.sleep_quality": ["Must be one of 0, 1, 2, 3, 4."],
        "answers.energy": ["Must be a whole number."],
        "answers.note": ["Must be at most 2000 characters."],
    }


def test_answers_not_an_object():
    assert validate_response(PHQ9, "1.0", [1, 2, 3]) == {"answers": ["Must be an object."]}


# ---------------------------------------------------------------- scoring: sum instruments


@pytest.mark.parametrize(
    ("answers", "total", "band", "band_label"),
    [
        (all_items(PHQ9, 0), 0, "minimal", "Minimal"),
        (all_items(PHQ9, 1), 9, "mild", "Mild"),
        (all_items(PHQ9, 3), 27, "severe", "Severe"),
        (answers_summing_to(PHQ9, 4), 4, "minimal", "Minimal"),
        (answers_summing_to(PHQ9, 5), 5, "mild", "Mild"),
        (answers_summing_to(PHQ9, 9), 9, "mild", "Mild"),
        (answers_summing_to(PHQ9, 10), 10, "moderate", "Moderate"),
        (answers_summing_to(PHQ9, 14), 14, "moderate", "Moderate"),
        (answers_summing_to(PHQ9, 15), 15, "moderately_severe", "Moderately severe"),
        (answers_summing_to(PHQ9, 19), 19, "moderately_severe", "Moderately severe"),
        (answers_summing_to(PHQ9, 20), 20, "severe", "Severe"),
    ],
)
def test_phq9_totals_and_bands(answers, total, band, band_label):
    score = score_response(PHQ9, answers)
    assert (score.total, score.band, score.band_label) == (total, band, band_label)
    assert score.positive is None


@pytest.mark.parametrize("q9", [0, 1, 2, 3])
def test_phq9_reports_item_9_as_risk(q9):
    answers = {**all_items(PHQ9, 0), "q9": q9}
    score = score_response(PHQ9, answers)
    assert score.risk == {"q9": q9}
    assert score.total == q9


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_band_edges(total, band):
    score = score_response(GAD7, answers_summing_to(GAD7, total))
    assert (score.total, score.band) == (total, band)
    assert score.risk == {}


@pytest.mark.parametrize("instrument", [PHQ2, GAD2], ids=["phq2", "gad2"])
@pytest.mark.parametrize(
    ("answers", "total", "positive"),
    [
        ({"q1": 0, "q2": 0}, 0, False),
        ({"q1": 1, "q2": 1}, 2, False),
        ({"q1": 2, "q2": 1}, 3, True),
        ({"q1": 0, "q2": 3}, 3, True),
        ({"q1": 3, "q2": 3}, 6, True),
    ],
)
def test_two_item_screeners_positive_at_3(instrument, answers, total, positive):
    score = score_response(instrument, answers)
    assert (score.total, score.positive) == (total, positive)
    assert score.band is None and score.band_label is None


@pytest.mark.parametrize(("total", "positive"), [(0, False), (32, False), (33, True), (80, True)])
def test_pcl5_probable_ptsd_at_33(total, positive):
    score = score_response(PCL5, answers_summing_to(PCL5, total))
    assert (score.total, score.positive) == (total, positive)
    assert score.band is None


@pytest.mark.parametrize(
    ("raw", "total", "band", "band_label"),
    [
        (0, 0, "likely_depression", "Likely depression"),
        (7, 28, "likely_depression", "Likely depression"),
        (8, 32, "poor_wellbeing", "Poor wellbeing"),
        (12, 48, "poor_wellbeing", "Poor wellbeing"),
        (13, 52, "adequate", "Adequate wellbeing"),
        (25, 100, "adequate", "Adequate wellbeing"),
    ],
)
def test_who5_percentage_score_and_bands(raw, total, band, band_label):
    score = score_response(WHO5, answers_summing_to(WHO5, raw))
    assert (score.total, score.band, score.band_label) == (total, band, band_label)


def test_who5_band_boundaries_on_percentage_scale():
    # Raw sums are multiples of 4, so check the boundaries the bands are defined on directly.
    codes = {band.minimum: band.code for band in WHO5.bands}
    assert codes == {0: "likely_depression", 29: "poor_wellbeing", 50: "adequate"}


def test_daily_check_in_is_not_scored():
    score = score_response(DAILY, {**VALID_DAILY, "note": "ok"})
    assert score == Score(total=None, band=None, band_label=None, positive=None, risk={})


# ---------------------------------------------------------------- scoring: C-SSRS triage


@pytest.mark.parametrize(
    ("answers", "triage"),
    [
        ({"q1": 0, "q2": 0, "q6": 0}, "none"),
        ({"q1": 1, "q2": 0, "q6": 0}, "low"),
        ({"q1": 0, "q2": 1, "q3": 0, "q4": 0, "q5": 0, "q6": 0}, "low"),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0, "q6": 0}, "moderate"),
        ({"q1": 0, "q2": 0, "q6": 1, "q6_recent": 0}, "moderate"),
        ({"q1": 1, "q2": 1, "q3": 0, "q4": 1, "q5": 0, "q6": 0}, "high"),
        ({"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 1, "q6": 0}, "high"),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 1, "q6": 1, "q6_recent": 1}, "high"),
        ({"q1": 0, "q2": 0, "q6": 1, "q6_recent": 1}, "high"),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0, "q6": 1, "q6_recent": 0}, "moderate"),
    ],
)
def test_cssrs_triage(answers, triage):
    assert validate_response(CSSRS, "1.0", answers) == {}, "fixture must be a valid submission"
    score = score_response(CSSRS, answers)
    assert score.risk == {"triage": triage}
    assert (score.total, score.band, score.positive) == (None, None, None)


# ---------------------------------------------------------------- score_to_dict


def test_score_to_dict_round_trips_through_json():
    score = score_response(PHQ9, {**all_items(PHQ9, 2), "q9": 1})
    data = score_to_dict(score)
    assert data == {
        "total": 17,
        "band": "moderately_severe",
        "band_label": "Moderately severe",
        "positive": None,
        "risk": {"q9": 1},
    }
    assert json.loads(json.dumps(data)) == data


def test_score_to_dict_for_screener_and_cssrs():
    assert score_to_dict(score_response(PCL5, answers_summing_to(PCL5, 40))) == {
        "total": 40,
        "band": None,
        "band_label": None,
        "positive": True,
        "risk": {},
    }
    assert score_to_dict(score_response(CSSRS, {"q1": 1, "q2": 0, "q6": 0}))["risk"] == {"triage": "low"}


def test_score_to_dict_copies_risk():
    score = score_response(PHQ9, all_items(PHQ9, 1))
    data = score_to_dict(score)
    data["risk"]["q9"] = 3
    assert score.risk == {"q9": 1}
