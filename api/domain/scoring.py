"""Validation and scoring of questionnaire answers. Pure functions over the instrument catalogue.

Answers arrive as decoded JSON: {"q1": 2, "note": "..."}. Validation is strict about types
(a JSON true is not 1, "2" is not 2) because a silently coerced answer would change a clinical score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from api.domain.instruments.model import Band, Instrument, Item

_INTEGER_KINDS = ("choice", "boolean", "scale")


@dataclass(frozen=True)
class Score:
    total: int | None = None
    band: str | None = None  # machine label, e.g. "moderately_severe"
    band_label: str | None = None  # human label, e.g. "Moderately severe"
    positive: bool | None = None  # only for instruments with a screening cut-point
    risk: dict[str, object] = field(default_factory=dict)


def _is_int(value: object) -> bool:
    # bool is a subclass of int; a JSON true must not pass as an answer of 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _fmt(number: float) -> str:
    # Show 10 rather than 10.0 in messages.
    return str(int(number)) if float(number).is_integer() else str(number)


def _is_asked(instrument: Instrument, item: Item, answers: dict[str, object]) -> bool:
    if item.shown_if is None:
        return True
    controller_id, expected = item.shown_if
    controller = instrument.item(controller_id)
    if controller is None:
        return False
    value = answers.get(controller_id)
    # A controller that is itself hidden cannot enable its dependants.
    return _is_int(value) and value == expected and _is_asked(instrument, controller, answers)


def _hidden_message(instrument: Instrument, item: Item) -> str:
    assert item.shown_if is not None
    controller_id, expected = item.shown_if
    controller = instrument.item(controller_id)
    label = controller.option_label(expected) if controller is not None else None
    return f"Only asked when {controller_id} is {label if label is not None else expected}."


def _value_errors(item: Item, value: object) -> list[str]:
    if item.kind in ("choice", "boolean"):
        allowed = [option.value for option in item.options]
        if not _is_int(value) or value not in allowed:
            return [f"Must be one of {', '.join(str(v) for v in allowed)}."]
        return []
    if item.kind in ("scale", "number"):
        assert item.minimum is not None and item.maximum is not None
        if item.kind == "scale" and not _is_int(value):
            return ["Must be a whole number."]
        if item.kind == "number" and not _is_number(value):
            return ["Must be a number."]
        assert isinstance(value, int | float)
        if not item.minimum <= value <= item.maximum:
            return [f"Must be between {_fmt(item.minimum)} and {_fmt(item.maximum)}."]
        if item.kind == "number" and item.step:
            steps = (value - item.minimum) / item.step
            if not math.isclose(steps, round(steps), abs_tol=1e-9):
                return [f"Must be a multiple of {_fmt(item.step)}."]
        return []
    if item.kind == "text":
        if not isinstance(value, str):
            return ["Must be text."]
        if item.max_length is not None and len(value) > item.max_length:
            return [f"Must be at most {item.max_length} characters."]
        return []
    raise ValueError(f"Unhandled item kind {item.kind!r}")


def validate_response(
    instrument: Instrument, version: str, answers: dict[str, object]
) -> dict[str, list[str]]:
    """Return every problem with a submission, keyed by field ("instrument_version", "answers.q3").

    An empty dict means the submission is valid. All errors are collected so the app can show
    them at once instead of one per round trip.
    """
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not isinstance(version, str) or not version:
        add("instrument_version", "Missing instrument version.")
    elif version != instrument.version:
        add(
            "instrument_version",
            f"Unknown version {version} of {instrument.id}; current is {instrument.version}",
        )

    if not isinstance(answers, dict):
        add("answers", "Must be an object.")
        return errors

    known = {item.id for item in instrument.items}
    for key in answers:
        if key not in known:
            add(f"answers.{key}", "Unknown item.")

    for item in instrument.items:
        key = f"answers.{item.id}"
        value = answers.get(item.id)
        asked = _is_asked(instrument, item, answers)
        # null and a blank required text count as unanswered.
        unanswered = value is None or (item.kind == "text" and isinstance(value, str) and not value.strip())
        if unanswered:
            if asked and item.required:
                add(key, "Missing answer.")
            continue
        if not asked:
            add(key, _hidden_message(instrument, item))
            continue
        for message in _value_errors(item, value):
            add(key, message)

    return errors


def _band_for(bands: tuple[Band, ...], total: int) -> Band | None:
    found = None
    for band in sorted(bands, key=lambda b: b.minimum):
        if total >= band.minimum:
            found = band
    return found


def _cssrs_triage(answers: dict[str, object]) -> str:
    def yes(item_id: str) -> bool:
        value = answers.get(item_id)
        return _is_int(value) and value == 1

    # Highest level wins; ordering mirrors the Columbia screener's triage colours.
    if yes("q4") or yes("q5") or (yes("q6") and yes("q6_recent")):
        return "high"
    if yes("q3") or yes("q6"):
        return "moderate"
    if yes("q1") or yes("q2"):
        return "low"
    return "none"


def score_response(instrument: Instrument, answers: dict[str, object]) -> Score:
    """Score answers that have already passed validate_response."""
    if instrument.scoring == "none":
        return Score(risk={item_id: answers.get(item_id) for item_id in instrument.risk_items})
    if instrument.scoring == "cssrs":
        return Score(risk={"triage": _cssrs_triage(answers)})
    if instrument.scoring not in ("sum", "sum_x4"):
        raise ValueError(f"Unknown scoring {instrument.scoring!r} for {instrument.id}")

    raw = 0
    for item in instrument.items:
        value = answers.get(item.id)
        if item.kind in _INTEGER_KINDS and _is_int(value):
            assert isinstance(value, int)
            raw += value
    total = raw * 4 if instrument.scoring == "sum_x4" else raw

    band = _band_for(instrument.bands, total)
    return Score(
        total=total,
        band=band.code if band is not None else None,
        band_label=band.label if band is not None else None,
        positive=total >= instrument.positive_at if instrument.positive_at is not None else None,
        risk={item_id: answers.get(item_id) for item_id in instrument.risk_items},
    )


def score_to_dict(score: Score) -> dict:
    """JSON-serialisable form for storage alongside the response and for API output."""
    return {
        "total": score.total,
        "band": score.band,
        "band_label": score.band_label,
        "positive": score.positive,
        "risk": dict(score.risk),
    }
