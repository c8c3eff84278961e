"""The detection evaluation's synthetic calls (bench/eval_detection.py) for tests: each
call is built from the RAVDESS development actors in ../shared with the harness's own
builders and seed, and run through the real pipeline, so a test is one cell of the
evaluation's table."""

from __future__ import annotations

import importlib.util
import sys
import zlib
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from audio.sources import ArraySource
from monitor.config import Config, load_config
from monitor.pipeline import Pipeline
from tests.conftest import ROOT, SHARED

RAVDESS = SHARED / "ravdess"
SEED = 1234  # the harness's default seed
needs_ravdess = pytest.mark.skipif(
    not RAVDESS.is_dir(), reason=f"development recordings not found ({RAVDESS})"
)


def harness() -> ModuleType:
    """bench/eval_detection.py, loaded once as a module."""
    name = "eval_detection"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "eval_detection.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def run_call(
    section: str, case: str, actor: int, partner: int, cfg: Config | None = None
) -> tuple[Any, list[Any], dict[str, Any]]:
    """(spec, alerts, summary) of one evaluation call (customer `actor`, agent `partner`)."""
    ev = harness()
    job = ev.Job(section, case, actor, partner, str(RAVDESS), SEED)
    rng = np.random.default_rng([job.seed, zlib.crc32(job.key.encode())])
    spec, agent, customer = ev.BUILDERS[section](job.ravdess, case, actor, partner, rng)
    pipe = Pipeline(cfg or load_config(None), spec.call_id)
    alerts = [a for blk in ArraySource(agent, customer) for a in pipe.push(blk)]
    alerts += pipe.finish()
    return spec, alerts, pipe.summary()
