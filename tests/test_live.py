"""Live capture and `tonewatch live`, without a sound card.

Two kinds of test. The first runs the real thing against a virtual device: a private
PulseAudio server with a null sink, `paplay` playing a fixture call into it, and
`tonewatch live` (a subprocess, as a user runs it) capturing the sink's monitor through
sounddevice -> PortAudio -> ALSA's pulse plugin, through to alerts in the call log. Where
no PulseAudio server can start, it says why and skips.

The second replaces PortAudio at the hardware edge only: `sounddevice.InputStream` and
`query_devices` are swapped for fake devices with their own clocks that feed real fixture
audio, in callback-sized chunks from their own thread, through the real callback, ring,
resampling, alignment, pipeline and log. That is where overflows, lost devices, clock drift,
call splitting and SIGTERM are exercised.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from audio.live import LiveSettings, LiveSource, Ring, find_device, looks_like_loopback, one_device
from audio.types import SAMPLE_RATE
from monitor import cli
from monitor.calllog import read_records as read_log
from tests.conftest import FIXTURES, ROOT

YELL = FIXTURES / "customer_yelling.flac"
CALM = FIXTURES / "calm_call.flac"


def records(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_log(path) if r["record"] != "track"]


def call_logs(log_dir: Path) -> list[list[dict[str, Any]]]:
    return [records(p) for p in sorted(log_dir.glob("*.jsonl"))]


def alerts(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in recs if r["record"] == "alert"]


def summary(recs: list[dict[str, Any]]) -> dict[str, Any]:
    assert recs[-1]["record"] == "call_summary", recs[-1]
    return recs[-1]


# -- the ring buffer ---------------------------------------------------------------------


def test_ring_keeps_order_and_counts_what_a_full_ring_drops():
    ring = Ring(capacity=100, channels=2)
    x = np.arange(240, dtype=np.float32).reshape(120, 2)
    ring.write(x[:60])
    data, gap = ring.take()
    assert gap == 0 and np.array_equal(data, x[:60])
    ring.write(x[60:100])  # wraps around the end of the buffer
    ring.write(x[100:120])
    ring.write(np.ones((90, 2), np.float32))  # 40 fit, 50 are dropped
    ring.write(np.ones((30, 2), np.float32))  # nothing may follow a gap until it is read
    data, gap = ring.take()
    assert np.array_equal(data[:60], x[60:120])
    assert data.shape[0] == 100 and gap == 80
    assert ring.dropped == 80 and ring.frames_in == 60 + 40 + 20 + 90 + 30
    ring.write(x[:10])
    data, gap = ring.take()
    assert gap == 0 and np.array_equal(data, x[:10])


# -- fake hardware at the PortAudio edge -------------------------------------------------


class FakeFlags:
    def __init__(self, overflow: bool = False) -> None:
        self.input_overflow = overflow


@dataclass
class FakeDevice:
    """A capture device with its own clock playing `audio` (frames, channels) at `rate`.

    `clock` > 1 means the device's crystal runs fast: it delivers that many more frames per
    second than its nominal rate (and the sound in them is stretched to match).
    """

    name: str
    audio: np.ndarray
    rate: int
    clock: float = 1.0
    unplugged: list[tuple[float, float]] = field(default_factory=list)
    overflows: list[float] = field(default_factory=list)
    glitches: list[float] = field(default_factory=list)
    stalls: list[tuple[float, float]] = field(default_factory=list)
    pos: float = 0.0
    stream: FakeStream | None = None

    def absent(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.unplugged)


class FakeStream:
    """Stands in for sounddevice.InputStream: hands chunks to the real callback."""

    hardware: FakeHardware

    def __init__(self, device: int, channels: int, samplerate: float, **kw: Any) -> None:
        import sounddevice as sd

        dev = self.hardware.devices[device]
        if dev.absent(self.hardware.t):
            raise sd.PortAudioError(f"Device unavailable [PaErrorCode -9985]: {dev.name}")
        assert samplerate == dev.rate and channels <= dev.audio.shape[1]
        self.dev, self.channels = dev, channels
        self.callback, self.finished = kw["callback"], kw["finished_callback"]
        self.active = False
        self.lost = 0

    def start(self) -> None:
        self.active = True
        self.dev.stream = self
        self.hardware.opened.set()

    def abort(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False
        if self.dev.stream is self:
            self.dev.stream = None


class FakeHardware:
    """Fake devices on a virtual clock, which is also live capture's clock (`Clock`).

    Time moves only when the capture reader waits (`wait`: one 20 ms step in which every
    device delivers its stretch of audio through the real callback) or when a test calls
    `advance` (the reader busy elsewhere): no wall-clock time, no threads. The clock starts
    when the first stream opens. Once every device has played its audio (plus `tail_s`),
    the process gets SIGTERM, as an operator would send it.
    """

    STEP = 0.02

    def __init__(
        self,
        devices: list[FakeDevice],
        tail_s: float = 1.0,
        signals: list[tuple[float, int]] | None = None,
        term: bool = True,
    ) -> None:
        self.devices = devices
        self.t = 0.0
        self.end = max(d.audio.shape[0] / d.rate / d.clock for d in devices) + tail_s
        self.signals = sorted(signals or []) + ([(self.end, signal.SIGTERM)] if term else [])
        self.opened = threading.Event()

    # -- the Clock protocol ----------------------------------------------------------
    def monotonic(self) -> float:
        return self.t

    def wait(self, event: threading.Event, timeout: float) -> bool:
        self.advance(self.STEP)
        return event.is_set()

    def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass, the devices delivering as they go."""
        for _ in range(int(round(seconds / self.STEP))):
            if not self.opened.is_set():
                return  # nothing plays before the first stream opens
            self.t += self.STEP
            for dev in self.devices:
                self._tick(dev, self.STEP)
            while self.signals and self.t >= self.signals[0][0] - 1e-9:
                os.kill(os.getpid(), self.signals.pop(0)[1])

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import sounddevice as sd

        FakeStream.hardware = self
        monkeypatch.setattr(sd, "InputStream", FakeStream)
        monkeypatch.setattr(sd, "query_devices", self.query_devices)
        monkeypatch.setattr(sd, "query_hostapis", lambda: [{"name": "Fake"}])

    def query_devices(self) -> list[dict[str, Any]]:
        return [
            {
                "name": d.name,
                "hostapi": 0,
                "max_input_channels": d.audio.shape[1],
                "max_output_channels": 0,
                "default_samplerate": float(d.rate),
            }
            for d in self.devices
        ]

    def _tick(self, dev: FakeDevice, step: float) -> None:
        start = int(dev.pos)
        dev.pos += dev.rate * dev.clock * step
        stop = int(dev.pos)
        s = dev.stream
        if s is None or not s.active:
            return
        if dev.absent(self.t):
            s.active = False
            s.finished()
            return
        if any(a <= self.t < b for a, b in dev.stalls):
            return  # the stream stays open but no callbacks come (a hung driver)
        overflow = any(self.t - step < t <= self.t for t in dev.overflows)
        if overflow:
            start += (stop - start) // 2  # the hardware lost half of this stretch
        chunk = dev.audio[start:stop, : s.channels]
        if chunk.shape[0] < stop - start:
            chunk = np.pad(chunk, ((0, stop - start - chunk.shape[0]), (0, 0)))
        if any(self.t - step < t <= self.t for t in dev.glitches):
            chunk = np.full_like(chunk, np.nan)  # a driver handing over garbage
        s.callback(np.ascontiguousarray(chunk), chunk.shape[0], None, FakeFlags(overflow))

    def stop(self) -> None:
        """Nothing runs on its own: kept so tests read the same either way."""


def at_rate(x: np.ndarray, rate: float) -> np.ndarray:
    """16 kHz fixture audio (frames, channels) as a device at `rate` would capture it."""
    return np.asarray(soxr.resample(x, SAMPLE_RATE, rate), dtype=np.float32).reshape(
        -1, x.shape[1] if x.ndim > 1 else 1
    )


def fixture(path: Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE
    stop = None if end_s is None else int(end_s * rate)
    return data[int(start_s * rate) : stop]


def live_config(tmp_path: Path, **extra: float) -> Path:
    """Settings for fake hardware running 8x real time: a long ring (a busy test machine
    may starve the reader for a moment), quick stall detection and reopening."""
    values = {"ring_s": 30.0, "stall_s": 0.5, "reopen_s": 0.05, **extra}
    lines = ["[live]"] + [f"{k} = {v}" for k, v in values.items()]
    path = tmp_path / "live.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_live(
    hw: FakeHardware, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str
) -> tuple[int, str, str]:
    """`tonewatch live` in this process (signals need the main thread) on fake hardware,
    which is also capture's clock; errors reported as `tonewatch` reports them."""
    import io

    from monitor import daemon
    from monitor.errors import CommandError

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    hw.install(monkeypatch)
    argv = ["live", "--log-dir", str(tmp_path / "calls"), "--no-transcribe", *args]
    try:
        code = daemon.run(cli.build_parser().parse_args(argv), clock=hw)
    except CommandError as exc:
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        code = exc.code
    finally:
        hw.stop()
    return code, out.getvalue(), err.getvalue()


def test_two_devices_one_running_fast_stay_aligned(tmp_path, monkeypatch):
    call = fixture(YELL)
    mic = FakeDevice("USB headset mic", at_rate(call[:, :1], 48000 * 1.003), 48000, clock=1.003)
    loop = FakeDevice("Monitor of softphone", at_rate(np.repeat(call[:, 1:], 2, 1), 44100), 44100)
    hw = FakeHardware([mic, loop])
    config = str(live_config(tmp_path))
    code, out, err = run_live(
        hw, monkeypatch, tmp_path, "--mic", "headset", "--loopback", "softphone", "--config", config
    )
    assert code == 0, err
    (log,) = call_logs(tmp_path / "calls")
    cap = summary(log)["capture"]
    # Uncorrected, the mic would end up 0.3 % x 62 s = 187 ms ahead of the customer.
    assert 2000 < cap["drift_ppm"] < 4000, cap
    assert 150 < cap["corrected_ms"]["agent"] < 230 and cap["corrected_ms"]["customer"] == 0
    assert cap["ring_dropped_s"] == 0 and cap["lost_s"] == 0, cap
    assert abs(cap["skew_ms"]) < 20 and cap["max_skew_ms"] < 40, cap
    assert cap["ended_by"] == "stop" and summary(log)["status"] == "complete"
    kinds = [(a["speaker"], a["kind"]) for a in alerts(log)]
    assert kinds == [("customer", "customer_yelling")], kinds
    assert abs(alerts(log)[0]["start"] - 40.8) < 2.0
    assert "customer_yelling" in out


def test_lost_device_comes_back_in_the_same_call(tmp_path, monkeypatch):
    """Unplugged for 3 s mid-call, with an overflow and a burst of NaN samples before and a
    hung driver after: one log, baselines kept, the analysis unharmed."""
    call = fixture(YELL)
    dev = FakeDevice("USB call adapter", at_rate(call, 48000), 48000)
    dev.unplugged = [(30.0, 33.0)]
    dev.overflows = [12.0]
    dev.glitches = [20.0]
    dev.stalls = [(48.0, 58.0)]  # later a hung driver: open, but silent for 10 s
    hw = FakeHardware([dev])
    config = live_config(tmp_path, stall_s=0.8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_live(
            hw, monkeypatch, tmp_path, "--device", "call adapter", "--config", str(config)
        )
    assert code == 0, err
    # The NaN burst never reached the analysis (numpy warns on NaN arithmetic and casts).
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    logs = call_logs(tmp_path / "calls")
    assert len(logs) == 1, "a lost device must not end the call"
    log = logs[0]
    assert [r["record"] for r in log].count("call_start") == 1
    events = [(r["event"], r["device"]) for r in log if r["record"] == "device"]
    assert ("lost", "0 'USB call adapter'") in events and ("back", "0 'USB call adapter'") in events
    assert ("overflow", "0 'USB call adapter'") in events
    details = [r["detail"] for r in log if r["record"] == "device" and r["event"] == "lost"]
    assert "the stream stopped" in details, details
    assert any(d.startswith("no audio for") for d in details), details
    assert events[-1][0] == "back"
    assert "lost" in err and "back" in err
    s = summary(log)
    assert s["capture"]["overflows"] == 1 and s["capture"]["lost_s"] > 0
    assert s["dropped_s"] >= s["capture"]["lost_s"] - 0.2
    # The yelling comes 8 s after the device returns: too soon for new baselines (12 s of
    # talk), so the alert shows the baselines from before the loss were kept.
    assert [a["kind"] for a in alerts(log)] == ["customer_yelling"]
    lost_at = next(r["t"] for r in log if r["record"] == "device" and r["event"] == "lost")
    assert alerts(log)[0]["start"] > lost_at
    assert s["talk_s"]["customer"] > 20


def test_calls_split_on_silence_and_on_sigusr1(tmp_path, monkeypatch):
    speech = fixture(CALM, 0.0, 8.0)
    quiet = np.zeros((4 * SAMPLE_RATE, 2), np.float32)
    audio = np.concatenate([speech, quiet, speech, speech])
    dev = FakeDevice("Call mixer", at_rate(audio, 44100), 44100)
    # Silence ends call 1 at ~10.5 s; call 2 starts with the speech at 12 s; SIGUSR1 at
    # 20 s ends it; call 3 runs to the SIGTERM.
    hw = FakeHardware([dev], signals=[(20.0, signal.SIGUSR1)])
    config = live_config(tmp_path, split_silence_s=2.5)
    code, out, err = run_live(
        hw, monkeypatch, tmp_path, "--device", "0", "--channels", "2,1", "--config", str(config)
    )
    assert code == 0, err
    logs = call_logs(tmp_path / "calls")
    ended = [summary(log)["capture"]["ended_by"] for log in logs]
    assert ended == ["silence", "split", "stop"], ended
    first, second, third = (summary(log)["duration_s"] for log in logs)
    assert 8.5 < first < 12.5 and 6.0 < second < 9.5 and 5.0 < third < 13.0
    assert {log[0]["call"] for log in logs} == {summary(log)["call"] for log in logs}
    assert len({log[0]["call"] for log in logs}) == 3
    assert all(summary(log)["talk_s"]["agent"] > 1.0 for log in logs)
    names = sorted(p.name for p in (tmp_path / "calls").glob("*.jsonl"))
    assert all(n.endswith(f"_{log[0]['call']}.jsonl") for n, log in zip(names, logs, strict=True))


def test_a_fault_in_the_analysis_ends_only_that_call(tmp_path, monkeypatch):
    """The analysis raises once in the middle of call 1: that log ends with an error
    summary after what it had reported, one line says so, and monitoring goes on."""
    from monitor.pipeline import Pipeline

    speech = fixture(CALM, 0.0, 8.0)
    audio = np.concatenate([speech, speech])
    dev = FakeDevice("Call mixer", at_rate(audio, 44100), 44100)
    hw = FakeHardware([dev])
    real_push = Pipeline.push
    pushed = {"n": 0}

    def faulty_push(self, block):
        pushed["n"] += 1
        if pushed["n"] == 65:  # ~6.5 s into the first call (after its first track record)
            raise ZeroDivisionError("a bug")
        return real_push(self, block)

    monkeypatch.setattr(Pipeline, "push", faulty_push)
    code, out, err = run_live(hw, monkeypatch, tmp_path, "--device", "0", "--channels", "2,1")
    assert code == 0, err
    logs = call_logs(tmp_path / "calls")
    assert len(logs) == 2, [summary(log) for log in logs]
    first, second = (summary(log) for log in logs)
    assert first["status"] == "error" and "ZeroDivisionError: a bug" in first["error"]
    assert 5.5 < first["duration_s"] < 7.5
    assert logs[0][0]["record"] == "call_start" and logs[0][-1]["record"] == "call_summary"
    assert second["status"] == "complete" and second["duration_s"] > 5.0
    lines = [line for line in err.splitlines() if "internal error" in line]
    assert len(lines) == 1 and f"call {first['call']}" in lines[0], err


def test_a_full_ring_becomes_counted_silence(monkeypatch):
    """The reader stalls for 2 s with a 0.5 s ring: blocks stay contiguous, losses counted."""
    call = fixture(YELL, 0.0, 6.0)
    dev = FakeDevice("Slow reader", at_rate(call, 16000), 16000)
    hw = FakeHardware([dev], term=False)
    hw.install(monkeypatch)
    (info,) = [find_device("0", "capture")]
    settings = LiveSettings(ring_s=0.5, stall_s=5.0)
    source = LiveSource(one_device(info, "1,2"), settings, clock=hw)
    try:
        source.start()
        blocks = source.blocks()
        first = next(blocks)  # the device delivers and the reader is in step with it
        got, start, dropped = first.n_samples, first.n_samples, 0
        stalled_at = hw.t
        hw.advance(2.5)  # the reader is held up for 2.5 s: the 0.5 s ring overflows
        for block in blocks:
            assert block.start == start
            start += block.n_samples
            dropped += block.dropped_before
            got += block.n_samples
            if hw.t > stalled_at + 4.0:
                break
    finally:
        hw.stop()
        source.close()
    ring_lost = source.counters.ring_dropped_s
    assert 1.5 < ring_lost < 2.6
    assert abs(dropped / SAMPLE_RATE - ring_lost) < 0.15
    assert abs(got / SAMPLE_RATE - hw.t) < 0.5  # stream time kept up with the device clock


def test_devices_lists_and_marks_loopback_sources(monkeypatch, capsys):
    quiet = np.zeros((10, 2), np.float32)
    hw = FakeHardware(
        [
            FakeDevice("Built-in Microphone", quiet[:, :1], 48000),
            FakeDevice("Monitor of Built-in Audio Analog Stereo", quiet, 44100),
            FakeDevice("BlackHole 2ch", quiet, 48000),
        ]
    )
    hw.install(monkeypatch)
    try:
        assert cli.main(["devices"]) == 0
    finally:
        hw.opened.set()
        hw.stop()
    lines = capsys.readouterr().out.splitlines()
    assert "Built-in Microphone" in lines[1] and "[loopback]" not in lines[1]
    assert "44100" in lines[2] and lines[2].endswith("[loopback]")
    assert lines[3].endswith("BlackHole 2ch  [loopback]")
    assert looks_like_loopback("alsa_output.pci-0000_00_1f.3.analog-stereo.monitor")
    assert looks_like_loopback("Stereo Mix (Realtek Audio)")
    assert not looks_like_loopback("Headset Microphone (Jabra)")


@pytest.mark.parametrize(
    ("args", "code", "expect"),
    [
        (["--mic", "nosuch", "--loopback", "BlackHole"], 3, "mic device 'nosuch': no such device"),
        (["--device", "BlackHole", "--channels", "1,3"], 3, "has 2 input channel(s)"),
        (["--device", "Mic"], 3, "has 1 input channel(s), --channels asks for channel 2"),
        (["--mic", "l", "--loopback", "Black"], 3, "mic device 'l': matches several devices"),
        ([], 2, "say where the call is heard"),
        (["--device", "0", "--mic", "0"], 2, "give either --device"),
    ],
)
def test_bad_devices_get_one_clear_line(tmp_path, monkeypatch, capsys, args, code, expect):
    quiet = np.zeros((10, 2), np.float32)
    hw = FakeHardware(
        [FakeDevice("Built-in Mic", quiet[:, :1], 48000), FakeDevice("BlackHole 2ch", quiet, 48000)]
    )
    hw.install(monkeypatch)
    try:
        got = cli.main(["live", "--no-transcribe", "--log-dir", str(tmp_path), *args])
    finally:
        hw.opened.set()
        hw.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert got == code
    assert len(err) == 1 and expect in err[0], err


def test_devices_without_portaudio_devices_is_one_line(monkeypatch, capsys):
    import sounddevice as sd

    monkeypatch.setattr(sd, "query_devices", lambda: [])
    monkeypatch.setattr(sd, "query_hostapis", lambda: [])
    assert cli.main(["devices"]) == cli.EXIT_SOURCE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tonewatch: error: no audio devices found")


# -- the real thing: a PulseAudio server with a null sink ---------------------------------


class Pulse:
    """A private PulseAudio server in `home`: null sink `tw` (stereo), its monitor split
    into two mono sources, and ALSA devices `tw_mic` / `tw_monitor` for them (~/.asoundrc).
    The server can be stopped and started again, like a device going away and returning."""

    def __init__(self, home: Path) -> None:
        self.home = home
        runtime = home / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket = home / "native"
        (home / "default.pa").write_text(
            "load-module module-null-sink sink_name=tw rate=44100 channels=2\n"
            f"load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n"
            "load-module module-remap-source source_name=agent_src master=tw.monitor "
            "channels=1 master_channel_map=front-left channel_map=mono\n"
            "load-module module-remap-source source_name=customer_src master=tw.monitor "
            "channels=1 master_channel_map=front-right channel_map=mono\n"
            "set-default-sink tw\nset-default-source tw.monitor\n"
        )
        (home / ".asoundrc").write_text(
            'pcm.tw_mic { type pulse device "agent_src" '
            'hint { show on description "Headset mic (test)" } }\n'
            'pcm.tw_monitor { type pulse device "customer_src" '
            'hint { show on description "Monitor of softphone (test)" } }\n'
        )
        self.env = dict(os.environ)
        self.env.update(
            HOME=str(home),
            PULSE_RUNTIME_PATH=str(runtime),
            XDG_RUNTIME_DIR=str(runtime),
            PULSE_SERVER=f"unix:{socket}",
        )
        self.server: subprocess.Popen[bytes] | None = None

    def start(self) -> str | None:
        """Start the server; None when it answers, else why it did not start."""
        log = self.home / "pulse.log"
        self.server = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--system=no"]
            + ["-F", str(self.home / "default.pa"), f"--log-target=file:{log}"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            if self.server.poll() is not None:
                break
            probe = subprocess.run(["pactl", "info"], env=self.env, capture_output=True, timeout=10)
            if probe.returncode == 0:
                return None
            time.sleep(0.1)
        self.stop()
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return " | ".join(lines[-3:]) or "no output"

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.terminate()
        try:
            self.server.wait(10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(10)
        self.server = None


def new_pulse(home: Path) -> Pulse:
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    pulse = Pulse(home)
    why = pulse.start()
    if why is not None:
        pytest.skip(f"PulseAudio server did not start: {why}")
    return pulse


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory):
    server = new_pulse(tmp_path_factory.mktemp("pulse"))
    yield server
    server.stop()


def start_live(pulse: Pulse, log_dir: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "live", "--no-transcribe", "--log-dir", str(log_dir)]
        + list(args),
        env=pulse.env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "listening ..." once the devices are open
    assert "listening" in line, line + (proc.stderr.read() if proc.stderr else "")
    return proc


def test_live_captures_a_call_played_into_pulseaudio(pulse, tmp_path):
    """Both set-ups at once, as users run them: one device with a channel map (the sink's
    stereo monitor) and two devices (mic + monitor source); the same call is played once."""
    devices = subprocess.run(
        [sys.executable, "-m", "monitor", "devices"],
        env=pulse.env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert devices.returncode == 0, devices.stderr
    assert "tw_mic" in devices.stdout and "tw_monitor  [loopback]" in devices.stdout

    # The fixture from 20 s: its customer yells at 20.8 s of this cut, after 9 s of the
    # agent's and 14 s of the customer's normal speech (enough for both baselines).
    cut = tmp_path / "call.wav"
    sf.write(cut, fixture(YELL, 20.0, 46.0), SAMPLE_RATE)
    stereo = start_live(pulse, tmp_path / "stereo", "--device", "pulse", "--channels", "1,2")
    pair = start_live(pulse, tmp_path / "pair", "--mic", "tw_mic", "--loopback", "tw_monitor")
    killed = start_live(pulse, tmp_path / "killed", "--device", "default", "--channels", "1,2")
    procs = (stereo, pair, killed)
    try:
        play = subprocess.run(
            ["paplay", "--device=tw", str(cut)], env=pulse.env, capture_output=True, timeout=90
        )
        assert play.returncode == 0, play.stderr
        time.sleep(1.0)
        killed.kill()
        assert pair.stdin is not None
        pair.stdin.write("\n")  # Enter: this call is over, the next one starts
        pair.stdin.flush()
        stereo.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        pair.send_signal(signal.SIGINT)
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for proc, (out, err), name in zip(procs[:2], outs, ("stereo", "pair"), strict=False):
        assert proc.returncode == 0, err
        log = call_logs(tmp_path / name)[0]
        kinds = [(a["speaker"], a["kind"]) for a in alerts(log)]
        assert kinds == [("customer", "customer_yelling")], (name, kinds, err)
        s = summary(log)
        assert s["status"] == "complete" and s["duration_s"] > 26.0
        assert s["talk_s"]["agent"] > 5 and s["talk_s"]["customer"] > 8
        assert "customer_yelling" in out
        mode = os.stat(next((tmp_path / name).glob("*.jsonl"))).st_mode & 0o777
        assert mode == 0o600
    assert summary(call_logs(tmp_path / "stereo")[0])["capture"]["ended_by"] == "stop"
    first, second = call_logs(tmp_path / "pair")
    assert summary(first)["capture"]["ended_by"] == "split"
    assert summary(second)["capture"]["ended_by"] == "stop" and not alerts(second)
    cap = summary(first)["capture"]
    assert abs(cap["skew_ms"]) < 30 and cap["lost_s"] == 0, cap
    # kill -9 after the alert: the log holds it, every line whole, only the summary missing.
    warnings: list[str] = []
    (path,) = (tmp_path / "killed").glob("*.jsonl")
    lines = list(read_log(path, warnings))
    assert not warnings and lines[0]["record"] == "call_start"
    assert [r["kind"] for r in lines if r["record"] == "alert"] == ["customer_yelling"]
    assert "call_summary" not in {r["record"] for r in lines}
    assert json.dumps(cap)


def test_a_device_missing_at_start_is_one_line(tmp_path, monkeypatch, capsys):
    quiet = np.zeros((10, 2), np.float32)
    hw = FakeHardware([FakeDevice("USB call adapter", quiet, 48000, unplugged=[(0.0, 99.0)])])
    hw.install(monkeypatch)
    try:
        code = cli.main(["live", "--no-transcribe", "--log-dir", str(tmp_path), "--device", "0"])
    finally:
        hw.opened.set()
        hw.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_SOURCE and len(err) == 1, err
    assert "device 0 'USB call adapter': cannot open for capture (Device unavailable" in err[0]
    assert not list(tmp_path.glob("*.jsonl"))


def test_live_survives_the_sound_server_going_away(tmp_path):
    """The PulseAudio server stops mid-call and comes back 1.5 s later: the stream fails for
    real inside PortAudio; capture reports it, reopens the device and the call carries on."""
    pulse = new_pulse(tmp_path / "server")
    live = None
    try:
        live = start_live(pulse, tmp_path / "calls", "--device", "pulse", "--channels", "1,2")
        assert live.stdout is not None and "started" in live.stdout.readline()
        time.sleep(1.0)
        pulse.stop()
        time.sleep(1.5)
        assert pulse.start() is None
        time.sleep(3.0)
        live.send_signal(signal.SIGTERM)
        out, err = live.communicate(timeout=60)
    finally:
        pulse.stop()
        if live is not None and live.poll() is None:
            live.kill()
    assert live.returncode == 0, err
    (log,) = call_logs(tmp_path / "calls")
    events = [r["event"] for r in log if r["record"] == "device"]
    assert events[0] == "lost" and events[-1] == "back", events
    assert "device 0 'pulse': lost" in err and "device 0 'pulse': back" in err
    cap = summary(log)["capture"]
    assert cap["ended_by"] == "stop" and 1.0 < cap["lost_s"] < 5.0, cap
    # 5.5 s of wall time passed between start and stop; a loaded machine starts late.
    assert summary(log)["duration_s"] > 4.0


def test_devices_without_sounddevice_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # `import sounddevice` fails
    assert cli.main(["devices"]) == cli.EXIT_SOURCE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tonewatch: error: the sounddevice package is missing (pip install sounddevice)"]
