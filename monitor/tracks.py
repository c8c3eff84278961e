"""Coarse per-speaker tracks for reports: level, pitch and speech at 10 Hz.

Every `span_s` of call time the pipeline emits one `track` record holding, for each
speaker, 10 Hz series of momentary loudness (dB), pitch (semitones re 100 Hz, null when
unvoiced), speech activity (0/1) and the speaker's baseline at that time (level, pitch and
the raised band then in force, `raised_db`). The alert log
stays readable line by line; a report draws its timeline from these records. Runs on the
analysis thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audio.baseline import semitones
from audio.types import HOP, SAMPLE_RATE, SPEAKERS, HopFeatures, Speaker, seconds
from monitor.snapshot import VoiceSnapshot

RATE_HZ = 10
STEP = SAMPLE_RATE // RATE_HZ // HOP  # hops per track point


def _nanmedian_rows(x: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for all-NaN rows), like `np.nanmedian(x, 1)`.

    Sorting puts NaN last, so each row's k valid values come first; the median is their
    middle value, or the mean of the two middle values. Far cheaper than `np.nanmedian`,
    which goes through masked arrays.
    """
    s = np.sort(x, axis=1)
    k = (~np.isnan(x)).sum(axis=1)
    rows = np.arange(x.shape[0])
    lo = s[rows, np.maximum(k - 1, 0) // 2]
    hi = s[rows, k // 2 - (k == 0)]
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, (lo + hi) / 2, np.nan)


class TrackRecorder:
    """Collects 10 Hz points per speaker and hands out `track` records."""

    def __init__(self, call: str, span_s: float = 5.0) -> None:
        self.call = call
        self.points = int(span_s * RATE_HZ)
        self.start: int | None = None
        self.series: dict[str, dict[str, list[Any]]] = {sp: self._empty() for sp in SPEAKERS}
        self._carry: dict[str, list[HopFeatures]] = {sp: [] for sp in SPEAKERS}

    def pieces(self, start: int, n_hops: int) -> list[tuple[int, int]]:
        """Hops [lo, hi) of a run of `n_hops` from stream time `start`, cut where a record
        ends (records lie on the stream-time grid of `span_s`)."""
        span = self.points * STEP
        first = start // HOP
        cuts = [0]
        cut = (first // span + 1) * span - first
        while cut < n_hops:
            cuts.append(cut)
            cut += span
        cuts.append(n_hops)
        return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True) if hi > lo]

    @staticmethod
    def _empty() -> dict[str, list[Any]]:
        return {"level_db": [], "pitch_st": [], "speech": []}

    def push(
        self, feats: dict[str, HopFeatures], voices: Mapping[Speaker, VoiceSnapshot]
    ) -> list[dict[str, Any]]:
        """Whole-tick features of both speakers (and their state at the end) -> finished
        track records."""
        out: list[dict[str, Any]] = []
        first = feats["agent"]
        if self.start is None:
            self.start = first.start
        n = first.n_hops - first.n_hops % STEP
        k = n // STEP
        # Both speakers in one pass: rows [0, k) are the agent's points, [k, 2k) the customer's.
        f0 = np.concatenate([feats[sp].f0_hz[:n] for sp in SPEAKERS]).reshape(-1, STEP)
        pitch = semitones(_nanmedian_rows(f0)).tolist()
        talk = np.concatenate([feats[sp].speech[:n] for sp in SPEAKERS]).reshape(-1, STEP)
        speech = (talk.sum(axis=1) * 2 >= STEP).astype(int).tolist()
        for i, sp in enumerate(SPEAKERS):
            s = self.series[sp]
            level = feats[sp].momentary_db[STEP - 1 : n : STEP].tolist()
            s["level_db"] += [round(x, 1) for x in level]
            s["pitch_st"] += [None if p != p else round(p, 2) for p in pitch[i * k : (i + 1) * k]]
            s["speech"] += speech[i * k : (i + 1) * k]
        while len(self.series["agent"]["level_db"]) >= self.points:
            out.append(self._record(voices, self.points))
        return out

    def flush(self, voices: Mapping[Speaker, VoiceSnapshot]) -> list[dict[str, Any]]:
        n = len(self.series["agent"]["level_db"])
        return [self._record(voices, n)] if n else []

    def _record(self, voices: Mapping[Speaker, VoiceSnapshot], n: int) -> dict[str, Any]:
        assert self.start is not None
        rec: dict[str, Any] = {
            "record": "track",
            "call": self.call,
            "start": seconds(self.start),
            "rate_hz": RATE_HZ,
        }
        for sp in SPEAKERS:
            s = self.series[sp]
            v = voices[sp]
            rec[sp] = {
                **{k: x[:n] for k, x in s.items()},
                "baseline": None
                if v.baseline_level_db is None or v.baseline_pitch_st is None
                else {
                    "level_db": round(v.baseline_level_db, 1),
                    "pitch_st": round(v.baseline_pitch_st, 2),
                    # The raised band in force (dB over the baseline), as the rule has it.
                    "raised_db": round(v.raised_db, 2),
                },
            }
            self.series[sp] = {k: v[n:] for k, v in s.items()}
        self.start += n * STEP * HOP
        return rec
