"""C-SSRS Screener (Columbia Suicide Severity Rating Scale, screen version; Posner et al. 2011)."""

from api.domain.instruments.model import YES_NO, Instrument, Item

_IF_ACTIVE_THOUGHTS = ("q2", 1)

DEFINITION = Instrument(
    id="cssrs_screener",
    version="1.0",
    title="C-SSRS Screener",
    instructions=(
        "Questions 1 to 5 ask about the past month. Question 6 asks about your whole life. "
        "Please answer yes or no."
    ),
    source=(
        "Posner K, Brown GK, Stanley B, et al. The Columbia-Suicide Severity Rating Scale: initial "
        "validity and internal consistency findings from three multisite studies with adolescents "
        "and adults. Am J Psychiatry. 2011;168(12):1266-1277. Columbia Lighthouse Project. "
        "Electronic self-report administration requires a licence (Columbia Lighthouse Project / "
        "Clario); disabled by default until one is in place."
    ),
    recall_period="Past month (q1-q5); lifetime, with past 3 months follow-up (q6)",
    scoring="cssrs",
    items=(
        Item(
            "q1",
            "Have you wished you were dead or wished you could go to sleep and not wake up?",
            "boolean",
            options=YES_NO,
        ),
        Item("q2", "Have you actually had any thoughts of killing yourself?", "boolean", options=YES_NO),
        # Per the screener's skip logic, 3-5 are asked only after a yes to 2.
        Item(
            "q3",
            "Have you been thinking about how you might do this?",
            "boolean",
            options=YES_NO,
            shown_if=_IF_ACTIVE_THOUGHTS,
        ),
        Item(
            "q4",
            "Have you had these thoughts and had some intention of acting on them?",
            "boolean",
            options=YES_NO,
            shown_if=_IF_ACTIVE_THOUGHTS,
        ),
        Item(
            "q5",
            "Have you started to work out or worked out the details of how to kill yourself? "
            "Do you intend to carry out this plan?",
            "boolean",
            options=YES_NO,
            shown_if=_IF_ACTIVE_THOUGHTS,
        ),
        Item(
            "q6",
            "Have you ever done anything, started to do anything, or prepared to do anything to "
            "end your life? (For example: collected pills, obtained a gun, gave away valuables, wrote "
            "a will or suicide note, took out pills but didn't swallow any, held a gun but changed "
            "your mind or it was grabbed from your hand, went to the roof but didn't jump; or actually "
            "took pills, tried to shoot yourself, cut yourself, tried to hang yourself, etc.)",
            "boolean",
            options=YES_NO,
        ),
        Item(
            "q6_recent", "Was this within the past 3 months?", "boolean", options=YES_NO, shown_if=("q6", 1)
        ),
    ),
    risk_items=("q1", "q2", "q3", "q4", "q5", "q6", "q6_recent"),
    # The electronic self-report version is licensed; a clinic must opt in.
    enabled_by_default=False,
)
