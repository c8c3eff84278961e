"""Golden tests: every shipped fixture call, replayed through the real pipeline, gives the
alerts its expected file names (kind, speaker, start within tolerance) and nothing else."""

from __future__ import annotations

import json

import pytest

from alerts.model import ACOUSTIC_KINDS
from audio.sources import FileSource
from monitor.pipeline import Pipeline
from tests.conftest import FIXTURES

CALLS = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))
CALLS = [c for c in CALLS if (FIXTURES / f"{c}.flac").exists()]


def replay(name: str, cfg, block_s: float = 1.0):
    pipe = Pipeline(cfg, name)
    alerts = []
    for block in FileSource(FIXTURES / f"{name}.flac", block_s=block_s):
        alerts += pipe.push(block)
    alerts += pipe.finish()
    return alerts, pipe.summary()


def test_the_fixture_set_covers_the_required_calls():
    assert {"calm_call", "customer_yelling", "agent_barge_in"} <= set(CALLS)
    for name in CALLS:
        assert (FIXTURES / f"{name}.flac").stat().st_size < 1_000_000


@pytest.mark.parametrize("name", CALLS)
def test_fixture_alerts_match_expected(name, cfg):
    spec = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    alerts, summary = replay(name, cfg)
    acoustic = [a for a in alerts if a.kind in ACOUSTIC_KINDS]
    for exp in spec["expected"]:
        hits = [
            a
            for a in acoustic
            if a.kind == exp["kind"]
            and a.speaker == exp["speaker"]
            and abs(a.start - exp["start"]) <= exp["tolerance_s"]
        ]
        assert hits, f"{name}: missing {exp}; got {[(a.kind, a.start) for a in acoustic]}"
    allowed = {(e["kind"], e["speaker"]) for e in spec["expected"] + spec["allowed"]}
    extra = [(a.kind, a.speaker, a.start) for a in acoustic if (a.kind, a.speaker) not in allowed]
    assert not extra, f"{name}: unexpected alerts {extra}"
    assert summary["duration_s"] > 30


def test_replay_is_deterministic_and_block_size_invariant(cfg):
    first, s1 = replay("agent_barge_in", cfg, block_s=1.0)
    second, s2 = replay("agent_barge_in", cfg, block_s=0.1)
    assert [(a.kind, a.start, a.end) for a in first] == [(a.kind, a.start, a.end) for a in second]
    assert s1["talk_s"] == s2["talk_s"] and s1["overlap_s"] == s2["overlap_s"]


def test_barge_in_is_counted_and_backchannel_is_not_an_interruption(cfg):
    _, summary = replay("agent_barge_in", cfg)
    assert summary["agent_interruptions"] == 1
    assert summary["agent_backchannels"] >= 1
    assert summary["overlap_s"] >= 2.0
