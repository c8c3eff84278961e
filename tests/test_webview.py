"""The agent's view in a browser (`replay --web`), as an agent keeps it beside the
softphone: a real replay serving the page, opened in Debian's chromium (Playwright)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.browser import CHROMIUM_ARGS
from tests.conftest import FIXTURES, ROOT

# The browser's notification service is the edge: a stand-in that records what is shown.
FAKE_NOTIFICATIONS = """
window.shown = [];
class FakeNotification {
  constructor(title, options) { window.shown.push({ title, body: options && options.body }); }
  static requestPermission() {
    FakeNotification.permission = "granted";
    return Promise.resolve("granted");
  }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
"""


def status(url: str, host: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_replay_web_serves_the_view_with_a_token_and_notifies_when_asked(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "replay", str(FIXTURES / "agent_matching.flac")]
        + ["--no-transcribe", "--web", "--speed", "4", "--call-id", "web"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+)/)\?token=(\S+)", line)
        assert m, line
        base, port, url = m.group(1), m.group(2), m.group(0)
        assert status(base) == 403 and status(base + "?token=wrong") == 403
        assert status(url, host=f"attacker.example:{port}") == 403  # DNS rebinding
        assert status(url) == 200
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            # The page's CSP forbids eval; Playwright's waits evaluate strings, so the test
            # context bypasses it (the page itself runs under it).
            context = browser.new_context(viewport={"width": 480, "height": 760}, bypass_csp=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(FAKE_NOTIFICATIONS)
            page.goto(url)
            page.locator("#notify").click()  # the agent turns notifications on
            page.wait_for_function(
                "window.tonewatchFrame && window.tonewatchFrame.alerts.some("
                "a => a.kind === 'customer_yelling')",
                timeout=60_000,
            )
            assert page.locator(".speaker").count() == 2
            assert "The customer is shouting" in page.locator("#alerts").inner_text()
            assert "Don't match it" in page.locator("#alerts").inner_text()
            page.wait_for_function("window.shown.length >= 1")
            shown = page.evaluate("window.shown")
            assert shown[0]["title"] == "The customer is shouting"
            assert shown[0]["body"].startswith("Don't match it")
            page.wait_for_function("!document.getElementById('recap').hidden", timeout=60_000)
            assert "Next time:" in page.locator("#recap").inner_text()
            (ROOT / "out").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "out" / "webview.png"), full_page=True)
            browser.close()
        assert errors == []
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "customer_yelling" in out  # the plain lines go on beside the page
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_live_web_publishes_each_call_and_its_recap(tmp_path, monkeypatch):
    """`live --web` on fake sound devices (the hardware edge): two calls split by silence;
    the page gets the view of each, and each call's recap."""
    import numpy as np

    from monitor.webview import WebView
    from tests.test_live import (
        CALM,
        FakeDevice,
        FakeHardware,
        at_rate,
        fixture,
        live_config,
        run_live,
    )

    frames: list = []
    real = WebView.publish

    def keep(self, frame):
        frames.append(frame)
        real(self, frame)

    monkeypatch.setattr(WebView, "publish", keep)
    speech = fixture(CALM, 0.0, 8.0)
    audio = np.concatenate([speech, np.zeros((4 * 16000, 2), np.float32), speech])
    hw = FakeHardware([FakeDevice("Call mixer", at_rate(audio, 44100), 44100)])
    config = live_config(tmp_path, split_silence_s=2.5)
    code, out, err = run_live(
        hw,
        monkeypatch,
        tmp_path,
        "--device",
        "0",
        "--channels",
        "2,1",
        "--config",
        str(config),
        "--web",
    )
    assert code == 0, err
    assert re.search(r"the agent's view in a browser: http://127\.0\.0\.1:\d+/\?token=\S+", err)
    calls = list(dict.fromkeys(f.call for f in frames if f.call))
    assert len(calls) == 2
    for call in calls:
        mine = [f for f in frames if f.call == call]
        assert any(f.recap is not None for f in mine), call
        assert mine[0].recap is None  # a new call starts without the last one's recap
