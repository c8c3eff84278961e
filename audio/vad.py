"""Voice activity: webrtcvad decisions per 30 ms frame, smoothed into speech segments.

`Segmenter` turns raw per-frame decisions into speech with an onset rule (a run of speech
frames) and a hangover (speech continues until enough non-speech frames pass), so the gaps
between words do not split a turn. Runs on the analysis thread.
"""

from __future__ import annotations

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
        pcm = np.clip(x * 32768.0, -32768, 32767).astype("<i2").tobytes()
        step = VAD_FRAME * 2
        is_speech = self._vad.is_speech
        return np.fromiter(
            (is_speech(pcm[i : i + step], SAMPLE_RATE) for i in range(0, len(pcm), step)),
            dtype=bool,
            count=len(pcm) // step,
        )


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

        Returns:
            per-frame smoothed speech (bool array, same length) and the segments closed.
        """
        out = np.zeros(decisions.shape[0], dtype=bool)
        closed: list[Segment] = []
        for i, speech in enumerate(decisions.tolist()):
            t = start + i * VAD_FRAME
            if self._active:
                if speech:
                    self._silence = 0
                    self._last_speech_end = t + VAD_FRAME
                else:
                    self._silence += 1
                    if self._silence >= self.hangover_frames:
                        self._active = False
                        closed.append(Segment(self.speaker, self._seg_start, self._last_speech_end))
                out[i] = self._active
            elif speech:
                self._run += 1
                if self._run >= self.onset_frames:
                    self._active = True
                    self._silence = 0
                    self._seg_start = t - (self._run - 1) * VAD_FRAME
                    self._last_speech_end = t + VAD_FRAME
                    out[i] = True
            else:
                self._run = 0
            if not self._active and not speech:
                self._run = 0
        return out, closed

    def flush(self) -> list[Segment]:
        """Close an open segment at end of stream."""
        if not self._active:
            return []
        self._active = False
        return [Segment(self.speaker, self._seg_start, self._last_speech_end)]
