"""GAD-2 anxiety screener: the first two GAD-7 items (Kroenke et al. 2007)."""

from api.domain.instruments import gad7
from api.domain.instruments.model import Instrument

DEFINITION = Instrument(
    id="gad2",
    version="1.0",
    title="GAD-2",
    instructions=gad7.INSTRUCTIONS,
    source=(
        "Kroenke K, Spitzer RL, Williams JBW, Monahan PO, Löwe B. Anxiety disorders in primary care: "
        "prevalence, impairment, comorbidity, and detection. Ann Intern Med. 2007;146(5):317-325. "
        "Items 1-2 of the GAD-7 (Spitzer et al. 2006, Pfizer Inc.); no permission required to "
        "reproduce, translate, display or distribute."
    ),
    recall_period="Past 2 weeks",
    scoring="sum",
    items=gad7.ITEMS[:2],
    total_range=(0, 6),
    positive_at=3,
    positive_label="Positive anxiety screen",
)
