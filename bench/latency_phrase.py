"""Delays at real-time pace with transcription on: phrase alerts, and raised-voice alerts
that wait for the words' second opinion.

1. Phrases: builds a two-channel call from the phrase fixtures (each phrase on its
   speaker's channel, a few seconds of silence between them), replays it paced at real time
   through the same `run_call` loop and transcription setup as `tonewatch replay`, and notes
   the monotonic time each `phrase` alert and `transcript` record reaches the sinks. The
   delay of a record is that time minus the moment the end of its speech was heard (replay
   start + record end).
2. Raised voices: replays the fixture calls with a raised or yelling customer
   (customer_yelling, agent_matching, words_*.flac) the same way, and measures when each
   customer alert (yelling, raised, upbeat) reaches the sinks after its episode's start
   (replay start + alert start): the target is at most 3 s. Beside each it prints when
   the alert was decided (stream seconds after the episode's start: by the detector, or
   by the words while the episode was still building), so the delay the words add can be
   told from the decision's own. Says how many were decided with words, how many by the
   words while building, how many had none in time, and how many had their words amended
   in the log afterwards (`alert_words` records). The latency is the episode's first
   alert; a second alert of the same episode (cursing heard after a raised voice went
   out, made yelling) is a follow-up, with its own figures.

Prints each delay, then the median and 95th percentile over all runs, with the machine's
load average before and after each call (the delays grow with it: the decodes share the
cores). Five runs by default: with the five calls that is 25 customer alerts, so the p95
is not one call's worst run.

Usage::

    python bench/latency_phrase.py [--runs 5] [--gap 3.0] [--block 0.1] [--skip-phrases]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.model import Alert, TranscriptRecord  # noqa: E402
from audio.sources import FileSource, paced  # noqa: E402
from audio.types import SAMPLE_RATE  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.session import CallSetup, run_call  # noqa: E402
from monitor.transcription import SpeechSetup  # noqa: E402

ELEVATED_CALLS = (
    "customer_yelling.flac",
    "agent_matching.flac",
    "words_rapport.flac",
    "words_cursing.flac",
    "words_german.flac",
)
CUSTOMER_KINDS = ("customer_yelling", "customer_raised", "customer_upbeat")


def build_call(path: Path, gap_s: float) -> list[tuple[str, float, float]]:
    """Write the phrase call; returns (file, start, end) of each phrase placed."""
    expected = json.loads((ROOT / "fixtures" / "phrases.expected.json").read_text())
    chans = {"agent": [], "customer": []}
    placed = []
    t = gap_s
    for name, exp in sorted(expected.items()):
        if not exp.get("speech"):
            continue
        x, sr = sf.read(ROOT / "fixtures" / name, dtype="float32")
        assert sr == SAMPLE_RATE
        start = int(t * SAMPLE_RATE)
        for sp in chans:
            chans[sp].append((start, x if sp == exp["speaker"] else None, len(x)))
        placed.append((name, t, t + len(x) / SAMPLE_RATE))
        t += len(x) / SAMPLE_RATE + gap_s
    n = int(t * SAMPLE_RATE)
    stereo = np.zeros((n, 2), np.float32)
    for i, sp in enumerate(("agent", "customer")):
        for start, x, length in chans[sp]:
            if x is not None:
                stereo[start : start + length, i] = x
    sf.write(path, stereo, SAMPLE_RATE)
    return placed


Heard = list[tuple[str, str, float, float]]


def one_run(call: Path, block_s: float) -> tuple[Heard, dict[str, int]]:
    cfg = load_config()
    speech = SpeechSetup.build(cfg, policy="drop_oldest")  # real-time pace, as live
    worker, spotter, _ = speech.parts("latency")
    if worker is None:
        raise SystemExit(f"no transcription: {speech.note}")
    heard: list[tuple[str, str, float, float]] = []
    t0 = 0.0

    def sink(rec: Alert | TranscriptRecord) -> None:
        now = time.monotonic()
        if isinstance(rec, TranscriptRecord):
            heard.append(("transcript", rec.speaker, rec.end, now - (t0 + rec.end)))
        elif rec.kind == "phrase":
            heard.append((f"phrase:{rec.cue}", rec.speaker, rec.end, now - (t0 + rec.end)))
        elif rec.kind in CUSTOMER_KINDS:
            ev = rec.evidence.get("words", {})
            words = str(ev.get("verdict", "?"))
            if words == "none":  # say why: not in time, not understood, unreliable
                words += f" ({ev.get('why', '?')})"
            if rec.evidence.get("decided_by_words"):
                words += ", decided by the words while building"
            what = f"elevated:{rec.kind}:{rec.end - rec.start:.2f}:{words}"
            heard.append((what, rec.speaker, rec.start, now - (t0 + rec.start)))

    setup = CallSetup(cfg=cfg, call="latency", worker=worker, spotter=spotter, sinks=[sink])
    source = FileSource(str(call), block_s=block_s)
    t0 = time.monotonic()
    result = run_call(paced(source), setup)
    return heard, dict(result.summary["second_opinion"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--gap", type=float, default=3.0, help="seconds of silence between phrases")
    ap.add_argument(
        "--block", type=float, default=0.1, help="seconds of audio per block (replay uses 0.1)"
    )
    ap.add_argument("--skip-phrases", action="store_true", help="only the raised-voice calls")
    args = ap.parse_args()
    delays: dict[str, list[float]] = {
        "phrase": [],
        "transcript": [],
        "elevated": [],
        "follow-up": [],
    }
    words = {"with words": 0, "no words": 0}
    amended = early = 0
    loads: list[float] = []
    for run in range(args.runs):
        for name in ELEVATED_CALLS:
            loads.append(os.getloadavg()[0])
            heard, opinion = one_run(ROOT / "fixtures" / name, args.block)
            loads.append(os.getloadavg()[0])
            amended += int(opinion.get("amended", 0))
            early += int(opinion.get("early", 0))
            episodes: set[float] = set()
            for what, _speaker, start, delay in heard:
                if not what.startswith("elevated"):
                    continue
                _, kind, decided, verdict = what.split(":")
                # The episode's first alert is its latency; a second one of the same
                # episode (late cursing making a raised voice yelling) is told apart.
                first = start not in episodes
                episodes.add(start)
                print(
                    f"run {run}: {name:<22} {kind:<16} start {start:6.2f} s  "
                    f"decided {decided} s  delay {delay:5.2f} s  words {verdict}"
                    + ("" if first else "  (follow-up)"),
                    flush=True,
                )
                delays["elevated" if first else "follow-up"].append(delay)
                if first:
                    words["no words" if verdict.startswith("none") else "with words"] += 1
    print(
        f"customer alerts decided: {words['with words']} with words, {words['no words']} "
        f"without; decided by the words while still building: {early}; alerts whose words "
        f"were amended in the log later: {amended}"
    )
    if loads:
        print(f"load average (1 min) around the calls: {min(loads):.1f}-{max(loads):.1f}")
    if not args.skip_phrases:
        with tempfile.TemporaryDirectory() as tmp:
            call = Path(tmp) / "phrases_call.flac"
            placed = build_call(call, args.gap)
            print(
                f"call of {len(placed)} phrases, {placed[-1][2] + args.gap:.1f} s, "
                f"blocks of {args.block} s"
            )
            for run in range(args.runs):
                for what, speaker, end, delay in one_run(call, args.block)[0]:
                    if what.startswith("elevated"):
                        continue
                    print(
                        f"run {run}: {what:<24} {speaker:<8} end {end:6.2f} s  delay {delay:5.2f} s"
                    )
                    delays["phrase" if what.startswith("phrase") else "transcript"].append(delay)
    for what, vals in delays.items():
        if what == "elevated":
            what = "customer alert after episode start"
        elif what == "follow-up":
            what = "follow-up alert of an episode (late cursing) after its start"
        if vals:
            vals.sort()
            p95 = vals[min(len(vals) - 1, int(round(0.95 * (len(vals) - 1))))]
            print(
                f"{what}: n={len(vals)} median {statistics.median(vals):.2f} s, "
                f"p95 {p95:.2f} s, max {vals[-1]:.2f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
