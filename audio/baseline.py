"""Per-speaker baselines and voice windows.

A speaker's voice is summarised by three numbers taken over the loudest half of voiced
frames: level (K-weighted dB), pitch (semitones re 100 Hz) and spectral balance (dB).
Taking the loudest half follows the way the cues were measured on real normal vs shouted
speech, and keeps soft word endings and breathy frames from diluting the statistics.

`Baseline` learns those numbers from the speaker's first seconds of speech (medians,
robust to outliers), then adapts slowly with an exponential moving average; the caller
freezes it while the speaker is flagged as elevated. `VoiceWindow` holds the most recent
voiced frames and gives the same summary for "now". Runs on the analysis thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def semitones(f0_hz: np.ndarray) -> np.ndarray:
    """F0 in semitones re 100 Hz."""
    return 12.0 * np.log2(f0_hz / 100.0)


@dataclass(frozen=True)
class VoiceStats:
    """Level (dB), pitch (semitones re 100 Hz) and spectral balance (dB) of some speech."""

    level_db: float
    pitch_st: float
    balance_db: float


def median(x: np.ndarray) -> float:
    """The median of a short 1-D array (np.median's overhead dominates at these sizes)."""
    s = np.sort(x)
    h = s.size // 2
    return float(s[h] if s.size % 2 else (s[h - 1] + s[h]) / 2)


def summarize(level: np.ndarray, pitch: np.ndarray, balance: np.ndarray) -> VoiceStats:
    """Medians over the loudest half of the given voiced frames."""
    loud = level >= median(level)
    return VoiceStats(median(level[loud]), median(pitch[loud]), median(balance[loud]))


class VoiceWindow:
    """The most recent voiced frames of one speaker (time, level, pitch, balance)."""

    def __init__(self, max_frames: int, max_age: int) -> None:
        self.max_frames = max_frames
        self.max_age = max_age  # samples
        self.t = np.zeros(0, np.int64)
        self.data = np.zeros((0, 3))

    def add(self, t: np.ndarray, level: np.ndarray, pitch: np.ndarray, bal: np.ndarray) -> None:
        if t.size == 0:
            return
        self.t = np.concatenate([self.t, t])[-self.max_frames :]
        self.data = np.concatenate([self.data, np.column_stack([level, pitch, bal])])[
            -self.max_frames :
        ]

    def expire(self, now: int) -> None:
        keep = self.t >= now - self.max_age
        if not keep.all():
            self.t, self.data = self.t[keep], self.data[keep]

    def clear(self) -> None:
        self.t = self.t[:0]
        self.data = self.data[:0]

    def __len__(self) -> int:
        return int(self.t.size)

    def stats(self) -> VoiceStats:
        return summarize(self.data[:, 0], self.data[:, 1], self.data[:, 2])


class Baseline:
    """A speaker's normal voice: learned at the start of the call, then adapting slowly.

    Args:
        warmup_frames: voiced frames needed before the baseline is ready.
        tau_frames: time constant of the adaptation, in voiced frames.
    """

    def __init__(self, warmup_frames: int, tau_frames: float) -> None:
        self.warmup_frames = warmup_frames
        self.tau_frames = tau_frames
        self._frames: list[np.ndarray] = []
        self._n = 0
        self.stats: VoiceStats | None = None
        self.partial: VoiceStats | None = None
        """The same summary of the warm-up so far (None before any frame, and once ready)."""
        self.rebased = 0

    @property
    def ready(self) -> bool:
        return self.stats is not None

    @property
    def progress(self) -> float:
        """Fraction of the warm-up done (1.0 once ready)."""
        return 1.0 if self.ready else min(1.0, self._n / self.warmup_frames)

    def learn(self, level: np.ndarray, pitch: np.ndarray, bal: np.ndarray) -> None:
        """Feed voiced frames during warm-up."""
        if self.ready or level.size == 0:
            return
        self._frames.append(np.column_stack([level, pitch, bal]))
        self._n += level.size
        data = np.concatenate(self._frames)
        self._frames = [data]
        if self._n >= self.warmup_frames:
            self.stats = summarize(data[:, 0], data[:, 1], data[:, 2])
            self._frames = []
            self.partial = None
        else:
            self.partial = summarize(data[:, 0], data[:, 1], data[:, 2])

    def seed(self, stats: VoiceStats) -> None:
        """Take `stats` as the baseline now (a known calm voice, or calmer speech heard
        later in the call); the warm-up, if still running, is over."""
        self.stats = stats
        self.partial = None
        self._frames = []
        self._n = max(self._n, self.warmup_frames)

    def adapt(self, now: VoiceStats, n_frames: int) -> None:
        """Move toward `now` by the weight of `n_frames` new voiced frames."""
        if self.stats is None or n_frames <= 0:
            return
        w = min(1.0, n_frames / self.tau_frames)
        s = self.stats
        self.stats = VoiceStats(
            s.level_db + w * (now.level_db - s.level_db),
            s.pitch_st + w * (now.pitch_st - s.pitch_st),
            s.balance_db + w * (now.balance_db - s.balance_db),
        )

    def rebase_level(self, level_db: float) -> None:
        """Take a new level (the line got louder or quieter; the voice did not change)."""
        if self.stats is None:
            return
        s = self.stats
        self.stats = VoiceStats(level_db, s.pitch_st, s.balance_db)
        self.rebased += 1
