"""PHQ-9 depression severity (Kroenke, Spitzer & Williams 2001)."""

from api.domain.instruments.model import Band, Instrument, Item, Option

# Shared with PHQ-2 so the two screeners can never drift apart in wording.
OPTIONS = (
    Option(0, "Not at all"),
    Option(1, "Several days"),
    Option(2, "More than half the days"),
    Option(3, "Nearly every day"),
)

INSTRUCTIONS = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"

_TEXTS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
    "fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)

ITEMS = tuple(Item(f"q{n}", text, "choice", options=OPTIONS) for n, text in enumerate(_TEXTS, start=1))

DEFINITION = Instrument(
    id="phq9",
    version="1.0",
    title="PHQ-9",
    instructions=INSTRUCTIONS,
    source=(
        "Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity "
        "measure. J Gen Intern Med. 2001;16(9):606-613. Developed by Drs. Robert L. Spitzer, Janet B.W. "
        "Williams, Kurt Kroenke and colleagues, with an educational grant from Pfizer Inc. "
        "No permission required to reproduce, translate, display or distribute."
    ),
    recall_period="Past 2 weeks",
    scoring="sum",
    items=ITEMS,
    total_range=(0, 27),
    bands=(
        Band(0, "Minimal"),
        Band(5, "Mild"),
        Band(10, "Moderate"),
        Band(15, "Moderately severe"),
        Band(20, "Severe"),
    ),
    # Any non-zero answer to q9 (thoughts of death or self-harm) needs clinician attention
    # regardless of the total.
    risk_items=("q9",),
)
