"""Batch throughput on this machine: hours of call audio analysed per hour of wall time.

Copies the shipped two-channel fixture calls (about a minute each) N times into a temporary
folder and runs them through `tonewatch batch`'s own driver on a local Dask cluster, once
acoustic only and once with transcription (the embedded tiny.en model), then prints:

- wall: from the first call sent to the last row back (the cluster already up);
- with startup: the same plus starting the local cluster (what one short batch costs);
- per worker: the summed per-call compute time, as a real-time factor per worker process;
- load: the machine's 1-minute load average before and after (other work skews the figures).

Usage (a few minutes with the defaults on 2 cores):

    python bench/bench_batch.py                       # 20 copies acoustic, 2 with speech
    python bench/bench_batch.py --copies 40 --speech-copies 4 --workers 2
    python bench/bench_batch.py --speech-copies 0     # acoustic only
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from monitor.batch import BatchOptions, open_client, run_jobs
from monitor.batch_inputs import discover
from monitor.config import load_config, transcriber_settings

ROOT = Path(__file__).resolve().parents[1]
CALLS = ["calm_call", "customer_yelling", "agent_barge_in", "agent_matching", "gain_step"]


def make_calls(folder: Path, copies: int) -> None:
    for i in range(copies):
        for name in CALLS:
            shutil.copy(ROOT / "fixtures" / f"{name}.flac", folder / f"{name}_{i:03d}.flac")


def measure(label: str, copies: int, workers: int, transcribe: bool) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    cfg = load_config()
    settings = transcriber_settings(cfg, policy="block") if transcribe else None
    opts = BatchOptions(cfg=cfg, transcriber=settings)
    with tempfile.TemporaryDirectory(prefix="tonewatch-bench-") as tmp:
        calls, out = Path(tmp) / "calls", Path(tmp) / "out"
        calls.mkdir()
        make_calls(calls, copies)
        jobs, _ = discover([str(calls)])
        rows: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        with open_client(None, workers) as client:
            t1 = time.perf_counter()
            run_jobs(client, jobs, opts, out, rows.append)
            t2 = time.perf_counter()
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"{label}: {len(bad)} calls failed, e.g. {bad[0]['error']}")
    audio_s = sum(r["duration_s"] for r in rows)
    compute_s = sum(r["compute_s"] for r in rows)
    return {
        "label": label,
        "calls": len(rows),
        "audio_h": audio_s / 3600,
        "wall_s": t2 - t1,
        "startup_s": t1 - t0,
        "rate": audio_s / (t2 - t1),
        "rate_startup": audio_s / (t2 - t0),
        "per_worker": audio_s / compute_s,
        "load": (load_before, os.getloadavg()[0]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=20, help="copies of the 5 calls, acoustic")
    ap.add_argument("--speech-copies", type=int, default=2, help="copies with transcription")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    runs = []
    if args.copies:
        runs.append(measure("acoustic (--no-transcribe)", args.copies, args.workers, False))
    if args.speech_copies:
        runs.append(measure("with transcription", args.speech_copies, args.workers, True))
    print(f"{args.workers} workers on {os.cpu_count()} cores")
    head = (
        f"{'run':<28} {'calls':>5} {'audio h':>8} {'wall s':>7} {'h audio / h':>12} "
        f"{'incl. startup':>13} {'x RT / worker':>13} {'load 1 min':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        print(
            f"{r['label']:<28} {r['calls']:>5} {r['audio_h']:>8.2f} {r['wall_s']:>7.1f} "
            f"{r['rate']:>12.0f} {r['rate_startup']:>13.0f} {r['per_worker']:>13.1f} "
            f"{r['load'][0]:>5.1f}-{r['load'][1]:<5.1f}"
        )


if __name__ == "__main__":
    main()
