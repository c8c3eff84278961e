"""Shared test helpers: paths, synthetic voices, and running the real pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from alerts.model import Alert
from audio.sources import ArraySource
from audio.types import SAMPLE_RATE
from monitor.config import Config, load_config
from monitor.pipeline import Pipeline

# Property tests draw the same examples on every run (no example database), so a run is
# repeatable; `--hypothesis-profile explore` searches afresh while developing.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", database=None)
settings.load_profile("repeatable")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`tonewatch ARGS` as a user runs it (`python -m monitor`), from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


SHARED = ROOT.parent / "shared" / "data"

# The user data folder (live logs, the call index that replay and live add to) of the
# tests and of every tonewatch they start: never the real one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="tonewatch-test-data-")
# Nor the user's own settings file: the built-in defaults unless a test gives a file.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="tonewatch-test-config-")
os.environ.pop("TONEWATCH_CONFIG", None)


@pytest.fixture(autouse=True)
def _private_user_data(tmp_path_factory, monkeypatch) -> None:
    """Voice profiles (`--agent-name`) go to a private folder, never the user's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("user-data")))


@pytest.fixture(scope="session")
def cfg() -> Config:
    return load_config()


def voice(
    duration_s: float,
    f0_hz: float = 140.0,
    level: float = 0.05,
    tilt: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """A crude voiced sound: a harmonic series with syllable-like amplitude bursts.

    `tilt` scales how fast harmonics fall off (smaller = flatter spectrum, like effort).
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    jitter = 1 + 0.02 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0_hz * jitter) / SAMPLE_RATE
    x = np.zeros(n)
    for k in range(1, int(3800 / f0_hz)):
        x += np.sin(k * phase) / k ** (1.0 + tilt)
    syll = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)) ** 2
    x = x * syll
    x += 0.001 * rng.standard_normal(n)
    return (level * x / np.max(np.abs(x))).astype(np.float32)


def silence(duration_s: float) -> np.ndarray:
    return np.zeros(int(duration_s * SAMPLE_RATE), np.float32)


def run(agent: np.ndarray, customer: np.ndarray, cfg: Config, block_s: float = 1.0):
    """Real pipeline over two arrays -> (alerts, summary)."""
    pipe = Pipeline(cfg, "test")
    alerts: list[Alert] = []
    for block in ArraySource(agent, customer, block_s=block_s):
        alerts += pipe.push(block)
    alerts += pipe.finish()
    return alerts, pipe.summary()
