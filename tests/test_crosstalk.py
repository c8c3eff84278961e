"""Crosstalk from both sides (two lavaliers, a speakerphone, room echo): each channel
hears both people; speech goes to its earlier source, real double talk stays.
Synthetic voices through the real pipeline."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from audio.crosstalk import EchoLocator
from audio.types import HOP, SAMPLE_RATE
from tests.conftest import run, silence, voice


def leak(x: np.ndarray, delay_s: float, gain_db: float) -> np.ndarray:
    """A delayed, low-passed, attenuated copy of `x` (the other microphone's view)."""
    sos = butter(2, 3000.0, btype="lowpass", fs=SAMPLE_RATE, output="sos")
    y = sosfilt(sos, x.astype(np.float64)) * 10 ** (gain_db / 20)
    d = int(delay_s * SAMPLE_RATE)
    return np.concatenate([np.zeros(d), y])[: x.size].astype(np.float32)


def both_ways(agent: np.ndarray, customer: np.ndarray):
    return (
        agent + leak(customer, 0.006, -8.0),
        customer + leak(agent, 0.009, -7.0),
    )


def turns(n: int, barge: bool = False):
    """Alternating turns (customer 2.5 s, agent 2 s); with `barge`, a last long customer
    turn that the agent talks into for 2 s."""
    c_parts, a_parts = [], []
    for i in range(n):
        c = voice(2.5, seed=i, f0_hz=130.0, level=0.05)
        a = voice(2.0, seed=100 + i, f0_hz=210.0, level=0.05)
        c_parts += [c, np.zeros(a.size + 2 * 9600, np.float32)]
        a_parts += [np.zeros(c.size + 9600, np.float32), a, silence(0.6)]
    agent, customer = np.concatenate(a_parts), np.concatenate(c_parts)
    start = customer.size / SAMPLE_RATE
    if barge:
        long = voice(8.0, seed=50, f0_hz=130.0, level=0.05)
        cut_in = np.concatenate([silence(3.0), voice(2.0, seed=51, f0_hz=210.0, level=0.05)])
        customer = np.concatenate([customer, long])
        agent = np.concatenate([agent, np.zeros(customer.size - agent.size, np.float32)])
        agent[int(start * SAMPLE_RATE) : int(start * SAMPLE_RATE) + cut_in.size] += cut_in
    return agent, customer, start


def test_each_channel_hearing_both_people_invents_no_overlap(cfg):
    agent, customer, _ = turns(10)
    clean, clean_summary = run(agent, customer, cfg)
    alerts, summary = run(*both_ways(agent, customer), cfg)
    assert [a.kind for a in alerts] == [a.kind for a in clean] == []
    assert summary["agent_interruptions"] == summary["customer_interruptions"] == 0
    # Without the correlation test this call has ~20 s of "overlap"; what is left is a few
    # 200 ms ticks where the copy's level swings past what the copy usually is.
    assert summary["overlap_s"] <= clean_summary["overlap_s"] + 2.0, summary["overlap_s"]
    # The copies were given to their sources, on both channels: the agent's copy on the
    # customer's channel by the guard, the customer's copy in the agent's mic by the guard
    # until the headset-bleed canceller has learned it, then by the canceller.
    assert summary["crosstalk_s"]["customer"] > 3, summary["crosstalk_s"]
    assert summary["crosstalk_s"]["agent"] > 0.5, summary["crosstalk_s"]
    assert summary["headset_bleed"]["discounted_s"] > 3, summary["headset_bleed"]
    # Each speaker's baseline is their own voice, not the other's.
    assert abs(summary["baseline"]["agent"]["pitch_st"] - 12 * np.log2(2.1)) < 1.0
    assert abs(summary["baseline"]["customer"]["pitch_st"] - 12 * np.log2(1.3)) < 1.0


def test_real_double_talk_through_crosstalk_is_still_an_interruption(cfg):
    agent, customer, start = turns(8, barge=True)
    alerts, _ = run(*both_ways(agent, customer), cfg)
    cuts = [a for a in alerts if a.kind == "agent_interrupting"]
    assert len(cuts) == 1 and abs(cuts[0].start - (start + 3.0)) < 1.0, alerts


def test_the_copy_goes_to_the_earlier_channel():
    x = voice(1.0, seed=3, f0_hz=150.0, level=0.1)
    copy = leak(x, 0.005, -3.0)  # nearly as loud, 5 ms later
    for a, b, follower in ((x, copy, 1), (copy, x, 0)):
        loc = EchoLocator()
        loc.push(0, a, b)
        both = np.ones(a.size // HOP, dtype=bool)
        masks = loc.judge(0, both, 20)
        inner = slice(20, -20)  # the ticks inside the sound (the edges see zeros beyond it)
        assert masks[follower][inner].all() and not masks[1 - follower][inner].any()
