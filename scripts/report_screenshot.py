"""Make docs/report.png: a fixture call replayed, reported with its audio, and photographed.

Replays `fixtures/agent_matching.flac` (with transcription, so the transcript and a phrase
cue show), writes `tonewatch report --audio`, opens it in headless Debian chromium through
Playwright, clicks the most severe alert marker (the details panel opens and the player seeks
there) and saves a full-page screenshot.

    python scripts/report_screenshot.py [--out docs/report.png] [--html out/report.html]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def screenshot(html: Path, png: Path, width: int = 1240) -> list[str]:
    """Open `html`, click the most severe alert marker, save `png`; returns console errors."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.resolve().as_uri())
        for severity in ("critical", "warning", "info"):
            marker = page.locator(f"#markers .marker.sev-{severity}").first
            if marker.count():
                marker.click()
                page.mouse.move(0, 0)  # hide the hover card: the details panel shows it all
                break
        page.screenshot(path=str(png), full_page=True)
        browser.close()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "report.png"))
    ap.add_argument("--html", default=str(ROOT / "out" / "report.html"))
    ap.add_argument("--fixture", default=str(ROOT / "fixtures" / "agent_matching.flac"))
    args = ap.parse_args()
    html = Path(args.html)
    html.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "call.jsonl"
        tw = [sys.executable, "-m", "monitor"]
        subprocess.run(
            [*tw, "replay", args.fixture, "--fast", "--quiet", "--log", str(log)]
            + ["--call-id", "demo-matching", "--agent-name", "dana"],
            check=True,
            cwd=ROOT,
        )
        subprocess.run(
            [*tw, "report", str(log), "--audio", args.fixture, "-o", str(html)],
            check=True,
            cwd=ROOT,
        )
    errors = screenshot(html, Path(args.out))
    for e in errors:
        print(f"console error: {e}", file=sys.stderr)
    print(f"wrote {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
