"""How long `tonewatch review` takes over 1,000 alert logs.

The logs come from the real pipeline: the five fixture calls are replayed once each with
`--fast --no-transcribe` (`--transcribe` to include transcripts), then each log is copied
200 times with a new call id, agent name and start date (its `at` stamps shifted by whole
minutes), giving 1,000 logs of about a minute of call each. Every 100th copy is cut
inside a line, as a crash would leave it. Then `tonewatch review FOLDER --db DB --json OUT`
runs three times as a user runs it (a fresh process each time; the first run reads every
log into the index, the next two find them unchanged) and the median is printed, with the
in-process time of reading the logs into a new index alone.

    python bench/bench_review.py [--logs 1000] [--keep DIR] [--transcribe]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ["agent_barge_in", "agent_matching", "calm_call", "customer_yelling", "gain_step"]
AGENTS = ["dana", "alice", "bob", "chen", "farah", "ivan", "kofi", "lucia"]


def replay(folder: Path, transcribe: bool) -> list[list[dict[str, Any]]]:
    """Each fixture replayed once; returns each log's records."""
    out = []
    for name in FIXTURES:
        log = folder / f"{name}.jsonl"
        cmd = [sys.executable, "-m", "monitor", "replay", str(ROOT / "fixtures" / f"{name}.flac")]
        cmd += ["--fast", "--quiet", "--log", str(log), "--call-id", name]
        if not transcribe:
            cmd.append("--no-transcribe")
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        out.append([json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()])
    return out


def _shift(stamp: str, by: timedelta) -> str:
    return (datetime.fromisoformat(stamp) + by).isoformat(timespec="milliseconds")


def make_logs(templates: list[list[dict[str, Any]]], folder: Path, n: int) -> int:
    """`n` logs from the templates; returns their total size in bytes."""
    total = 0
    for i in range(n):
        by = timedelta(days=-(i // 40), minutes=7 * (i % 40))
        agent = AGENTS[i % len(AGENTS)]
        lines = []
        for rec in templates[i % len(templates)]:
            rec = {**rec, "call": f"c{i:04d}"}
            if "at" in rec:
                rec["at"] = _shift(rec["at"], by)
            if rec["record"] != "track":
                rec["agent"] = agent
            lines.append(json.dumps(rec, ensure_ascii=False, separators=(", ", ": ")) + "\n")
        data = "".join(lines).encode("utf-8")
        if i % 100 == 99:
            data = data[: len(data) * 2 // 3]  # crashed mid-call: cut inside a line
        path = folder / f"day{i // 40:02d}" / f"c{i:04d}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def time_review(folder: Path, db: Path, runs: int = 3) -> tuple[list[float], int]:
    """Wall-clock seconds of `tonewatch review FOLDER --db DB --json` per run (the first
    reads every log into the index, the others find them unchanged), and the rows out."""
    times = []
    rows = 0
    for _ in range(runs):
        out = folder / "review.json"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "monitor", "review", str(folder), "--db", str(db)]
            + ["--json", str(out)],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - t0)
        rows = len(json.loads(out.read_text(encoding="utf-8")))
        out.unlink()
    return times, rows


def time_reading(folder: Path, db: Path) -> float:
    """In-process seconds to read every log into a new index (no start-up, no table)."""
    sys.path.insert(0, str(ROOT))
    from monitor.callindex import CallIndex
    from monitor.review import expand

    t0 = time.perf_counter()
    warnings: list[str] = []
    with CallIndex(db) as idx:
        idx.refresh(expand([str(folder)], warnings), warnings)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logs", type=int, default=1000)
    ap.add_argument("--keep", metavar="DIR", help="write the logs here and keep them")
    ap.add_argument("--transcribe", action="store_true", help="replay with transcription")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = Path(args.keep) if args.keep else work / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        templates = replay(work, args.transcribe)
        size = make_logs(templates, folder, args.logs)
        print(f"{args.logs} logs, {size / 1e6:.1f} MB, in {folder}")
        times, rows = time_review(folder, work / "index.sqlite")
        reading = time_reading(folder, work / "fresh.sqlite")
    med = statistics.median(times)
    print(
        f"tonewatch review over {args.logs} logs ({rows} calls): median {med:.2f} s of 3 "
        f"runs ({', '.join(f'{t:.2f}' for t in times)} s; the first indexes the logs); "
        f"reading the logs into a new index alone {reading:.2f} s in-process"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
