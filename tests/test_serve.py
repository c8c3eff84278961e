"""`tonewatch serve` driven as a reviewer drives it, in Debian's chromium through
Playwright: the calls table over an index of 130 calls from replayed fixture logs, filters,
sorting, paging, opening a call (its report and player), marking it reviewed with a note,
the CSV export of a filter, the trend plots, and the token a non-local address needs."""

from __future__ import annotations

import csv
import io
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor.callindex import CallIndex, Filters
from monitor.serve import create_app, is_loopback, running
from tests.browser import CHROMIUM_ARGS
from tests.test_report import replayed_logs, run_cli

CHROMIUM = shutil.which("chromium")
ARGS = CHROMIUM_ARGS
AGENTS = ["dana", "alice", "bob", "chen", "farah"]
SHOTS = Path(__file__).resolve().parents[1] / "out" / "screenshots"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """130 calls: the replayed fixture logs (recordings reachable), copied with new ids,
    agents and start dates over six weeks."""
    logs = replayed_logs(tmp_path_factory)
    root = tmp_path_factory.mktemp("serve")
    folder = root / "logs"
    folder.mkdir()
    names = sorted(logs)
    for i in range(130):
        src = logs[names[i % len(names)]]
        out = []
        for line in src.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            rec["call"] = f"c{i:03d}"
            if "at" in rec:
                day = 1 + (i % 42)
                month, day = (11, day) if day <= 30 else (12, day - 30)
                rec["at"] = f"2026-{month:02d}-{day:02d}T10:{i % 60:02d}:00+00:00"
            if rec["record"] != "track":
                rec["agent"] = AGENTS[i % len(AGENTS)]
            out.append(json.dumps(rec))
        (folder / f"c{i:03d}.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    path = root / "index.sqlite"
    r = run_cli("index", str(folder), "--db", str(path))
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="module")
def url(db):
    with running(create_app(db)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert errors == [], errors


def rows_of(page) -> list[list[str]]:
    return [
        [c.strip() for c in r.locator("td").all_inner_texts()]
        for r in page.locator("#calls tbody tr").all()
    ]


def test_table_pages_filters_and_sorts(page, url, db):
    page.goto(url + "/")
    assert page.locator("#count").inner_text().startswith("130 calls match · page 1 of 3")
    assert len(rows_of(page)) == 50
    # Worst first by default: the critical calls (agent yelling) lead.
    first = page.locator("#calls tbody tr").first
    assert "critical" in first.locator("td.worst").inner_text()
    page.click("#last")
    assert "page 3 of 3" in page.locator("#count").inner_text()
    assert len(rows_of(page)) == 30
    page.click("#prev")
    assert "page 2 of 3" in page.locator("#count").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Filters, as a reviewer picks them.
    page.goto(url + "/")
    page.select_option("#f-agent", "bob")
    page.select_option("#f-kind", "customer_yelling")
    page.click("#f-apply")
    with CallIndex(db) as idx:
        want = idx.count(Filters(agent="bob", kinds={"customer_yelling"}))
    assert want > 0
    assert page.locator("#count").inner_text().startswith(f"{want} call")
    assert {r[2] for r in rows_of(page)} == {"bob"}
    page.select_option("#f-agent", "")
    page.select_option("#f-kind", "")
    page.select_option("#f-severity", "critical")
    page.click("#f-apply")
    assert all("critical" in r[7] for r in rows_of(page))
    page.select_option("#f-severity", "")
    page.fill("#f-since", "2026-12-01")
    page.select_option("#f-sort", "date")
    page.click("#f-apply")
    dates = [r[0] for r in rows_of(page)]
    assert dates and dates == sorted(dates) and dates[0] >= "2026-12-01"
    page.select_option("#f-kind", "apology")  # a phrase cue
    page.fill("#f-since", "")
    page.click("#f-apply")
    with CallIndex(db) as idx:
        apologies = idx.count(Filters(kinds={"apology"}))
    assert page.locator("#count").inner_text().startswith(f"{apologies} call")
    page.screenshot(path=str(SHOTS / "serve-filtered.png"), full_page=True)


def test_open_a_call_mark_it_reviewed_and_export_it(page, url, db):
    page.goto(url + "/?sort=worst")
    link = page.locator("#calls tbody tr a.call").first
    call = link.inner_text()
    link.click()
    assert page.locator("h1").inner_text().startswith(f"Call {call}")
    # The report, with the recording as a player (the fixture file is reachable).
    frame = page.frame_locator("#report")
    frame.locator("audio").wait_for(state="attached", timeout=60_000)
    assert frame.locator("audio").get_attribute("src").startswith("data:audio/")
    page.check("#r-reviewed")
    page.fill("#r-note", "Yelled back at 00:44 =SUM(A1) <b>coach</b>")
    page.click("#r-save")
    assert page.locator("#saved").inner_text().startswith("Saved: reviewed")
    assert page.locator("#r-note").input_value() == "Yelled back at 00:44 =SUM(A1) <b>coach</b>"
    page.screenshot(path=str(SHOTS / "serve-call.png"))
    with CallIndex(db) as idx:
        (row,) = [r for r in idx.query(Filters(reviewed=True)) if r["call"] == call]
    assert row["note"].startswith("Yelled back") and row["reviewed_at"]
    report = Path(row["report"])  # the report it showed, cached beside the index, 0600
    assert report.is_file() and report.stat().st_mode & 0o777 == 0o600
    assert report.parent.stat().st_mode & 0o777 == 0o700
    # Back at the table: the mark and note show, and the reviewed filter finds it.
    page.click("#back")
    page.goto(url + "/?reviewed=yes")
    cells = rows_of(page)
    assert [r[1] for r in cells] == [call] and "Yelled back" in cells[0][8]
    assert "<b>" in cells[0][8]  # shown as text, not markup
    # The export of the current filter carries the note (defused for spreadsheets).
    href = page.get_attribute("#export", "href")
    with urllib.request.urlopen(url + href) as resp:
        rows = list(csv.DictReader(io.StringIO(resp.read().decode("utf-8"))))
    assert [r["call"] for r in rows] == [call]
    assert rows[0]["note"].startswith("Yelled back") and rows[0]["reviewed_at"]
    # Unmark: the call leaves the reviewed filter.
    page.goto(url + f"/call/{row['id']}")
    page.uncheck("#r-reviewed")
    page.click("#r-save")
    page.goto(url + "/?reviewed=yes")
    assert page.locator("#count").inner_text().startswith("0 calls")


def test_trends_plot_each_agent_by_week(page, url):
    page.goto(url + "/trends")
    plots = page.locator("svg.plot")
    assert plots.count() == 4
    for i in range(4):
        assert plots.nth(i).locator("polyline").count() == len(AGENTS)
    legend = page.locator(".legend span").all_inner_texts()
    assert sorted(x.strip() for x in legend) == sorted(AGENTS)
    page.select_option("#t-agents", ["bob", "dana"])
    page.click("#trend-filters button")
    assert page.locator("svg.plot").first.locator("polyline").count() == 2
    page.screenshot(path=str(SHOTS / "serve-trends.png"), full_page=True)


def test_a_token_guards_every_page(db):
    token = "t" * 24
    with running(create_app(db, token=token)) as base:
        for path in ("/", "/export.csv", "/call/1", "/trends"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + path)
            assert err.value.code == 401
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(base + f"/?token={token}") as resp:
            assert resp.status == 200 and "calls match" in resp.read().decode()
            assert "token" not in resp.url
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/?token=wrong-token-wrong-token")
        assert err.value.code == 401


def test_a_cross_site_form_is_refused(url):
    req = urllib.request.Request(
        url + "/call/1/review",
        data=b"reviewed=on&note=x",
        headers={
            "Origin": "http://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 403


def test_other_addresses_need_a_token(capsys):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    from monitor.cli import main

    assert main(["serve", "--token", "short", "--host", "0.0.0.0"]) == 2
    assert "--token: use at least 16 characters" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
