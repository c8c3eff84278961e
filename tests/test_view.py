"""The agent's view and `replay --play`: meters, alerts and tips on a terminal, plain lines
elsewhere, notifications only when asked, and playback with sounddevice faked at the
hardware edge (the output stream) only."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.console import Console

from alerts.model import Alert
from audio.sources import ArraySource, FileSource
from monitor import cli
from monitor.session import CallSetup, run_call
from monitor.view import AgentView
from tests.conftest import FIXTURES, ROOT, silence, voice

BLEED = FIXTURES / "headset_bleed.flac"


class TtyBuffer(io.StringIO):
    """Captured stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def terminal() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=110), buf


def alert(severity: str = "warning") -> Alert:
    return Alert(
        kind="customer_yelling",
        speaker="customer",
        start=12.3,
        end=12.9,
        severity=severity,  # type: ignore[arg-type]
        message="Customer is yelling (pitch +9.0 st, voice brighter +8.0 dB).",
        tip="Don't match it. Lower your pace.",
    )


def test_view_over_a_real_call_shows_meters_alerts_tips_and_bleed(cfg):
    console, buf = terminal()
    until = 50 * 16000  # past the customer's yelling, before the end of the call

    def blocks():
        for block in FileSource(BLEED, block_s=0.1):
            yield block
            if block.start > until:
                return

    with AgentView(console=console) as view:
        setup = CallSetup(cfg=cfg, call="c7")
        setup.sinks.append(view.sink)
        setup.on_snapshot = view.on_snapshot
        result = run_call(blocks(), setup)
        view.status("mic lost: waiting for it to come back")
        view.end_call(result.summary)
    out = buf.getvalue()
    assert result.summary["counts"]["customer_yelling"] == 1
    assert "\x1b[" in out  # drawn as a live terminal display
    assert "The customer is shouting" in out and "Don't match it" in out
    assert "call c7" in out and "You" in out and "Customer" in out
    assert "█" in out and "│" in out and "╎" in out  # bars, usual level, raised threshold
    assert " dB" not in out.replace("(20 ms, -6 dB)", "")  # numbers stay in the log
    assert "mic bleed removed (20 ms, -6 dB)" in out
    assert "mic lost: waiting for it to come back" in out
    assert "Your call in brief" in out and "Next time:" in out


def frames_of(cfg, path: Path, step: float = 0.1) -> list:
    """The view model's frame after every block of a real call through the real pipeline."""
    from monitor.viewmodel import ViewModel

    frames = []
    with AgentView(console=Console(file=io.StringIO()), publish=frames.append) as view:
        setup = CallSetup(cfg=cfg, call="f")
        setup.sinks.append(view.sink)
        setup.on_snapshot = view.on_snapshot
        view.min_interval = 0.0  # a frame for every block
        result = run_call(FileSource(path, block_s=step), setup)
        view.end_call(result.summary)
    assert isinstance(view.model, ViewModel)
    return frames


def test_meters_words_decay_and_fading_follow_the_call(cfg):
    frames = frames_of(cfg, FIXTURES / "customer_yelling.flac")
    cust = [(f.now_s, f.speakers[1]) for f in frames]
    shouting = [t for t, sp in cust if sp.words == "The customer is shouting"]
    assert shouting, "the customer's shouting is never said"
    # While shouting, the meter overflows its +12 dB end for some of the time.
    assert any(sp.over_db is not None and sp.over_db > 12 for t, sp in cust if t in shouting)
    # Blank when silent: no level at all (never "-88 dB"), and the state clears soon after
    # the customer stops, not ~9 s later.
    for _, sp in cust:
        if not sp.speaking and sp.state == "quiet":
            assert sp.over_db is None and sp.words == ""
    stops = [
        t
        for (t0, a), (t, b) in zip(cust, cust[1:], strict=False)
        if a.speaking and not b.speaking and b.words == "The customer is shouting"
    ]
    assert len(stops) >= 2
    for stop in stops:
        if stop + 2.0 < cust[-1][0]:
            after = [sp for t, sp in cust if stop < t <= stop + 2.0]
            assert any(sp.words == "" and sp.state == "quiet" for sp in after), stop
    # The alert is shown in words, with its tip, then dims and leaves after 20 s.
    shown = [(f.now_s, a) for f in frames for a in f.alerts if a.kind == "customer_yelling"]
    assert shown and shown[0][1].words == "The customer is shouting"
    first = shown[0][0]
    assert not shown[0][1].dim
    assert all(t - first < 20.5 for t, _ in shown)
    assert any(a.dim for t, a in shown if t - first > 16)
    # The recap at the end.
    r = frames[-1].recap
    assert r is not None and 0 < r.agent_share < 1 and r.suggestion


def test_view_model_orders_marks_late_and_keeps_good_signs_apart():
    from monitor.viewmodel import ViewModel

    vm = ViewModel()
    vm.state(30.0, "c", {"agent": {}, "customer": {}}, None)
    a1 = Alert("agent_raised", "agent", 20.0, 22.0, "warning", "m", "Bring it down.")
    a2 = Alert("agent_interrupting", "agent", 25.0, 26.0, "warning", "m", "Let them finish.")
    late = Alert("phrase", "agent", 21.0, 23.0, "warning", "m", "Acknowledge.", cue="calm_down")
    good = Alert(
        "phrase", "agent", 24.0, 25.0, "info", "m", "Good.", {"good_sign": True}, cue="apology"
    )
    for rec in (a1, a2, late, good):
        vm.record(rec)
    f = vm.frame()
    assert [a.start for a in f.alerts] == [20.0, 21.0, 25.0]  # call-time order
    assert [a.late for a in f.alerts] == [False, True, False]
    assert f.alerts[1].words == "You told them to calm down"
    assert f.good == "✓ You apologised" and all(a.kind != "apology" for a in f.alerts)
    vm.state(47.0, "c", {}, None)
    assert all(a.dim for a in vm.frame().alerts)
    vm.state(55.0, "c", {}, None)  # 25 s after they were shown
    assert vm.frame().alerts == () and vm.frame().good == "✓ You apologised"
    vm.state(61.0, "c", {}, None)
    assert vm.frame().good is None
    vm.end({"talk_s": {"agent": 60.0, "customer": 20.0}, "agent_interruptions": 3})
    r = vm.frame().recap
    assert r is not None and r.agent_share == 0.75 and r.interruptions == 3
    assert r.raised_moments == 1 and r.good_signs == ["You apologised"]
    assert r.suggestion.startswith("Let the customer finish")


def test_view_meters_follow_the_speakers(cfg):
    """A loud customer and a silent agent: the customer's bar is full, the agent's empty."""
    console, buf = terminal()
    agent = np.concatenate([voice(2.0, 200, seed=1), silence(2.0)])
    customer = np.concatenate([silence(2.0), voice(2.0, 130, level=0.3, seed=2)])
    with AgentView(console=console, refresh_hz=1e6) as view:
        pipe_setup = CallSetup(cfg=cfg, call="m")
        seen = {}

        def watch(snap):
            view.on_snapshot(snap)
            seen[snap.received] = {sp: snap.voice(sp).level_db for sp in ("agent", "customer")}

        pipe_setup.on_snapshot = watch
        run_call(ArraySource(agent, customer, block_s=0.1), pipe_setup)
    last = seen[max(seen)]
    assert last["agent"] < -90 and last["customer"] > -30
    first_talk = seen[int(1.1 * 16000)]
    assert first_talk["agent"] > -40 and first_talk["customer"] < -90
    assert buf.getvalue().count("●") >= 1  # who is speaking


def test_plain_lines_when_not_a_terminal():
    buf = io.StringIO()
    with AgentView(console=Console(file=buf)) as view:
        view.sink(alert())
        view.status("call split after 30 s of silence")
        view.on_snapshot(None)  # type: ignore[arg-type]  # nothing to draw: ignored
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("[00:12.3] WARNING  customer_yelling")
    assert lines[1].strip() == "tip: Don't match it. Lower your pace."
    assert lines[2] == "tonewatch: call split after 30 s of silence"
    assert "\x1b" not in buf.getvalue()


def test_notifications_are_off_by_default_and_only_for_warnings(monkeypatch):
    import desktop_notifier

    sent: list[dict] = []

    class FakeNotifier:  # the operating system's notification service (the edge)
        def __init__(self, app_name):
            assert app_name == "tonewatch"

        def send(self, **kwargs):
            sent.append(kwargs)

    monkeypatch.setattr(desktop_notifier, "DesktopNotifierSync", FakeNotifier)
    with AgentView(console=Console(file=io.StringIO())) as view:
        view.sink(alert())
    assert sent == [] and not view.notifier.enabled
    with AgentView(notify=True, console=Console(file=io.StringIO())) as view:
        view.sink(alert("info"))
        view.sink(alert("warning"))
        view.sink(alert("critical"))
    assert [s["title"] for s in sent] == ["The customer is shouting"] * 2
    assert sent[0]["message"] == "Don't match it. Lower your pace."
    assert [s["urgency"].name for s in sent] == ["Normal", "Critical"]

    class Broken:
        def __init__(self, app_name):
            raise OSError("no notification service")

    monkeypatch.setattr(desktop_notifier, "DesktopNotifierSync", Broken)
    buf = io.StringIO()
    with AgentView(notify=True, console=Console(file=buf)) as view:
        view.sink(alert())  # a failing notifier never fails the call
        view.sink(alert())
    assert buf.getvalue().count("customer_yelling") == 2


# -- replay --play, with sounddevice's output stream faked --------------------------------


class PortAudioError(Exception):
    pass


def fake_sounddevice(
    written: list[np.ndarray], fail_open: bool = False, fail_after=None, only_rate: int = 16000
):
    class OutputStream:
        def __init__(self, samplerate, channels, dtype, device=None):
            if fail_open:
                raise PortAudioError("Error querying device -1")
            if samplerate != only_rate:
                raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")
            assert (channels, dtype) == (2, "float32")

        def start(self):
            written.append(np.zeros((0, 2), np.float32))

        def write(self, frames):
            if fail_after is not None and len(written) > fail_after:
                raise PortAudioError("Device unavailable")
            written.append(np.array(frames))

        def stop(self):
            pass

        def close(self):
            pass

    def query_devices(device=None, kind=None):
        return {"name": "fake output", "default_samplerate": float(only_rate)}

    return types.SimpleNamespace(
        OutputStream=OutputStream, PortAudioError=PortAudioError, query_devices=query_devices
    )


@pytest.fixture
def short_call(tmp_path: Path) -> Path:
    agent = np.concatenate([voice(1.5, 200, seed=1), silence(1.5)])
    customer = np.concatenate([silence(1.5), voice(1.5, 130, seed=2)])
    path = tmp_path / "short.wav"
    sf.write(path, np.column_stack([agent, customer]), 16000, subtype="FLOAT")
    return path


def run_replay(argv: list[str], out: io.StringIO) -> int:
    args = cli.build_parser().parse_args(["replay", *argv])
    try:
        return cli.replay(args, out)
    except cli.CommandError as exc:
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code


def test_play_plays_the_whole_call_and_shows_the_view(monkeypatch, short_call, tmp_path):
    written: list[np.ndarray] = []
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(written))
    out = TtyBuffer()
    log = tmp_path / "log.jsonl"
    code = run_replay([str(short_call), "--play", "--no-transcribe", "--log", str(log)], out)
    assert code == 0
    played = np.concatenate(written)
    audio, _ = sf.read(short_call, dtype="float32")
    assert played.shape == audio.shape  # every sample, agent left and customer right
    assert np.allclose(played, audio, atol=1e-6)
    text = out.getvalue()
    assert "\x1b[" in text and "tonewatch" in text and "█" in text  # the agent's view
    assert "call " in text.splitlines()[-1]  # then the summary line
    assert log.exists()


def test_a_device_that_takes_only_its_own_rate_gets_the_call_resampled(monkeypatch, short_call):
    written: list[np.ndarray] = []
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(written, only_rate=48000))
    argv = [str(short_call), "--play", "--no-transcribe", "--no-view"]
    assert run_replay(argv, io.StringIO()) == 0
    played = np.concatenate(written)
    audio, _ = sf.read(short_call, dtype="float32")
    # Three times the samples (give or take the resampler's latency), and the agent's voice
    # on the left while the customer's side is still silent.
    assert abs(played.shape[0] - 3 * audio.shape[0]) < 0.05 * 48000
    first = played[: int(1.2 * 48000)]
    assert np.sqrt(np.mean(first[:, 0] ** 2)) > 0.01 > np.sqrt(np.mean(first[:, 1] ** 2))


def test_no_view_forces_plain_lines(monkeypatch, short_call):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([]))
    out = TtyBuffer()
    assert run_replay([str(short_call), "--play", "--no-transcribe", "--no-view"], out) == 0
    assert "\x1b" not in out.getvalue() and out.getvalue().startswith("call ")


def test_play_without_an_output_device_is_a_one_line_error(
    monkeypatch, short_call, tmp_path, capsys
):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([], fail_open=True))
    log = tmp_path / "log.jsonl"
    code = run_replay(
        [str(short_call), "--play", "--no-transcribe", "--log", str(log)], TtyBuffer()
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("tonewatch: error: cannot play the call")
    assert "Error querying device -1" in err
    assert not log.exists()  # failed before anything of the call started


def test_device_lost_mid_call_keeps_the_call_going(monkeypatch, short_call, tmp_path, capsys):
    written: list[np.ndarray] = []
    fake = fake_sounddevice(written, fail_after=5)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    monkeypatch.setattr("monitor.view.time.sleep", lambda s: None)  # no real waiting
    log = tmp_path / "log.jsonl"
    out = io.StringIO()
    code = run_replay([str(short_call), "--play", "--no-transcribe", "--log", str(log)], out)
    assert code == 0
    assert "playback stopped: Device unavailable" in capsys.readouterr().err
    lines = log.read_text().splitlines()
    assert '"status": "complete"' in lines[-1] and '"duration_s": 3.0' in lines[-1]


def test_play_and_fast_do_not_mix(short_call, capsys):
    assert run_replay([str(short_call), "--play", "--fast"], io.StringIO()) == 2
    assert "--play needs real-time pace" in capsys.readouterr().err


def test_help_lists_the_view_options():
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    assert "--play" in r.stdout and "--no-view" in r.stdout


# -- the view as the agent sees it: a real terminal (tmux) at 120 and 60 columns ----------


@pytest.mark.parametrize("columns", [120, 60])
def test_the_view_in_tmux_fits_and_speaks_plainly(tmp_path, columns):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    session, channel = f"tw-view-{columns}", "tw-done"
    # A server of this test's own: concurrent runs never share (or kill) one.
    tmux = ["tmux", "-S", str(tmp_path / "tmux")]
    cmd = (
        f"cd {ROOT} && env -u COLUMNS -u LINES PYTHONPATH={ROOT} "
        f"{sys.executable} -m monitor replay "
        f"{FIXTURES / 'agent_matching.flac'} --no-transcribe --speed 8 --call-id tmux; "
        f"tmux wait-for -S {channel}; sleep 60"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", str(columns), "-y", "40", cmd],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "TMUX"},
    )
    try:
        subprocess.run([*tmux, "wait-for", channel], check=True, timeout=120)
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    (ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / f"view-{columns}.txt").write_text(screen)
    lines = [x.rstrip() for x in screen.splitlines() if x.strip()]
    assert all(len(x) <= columns for x in lines)
    assert lines[0].startswith("tonewatch") and "call tmux" in lines[0]
    meters = [x for x in lines if "▏" in x]
    assert [x.lstrip("● ").split()[0] for x in meters] == ["You", "Customer"]
    assert all("│" in x and "╎" in x for x in meters)
    view = "\n".join(lines[: next(i for i, x in enumerate(lines) if x.startswith("call tmux:"))])
    assert "The customer is shouting" in view and "You're shouting back" in view
    assert " dB" not in view and "st," not in view  # numbers stay in the log
    # Each tip sits indented under its alert, wrapped lines too.
    tip = next(i for i, x in enumerate(lines) if x.lstrip().startswith("Stay below"))
    assert lines[tip].startswith(" " * 8) and re.match(
        r"\d\d:\d\d +You're shouting back", lines[tip - 1]
    )
    for x in lines[tip + 1 :]:  # a wrapped tip goes on indented
        if re.match(r"\d\d:\d\d|Your call|call tmux|✓", x):
            break
        assert x.startswith(" " * 8), x
    times = [x[:5] for x in lines if re.match(r"\d\d:\d\d {2,}", x)]
    assert times == sorted(times) and times  # call-time order
    assert "Your call in brief" in view and "Next time:" in view and "Talk: you " in view
