"""What the words say about how speech is meant: positive, negative or neither.

Acoustics measure arousal (how energetic a voice is) well and valence (pleased or angry)
poorly: excitement and anger both raise pitch, brightness and level. The words carry the
valence. `judge` scores a stretch of one speaker's words with VADER (a rule-based
sentiment lexicon made for short informal English, vaderSentiment on PyPI), and adds what
VADER does not know about calls:

- thanks, praise and laughter are positive signs ("thank you so much", "it works", "haha");
- cursing, insults and complaint phrases are negative signs, and they win: an elevated
  voice with "this is ridiculous" is anger whatever else is said;
- a caller's "sorry" is politeness, not a negative word (VADER counts it as negative).

The verdict is deliberately cautious about "positive": it turns a possible yelling alert
into `customer_upbeat`, so it needs a clearly positive score or a positive sign, and no
negative sign at all.

Pure functions; the analyser is built once and shared (it only reads its lexicon).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from alerts.cues import normalize

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Verdict = Literal["positive", "negative", "neutral"]

POSITIVE_SCORE = 0.5
"""VADER compound score (-1..1) at or above which words are positive on their own. VADER's
authors put the positive boundary at 0.05; a yelling alert is only turned on clearly
positive words, so this is much higher ("Thank you" alone scores 0.36; "sounds great, thank
you so much" 0.77)."""

NEGATIVE_SCORE = -0.3
"""VADER compound score at or below which words are negative."""

SIGN_SCORE = -0.05
"""With a positive sign (thanks, praise, laughter), the score must still be above this."""

POSITIVE_SIGNS: dict[str, tuple[str, ...]] = {
    "thanks": ("thank you", "thanks", "thank god", "appreciate", "much appreciated"),
    "praise": (
        "it works",
        "it is working",
        "that worked",
        "that did it",
        "you are great",
        "you have been great",
        "you are the best",
        "you have been so helpful",
        "you have been very helpful",
        "awesome",
        "amazing",
        "perfect",
        "fantastic",
        "wonderful",
        "excellent",
        "brilliant",
        "great news",
    ),
}
"""Positive signs, as normalized word runs (see `alerts.cues.normalize`)."""

NEGATIVE_SIGNS: dict[str, tuple[str, ...]] = {
    "cursing": (
        "fuck",
        "fucking",
        "fucked",
        "motherfucker",
        "shit",
        "bullshit",
        "damn",
        "damned",
        "dammit",
        "goddamn",
        "goddamned",
        "crap",
        "crappy",
        "bitch",
        "bastard",
        "asshole",
        "pissed",
        "wtf",
        "what the hell",
        "screw you",
        "bloody hell",
    ),
    "insult": (
        "idiot",
        "idiots",
        "stupid",
        "moron",
        "morons",
        "useless",
        "incompetent",
        "pathetic",
        "clown",
        "clowns",
        "you people",
        "shut up",
    ),
    "complaint": (
        "ridiculous",
        "unacceptable",
        "outrageous",
        "disgrace",
        "disgusting",
        "terrible",
        "horrible",
        "awful",
        "worst",
        "a joke",
        "waste of time",
        "fed up",
        "sick of",
        "sick and tired",
        "third time",
        "fourth time",
        "how many times",
        "nobody",
        "no one helps",
        "nothing works",
        "still not",
        "still does not",
        "still is not",
        "still have not",
        "not working",
        "does not work",
        "is not working",
        "never again",
        "cancel my",
        "your supervisor",
        "your manager",
        "speak to a manager",
        "speak to a supervisor",
        "my money back",
        "lawyer",
    ),
}
"""Negative signs, as normalized word runs. Any one of them makes the words negative."""

POLITE = re.compile(r"\bsorry\b")
"""A caller's apology: taken out before VADER scores the rest."""


@dataclass(frozen=True)
class Valence:
    """What a stretch of words says.

    Attributes:
        verdict: "positive", "negative" or "neutral".
        score: VADER's compound score (-1..1) of the words (apologies taken out).
        signs: the positive and negative signs found ("thanks", "laughter", "cursing", ...).
        words: how many words were judged.
    """

    verdict: Verdict
    score: float
    signs: tuple[str, ...] = field(default_factory=tuple)
    words: int = 0

    def evidence(self) -> dict[str, object]:
        """The numbers behind the verdict, for an alert's evidence."""
        return {
            "verdict": self.verdict,
            "sentiment": round(self.score, 3),
            "signs": list(self.signs),
            "words": self.words,
        }


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    """The VADER analyser, built once (it reads its lexicon file)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _has(norm: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z']){re.escape(phrase)}(?![a-z'])", norm) is not None


def signs_in(text: str, laughs: int = 0) -> tuple[list[str], list[str]]:
    """(positive signs, negative signs) found in ``text``; ``laughs`` adds "laughter"."""
    norm = normalize(text)
    positive = [name for name, ps in POSITIVE_SIGNS.items() if any(_has(norm, p) for p in ps)]
    if laughs > 0 or re.search(r"\b(?:ha){2,}h?\b", norm):
        positive.append("laughter")
    negative = [name for name, ps in NEGATIVE_SIGNS.items() if any(_has(norm, p) for p in ps)]
    return positive, negative


def judge(text: str, laughs: int = 0) -> Valence:
    """The valence of one speaker's words (see the module docstring).

    Args:
        text: the words, as transcribed (any case and punctuation).
        laughs: laughter heard with them (from the transcript).

    Returns:
        The verdict with its score and signs; "neutral" for no words.
    """
    n_words = len(normalize(text).split())
    if n_words == 0 and laughs == 0:
        return Valence("neutral", 0.0, (), 0)
    positive, negative = signs_in(text, laughs)
    scored = POLITE.sub(" ", text.lower()) if n_words else ""
    score = float(analyzer().polarity_scores(scored)["compound"]) if scored.strip() else 0.0
    signs = tuple(positive + negative)
    if negative or score <= NEGATIVE_SCORE:
        return Valence("negative", score, signs, n_words)
    if score >= POSITIVE_SCORE or (positive and score > SIGN_SCORE):
        return Valence("positive", score, signs, n_words)
    return Valence("neutral", score, signs, n_words)
