"""A barge-in through leaks both ways on real speech (RAVDESS development actors from
../shared), through the real pipeline: the calls are the detection evaluation's
`xtalk_barge` calls (bench/eval_detection.py, its seed), so each test is one cell of its
table. The agent starts at their natural level onto a customer 10-20 dB louder or quieter:
on the quieter one's channel the louder one's copy then lies over their own voice."""

from __future__ import annotations

import pytest

from tests.eval_calls import needs_ravdess, run_call

pytestmark = needs_ravdess


def _run(case: str, actor: int, partner: int):
    """(spec, alerts, summary) of one evaluation xtalk call."""
    return run_call("xtalk", case, actor, partner)


@pytest.mark.parametrize(("actor", "partner"), [(9, 8), (12, 7)])
def test_a_barge_in_onto_a_quieter_caller_through_leaks_is_found_at_its_start(actor, partner):
    # The agent's copy lies over the quieter customer's voice on the customer's channel,
    # and the crosstalk guard gives the customer's hops from the agent's onset on to the
    # agent. The customer's turn is as open there as it was a hop before: the interruption
    # starts where the agent does (before, none at all for actor 9, and one 1.8 s late, on
    # a later onset, for 12).
    spec, alerts, summary = _run("xtalk_barge", actor, partner)
    cuts = [a for a in alerts if a.kind == "agent_interrupting"]
    assert len(cuts) == 1, [(a.kind, a.start) for a in alerts]
    assert abs(cuts[0].start - spec.barge_in) <= 1.0, (cuts[0].start, spec.barge_in)
    assert summary["crosstalk_s"]["customer"] > 5  # the leaks were there


def test_a_quiet_agent_barging_in_under_the_callers_copy_keeps_their_speech():
    # Actor 9 barges in onto actor 10, about 15 dB louder: on the agent's own channel the
    # agent's voice is 5-13 dB under the caller's copy (correlation 0.8-0.95). What the
    # learned path leaves over there does not repeat at the caller's pitch period, as a
    # copy's misfit does, and plain copies at the caller's speaking level leave less than
    # those at a turn's edge: before, the agent's speech broke up into pieces under 1 s
    # and no interruption was found.
    spec, alerts, summary = _run("xtalk_barge", 10, 9)
    cuts = [a for a in alerts if a.kind == "agent_interrupting"]
    assert len(cuts) == 1, [(a.kind, a.start) for a in alerts]
    assert abs(cuts[0].start - spec.barge_in) <= 1.0, (cuts[0].start, spec.barge_in)
    assert summary["crosstalk_s"]["agent"] > 5


def test_a_dialogue_through_leaks_both_ways_has_no_invented_overlap():
    # Turn taking only (the dialogue and a polite reply): the leaks' upper tail of misfit
    # used to read as a second voice for 0.85 s in this call.
    _, alerts, summary = _run("xtalk_dialogue", 8, 9)
    assert [a.kind for a in alerts] == []
    assert summary["overlap_s"] <= 0.3, summary["overlap_s"]
    assert summary["agent_interruptions"] == summary["customer_interruptions"] == 0
