"""Page load times of the QA web app over an index of N calls (default 100,000).

Builds the index as `bench_index.py` does (the five fixture calls replayed, their rows
copied with new ids, 200 agents, twelve weeks), with the first 5 calls pointing at the real
replayed logs and recordings so a call's report (with its player) can be opened; serves it
(`monitor.serve.running`) and loads each page in Debian's chromium through Playwright,
printing the median of 3 loads (the browser's navigation timing, to the load event):

    python bench/bench_serve.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_index import make_rows, templates  # noqa: E402

from monitor.callindex import CallIndex  # noqa: E402
from monitor.serve import create_app, running  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="tonewatch-bench-serve-") as tmp:
        work = Path(tmp)
        tpl = templates(work)
        rows = make_rows(tpl, args.calls)
        for i, (_, _, log) in enumerate(tpl):  # openable calls: the real logs
            row = rows[i][0]
            row["log"], row["call"] = str(log), tpl[i][0]["call"]
            row["source"] = str(ROOT / "fixtures" / f"{tpl[i][0]['call']}.flac")
        db = work / "index.sqlite"
        idx = CallIndex(db)
        with idx._write() as con:
            for r, a in rows:
                idx._insert(con, r, a)
        first_id = idx.query(limit=1, sort="call")[0]["id"]
        real = [r["id"] for r in idx.query(sort="call") if r["log"].startswith(str(work))][0]
        idx.close()
        pages = {
            "calls, worst first (page 1)": "/",
            "calls, page 1,000": "/?page=1000",
            "calls, last page": f"/?page={args.calls // 50}",
            "profanity cue + warning or worse": "/?kind=profanity&severity=warning",
            "one agent, date range, by date": "/?agent=agent007&since=2026-10-01&sort=date",
            "not yet reviewed, by duration": "/?reviewed=no&sort=duration",
            "trends (6 busiest agents)": "/trends",
            "a call (page without its report)": f"/call/{first_id}",
            "a call's report with its audio (first time)": f"/call/{real}/report",
            "a call's report with its audio (cached)": f"/call/{real}/report",
        }
        with running(create_app(db)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            print(f"{args.calls} calls in the index; median of 3 loads (ms, to the load event)")
            for label, path in pages.items():
                times = []
                runs = 1 if "first time" in label else 3
                for _ in range(runs):
                    page.goto(url + path, wait_until="load")
                    times.append(
                        page.evaluate("performance.getEntriesByType('navigation')[0].duration")
                    )
                print(f"  {label:<46} {statistics.median(times):8.0f} ms")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
