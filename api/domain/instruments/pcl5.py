"""PCL-5 PTSD symptom checklist for DSM-5 (Weathers et al. 2013), past-month version."""

from api.domain.instruments.model import Instrument, Item, Option

OPTIONS = (
    Option(0, "Not at all"),
    Option(1, "A little bit"),
    Option(2, "Moderately"),
    Option(3, "Quite a bit"),
    Option(4, "Extremely"),
)

_TEXTS = (
    "Repeated, disturbing, and unwanted memories of the stressful experience?",
    "Repeated, disturbing dreams of the stressful experience?",
    "Suddenly feeling or acting as if the stressful experience were actually happening again "
    "(as if you were actually back there reliving it)?",
    "Feeling very upset when something reminded you of the stressful experience?",
    "Having strong physical reactions when something reminded you of the stressful experience "
    "(for example, heart pounding, trouble breathing, sweating)?",
    "Avoiding memories, thoughts, or feelings related to the stressful experience?",
    "Avoiding external reminders of the stressful experience (for example, people, places, "
    "conversations, activities, objects, or situations)?",
    "Trouble remembering important parts of the stressful experience?",
    "Having strong negative beliefs about yourself, other people, or the world (for example, having "
    "thoughts such as: I am bad, there is something seriously wrong with me, no one can be trusted, "
    "the world is completely dangerous)?",
    "Blaming yourself or someone else for the stressful experience or what happened after it?",
    "Having strong negative feelings such as fear, horror, anger, guilt, or shame?",
    "Loss of interest in activities that you used to enjoy?",
    "Feeling distant or cut off from other people?",
    "Trouble experiencing positive feelings (for example, being unable to feel happiness or have "
    "loving feelings for people close to you)?",
    "Irritable behavior, angry outbursts, or acting aggressively?",
    "Taking too many risks or doing things that could cause you harm?",
    'Being "superalert" or watchful or on guard?',
    "Feeling jumpy or easily startled?",
    "Having difficulty concentrating?",
    "Trouble falling or staying asleep?",
)

DEFINITION = Instrument(
    id="pcl5",
    version="1.0",
    title="PCL-5",
    # Original says "circle one of the numbers"; reworded only for on-screen selection.
    instructions=(
        "Below is a list of problems that people sometimes have in response to a very stressful "
        "experience. Please read each problem carefully and then choose the answer that indicates how "
        "much you have been bothered by that problem in the past month. "
        "In the past month, how much were you bothered by:"
    ),
    source=(
        "Weathers FW, Litz BT, Keane TM, Palmieri PA, Marx BP, Schnurr PP. The PTSD Checklist for "
        "DSM-5 (PCL-5). 2013. Scale available from the National Center for PTSD at www.ptsd.va.gov. "
        "Public domain (U.S. Department of Veterans Affairs, National Center for PTSD)."
    ),
    recall_period="Past month",
    scoring="sum",
    items=tuple(Item(f"q{n}", text, "choice", options=OPTIONS) for n, text in enumerate(_TEXTS, start=1)),
    total_range=(0, 80),
    # National Center for PTSD suggests a provisional cut-point of 31-33; 33 is the more conservative.
    positive_at=33,
    positive_label="Probable PTSD",
)
