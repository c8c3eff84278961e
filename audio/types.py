"""Shared audio types and the words we use for them.

Vocabulary (fixed once for the whole code base):

- sample: one value of one channel.
- block: what a source delivers, any length, both speakers (`Block`).
- hop: the fixed 10 ms analysis step of one channel (160 samples at 16 kHz).
- window: the span an analysis looks at (e.g. 400 ms for momentary loudness); may be longer
  than a hop, so stages keep their own history.
- segment: a closed speech interval of one speaker (`Segment`).
- stream time: integer sample index since the stream started, at `SAMPLE_RATE`. Every
  decision uses stream time; seconds appear only in output records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SAMPLE_RATE = 16_000
"""Analysis sample rate in Hz; every source resamples to it."""

HOP = 160
"""Samples per analysis hop (10 ms at 16 kHz)."""

Speaker = Literal["agent", "customer"]
SPEAKERS: tuple[Speaker, Speaker] = ("agent", "customer")


def seconds(n_samples: int) -> float:
    """Stream time in samples -> seconds, rounded to the millisecond for output."""
    return round(n_samples / SAMPLE_RATE, 3)


@dataclass(frozen=True)
class Block:
    """A stretch of both speakers' audio.

    Attributes:
        start: stream time of the first sample.
        agent: float32 mono samples at `SAMPLE_RATE`, shape (n,).
        customer: float32 mono samples at `SAMPLE_RATE`, same shape as `agent`.
        dropped_before: samples lost just before this block (capture overflow); stream time
            already counts them.
        captured_at: monotonic clock at capture, live sources only (for lag metrics).
    """

    start: int
    agent: np.ndarray
    customer: np.ndarray
    dropped_before: int = 0
    captured_at: float | None = None

    def __post_init__(self) -> None:
        if self.agent.shape != self.customer.shape or self.agent.ndim != 1:
            raise ValueError(
                f"block channels must be 1-D and equal length, got {self.agent.shape} "
                f"and {self.customer.shape}"
            )

    @property
    def n_samples(self) -> int:
        return int(self.agent.shape[0])

    def channel(self, speaker: Speaker) -> np.ndarray:
        return self.agent if speaker == "agent" else self.customer


@dataclass(frozen=True)
class Segment:
    """A closed speech interval of one speaker, in stream time (end exclusive)."""

    speaker: Speaker
    start: int
    end: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


@dataclass
class HopFeatures:
    """Features of consecutive hops of one channel, as parallel arrays.

    Attributes:
        start: stream time of the first hop (a multiple of `HOP`).
        speech: smoothed speech activity per hop (VAD with hangover), bool.
        voiced: hops used for voice features (raw VAD speech and periodic), bool.
        level_db: K-weighted loudness of each hop in LUFS-like dB (BS.1770 scale).
        momentary_db: 400 ms momentary loudness ending at each hop.
        f0_hz: fundamental frequency of voiced hops, NaN elsewhere.
        balance_db: energy 1-3.4 kHz minus energy 0.3-1 kHz of voiced hops, NaN elsewhere.
    """

    start: int
    speech: np.ndarray
    voiced: np.ndarray
    level_db: np.ndarray
    momentary_db: np.ndarray
    f0_hz: np.ndarray
    balance_db: np.ndarray
    segments: list[Segment] = field(default_factory=list)
    """Speech segments that closed within these hops."""

    @property
    def n_hops(self) -> int:
        return int(self.speech.shape[0])

    def take(self, lo: int, hi: int) -> HopFeatures:
        """Hops [lo, hi) as their own `HopFeatures` (segments stay with the first part)."""
        return HopFeatures(
            start=self.start + lo * HOP,
            speech=self.speech[lo:hi],
            voiced=self.voiced[lo:hi],
            level_db=self.level_db[lo:hi],
            momentary_db=self.momentary_db[lo:hi],
            f0_hz=self.f0_hz[lo:hi],
            balance_db=self.balance_db[lo:hi],
            segments=self.segments if lo == 0 else [],
        )

    @staticmethod
    def join(parts: list[HopFeatures]) -> HopFeatures:
        """Contiguous parts -> one `HopFeatures`."""
        if len(parts) == 1:
            return parts[0]

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return HopFeatures(
            start=parts[0].start,
            speech=cat("speech"),
            voiced=cat("voiced"),
            level_db=cat("level_db"),
            momentary_db=cat("momentary_db"),
            f0_hz=cat("f0_hz"),
            balance_db=cat("balance_db"),
            segments=[s for p in parts for s in p.segments],
        )
