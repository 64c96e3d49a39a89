"""GAD-7 anxiety severity (Spitzer, Kroenke, Williams & Löwe 2006)."""

from api.domain.instruments.model import Band, Instrument, Item, Option

# Shared with GAD-2 so the two screeners can never drift apart in wording.
OPTIONS = (
    Option(0, "Not at all"),
    Option(1, "Several days"),
    Option(2, "More than half the days"),
    Option(3, "Nearly every day"),
)

INSTRUCTIONS = "Over the last 2 weeks, how often have you been bothered by the following problems?"

_TEXTS = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
)

ITEMS = tuple(Item(f"q{n}", text, "choice", options=OPTIONS) for n, text in enumerate(_TEXTS, start=1))

DEFINITION = Instrument(
    id="gad7",
    version="1.0",
    title="GAD-7",
    instructions=INSTRUCTIONS,
    source=(
        "Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing generalized "
        "anxiety disorder: the GAD-7. Arch Intern Med. 2006;166(10):1092-1097. Developed with an "
        "educational grant from Pfizer Inc. No permission required to reproduce, translate, display "
        "or distribute."
    ),
    recall_period="Past 2 weeks",
    scoring="sum",
    items=ITEMS,
    total_range=(0, 21),
    bands=(
        Band(0, "Minimal"),
        Band(5, "Mild"),
        Band(10, "Moderate"),
        Band(15, "Severe"),
    ),
)
