"""The agent's view and `replay --play`: meters, alerts and tips on a terminal, plain lines
elsewhere, notifications only when asked, and playback with sounddevice faked at the
hardware edge (the output stream) only."""

from __future__ import annotations

import io
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
from tests.conftest import FIXTURES, silence, voice

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
    out = buf.getvalue()
    assert result.summary["counts"]["customer_yelling"] == 1
    assert "\x1b[" in out  # drawn as a live terminal display
    assert "Customer is yelling" in out and "tip: Don't match it" in out
    assert "call c7" in out and "agent" in out and "customer" in out
    assert "█" in out and "|" in out  # level bars and baseline marks
    assert " dB" in out
    assert "mic bleed removed (20 ms, -6 dB)" in out
    assert "mic lost: waiting for it to come back" in out


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
    launched: list[list[str]] = []

    class FakePopen:
        def __init__(self, cmd, **kwargs):
            assert kwargs.get("start_new_session") is True  # never tied to the call
            launched.append(cmd)

        def poll(self):
            return 0

    monkeypatch.setattr("monitor.view.shutil.which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr("monitor.view.subprocess.Popen", FakePopen)
    with AgentView(console=Console(file=io.StringIO())) as view:
        view.sink(alert())
    assert launched == []
    with AgentView(notify=True, console=Console(file=io.StringIO())) as view:
        view.sink(alert("info"))
        view.sink(alert("warning"))
        view.sink(alert("critical"))
    assert len(launched) == 2 and launched[0][0] == "/usr/bin/notify-send"
    assert launched[1][launched[1].index("-u") + 1] == "critical"

    def broken(cmd, **kwargs):
        raise OSError("no such file")

    monkeypatch.setattr("monitor.view.subprocess.Popen", broken)
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
