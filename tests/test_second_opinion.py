"""The words as a second opinion: excited is not angry.

Real speech through the real pipeline (espeak-ng calls in fixtures/words_*.flac, made by
fixtures/make_words_fixtures.py, and the embedded tiny.en model), each case also run
without words to show the acoustic decision the words change. The stage's waiting and
confidence rules are then checked on its own with transcripts built by hand, in stream
time (no clock).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from alerts.model import Alert
from alerts.second_opinion import NO_WORDS, OpinionSettings, SecondOpinion
from alerts.valence import judge
from audio.sources import FileSource
from audio.transcribe import Transcript, Word
from audio.types import SAMPLE_RATE
from monitor.config import Config
from monitor.pipeline import Pipeline
from monitor.transcription import SpeechSetup
from tests.conftest import FIXTURES

TURNS: dict[str, list[dict[str, Any]]] = json.loads(
    (FIXTURES / "words.expected.json").read_text(encoding="utf-8")
)


def excited(name: str, speaker: str = "customer") -> dict[str, Any]:
    return next(
        t
        for t in TURNS[f"words_{name}.flac"]
        if t["delivery"] == "excited" and t["speaker"] == speaker
    )


def replay(name: str, cfg: Config, words: bool) -> tuple[list[Alert], dict[str, Any]]:
    worker = spotter = None
    if words:
        speech = SpeechSetup.build(cfg, policy="block").for_call(name)
        assert speech is not None
        worker, spotter = speech.worker, speech.spotter
    pipe = Pipeline(cfg, name, worker, spotter)
    records: list[Any] = []
    for block in FileSource(FIXTURES / f"words_{name}.flac", block_s=5.0):
        records += pipe.push(block)
    records += pipe.finish()
    alerts = [r for r in records if isinstance(r, Alert) and r.kind != "phrase"]
    return alerts, pipe.summary()


@pytest.fixture(scope="module")
def runs(cfg: Config) -> dict[tuple[str, bool], tuple[list[Alert], dict[str, Any]]]:
    return {
        (name, words): replay(name, cfg, words)
        for name in ("rapport", "cursing", "german")
        for words in (False, True)
    }


def kinds(alerts: list[Alert]) -> list[str]:
    return sorted(a.kind for a in alerts)


# -- real speech through the pipeline -----------------------------------------------------


def test_upbeat_customer_and_shared_excitement(runs: Any) -> None:
    turn = excited("rapport")
    # Without words: the excited thanks is yelling, the agent's happy answer matching.
    acoustic, _ = runs[("rapport", False)]
    assert "customer_yelling" in kinds(acoustic)
    assert {"agent_matching", "agent_yelling"} & set(kinds(acoustic))
    assert all(a.message.endswith(NO_WORDS) for a in acoustic)
    # With words: one upbeat moment, no yelling, and the agent's excitement is rapport.
    alerts, summary = runs[("rapport", True)]
    assert kinds(alerts) == ["customer_upbeat"], [(a.kind, a.message) for a in alerts]
    up = alerts[0]
    assert up.severity == "info" and "match" not in up.tip.lower()
    assert turn["start"] - 0.5 <= up.start <= turn["end"]
    assert up.evidence["acoustic_kind"] in ("customer_yelling", "customer_raised")
    assert up.evidence["words"]["verdict"] == "positive"
    assert summary["second_opinion"]["rapport_dropped"] >= 1
    assert summary["counts"]["customer_upbeat"] == 1 and summary["counts"]["agent_matching"] == 0


def test_cursing_makes_a_raised_voice_yelling(runs: Any) -> None:
    acoustic, _ = runs[("cursing", False)]
    assert kinds(acoustic) == ["customer_raised"]
    alerts, summary = runs[("cursing", True)]
    assert kinds(alerts) == ["customer_yelling"], [(a.kind, a.message) for a in alerts]
    yell = alerts[0]
    assert "swearing" in yell.message and yell.severity == "warning"
    assert "cursing" in yell.evidence["words"]["signs"]
    assert yell.evidence["words"]["verdict"] == "negative"
    assert summary["second_opinion"]["upgraded"] == 1


def test_words_the_model_cannot_understand_leave_the_acoustic_decision(runs: Any) -> None:
    """The excited sentence in German: the English-only model keeps no words from it, so
    the alert is the acoustic one and says it had no words to go on."""
    acoustic, _ = runs[("german", False)]
    alerts, summary = runs[("german", True)]
    assert kinds(alerts) == kinds(acoustic) != []
    for a in alerts:
        assert a.message.endswith(NO_WORDS)
        assert a.evidence["words"] == {"verdict": "none", "why": "no words understood"}
    assert summary["second_opinion"]["no_words"] == len(alerts)


# -- the stage on its own: waiting and confidence -------------------------------------------


def s(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def alert(kind: str, start: float, end: float, speaker: str = "customer") -> Alert:
    return Alert(kind, speaker, start, end, "warning", "Customer is yelling.", "Don't match it.")


def transcript(
    text: str, start: float, end: float, speaker: str = "customer", **conf: float
) -> Transcript:
    words, pos, t = [], 0, start
    step = (end - start) / max(len(text.split()), 1)
    for w in text.split():
        words.append(Word(w, s(t), s(t + step), conf.get("word_probability", 0.9), pos))
        pos += len(w) + 1
        t += step
    return Transcript(
        speaker,  # type: ignore[arg-type]
        s(start),
        s(end),
        text,
        conf.get("avg_logprob", -0.3),
        conf.get("no_speech_prob", 0.05),
        tuple(words),
        language_probability=conf.get("language_probability", 1.0),
    )


def test_live_alert_waits_for_words_at_most_the_deadline() -> None:
    stage = SecondOpinion(OpinionSettings(wait_s=3.0))
    stage.add([alert("customer_yelling", 10.0, 11.6)])
    not_yet = lambda speaker, t: False  # noqa: E731
    assert stage.push(s(11.6), [], not_yet) == []
    assert stage.push(s(12.9), [], not_yet) == []  # still waiting: 2.9 s after the start
    out = stage.push(s(13.0), [], not_yet)
    assert [a.kind for a in out] == ["customer_yelling"]
    assert out[0].message.endswith(NO_WORDS)
    assert out[0].evidence["words"] == {"verdict": "none", "why": "no words in time"}


def test_positive_words_in_time_make_it_upbeat() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.6)])
    assert stage.push(s(11.8), [], lambda sp, t: False) == []
    done = [transcript("Yeah, it works! Thank you so much!", 9.9, 11.7)]
    out = stage.push(s(12.2), done, lambda sp, t: True)
    assert [a.kind for a in out] == ["customer_upbeat"]
    assert out[0].start == 10.0 and out[0].severity == "info"


@pytest.mark.parametrize(
    "conf",
    [
        {"avg_logprob": -1.1},
        {"no_speech_prob": 0.7},
        {"word_probability": 0.3},
        {"language_probability": 0.3},
    ],
)
def test_unreliable_words_leave_the_acoustic_decision(conf: dict[str, float]) -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.6)])
    out = stage.push(s(12.0), [transcript("Thank you so much!", 9.9, 11.7, **conf)], None)
    assert [a.kind for a in out] == ["customer_yelling"]
    assert out[0].evidence["words"]["why"] == "words unreliable"


def test_earlier_words_alone_do_not_decide() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 20.0, 21.6)])
    out = stage.push(s(22.0), [transcript("Thank you so much!", 15.0, 17.0)], None)
    assert [a.kind for a in out] == ["customer_yelling"]


def test_rapport_drops_the_agents_excitement_and_cooperative_overlap() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.6)])
    stage.push(s(12.0), [transcript("It works! Thanks so much!", 9.9, 11.7)], None)
    stage.add(
        [
            alert("agent_matching", 12.5, 14.0, "agent"),
            alert("agent_interrupting", 13.0, 14.2, "agent"),
        ]
    )
    out = stage.push(s(15.0), [transcript("Oh, it did! Okay, great!", 12.4, 14.1, "agent")], None)
    assert out == [] and stage.counts["rapport_dropped"] == 2
    # Much later the same agent alert is not rapport any more.
    stage.add([alert("agent_matching", 60.0, 61.0, "agent")])
    out = stage.push(s(62.0), [transcript("Okay, great!", 59.9, 61.0, "agent")], None)
    assert [a.kind for a in out] == ["agent_matching"]


def test_the_agents_alert_waits_for_the_customers_verdict() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.6), alert("agent_matching", 11.0, 11.6, "agent")])
    wait_customer = lambda speaker, t: speaker == "agent"  # noqa: E731
    assert (
        stage.push(s(11.8), [transcript("Great, thanks!", 11.0, 11.6, "agent")], wait_customer)
        == []
    )
    out = stage.push(s(12.4), [transcript("Thank you so much!", 9.9, 11.7)], lambda sp, t: True)
    assert [a.kind for a in out] == ["customer_upbeat"]


def test_offline_waits_past_the_deadline() -> None:
    stage = SecondOpinion(offline=True)
    stage.add([alert("customer_yelling", 10.0, 11.6)])
    assert stage.push(s(20.0), [], lambda sp, t: False) == []
    assert [a.kind for a in stage.flush(s(30.0))] == ["customer_yelling"]


# -- valence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("It's up! Yeah, it works! Thank you so much", "positive"),
        ("Oh, it did! Okay, great!", "positive"),
        ("Haha, no way", "positive"),
        ("I'm so sorry to bother you, thanks for your help", "positive"),
        ("This is the third time I'm calling and nobody helps me!", "negative"),
        ("This is fucking ridiculous", "negative"),
        ("Fucking awesome, it works", "negative"),
        ("You people are useless", "negative"),
        ("I want to speak to your supervisor right now", "negative"),
        ("I am going to come in as soon as possible", "neutral"),
        ("", "neutral"),
    ],
)
def test_valence(text: str, verdict: str) -> None:
    assert judge(text).verdict == verdict, judge(text)


def test_laughter_alone_is_positive() -> None:
    assert judge("", laughs=1).verdict == "positive"
    assert np.isclose(judge("", laughs=1).score, 0.0)


def test_a_negative_customer_makes_the_moment_tense() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.6)])
    assert stage.tense(s(11.0))  # still waiting for its words: tense
    stage.push(s(12.0), [transcript("This is ridiculous, nobody helps me!", 9.9, 11.7)], None)
    assert stage.tense(s(30.0)) and not stage.tense(s(45.0)) and not stage.tense(s(5.0))
    upbeat = SecondOpinion()
    upbeat.add([alert("customer_yelling", 10.0, 11.6)])
    upbeat.push(s(12.0), [transcript("It works, thank you so much!", 9.9, 11.7)], None)
    assert not upbeat.tense(s(20.0))


def test_a_turn_still_open_when_the_call_ends_is_transcribed(cfg: Config) -> None:
    """The agent is cut off mid-sentence by the end of the recording: the open turn is
    flushed to the worker before it closes, so its words and cue are not lost."""
    from audio.sources import ArraySource

    voice, rate = sf.read(FIXTURES / "phrases_apology.flac", dtype="float32")
    assert rate == SAMPLE_RATE
    agent = voice[: int(3.4 * SAMPLE_RATE)]  # ends inside "trouble"
    customer = np.zeros_like(agent)
    speech = SpeechSetup.build(cfg, policy="block").for_call("cut-off")
    assert speech is not None
    pipe = Pipeline(cfg, "cut-off", speech.worker, speech.spotter)
    records: list[Any] = []
    for block in ArraySource(agent, customer, block_s=0.5):
        records += pipe.push(block)
    records += pipe.finish()
    said = [r for r in records if getattr(r, "kind", "") == "transcript"]
    assert said and said[0].speaker == "agent" and "sorry" in said[0].text.lower()
    assert any(getattr(r, "cue", None) == "apology" for r in records)
