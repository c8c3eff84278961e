"""The agent's view: what the agent (or a trainee replaying a call) sees during the call.

`AgentView` is a context manager around a `rich` live display with a level meter per
speaker against that speaker's baseline band, who is speaking, overlap, bleed being
removed from the mic, the newest alerts with their tips, and a status line:

- `on_snapshot(snapshot)` is a `CallSetup.on_snapshot` hook. It runs on the analysis
  thread and keeps the pipeline's latest frozen `Snapshot` (monitor/snapshot.py: levels,
  speaking after the crosstalk guard, baselines, the raised threshold in force, states,
  bleed); at most `refresh_hz` times a second it redraws from it.
- `sink(rec)` is a `run_call` sink: alerts and transcripts, drawn at once.
- `status(text)` shows one status line (device lost, call split, ...); any thread.

When the console is not a terminal the view prints plain lines instead (the text of
`tonewatch replay`). Desktop notifications for warnings (`notify-send`, when installed)
are off by default: feedback stays private to the agent unless they ask for it.

`Player` plays a call through the default output device as its blocks are analysed, so
a trainee hears the call in step with the nudges; the device's clock paces the replay.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType, TracebackType
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from alerts.model import Alert, Record, TranscriptRecord
from audio.types import SAMPLE_RATE, SPEAKERS, Block
from monitor.formatting import format_record
from monitor.snapshot import Snapshot

METER_FLOOR_DB = -70.0
METER_TOP_DB = -10.0
"""Range of the level meters (K-weighted dB, the scale of the baselines)."""
METER_WIDTH = 30
STYLE = {"info": "cyan", "warning": "bold yellow", "critical": "bold red"}
STATE_STYLE = {"normal": "green", "raised": "yellow", "yelling": "bold red"}


class Notifier:
    """Desktop notifications for warning and critical alerts via `notify-send`.

    Fire and forget: the process is started and never waited for on the call's path; a
    missing or failing `notify-send` turns notifications off and never fails the call.
    """

    def __init__(self, enabled: bool) -> None:
        self.command = shutil.which("notify-send") if enabled else None
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def enabled(self) -> bool:
        return self.command is not None

    def send(self, alert: Alert) -> None:
        if self.command is None or alert.severity == "info":
            return
        self._procs = [p for p in self._procs if p.poll() is None]  # reap finished ones
        urgency = "critical" if alert.severity == "critical" else "normal"
        try:
            self._procs.append(
                subprocess.Popen(
                    [self.command, "-a", "tonewatch", "-u", urgency, alert.message, alert.tip],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        except OSError:
            self.command = None


def meter(level_db: float | None, base_db: float | None, band_db: float, style: str) -> Text:
    """A bar from METER_FLOOR_DB to METER_TOP_DB; the baseline band is shaded, `|` = baseline."""

    def col(db: float) -> int:
        frac = (db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB)
        return int(round(min(max(frac, 0.0), 1.0) * METER_WIDTH))

    filled = 0 if level_db is None else col(level_db)
    lo = hi = mark = -1
    if base_db is not None:
        lo, hi, mark = col(base_db - band_db), col(base_db + band_db), col(base_db)
    bar = Text()
    for i in range(METER_WIDTH):
        in_band = lo <= i < hi
        if i == mark:
            bar.append("|", "bold white")
        elif i < filled:
            bar.append("█", style)
        else:
            bar.append("░" if in_band else "·", "grey50" if in_band else "grey23")
    return bar


class AgentView:
    """The live display for one agent (see the module docstring).

    Args:
        notify: desktop notifications for warning and critical alerts.
        console: where to draw (default: a `rich` console on stdout).
        refresh_hz: most redraws per second from `on_snapshot`.
        keep_alerts: alerts shown (newest last).
    """

    def __init__(
        self,
        notify: bool = False,
        console: Console | None = None,
        refresh_hz: float = 10.0,
        keep_alerts: int = 4,
    ) -> None:
        self.console = Console() if console is None else console
        self.live_display = self.console.is_terminal
        self.notifier = Notifier(notify)
        self.min_interval = 1.0 / refresh_hz
        self.alerts: deque[Alert] = deque(maxlen=keep_alerts)
        self.said: deque[TranscriptRecord] = deque(maxlen=3)
        self.status_text = ""
        self._snap: Snapshot | None = None
        self._now = 0
        self._last_draw = -1e9
        self._lock = threading.RLock()
        self._live: Live | None = None

    # -- context ------------------------------------------------------------------------
    def __enter__(self) -> AgentView:
        if self.live_display:
            self._live = Live(
                self._render(),
                console=self.console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._live is not None:
                self._live.update(self._render(), refresh=True)
                self._live.stop()
                self._live = None

    # -- inputs -------------------------------------------------------------------------
    def sink(self, rec: Record) -> None:
        """A `run_call` sink: show an alert or transcript (notify for warnings)."""
        if isinstance(rec, Alert):
            self.notifier.send(rec)
        with self._lock:
            if not self.live_display:
                self._plain(format_record(rec))
                return
            if isinstance(rec, Alert):
                self.alerts.append(rec)
            else:
                self.said.append(rec)
            self._draw()

    def on_snapshot(self, snap: Snapshot) -> None:
        """A `CallSetup.on_snapshot` hook: keep the newest state; redraw at most `refresh_hz`."""
        if not self.live_display:
            return
        with self._lock:
            self._snap = snap
            self._now = snap.received
            now = time.monotonic()
            if now - self._last_draw >= self.min_interval:
                self._draw()

    def status(self, text: str) -> None:
        """Show one status line (replaces the previous one)."""
        with self._lock:
            self.status_text = text
            if not self.live_display:
                self._plain(f"tonewatch: {text}")
                return
            self._draw()

    # -- drawing ------------------------------------------------------------------------
    def _plain(self, line: str) -> None:
        self.console.file.write(line + "\n")
        self.console.file.flush()

    def _draw(self) -> None:
        if self._live is None:
            return
        self._last_draw = time.monotonic()
        self._live.update(self._render(), refresh=True)

    def _render(self) -> Group:
        snap = self._snap
        m, s = divmod(self._now / SAMPLE_RATE, 60.0)
        call = snap.call if snap is not None else ""
        head = Text.assemble(("tonewatch", "bold"), f"  {int(m):02d}:{s:04.1f}")
        if call:
            head.append(f"  call {call}", "grey50")
        parts: list[Any] = [head]
        parts.append(self._meters(snap))
        parts.append(self._overlap(snap))
        if self.alerts:
            for alert in self.alerts:
                am, asec = divmod(alert.start, 60.0)
                line = Text(f"[{int(am):02d}:{asec:04.1f}] ", "grey50")
                line.append(f"{alert.severity.upper():<8} ", STYLE.get(alert.severity, ""))
                line.append(alert.message)
                parts.append(line)
                parts.append(Text(f"           tip: {alert.tip}", "italic"))
        else:
            parts.append(Text("no alerts yet", "grey50"))
        for said in self.said:
            parts.append(Text(f"{said.speaker} said: {said.text}", "grey50"))
        if self.status_text:
            parts.append(Text(self.status_text, "bold magenta"))
        return Group(*parts)

    def _meters(self, snap: Snapshot | None) -> Table:
        table = Table.grid(padding=(0, 1))
        for _ in range(5):
            table.add_column()
        for sp in SPEAKERS:
            voice = snap.voice(sp) if snap is not None else None
            level = base_db = None
            state = "normal"
            note = ""
            band = 6.0
            if voice is not None:
                level, base_db, state = voice.level_db, voice.baseline_level_db, voice.state
                band = voice.raised_db  # the threshold the rule applies now
                if base_db is None:
                    note = f"learning {voice.learning:.0%}"
            over = "" if level is None or base_db is None else f"{level - base_db:+.0f} dB"
            if not note:
                note = state
            speaking = voice is not None and voice.speaking
            table.add_row(
                Text(f"{sp:<8}", "bold"),
                meter(level, base_db, band, STATE_STYLE.get(state, "green")),
                Text(f"{over:>7}"),
                Text(f"{note:<13}", STATE_STYLE.get(state, "")),
                Text("● speaking" if speaking else "", "bold green"),
            )
        return table

    def _overlap(self, snap: Snapshot | None) -> Text:
        if snap is None:
            return Text("")
        both = snap.overlap
        line = Text("overlap: both talking" if both else "overlap: -", "bold" if both else "")
        bleed = snap.bleed
        if bleed.active and bleed.delay_ms is not None and bleed.gain_db is not None:
            line.append(
                f"   mic bleed removed ({bleed.delay_ms:.0f} ms, {bleed.gain_db:+.0f} dB)", "grey50"
            )
        return line


# -- playback ---------------------------------------------------------------------------


class PlaybackError(Exception):
    """The call cannot be played; the message is one line."""


def _sounddevice() -> ModuleType:
    """sounddevice, through the one module that imports it (audio.devices)."""
    from audio.devices import LiveError, sounddevice

    try:
        return sounddevice()
    except LiveError as exc:
        raise PlaybackError(str(exc)) from None


class Player:
    """The default output device, playing a call's blocks as they are analysed.

    Opening it fails with `PlaybackError` (no device, PortAudio missing) before anything
    else of the call starts. `play(blocks)` writes each block (agent left, customer right)
    and then yields it: the write returns once the device has room, so the device's clock
    paces the replay. If the device goes away mid-call, `on_lost` hears why once and the
    rest of the call carries on at real-time pace without sound.
    """

    def __init__(self, device: Any = None) -> None:
        sd = _sounddevice()
        self._errors: tuple[type[BaseException], ...] = (sd.PortAudioError, ValueError, OSError)
        self._resampler: Any = None
        try:
            self.stream = self._open(sd, device, SAMPLE_RATE)
        except self._errors as first:
            # Some devices take only their own rate (often 44.1 or 48 kHz): resample to it.
            rate = self._default_rate(sd, device)
            if rate is None or rate == SAMPLE_RATE:
                raise PlaybackError(
                    f"cannot play the call: no usable output device ({first})"
                ) from None
            try:
                self.stream = self._open(sd, device, rate)
            except self._errors as exc:
                raise PlaybackError(
                    f"cannot play the call: no usable output device ({exc})"
                ) from None
            import soxr

            self._resampler = soxr.ResampleStream(SAMPLE_RATE, rate, 2, dtype="float32")
        self.lost: str | None = None

    @staticmethod
    def _open(sd: ModuleType, device: Any, rate: int) -> Any:
        stream = sd.OutputStream(samplerate=rate, channels=2, dtype="float32", device=device)
        stream.start()
        return stream

    @staticmethod
    def _default_rate(sd: ModuleType, device: Any) -> int | None:
        try:
            info = sd.query_devices(device, "output")
            return int(round(float(info["default_samplerate"])))
        except Exception:  # a probe only: any failure means "no other rate to try"
            return None

    def play(
        self, blocks: Iterable[Block], on_lost: Callable[[str], None] | None = None
    ) -> Iterator[Block]:
        clock: float | None = None  # wall time of stream time 0, once the device is gone
        for block in blocks:
            if self.lost is None:
                try:
                    frames = np.column_stack([block.agent, block.customer])
                    if self._resampler is not None:
                        frames = self._resampler.resample_chunk(frames)
                    self.stream.write(frames)
                except self._errors as exc:
                    self.lost = f"playback stopped: {exc}"
                    if on_lost is not None:
                        on_lost(self.lost)
            if self.lost is not None:
                if clock is None:
                    clock = time.monotonic() - block.start / SAMPLE_RATE
                delay = clock + (block.start + block.n_samples) / SAMPLE_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield block

    def close(self) -> None:
        """Let the last audio play out, then release the device."""
        try:
            if self.lost is None:
                if self._resampler is not None:  # the resampler's last few milliseconds
                    tail = self._resampler.resample_chunk(np.zeros((0, 2), np.float32), last=True)
                    if tail.shape[0]:
                        self.stream.write(tail)
                self.stream.stop()
            self.stream.close()
        except self._errors as exc:
            print(f"tonewatch: warning: closing the output device: {exc}", file=sys.stderr)
