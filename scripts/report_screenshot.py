"""Make the report's pictures in docs/: a fixture call replayed, reported with its audio, and
photographed in headless Debian chromium through Playwright.

Replays `fixtures/agent_matching.flac` (with transcription, so the transcript and phrase
cues show), writes `tonewatch report --audio`, opens it, clicks the first "moment to
review" (the details open, the timeline shows that moment, the player seeks there) and saves
`docs/report.png` (1240 px wide) and `docs/report-phone.png` (390 px, a phone). With
`--long LOG` it also photographs that log's report zoomed into its worst moment
(`docs/report-60min.png`), e.g. a 60-minute call.

    python scripts/report_screenshot.py [--out docs] [--html out/report.html] [--long LOG]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def screenshot(html: Path, png: Path, width: int = 1240, full: bool = True) -> list[str]:
    """Open `html`, click the first moment to review, save `png`; returns console errors."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.resolve().as_uri())
        page.wait_for_selector("#timeline svg")
        first = page.locator("#moments li[data-start]").first
        if first.count():
            first.click()
            page.mouse.move(0, 0)
        page.screenshot(path=str(png), full_page=full)
        browser.close()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs"), help="folder for the pictures")
    ap.add_argument("--html", default=str(ROOT / "out" / "report.html"))
    # Relative to the project root (the commands run there), so the pictures show no
    # machine's folders.
    ap.add_argument("--fixture", default="fixtures/agent_matching.flac")
    ap.add_argument("--long", metavar="LOG", help="also photograph this (long) call's report")
    args = ap.parse_args()
    html = Path(args.html)
    html.parent.mkdir(parents=True, exist_ok=True)
    (ROOT / "out").mkdir(exist_ok=True)
    out = Path(args.out)
    tw = [sys.executable, "-m", "monitor"]
    log = Path("out") / "demo-matching.jsonl"
    # A fresh data folder: no voice profile from earlier runs, no call index entry.
    data = tempfile.mkdtemp(prefix="tonewatch-shot-")
    env = {**os.environ, "XDG_DATA_HOME": data, "TONEWATCH_NO_INDEX": "1"}
    (ROOT / log).unlink(missing_ok=True)
    subprocess.run(
        [*tw, "replay", args.fixture, "--fast", "--quiet", "--log", str(log)]
        + ["--call-id", "demo-matching", "--agent-name", "dana"],
        check=True,
        cwd=ROOT,
        env=env,
    )
    subprocess.run(
        [*tw, "report", str(log), "--audio", args.fixture, "-o", str(html)],
        check=True,
        cwd=ROOT,
        env=env,
    )
    shutil.rmtree(data, ignore_errors=True)
    errors = screenshot(html, out / "report.png")
    errors += screenshot(html, out / "report-phone.png", width=390)
    if args.long:
        long_html = html.with_name("report-long.html")
        subprocess.run([*tw, "report", args.long, "-o", str(long_html)], check=True, cwd=ROOT)
        errors += screenshot(long_html, out / "report-60min.png", full=False)
    for e in errors:
        print(f"console error: {e}", file=sys.stderr)
    print(f"wrote {out}/report*.png")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
