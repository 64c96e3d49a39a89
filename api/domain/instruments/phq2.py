"""PHQ-2 depression screener: the first two PHQ-9 items (Kroenke, Spitzer & Williams 2003)."""

from api.domain.instruments import phq9
from api.domain.instruments.model import Instrument

DEFINITION = Instrument(
    id="phq2",
    version="1.0",
    title="PHQ-2",
    instructions=phq9.INSTRUCTIONS,
    source=(
        "Kroenke K, Spitzer RL, Williams JBW. The Patient Health Questionnaire-2: validity of a "
        "two-item depression screener. Med Care. 2003;41(11):1284-1292. Items 1-2 of the PHQ-9 "
        "(Pfizer Inc.); no permission required to reproduce, translate, display or distribute."
    ),
    recall_period="Past 2 weeks",
    scoring="sum",
    items=phq9.ITEMS[:2],
    total_range=(0, 6),
    positive_at=3,
    positive_label="Positive depression screen",
)
