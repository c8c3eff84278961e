"""The baseline is the speaker's calm voice, not their first seconds: a caller angry from
the first word, a late alert when they calm down, a high voice that is just high.
Synthetic voices through the real pipeline."""

from __future__ import annotations

import numpy as np

from tests.conftest import run, silence, voice

CALM = {"f0_hz": 130.0, "level": 0.05, "tilt": 1.0}
SHOUT = {"f0_hz": 130.0 * 2 ** (8 / 12), "level": 0.2, "tilt": 0.3}  # +8 st, flatter, +12 dB


def call(customer_turns: list[dict[str, float]], seed: int = 0):
    """Customer turns (2.5 s each) with a 2 s calm agent reply after each."""
    c_parts, a_parts = [], []
    for i, kw in enumerate(customer_turns):
        c = voice(2.5, seed=seed + i, **kw)
        a = voice(2.0, seed=100 + i, f0_hz=210.0, level=0.04)
        c_parts += [c, np.zeros(a.size + 2 * 9600, np.float32)]
        a_parts += [np.zeros(c.size + 9600, np.float32), a, silence(0.6)]
    return np.concatenate(a_parts), np.concatenate(c_parts)


def test_caller_shouting_from_the_start_gets_a_late_alert_at_the_real_start(cfg):
    # 4 shouted turns (the whole warm-up), then 12 calm ones.
    agent, customer = call([SHOUT] * 4 + [CALM] * 12)
    alerts, summary = run(agent, customer, cfg)
    yells = [a for a in alerts if a.kind == "customer_yelling"]
    assert len(yells) == 1, [(a.kind, a.start, a.late) for a in alerts]
    y = yells[0]
    assert y.late and y.to_record()["late"] is True
    assert y.start < 2.0  # the first shouted word, not when it was found
    assert y.evidence["found_at_s"] > 14.0 and y.evidence["reference"] == "settled"
    assert y.message.startswith("Earlier: ")
    assert y.evidence["pitch_change_st"] > 5
    # The baseline is now the calm voice.
    assert abs(summary["baseline"]["customer"]["pitch_st"] - 12 * np.log2(1.3)) < 1.0
    assert not [a for a in alerts if a.speaker == "agent"]


def test_a_calm_caller_has_no_late_alert(cfg):
    alerts, _ = run(*call([CALM] * 16), cfg)
    assert alerts == []


def test_shouting_far_above_any_calm_register_is_yelling_from_the_first_word(cfg):
    # 380 Hz with a narrow contour: no calm adult voice sits there (calm ceiling 283 Hz).
    high_shout = {"f0_hz": 380.0, "level": 0.2, "tilt": 0.3}
    alerts, _ = run(*call([high_shout] * 3 + [CALM] * 3), cfg)
    yells = [a for a in alerts if a.kind == "customer_yelling"]
    assert yells and not yells[0].late, [(a.kind, a.start, a.late) for a in alerts]
    assert yells[0].start < 1.5 and yells[0].evidence["reference"] == "calm_ceiling"


def test_a_high_voice_speaking_normally_is_not_yelling(cfg):
    # 290 Hz throughout (a high register, just above the calm ceiling): nothing to say.
    high = {"f0_hz": 290.0, "level": 0.05, "tilt": 1.0}
    alerts, _ = run(*call([high] * 12), cfg)
    assert alerts == []


def test_a_louder_line_late_in_the_call_is_no_calming_down(cfg):
    # The first turns come through 12 dB hotter (a gain change, same voice): no settling,
    # no late alert.
    loud_line = {**CALM, "level": 0.2}
    alerts, summary = run(*call([loud_line] * 6 + [CALM] * 10), cfg)
    assert not [a for a in alerts if a.late]
    assert [a.kind for a in alerts] in ([], ["customer_raised"])
