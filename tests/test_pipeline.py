"""What the pipeline publishes: one frozen snapshot per block, read by everyone who shows
state; turns for transcription cut on speech after the crosstalk guard."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from audio.sources import FileSource
from audio.types import HOP, SAMPLE_RATE
from audio.vad import VAD_FRAME
from monitor.pipeline import Pipeline
from monitor.speech import Turns
from tests.conftest import FIXTURES


def _snapshots(name: str, cfg, block_s: float = 0.1):
    pipe = Pipeline(cfg, "snap")
    snaps = []
    for block in FileSource(FIXTURES / f"{name}.flac", block_s=block_s):
        pipe.push(block)
        snaps.append(pipe.snapshot)
    pipe.finish()
    return pipe, snaps


def test_snapshot_is_frozen_and_follows_the_stream(cfg):
    pipe, snaps = _snapshots("customer_yelling", cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snaps[0].t = 5  # type: ignore[misc]
    # Each push publishes a new snapshot; decided time trails received time a little.
    assert len({id(s) for s in snaps}) == len(snaps)
    assert all(0 <= s.received - s.t <= int(0.3 * SAMPLE_RATE) for s in snaps[5:])
    assert [s.received for s in snaps] == sorted(s.received for s in snaps)
    # The customer yells: some snapshot says so, with the baseline known by then.
    yelling = [s for s in snaps if s.customer.state == "yelling"]
    assert yelling and all(s.customer.baseline_level_db is not None for s in yelling)
    assert any(s.customer.speaking for s in snaps) and any(not s.agent.speaking for s in snaps)


def test_snapshot_threshold_is_the_one_in_force(cfg):
    """The raised threshold the snapshot shows adapts to the speaker (as the rule does),
    not the configured ceiling the view used to draw."""
    _, snaps = _snapshots("calm_call", cfg, block_s=1.0)
    ceiling = cfg.detector.raised_level_db
    assert snaps[0].agent.raised_db == ceiling  # nothing known of the speaker yet
    assert any(s.agent.raised_db < ceiling or s.customer.raised_db < ceiling for s in snaps)


def test_snapshot_speaking_is_after_the_crosstalk_guard(cfg):
    """In the bleed call the guard masks some of the agent's 'speech' (the customer's
    echo): the snapshot never shows speaking where the guard masked it."""
    pipe, snaps = _snapshots("headset_bleed", cfg)
    assert pipe.guard.bleed_hops[0] > 0
    assert snaps[-1].bleed.detected and snaps[-1].bleed.delay_ms == pytest.approx(20.3, abs=0.1)
    masked: list[int] = []
    pipe2 = Pipeline(cfg, "snap")
    apply = pipe2.guard.apply

    def spy(a, b, tick):
        masks = apply(a, b, tick)
        masked.extend((a.start + int(i) * HOP) for i in np.flatnonzero(masks[0]))
        return masks

    pipe2.guard.apply = spy  # type: ignore[method-assign]
    seen = []
    for block in FileSource(FIXTURES / "headset_bleed.flac", block_s=0.1):
        pipe2.push(block)
        seen.append(pipe2.snapshot)
    masked_set = set(masked)
    last_hop = [s.t - HOP for s in seen if s.t > 0]
    assert any(t in masked_set for t in last_hop)  # the check below has cases to look at
    assert not any(s.agent.speaking for s in seen if s.t - HOP in masked_set)


def test_turns_reach_back_over_onset_and_leave_out_the_hangover():
    turns = Turns("agent", onset_s=0.06, hangover_s=0.3)
    speech = np.zeros(100, bool)
    speech[20:50] = True
    masked = np.zeros(100, bool)
    closed = turns.push(0, speech, masked)
    # As the VAD's segment: back over the onset (2 frames -> 1 frame), without the
    # hangover (10 frames -> 9 frames).
    assert [(s.start, s.end) for s in closed] == [(20 * HOP - VAD_FRAME, 50 * HOP - 9 * VAD_FRAME)]


def test_turns_end_and_start_at_the_guards_mask():
    turns = Turns("agent", onset_s=0.06, hangover_s=0.3)
    speech = np.zeros(100, bool)
    speech[10:30] = True
    speech[40:80] = True
    masked = np.zeros(100, bool)
    masked[30:40] = True  # the guard took these hops out (the other speaker's echo)
    closed = turns.push(0, speech[:50], masked[:50])  # any split into pushes
    closed += turns.push(50 * HOP, speech[50:], masked[50:])
    assert [(s.start, s.end) for s in closed] == [
        (10 * HOP - VAD_FRAME, 30 * HOP),
        (40 * HOP, 80 * HOP - 9 * VAD_FRAME),
    ]
    assert turns.flush() == []
    turns.push(100 * HOP, np.ones(5, bool), np.zeros(5, bool))
    assert [(s.start, s.end) for s in turns.flush()] == [(100 * HOP - VAD_FRAME, 105 * HOP)]


def test_track_records_carry_the_threshold_in_force(cfg):
    pipe = Pipeline(cfg, "tracks", tracks=True)
    for block in FileSource(FIXTURES / "calm_call.flac", block_s=1.0):
        pipe.push(block)
    pipe.finish()
    bands = [
        t[sp]["baseline"]["raised_db"]
        for t in pipe.take_tracks()
        for sp in ("agent", "customer")
        if t[sp]["baseline"] is not None
    ]
    assert bands and all(0 < b <= cfg.detector.raised_level_db for b in bands)
    assert min(bands) < cfg.detector.raised_level_db  # adapted to the speaker
