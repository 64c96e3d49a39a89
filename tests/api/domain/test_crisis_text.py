import pytest

from api.domain.crisis_text import LEXICON, TextMatch, screen_text


def phrases(text):
    return [(m.phrase, m.category) for m in screen_text(text)]


def only(text):
    matches = screen_text(text)
    assert len(matches) == 1, matches
    return matches[0]


def test_lexicon_is_inspectable_and_covers_categories():
    assert set(LEXICON) == {"self_harm", "suicide", "wish_to_die", "hopelessness", "plan_means"}
    assert "kill myself" in LEXICON["suicide"]
    assert "hurt myself" in LEXICON["self_harm"]
    assert "pills" not in LEXICON["plan_means"]
    with pytest.raises(TypeError):
        LEXICON["suicide"] = ()  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "phrase", "category"),
    [
        ("Sometimes I want to hurt myself", "hurt myself", "self_harm"),
        ("I cut myself last week", "cut myself", "self_harm"),
        ("thinking about self harm again", "self-harm", "self_harm"),
        ("thinking about self-harm again", "self-harm", "self_harm"),
        ("I could harm myself", "harm myself", "self_harm"),
        ("I want to kill myself", "kill myself", "suicide"),
        ("feeling suicidal tonight", "suicidal", "suicide"),
        ("I might end my life", "end my life", "suicide"),
        ("I could take my own life", "take my own life", "suicide"),
        ("just end it all", "end it all", "suicide"),
        ("I just want to die", "want to die", "wish_to_die"),
        ("I wish I was dead", "wish i was dead", "wish_to_die"),
        ("I wish I were dead", "wish i were dead", "wish_to_die"),
        ("everyone is better off dead", "better off dead", "wish_to_die"),
        ("I don't want to wake up", "don't want to wake up", "wish_to_die"),
        ("I don't want to be here anymore", "don't want to be here anymore", "wish_to_die"),
        ("I don't want to be alive", "don't want to be alive", "wish_to_die"),
        ("there is no reason to live", "no reason to live", "hopelessness"),
        ("I have nothing to live for", "nothing to live for", "hopelessness"),
        ("there's no way out", "no way out", "hopelessness"),
        ("I can't go on", "can't go on", "hopelessness"),
        ("I have been stockpiling my meds", "stockpiling", "plan_means"),
        ("thought about an overdose", "overdose", "plan_means"),
        ("I might hang myself", "hang myself", "plan_means"),
        ("I could jump off the bridge", "jump off", "plan_means"),
        ("I keep looking at the gun", "the gun", "plan_means"),
        ("I bought a rope", "bought a rope", "plan_means"),
    ],
)
def test_each_category_matches(text, phrase, category):
    assert (phrase, category) in phrases(text)


@pytest.mark.parametrize(
    "text",
    [
        "I WANT TO KILL MYSELF",
        "i want to Kill Myself",
        "I want to kill   myself",
        "I want to kill\nmyself",
        "I want to kill myself!!!",
        "I want to kill-myself",
        "(kill myself)",
    ],
)
def test_case_whitespace_and_punctuation_folding(text):
    m = only(text)
    assert (m.phrase, m.category, m.negated) == ("kill myself", "suicide", False)


@pytest.mark.parametrize(
    "text",
    [
        "I don't want to wake up",
        "I don\u2019t want to wake up",  # curly apostrophe
        "I don\u2018t want to wake up",
        "I dont want to wake up",
        "I do not want to wake up",
        "I DON'T WANT TO WAKE UP",
    ],
)
def test_apostrophe_and_contraction_variants(text):
    m = only(text)
    assert m.phrase == "don't want to wake up"
    assert m.category == "wish_to_die"
    # The "not" inside the phrase itself is not a negation of the phrase.
    assert m.negated is False


@pytest.mark.parametrize("text", ["I can\u2019t go on", "I cant go on", "I cannot go on", "I can not go on"])
def test_cant_variants(text):
    assert phrases(text) == [("can't go on", "hopelessness")]


@pytest.mark.parametrize(
    "text",
    [
        "I need to skill myself up for the new job",
        "Trying to upskill myself",
        "I took my pills this morning",  # bare medication talk is not a plan/means phrase
        "My mood was better today",
        "suicidally",  # not the word "suicidal"
        "the gunnery range",
        "painful wanting to dine",
    ],
)
def test_word_boundaries_and_non_matches(text):
    assert screen_text(text) == []


def test_false_positive_on_prevention_class_is_accepted():
    assert phrases("I went to a suicide prevention class") == [("suicide", "suicide")]


@pytest.mark.parametrize(
    "text",
    [
        "I am not going to hurt myself",
        "I'm not going to hurt myself",
        "I would never hurt myself",
        "I won't hurt myself",
        "I wouldn\u2019t hurt myself",
        "I don't hurt myself anymore",
        "no, never hurt myself",
    ],
)
def test_negated_match_is_still_returned(text):
    m = only(text)
    assert m.phrase == "hurt myself"
    assert m.negated is True


def test_negation_outside_window_is_not_negation():
    m = only("I am not sure whether today I want to hurt myself")
    assert m.negated is False


def test_negation_does_not_cross_sentence_or_comma():
    assert only("I'm not ok. I want to die").negated is False
    assert only("No, I want to die").negated is False
    assert only("I'm not sleeping but I want to die").negated is False


def test_not_suicidal_is_negated():
    m = only("I\u2019m not suicidal, just tired")
    assert (m.phrase, m.negated) == ("suicidal", True)


def test_multiple_matches_in_order_with_mixed_negation():
    text = "I won't kill myself. But some days I want to die."
    matches = screen_text(text)
    assert [(m.phrase, m.negated) for m in matches] == [("kill myself", True), ("want to die", False)]


def test_context_is_original_text_around_match():
    before = "x" * 100
    after = "y" * 100
    text = f"{before} I don\u2019t want to wake up {after}"
    m = only(text)
    # Original spelling (curly apostrophe, case) is preserved in the snippet.
    assert "I don\u2019t want to wake up" in m.context
    assert m.context in text
    # ~60 characters either side, not the whole text.
    assert m.context.startswith("x")
    assert m.context.endswith("y")
    assert m.context.count("x") == 60 - len(" I ")
    assert m.context.count("y") == 60 - 1
    assert len(m.context) < len(text)


def test_context_short_text_is_whole_text():
    assert only("  Kill Myself  ").context == "Kill Myself"


def test_contained_shorter_phrase_of_same_category_is_not_duplicated():
    assert phrases("I don't want to be here anymore") == [("don't want to be here anymore", "wish_to_die")]


def test_returns_textmatch_instances_and_empty_input():
    assert screen_text("") == []
    m = only("suicidal")
    assert isinstance(m, TextMatch)
    with pytest.raises(AttributeError):
        m.negated = True  # type: ignore[misc]
