"""Speech to text for closed speech segments, off the audio path.

The jobs, one module each:

- `audio.transcribe.model`: `TranscriberSettings` and `load_model` (the embedded tiny.en or
  a local CTranslate2 folder, loaded once per process, never downloaded; `ModelError`).
- `audio.transcribe.filters`: what Whisper invents on noise and what is not speech.
- `audio.transcribe.decode`: `Snippet` in, `Transcript` out; a batch of one speaker's
  snippets is decoded in one call and split back into one transcript per snippet, each with
  the stream times of its own words.
- `audio.transcribe.worker`: `TranscriptionWorker`, the bounded queue and its thread.

The names below are the package's public interface. All times are stream sample indices
at `audio.types.SAMPLE_RATE` (16 kHz).
"""

from audio.transcribe.decode import (
    BATCH_GAP_S,
    SILENT_PEAK,
    Snippet,
    Transcript,
    Word,
    transcribe_batch,
    transcribe_snippet,
)
from audio.transcribe.filters import HALLUCINATIONS
from audio.transcribe.model import (
    POLICIES,
    ModelError,
    TranscriberSettings,
    embedded_model_path,
    load_model,
    one_line,
    settings_from_table,
)
from audio.transcribe.worker import TranscriptionWorker, WorkerStats

__all__ = [
    "BATCH_GAP_S",
    "HALLUCINATIONS",
    "POLICIES",
    "SILENT_PEAK",
    "ModelError",
    "Snippet",
    "TranscriberSettings",
    "Transcript",
    "TranscriptionWorker",
    "Word",
    "WorkerStats",
    "embedded_model_path",
    "load_model",
    "one_line",
    "settings_from_table",
    "transcribe_batch",
    "transcribe_snippet",
]
