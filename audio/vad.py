"""Voice activity: webrtcvad decisions per 30 ms frame, smoothed into speech segments.

`Segmenter` turns raw per-frame decisions into speech with an onset rule (a run of speech
frames) and a hangover (speech continues until enough non-speech frames pass), so the gaps
between words do not split a turn. Runs on the analysis thread.
"""

from __future__ import annotations

from itertools import repeat

import _webrtcvad
import numpy as np
import webrtcvad

from audio.types import HOP, SAMPLE_RATE, Segment, Speaker

VAD_FRAME = 3 * HOP
"""Samples per webrtcvad frame (30 ms)."""


class WebrtcScorer:
    """webrtcvad speech decision per 30 ms frame of 16 kHz float audio."""

    def __init__(self, aggressiveness: int) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"vad aggressiveness must be 0-3, got {aggressiveness}")
        self._vad = webrtcvad.Vad(aggressiveness)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Return one bool per whole 30 ms frame of `x` (length a multiple of `VAD_FRAME`)."""
        pcm = memoryview(np.clip(x * 32768.0, -32768, 32767).astype("<i2").tobytes())
        step = VAD_FRAME * 2
        n = len(pcm) // step
        # One C call per frame with no Python wrapper in between: `Vad.is_speech` only
        # checks the length (always VAD_FRAME here) before calling the same function.
        calls = map(
            _webrtcvad.process,
            repeat(self._vad._vad, n),
            repeat(SAMPLE_RATE, n),
            [pcm[i : i + step] for i in range(0, n * step, step)],
            repeat(VAD_FRAME, n),
        )
        return np.fromiter(calls, dtype=bool, count=n)


class Segmenter:
    """Hysteresis over per-frame speech decisions.

    Speech starts after `onset_frames` consecutive speech frames (the segment starts at the
    first of them) and ends after `hangover_frames` consecutive non-speech frames (the
    segment ends after its last speech frame).
    """

    def __init__(self, speaker: Speaker, onset_frames: int, hangover_frames: int) -> None:
        self.speaker = speaker
        self.onset_frames = max(1, onset_frames)
        self.hangover_frames = max(1, hangover_frames)
        self.reset()

    def reset(self) -> None:
        self._active = False
        self._run = 0  # consecutive speech frames while quiet
        self._silence = 0  # consecutive non-speech frames while active
        self._seg_start = 0
        self._last_speech_end = 0

    @property
    def active(self) -> bool:
        return self._active

    @property
    def segment_start(self) -> int:
        return self._seg_start

    def push(self, start: int, decisions: np.ndarray) -> tuple[np.ndarray, list[Segment]]:
        """Consume frame decisions starting at stream time `start`.

        Works run by run (a run is a stretch of equal decisions), so the Python loop turns
        a few times per second of audio rather than once per frame.

        Returns:
            per-frame smoothed speech (bool array, same length) and the segments closed.
        """
        d = np.asarray(decisions, dtype=bool)
        out = np.zeros(d.shape[0], dtype=bool)
        closed: list[Segment] = []
        if d.size == 0:
            return out, closed
        edges = np.flatnonzero(d[1:] != d[:-1]) + 1
        starts = np.concatenate(([0], edges)).tolist()
        ends = np.concatenate((edges, [d.size])).tolist()
        speech = bool(d[0])
        for lo, hi in zip(starts, ends, strict=True):
            length = hi - lo
            if speech:
                if not self._active and self._run + length >= self.onset_frames:
                    # The segment opens at the onset frame and reaches back to the run's
                    # first speech frame (which may lie in an earlier push).
                    at = lo + max(0, self.onset_frames - self._run - 1)
                    self._run += at - lo + 1
                    self._active = True
                    self._seg_start = start + (at - self._run + 1) * VAD_FRAME
                    lo = at
                if self._active:
                    self._silence = 0
                    self._last_speech_end = start + hi * VAD_FRAME
                    out[lo:hi] = True
                else:
                    self._run += length
            else:
                if self._active:
                    left = self.hangover_frames - self._silence
                    if length >= left:
                        # Still active up to the frame that completes the hangover.
                        out[lo : lo + left - 1] = True
                        self._active = False
                        self._silence = self.hangover_frames
                        closed.append(Segment(self.speaker, self._seg_start, self._last_speech_end))
                        self._run = 0
                    else:
                        self._silence += length
                        out[lo:hi] = True
                else:
                    self._run = 0
            speech = not speech
        return out, closed

    def flush(self) -> list[Segment]:
        """Close an open segment at end of stream."""
        if not self._active:
            return []
        self._active = False
        return [Segment(self.speaker, self._seg_start, self._last_speech_end)]
