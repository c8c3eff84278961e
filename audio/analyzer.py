"""Per-speaker streaming analysis: samples in, `HopFeatures` out.

`ChannelAnalyzer.push` takes any number of 16 kHz samples, analyses every whole 30 ms VAD
frame (three 10 ms hops) and keeps the rest for the next call; `flush` pads and analyses the
tail. Pitch and spectral balance are computed on speech frames only, once per 30 ms frame
(the middle hop), over a trailing 40 ms window. Runs on the analysis thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio.features import BandBalance, HarmonicPitch, KWeightedPower, Yin, power_db
from audio.types import HOP, HopFeatures, Segment, Speaker
from audio.vad import VAD_FRAME, Segmenter, WebrtcScorer

MOMENTARY_HOPS = 40
"""Hops in the 400 ms momentary loudness window (EBU Tech 3341)."""


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of the per-speaker analysis (see `monitor/defaults.toml`)."""

    vad_aggressiveness: int = 2
    """webrtcvad aggressiveness, 0 (least) to 3 (most aggressive at rejecting non-speech)."""
    onset_s: float = 0.06
    """Speech must last this long (seconds) before a segment opens."""
    hangover_s: float = 0.3
    """Non-speech this long (seconds) closes a segment; shorter gaps stay inside a turn."""
    pitch_fmin_hz: float = 70.0
    pitch_fmax_hz: float = 800.0
    pitch_threshold: float = 0.25
    """YIN dip threshold; frames without a dip below it are unvoiced."""
    pitch_tracker: str = "yin"
    """"yin", or "harmonic" (`HarmonicPitch`: YIN's candidates, the octave chosen by the
    harmonics; half YIN's octave errors on telephone speech, see docs/detection.md). The
    detector's coherent-contour test was measured on YIN's tracks: with "harmonic" the
    real calm call with line noise (15-30 dB SNR) calls the caller's energetic moment
    yelling, so YIN stays the default."""
    window_s: float = 0.04
    """Pitch and spectral balance window, seconds."""
    min_level_db: float = -60.0
    """Speech frames quieter than this (K-weighted dB) are not used for voice features."""
    crosstalk_margin_db: float = 15.0
    """While both channels speak, a channel this far (dB) below the other, each relative
    to its own typical level, is the other speaker's bleed, not speech."""


def pitch_tracker(settings: AnalysisSettings, window: int | None = None) -> Yin | HarmonicPitch:
    """The pitch tracker the analysis runs on each speech frame's `window`-sample window."""
    if window is None:
        window = max(int(round(settings.window_s * 16000)), HOP * 3)
    kind = HarmonicPitch if settings.pitch_tracker == "harmonic" else Yin
    return kind(window, settings.pitch_fmin_hz, settings.pitch_fmax_hz, settings.pitch_threshold)


class ChannelAnalyzer:
    """Streaming analysis of one speaker's channel."""

    def __init__(self, speaker: Speaker, settings: AnalysisSettings) -> None:
        self.speaker = speaker
        self.settings = settings
        self.window = int(round(settings.window_s * 16000))
        self.window = max(self.window, HOP * 3)
        self._scorer = WebrtcScorer(settings.vad_aggressiveness)
        self._segmenter = Segmenter(
            speaker,
            onset_frames=int(round(settings.onset_s / 0.03)),
            hangover_frames=int(round(settings.hangover_s / 0.03)),
        )
        self._pitch = pitch_tracker(settings, self.window)
        self._balance = BandBalance(self.window)
        self._window_offsets = np.arange(self.window)
        self.reset()

    def reset(self) -> None:
        """Forget all signal state (after a gap in the audio); segments are closed by caller."""
        self._kw = KWeightedPower(HOP)
        self._pending = np.zeros(0, np.float32)
        self._history = np.zeros(self.window, np.float32)
        self._ms_history = np.zeros(MOMENTARY_HOPS - 1)
        self._next_start: int | None = None

    @property
    def speaking(self) -> bool:
        return self._segmenter.active

    @property
    def segment_start(self) -> int:
        return self._segmenter.segment_start

    def push(self, start: int, samples: np.ndarray) -> HopFeatures | None:
        """Analyse samples beginning at stream time `start` (contiguous with earlier pushes)."""
        if self._next_start is None:
            self._next_start = start
        x = np.concatenate([self._pending, samples]) if self._pending.size else samples
        n = (x.shape[0] // VAD_FRAME) * VAD_FRAME
        self._pending = x[n:].copy()
        if n == 0:
            return None
        return self._analyse(x[:n])

    def flush(self) -> tuple[HopFeatures | None, list[Segment]]:
        """Analyse the tail (zero-padded to a whole frame) and close any open segment."""
        feats = None
        if self._pending.size:
            tail = np.pad(self._pending, (0, VAD_FRAME - self._pending.shape[0]))
            self._pending = np.zeros(0, np.float32)
            feats = self._analyse(tail)
        return feats, self._segmenter.flush()

    def _analyse(self, x: np.ndarray) -> HopFeatures:
        assert self._next_start is not None
        start = self._next_start
        n_hops = x.shape[0] // HOP
        self._next_start = start + x.shape[0]

        # Level: K-weighted mean square per hop, and 400 ms momentary loudness.
        ms = self._kw(x.reshape(n_hops, HOP))
        ms_all = np.concatenate([self._ms_history, ms])
        cs = np.zeros(ms_all.shape[0] + 1)
        np.cumsum(ms_all, out=cs[1:])
        momentary = (cs[MOMENTARY_HOPS:] - cs[:n_hops]) / MOMENTARY_HOPS
        self._ms_history = ms_all[-(MOMENTARY_HOPS - 1) :]
        level_db = power_db(ms)

        # Voice activity per 30 ms frame, smoothed into speech per hop.
        raw = self._scorer.score(x)
        smooth, segments = self._segmenter.push(start, raw)
        speech = np.repeat(smooth, 3)

        # Voice features on raw-speech frames, at the middle hop of each 30 ms frame.
        buf = np.concatenate([self._history, x])
        self._history = buf[-self.window :]
        frame_level = level_db.reshape(-1, 3).max(axis=1)
        cand = np.flatnonzero(raw & (frame_level > self.settings.min_level_db))
        f0 = np.full(n_hops, np.nan)
        balance = np.full(n_hops, np.nan)
        voiced = np.zeros(n_hops, dtype=bool)
        if cand.size:
            mid_hops = cand * 3 + 1
            # The window of hop k starts at buf[(k + 2) * HOP] (buf holds `window` samples of
            # history before x), so it ends with the last hop of hop k's 30 ms frame.
            first = (mid_hops + 2) * HOP
            frames = buf[first[:, None] + self._window_offsets].astype(np.float64)
            hz, _ = self._pitch(frames)
            ok = ~np.isnan(hz)
            f0[mid_hops[ok]] = hz[ok]
            balance[mid_hops[ok]] = self._balance(frames[ok])
            voiced[mid_hops[ok]] = True
        return HopFeatures(
            start=start,
            speech=speech,
            voiced=voiced,
            level_db=level_db,
            momentary_db=power_db(momentary),
            f0_hz=f0,
            balance_db=balance,
            segments=segments,
        )
