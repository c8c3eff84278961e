"""Headset bleed: the customer's delayed copy in the agent mic is found, measured and taken
out, without touching real double talk; and through the real pipeline it raises no agent
alert while the customer's alerts and a real barge-in still fire."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from alerts.model import ACOUSTIC_KINDS
from audio.bleed import BleedCanceller
from audio.sources import ArraySource, FileSource
from audio.types import SAMPLE_RATE
from monitor.pipeline import Pipeline
from tests.conftest import FIXTURES, silence, voice

BLEED = FIXTURES / "headset_bleed.flac"
AGENT_KINDS = {"agent_raised", "agent_yelling", "agent_matching", "agent_interrupting"}


def delayed(x: np.ndarray, delay_ms: float) -> np.ndarray:
    """Band-limited fractional delay (FFT phase shift), independent of the canceller's FIR."""
    d = delay_ms * SAMPLE_RATE / 1000
    n_fft = 1 << int(np.ceil(np.log2(x.size + int(d) + 64)))
    f = np.fft.rfftfreq(n_fft)
    y = np.fft.irfft(np.fft.rfft(x, n_fft) * np.exp(-2j * np.pi * f * d), n_fft)
    return y[: x.size].astype(np.float32)


def clean_all(agent: np.ndarray, customer: np.ndarray, block_s: float = 0.1):
    canceller = BleedCanceller()
    out = [
        c.agent for b in ArraySource(agent, customer, block_s=block_s) for c in canceller.push(b)
    ]
    out += [c.agent for c in canceller.flush()]
    return np.concatenate(out), canceller


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def span(x: np.ndarray, lo_s: float, hi_s: float) -> np.ndarray:
    return x[int(lo_s * SAMPLE_RATE) : int(hi_s * SAMPLE_RATE)]


@pytest.fixture(scope="module")
def customer() -> np.ndarray:
    return np.concatenate([voice(3.0, 130, seed=1), silence(1.0), voice(4.0, 180, seed=2)])


def test_finds_delay_and_gain_and_removes_the_copy(customer):
    bleed = 0.5 * delayed(customer, 20.3)  # -6 dB, 20.3 ms (a fraction of a sample)
    out, canceller = clean_all(bleed, customer)
    summary = canceller.summary()
    assert summary["detected"] and summary["active_at_end"]
    assert summary["delay_ms"] == pytest.approx(20.3, abs=0.05)
    assert summary["gain_db"] == pytest.approx(-6.0, abs=0.2)
    assert summary["hops_discounted"] > 400
    # Once found (within the first second), the copy is gone: > 40 dB down.
    assert db(span(out, 1.0, 3.0)) < db(span(bleed, 1.0, 3.0)) - 40
    assert db(span(out, 4.0, 8.0)) < db(span(bleed, 4.0, 8.0)) - 40


def bandpass(x: np.ndarray) -> np.ndarray:
    """A small speaker's path: 300-3400 Hz, 2nd order (phase shifts, ringing)."""
    b, a = scipy.signal.butter(2, [300, 3400], btype="band", fs=SAMPLE_RATE)
    return scipy.signal.lfilter(b, a, x).astype(np.float32)


def test_a_filtered_path_is_fitted_and_removed(customer):
    """A dull earpiece (low pass at 2 kHz) plus the headset shell's echo 1 ms later."""
    b, a = scipy.signal.butter(1, 2000, fs=SAMPLE_RATE)
    direct = scipy.signal.lfilter(b, a, delayed(customer, 20.3))
    bleed = (0.5 * direct + 0.2 * np.r_[np.zeros(16), direct[:-16]]).astype(np.float32)
    out, canceller = clean_all(bleed, customer)
    summary = canceller.summary()
    assert summary["detected"] and summary["correlation"] > 0.95
    assert 20.0 <= summary["delay_ms"] <= 21.5
    assert db(span(out, 1.0, 3.0)) < db(span(bleed, 1.0, 3.0)) - 30
    assert db(span(out, 4.0, 8.0)) < db(span(bleed, 4.0, 8.0)) - 30


def test_real_double_talk_passes_through(customer):
    agent = np.concatenate([silence(4.5), voice(2.5, 210, seed=3), silence(1.0)])
    bleed = 0.5 * delayed(customer, 20.3)
    out, canceller = clean_all(agent + bleed, customer)
    assert canceller.summary()["detected"]
    talk = span(out, 4.6, 6.9)
    # What is left while both talk is the agent, with the bleed taken out of it.
    assert db(talk - span(agent, 4.6, 6.9)) < db(span(agent, 4.6, 6.9)) - 30


def test_no_bleed_is_not_detected_and_the_mic_is_untouched(customer):
    agent = np.concatenate([voice(2.0, 220, seed=4), voice(6.0, 200, seed=5)])  # talks over
    out, canceller = clean_all(agent, customer)
    assert not canceller.summary()["detected"]
    assert np.array_equal(out, agent)


def test_cancelling_stops_when_the_bleed_does():
    cust = np.concatenate([voice(4.0, 130, seed=6), silence(0.5), voice(6.0, 150, seed=7)])
    bleed = 0.5 * delayed(cust, 12.0)
    bleed[int(4.5 * SAMPLE_RATE) :] = 0.0  # the agent put the headset back on
    agent = np.concatenate([silence(6.0), voice(4.5, 220, seed=8)])
    mic = agent + bleed
    out, canceller = clean_all(mic, cust)
    summary = canceller.summary()
    assert summary["detected"] and not summary["active_at_end"]
    # Even while the estimate was stale, the agent channel never got louder.
    cells = out.size // 800
    before = (mic[: cells * 800].reshape(cells, 800).astype(np.float64) ** 2).sum(axis=1)
    after = (out[: cells * 800].reshape(cells, 800).astype(np.float64) ** 2).sum(axis=1)
    assert np.all(after <= before * (1 + 1e-4) + 1e-12)


def test_block_size_does_not_change_the_result(customer):
    agent = np.concatenate([silence(4.5), voice(2.5, 210, seed=3), silence(1.0)])
    mic = agent + 0.5 * delayed(customer, 33.7)
    a, ca = clean_all(mic, customer, block_s=0.1)
    b, cb = clean_all(mic, customer, block_s=1.0)
    assert np.array_equal(a, b) and ca.summary() == cb.summary()
    # Blocks that split the 50 ms cells the subtraction is judged on: the same audio.
    c, cc = clean_all(mic, customer, block_s=441 / SAMPLE_RATE)
    assert np.array_equal(a, c) and ca.summary() == cc.summary()


def replay(cfg, canceller_on: bool = True, blocks=None):
    pipe = Pipeline(cfg, "bleed")
    if not canceller_on:
        # Control: the same call without the stage (it hands every block on untouched),
        # and without the crosstalk guard's correlation test, which also gives a plain
        # copy of the customer back to the customer.
        pipe.bleed.push = lambda block: [block]
        pipe.bleed.flush = lambda: []
        pipe.guard.echo.min_corr = 2.0
    alerts = []
    for block in FileSource(BLEED, block_s=1.0) if blocks is None else blocks:
        alerts += pipe.push(block)
    alerts += pipe.finish()
    return [a for a in alerts if a.kind in ACOUSTIC_KINDS], pipe.summary()


class KeepSnippets:
    """Stands in for the transcription worker: keeps what it is given, transcribes nothing."""

    def __init__(self) -> None:
        self.snippets: list = []

    def submit(self, snippet) -> bool:
        self.snippets.append(snippet)
        return True

    def poll(self) -> list:
        return []

    def close(self, timeout=None) -> list:
        return []

    def stats(self):
        from audio.transcribe import WorkerStats

        return WorkerStats(*(0,) * 9, busy_s=0.0, audio_s=0.0, error=None)

    # Live pace: nothing is ever transcribed, so nothing is pending and nothing waits.
    policy = "drop_oldest"

    def pending_before(self, speaker: str, t: int) -> bool:
        return False

    def promote(self, speaker: str, t: int) -> None:
        pass

    def wait_for(self, speaker: str, t: int, timeout: float | None = None) -> bool:
        return True


def test_first_words_before_the_path_is_known_are_cleaned_for_transcription(cfg, customer):
    """Bleed heard before the canceller locks on never reaches the agent's transcript: the
    audio kept for transcription is replaced by its cleaned copy once the path is known."""
    lead = silence(1.0)
    cust = np.concatenate([lead, customer])
    mic = 0.5 * delayed(cust, 20.3)
    keep = KeepSnippets()
    pipe = Pipeline(cfg, "t", transcriber=keep)
    for block in ArraySource(mic, cust, block_s=0.1):
        pipe.push(block)
    assert pipe.bleed.detected
    kept = pipe.cutter.audio["agent"].get(int(1.0 * SAMPLE_RATE), int(1.3 * SAMPLE_RATE))
    assert kept.size == int(0.3 * SAMPLE_RATE)
    # The customer's first 0.3 s in the mic came before the estimate, yet what would be
    # transcribed for the agent is far below the bleed that was there.
    assert db(kept) < db(span(mic, 1.0, 1.3)) - 20
    pipe.finish()
    for snip in keep.snippets:
        if snip.speaker == "agent":
            assert db(snip.samples) < db(span(mic, 1.0, 4.0)) - 20


def test_fixture_bleed_gives_no_agent_alert_but_barge_in_and_yelling_fire(cfg):
    spec = json.loads((FIXTURES / "headset_bleed.expected.json").read_text())
    events = {e["what"].split(" (")[0]: e for e in spec["events"]}
    yell = events["customer yells"]
    barge = events["agent barges in over the customer"]
    alerts, summary = replay(cfg)
    kinds = [(a.kind, a.speaker) for a in alerts]
    assert ("customer_yelling", "customer") in kinds
    agent_alerts = [a for a in alerts if a.kind in AGENT_KINDS]
    # The one agent alert is the real barge-in: double talk with bleed present.
    assert [a.kind for a in agent_alerts] == ["agent_interrupting"]
    assert abs(agent_alerts[0].start - barge["start"]) <= 1.5
    assert not any(yell["start"] - 1 <= a.start <= yell["end"] + 3 for a in agent_alerts)
    assert summary["agent_interruptions"] == 1
    bleed = summary["headset_bleed"]
    assert bleed["detected"]
    assert bleed["delay_ms"] == pytest.approx(spec["bleed"]["delay_ms"], abs=0.1)
    assert bleed["gain_db"] == pytest.approx(spec["bleed"]["gain_db"], abs=0.3)
    assert bleed["hops_discounted"] > 1000


def test_fixture_without_the_canceller_would_blame_the_agent(cfg):
    """Control: the fixture really exercises bleed; without the stage the agent is blamed."""
    alerts, summary = replay(cfg, canceller_on=False)
    agent_alerts = [a.kind for a in alerts if a.kind in AGENT_KINDS]
    assert "agent_yelling" in agent_alerts or "agent_matching" in agent_alerts
    assert summary["overlap_s"] > 10


def test_fixture_with_a_filtered_bleed_path_still_blames_nobody(cfg):
    """The same call through a small speaker's path (bandpass) instead of a plain copy."""
    spec = json.loads((FIXTURES / "headset_bleed.expected.json").read_text())
    audio, _ = sf.read(BLEED, dtype="float32")
    customer = audio[:, 1]
    plain = 10 ** (spec["bleed"]["gain_db"] / 20) * delayed(customer, spec["bleed"]["delay_ms"])
    agent = audio[:, 0] - plain  # the agent's own voice (to the 16-bit rounding)
    mic = agent + 0.5 * bandpass(delayed(customer, 20.3))
    alerts, summary = replay(cfg, blocks=ArraySource(mic, customer, block_s=1.0))
    agent_alerts = [a.kind for a in alerts if a.kind in AGENT_KINDS]
    assert agent_alerts == ["agent_interrupting"]
    assert "customer_yelling" in [a.kind for a in alerts]
    assert summary["headset_bleed"]["detected"] and summary["overlap_s"] < 5
