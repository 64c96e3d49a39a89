import json

import pytest

from api.domain.instruments import CATALOGUE, get_instrument, instrument_to_dict
from api.domain.instruments.model import Band, Instrument, Item, Option

EXPECTED = {
    # id: (item count, total range, scoring, positive_at)
    "daily": (6, None, "none", None),
    "phq9": (9, (0, 27), "sum", None),
    "phq2": (2, (0, 6), "sum", 3),
    "gad7": (7, (0, 21), "sum", None),
    "gad2": (2, (0, 6), "sum", 3),
    "pcl5": (20, (0, 80), "sum", 33),
    "who5": (5, (0, 100), "sum_x4", None),
    "cssrs_screener": (7, None, "cssrs", None),
}


def test_catalogue_has_exactly_the_expected_instruments():
    assert set(CATALOGUE) == set(EXPECTED)


@pytest.mark.parametrize("instrument_id", sorted(EXPECTED))
def test_catalogue_keys_match_definition_ids(instrument_id):
    assert CATALOGUE[instrument_id].id == instrument_id
    assert get_instrument(instrument_id) is CATALOGUE[instrument_id]


def test_get_instrument_unknown_returns_none():
    assert get_instrument("beck") is None


@pytest.mark.parametrize(("instrument_id", "expected"), sorted(EXPECTED.items()))
def test_item_count_range_scoring_and_cut_point(instrument_id, expected):
    count, total_range, scoring, positive_at = expected
    instrument = CATALOGUE[instrument_id]
    assert len(instrument.items) == count
    assert instrument.total_range == total_range
    assert instrument.scoring == scoring
    assert instrument.positive_at == positive_at


@pytest.mark.parametrize("instrument", CATALOGUE.values(), ids=list(CATALOGUE))
def test_total_range_matches_item_options(instrument):
    # The declared range must be what summing the option values can actually produce.
    if instrument.scoring not in ("sum", "sum_x4"):
        assert instrument.total_range is None
        return
    low = sum(min(o.value for o in item.options) for item in instrument.items)
    high = sum(max(o.value for o in item.options) for item in instrument.items)
    factor = 4 if instrument.scoring == "sum_x4" else 1
    assert instrument.total_range == (low * factor, high * factor)


@pytest.mark.parametrize("instrument", CATALOGUE.values(), ids=list(CATALOGUE))
def test_structural_integrity(instrument):
    assert instrument.version == "1.0"
    assert instrument.title and instrument.instructions and instrument.recall_period
    assert instrument.source
    ids = [item.id for item in instrument.items]
    assert len(ids) == len(set(ids)), "item ids must be unique"
    for risk_item in instrument.risk_items:
        assert risk_item in ids
    seen: list[str] = []
    for item in instrument.items:
        if item.shown_if is not None:
            controller_id, value = item.shown_if
            # Branching must point backwards to a yes/no or choice item and a real option.
            assert controller_id in seen
            controller = instrument.item(controller_id)
            assert value in [o.value for o in controller.options]
        seen.append(item.id)
    minimums = [band.minimum for band in instrument.bands]
    assert minimums == sorted(minimums)
    assert len({band.code for band in instrument.bands}) == len(instrument.bands)
    if instrument.bands:
        assert minimums[0] == instrument.total_range[0]


def test_only_cssrs_is_disabled_by_default():
    disabled = {i.id for i in CATALOGUE.values() if not i.enabled_by_default}
    assert disabled == {"cssrs_screener"}
    assert "licen" in CATALOGUE["cssrs_screener"].source.lower()
    assert "Posner" in CATALOGUE["cssrs_screener"].source


@pytest.mark.parametrize(
    ("instrument_id", "citation"),
    [
        ("phq9", "Kroenke"),
        ("phq2", "Kroenke"),
        ("gad7", "Spitzer"),
        ("gad2", "Kroenke"),
        ("pcl5", "Weathers"),
        ("who5", "Topp"),
        ("cssrs_screener", "Posner"),
    ],
)
def test_sources_cite_the_publication(instrument_id, citation):
    assert citation in CATALOGUE[instrument_id].source


def test_phq9_wording_options_bands_and_risk_item():
    phq9 = CATALOGUE["phq9"]
    assert [o.label for o in phq9.items[0].options] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]
    assert [o.value for o in phq9.items[0].options] == [0, 1, 2, 3]
    assert phq9.items[0].text == "Little interest or pleasure in doing things"
    assert phq9.items[8].id == "q9"
    assert "better off dead" in phq9.items[8].text
    assert [(b.minimum, b.code) for b in phq9.bands] == [
        (0, "minimal"),
        (5, "mild"),
        (10, "moderate"),
        (15, "moderately_severe"),
        (20, "severe"),
    ]
    assert phq9.risk_items == ("q9",)
    assert phq9.recall_period == "Past 2 weeks"


def test_phq2_and_gad2_reuse_first_two_items_of_parent():
    assert CATALOGUE["phq2"].items == CATALOGUE["phq9"].items[:2]
    assert CATALOGUE["gad2"].items == CATALOGUE["gad7"].items[:2]


def test_gad7_bands():
    assert [(b.minimum, b.code) for b in CATALOGUE["gad7"].bands] == [
        (0, "minimal"),
        (5, "mild"),
        (10, "moderate"),
        (15, "severe"),
    ]


def test_pcl5_options_and_recall():
    pcl5 = CATALOGUE["pcl5"]
    assert [(o.value, o.label) for o in pcl5.items[0].options] == [
        (0, "Not at all"),
        (1, "A little bit"),
        (2, "Moderately"),
        (3, "Quite a bit"),
        (4, "Extremely"),
    ]
    assert pcl5.recall_period == "Past month"
    assert pcl5.positive_label == "Probable PTSD"
    assert "public domain" in pcl5.source.lower()
    assert pcl5.items[19].text == "Trouble falling or staying asleep?"


def test_who5_options_and_bands():
    who5 = CATALOGUE["who5"]
    labels = {o.value: o.label for o in who5.items[0].options}
    assert labels[0] == "At no time"
    assert labels[5] == "All of the time"
    assert sorted(labels) == [0, 1, 2, 3, 4, 5]
    assert [(b.minimum, b.code) for b in who5.bands] == [
        (0, "likely_depression"),
        (29, "poor_wellbeing"),
        (50, "adequate"),
    ]


def test_daily_check_in_items():
    daily = CATALOGUE["daily"]
    by_id = {item.id: item for item in daily.items}
    assert list(by_id) == ["mood", "anxiety", "hours_slept", "sleep_quality", "energy", "note"]
    for scale in ("mood", "anxiety", "energy"):
        assert (by_id[scale].kind, by_id[scale].minimum, by_id[scale].maximum) == ("scale", 0, 10)
    hours = by_id["hours_slept"]
    assert (hours.kind, hours.minimum, hours.maximum, hours.step) == ("number", 0, 24, 0.5)
    quality = by_id["sleep_quality"]
    assert [o.value for o in quality.options] == [0, 1, 2, 3, 4]
    assert quality.options[0].label == "Very poor"
    assert quality.options[-1].label == "Very good"
    note = by_id["note"]
    assert (note.kind, note.max_length, note.required) == ("text", 2000, False)
    assert all(item.required for item in daily.items if item.id != "note")


def test_cssrs_branching():
    cssrs = CATALOGUE["cssrs_screener"]
    shown_if = {item.id: item.shown_if for item in cssrs.items}
    assert shown_if == {
        "q1": None,
        "q2": None,
        "q3": ("q2", 1),
        "q4": ("q2", 1),
        "q5": ("q2", 1),
        "q6": None,
        "q6_recent": ("q6", 1),
    }
    for item in cssrs.items:
        assert item.kind == "boolean"
        assert [(o.value, o.label) for o in item.options] == [(0, "No"), (1, "Yes")]


def test_band_code_derived_from_label_unless_given():
    assert Band(15, "Moderately severe").code == "moderately_severe"
    assert Band(50, "Adequate wellbeing", code="adequate").code == "adequate"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "slider"},
        {"kind": "choice"},
        {"kind": "scale", "minimum": 0},
        {"kind": "text"},
    ],
)
def test_item_rejects_incomplete_definitions(kwargs):
    with pytest.raises(ValueError):
        Item("x", "X?", **kwargs)


def test_instrument_rejects_unknown_scoring():
    with pytest.raises(ValueError):
        Instrument(
            id="x",
            version="1.0",
            title="X",
            instructions="",
            source="",
            items=(),
            scoring="mean",
            recall_period="",
        )


def test_definitions_are_immutable():
    with pytest.raises(AttributeError):
        CATALOGUE["phq9"].version = "2.0"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Option(0, "No").value = 1  # type: ignore[misc]


@pytest.mark.parametrize("instrument", CATALOGUE.values(), ids=list(CATALOGUE))
def test_instrument_to_dict_is_json_and_complete(instrument):
    data = instrument_to_dict(instrument)
    # Must survive a JSON round trip unchanged: the app consumes exactly this.
    assert json.loads(json.dumps(data)) == data
    assert data["id"] == instrument.id
    assert data["version"] == instrument.version
    assert data["enabled_by_default"] == instrument.enabled_by_default
    assert [item["id"] for item in data["items"]] == [item.id for item in instrument.items]
    for item, item_data in zip(instrument.items, data["items"], strict=True):
        assert item_data["kind"] == item.kind
        assert item_data["required"] == item.required
        assert item_data["options"] == [{"value": o.value, "label": o.label} for o in item.options]


def test_instrument_to_dict_details():
    phq9 = instrument_to_dict(CATALOGUE["phq9"])
    assert phq9["total_range"] == [0, 27]
    assert phq9["bands"][3] == {"minimum": 15, "label": "Moderately severe", "code": "moderately_severe"}
    assert phq9["risk_items"] == ["q9"]
    assert phq9["positive_at"] is None

    cssrs = instrument_to_dict(CATALOGUE["cssrs_screener"])
    items = {item["id"]: item for item in cssrs["items"]}
    assert items["q3"]["shown_if"] == {"item": "q2", "value": 1}
    assert items["q1"]["shown_if"] is None
    assert cssrs["total_range"] is None
    assert cssrs["enabled_by_default"] is False

    daily = instrument_to_dict(CATALOGUE["daily"])
    hours = next(item for item in daily["items"] if item["id"] == "hours_slept")
    assert (hours["minimum"], hours["maximum"], hours["step"]) == (0, 24, 0.5)
    note = next(item for item in daily["items"] if item["id"] == "note")
    assert (note["max_length"], note["required"]) == (2000, False)
