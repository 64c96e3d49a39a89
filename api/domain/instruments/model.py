"""Immutable description of a questionnaire: its items, answer options and how it is scored.

Instruments are plain data so the API can serve them to the app unchanged and the scoring
code can stay pure. They are frozen because the catalogue is shared module state.
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass

# "boolean" is kept as its own kind (rather than a two-option choice) so the app can render a
# yes/no toggle; it always carries the options 0 = No / 1 Yes and is validated like a choice.
KINDS = frozenset({"choice", "scale", "number", "boolean", "text"})
SCORINGS = frozenset({"sum", "sum_x4", "none", "cssrs"})


@dataclass(frozen=True)
class Option:
    value: int
    label: str


YES_NO = (Option(0, "No"), Option(1, "Yes"))


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    kind: str
    _: KW_ONLY
    options: tuple[Option, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    max_length: int | None = None
    required: bool = True
    # (item_id, value): only asked, allowed and required when that item was answered with value.
    shown_if: tuple[str, int] | None = None
    # Labels for the two ends of a scale/number slider, e.g. ("Very low", "Very good").
    anchors: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        # Fail at import time rather than at the first patient submission.
        if self.kind not in KINDS:
            raise ValueError(f"Item {self.id}: unknown kind {self.kind!r}")
        if self.kind in ("choice", "boolean") and not self.options:
            raise ValueError(f"Item {self.id}: {self.kind} needs options")
        if self.kind in ("scale", "number") and (self.minimum is None or self.maximum is None):
            raise ValueError(f"Item {self.id}: {self.kind} needs minimum and maximum")
        if self.kind == "text" and self.max_length is None:
            raise ValueError(f"Item {self.id}: text needs max_length")

    def option_label(self, value: int) -> str | None:
        for option in self.options:
            if option.value == value:
                return option.label
        return None


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


@dataclass(frozen=True)
class Band:
    """Severity band starting at `minimum` (inclusive) and running up to the next band's minimum."""

    minimum: int
    label: str
    # Stable machine label stored with scores; derived from the human label unless given,
    # so relabelling for display does not silently change stored data if a code is pinned.
    code: str = ""

    def __post_init__(self) -> None:
        if not self.code:
            object.__setattr__(self, "code", _slug(self.label))


@dataclass(frozen=True, kw_only=True)
class Instrument:
    id: str
    version: str
    title: str
    instructions: str
    source: str
    items: tuple[Item, ...]
    scoring: str
    recall_period: str
    total_range: tuple[int, int] | None = None
    bands: tuple[Band, ...] = ()
    positive_at: int | None = None
    # Human meaning of total >= positive_at, e.g. "Probable PTSD".
    positive_label: str | None = None
    risk_items: tuple[str, ...] = ()
    enabled_by_default: bool = True

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValueError(f"Instrument {self.id}: unknown scoring {self.scoring!r}")

    def item(self, item_id: str) -> Item | None:
        for item in self.items:
            if item.id == item_id:
                return item
        return None


def _item_to_dict(item: Item) -> dict:
    return {
        "id": item.id,
        "text": item.text,
        "kind": item.kind,
        "options": [{"value": o.value, "label": o.label} for o in item.options],
        "minimum": item.minimum,
        "maximum": item.maximum,
        "step": item.step,
        "max_length": item.max_length,
        "required": item.required,
        "shown_if": (
            {"item": item.shown_if[0], "value": item.shown_if[1]} if item.shown_if is not None else None
        ),
        "anchors": list(item.anchors) if item.anchors is not None else None,
    }


def instrument_to_dict(instrument: Instrument) -> dict:
    """JSON-serialisable form served to the app, which renders questionnaires from it."""
    return {
        "id": instrument.id,
        "version": instrument.version,
        "title": instrument.title,
        "instructions": instrument.instructions,
        "source": instrument.source,
        "recall_period": instrument.recall_period,
        "scoring": instrument.scoring,
        "total_range": list(instrument.total_range) if instrument.total_range is not None else None,
        "bands": [{"minimum": b.minimum, "label": b.label, "code": b.code} for b in instrument.bands],
        "positive_at": instrument.positive_at,
        "positive_label": instrument.positive_label,
        "risk_items": list(instrument.risk_items),
        "enabled_by_default": instrument.enabled_by_default,
        "items": [_item_to_dict(item) for item in instrument.items],
    }
