"""Word error rate and speed of the transcriber on the clean reference recordings.

Transcribes each ``shared/data/clean/*.flac`` that has a reference text with the same code
path the monitor uses (`audio.transcribe.transcribe_snippet`), then prints per file: WER
(word-level edit distance after normalization), substitutions/deletions/insertions, the
hypothesis, compute seconds (fastest of ``--repeat`` runs) and real-time factor; and
overall: WER (total edits / total reference words), median real-time factor, model load
time and the process's peak RSS.
``--fixtures`` also times the phrase fixtures (``fixtures/phrases_*.flac``) for the
real-time factor.

Normalization is the cue matcher's (`alerts.cues.normalize`: lowercase, no punctuation,
contractions expanded); numbers are not spelled out, so "20th" against "twentieth" counts
as one substitution.

Usage::

    PYTHONPATH=. python bench/wer_clean.py [--data DIR] [--model M] [--cpu-threads N]
        [--compute-type T] [--fixtures] [--repeat N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

from alerts.cues import normalize
from audio.transcribe import (
    Snippet,
    TranscriberSettings,
    Transcript,
    load_model,
    transcribe_snippet,
)
from audio.types import SAMPLE_RATE

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clean"

REFERENCES: dict[str, str] = {
    "jfk": "And so my fellow Americans, ask not what your country can do for you, ask what "
    "you can do for your country.",
    "cmu_arctic_us_aew_a0001": "Author of the danger trail, Philip Steels, etc.",
    "cmu_arctic_us_aew_a0002": "Not at this particular case, Tom, apologized Whittemore.",
    "cmu_arctic_us_aew_a0003": "For the twentieth time that evening the two men shook hands.",
    "cmu_arctic_us_axb_a0004": "Lord, but I'm glad to see you again, Phil.",
    "cmu_arctic_us_axb_a0005": "Will we ever forget it.",
    "cmu_arctic_us_axb_a0006": "God bless 'em, I hope I'll go on seeing them forever.",
}


def edit_counts(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """Substitutions, deletions and insertions of a minimum word-level alignment.

    Args:
        ref: reference words.
        hyp: hypothesis words.

    Returns:
        (substitutions, deletions, insertions); their sum is the edit distance.
    """
    n, m = len(ref), len(hyp)
    # cost[i][j]: (edits, subs, dels, ins) aligning ref[:i] with hyp[:j]
    cost = [[(0, 0, 0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = (i, 0, i, 0)
    for j in range(1, m + 1):
        cost[0][j] = (j, 0, 0, j)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            e, s, d, ins = cost[i - 1][j - 1]
            best = (e, s, d, ins) if ref[i - 1] == hyp[j - 1] else (e + 1, s + 1, d, ins)
            e, s, d, ins = cost[i - 1][j]
            best = min(best, (e + 1, s, d + 1, ins))
            e, s, d, ins = cost[i][j - 1]
            best = min(best, (e + 1, s, d, ins + 1))
            cost[i][j] = best
    _, subs, dels, inss = cost[n][m]
    return subs, dels, inss


def read_mono_16k(path: Path) -> np.ndarray:
    """Read an audio file as float32 mono at 16 kHz."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def timed(
    model: WhisperModel, snippet: Snippet, settings: TranscriberSettings, repeat: int
) -> tuple[Transcript | None, float]:
    """Transcribe ``repeat`` times; return the result and the fastest compute seconds."""
    best = float("inf")
    result: Transcript | None = None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        result = transcribe_snippet(model, snippet, settings)
        best = min(best, time.perf_counter() - t0)
    return result, best


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="", help='model folder or name ("" = embedded)')
    parser.add_argument("--cpu-threads", type=int, default=TranscriberSettings.cpu_threads)
    parser.add_argument("--compute-type", default=TranscriberSettings.compute_type)
    parser.add_argument("--fixtures", action="store_true", help="also time phrase fixtures")
    parser.add_argument(
        "--repeat", type=int, default=3, help="time each file this often, keep the fastest"
    )
    args = parser.parse_args(argv)

    settings = TranscriberSettings(
        model=args.model, cpu_threads=args.cpu_threads, compute_type=args.compute_type
    )
    start = time.perf_counter()
    model = load_model(settings)
    load_s = time.perf_counter() - start
    print(
        f"model {settings.model or 'embedded tiny.en'}, {settings.compute_type}, "
        f"cpu_threads={settings.cpu_threads}: loaded in {load_s:.2f} s"
    )

    files = sorted(p for p in args.data.glob("*.flac") if p.stem in REFERENCES)
    if not files:
        print(f"no reference recordings in {args.data}", file=sys.stderr)
        return 1
    # One untimed warm-up call so the first file does not carry one-off setup costs.
    transcribe_snippet(model, Snippet("agent", 0, SAMPLE_RATE, read_mono_16k(files[0])), settings)

    total_edits = total_words = 0
    rtfs: list[float] = []
    print(f"\n{'file':26s} {'WER':>6s} {'S/D/I':>7s} {'audio':>6s} {'cpu':>6s} {'RTF':>6s}  text")
    for path in files:
        audio = read_mono_16k(path)
        snippet = Snippet("agent", 0, audio.shape[0], audio)
        result, compute = timed(model, snippet, settings, args.repeat)
        hyp_text = result.text if result is not None else ""
        ref = normalize(REFERENCES[path.stem]).split()
        hyp = normalize(hyp_text).split()
        s, d, i = edit_counts(ref, hyp)
        total_edits += s + d + i
        total_words += len(ref)
        rtf = compute / snippet.duration_s
        rtfs.append(rtf)
        print(
            f"{path.stem:26s} {(s + d + i) / len(ref):6.1%} {s}/{d}/{i:<3d} "
            f"{snippet.duration_s:5.2f}s {compute:5.2f}s {rtf:6.3f}  {hyp_text}"
        )
    print(
        f"\noverall WER {total_edits / total_words:.1%} ({total_edits} edits / {total_words} "
        f"words), median RTF {statistics.median(rtfs):.3f} over {len(rtfs)} files"
    )

    if args.fixtures:
        fixture_rtfs: list[float] = []
        for path in sorted((ROOT / "fixtures").glob("phrases_*.flac")):
            audio = read_mono_16k(path)
            snippet = Snippet("agent", 0, audio.shape[0], audio)
            _, compute = timed(model, snippet, settings, args.repeat)
            fixture_rtfs.append(compute / snippet.duration_s)
        print(
            f"phrase fixtures: median RTF {statistics.median(fixture_rtfs):.3f} over "
            f"{len(fixture_rtfs)} files (min {min(fixture_rtfs):.3f}, max {max(fixture_rtfs):.3f})"
        )
    print(f"peak RSS {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
