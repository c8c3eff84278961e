"""The transcription worker: a bounded queue and one thread, off the audio path.

What runs where:

- The caller's thread (the pipeline's audio/analysis loop) hands `Snippet`s to
  `TranscriptionWorker.submit`, which only appends to a bounded in-memory queue and returns
  (under the "block" policy it waits for room instead). It collects finished `Transcript`s
  with `poll`, which never waits. Neither call touches the model.
- Each `TranscriptionWorker` owns one daemon thread ("tonewatch-transcribe"). It loads the
  model (unless one was given), then takes snippets off the queue and runs faster-whisper on
  them. CTranslate2 computes on `TranscriberSettings.cpu_threads` threads of its own, outside
  the GIL, so the audio path keeps its core.

When the worker falls behind, pending snippets of one speaker are decoded together (at most
`TranscriberSettings.max_batch_s` of audio; see `audio.transcribe.decode`); each snippet
still gets its own transcript with its own times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audio.transcribe.decode import BATCH_GAP_S, Snippet, Transcript, transcribe_batch
from audio.transcribe.model import ModelError, TranscriberSettings, load_model, one_line
from audio.types import SAMPLE_RATE

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerStats:
    """A consistent snapshot of a `TranscriptionWorker`'s counters.

    ``submitted == transcribed + skipped + failed + pending`` always holds.

    Attributes:
        submitted: snippets accepted by `TranscriptionWorker.submit`.
        transcribed: snippets that went through the model (with or without text left).
        results: transcripts produced (at most one per snippet).
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
    group one speaker's snippets); each `Transcript` carries the stream times of its snippet
    and of its words.

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
        self._flying: list[Snippet] = []
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
    def policy(self) -> str:
        """The queue policy in force ("drop_oldest" live, "block" offline)."""
        return self.settings.policy

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

    def _pending_before(self, speaker: str, t: int) -> bool:
        return any(s.speaker == speaker and s.start < t for s in (*self._queue, *self._flying))

    def pending_before(self, speaker: str, t: int) -> bool:
        """Whether speech of ``speaker`` starting before stream time ``t`` still waits
        for the model (queued or being transcribed)."""
        with self._cond:
            return self._pending_before(speaker, t)

    def promote(self, speaker: str, t: int) -> None:
        """Move waiting snippets of ``speaker`` that start before ``t`` to the front of the
        queue (in their order): an alert waits for their words."""
        with self._cond:
            first = [s for s in self._queue if s.speaker == speaker and s.start < t]
            if first:
                rest = [s for s in self._queue if not (s.speaker == speaker and s.start < t)]
                self._queue = deque(first + rest)

    def wait_for(self, speaker: str, t: int, timeout: float | None = None) -> bool:
        """Wait until no speech of ``speaker`` starting before ``t`` waits for the model.

        Offline replay uses this so that what the words decide does not depend on how
        fast the machine is. Returns False on timeout, or when the worker stopped.
        """
        self.promote(speaker, t)
        with self._cond:
            done = self._cond.wait_for(
                lambda: not self._pending_before(speaker, t) or self.error is not None,
                timeout,
            )
            return bool(done) and self.error is None

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
        if limit <= 0 or not self._queue or first.provisional:
            return batch
        total = first.duration_s
        full = False
        rest: deque[Snippet] = deque()
        for snippet in self._queue:
            extra = BATCH_GAP_S + snippet.duration_s
            if snippet.speaker == first.speaker and not full and not snippet.provisional:
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
                self._flying = batch
                self._cond.notify_all()
            self._process(model, batch)

    def _process(self, model: WhisperModel, batch: list[Snippet]) -> None:
        """Transcribe one batch and record its result and counters."""
        start = time.perf_counter()
        result: list[Transcript] = []
        failure: str | None = None
        try:
            result = transcribe_batch(model, batch, self.settings)
        except Exception as exc:  # one bad snippet must not stop transcription
            failure = one_line(f"{type(exc).__name__}: {exc}")
            log.warning("transcription failed: %s", failure)
        busy = time.perf_counter() - start
        with self._cond:
            self._in_flight = 0
            self._flying = []
            self.busy_s += busy
            if failure is not None:
                self.failed += len(batch)
                self.last_failure = failure
            else:
                self.transcribed += len(batch)
                self.audio_s += sum(s.duration_s for s in batch)
                self._results.extend(result)
                self.results += len(result)
            self._cond.notify_all()
