"""Each acoustic alert kind through the real pipeline on synthetic voices with known
answers, and the interruption state machine on speech patterns."""

from __future__ import annotations

import numpy as np
import pytest

from alerts.overlap import OverlapTracker
from alerts.settings import DetectorSettings
from alerts.voice import VoiceTracker
from audio.types import HOP, SAMPLE_RATE
from tests.conftest import run, silence, voice

NORMAL = {"f0_hz": 130.0, "level": 0.05, "tilt": 1.0}
YELL = {"f0_hz": 130.0 * 2 ** (8 / 12), "level": 0.2, "tilt": 0.3}  # +8 st, flatter, +12 dB


def turns(n: int, seed: int = 0, **kw: float) -> np.ndarray:
    parts = []
    for i in range(n):
        parts += [voice(2.5, seed=seed + i, **kw), silence(0.6)]
    return np.concatenate(parts)


def dialogue(customer_test: np.ndarray | None, agent_test: np.ndarray | None, warm: int = 8):
    """Warm-up turns in normal voices (alternating), then the test turns (alternating)."""
    c_parts, a_parts = [], []
    for i in range(warm):
        c = voice(2.5, seed=i, **NORMAL)
        a = voice(2.0, seed=100 + i, f0_hz=210.0, level=0.04)
        c_parts += [c, np.zeros(a.size + 9600, np.float32)]
        a_parts += [np.zeros(c.size, np.float32), a, silence(0.6)]
    start = sum(x.size for x in c_parts) / SAMPLE_RATE
    c_test = customer_test if customer_test is not None else np.zeros(0, np.float32)
    a_test = agent_test if agent_test is not None else np.zeros(0, np.float32)
    c_parts += [c_test, np.zeros(a_test.size, np.float32)]
    a_parts += [np.zeros(c_test.size, np.float32), a_test]
    return np.concatenate(a_parts), np.concatenate(c_parts), start


def kinds(alerts):
    return [(a.kind, a.speaker) for a in alerts]


def test_customer_louder_voice_is_raised_not_yelling(cfg):
    agent, customer, start = dialogue(turns(3, seed=50, f0_hz=130.0, level=0.14), None)
    alerts, summary = run(agent, customer, cfg)
    assert kinds(alerts) == [("customer_raised", "customer")]
    assert alerts[0].evidence["level_over_baseline_db"] > 6
    assert abs(alerts[0].start - start) < 1.0


@pytest.mark.parametrize("gain", [1.0, 4.0])
def test_customer_yelling_loud_or_quiet(cfg, gain):
    yell = {**YELL, "level": 0.05 * gain}
    agent, customer, start = dialogue(turns(3, seed=60, **yell), None)
    alerts, _ = run(agent, customer, cfg)
    yells = [a for a in alerts if a.kind == "customer_yelling"]
    assert len(yells) == 1, kinds(alerts)
    assert abs(yells[0].start - start) < 1.0
    assert yells[0].evidence["pitch_change_st"] > 5
    assert yells[0].evidence["balance_change_db"] > 3


def test_gain_step_on_the_customer_line_gives_at_most_one_raised(cfg):
    agent, customer, _ = dialogue(turns(8, seed=70, f0_hz=130.0, level=0.2), None)
    alerts, summary = run(agent, customer, cfg)
    assert [k for k, _ in kinds(alerts)] in ([], ["customer_raised"])
    assert summary["baseline"]["customer"]["level_rebased"] >= 1


def test_agent_raised_and_agent_yelling_with_a_calm_customer(cfg):
    agent, customer, _ = dialogue(None, turns(3, seed=80, f0_hz=210.0, level=0.13))
    alerts, _ = run(agent, customer, cfg)
    assert kinds(alerts) == [("agent_raised", "agent")]
    shout = {"f0_hz": 210.0 * 2 ** (8 / 12), "level": 0.16, "tilt": 0.3}
    agent, customer, _ = dialogue(None, turns(3, seed=80, **shout))
    alerts, _ = run(agent, customer, cfg)
    assert kinds(alerts) == [("agent_yelling", "agent")]


def test_agent_matching_a_yelling_customer_but_not_a_calm_reply(cfg):
    c_yell = voice(3.0, seed=90, **YELL)
    a_shout = voice(3.0, seed=91, f0_hz=210.0 * 2 ** (6 / 12), level=0.14, tilt=0.4)
    a_calm = voice(3.0, seed=91, f0_hz=210.0, level=0.04)
    for reply, expect in [(a_shout, True), (a_calm, False)]:
        c_test = np.concatenate([c_yell, np.zeros(reply.size + 16000, np.float32), c_yell])
        a_test = np.concatenate([np.zeros(c_yell.size, np.float32), reply, silence(1.0)])
        a_test = np.pad(a_test, (0, c_test.size - a_test.size))
        agent, customer, _ = dialogue(None, None)
        agent = np.concatenate([agent, a_test])
        customer = np.concatenate([customer, c_test])
        alerts, _ = run(agent, customer, cfg)
        agent_kinds = {k for k, sp in kinds(alerts) if sp == "agent"}
        assert ("customer_yelling", "customer") in kinds(alerts)
        assert ("agent_matching" in agent_kinds) == expect, kinds(alerts)
        if not expect:
            assert not agent_kinds
        else:
            # Shouting back is one alert, matching, carrying the agent's yelling evidence.
            assert agent_kinds == {"agent_matching"}, kinds(alerts)
            m = next(a for a in alerts if a.kind == "agent_matching")
            assert m.evidence["agent_state"] == "yelling"
            assert m.evidence["level_over_baseline_db"] > 6


def _speech(pattern: str) -> np.ndarray:
    """One char per 100 ms: '1' speech, '0' silence -> per-hop bools."""
    return np.repeat(np.array([c == "1" for c in pattern]), 10)


@pytest.mark.parametrize(
    "holder, incoming, expect",
    [
        # The customer talks on; the agent barges in for 2 s -> interruption at 2.0 s.
        ("1" * 60, "0" * 20 + "1" * 20 + "0" * 20, "interrupt"),
        # A 0.4 s "mm-hmm" mid-turn -> backchannel.
        ("1" * 60, "0" * 25 + "1" * 4 + "0" * 31, "backchannel"),
        # The agent starts right as the customer ends -> hand-over, no interruption.
        ("1" * 25 + "0" * 35, "0" * 23 + "1" * 30 + "0" * 7, "none"),
        # The agent starts 0.5 s into the customer's turn: not mid-turn.
        ("1" * 60, "0" * 5 + "1" * 30 + "0" * 25, "none"),
    ],
)
def test_overlap_tracker(holder, incoming, expect):
    tracker = OverlapTracker(DetectorSettings(), hangover_s=0.3)
    h, x = _speech(holder), _speech(incoming)
    found = []
    for lo in range(0, h.size, 20):  # 200 ms ticks, as the detector feeds it
        found += tracker.push(lo * HOP, x[lo : lo + 20], h[lo : lo + 20])
    if expect == "interrupt":
        assert [round(t / SAMPLE_RATE, 2) for t, _ in found] == [2.0]
        assert found[0][1] >= 0.5 * SAMPLE_RATE
    else:
        assert found == []
    assert (tracker.backchannels == 1) == (expect == "backchannel")


def swinging_dialogue(swing_db: float, test_gain_db: float):
    """Like `dialogue`, but the customer's calm turns alternate `swing_db` above and below
    their level; the test turns are `test_gain_db` over it, same pitch and timbre."""
    c_parts, a_parts = [], []
    for i in range(10):
        level = 0.05 * 10 ** ((swing_db if i % 2 else -swing_db) / 20)
        c = voice(2.5, seed=i, f0_hz=130.0, level=level)
        a = voice(2.0, seed=100 + i, f0_hz=210.0, level=0.04)
        c_parts += [c, np.zeros(a.size + 9600, np.float32)]
        a_parts += [np.zeros(c.size, np.float32), a, silence(0.6)]
    test = turns(2, seed=90, f0_hz=130.0, level=0.05 * 10 ** (test_gain_db / 20))
    c_parts.append(test)
    a_parts.append(np.zeros(test.size, np.float32))
    return np.concatenate(a_parts), np.concatenate(c_parts)


def test_raised_is_relative_to_the_speakers_own_swings(cfg):
    # +5 dB is clearly raised for a steady talker (threshold 2 x their swings, >= 4 dB) ...
    alerts, _ = run(*swinging_dialogue(0.0, 5.0), cfg)
    assert kinds(alerts) == [("customer_raised", "customer")]
    # ... and not for one whose calm turns already swing +-3 dB (threshold stays 6 dB).
    alerts, _ = run(*swinging_dialogue(3.0, 5.0), cfg)
    assert kinds(alerts) == []


def test_quiet_yelling_needs_a_coherent_pitch_track():
    # The calm call's animated phrase: +5 st, +9 dB brighter, +2 dB louder.
    v = VoiceTracker("customer", DetectorSettings())
    v.pitch_spread = 6.0  # a shout lifts the whole contour: a narrow 10-90 % range
    assert v.classify((2.0, 5.0, 9.0)) == "yelling"
    v.pitch_spread = 20.0  # more than an octave: octave errors or sweeping intonation
    assert v.classify((2.0, 5.0, 9.0)) == "raised"
    # A raised level vouches for the effort on its own.
    assert v.classify((8.0, 5.0, 9.0)) == "yelling"
    # Hysteresis: a yelling state holds the track test at twice the range.
    assert v.classify((2.0, 5.0, 9.0), margin=0.5) == "yelling"


def test_raised_by_pitch_and_timbre_alone_says_so(cfg):
    # Same level, pitch up 2.5 st and a flatter spectrum: effort, not loudness.
    tense = {"f0_hz": 130.0 * 2 ** (2.5 / 12), "level": 0.05, "tilt": 0.5}
    agent, customer, _ = dialogue(turns(3, seed=55, **tense), None)
    alerts, _ = run(agent, customer, cfg)
    assert kinds(alerts) == [("customer_raised", "customer")]
    assert alerts[0].message.startswith("Customer's voice is more energetic (pitch +")
    assert abs(alerts[0].evidence["level_over_baseline_db"]) < 4
