"""Make docs/serve.png and docs/serve-trends.png: the QA web app over a demo index.

Replays the five fixture calls (acoustic only), copies each log 40 times with new call
ids, six agents and start dates over eight weeks, indexes them (`tonewatch index`), serves
the index (`monitor.serve`) and photographs, in Debian's chromium through Playwright, the
calls table sorted worst first and the trends page. Prints each page's load time.

    python scripts/serve_screenshot.py [--out docs]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

FIXTURES = ["agent_barge_in", "agent_matching", "calm_call", "customer_yelling", "gain_step"]
AGENTS = ["dana", "alice", "bob", "chen", "farah", "ivan"]


def demo_logs(work: Path) -> Path:
    env = {**os.environ, "TONEWATCH_NO_INDEX": "1"}
    folder = work / "logs"
    folder.mkdir()
    for n, name in enumerate(FIXTURES):
        log = work / f"{name}.jsonl"
        cmd = [sys.executable, "-m", "monitor", "replay", str(ROOT / "fixtures" / f"{name}.flac")]
        cmd += ["--fast", "--quiet", "--no-transcribe", "--log", str(log), "--call-id", name]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
        records = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
        for i in range(40):
            k = i * len(FIXTURES) + n
            day = 2 + (k * 7) % 56
            out = []
            for rec in records:
                rec = {**rec, "call": f"call-{k:03d}"}
                if "at" in rec:
                    month, d = (10, day) if day <= 31 else (11, day - 31)
                    rec["at"] = f"2026-{month:02d}-{d:02d}T{9 + k % 8:02d}:{k % 60:02d}:00+00:00"
                if rec["record"] != "track":
                    rec["agent"] = AGENTS[(k * 5 + i) % len(AGENTS)]
                out.append(json.dumps(rec))
            (folder / f"{name}-{i:02d}.jsonl").write_text("\n".join(out) + "\n")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from monitor.serve import create_app, running

    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = demo_logs(work)
        db = work / "index.sqlite"
        cmd = [sys.executable, "-m", "monitor", "index", str(folder), "--db", str(db)]
        subprocess.run(cmd, check=True, cwd=ROOT)
        with running(create_app(db)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            shots = (("/?sort=date&reverse=1", "serve.png"), ("/trends", "serve-trends.png"))
            for path, png in shots:
                t0 = time.perf_counter()
                page.goto(url + path, wait_until="load")
                print(f"{path}: loaded in {1000 * (time.perf_counter() - t0):.0f} ms")
                page.screenshot(path=str(out / png))
            browser.close()
    print(f"wrote {out / 'serve.png'} and {out / 'serve-trends.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
