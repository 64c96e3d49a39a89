"""WHO-5 Well-Being Index (WHO Regional Office for Europe 1998; Topp et al. 2015)."""

from api.domain.instruments.model import Band, Instrument, Item, Option

# Highest first, as on the published form; values are what is scored.
OPTIONS = (
    Option(5, "All of the time"),
    Option(4, "Most of the time"),
    Option(3, "More than half of the time"),
    Option(2, "Less than half of the time"),
    Option(1, "Some of the time"),
    Option(0, "At no time"),
)

_TEXTS = (
    "I have felt cheerful and in good spirits",
    "I have felt calm and relaxed",
    "I have felt active and vigorous",
    "I woke up feeling fresh and rested",
    "My daily life has been filled with things that interest me",
)

DEFINITION = Instrument(
    id="who5",
    version="1.0",
    title="WHO-5 Well-Being Index",
    instructions=(
        "Please indicate for each of the five statements which is closest to how you have been "
        "feeling over the last two weeks."
    ),
    source=(
        "WHO Regional Office for Europe. Wellbeing measures in primary health care: the DepCare "
        "project. Copenhagen: WHO; 1998. Topp CW, Østergaard SD, Søndergaard S, Bech P. The WHO-5 "
        "Well-Being Index: a systematic review of the literature. Psychother Psychosom. "
        "2015;84(3):167-176. Free to use without permission (Psychiatric Research Unit, "
        "Mental Health Centre North Zealand)."
    ),
    recall_period="Past 2 weeks",
    # Raw 0-25 is multiplied by 4 to give the 0-100 percentage score the cut-offs refer to.
    scoring="sum_x4",
    items=tuple(Item(f"q{n}", text, "choice", options=OPTIONS) for n, text in enumerate(_TEXTS, start=1)),
    total_range=(0, 100),
    # <=28 screens for likely depression; <50 indicates poor wellbeing (Topp 2015).
    bands=(
        Band(0, "Likely depression"),
        Band(29, "Poor wellbeing"),
        Band(50, "Adequate wellbeing", code="adequate"),
    ),
)
