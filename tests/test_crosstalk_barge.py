"""A barge-in through leaks both ways on real speech (RAVDESS development actors from
../shared), through the real pipeline: the calls are the detection evaluation's
`xtalk_barge` calls (bench/eval_detection.py, its seed), so each test is one cell of its
table. In both, the agent starts at their natural level onto a quieter customer: on the
customer's channel the agent's copy then lies over the customer's own voice, and the
crosstalk guard gives the customer's hops from the agent's onset on to the agent."""

from __future__ import annotations

import importlib.util
import sys
import zlib
from types import ModuleType

import numpy as np
import pytest

from audio.sources import ArraySource
from monitor.config import load_config
from monitor.pipeline import Pipeline
from tests.conftest import ROOT, SHARED

RAVDESS = SHARED / "ravdess"
pytestmark = pytest.mark.skipif(
    not RAVDESS.is_dir(), reason=f"development recordings not found ({RAVDESS})"
)


def _harness() -> ModuleType:
    name = "eval_detection"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "eval_detection.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.mark.parametrize(("actor", "partner"), [(9, 8), (12, 7)])
def test_a_barge_in_onto_a_quieter_caller_through_leaks_is_found_at_its_start(actor, partner):
    ev = _harness()
    job = ev.Job("xtalk", "xtalk_barge", actor, partner, str(RAVDESS), 1234)
    rng = np.random.default_rng([job.seed, zlib.crc32(job.key.encode())])
    spec, agent, customer = ev.BUILDERS["xtalk"](job.ravdess, job.case, actor, partner, rng)
    pipe = Pipeline(load_config(None), spec.call_id)
    alerts = [a for blk in ArraySource(agent, customer) for a in pipe.push(blk)]
    alerts += pipe.finish()
    cuts = [a for a in alerts if a.kind == "agent_interrupting"]
    # The customer's turn is as open at the agent's onset as it was a hop before, though
    # the guard took the hops from there: the interruption starts where the agent does
    # (before, none at all for actor 9, and one 1.8 s late, on a later onset, for 12).
    assert len(cuts) == 1, [(a.kind, a.start) for a in alerts]
    assert abs(cuts[0].start - spec.barge_in) <= 1.0, (cuts[0].start, spec.barge_in)
    assert pipe.summary()["crosstalk_s"]["customer"] > 5  # the leaks were there
