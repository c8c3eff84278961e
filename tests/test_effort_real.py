"""Vocal effort on real speech (RAVDESS development actors from ../shared) through the real
pipeline: a caller who starts emphatic and calms down, an agent shouting back at a shouting
caller, a high voice speaking normally. The calls are built as the detection evaluation
builds them (bench/eval_detection.py), so each test is one row of its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.pipeline import Pipeline
from tests.conftest import SHARED
from tests.eval_calls import needs_ravdess, run_call

pytestmark = needs_ravdess


def _call(section: str, case: str, actor: int, partner: int):
    """(spec, alerts) of one evaluation call, built with the harness's seed, run here."""
    spec, alerts, _ = run_call(section, case, actor, partner)
    return spec, alerts


def test_an_emphatic_start_is_a_late_alert_at_its_real_start() -> None:
    # Actor 2 opens with ~6 s of angry-normal takes (a few dB louder, a little higher),
    # then calms down: no 12 dB step, so only the speaker-relative settling finds it.
    spec, alerts = _call("hot", "hot_emphatic", 2, 3)
    mine = [a for a in alerts if a.kind in ("customer_raised", "customer_yelling")]
    assert len(mine) == 1, [(a.kind, a.start, a.late) for a in alerts]
    a = mine[0]
    assert a.late and a.evidence["reference"] == "settled"
    assert a.start <= spec.window_end  # inside the emphatic opening, not when found
    assert a.evidence["found_at_s"] > spec.window_end
    assert a.message.startswith("Earlier: ")


@pytest.mark.parametrize("actor,partner", [(1, 2), (2, 3)])
def test_shouting_back_at_a_shouting_caller_is_one_matching_alert(actor: int, partner: int) -> None:
    # (2, 3): the agent's last calm take before the shouting is 7 dB louder than their
    # baseline; a raise building in it must not be completed by their shout-back a turn
    # later (one matching alert that started before the customer shouted).
    spec, alerts = _call("matching", "shout_back", actor, partner)
    agent = [a for a in alerts if a.speaker == "agent"]
    assert [a.kind for a in agent] == ["agent_matching"], [(a.kind, a.start) for a in agent]
    assert agent[0].start >= spec.window_start
    ev = agent[0].evidence  # the agent's own evidence: their state, or their pitch climbing
    assert ev.get("agent_state") in ("raised", "yelling") or ev["pitch_change_st"] >= 1.5
    assert any(a.kind == "customer_yelling" for a in alerts)


def test_a_high_voice_speaking_normally_gives_nothing() -> None:
    # Actor 4's normal takes shifted up 4 semitones (about 300 Hz) for the whole call.
    _, alerts = _call("hot", "high_normal", 4, 5)
    assert not [a for a in alerts if a.speaker == "customer"], [(a.kind, a.start) for a in alerts]


def test_a_first_short_shout_after_the_agent_is_alerted_within_it() -> None:
    # Actor 4's first shout (1.9 s, about 1 s of it voiced) follows the agent's reply: it
    # fills no half window, but it is louder, higher and brighter beyond doubt.
    spec, alerts = _call("matching", "calm_reply", 4, 3)
    takes = [t0 for sp, t0, _ in spec.layout if sp == "customer"]
    first = min(t0 for t0 in takes if t0 >= spec.window_start - 0.01)
    yells = [a for a in alerts if a.kind == "customer_yelling" and a.start >= first - 1]
    assert yells, [(a.kind, a.start) for a in alerts]
    assert yells[0].end - first < 2.3  # decided (the alert's end) within the first shout
    assert not [a for a in alerts if a.speaker == "agent" and a.start >= spec.window_start - 1]


def test_an_agent_whose_normal_turns_are_louder_than_their_soft_ones_gets_no_late_alert() -> None:
    # Actor 6 (the agent) opens with a neutral turn, then speaks soft calm takes: the
    # opening block is 6 dB louder, 3.3 st higher and 5 dB brighter, which looks like a
    # raised voice that calmed down. For the agent only a loud (12 dB) step is calming down.
    _, alerts = _call("xtalk", "xtalk_dialogue", 1, 6)
    assert not [a for a in alerts if a.speaker == "agent"], [(a.kind, a.start) for a in alerts]


@pytest.mark.parametrize("actor,partner", [(2, 3), (4, 5)])
def test_an_excited_high_voice_is_not_yelling(actor: int, partner: int) -> None:
    # Normal takes shifted up 5-7 semitones (about 300-420 Hz) for the whole call: above the
    # calm ceiling and often above the yelling-from-the-first-word pitch, but that is the
    # speaker's own register (actor 4: before the warm-up is over; actor 2: after it).
    _, alerts = _call("hot", "high_excited", actor, partner)
    yelling = [a for a in alerts if a.kind == "customer_yelling"]
    assert not yelling, [(a.kind, a.start, a.evidence.get("reference")) for a in alerts]


CALM_CALL = SHARED / "calls" / "auto_repairs_40_agentL_customerR_8k.flac"


@pytest.mark.skipif(not CALM_CALL.is_file(), reason=f"calm call not found ({CALM_CALL})")
def test_an_energetic_caller_at_their_usual_level_is_nothing_to_match() -> None:
    # The real calm call: the caller's upbeat phrases are higher and brighter at their
    # usual level (customer_raised, info). Matching is the agent climbing toward an
    # escalating caller, so however long that is remembered, the agent's own animated
    # answers later in the call are no agent_matching.
    from audio.sources import FileSource
    from monitor.config import with_overrides

    cfg = with_overrides(load_config(None), detector={"match_memory_s": 120.0})
    pipe = Pipeline(cfg, "calm")
    alerts = [a for blk in FileSource(CALM_CALL) for a in pipe.push(blk)] + pipe.finish()
    kinds = [a.kind for a in alerts]
    assert "customer_raised" in kinds  # the energetic moments are still told (as info)
    assert [k for k in kinds if k.startswith("agent_")] == [], kinds


@pytest.mark.skipif(not CALM_CALL.is_file(), reason=f"calm call not found ({CALM_CALL})")
def test_the_calm_call_with_the_roles_swapped_gives_the_agent_no_raised_voice() -> None:
    # The caller's voice as the agent's: their energetic, happy phrases are higher and
    # brighter with the level at most 2 dB up ("Thank you so much!" is 4 dB under their
    # baseline). With a headset's fixed gain that is animation, not effort, and the agent
    # only climbing in pitch is not matching: no agent_raised and no agent_matching (both
    # were there when pitch and balance alone made the agent's voice raised).
    from audio.sources import FileSource

    pipe = Pipeline(load_config(None), "swapped")
    source = FileSource(CALM_CALL, agent_channel="right")
    alerts = [a for blk in source for a in pipe.push(blk)] + pipe.finish()
    kinds = [a.kind for a in alerts]
    assert not {"agent_raised", "agent_yelling", "agent_matching"} & set(kinds), kinds
    # The caller's "Hi Michelle" under the greeting's end is, on the agent's own line,
    # only its echo, 23-40 dB under that line's speech: no overlap, so no interruption.
    assert "agent_interrupting" not in kinds, kinds


@pytest.mark.skipif(not CALM_CALL.is_file(), reason=f"calm call not found ({CALM_CALL})")
def test_the_other_side_heard_far_under_the_callers_voice_is_not_their_effort(
    tmp_path: Path,
) -> None:
    # The real calm call through sox's stereo room reverb, which also feeds each channel
    # into the other about 16 dB down with no direct path (nothing for the crosstalk guard
    # to correlate): the agent's higher voice then sits 14-19 dB under the caller's calm
    # level on their channel, higher and brighter. That is no effort of the caller's: no
    # customer_yelling from it (there were 4; the one left is the caller's own energetic
    # moment, louder than their calm voice).
    import shutil
    import subprocess

    from audio.sources import FileSource

    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox not installed (scripts/setup.sh installs it)")
    room = tmp_path / "room.flac"
    subprocess.run([sox, str(CALM_CALL), str(room), "reverb", "40", "50", "60"], check=True)
    pipe = Pipeline(load_config(None), "room")
    alerts = [a for blk in FileSource(room) for a in pipe.push(blk)] + pipe.finish()
    yelling = [a for a in alerts if a.kind == "customer_yelling"]
    assert len(yelling) <= 1, [(a.start, a.evidence) for a in yelling]
    assert all(a.evidence["level_over_baseline_db"] > -6.0 for a in yelling), yelling
    # The caller's reverberation on the agent's line in the caller's pauses, 20-30 dB
    # under the agent's speech, is no agent talking over them (there were 4).
    cut_in = [a.start for a in alerts if a.kind == "agent_interrupting"]
    assert len(cut_in) <= 1, cut_in


def test_a_caller_who_calms_down_is_found_once_their_calm_voice_is_heard() -> None:
    # Actor 1 opens with ~6 s of shouting (27 dB louder and 17 st higher than their calm
    # voice), then calms down from 13.6 s. The calm voice is no quieter line: the level
    # baseline must not follow it down before the speaker's calm voice is known, or the
    # 12 dB step of calming down is lost and the shouting is found only a block later.
    spec, alerts = _call("hot", "hot_shout", 1, 2)
    mine = [a for a in alerts if a.speaker == "customer"]
    assert [a.kind for a in mine] == ["customer_yelling"], [(a.kind, a.start) for a in mine]
    a = mine[0]
    assert a.late and a.start <= spec.window_end
    # Found within the caller's first calm block's worth of speech (17.6 s; 44.4 s before
    # the calm voice stopped being a quieter line, 32.0 s before the look between blocks).
    assert a.evidence["found_at_s"] < 22.0


def test_after_calming_down_the_calm_voice_is_not_one_soft_block() -> None:
    # Actor 7 opens emphatic, then speaks calm takes of different strengths: the block the
    # baseline settles on is the softest (7 dB under the next one). The calm voice is
    # learned on from it, so the speaker's ordinary calm takes are not raised or yelling.
    spec, alerts = _call("hot", "hot_emphatic", 7, 8)
    mine = [a for a in alerts if a.speaker == "customer"]
    assert len(mine) == 1, [(a.kind, a.start, a.late) for a in mine]
    assert mine[0].late and mine[0].start <= spec.window_end
    assert mine[0].evidence["found_at_s"] < 40.0  # 46.4 s before (28.8 s now)
