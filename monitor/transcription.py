"""One transcription setup for replay, live and batch.

`SpeechSetup.build` turns the settings (`[transcription]`, `[cues]`) and the command-line
overrides into the worker settings, checks them, and loads the speech model once (the
model stays cached in the process). `SpeechSetup.for_call` then gives each call its own
`CallSpeech`: a `TranscriptionWorker`, the `PhraseSpotter` and the words-as-second-opinion
stage (`alerts.second_opinion`). The setup is a small frozen value, so batch sends it to
its worker processes, which load the model from their own cache.

Offline runs (replay --fast, batch) use the "block" policy: the worker never skips a
snippet and the second opinion waits for the words. Real-time runs (live, paced replay)
use "drop_oldest": nothing ever waits for the model.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from alerts.cues import Cue, CueMatcher
from alerts.second_opinion import OpinionSettings, SecondOpinion
from audio.transcribe import ModelError, TranscriberSettings, TranscriptionWorker, load_model
from monitor.config import Config
from monitor.speech import PhraseSpotter


@dataclass(frozen=True)
class CallSpeech:
    """Transcription for one call."""

    worker: TranscriptionWorker
    spotter: PhraseSpotter
    opinion: SecondOpinion


@dataclass(frozen=True)
class SpeechSetup:
    """How every call of a run is transcribed; `settings` None means acoustic alerts only.

    Attributes:
        settings: the worker's settings, or None (transcription off or unavailable).
        cues: the phrase cues in force.
        redact: mask digit runs in logged text.
        max_snippet_s: long turns are cut near this length (seconds).
        note: a warning for the user, or None: why transcription is unavailable (the model
            could not be loaded), or a setting it cannot honour (a language an English-only
            model does not speak).
        opinion: how the second opinion waits for and trusts words.
    """

    settings: TranscriberSettings | None
    cues: tuple[Cue, ...] = ()
    redact: bool = True
    max_snippet_s: float = 10.0
    note: str | None = None
    opinion: OpinionSettings = OpinionSettings()

    @classmethod
    def build(
        cls,
        cfg: Config,
        *,
        policy: str,
        off: bool = False,
        model: str | None = None,
        device: str | None = None,
        compute_type: str | None = None,
        language: str | None = None,
        redact: bool | None = None,
        strict: bool = False,
    ) -> SpeechSetup:
        """Check the settings and load the model once.

        Args:
            cfg: the validated settings.
            policy: "block" (offline) or "drop_oldest" (real time).
            off: acoustic alerts only (``--no-transcribe``).
            model, device, compute_type, language: command-line overrides (None: not given).
            redact: command-line override of ``transcription.redact``.
            strict: raise `ModelError` when the model cannot be loaded, instead of carrying
                on without transcription (with `note` saying why).

        Raises:
            ValueError: a bad setting or override (one line naming it).
            ModelError: the model cannot be loaded and ``strict`` is set.
        """
        t = cfg.transcription
        keep = bool(t.redact if redact is None else redact)
        if off or not t.enabled:
            return cls(None, redact=keep, max_snippet_s=t.max_snippet_s)
        settings = t.worker(
            policy, model=model, device=device, compute_type=compute_type, language=language
        )
        cues = tuple(cfg.cues.active)
        try:
            whisper = load_model(settings)
        except ModelError as exc:
            if strict:
                raise
            return cls(
                None,
                cues,
                keep,
                t.max_snippet_s,
                note=f"{exc}; carrying on with acoustic alerts only",
            )
        note = None
        if settings.language not in (None, "en") and not whisper.model.is_multilingual:
            note = (
                f"the speech model is English-only: language {settings.language!r} is not "
                "used; speech in other languages gives unreliable words, and the acoustic "
                "alerts stand"
            )
            settings = dataclasses.replace(settings, language="en")
        return cls(settings, cues, keep, t.max_snippet_s, note=note)

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, cfg: Config, policy: str, strict: bool = False
    ) -> SpeechSetup:
        """`build` with the options of `monitor.options.add_transcription_options`."""
        return cls.build(
            cfg,
            policy=policy,
            off=bool(getattr(args, "no_transcribe", False)),
            model=getattr(args, "model", None),
            device=getattr(args, "whisper_device", None),
            compute_type=getattr(args, "compute_type", None),
            language=getattr(args, "language", None),
            redact=getattr(args, "redact", None),
            strict=strict,
        )

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def for_call(self, call: str) -> CallSpeech | None:
        """A fresh worker, spotter and second-opinion stage for one call (None when off).

        Raises:
            ModelError: the model cannot be loaded in this process (batch workers).
        """
        if self.settings is None:
            return None
        model = load_model(self.settings)  # cached: loaded once per process
        worker = TranscriptionWorker(self.settings, model=model)
        spotter = PhraseSpotter(CueMatcher(self.cues), call, self.redact)
        opinion = SecondOpinion(self.opinion, words=True, offline=self.settings.policy == "block")
        return CallSpeech(worker, spotter, opinion)

    def parts(self, call: str) -> tuple[Any, Any, Any]:
        """(worker, spotter, opinion) for one call, or (None, None, None) when off."""
        speech = self.for_call(call)
        if speech is None:
            return None, None, None
        return speech.worker, speech.spotter, speech.opinion
