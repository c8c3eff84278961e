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

from monitor.calllog import read_records as read_log
from monitor.cli import main
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import FIXTURES, ROOT
from tests.test_cli import tonewatch

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
    audio = ["--audio", str(FIXTURES / "agent_matching.flac")]
    r = run_cli("report", str(logs["match"]), *audio, "-o", str(out / "match_audio.html"))
    assert r.returncode == 0, r.stderr
    made["match_audio"] = out / "match_audio.html"
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
    assert audio.shape[1] == 2 and abs(audio.shape[0] / rate - 59.65) < 0.2
    # Compressed: well under the 16-bit PCM size of the call (59.65 s at 16 kHz, 2 bytes).
    assert len(m.group(1)) * 3 / 4 < 59.65 * 16000 * 2 / 10
    # In stereo, agent left and customer right, so talk-over can be heard as such.
    call, call_rate = sf.read(FIXTURES / "agent_barge_in.flac", dtype="float32")
    for side in (0, 1):
        only = np.flatnonzero((np.abs(call[:, side]) > 0.02) & (np.abs(call[:, 1 - side]) < 1e-4))
        t = only[only.size // 2] / call_rate
        seg = audio[int((t - 0.1) * rate) : int((t + 0.1) * rate)]
        rms = np.sqrt(np.mean(seg**2, axis=0))
        assert rms[side] > 10 * rms[1 - side], (side, rms)

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
                args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
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


def x_of(page, t: float) -> float:
    """Where call time `t` is drawn on the timeline, from the drawing's own geometry."""
    g = page.locator("#timeline svg").evaluate("s => ({...s.dataset})")
    left, right, width = float(g["left"]), float(g["right"]), float(g["width"])
    t0, t1 = float(g["t0"]), float(g["t1"])
    return left + (t - t0) / (t1 - t0) * (width - left - right)


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
    assert cursor_x == pytest.approx(x_of(page, alert["start"]), abs=2)

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
    assert x == pytest.approx(x_of(page, t), abs=8)

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
    assert data["alerts"][0]["tip"] in tip.inner_text()
    assert "semitones higher than their usual pitch" in tip.inner_text()  # evidence in words
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
    assert 200_000 < len(m.group(1)) < 1_000_000  # about 18 kbit/s for the two channels


def test_two_mono_files_play_as_one_stereo_call(logs, tmp_path):
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
    played, played_rate = sf.read(io.BytesIO(base64.b64decode(m.group(1))))
    assert played.shape[1] == 2
    assert abs(played.shape[0] / played_rate - stereo.shape[0] / rate) < 0.1

    # The agent's file in the left ear, the customer's in the right.
    def level(x, lo, hi, r):
        return np.sqrt(np.mean(x[int(lo * r) : int(hi * r)] ** 2, axis=0))

    a_only = np.flatnonzero((np.abs(stereo[:, 0]) > 0.01) & (np.abs(stereo[:, 1]) < 1e-4))
    c_only = np.flatnonzero((np.abs(stereo[:, 1]) > 0.01) & (np.abs(stereo[:, 0]) < 1e-4))
    for side, idx in ((0, a_only), (1, c_only)):
        t = idx[idx.size // 2] / rate
        rms = level(played, t - 0.05, t + 0.05, played_rate)
        assert rms[side] > 0.003 and rms[side] > 10 * rms[1 - side], (side, rms)
    r = run_cli("report", str(logs["barge"]), "--audio", str(agent), str(agent), str(agent))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--audio takes one call file" in r.stderr


def test_markers_sit_at_their_alert_times_and_never_hide_each_other(browser, logs, tmp_path):
    # Two alerts at the same moment: the agent's matching alert, and the same moment
    # logged again as agent_yelling (an agent shouting back now gets one alert, so the
    # second record is added to a copy of the log).
    lines = logs["match"].read_text(encoding="utf-8").splitlines()
    matching = next(ln for ln in lines if '"agent_matching"' in ln)
    rec = json.loads(matching)
    rec["kind"], rec["message"] = "agent_yelling", "You are raising your voice."
    lines.insert(lines.index(matching) + 1, json.dumps(rec))
    both = tmp_path / "match2.jsonl"
    both.write_text("\n".join(lines) + "\n", encoding="utf-8")
    html = tmp_path / "match2.html"
    assert run_cli("report", str(both), "-o", str(html)).returncode == 0
    page, errors = open_page(browser, html)
    data = page_data(html)
    boxes = page.locator("#markers .marker").evaluate_all(
        "ms => ms.map(m => { const b = m.getBBox();"
        " return [+m.dataset.start, m.dataset.kind, b.x + b.width / 2, b.y]; })"
    )
    assert sorted(k for _, k, _, _ in boxes) == sorted(a["kind"] for a in data["alerts"])
    for start, _, cx, _ in boxes:
        assert cx == pytest.approx(x_of(page, start), abs=1)
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


# ---- long calls, bounds, moments ----------------------------------------------------------


def long_call_log(logs: dict[str, Path], out: Path, minutes: float = 60.0) -> Path:
    """A 60-minute call made of the replayed fixture calls back to back: every record's
    times shifted by where its call starts in the long one (one start, one summary)."""
    lines: list[str] = []
    offset = 0.0
    counts: dict[str, int] = {}
    cues: dict[str, int] = {}
    talk = {"agent": 0.0, "customer": 0.0}
    start_rec = None
    while offset < minutes * 60:
        for name in ("barge", "yell", "calm", "match"):
            recs = list(read_log(logs[name]))
            summary = next(r for r in recs if r["record"] == "call_summary")
            for r in recs:
                if r["record"] == "call_start":
                    start_rec = start_rec or dict(r, call="long")
                    continue
                if r["record"] == "call_summary":
                    continue
                r = dict(r, call="long")
                if r["record"] == "alert" and r.get("kind") == "phrase":
                    r["late"] = True  # reported after later alerts (its words came later)
                for k in ("start", "end"):
                    if k in r:
                        r[k] = round(r[k] + offset, 3)
                lines.append(json.dumps(r))
            for k, v in summary["counts"].items():
                counts[k] = counts.get(k, 0) + v
            for k, v in (summary.get("cues") or {}).items():
                cues[k] = cues.get(k, 0) + v
            for sp in talk:
                talk[sp] += summary["talk_s"][sp]
            offset += summary["duration_s"]
    end = dict(summary, call="long", duration_s=round(offset, 2), counts=counts, cues=cues)
    end["talk_s"] = {k: round(v, 1) for k, v in talk.items()}
    out.write_text(
        "\n".join([json.dumps(start_rec), *lines, json.dumps(end)]) + "\n", encoding="utf-8"
    )
    return out


def test_moments_to_review_group_alerts_worst_first(reports):
    data = page_data(reports["match"])
    moments = data["moments"]
    assert moments and moments[0]["severity"] == "critical"
    worst = data["alerts"][moments[0]["worst"]]
    # The agent shouting back at a shouting customer: one matching alert, the worst.
    assert worst["kind"] == "agent_matching" and worst["evidence"]["agent_state"] == "yelling"
    assert worst["severity"] == "critical" and worst["words"] == "Agent shouted back"
    assert moments[0]["title"].startswith("Agent shouted back")
    ev = worst["evidence_words"]
    assert "louder than their usual" in ev["level_over_baseline_db"]
    assert "semitones higher" in ev["pitch_change_st"]
    barge = page_data(reports["barge"])
    apology = next(a for a in barge["alerts"] if a.get("cue") == "apology")
    assert apology["good"] and apology["words"] == "Agent apologised"
    assert [m["title"] for m in barge["moments"]] == ["Agent talked over the customer"]


def test_what_a_report_embeds_is_bounded(logs, tmp_path):
    normal = tmp_path / "normal.html"
    assert run_cli("report", str(logs["yell"]), "-o", str(normal)).returncode == 0
    lines = logs["yell"].read_text(encoding="utf-8").splitlines(keepends=True)
    track = json.loads(next(x for x in lines if '"record": "track"' in x))
    huge = dict(track)
    huge["agent"] = dict(track["agent"], level_db=[-30.0] * 600_000)  # a 5 MB line
    far = dict(track, start=1e9)  # a track a billion seconds into a 62-second call
    long = dict(track)
    long["customer"] = dict(track["customer"], level_db=[-31.5] * 100_000)  # 0.7 MB
    text = "".join(lines[:5]) + "".join(json.dumps(r) + "\n" for r in (huge, far, long))
    log = tmp_path / "bloated.jsonl"
    log.write_text(text + "".join(lines[5:]), encoding="utf-8")
    assert log.stat().st_size > 4_000_000
    out = tmp_path / "bloated.html"
    r = run_cli("report", str(log), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "skipped 2 bad line(s) (line 6: over 1024 KB" in r.stderr  # line 7: far start
    # The report is about the size of the untouched one; the grid ends with the call.
    assert out.stat().st_size < 1.3 * normal.stat().st_size
    data = page_data(out)
    assert data["tracks"]["n"] <= round((data["duration_s"] + 5) * 10)
    assert "Traceback" not in r.stderr


def test_a_60_minute_report_zooms_filters_and_seeks(browser, logs, reports, tmp_path):
    log = long_call_log(logs, tmp_path / "long.jsonl")
    out = tmp_path / "long.html"
    r = run_cli("report", str(log), "-o", str(out))
    assert r.returncode == 0, r.stderr
    data = page_data(out)
    alerts_per_round = sum(
        len(records(logs[n], "alert")) for n in ("barge", "yell", "calm", "match")
    )
    rounds = sum(1 for r in read_log(log) if r["record"] == "alert") // alerts_per_round
    assert data["duration_s"] > 3600 and rounds >= 14
    assert len(data["alerts"]) == rounds * alerts_per_round > 60
    page, errors = open_page(browser, out)
    figures = page.evaluate("window.tonewatchReport")
    print(
        f"60-minute report: {out.stat().st_size / 1e6:.2f} MB, script {figures['script_ms']:.0f} ms"
    )
    markers = page.locator("#markers .marker")
    assert markers.count() == len(data["alerts"])
    # At most two points per pixel column, however long the call.
    width = float(page.locator("#timeline svg").get_attribute("data-width"))
    for d in page.locator("#timeline svg path.level").evaluate_all(
        "ps => ps.map(p => p.getAttribute('d'))"
    ):
        assert 100 < d.count("L") + d.count("M") <= 2 * width
    late = [i for i, a in enumerate(data["alerts"]) if a.get("late")]
    assert late
    row = page.locator(f'#alerts tbody tr[data-index="{late[0]}"]').inner_text()
    assert "(reported late)" in row
    # The moments list, worst first.
    assert 1 <= page.locator("#moments li").count() <= 10
    assert "critical" in page.locator("#moments li").first.get_attribute("class")

    # Zoom: + halves the window; a drag on the severity strip picks a stretch of the call.
    page.locator("#zoom-in").click()
    g = page.locator("#timeline svg").evaluate("s => ({...s.dataset})")
    assert float(g["t1"]) - float(g["t0"]) == pytest.approx(data["duration_s"] / 2, rel=0.01)
    strip = page.locator("#overview svg").bounding_box()
    y = strip["y"] + strip["height"] / 2
    x0 = strip["x"] + strip["width"] * 0.3
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(x0 + strip["width"] * 0.02, y, steps=4)
    page.mouse.up()
    g = page.locator("#timeline svg").evaluate("s => ({...s.dataset})")
    t0, t1 = float(g["t0"]), float(g["t1"])
    assert 0.2 * data["duration_s"] < t0 < t1 < 0.4 * data["duration_s"]
    assert t1 - t0 < 0.05 * data["duration_s"]
    inside = [a for a in data["alerts"] if a["end"] >= t0 and a["start"] <= t1]
    assert markers.count() == len(inside) < len(data["alerts"])
    assert "showing" in page.locator("#window").inner_text()

    # Filters: without warnings, no warning marker and no warning row is left.
    page.locator("#zoom-all").click()
    page.locator('#filters input[data-severity="warning"]').uncheck()
    assert page.locator("#markers .marker.sev-warning").count() == 0
    rows = page.locator("#alerts tbody tr:not([hidden])")
    assert rows.count() == sum(1 for a in data["alerts"] if a["severity"] != "warning")
    assert page.locator("#markers .marker").count() == rows.count()
    page.locator('#filters input[data-severity="warning"]').check()
    kind = "agent interrupting"
    page.locator(f'#filters input[data-kind="{kind}"]').uncheck()
    assert page.locator('#markers .marker[data-kind="agent_interrupting"]').count() == 0
    assert page.locator("#alerts tbody tr:not([hidden])").count() == sum(
        1 for a in data["alerts"] if a["kind"] != "agent_interrupting"
    )
    page.close()
    assert errors == []


def test_clicking_a_moment_seeks_the_player_and_the_page_fits_a_phone(browser, reports, tmp_path):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(reports["match_audio"].resolve().as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    data = page_data(reports["match_audio"])
    first = data["moments"][0]
    page.locator("#moments li").first.click()
    now = page.evaluate("document.getElementById('player').currentTime")
    assert now == pytest.approx(max(0, first["start"] - 1), abs=0.05)
    assert data["alerts"][first["worst"]]["message"] in page.locator("#details").inner_text()
    # Nothing wider than the phone; the player stays in view when scrolled down.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#transcript-box").scroll_into_view_if_needed()
    box = page.locator("#player").bounding_box()
    assert box is not None and 0 <= box["y"] < 60
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    (ROOT / "out").mkdir(exist_ok=True)
    shutil.copy(tmp_path / "phone.png", ROOT / "out" / "report-phone.png")
    page.close()
    assert errors == []
