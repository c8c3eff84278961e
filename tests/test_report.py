"""`tonewatch report` as a QA reviewer uses it: fixture calls replayed through the real
pipeline, reported, and opened in a real headless browser (Debian chromium via Playwright).

The replayed logs are made once per test session (`replayed_logs`, also used by
test_review.py). The browser tests save a screenshot to `out/report.png`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from alerts.log import read_log
from monitor.cli import main
from tests.conftest import FIXTURES, ROOT
from tests.test_cli import tonewatch

CHROMIUM = "/usr/bin/chromium"
# call id -> (fixture, agent name, transcribe?)
CALLS = {
    "barge": ("agent_barge_in.flac", "dana", True),
    "yell": ("customer_yelling.flac", "alice", False),
    "calm": ("calm_call.flac", "dana", False),
    "match": ("agent_matching.flac", "bob", False),
}


def replayed_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One log per fixture call in CALLS, replayed once per session (fast; only `barge`
    is transcribed, for the transcript view). The session's temp folder is the cache, so
    test_review.py reuses the logs whichever module pytest imported this one as."""
    folder = tmp_path_factory.getbasetemp() / "replayed"
    logs = {call: folder / f"{call}.jsonl" for call in CALLS}
    if (folder / "done").exists():
        return logs
    folder.mkdir(exist_ok=True)
    for call, (fixture, agent, transcribe) in CALLS.items():
        logs[call].unlink(missing_ok=True)
        extra = [] if transcribe else ["--no-transcribe"]
        r = tonewatch(
            "replay",
            str(FIXTURES / fixture),
            "--fast",
            "--quiet",
            *extra,
            "--log",
            str(logs[call]),
            "--call-id",
            call,
            "--agent-name",
            agent,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
    (folder / "done").touch()
    return logs


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return replayed_logs(tmp_path_factory)


@pytest.fixture(scope="module")
def reports(logs, tmp_path_factory) -> dict[str, Path]:
    """barge with its audio, yell without, and a truncated copy of barge."""
    out = tmp_path_factory.mktemp("reports")
    made = {}
    r = tonewatch(
        "report",
        str(logs["barge"]),
        "--audio",
        str(FIXTURES / "agent_barge_in.flac"),
        "-o",
        str(out / "barge.html"),
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and "wrote" in r.stdout
    made["barge"] = out / "barge.html"
    r = run_cli("report", str(logs["yell"]), "-o", str(out / "yell.html"))
    assert r.returncode == 0, r.stderr
    made["yell"] = out / "yell.html"
    r = run_cli("report", str(logs["match"]), "-o", str(out / "match.html"))
    assert r.returncode == 0, r.stderr
    made["match"] = out / "match.html"
    return made


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> Result:
    """`tonewatch ARGS` in this process (the same `main` as the console script; no
    interpreter start-up per call, which keeps the many filter runs quick)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


def page_data(html: Path) -> dict[str, Any]:
    text = html.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="call-data">(.*?)</script>', text, re.S)
    assert m, "no embedded call data"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def records(log: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in read_log(log) if r["record"] == kind]


# ---- the file itself --------------------------------------------------------------------


def test_report_is_one_self_contained_file_with_the_call_embedded(logs, reports):
    html = reports["barge"].read_text(encoding="utf-8")
    # Nothing is fetched at view time: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(" not in html and "@import" not in html
    assert "<script src" not in html and '<link rel="stylesheet"' not in html
    m = re.search(r'<audio id="player"[^>]*src="data:audio/ogg;base64,([A-Za-z0-9+/=]+)"', html)
    assert m, "no embedded audio"
    audio, rate = sf.read(io.BytesIO(base64.b64decode(m.group(1))))
    assert audio.ndim == 1 and abs(audio.shape[0] / rate - 59.65) < 0.2
    # Compressed: well under the 16-bit PCM size of the call (59.65 s at 16 kHz, 2 bytes).
    assert len(m.group(1)) * 3 / 4 < 59.65 * 16000 * 2 / 10

    data = page_data(reports["barge"])
    summary = records(logs["barge"], "call_summary")[0]
    assert data["call"] == "barge" and data["agent"] == "dana" and data["complete"]
    assert data["summary"]["talk_s"] == summary["talk_s"]
    assert data["summary"]["overlap_s"] == summary["overlap_s"]
    assert data["summary"]["agent_interruptions"] == summary["agent_interruptions"] == 1
    assert data["summary"]["cues"] == {"agent.apology": 1}
    assert [a["kind"] for a in data["alerts"]] == ["phrase", "agent_interrupting"]
    assert len(data["transcripts"]) == len(records(logs["barge"], "transcript")) >= 3
    tracks = data["tracks"]
    assert tracks["rate_hz"] == 10 and abs(tracks["n"] - 596) <= 2
    speech_s = sum(tracks["agent"]["speech"]) / 10
    assert abs(speech_s - summary["talk_s"]["agent"]) < 2.0
    assert tracks["customer"]["baseline"], "baseline band missing"


def test_truncated_log_still_reports_with_a_warning(logs, tmp_path):
    text = logs["barge"].read_bytes()
    cut = tmp_path / "crashed.jsonl"
    cut.write_bytes(text[: int(len(text) * 0.7)])  # ends inside a line, no call_summary
    out = tmp_path / "crashed.html"
    r = tonewatch("report", str(cut), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    warnings = r.stderr.strip().splitlines()
    assert warnings and all(w.startswith("tonewatch: warning:") for w in warnings)
    assert any("partial last line" in w for w in warnings)
    assert any("no call_summary" in w for w in warnings)
    data = page_data(out)
    assert not data["complete"] and data["summary"]["derived"]
    assert data["warnings"], "the page must say the log was cut short"
    assert 0 < data["summary"]["talk_s"]["agent"] < 26
    assert data["summary"]["elevated_s"] is None


def test_bad_logs_give_one_line_naming_the_file(logs, tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    cases = {
        str(tmp_path / "missing.jsonl"): "cannot read",
        str(tmp_path / "empty.jsonl"): "empty file",
        str(FIXTURES / "calm_call.flac"): "not a tonewatch alert log",
        str(ROOT / "README.md"): "not a tonewatch alert log",
        str(tmp_path): "is a folder",
    }
    for n, (path, what) in enumerate(cases.items()):
        cli = tonewatch if n == 0 else run_cli  # the console script once, then in-process
        r = cli("report", path, "-o", str(tmp_path / "x.html"))
        assert r.returncode == 2, (path, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0] and what in lines[0], r.stderr
    assert not (tmp_path / "x.html").exists()
    r = run_cli("report", str(logs["yell"]), "--audio", str(tmp_path / "none.wav"), "-o", "x.html")
    assert r.returncode == 3 and "none.wav" in r.stderr and len(r.stderr.splitlines()) == 1


def test_log_with_several_calls_reports_the_last_or_the_one_asked(logs, tmp_path):
    both = tmp_path / "both.jsonl"
    both.write_bytes(logs["yell"].read_bytes() + logs["calm"].read_bytes())
    r = run_cli("report", str(both), "-o", str(tmp_path / "last.html"))
    assert r.returncode == 0 and "holds 2 calls" in r.stderr
    assert page_data(tmp_path / "last.html")["call"] == "calm"
    r = run_cli("report", str(both), "--call-id", "yell", "-o", str(tmp_path / "y.html"))
    assert r.returncode == 0 and r.stderr == ""
    data = page_data(tmp_path / "y.html")
    assert data["call"] == "yell" and [a["kind"] for a in data["alerts"]] == ["customer_yelling"]
    r = run_cli("report", str(both), "--call-id", "nope", "-o", str(tmp_path / "n.html"))
    assert r.returncode == 2 and "yell, calm" in r.stderr


# ---- in a real browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            )
        except Exception as exc:  # any launch failure is a reason to skip, not a bug here
            pytest.skip(f"chromium cannot start: {str(exc).splitlines()[0]}")
        yield b
        b.close()


def open_page(browser, html: Path):
    page = browser.new_page(viewport={"width": 1240, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(html.resolve().as_uri())
    page.wait_for_selector("#timeline svg")
    return page, errors


def test_page_draws_the_timeline_and_clicking_an_alert_seeks_the_audio(browser, reports, tmp_path):
    page, errors = open_page(browser, reports["barge"])
    data = page_data(reports["barge"])
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    # The timeline: both speakers' level and pitch lines, speech bars, overlap, markers.
    assert page.locator("#timeline svg path.level").count() == 2
    assert page.locator("#timeline svg path.pitch").count() == 2
    for d in page.locator("#timeline svg path.level").evaluate_all(
        "ps => ps.map(p => p.getAttribute('d'))"
    ):
        assert d.count("L") > 100
    assert page.locator("svg rect.speech").count() >= 10
    assert page.locator("svg rect.overlap").count() >= 1
    assert page.locator("svg rect.band").count() >= 5
    markers = page.locator("#markers .marker")
    assert markers.count() == len(data["alerts"]) == 2
    assert page.locator("#markers .marker.sev-warning").count() == 1

    # Click the interruption marker: the player jumps there, the details open.
    alert = next(a for a in data["alerts"] if a["kind"] == "agent_interrupting")
    page.locator("#markers .marker.sev-warning").click()
    now = page.evaluate("document.getElementById('player').currentTime")
    assert now == pytest.approx(alert["start"], abs=0.05)
    details = page.locator("#details")
    assert details.is_visible()
    text = details.inner_text()
    assert alert["message"] in text and alert["tip"] in text and "overlap s" in text
    assert "Transcript:" in text  # the agent's words around the interruption
    cursor_x = float(page.locator("#cursor").get_attribute("x1"))
    assert cursor_x > 600  # 39.4 s of 59.7 s along a 1160-wide timeline

    # Clicking a transcript line seeks there too.
    line = page.locator("#transcript li").nth(2)
    start = float(line.get_attribute("data-start"))
    line.click()
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(
        start, abs=0.05
    )

    # The cursor follows playback.
    page.evaluate(
        "(() => { const a = document.getElementById('player'); a.muted = true;"
        " a.currentTime = 10; return a.play(); })()"
    )
    page.wait_for_function("document.getElementById('player').currentTime > 10.6")
    page.evaluate("document.getElementById('player').pause()")
    t = page.evaluate("document.getElementById('player').currentTime")
    x = float(page.locator("#cursor").get_attribute("x1"))
    assert x == pytest.approx(92 + t / data["duration_s"] * (1160 - 92 - 16), abs=8)

    # The summary and transcript are on the page.
    summary = page.locator("#summary").inner_text()
    assert "agent interruptions" in summary and "apology" in summary and "good sign" in summary
    assert page.locator("#transcript li").count() == len(data["transcripts"])

    page.locator("#markers .marker.sev-warning").click()
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    shutil.copy(tmp_path / "report.png", out / "report.png")
    assert (out / "report.png").stat().st_size > 20_000
    page.close()
    assert errors == []


def test_hovering_a_marker_shows_its_message_without_audio(browser, reports):
    page, errors = open_page(browser, reports["yell"])
    data = page_data(reports["yell"])
    assert page.locator("#player").count() == 0 and page.locator("#no-audio").is_visible()
    marker = page.locator("#markers .marker")
    assert marker.count() == 1
    marker.hover()
    tip = page.locator("#tooltip")
    assert tip.is_visible() and data["alerts"][0]["message"] in tip.inner_text()
    assert data["alerts"][0]["tip"] in tip.inner_text() and "pitch change st" in tip.inner_text()
    marker.click()  # no player: the details still open, nothing fails
    assert "Customer is yelling" in page.locator("#details").inner_text()
    assert "No transcript" in page.locator("#details").inner_text()
    assert "customer yelling" in page.locator("#summary").inner_text()
    page.close()
    assert errors == []


def test_long_recording_is_embedded_and_a_mismatched_one_is_flagged(logs, tmp_path):
    # Four fixture calls back to back (4 minutes): the encoder is fed in blocks (one large
    # write to libsndfile's Vorbis encoder crashes); the log is a 1-minute call, so the
    # report warns that the recording may not be this call's.
    parts = [sf.read(FIXTURES / f, dtype="float32")[0] for f, *_ in CALLS.values()]
    long = tmp_path / "four_minutes.flac"
    sf.write(long, np.concatenate(parts), 16000)
    out = tmp_path / "long.html"
    r = tonewatch("report", str(logs["yell"]), "--audio", str(long), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "recording is 239.5 s but the call in the log is 62.4 s" in r.stderr
    m = re.search(r'src="data:audio/ogg;base64,([A-Za-z0-9+/=]+)"', out.read_text("utf-8"))
    assert m
    audio, rate = sf.read(io.BytesIO(base64.b64decode(m.group(1))))
    assert abs(audio.shape[0] / rate - 239.5) < 0.1
    assert 200_000 < len(m.group(1)) < 800_000  # about 14 kbit/s


def test_two_mono_files_are_mixed_into_one_player(logs, tmp_path):
    # A call recorded as the agent's and the customer's files, at different rates.
    import soxr

    stereo, rate = sf.read(FIXTURES / "agent_barge_in.flac", dtype="float32")
    agent, customer = tmp_path / "agent.wav", tmp_path / "customer.wav"
    sf.write(agent, stereo[:, 0], rate)
    sf.write(customer, soxr.resample(stereo[:, 1], rate, 8000), 8000)
    out = tmp_path / "pair.html"
    r = run_cli("report", str(logs["barge"]), "--audio", str(agent), str(customer), "-o", str(out))
    assert r.returncode == 0, r.stderr
    m = re.search(r'src="data:audio/ogg;base64,([A-Za-z0-9+/=]+)"', out.read_text("utf-8"))
    assert m
    mixed, mixed_rate = sf.read(io.BytesIO(base64.b64decode(m.group(1))))
    assert abs(mixed.shape[0] / mixed_rate - stereo.shape[0] / rate) < 0.1

    # Both sides are in the mix: where only one speaker talks, the mix is not silent.
    def level(x, lo, hi, r):
        return float(np.sqrt(np.mean(x[int(lo * r) : int(hi * r)] ** 2)))

    a_only = np.flatnonzero((np.abs(stereo[:, 0]) > 0.01) & (np.abs(stereo[:, 1]) < 1e-4))
    c_only = np.flatnonzero((np.abs(stereo[:, 1]) > 0.01) & (np.abs(stereo[:, 0]) < 1e-4))
    for idx in (a_only, c_only):
        t = idx[idx.size // 2] / rate
        assert level(mixed, t - 0.05, t + 0.05, mixed_rate) > 0.003
    r = run_cli("report", str(logs["barge"]), "--audio", str(agent), str(agent), str(agent))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--audio takes one call file" in r.stderr


def test_markers_sit_at_their_alert_times_and_never_hide_each_other(browser, reports):
    # agent_matching: the agent's matching and yelling alerts start at the same moment.
    page, errors = open_page(browser, reports["match"])
    data = page_data(reports["match"])
    boxes = page.locator("#markers .marker").evaluate_all(
        "ms => ms.map(m => { const b = m.getBBox();"
        " return [+m.dataset.start, m.dataset.kind, b.x + b.width / 2, b.y]; })"
    )
    assert sorted(k for _, k, _, _ in boxes) == sorted(a["kind"] for a in data["alerts"])
    for start, _, cx, _ in boxes:
        assert cx == pytest.approx(92 + start / data["duration_s"] * (1160 - 92 - 16), abs=1)
    agent = [(cx, y) for _, k, cx, y in boxes if k in ("agent_matching", "agent_yelling")]
    assert len(agent) == 2 and abs(agent[0][0] - agent[1][0]) < 1
    assert abs(agent[0][1] - agent[1][1]) >= 14  # stacked, both clickable
    page.locator('#markers .marker[data-kind="agent_matching"]').click()
    assert "matching the customer" in page.locator("#details").inner_text()
    page.close()
    assert errors == []


def test_what_callers_say_is_shown_as_text_never_run(browser, logs, tmp_path):
    hostile = "</script><script>window.pwned = 1</script><!-- <b>card</b> & <i>"
    lines = []
    for line in logs["barge"].read_text(encoding="utf-8").splitlines(keepends=True):
        rec = json.loads(line)
        if rec["record"] in ("transcript", "alert"):
            rec["text"] = hostile
            line = json.dumps(rec, separators=(", ", ": ")) + "\n"
        lines.append(line)
    log = tmp_path / "hostile.jsonl"
    log.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "hostile.html"
    assert run_cli("report", str(log), "-o", str(out)).returncode == 0
    assert page_data(out)["transcripts"][0]["text"] == hostile
    page, errors = open_page(browser, out)
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("#transcript li").first.inner_text().endswith(hostile)
    page.locator("#markers .marker").first.click()
    assert hostile in page.locator("#details").inner_text()
    page.close()
    assert errors == []


def test_log_without_tracks_reports_alerts_over_an_empty_timeline(browser, logs, tmp_path):
    # What `replay --no-tracks` writes: the same log without its track records.
    lines = logs["yell"].read_text(encoding="utf-8").splitlines(keepends=True)
    log = tmp_path / "no_tracks.jsonl"
    log.write_text("".join(x for x in lines if '"record": "track"' not in x), encoding="utf-8")
    out = tmp_path / "no_tracks.html"
    r = run_cli("report", str(log), "-o", str(out))
    assert r.returncode == 0 and "no track records" in r.stderr
    data = page_data(out)
    assert data["summary"]["talk_s"]["customer"] > 20  # the summary still has it all
    assert not any(data["tracks"]["customer"]["speech"])
    page, errors = open_page(browser, out)
    assert page.locator("#markers .marker").count() == 1
    assert page.locator("svg rect.speech").count() == 0
    page.close()
    assert errors == []
