"""Speech snippets to text to phrase alerts: the glue between the pipeline and the worker.

`SnippetCutter` keeps each speaker's recent audio and turns closed VAD segments into
snippets (long turns are cut at the quietest moment near `max_snippet_s`); bleed hops
masked by the crosstalk guard keep the other speaker's echo out of a speaker's transcript.
`PhraseSpotter` turns finished transcripts into `transcript` records and `phrase` alerts.
The worker itself (audio/transcribe/) runs on its own thread; everything here runs on
the analysis thread and never waits for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts.cues import CueMatcher, redact
from alerts.model import Alert, TranscriptRecord
from audio.transcribe import Snippet, Transcript
from audio.types import HOP, SAMPLE_RATE, SPEAKERS, HopFeatures, Segment, Speaker, seconds

PAD_BEFORE = int(0.2 * SAMPLE_RATE)
PAD_AFTER = int(0.1 * SAMPLE_RATE)


class Recent:
    """The last `keep` values of a stream (samples or per-hop flags), by stream position."""

    def __init__(self, keep: int, dtype: type) -> None:
        self.keep = keep
        self.values: np.ndarray = np.zeros(0, dtype)
        self.start = 0  # stream position of values[0]

    def add(self, start: int, x: np.ndarray) -> None:
        if self.values.size == 0:
            self.start = start
        self.values = np.concatenate([self.values, x])
        extra = self.values.size - self.keep
        if extra > 0:
            self.values = self.values[extra:]
            self.start += extra

    def put(self, start: int, x: np.ndarray) -> None:
        """Overwrite values already held from stream position `start` (the rest is ignored)."""
        lo = max(0, start - self.start)
        hi = min(self.values.size, start + x.size - self.start)
        if hi > lo:
            self.values[lo:hi] = x[lo - (start - self.start) : hi - (start - self.start)]

    def get(self, start: int, end: int) -> np.ndarray:
        lo = max(0, start - self.start)
        hi = max(lo, min(self.values.size, end - self.start))
        return self.values[lo:hi].copy()


@dataclass
class _Open:
    cut_from: int | None = None


class SnippetCutter:
    """Closed speech segments (and cut-up long turns) -> `Snippet`s."""

    def __init__(self, max_snippet_s: float = 10.0, max_bleed: float = 0.5) -> None:
        self.max = int(max_snippet_s * SAMPLE_RATE)
        self.max_bleed = max_bleed
        keep = 3 * self.max
        self.audio = {sp: Recent(keep, np.float32) for sp in SPEAKERS}
        self.bleed = {sp: Recent(keep // HOP, np.bool_) for sp in SPEAKERS}
        self.open = {sp: _Open() for sp in SPEAKERS}
        self.dropped_bleed = 0

    def add_audio(self, speaker: Speaker, start: int, x: np.ndarray) -> None:
        self.audio[speaker].add(start, x)

    def add_mask(self, speaker: Speaker, f: HopFeatures, masked: np.ndarray) -> None:
        """Remember where the crosstalk guard masked this speaker's speech as bleed."""
        self.bleed[speaker].add(f.start // HOP, masked)

    def _bleed_share(self, speaker: Speaker, start: int, end: int) -> float:
        flags = self.bleed[speaker].get(start // HOP, end // HOP)
        return float(flags.mean()) if flags.size else 0.0

    def _snippet(self, speaker: Speaker, start: int, end: int) -> Snippet | None:
        if self._bleed_share(speaker, start, end) > self.max_bleed:
            self.dropped_bleed += 1
            return None
        # VAD onsets clip soft word starts: give Whisper a little audio on either side.
        start = max(self.audio[speaker].start, start - PAD_BEFORE)
        end = end + PAD_AFTER
        samples = self.audio[speaker].get(start, end)
        if samples.size == 0:
            return None
        return Snippet(speaker=speaker, start=start, end=start + samples.size, samples=samples)

    def segments(self, segments: list[Segment]) -> list[Snippet]:
        out = []
        for seg in segments:
            state = self.open[seg.speaker]
            start = seg.start if state.cut_from is None else max(seg.start, state.cut_from)
            state.cut_from = None
            if seg.end > start:
                snip = self._snippet(seg.speaker, start, seg.end)
                if snip is not None:
                    out.append(snip)
        return out

    def long_turn(self, speaker: Speaker, seg_start: int, now: int) -> Snippet | None:
        """Cut a turn still under way once it is `max_snippet_s` long, at its quietest 30 ms."""
        state = self.open[speaker]
        begin = seg_start if state.cut_from is None else max(seg_start, state.cut_from)
        if now - begin < self.max:
            return None
        x = self.audio[speaker].get(now - 2 * SAMPLE_RATE, now)
        frame = 480
        n = x.size // frame
        cut = now
        if n > 1:
            energy = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
            cut = now - x.size + int(np.argmin(energy)) * frame + frame // 2
        state.cut_from = cut
        return self._snippet(speaker, begin, cut)


class PhraseSpotter:
    """Transcripts -> transcript records (redacted if asked) and phrase alerts."""

    def __init__(self, matcher: CueMatcher, call: str, redact_text: bool) -> None:
        self.matcher = matcher
        self.call = call
        self.redact = redact_text
        self.cue_counts: dict[str, int] = {}

    def __call__(self, t: Transcript) -> list[Alert | TranscriptRecord]:
        shown = redact(t.text) if self.redact else t.text
        out: list[Alert | TranscriptRecord] = [
            TranscriptRecord(
                speaker=t.speaker,
                start=seconds(t.start),
                end=seconds(t.end),
                text=shown,
                call=self.call,
                confidence={
                    "avg_logprob": round(t.avg_logprob, 3),
                    "no_speech_prob": round(t.no_speech_prob, 3),
                },
            )
        ]
        for hit in self.matcher.match(t.speaker, t.text):
            cue = hit.cue
            key = f"{cue.speaker}.{cue.name}"
            self.cue_counts[key] = self.cue_counts.get(key, 0) + 1
            evidence: dict[str, Any] = {"pattern": hit.pattern, "good_sign": cue.good}
            start, end = t.span_times(*hit.span)  # the cue's own words, not the snippet's
            out.append(
                Alert(
                    kind="phrase",
                    speaker=t.speaker,
                    start=seconds(start),
                    end=seconds(end),
                    severity=cue.severity,
                    message=cue.message,
                    tip=cue.tip,
                    evidence=evidence,
                    text=shown,
                    call=self.call,
                    cue=cue.name,
                )
            )
        return out
