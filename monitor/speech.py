"""Speech snippets to text to phrase alerts: the glue between the pipeline and the worker.

`Turns` follows each speaker's speech after the crosstalk guard (the speech the rules see)
and closes turns; `SnippetCutter` keeps each speaker's recent audio and turns closed turns
into snippets (long turns are cut at the quietest moment near `max_snippet_s`). Where an
alert waits for words, or (live) a customer's episode is building, it also gives a
provisional snippet of the turn under way (`request_cut`, `cut_open`): a first look for
the second opinion, while the turn is still transcribed whole when it ends. As the guard
has already taken the other speaker's echo out of a speaker's speech, the echo never
becomes a snippet.
`PhraseSpotter` turns finished transcripts into `transcript` records and `phrase` alerts.
The worker itself (audio/transcribe/) runs on its own thread; everything here runs on
the analysis thread and never waits for the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts.cues import CueMatcher, redact
from alerts.model import Alert, TranscriptRecord
from audio.transcribe import Snippet, Transcript
from audio.types import HOP, SAMPLE_RATE, SPEAKERS, Segment, Speaker, seconds
from audio.vad import VAD_FRAME

PAD_BEFORE = int(0.2 * SAMPLE_RATE)
PAD_AFTER = int(0.1 * SAMPLE_RATE)
MIN_PEEK = int(0.6 * SAMPLE_RATE)
"""A provisional snippet holds at least this much speech (samples)."""
LOOK_GAP = int(0.6 * SAMPLE_RATE)
"""At most one provisional snippet per speaker in this long (samples): each costs a decode
(about 0.6 s of CPU for tiny.en), and one decoded in time beats two queued."""
PEEK_END_S = 0.4
"""A provisional snippet ends at the quietest 30 ms of the last this many seconds, more
often between words than in one (a word cut in half drags the decoder's confidence down)."""


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


class Turns:
    """One speaker's turns, from speech after the crosstalk guard.

    The VAD's speech opens `onset_s` after the first speech frame and closes `hangover_s`
    after the last: a turn reaches back over the onset and leaves out the hangover, so
    where the guard masks nothing a turn is exactly the VAD's segment. Where the guard
    masked the speech (the other speaker's echo), the turn ends or starts at the mask.
    """

    def __init__(self, speaker: Speaker, onset_s: float, hangover_s: float) -> None:
        self.speaker = speaker
        # The same frame counts as the VAD's segmenter (audio/analyzer.py).
        self.reach_back = (max(1, int(round(onset_s / 0.03))) - 1) * VAD_FRAME
        self.trail = (max(1, int(round(hangover_s / 0.03))) - 1) * VAD_FRAME
        self.open_start: int | None = None
        """Stream time the turn under way began (None between turns)."""
        self._end = 0  # stream time after the last hop seen
        self._was_masked = False  # the last hop seen was speech masked by the guard

    def push(self, start: int, speech: np.ndarray, masked: np.ndarray) -> list[Segment]:
        """Hops from stream time `start`: speech after the guard, and the hops it masked."""
        out: list[Segment] = []
        n = speech.shape[0]
        if n == 0:
            return out
        on = np.empty(n + 1, dtype=bool)
        on[0] = self.open_start is not None
        on[1:] = speech
        edges = np.flatnonzero(on[1:] != on[:-1])
        for i in edges.tolist():
            t = start + i * HOP
            before_masked = self._was_masked if i == 0 else bool(masked[i - 1])
            if speech[i]:  # a turn starts
                self.open_start = t if before_masked else max(0, t - self.reach_back)
            else:  # a turn ends: at a mask as it is, else without the hangover
                assert self.open_start is not None
                end = t if masked[i] else max(self.open_start + HOP, t - self.trail)
                out.append(Segment(self.speaker, self.open_start, end))
                self.open_start = None
        self._was_masked = bool(masked[-1])
        self._end = start + n * HOP
        return out

    def flush(self) -> list[Segment]:
        """Close the turn under way at the end of the stream."""
        if self.open_start is None:
            return []
        seg = Segment(self.speaker, self.open_start, self._end)
        self.open_start = None
        return [seg]


@dataclass
class _Open:
    cut_from: int | None = None


class SnippetCutter:
    """Closed speech segments (and cut-up long turns) -> `Snippet`s."""

    def __init__(self, max_snippet_s: float = 10.0) -> None:
        self.max = int(max_snippet_s * SAMPLE_RATE)
        keep = 3 * self.max
        self.audio = {sp: Recent(keep, np.float32) for sp in SPEAKERS}
        self.open = {sp: _Open() for sp in SPEAKERS}
        # Provisional looks asked for by alerts waiting for words, or by an episode
        # building (see `cut_open`); `cut_done` is how far each speaker's speech has been
        # sent for those.
        self.want: dict[str, int | None] = {sp: None for sp in SPEAKERS}
        self.cut_done = {sp: 0 for sp in SPEAKERS}
        self.last_look = {sp: -LOOK_GAP for sp in SPEAKERS}

    def add_audio(self, speaker: Speaker, start: int, x: np.ndarray) -> None:
        self.audio[speaker].add(start, x)

    def replace_audio(self, speaker: Speaker, start: int, x: np.ndarray) -> None:
        """Audio already kept from stream time `start` is replaced by `x` (a cleaned copy)."""
        self.audio[speaker].put(start, x)

    def _snippet(
        self, speaker: Speaker, start: int, end: int, provisional: bool = False
    ) -> Snippet | None:
        # VAD onsets clip soft word starts: give Whisper a little audio on either side.
        start = max(self.audio[speaker].start, start - PAD_BEFORE)
        end = end + PAD_AFTER
        samples = self.audio[speaker].get(start, end)
        if samples.size == 0:
            return None
        return Snippet(speaker, start, start + samples.size, samples, provisional)

    def request_cut(self, speaker: Speaker, t: int) -> None:
        """Ask for this speaker's words up to stream time `t` without waiting for the turn
        to end: `cut_open` then gives a provisional snippet of the turn under way."""
        if t > self.cut_done[speaker] and (self.want[speaker] or 0) < t:
            self.want[speaker] = t

    def _quiet(self, speaker: Speaker, t: int, within_s: float = 0.3) -> int:
        """The middle of the quietest 30 ms in the `within_s` seconds before `t`."""
        x = self.audio[speaker].get(t - int(within_s * SAMPLE_RATE), t)
        frame = 480
        n = x.size // frame
        if n < 2:
            return t
        energy = (x[x.size - n * frame :].reshape(n, frame) ** 2).mean(axis=1)
        return t - n * frame + int(np.argmin(energy)) * frame + frame // 2

    def segments(self, segments: list[Segment]) -> list[Snippet]:
        out = []
        for seg in segments:
            state = self.open[seg.speaker]
            start = seg.start if state.cut_from is None else max(seg.start, state.cut_from)
            state.cut_from = None
            want = self.want[seg.speaker]
            if want is not None and want <= seg.end:
                # The turn is over: its snippet, sent now, holds the words asked for.
                self.want[seg.speaker], self.cut_done[seg.speaker] = None, want
            if seg.end > start:
                snip = self._snippet(seg.speaker, start, seg.end)
                if snip is not None:
                    out.append(snip)
        return out

    def cut_open(self, speaker: Speaker, seg_start: int | None, now: int) -> Snippet | None:
        """The requested look at the turn under way: a provisional snippet from the turn's
        start (or its last long-turn cut) to about `now`. The turn itself is not cut: it
        is transcribed whole when it ends, and that transcript is the one logged.

        None when nothing was requested, the speaker is not speaking now, or there is less
        than `MIN_PEEK` of speech yet, or the last look was less than `LOOK_GAP` ago (then
        the request waits).
        """
        want = self.want[speaker]
        if want is None or want > now:
            return None
        if seg_start is None:
            self.want[speaker], self.cut_done[speaker] = None, want
            return None
        state = self.open[speaker]
        begin = seg_start if state.cut_from is None else max(seg_start, state.cut_from)
        if now - begin < MIN_PEEK or now - self.last_look[speaker] < LOOK_GAP:
            return None
        self.want[speaker], self.cut_done[speaker] = None, want
        self.last_look[speaker] = now
        end = self._quiet(speaker, now, PEEK_END_S)
        return self._snippet(speaker, begin, max(end, begin + MIN_PEEK), provisional=True)

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
        # Whether the moment at a stream time is tense (alerts.second_opinion sets it).
        self.moment: Callable[[int], bool] | None = None

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
        tense = self.moment is not None and self.moment(t.start)
        for hit in self.matcher.match(t.speaker, t.text, tense=tense):
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
