"""What Whisper invents, and what is not speech: the filters between the decoder and a transcript.

A decoded segment is dropped when its no_speech_prob is above
`TranscriberSettings.no_speech_threshold`, its avg_logprob is below ``logprob_threshold``,
it is a repetition loop (gzip compression ratio above ``compression_ratio_threshold``), or it
is a known hallucination ("Thank you.", "you", ...) said with low confidence. Non-speech
tags ("[Music]", "(laughs)", notes) are taken out of the text; laughter tags are counted,
as laughter is a sign of how the speech is meant.

Pure functions; safe from any thread.
"""

from __future__ import annotations

import re
from typing import Any

from audio.transcribe.model import TranscriberSettings

HALLUCINATIONS = frozenset(
    {
        "you",
        "thank you",
        "thank you very much",
        "thank you so much",
        "thanks",
        "thanks for watching",
        "thank you for watching",
        "thank you so much for watching",
        "please subscribe",
        "subscribe",
        "bye",
        "bye bye",
        "goodbye",
        "the end",
        "oh",
        "so",
        "okay",
        "hmm",
        "uh",
        "um",
    }
)
"""Texts Whisper tends to invent on short noise; dropped only when confidence is low."""

HALLUCINATION_LOGPROB = -0.5
"""A known hallucination text is dropped when its avg_logprob is below this..."""

HALLUCINATION_NO_SPEECH = 0.2
"""...or its no_speech_prob is above this."""

NON_SPEECH_RE = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫]")
"""Non-speech tags Whisper writes: "[Music]", "(laughs)", musical notes."""

LAUGH_RE = re.compile(r"laugh|chuckl|giggl", re.IGNORECASE)
"""A non-speech tag that is laughter."""

LAUGH_WORD_RE = re.compile(r"^(?:ha){2,}h?$|^(?:he){2,}h?$", re.IGNORECASE)
"""A spoken laugh written out ("haha", "hehe")."""

WORDS_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def clean_text(text: str) -> str:
    """Remove non-speech tags and collapse whitespace."""
    return " ".join(NON_SPEECH_RE.sub(" ", text).split())


def tag_spans(text: str) -> list[tuple[int, int, bool]]:
    """Character spans of the non-speech tags in ``text``, each with whether it is laughter."""
    return [
        (m.start(), m.end(), bool(LAUGH_RE.search(m.group()))) for m in NON_SPEECH_RE.finditer(text)
    ]


def is_laugh_word(word: str) -> bool:
    """Whether a decoded word is a written-out laugh ("Haha!")."""
    return LAUGH_WORD_RE.match("".join(WORDS_RE.findall(word))) is not None


def is_hallucination(text: str, avg_logprob: float, no_speech_prob: float) -> bool:
    """Whether a segment is a known Whisper invention said with low confidence."""
    key = " ".join(WORDS_RE.findall(text.lower().replace("\u2019", "'")))
    if key not in HALLUCINATIONS:
        return False
    return avg_logprob < HALLUCINATION_LOGPROB or no_speech_prob > HALLUCINATION_NO_SPEECH


def keep_segment(segment: Any, text: str, settings: TranscriberSettings) -> bool:
    """Whether a decoded segment whose cleaned text is ``text`` is kept."""
    if not WORDS_RE.search(text):
        return False
    if segment.no_speech_prob > settings.no_speech_threshold:
        return False
    if segment.avg_logprob < settings.logprob_threshold:
        return False
    if segment.compression_ratio > settings.compression_ratio_threshold:
        return False
    return not is_hallucination(text, segment.avg_logprob, segment.no_speech_prob)
