"""Transcription: the embedded tiny.en model on the phrase fixtures, the hallucination
filters, the worker's queue policies and counters, and model loading errors.

The real model is loaded once for the module. Worker logic that depends on timing (which
snippets are dropped, what is batched) is tested with a fake model that blocks on an event,
so the outcome is exact; one flood test with the real model checks the counts add up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import soundfile as sf

from alerts.cues import CueMatcher, load_cues, normalize, redact
from audio.transcribe import (
    ModelError,
    Snippet,
    TranscriberSettings,
    Transcript,
    TranscriptionWorker,
    load_model,
    settings_from_table,
    transcribe_batch,
    transcribe_snippet,
)
from audio.types import SAMPLE_RATE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "phrases.expected.json").read_text(encoding="utf-8")
)
SPEECH = sorted(name for name, e in EXPECTED.items() if e["speech"])
NON_SPEECH = sorted(name for name, e in EXPECTED.items() if not e["speech"])


def snippet(name: str, start: int = 0) -> Snippet:
    """A fixture file as a snippet of its expected speaker, at stream time ``start``."""
    audio, rate = sf.read(str(FIXTURES / name), dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1
    return Snippet(EXPECTED[name]["speaker"], start, start + audio.shape[0], audio)


@pytest.fixture(scope="module")
def settings() -> TranscriberSettings:
    return TranscriberSettings()


@pytest.fixture(scope="module")
def model(settings: TranscriberSettings) -> Any:
    return load_model(settings)


@pytest.fixture(scope="module")
def transcripts(model: Any, settings: TranscriberSettings) -> dict[str, Transcript | None]:
    return {name: transcribe_snippet(model, snippet(name), settings) for name in EXPECTED}


# -- fixtures ---------------------------------------------------------------------------


def test_phrase_fixtures_are_small_16k_mono() -> None:
    assert len(SPEECH) >= 9 and NON_SPEECH == ["phrases_noise.flac", "phrases_silence.flac"]
    for name in EXPECTED:
        info = sf.info(str(FIXTURES / name))
        assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1), name
        assert (FIXTURES / name).stat().st_size < 100_000, name


def test_every_default_cue_has_a_spoken_fixture() -> None:
    spoken = {cue for e in EXPECTED.values() for cue in e["cues"]}
    assert {c.name for c in load_cues()} <= spoken


# -- real transcription -----------------------------------------------------------------


@pytest.mark.parametrize("name", SPEECH)
def test_speech_is_transcribed_with_expected_words(
    name: str, transcripts: dict[str, Transcript | None]
) -> None:
    t = transcripts[name]
    assert t is not None, f"{name}: no transcript"
    words = set(normalize(t.text).split())
    missing = [w for w in EXPECTED[name]["words"] if w not in words]
    assert not missing, f"{name}: {missing} not in {t.text!r}"
    s = snippet(name)
    assert (t.speaker, t.start, t.end, t.batched) == (s.speaker, s.start, s.end, 1)
    assert t.words and all(s.start <= w.start <= w.end <= s.end for w in t.words)
    assert [t.text[w.offset : w.offset + len(w.text)] for w in t.words] == [w.text for w in t.words]
    assert -1.0 <= t.avg_logprob <= 0.0 and 0.0 <= t.no_speech_prob <= 0.6


@pytest.mark.parametrize("name", SPEECH)
def test_cues_found_in_real_transcripts(
    name: str, transcripts: dict[str, Transcript | None]
) -> None:
    t = transcripts[name]
    assert t is not None
    hits = CueMatcher(load_cues()).match(t.speaker, t.text)
    assert sorted(h.cue.name for h in hits) == sorted(EXPECTED[name]["cues"]), t.text


@pytest.mark.parametrize("name", NON_SPEECH)
def test_noise_and_silence_yield_nothing(
    name: str, transcripts: dict[str, Transcript | None]
) -> None:
    assert transcripts[name] is None


def test_card_number_transcript_is_redacted(transcripts: dict[str, Transcript | None]) -> None:
    t = transcripts["phrases_card_number.flac"]
    assert t is not None
    assert sum(c.isdigit() for c in t.text) >= 4, t.text
    masked = redact(t.text)
    assert not any(c.isdigit() for c in masked) and "#" in masked
    assert "card number" in normalize(masked)


def test_worker_drop_oldest_flood_counts_add_up(model: Any) -> None:
    settings = TranscriberSettings(queue_size=2, policy="drop_oldest")
    s = snippet("phrases_calm_down.flac")
    worker = TranscriptionWorker(settings, model)
    assert worker.wait_ready(10)
    n = 12
    accepted = [worker.submit(s) for _ in range(n)]
    results = worker.close(timeout=60)
    st = worker.stats()
    assert all(accepted)
    assert st.submitted == n
    assert st.submitted == st.transcribed + st.skipped
    assert st.skipped >= n - 1 - settings.queue_size
    assert st.skipped_s == pytest.approx(st.skipped * s.duration_s)
    assert st.pending == 0 and st.failed == 0 and st.error is None
    assert results and all("calm down" in normalize(r.text) for r in results)
    assert st.audio_s == pytest.approx(st.transcribed * s.duration_s)
    assert st.busy_s > 0 and st.rtf is not None and st.rtf < 2.0


def test_worker_block_policy_loses_nothing(model: Any) -> None:
    names = ["phrases_supervisor.flac", "phrases_defensive.flac", "phrases_profanity.flac"]
    settings = TranscriberSettings(queue_size=1, policy="block", max_batch_s=0.0)
    with TranscriptionWorker(settings, model) as worker:
        for i, name in enumerate(names):
            assert worker.submit(snippet(name, start=i * 100_000))
        results = worker.close()
    st = worker.stats()
    assert (st.submitted, st.transcribed, st.skipped, st.results) == (3, 3, 0, 3)
    by_start = {r.start // 100_000: r for r in results}
    for i, name in enumerate(names):
        words = set(normalize(by_start[i].text).split())
        assert set(EXPECTED[name]["words"]) <= words, by_start[i].text
    assert worker.poll() == []


# -- model loading ----------------------------------------------------------------------


def test_missing_model_folder_is_a_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match="no-such-model.*folder not found"):
        load_model(TranscriberSettings(model=str(missing)))


def test_broken_model_folder_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="missing tokenizer.json"):
        load_model(TranscriberSettings(model=str(tmp_path)))
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelError, match=f"{tmp_path}.*cannot load") as err:
        load_model(TranscriberSettings(model=str(tmp_path)))
    assert "\n" not in str(err.value)


def test_uncached_model_name_is_a_model_error_without_download() -> None:
    with pytest.raises(ModelError, match="'tonewatch-no-such/model'.*local cache"):
        load_model(TranscriberSettings(model="tonewatch-no-such/model"))


def test_worker_with_missing_model_records_error_and_refuses_work(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    worker = TranscriptionWorker(TranscriberSettings(model=str(missing)))
    assert worker.wait_ready(10) is False
    assert worker.error is not None and str(missing) in worker.error
    assert "\n" not in worker.error
    assert not worker.accepting
    assert worker.submit(Snippet("agent", 0, 16_000, np.zeros(16_000, np.float32))) is False
    assert worker.close(timeout=5) == []
    assert worker.stats().rejected == 1 and worker.stats().submitted == 0


# -- filters and worker logic with a fake model -----------------------------------------


@dataclass
class FakeSegment:
    text: str
    avg_logprob: float = -0.2
    no_speech_prob: float = 0.05
    compression_ratio: float = 1.2
    tokens: list[int] = field(default_factory=lambda: [1, 2, 3])


class FakeModel:
    """Stands in for WhisperModel: returns fixed segments, can hold the first call."""

    def __init__(self, segments: list[FakeSegment] | None = None, hold: bool = False) -> None:
        self.segments = segments if segments is not None else [FakeSegment("hello there")]
        self.calls: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail_on: int | None = None

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[Iterator[FakeSegment], Any]:
        assert kwargs["vad_filter"] is False and kwargs["temperature"] == 0.0
        assert kwargs["condition_on_previous_text"] is False
        self.calls.append(int(audio.shape[0]))
        self.started.set()
        assert self.release.wait(10), "test did not release the fake model"
        if self.fail_on is not None and int(audio.shape[0]) == self.fail_on:
            raise RuntimeError("boom\nsecond line")
        return iter(list(self.segments)), None


def tone(n: int, speaker: str = "agent", start: int = 0) -> Snippet:
    t = np.arange(n) / SAMPLE_RATE
    return Snippet(speaker, start, start + n, (0.1 * np.sin(2 * np.pi * 220 * t)).astype("f4"))  # type: ignore[arg-type]


def run_fake(segments: list[FakeSegment], n: int = 16_000) -> Transcript | None:
    return transcribe_snippet(cast(Any, FakeModel(segments)), tone(n), TranscriberSettings())


@pytest.mark.parametrize(
    ("segment", "kept"),
    [
        (FakeSegment("Hello there."), True),
        (FakeSegment("Hello there.", no_speech_prob=0.7), False),
        (FakeSegment("Hello there.", avg_logprob=-1.2), False),
        (FakeSegment("no no no no no no no", compression_ratio=3.0), False),
        (FakeSegment("Thank you."), True),
        (FakeSegment("Thank you.", avg_logprob=-0.7), False),
        (FakeSegment(" you", no_speech_prob=0.3), False),
        (FakeSegment("You?", avg_logprob=-0.3), True),
        (FakeSegment("[Music]"), False),
        (FakeSegment(" ... "), False),
    ],
)
def test_hallucination_filters(segment: FakeSegment, kept: bool) -> None:
    t = run_fake([segment])
    assert (t is not None) == kept
    if t is not None:
        assert t.text == segment.text.strip()


def test_kept_segments_join_and_drop_the_rest() -> None:
    t = run_fake(
        [
            FakeSegment("I need help.", avg_logprob=-0.2, tokens=[1] * 3),
            FakeSegment("Thank you.", avg_logprob=-0.9, no_speech_prob=0.5),
            FakeSegment("(laughs) With my bill.", avg_logprob=-0.5, tokens=[1]),
        ]
    )
    assert t is not None
    assert t.text == "I need help. With my bill."
    assert t.avg_logprob == pytest.approx((3 * -0.2 + 1 * -0.5) / 4)
    assert t.no_speech_prob == pytest.approx(0.05)


def test_short_or_silent_snippets_skip_the_model() -> None:
    model = FakeModel()
    settings = TranscriberSettings()
    assert transcribe_snippet(cast(Any, model), tone(int(0.29 * SAMPLE_RATE)), settings) is None
    silent = Snippet("agent", 0, 16_000, np.full(16_000, 5e-5, np.float32))
    assert transcribe_snippet(cast(Any, model), silent, settings) is None
    assert model.calls == []
    assert transcribe_snippet(cast(Any, model), tone(int(0.31 * SAMPLE_RATE)), settings)
    assert len(model.calls) == 1


def test_drop_oldest_never_blocks_and_drops_exactly_the_oldest() -> None:
    model = FakeModel(hold=True)
    settings = TranscriberSettings(queue_size=2, policy="drop_oldest", max_batch_s=0.0)
    worker = TranscriptionWorker(settings, cast(Any, model))
    first = tone(8_000, start=0)
    assert worker.submit(first)
    assert model.started.wait(5)  # the worker holds snippet 0 inside the model
    later = [tone(8_000 + 1_000 * i, start=100_000 * i) for i in range(1, 6)]
    assert all(worker.submit(s) for s in later)  # returns at once although the model is held
    st = worker.stats()
    assert (st.submitted, st.skipped, st.pending) == (6, 3, 3)
    assert st.skipped_s == pytest.approx(sum(s.duration_s for s in later[:3]))
    model.release.set()
    results = worker.close(timeout=10)
    assert sorted(r.start for r in results) == [0, 400_000, 500_000]
    st = worker.stats()
    assert st.submitted == st.transcribed + st.skipped == 6


def test_block_policy_waits_for_room() -> None:
    model = FakeModel(hold=True)
    settings = TranscriberSettings(queue_size=1, policy="block")
    worker = TranscriptionWorker(settings, cast(Any, model))
    assert worker.submit(tone(8_000, start=0))
    assert model.started.wait(5)
    assert worker.submit(tone(8_000, start=10_000))  # fills the queue
    done = threading.Event()

    def third() -> None:
        worker.submit(tone(8_000, start=20_000))
        done.set()

    thread = threading.Thread(target=third, daemon=True)
    thread.start()
    assert not done.wait(0.2)  # blocked: queue full, model held
    model.release.set()
    assert done.wait(5)
    results = worker.close(timeout=10)
    st = worker.stats()
    assert (st.submitted, st.transcribed, st.skipped) == (3, 3, 0)
    assert len(results) == 3


def test_backlog_of_one_speaker_is_batched() -> None:
    model = FakeModel(hold=True)
    settings = TranscriberSettings(queue_size=8, max_batch_s=5.0)
    worker = TranscriptionWorker(settings, cast(Any, model))
    assert worker.submit(tone(16_000, "agent", 0))
    assert model.started.wait(5)
    queued = [
        tone(16_000, "customer", 20_000),
        tone(16_000, "agent", 40_000),
        tone(24_000, "agent", 60_000),
        tone(48_000, "agent", 90_000),  # would pass max_batch_s: transcribed on its own
    ]
    for s in queued:
        assert worker.submit(s)
    model.release.set()
    results = worker.close(timeout=10)
    gap = int(0.5 * SAMPLE_RATE)
    assert model.calls == [16_000, 16_000, 16_000 + gap + 24_000, 48_000]
    assert worker.stats().transcribed == 5
    # The fake gives one segment without times: it spans the whole batch, and goes to the
    # snippet its middle falls in (the second of the batch).
    by_start = {r.start: r for r in results}
    assert sorted(by_start) == [0, 20_000, 60_000, 90_000]
    assert (by_start[60_000].batched, by_start[60_000].end) == (2, 84_000)


@dataclass
class FakeWord:
    word: str
    start: float
    end: float
    probability: float = 0.9


def test_batch_words_go_back_to_their_snippets() -> None:
    # Three snippets of 1.0, 2.0 and 1.0 s joined with 0.5 s gaps: offsets 0, 1.5 and 4.0 s.
    snippets = [tone(16_000, start=0), tone(32_000, start=100_000), tone(16_000, start=300_000)]
    words = [
        FakeWord(" Hello", 0.1, 0.5),
        FakeWord(" there.", 0.5, 1.2),  # runs into the gap: its middle is in snippet 0
        FakeWord(" I'm", 1.6, 1.9),
        FakeWord(" sorry", 1.9, 2.4),
        FakeWord(" about", 3.0, 3.4),
        FakeWord(" that.", 3.4, 3.9),
        FakeWord(" Thanks!", 4.05, 4.6),
    ]
    seg = FakeSegment("Hello there. I'm sorry about that. Thanks!", tokens=[1] * 7)
    seg.words = words  # type: ignore[attr-defined]
    out = transcribe_batch(cast(Any, FakeModel([seg])), snippets, TranscriberSettings())
    assert [(t.start, t.end, t.text) for t in out] == [
        (0, 16_000, "Hello there."),
        (100_000, 132_000, "I'm sorry about that."),
        (300_000, 316_000, "Thanks!"),
    ]
    sorry = out[1]
    assert [w.start for w in sorry.words] == [100_000 + 1_600, 100_000 + 6_400, 124_000, 130_400]
    assert sorry.words[-1].end == 132_000  # 3.9 s is in the gap after it: clipped
    lo = sorry.text.index("sorry")
    assert sorry.span_times(lo, lo + 5) == (100_000 + 6_400, 100_000 + 14_400)
    assert all(t.batched == 3 for t in out)
    assert out[0].words[-1].end == 16_000  # clipped to its snippet
    assert out[2].words[0].start == 300_000 + 800


def test_laughter_tags_are_counted_not_kept() -> None:
    seg = FakeSegment("(laughs) It works! Haha", tokens=[1] * 4)
    seg.words = [  # type: ignore[attr-defined]
        FakeWord(" (laughs)", 0.0, 0.3),
        FakeWord(" It", 0.3, 0.4),
        FakeWord(" works!", 0.4, 0.8),
        FakeWord(" Haha", 0.8, 0.95),
    ]
    t = transcribe_snippet(cast(Any, FakeModel([seg])), tone(16_000), TranscriberSettings())
    assert t is not None and t.text == "It works! Haha" and t.laughs == 2


def test_failed_transcription_is_counted_and_work_goes_on() -> None:
    model = FakeModel()
    model.fail_on = 12_345
    settings = TranscriberSettings(policy="block", max_batch_s=0.0)
    worker = TranscriptionWorker(settings, cast(Any, model))
    assert worker.submit(tone(12_345))
    assert worker.submit(tone(16_000, start=50_000))
    results = worker.close(timeout=10)
    st = worker.stats()
    assert [r.start for r in results] == [50_000]
    assert (st.failed, st.transcribed, st.error) == (1, 1, None)
    assert worker.last_failure == "RuntimeError: boom second line"


def test_closed_worker_refuses_work() -> None:
    worker = TranscriptionWorker(TranscriberSettings(), cast(Any, FakeModel()))
    assert worker.close(timeout=5) == []
    assert worker.submit(tone(16_000)) is False
    assert worker.stats().rejected == 1


def test_too_short_snippets_are_refused_by_submit() -> None:
    worker = TranscriptionWorker(TranscriberSettings(), cast(Any, FakeModel()))
    assert worker.submit(tone(1_000)) is False
    worker.close(timeout=5)
    assert (worker.stats().too_short, worker.stats().submitted) == (1, 0)


# -- settings ---------------------------------------------------------------------------


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="policy must be one of drop_oldest|block, got 'lossy'"):
        TranscriberSettings(policy="lossy")
    with pytest.raises(ValueError, match="queue_size must be at least 1"):
        TranscriberSettings(queue_size=0)
    with pytest.raises(ValueError, match="language must be a Whisper language code.*'xx'"):
        TranscriberSettings(language="xx")
    assert TranscriberSettings(language="de").language == "de"  # a multilingual model's


def test_a_language_the_english_only_model_cannot_speak_is_one_warning(tmp_path: Path) -> None:
    """`--language de` with the embedded tiny.en: one warning line of ours (not the speech
    library's, once per snippet), and the call is transcribed as English; `--language xx`
    is no language: exit 2, one line."""
    import subprocess
    import sys

    def replay(*extra: str) -> subprocess.CompletedProcess[str]:
        call = FIXTURES / "words_german.flac"
        return subprocess.run(
            [sys.executable, "-m", "monitor", "replay", str(call), "--fast", "--quiet", *extra],
            capture_output=True,
            text=True,
            cwd=FIXTURES.parent,
            timeout=300,
        )

    r = replay("--language", "xx")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--language" in r.stderr or "language" in r.stderr
    r = replay("--language", "de", "--log", str(tmp_path / "de.jsonl"))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "English-only" in lines[0] and "'de'" in lines[0], r.stderr
    records = [json.loads(x) for x in (tmp_path / "de.jsonl").open()]
    said = [x["text"] for x in records if x["record"] == "transcript"]
    assert any("help" in t.lower() for t in said), said  # the English turns still are


def test_settings_from_table() -> None:
    s = settings_from_table(
        {"model": "/m", "cpu_threads": 2, "logprob_threshold": -2, "enabled": True},
        ignore=("enabled",),
    )
    assert (s.model, s.cpu_threads, s.logprob_threshold) == ("/m", 2, -2.0)
    assert settings_from_table({"language": ""}).language is None
    with pytest.raises(ValueError, match=r"unknown setting transcription\.modle"):
        settings_from_table({"modle": "x"})
    with pytest.raises(ValueError, match=r"transcription\.beam_size must be int, got '5'"):
        settings_from_table({"beam_size": "5"})
    with pytest.raises(ValueError, match=r"transcription\.policy must be one of"):
        settings_from_table({"policy": "fast"})


def test_snippet_validation() -> None:
    with pytest.raises(ValueError, match="speaker must be one of agent|customer"):
        Snippet("caller", 0, 10, np.zeros(10, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        Snippet("agent", 0, 10, np.zeros((10, 2), np.float32))
    assert Snippet("agent", 0, 10, np.zeros(10)).samples.dtype == np.float32


# -- each phrase at its own time, through the real pipeline ---------------------------


def test_turns_transcribed_together_keep_their_own_times(model: Any) -> None:
    """Four agent turns, replayed faster than the model: the worker decodes them in batches,
    yet each transcript, and each phrase alert, carries the time of its own turn."""
    from alerts.model import Alert, TranscriptRecord
    from audio.sources import ArraySource
    from monitor.config import load_config
    from monitor.pipeline import Pipeline
    from monitor.speech import PhraseSpotter

    names = ["neutral", "empathy", "defensive", "apology"]
    gap = np.zeros(int(1.2 * SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = [gap]
    spans: dict[str, tuple[float, float]] = {}
    pos = gap.size
    for name in names:
        x, _ = sf.read(str(FIXTURES / f"phrases_{name}.flac"), dtype="float32")
        spans[name] = (pos / SAMPLE_RATE, (pos + x.size) / SAMPLE_RATE)
        parts += [x, gap]
        pos += x.size + gap.size
    agent = np.concatenate(parts)
    settings = TranscriberSettings(policy="block")
    seen: list[Transcript] = []

    class Spotter(PhraseSpotter):
        def __call__(self, t: Transcript) -> list[Alert | TranscriptRecord]:
            seen.append(t)
            return super().__call__(t)

    worker = TranscriptionWorker(settings, model)
    pipe = Pipeline(load_config(), "t", worker, Spotter(CueMatcher(load_cues()), "t", False))
    records: list[Alert | TranscriptRecord] = []
    for block in ArraySource(agent, np.zeros_like(agent), block_s=5.0):
        records += pipe.push(block)
    records += pipe.finish()

    assert max(t.batched for t in seen) > 1, "the worker never batched: the test proves nothing"
    transcripts = [r for r in records if isinstance(r, TranscriptRecord)]
    assert len(transcripts) == len(names), [t.text for t in transcripts]
    for rec in transcripts:
        name = next(n for n in names if spans[n][0] - 0.5 <= rec.start <= spans[n][1])
        lo, hi = spans[name]
        assert abs(rec.start - lo) < 0.5 and abs(rec.end - hi) < 0.7, (name, rec)
        words = set(normalize(rec.text).split())
        assert set(EXPECTED[f"phrases_{name}.flac"]["words"]) <= words, (name, rec.text)
    phrases = {a.cue: a for a in records if isinstance(a, Alert) and a.kind == "phrase"}
    assert set(phrases) == {"empathy", "defensive", "apology"}
    for cue, alert in phrases.items():
        lo, hi = spans[cue]
        assert lo - 0.3 <= alert.start < alert.end <= hi + 0.3, (cue, alert.start, alert.end)
