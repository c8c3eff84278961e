"""Snippets in, transcripts out: one decoder call for one snippet or a batch of them.

When the worker is behind it hands several snippets of one speaker to `transcribe_batch`,
which joins them with short silences (`BATCH_GAP_S`) into one audio stretch: the Whisper
encoder always works on a 30 s window, so one call on 10 s of speech costs about the same
as one call on 2 s. Decoding runs with word timestamps, and every kept word is mapped back
to the snippet its middle falls in, so a batch still yields one `Transcript` per snippet,
each with the stream times of its own words (`Transcript.words`, `Transcript.span_times`).

All times are stream sample indices at `audio.types.SAMPLE_RATE` (16 kHz).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audio.transcribe.filters import WORDS_RE, is_laugh_word, keep_segment, tag_spans
from audio.transcribe.model import TranscriberSettings
from audio.types import SAMPLE_RATE, SPEAKERS, Speaker

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

BATCH_GAP_S = 0.5
"""Silence put between snippets transcribed as one batch."""

SILENT_PEAK = 1e-4
"""Snippets whose peak is below this (about -80 dBFS) are digital silence: not transcribed."""


@dataclass(frozen=True)
class Snippet:
    """Speech of one speaker to transcribe.

    Attributes:
        speaker: "agent" or "customer".
        start: stream time of the first sample.
        end: stream time just after the last sample.
        samples: float32 mono samples at 16 kHz. Not copied: do not change them after
            submitting.
        provisional: a first look at speech still under way (an episode building): its
            words inform the second opinion early, and the same speech is transcribed
            again, whole, when its turn is cut. Decoded on its own, never batched.
    """

    speaker: Speaker
    start: int
    end: int
    samples: np.ndarray
    provisional: bool = False

    def __post_init__(self) -> None:
        if self.speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {'|'.join(SPEAKERS)}, got {self.speaker!r}")
        if self.end < self.start:
            raise ValueError(f"snippet end {self.end} is before start {self.start}")
        samples = np.asarray(self.samples)
        if samples.ndim != 1:
            raise ValueError(f"snippet samples must be 1-D, got shape {samples.shape}")
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        object.__setattr__(self, "samples", samples)

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return self.samples.shape[0] / SAMPLE_RATE


@dataclass(frozen=True)
class Word:
    """One decoded word of a transcript.

    Attributes:
        text: the word as decoded, with its punctuation ("Thanks,").
        start: stream time the word starts.
        end: stream time the word ends.
        probability: the decoder's probability of the word (0..1).
        offset: where the word starts in `Transcript.text` (character index).
    """

    text: str
    start: int
    end: int
    probability: float
    offset: int


@dataclass(frozen=True)
class Transcript:
    """What was said in one snippet.

    Attributes:
        speaker: "agent" or "customer".
        start: stream time of the snippet's start.
        end: stream time of the snippet's end.
        text: the kept text, stripped; never empty.
        avg_logprob: mean token log probability of the kept segments (higher is surer).
        no_speech_prob: highest no-speech probability among the kept segments.
        words: the kept words with their stream times, in order (empty when the decoder
            gave no word timings).
        batched: how many snippets were decoded together with this one (1: on its own).
        language_probability: the decoder's confidence in the language it transcribed
            (1.0 for an English-only model, which cannot tell).
        laughs: laughter heard in the snippet (tags such as "(laughs)", or "haha").
        provisional: from a provisional snippet (see `Snippet`): not logged, not matched
            against the cues; the speech's own transcript comes later.
    """

    speaker: Speaker
    start: int
    end: int
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...] = ()
    batched: int = 1
    language_probability: float = 1.0
    laughs: int = 0
    provisional: bool = False

    @property
    def word_probability(self) -> float:
        """Mean probability of the words (1.0 without word timings)."""
        if not self.words:
            return 1.0
        return float(np.mean([w.probability for w in self.words]))

    def span_times(self, lo: int, hi: int) -> tuple[int, int]:
        """Stream times of the words that the characters ``text[lo:hi]`` touch.

        Falls back to the snippet's (start, end) when no word timings are known.
        """
        hit = [w for w in self.words if w.offset < hi and w.offset + len(w.text) > lo]
        if not hit:
            return self.start, self.end
        return hit[0].start, hit[-1].end


@dataclass
class _Piece:
    text: str
    start: int
    end: int
    probability: float
    segment: int


@dataclass
class _Acc:
    pieces: list[_Piece]
    weights: dict[int, float]
    laughs: int = 0


def _join(snippets: Sequence[Snippet]) -> tuple[np.ndarray, list[int]]:
    """The snippets as one audio stretch with `BATCH_GAP_S` between them, and their offsets."""
    if len(snippets) == 1:
        return np.ascontiguousarray(snippets[0].samples, dtype=np.float32), [0]
    gap = np.zeros(int(BATCH_GAP_S * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    offsets: list[int] = []
    pos = 0
    for snippet in snippets:
        if parts:
            parts.append(gap)
            pos += gap.size
        offsets.append(pos)
        parts.append(snippet.samples)
        pos += snippet.samples.shape[0]
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32), offsets


def _owner(t: float, offsets: list[int], snippets: Sequence[Snippet]) -> int:
    """Index of the snippet whose audio (or the nearer half of a gap) holds time ``t`` (s)."""
    x = t * SAMPLE_RATE
    half_gap = BATCH_GAP_S * SAMPLE_RATE / 2
    for i in range(len(snippets) - 1, 0, -1):
        if x >= offsets[i] - half_gap:
            return i
    return 0


def _decode(model: WhisperModel, audio: np.ndarray, settings: TranscriberSettings) -> Any:
    """Run faster-whisper on ``audio``; returns (segments fully decoded, info or None)."""
    segments, info = model.transcribe(
        audio,
        language=settings.language,
        task="transcribe",
        beam_size=settings.beam_size,
        best_of=1,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
        word_timestamps=True,
        no_speech_threshold=settings.no_speech_threshold,
        log_prob_threshold=settings.logprob_threshold,
        compression_ratio_threshold=settings.compression_ratio_threshold,
    )
    return list(segments), info


def _segment_words(segment: Any, audio_s: float) -> list[tuple[str, float, float, float]]:
    """(text, start s, end s, probability) of a segment's words; without word timings, its
    whitespace-separated pieces, each with the segment's times."""
    words = getattr(segment, "words", None)
    if words:
        return [(w.word, float(w.start), float(w.end), float(w.probability)) for w in words]
    start = float(getattr(segment, "start", 0.0) or 0.0)
    end = float(getattr(segment, "end", audio_s) or audio_s)
    prob = math.exp(min(0.0, float(segment.avg_logprob)))
    return [(piece, start, end, prob) for piece in re.findall(r"\s*\S+", segment.text)]


def transcribe_batch(
    model: WhisperModel, snippets: Sequence[Snippet], settings: TranscriberSettings
) -> list[Transcript]:
    """Transcribe snippets of one speaker in one decoder call; one transcript per snippet.

    Greedy decoding at temperature 0, no VAD (snippets are speech segments already), no
    conditioning on earlier text, word timestamps on. Segments are filtered as
    `audio.transcribe.filters` says. Each kept word goes to the snippet its middle falls in
    (a word in a gap goes to the nearer snippet), and its times become stream times of
    that snippet.

    Args:
        model: from `load_model`.
        snippets: speech of one speaker, in stream order.
        settings: decoding and filter settings.

    Returns:
        Transcripts of the snippets that had words left, in stream order. Snippets shorter
        than ``min_snippet_s`` or silent are not transcribed.
    """
    min_samples = int(settings.min_snippet_s * SAMPLE_RATE)
    usable = [
        s
        for s in snippets
        if s.samples.shape[0] >= max(min_samples, 1)
        and float(np.max(np.abs(s.samples))) >= SILENT_PEAK
    ]
    if not usable:
        return []
    audio, offsets = _join(usable)
    audio_s = audio.shape[0] / SAMPLE_RATE
    segments, info = _decode(model, audio, settings)
    lang_p = float(getattr(info, "language_probability", 1.0) or 1.0) if info else 1.0
    accs = [_Acc([], {}) for _ in usable]
    no_speech: dict[int, float] = {}
    logprob: dict[int, float] = {}
    for k, segment in enumerate(segments):
        words = _segment_words(segment, audio_s)
        seg_text = ""
        ranges: list[tuple[int, int]] = []
        for text, *_ in words:
            ranges.append((len(seg_text), len(seg_text) + len(text)))
            seg_text += text
        tags = tag_spans(seg_text)
        cleaned = " ".join(
            "".join(
                text
                for (text, *_), (lo, hi) in zip(words, ranges, strict=True)
                if not any(lo < t_hi and hi > t_lo for t_lo, t_hi, _ in tags)
            ).split()
        )
        if not keep_segment(segment, cleaned, settings):
            continue
        tokens = float(max(len(getattr(segment, "tokens", ()) or ()), 1))
        kept: list[tuple[int, _Piece]] = []
        for (text, t0, t1, prob), (lo, hi) in zip(words, ranges, strict=True):
            owner = _owner((t0 + t1) / 2, offsets, usable)
            tag = [laugh for t_lo, t_hi, laugh in tags if lo < t_hi and hi > t_lo]
            if tag:
                accs[owner].laughs += int(any(tag))
                continue
            if not WORDS_RE.search(text):
                continue
            if is_laugh_word(text):
                accs[owner].laughs += 1
            snip, base = usable[owner], offsets[owner]

            def stream(t: float, snip: Snippet = snip, base: int = base) -> int:
                return min(max(snip.start + round(t * SAMPLE_RATE) - base, snip.start), snip.end)

            kept.append((owner, _Piece(text, stream(t0), stream(t1), prob, k)))
        for owner, piece in kept:
            acc = accs[owner]
            acc.pieces.append(piece)
            acc.weights[k] = acc.weights.get(k, 0.0) + tokens / len(kept)
        no_speech[k] = float(segment.no_speech_prob)
        logprob[k] = float(segment.avg_logprob)
    out: list[Transcript] = []
    for snip, acc in zip(usable, accs, strict=True):
        if not acc.pieces:
            continue
        text = ""
        words_out: list[Word] = []
        last_segment = None
        for piece in acc.pieces:
            word = " ".join(piece.text.split())
            if text and (piece.text[:1].isspace() or piece.segment != last_segment):
                text += " "
            words_out.append(Word(word, piece.start, piece.end, piece.probability, len(text)))
            text += word
            last_segment = piece.segment
        segs = sorted(acc.weights)
        out.append(
            Transcript(
                speaker=snip.speaker,
                start=snip.start,
                end=snip.end,
                text=text,
                avg_logprob=float(
                    np.average([logprob[k] for k in segs], weights=[acc.weights[k] for k in segs])
                ),
                no_speech_prob=max(no_speech[k] for k in segs),
                words=tuple(words_out),
                batched=len(usable),
                language_probability=lang_p,
                laughs=acc.laughs,
                provisional=snip.provisional,
            )
        )
    return out


def transcribe_snippet(
    model: WhisperModel, snippet: Snippet, settings: TranscriberSettings
) -> Transcript | None:
    """Transcribe one snippet (see `transcribe_batch`).

    Returns:
        The transcript, or None when the snippet is shorter than ``min_snippet_s``, silent,
        or nothing was left after filtering.
    """
    out = transcribe_batch(model, [snippet], settings)
    return out[0] if out else None
