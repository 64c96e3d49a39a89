"""Daily check-in: short project-authored self-report, tracked over time rather than scored."""

from api.domain.instruments.model import Instrument, Item, Option

DEFINITION = Instrument(
    id="daily",
    version="1.0",
    title="Daily check-in",
    instructions="A quick check-in about how you are today. There are no right or wrong answers.",
    source=(
        "Project-authored daily check-in for the integration phase; not a validated instrument "
        "and not scored. No licence restrictions."
    ),
    recall_period="Today (sleep: last night)",
    scoring="none",
    items=(
        Item(
            "mood",
            "How is your mood today?",
            "scale",
            minimum=0,
            maximum=10,
            step=1,
            anchors=("Very low", "Very good"),
        ),
        Item(
            "anxiety",
            "How anxious do you feel today?",
            "scale",
            minimum=0,
            maximum=10,
            step=1,
            anchors=("Not at all anxious", "Extremely anxious"),
        ),
        Item(
            "hours_slept",
            "How many hours did you sleep last night?",
            "number",
            minimum=0,
            maximum=24,
            step=0.5,
            anchors=("0 hours", "24 hours"),
        ),
        Item(
            "sleep_quality",
            "How well did you sleep last night?",
            "choice",
            options=(
                Option(0, "Very poor"),
                Option(1, "Poor"),
                Option(2, "Fair"),
                Option(3, "Good"),
                Option(4, "Very good"),
            ),
        ),
        Item(
            "energy",
            "How much energy do you have today?",
            "scale",
            minimum=0,
            maximum=10,
            step=1,
            anchors=("No energy", "Full of energy"),
        ),
        Item(
            "note",
            "Anything else you would like to note about today?",
            "text",
            max_length=2000,
            required=False,
        ),
    ),
)
