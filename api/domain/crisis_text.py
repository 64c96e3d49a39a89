"""Crisis-language screen for free text (reflections, daily check-in notes).

Design goals, in order:
1. Never miss: false positives are acceptable (a clinician reviews every hit), misses are not.
2. Never suppress: negation is *reported* (``negated=True``) but the match is still returned.
3. Explainable: every match carries the canonical phrase, its category and a snippet of the
   patient's original words.

Matching works on word tokens rather than raw substrings, which gives word boundaries for free
("skill myself" never matches "kill myself") and lets us fold case, curly/straight apostrophes,
hyphens, repeated whitespace and common contractions ("dont", "don't", "do not") into one form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["CONTEXT_CHARS", "LEXICON", "NEGATION_WINDOW", "NEGATORS", "TextMatch", "screen_text"]


@dataclass(frozen=True)
class TextMatch:
    phrase: str  # canonical lexicon phrase (as listed in LEXICON), not the patient's spelling
    category: str
    negated: bool
    context: str  # snippet of the ORIGINAL text around the match (a substring of it)


# Category -> canonical phrases. Spelling variants that fold to the same tokens (hyphens, apostrophes,
# case, "dont"/"do not") need not be listed; genuinely different words (inflections) must be.
_LEXICON: dict[str, tuple[str, ...]] = {
    "self_harm": (
        "hurt myself",
        "hurting myself",
        "harm myself",
        "harming myself",
        "cut myself",
        "cutting myself",
        "burn myself",
        "burning myself",
        "self-harm",
        "self-harming",
        "self-harmed",
        "selfharm",
        "slit my wrists",
        "cut my wrists",
    ),
    "suicide": (
        "kill myself",
        "killing myself",
        "suicide",
        "suicidal",
        "end my life",
        "ending my life",
        "take my own life",
        "taking my own life",
        "take my life",
        "end it all",
        "ending it all",
        "unalive myself",
        "kms",
    ),
    "wish_to_die": (
        "want to die",
        "wanted to die",
        "wish i was dead",
        "wish i were dead",
        "wish i could die",
        "wish i wasn't alive",
        "wish i weren't alive",
        "better off dead",
        "better off without me",
        "don't want to wake up",
        "don't want to be here anymore",
        "don't want to be here",
        "don't want to be alive",
        "don't want to live",
        "don't want to exist",
    ),
    "hopelessness": (
        "no reason to live",
        "nothing to live for",
        "no point in living",
        "no point living",
        "no way out",
        "can't go on",
        "can't keep going",
        "can't do this anymore",
        "can't take it anymore",
    ),
    # Only phrases that signal a plan or access to means. Bare "pills" is deliberately absent: patients
    # routinely write about taking their prescribed medication.
    "plan_means": (
        "stockpiling",
        "stockpiled",
        "stockpile",
        "overdose",
        "overdosed",
        "overdosing",
        "od on",
        "a plan to",
        "made a plan",
        "have a plan",
        "hang myself",
        "hanging myself",
        "shoot myself",
        "drown myself",
        "poison myself",
        "jump off",
        "jumping off",
        "jump in front of",
        "the gun",
        "a gun",
        "my gun",
        "bought a rope",
        "buy a rope",
        "got a rope",
        "saving up pills",
        "saving my pills",
        "take all my pills",
        "take all the pills",
        "suicide note",
        "goodbye letter",
        "goodbye note",
    ),
}

# Read-only public view so callers (admin UI, audits) can inspect but not mutate the lexicon.
LEXICON: Mapping[str, tuple[str, ...]] = MappingProxyType(_LEXICON)

# Tokens (after folding/expansion) that mark the following phrase as negated. Contractions such as
# "don't", "won't", "wouldn't" expand to "... not", and "not going to"/"would never" contain "not"/"never".
NEGATORS: frozenset[str] = frozenset({"not", "never", "no"})
# How many tokens before a phrase we look for a negator ("a few words").
NEGATION_WINDOW = 3
# Characters of original text kept on each side of a match.
CONTEXT_CHARS = 60

# Contractions are expanded so "dont", "don't" and "do not" are the same token sequence.
_CONTRACTIONS: dict[str, tuple[str, ...]] = {
    "dont": ("do", "not"),
    "doesnt": ("does", "not"),
    "didnt": ("did", "not"),
    "cant": ("can", "not"),
    "cannot": ("can", "not"),
    "wont": ("will", "not"),
    "wouldnt": ("would", "not"),
    "shouldnt": ("should", "not"),
    "couldnt": ("could", "not"),
    "isnt": ("is", "not"),
    "arent": ("are", "not"),
    "wasnt": ("was", "not"),
    "werent": ("were", "not"),
    "havent": ("have", "not"),
    "hasnt": ("has", "not"),
    "hadnt": ("had", "not"),
    "aint": ("am", "not"),
    "im": ("i", "am"),
    "wanna": ("want", "to"),
    "gonna": ("going", "to"),
}

# Negation does not reach across a clause: "No, I want to die" / "I'm not ok. I want to die".
_CLAUSE_BREAK_CHARS = frozenset(".!?;:,\n\u2026")
_CLAUSE_BREAK_WORDS = frozenset({"and", "but", "so", "because", "though", "although", "however", "yet"})

# Curly and other look-alike apostrophes; each is one code point, so offsets are preserved.
_APOSTROPHES = str.maketrans({c: "'" for c in "\u2019\u2018\u02bc\u02b9\u0060\u00b4\u2032"})
# A word is letters/digits with optional internal apostrophes ("don't", "o'clock"). Hyphens, underscores
# and all other punctuation separate words, so "self-harm" == "self harm".
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


@dataclass(frozen=True)
class _Token:
    norm: str
    start: int  # offsets into the original text
    end: int
    clause: int  # clause index, used to bound the negation scope


def _tokenize(text: str) -> list[_Token]:
    folded = text.translate(_APOSTROPHES)
    tokens: list[_Token] = []
    clause = 0
    prev_end = 0
    for m in _WORD_RE.finditer(folded):
        if any(c in _CLAUSE_BREAK_CHARS for c in folded[prev_end : m.start()]):
            clause += 1
        prev_end = m.end()
        word = m.group().replace("'", "").casefold()
        if word in _CLAUSE_BREAK_WORDS:
            clause += 1
        for part in _CONTRACTIONS.get(word, (word,)):
            # Expanded parts share the original span so context snippets stay faithful.
            tokens.append(_Token(part, m.start(), m.end(), clause))
    return tokens


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    norm = tuple(t.norm for t in _tokenize(phrase))
    # "don't want to ..." is matched from "not" so that "didn't"/"does not"/"do not" variants also hit.
    if len(norm) > 2 and norm[0] == "do" and norm[1] == "not":
        norm = norm[1:]
    return norm


def _build_index() -> dict[str, list[tuple[tuple[str, ...], str, str]]]:
    index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
    seen: set[tuple[str, ...]] = set()
    for category, phrases in _LEXICON.items():
        for phrase in phrases:
            toks = _phrase_tokens(phrase)
            if not toks or toks in seen:
                continue
            seen.add(toks)
            index.setdefault(toks[0], []).append((toks, phrase, category))
    return index


_INDEX = _build_index()


def _is_negated(tokens: list[_Token], i: int) -> bool:
    clause = tokens[i].clause
    for j in range(i - 1, max(-1, i - 1 - NEGATION_WINDOW), -1):
        if tokens[j].clause != clause:
            return False
        if tokens[j].norm in NEGATORS:
            return True
    return False


def _context(text: str, start: int, end: int) -> str:
    return text[max(0, start - CONTEXT_CHARS) : end + CONTEXT_CHARS].strip()


def screen_text(text: str) -> list[TextMatch]:
    """Return every crisis-lexicon match in ``text``, in order of appearance.

    Negated matches are returned with ``negated=True``; nothing is ever dropped because of negation.
    A shorter phrase lying entirely inside a longer match of the same category is omitted
    (e.g. "don't want to be here" inside "don't want to be here anymore") to avoid duplicate evidence.
    """
    if not text:
        return []
    tokens = _tokenize(text)
    # (token_start, token_end_exclusive, phrase, category)
    hits: list[tuple[int, int, str, str]] = []
    for i, tok in enumerate(tokens):
        for toks, phrase, category in _INDEX.get(tok.norm, ()):
            n = len(toks)
            if tuple(t.norm for t in tokens[i : i + n]) == toks:
                hits.append((i, i + n, phrase, category))

    kept = [
        h
        for h in hits
        if not any(
            o is not h and o[3] == h[3] and o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0])
            for o in hits
        )
    ]
    kept.sort(key=lambda h: (h[0], -(h[1] - h[0])))

    matches: list[TextMatch] = []
    for first, last_excl, phrase, category in kept:
        start, end = tokens[first].start, tokens[last_excl - 1].end
        matches.append(
            TextMatch(
                phrase=phrase,
                category=category,
                negated=_is_negated(tokens, first),
                context=_context(text, start, end),
            )
        )
    return matches
