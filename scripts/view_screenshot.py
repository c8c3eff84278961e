"""Make pictures of the agent's view for docs/: the terminal view at 120 and 60 columns
and the browser view, mid-call, from a fixture call through the real pipeline.

The terminal pictures are rich's own rendering of the view (exported as SVG, then
photographed in headless Debian chromium so they are PNGs); the browser picture is
`replay --web` served and opened in chromium.

    python scripts/view_screenshot.py [--out docs] [--at 46]
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

FIXTURE = ROOT / "fixtures" / "agent_matching.flac"


def terminal_svgs(at_s: float, out: Path) -> list[Path]:
    from rich.console import Console

    from audio.sources import FileSource
    from monitor.config import load_config
    from monitor.session import CallSetup, run_call
    from monitor.view import AgentView, render

    frames: list = []
    with AgentView(console=Console(file=io.StringIO()), publish=frames.append) as view:
        view.min_interval = 0.0
        setup = CallSetup(cfg=load_config(), call="demo")
        setup.sinks.append(view.sink)
        setup.on_snapshot = view.on_snapshot

        def blocks():
            for b in FileSource(FIXTURE, block_s=0.1):
                if b.start / 16000 > at_s:
                    return
                yield b

        run_call(blocks(), setup)
    frame = frames[-1]
    made = []
    for width in (120, 60):
        console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
        console.print(render(frame, width))
        path = out / f"view-{width}.svg"
        path.write_text(console.export_svg(title=f"tonewatch ({width} columns)"))
        made.append(path)
    return made


def photograph(svg: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        holder = svg.with_suffix(".html")
        holder.write_text(f'<body style="margin:0"><img id="v" src="{svg.name}" width="1000">')
        page.goto(holder.resolve().as_uri())
        page.wait_for_function("document.getElementById('v').complete")
        page.locator("#v").screenshot(path=str(png))
        holder.unlink()
        browser.close()


def web(png: Path) -> None:
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "replay", str(FIXTURE), "--no-transcribe", "--web"]
        + ["--speed", "4", "--call-id", "demo", "--no-view"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = re.search(r"http://\S+", proc.stderr.readline())
    assert url, "no address printed"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 480, "height": 560}, bypass_csp=True)
        tab = page.new_page()
        tab.goto(url.group(0))
        tab.wait_for_function(
            "window.tonewatchFrame && window.tonewatchFrame.alerts.length >= 2"
            " && window.tonewatchFrame.speakers.some(s => s.over_db !== null)",
            timeout=60_000,
        )
        tab.screenshot(path=str(png))
        browser.close()
    proc.wait(timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--at", type=float, default=46.0, help="call time of the picture (s)")
    args = ap.parse_args()
    out = Path(args.out)
    for svg in terminal_svgs(args.at, out):
        photograph(svg, svg.with_suffix(".png"))
        svg.unlink()
    web(out / "webview.png")
    print(f"wrote {out}/view-120.png, view-60.png, webview.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
