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

from alerts.model import Alert, AlertWords
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
    """The excited sentence in German: the English-only model keeps no words from it, or
    English-looking words its own confidence gives away (mean word probability about
    0.4), so the alert is the acoustic one and says it had no words to go on."""
    acoustic, _ = runs[("german", False)]
    alerts, summary = runs[("german", True)]
    assert kinds(alerts) == kinds(acoustic) != []
    for a in alerts:
        assert a.message.endswith(NO_WORDS)
        assert a.evidence["words"]["verdict"] == "none"
        assert a.evidence["words"]["why"] in ("no words understood", "words unreliable")
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


def test_the_agents_own_warm_words_drop_a_raised_voice_but_not_yelling() -> None:
    stage = SecondOpinion()
    stage.add(
        [alert("agent_raised", 30.0, 31.5, "agent"), alert("agent_yelling", 60.0, 61.0, "agent")]
    )
    warm = transcript("Oh, it did! Okay, great, I am so happy for you!", 29.8, 31.6, "agent")
    loud = transcript("That is great news, I am so happy!", 59.8, 61.1, "agent")
    out = stage.push(s(62.0), [warm, loud], None)
    assert [a.kind for a in out] == ["agent_yelling"]
    assert stage.counts["warmth_dropped"] == 1 and stage.counts["rapport_dropped"] == 0
    # Neutral words leave the raised voice standing.
    stage.add([alert("agent_raised", 90.0, 91.5, "agent")])
    out = stage.push(s(93.0), [transcript("Please hold the line.", 89.8, 91.6, "agent")], None)
    assert [a.kind for a in out] == ["agent_raised"]


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


# -- live: the deadline counts from the episode's start; later words amend the log ---------


def test_an_alert_decided_after_its_deadline_goes_out_at_once() -> None:
    """The detector decided 3.2 s after the episode began, past the 2.7 s deadline: the
    alert goes out on that very push, with the words already heard (here, from speech cut
    while the episode was building) and without them when there are none."""
    not_yet = lambda speaker, t: False  # noqa: E731
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 13.2)])
    out = stage.push(s(13.2), [], not_yet)
    assert [a.kind for a in out] == ["customer_yelling"]
    assert out[0].evidence["words"] == {"verdict": "none", "why": "no words in time"}
    early = SecondOpinion()
    early.add([alert("customer_yelling", 10.0, 13.2)])
    out = early.push(s(13.2), [transcript("Oh wow, it works! Thank you!", 9.9, 11.5)], not_yet)
    assert [a.kind for a in out] == ["customer_upbeat"]


def test_live_words_of_the_episode_so_far_decide_before_the_deadline() -> None:
    """A look at the turn ran to 0.5 s before the detector decided: live, the alert goes
    on those words (it does not wait for the rest until its deadline); the rest, once
    transcribed, amends it in the log."""
    from dataclasses import replace

    from alerts.model import AlertWords

    not_yet = lambda speaker, t: False  # noqa: E731
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.4)])
    look = replace(transcript("Oh wow, it works!", 9.8, 10.9), provisional=True)
    (out,) = stage.push(s(11.6), [look], not_yet)
    assert out.kind == "customer_upbeat"
    whole = transcript("Oh wow, it works! Is this a joke? This is ridiculous!", 9.8, 13.0)
    (amend,) = stage.push(s(13.2), [whole], lambda sp, t: True)
    assert isinstance(amend, AlertWords) and amend.kind == "customer_upbeat"
    # Words that stop 1 s short, or that cannot be trusted, wait for the deadline.
    for short in (
        transcript("Oh wow!", 9.8, 10.4),
        transcript("Oh wow!", 9.8, 10.9, avg_logprob=-1.2),
    ):
        held = SecondOpinion()
        held.add([alert("customer_yelling", 10.0, 11.4)])
        assert held.push(s(11.6), [short], not_yet) == []
    # Offline the words are waited for, whatever is heard already.
    offline = SecondOpinion(offline=True)
    offline.add([alert("customer_yelling", 10.0, 11.4)])
    assert offline.push(s(11.6), [look], not_yet) == []


def test_the_agents_alert_waits_for_the_customer_only_until_its_own_deadline() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_yelling", 10.0, 11.6), alert("agent_matching", 8.5, 11.6, "agent")])
    not_yet = lambda speaker, t: False  # noqa: E731
    out = stage.push(s(11.6), [], not_yet)  # the agent's deadline (11.2 s) has passed
    assert [a.kind for a in out] == ["agent_matching"]
    assert [a.kind for a in stage.push(s(12.8), [], not_yet)] == ["customer_yelling"]


def test_words_heard_after_the_alert_amend_it_once_and_make_no_second_alert() -> None:
    from alerts.model import AlertWords

    stage = SecondOpinion()
    stage.add([alert("customer_raised", 10.0, 11.6)])
    not_yet = lambda speaker, t: False  # noqa: E731
    (sent,) = stage.push(s(12.8), [], not_yet)
    assert sent.evidence["words"]["verdict"] == "none"
    assert stage.push(s(13.4), [], not_yet) == []  # still nothing: nothing to amend
    later = [transcript("This is ridiculous, nobody helps me!", 9.9, 11.7)]
    (amend,) = stage.push(s(14.0), later, lambda sp, t: True)
    assert isinstance(amend, AlertWords)
    assert (amend.kind, amend.speaker, amend.start) == ("customer_raised", "customer", 10.0)
    assert amend.words["verdict"] == "negative" and amend.words["late"] is True
    rec = amend.to_record()
    assert rec["record"] == "alert_words" and rec["words"]["signs"]
    assert stage.push(s(15.0), [], lambda sp, t: True) == []
    assert stage.flush(s(16.0)) == []
    assert stage.counts["amended"] == 1
    assert stage.tense(s(20.0))  # the late words made the moment tense


def test_cursing_heard_after_a_raised_voice_went_out_is_yelling_at_once() -> None:
    stage = SecondOpinion()
    stage.add([alert("customer_raised", 10.0, 11.6)])
    not_yet = lambda speaker, t: False  # noqa: E731
    (sent,) = stage.push(s(12.8), [], not_yet)
    assert sent.kind == "customer_raised"
    later = [transcript("Oh come on, this is fucking ridiculous!", 9.9, 11.7)]
    amend, yelling = stage.push(s(13.1), later, lambda sp, t: True)
    assert amend.kind == "customer_raised" and "cursing" in amend.words["signs"]
    assert isinstance(yelling, Alert) and yelling.kind == "customer_yelling"
    assert (yelling.start, yelling.evidence["acoustic_kind"]) == (10.0, "customer_raised")
    assert stage.counts["upgraded_late"] == 1
    # Only once.
    assert stage.push(s(14.0), [], lambda sp, t: True) == []
    assert stage.flush(s(15.0)) == []


def test_the_log_folds_later_words_into_their_alert(tmp_path: Any) -> None:
    from alerts.log import AlertLog
    from alerts.model import AlertWords
    from monitor.calllog import read_calls

    path = tmp_path / "call.jsonl"
    first = alert("customer_raised", 10.0, 12.8)
    first.evidence = {"level_over_baseline_db": 7.0, "words": {"verdict": "none"}}
    other = alert("customer_raised", 30.0, 32.0)
    words = {"verdict": "negative", "signs": ["complaint"], "late": True}
    with AlertLog(path) as log:
        for rec in (first, other, AlertWords("customer_raised", "customer", 10.0, 12.8, words)):
            log.write(rec.to_record())
    warnings: list[str] = []
    (call,) = read_calls(path, warnings)
    assert len(warnings) == 1 and "no call_summary" in warnings[0]  # no skipped line
    assert len(call.alerts) == 2  # the words are no alert of their own
    assert call.alerts[0]["evidence"] == {"level_over_baseline_db": 7.0, "words": words}
    assert "words" not in call.alerts[1]["evidence"]


def test_a_provisional_look_counts_until_the_turns_own_transcript_replaces_it() -> None:
    from dataclasses import replace

    stage = SecondOpinion()
    look = replace(transcript("Oh wow, it works!", 9.9, 11.5), provisional=True)
    stage.push(s(11.6), [look], None)
    assert stage.heard["customer"] == [look]
    whole = transcript("Oh wow, it works! Thank you so much!", 9.9, 13.0)
    stage.push(s(13.2), [whole], None)
    assert stage.heard["customer"] == [whole]  # no word counts twice
    stage.push(s(13.4), [replace(look, end=s(12.5))], None)  # a look decoded late
    assert stage.heard["customer"] == [whole]


class KeepWork:
    """The transcriber's edge, live policy: keeps what the pipeline submits and promotes
    (with the stream time the pipeline had reached), transcribes nothing."""

    policy = "drop_oldest"

    def __init__(self) -> None:
        self.pipe: Pipeline | None = None
        self.submitted: list[tuple[int, Any]] = []
        self.promoted: list[tuple[int, str, int]] = []

    def now(self) -> int:
        assert self.pipe is not None
        return self.pipe.decided

    def submit(self, snippet: Any) -> bool:
        self.submitted.append((self.now(), snippet))
        return True

    def poll(self) -> list[Transcript]:
        return []

    def close(self, timeout: float | None = None) -> list[Transcript]:
        return []

    def stats(self) -> Any:
        from audio.transcribe import WorkerStats

        return WorkerStats(*(0,) * 9, busy_s=0.0, audio_s=0.0, error=None)

    def pending_before(self, speaker: str, t: int) -> bool:
        return any(sn.speaker == speaker and sn.start < t for _, sn in self.submitted)

    def promote(self, speaker: str, t: int) -> None:
        self.promoted.append((self.now(), speaker, t))

    def wait_for(self, speaker: str, t: int, timeout: float | None = None) -> bool:
        raise AssertionError("live: nothing waits for the model")


def test_live_speech_is_cut_and_sent_first_while_the_episode_builds(cfg: Config) -> None:
    """The excited thanks in words_rapport: live, the customer's turn is cut and moved to
    the front of the queue as soon as the detector starts building the episode, well
    before it decides, and the alert still goes out by its deadline."""
    work = KeepWork()
    pipe = Pipeline(cfg, "live", work)
    work.pipe = pipe
    records: list[Any] = []
    out_at: dict[int, int] = {}  # stream time each record went out (end of its block)
    for block in FileSource(FIXTURES / "words_rapport.flac", block_s=0.1):
        new = pipe.push(block)
        out_at.update({id(r): block.start + block.n_samples for r in new})
        records += new
    records += pipe.finish()
    # The first customer alert (the raised voice; it turns to yelling later).
    cust = next(r for r in records if isinstance(r, Alert) and r.speaker == "customer")
    start, decided = s(cust.start), s(cust.end)
    early = [
        (at, sn)
        for at, sn in work.submitted
        if sn.speaker == "customer" and at < decided and sn.end > start + s(0.5)
    ]
    assert early, "no customer speech was sent before the detector decided"
    at, first = early[0]
    assert first.provisional  # a look at the turn: the turn is still transcribed whole
    assert first.start <= start + s(0.5) and first.end <= at  # the episode's first words
    assert at <= decided - s(0.5), (at / SAMPLE_RATE, cust.end)
    # The customer's calm voice is not known yet (10 s of calm speech before): the turn is
    # looked at once it is EARLY_LOOK_S old, before the detector even starts building.
    from monitor.pipeline import EARLY_LOOK_S
    from monitor.speech import PAD_BEFORE

    assert at - (first.start + PAD_BEFORE) <= s(EARLY_LOOK_S + 0.25)
    assert ("customer", at) in {(sp, t) for when, sp, t in work.promoted if when == at}
    looks = [sn for _, sn in work.submitted if sn.provisional]
    assert pipe.summary()["transcription"]["looks"] == len(looks) >= 1
    # The detector decided before the deadline: the alert waited for words until it and
    # went out without them (nothing is transcribed here), and says so.
    wait = s(OpinionSettings().wait_s)
    assert cust.end - cust.start < OpinionSettings().wait_s
    assert start + wait <= out_at[id(cust)] <= start + wait + s(0.1)
    assert cust.evidence["words"] == {"verdict": "none", "why": "no words in time"}


def test_offline_cuts_no_speech_early(cfg: Config) -> None:
    """Offline the words are waited for, so the turn is not cut while the episode builds."""
    work = KeepWork()
    work.policy = "block"
    work.wait_for = lambda speaker, t, timeout=None: True  # type: ignore[method-assign]
    pipe = Pipeline(cfg, "offline", work)
    work.pipe = pipe
    for block in FileSource(FIXTURES / "words_rapport.flac", block_s=0.1):
        pipe.push(block)
    pipe.finish()
    assert work.promoted == []


# -- live: the words decide an episode still building ------------------------------------


class StreamTimeWorker:
    """The transcriber's edge, live policy, on stream time instead of a clock: each
    snippet is transcribed by the real model, but its transcript is handed back only once
    the pipeline's stream time has gone `decode_s` past the moment the one worker thread
    could start it (one snippet at a time, promoted ones first), as a worker that needs
    `decode_s` per decode would live (the bench measures 0.7-1.1 s on this machine)."""

    policy = "drop_oldest"

    def __init__(self, cfg: Config, decode_s: float = 0.8) -> None:
        from audio.transcribe.model import load_model

        self.settings = cfg.transcription.worker("drop_oldest")
        self.model = load_model(self.settings)
        self.decode = s(decode_s)
        self.pipe: Pipeline | None = None
        self.queue: list[Any] = []  # snippets not started yet
        self.busy: tuple[int, Any] | None = None  # (done at, snippet) being decoded
        self.done: list[Transcript] = []

    def now(self) -> int:
        assert self.pipe is not None
        return self.pipe.decided

    def _run(self) -> None:
        from audio.transcribe.decode import transcribe_snippet

        now = self.now()
        while True:
            if self.busy is not None:
                at, snip = self.busy
                if at > now:
                    return
                self.busy = None
                out = transcribe_snippet(self.model, snip, self.settings)
                if out is not None:
                    self.done.append(out)
                start_next = at
            else:
                start_next = now
            if not self.queue:
                return
            self.busy = (start_next + self.decode, self.queue.pop(0))

    def submit(self, snippet: Any) -> bool:
        self.queue.append(snippet)
        self._run()
        return True

    def poll(self) -> list[Transcript]:
        self._run()
        out, self.done = self.done, []
        return out

    def close(self, timeout: float | None = None) -> list[Transcript]:
        from audio.transcribe.decode import transcribe_snippet

        rest = [sn for sn in ([self.busy[1]] if self.busy else []) + self.queue]
        self.busy, self.queue = None, []
        out = [t for sn in rest if (t := transcribe_snippet(self.model, sn, self.settings))]
        return [*self.poll(), *out]

    def stats(self) -> Any:
        from audio.transcribe import WorkerStats

        return WorkerStats(*(0,) * 9, busy_s=0.0, audio_s=0.0, error=None)

    def pending_before(self, speaker: str, t: int) -> bool:
        waiting = self.queue + ([self.busy[1]] if self.busy else [])
        return any(sn.speaker == speaker and sn.start < t for sn in waiting)

    def promote(self, speaker: str, t: int) -> None:
        first = [sn for sn in self.queue if sn.speaker == speaker and sn.start < t]
        self.queue = first + [sn for sn in self.queue if sn not in first]

    def wait_for(self, speaker: str, t: int, timeout: float | None = None) -> bool:
        raise AssertionError("live: nothing waits for the model")


def live_replay(name: str, cfg: Config, words: bool) -> list[Alert | AlertWords]:
    """The call at live pace with the stream-time worker (words) or none (acoustic): its
    alerts, then the words heard for them after they went out."""
    work = StreamTimeWorker(cfg) if words else None
    spotter = SpeechSetup.build(cfg, policy="drop_oldest").for_call(name) if words else None
    pipe = Pipeline(cfg, name, work, spotter.spotter if spotter else None)
    if work is not None:
        work.pipe = pipe
    records: list[Any] = []
    for block in FileSource(FIXTURES / f"words_{name}.flac", block_s=0.1):
        records += pipe.push(block)
    records += pipe.finish()
    return [r for r in records if isinstance(r, Alert) and r.kind != "phrase"] + [
        r for r in records if isinstance(r, AlertWords)
    ]


@pytest.fixture(scope="module")
def live_runs(cfg: Config) -> dict[tuple[str, bool], list[Alert | AlertWords]]:
    return {
        (name, words): live_replay(name, cfg, words)
        for name in ("rapport", "cursing", "german")
        for words in (False, True)
    }


def customer(alerts: list[Alert | AlertWords]) -> list[Alert]:
    return [a for a in alerts if isinstance(a, Alert) and a.speaker == "customer"]


def test_live_positive_words_decide_the_building_episode_upbeat(live_runs: Any) -> None:
    """words_rapport live: alone, the detector decides the excited thanks raised 1.95 s
    after the episode's start (its hold begun by the turn's first louder frames) and
    yelling 1.4 s later. The first look ("Oh wow, it's up."), asked for when the hold
    began, is in 0.8 s after it is cut: the building state is decided on it once it has
    held the yelling hold, as customer_upbeat, before the detector's own decision, and the
    rest of the episode (growing to yelling) makes no second alert."""
    acoustic, louder = customer(live_runs[("rapport", False)])
    assert (acoustic.kind, louder.kind) == ("customer_raised", "customer_yelling")
    ups = customer(live_runs[("rapport", True)])
    assert [a.kind for a in ups] == ["customer_upbeat"], [(a.kind, a.end) for a in ups]
    (up,) = ups
    assert up.evidence.get("decided_by_words") is True
    assert up.evidence["words"]["verdict"] == "positive"
    assert up.start == acoustic.start
    assert up.end < acoustic.end  # decided before the acoustic hold was over
    assert up.end - up.start <= 3.0 - 0.2  # stream seconds: out by the 3 s target
    # The agent's excited answer is still rapport.
    assert not [a for a in live_runs[("rapport", True)] if a.speaker == "agent"]


def test_live_cursing_heard_after_the_deadline_makes_the_raised_voice_yelling(
    live_runs: Any,
) -> None:
    """words_cursing live: the detector decides the raised voice 1.95 s after the start;
    "fucking" (23.75-23.97 s) is in no look decoded by the 2.7 s deadline (one decode at a
    time, 0.8 s each), so the alert goes out then with the words heard so far. The cursing,
    decoded 0.2 s later, amends it in the log and, as it makes the raised voice yelling,
    reaches the agent as `customer_yelling` of the same episode."""
    (acoustic,) = customer(live_runs[("cursing", False)])
    assert acoustic.kind == "customer_raised"
    raised, yelling = customer(live_runs[("cursing", True)])
    assert (raised.kind, raised.start, raised.end) == (
        "customer_raised",
        acoustic.start,
        acoustic.end,
    )
    assert raised.evidence["words"]["verdict"] == "neutral"
    (later,) = [r for r in live_runs[("cursing", True)] if isinstance(r, AlertWords)]
    assert (later.kind, later.start) == ("customer_raised", raised.start)
    assert later.words["verdict"] == "negative" and "cursing" in later.words["signs"]
    assert (yelling.kind, yelling.start, yelling.severity) == (
        "customer_yelling",
        raised.start,
        "warning",
    )
    assert "swearing" in yelling.message and yelling.evidence["words"]["late"] is True


def test_live_words_that_cannot_be_trusted_leave_the_hold_alone(live_runs: Any) -> None:
    """The German call: no trusted words, so the acoustic hold runs its course."""
    (acoustic,) = customer(live_runs[("german", False)])
    (alone,) = customer(live_runs[("german", True)])
    assert (alone.kind, alone.start, alone.end) == (acoustic.kind, acoustic.start, acoustic.end)
    assert "decided_by_words" not in alone.evidence
    assert alone.evidence["words"]["verdict"] == "none"


def test_the_words_decide_only_positive_or_hostile_speech() -> None:
    from dataclasses import replace

    def heard(text: str, **conf: float) -> SecondOpinion:
        stage = SecondOpinion()
        stage.push(s(11.0), [replace(transcript(text, 9.8, 10.9, **conf), provisional=True)], None)
        return stage

    assert heard("Oh wow, it works!").decides("customer", s(10.0), s(11.0))
    assert heard("This is fucking ridiculous").decides("customer", s(10.0), s(11.0))
    assert heard("You idiot").decides("customer", s(10.0), s(11.0))
    # Neutral words, complaints without cursing, or words that cannot be trusted do not.
    assert not heard("I tried the router again").decides("customer", s(10.0), s(11.0))
    assert not heard("This is the third time I call").decides("customer", s(10.0), s(11.0))
    assert not heard("Oh wow, it works!", avg_logprob=-1.2).decides("customer", s(10.0), s(11.0))
    # Nor the agent's speech, nor earlier words alone, nor offline.
    assert not heard("Oh wow, it works!").decides("agent", s(10.0), s(11.0))
    assert not heard("Oh wow, it works!").decides("customer", s(16.0), s(17.0))
    offline = SecondOpinion(offline=True)
    offline.push(s(11.0), [transcript("Oh wow, it works!", 9.8, 10.9)], None)
    assert not offline.decides("customer", s(10.0), s(11.0))


def test_an_untrusted_longer_look_keeps_the_trusted_one() -> None:
    """A second look ending inside a word falls under the trust limits: the first look's
    trusted words still count (before, the longer look replaced them)."""
    from dataclasses import replace

    stage = SecondOpinion()
    first = replace(transcript("Oh wow, it's up.", 9.8, 11.4), provisional=True)
    second = replace(
        transcript("Oh wow, it's a... Yeah, it's", 9.8, 12.0, avg_logprob=-0.84), provisional=True
    )
    stage.push(s(11.5), [first], None)
    stage.push(s(12.1), [second], None)
    assert stage.heard["customer"] == [first, second]
    stage.add([alert("customer_yelling", 10.0, 12.2)])
    (out,) = stage.push(s(12.9), [], lambda sp, t: False)
    assert out.kind == "customer_upbeat"
    # A trusted transcript of the same speech replaces both.
    whole = transcript("Oh wow, it's up. Yeah, it works.", 9.8, 13.0)
    stage.push(s(13.1), [whole], None)
    assert stage.heard["customer"] == [whole]


def test_a_kind_the_words_gave_is_not_alerted_again_in_the_same_episode() -> None:
    stage = SecondOpinion()
    words = [transcript("Oh wow, it works! Thank you!", 9.8, 12.0)]
    stage.add([alert("customer_raised", 10.0, 11.0)], early=True)
    (first,) = stage.push(s(11.0), words, lambda sp, t: False)
    assert first.kind == "customer_upbeat" and first.evidence["decided_by_words"] is True
    # The detector's own yelling of the same episode, 0.8 s later: upbeat again, dropped.
    stage.add([alert("customer_yelling", 10.0, 11.8)])
    assert stage.push(s(12.2), [], lambda sp, t: True) == []
    assert stage.counts["repeats"] == 1
    # A new upbeat moment 30 s later is its own alert.
    stage.add([alert("customer_raised", 40.0, 41.6)])
    later = [transcript("Great, thanks so much!", 39.8, 41.7)]
    assert [a.kind for a in stage.push(s(42.0), later, lambda sp, t: True)] == ["customer_upbeat"]
