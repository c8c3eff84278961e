"""A rough, aperiodic shout replayed at the caller's normal level (RAVDESS actor 9, the
evaluation's `shout_quiet` call) through the real pipeline: few of its frames are voiced,
and those jump between registers, but all of them sit far above the caller's calm voice.
The call is built as bench/eval_detection.py builds it (tests/eval_calls.py)."""

from __future__ import annotations

import dataclasses

from monitor.config import load_config
from tests.eval_calls import needs_ravdess, run_call

pytestmark = needs_ravdess


def _window_yells(cfg=None) -> tuple[list[object], object]:
    spec, alerts, _ = run_call("customer", "shout_quiet", 9, 10, cfg)
    mine = [
        a
        for a in alerts
        if a.kind == "customer_yelling" and spec.window_start - 1 <= a.start <= spec.window_end
    ]
    return mine, spec


def test_a_rough_quiet_shout_is_yelling() -> None:
    # Actor 9's quietened shouts: 31 % of the active frames voiced, a 10-90 % pitch range
    # of 37 st (no coherent contour), but the lowest quarter of the window 16 st over the
    # calm voice, and the level within 3 dB of it.
    yells, spec = _window_yells()
    assert yells, "no customer_yelling for actor 9's quiet shouts"
    a = yells[0]
    assert a.evidence["pitch_change_st"] >= 12
    assert a.start >= spec.window_start - 1
    assert not a.late


def test_without_the_lifted_floor_the_rough_shout_is_missed() -> None:
    # The same call with the floor out of reach: the coherent-contour test alone misses it
    # (what main did before), so the floor is what finds it.
    cfg = load_config(None)
    off = dataclasses.replace(cfg.detector, yell_pitch_floor_st=48.0)
    yells, _ = _window_yells(dataclasses.replace(cfg, detector=off))
    assert not yells, [(a.kind, a.start) for a in yells]
