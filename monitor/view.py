"""The agent's view: what the agent (or a trainee replaying a call) sees during the call.

`AgentView` is a context manager around a `rich` live display. It draws `Frame`s from the
view model (`monitor.viewmodel`), the same ones the browser view serves:

- one line per speaker: a meter centred on that speaker's own usual level (`│`), with a
  mark at the raised threshold in force (`╎`) and the end at +12 dB, so a yelling voice
  overflows past it (`▶`); blank while they are silent; then plain words ("The customer is
  shouting"), which clear soon after the speaker stops;
- the latest alerts in call-time order, in words, each tip indented under it, dimmed after
  15 s and gone after 20 s; good signs on their own small line; recent words said;
- at the end of the call, a recap private to the agent: talk share, interruptions, moments
  raised, good signs and one suggestion.

The numbers stay in the log and the report. It fits any width from 60 columns.

- `on_snapshot(snapshot)` is a `CallSetup.on_snapshot` hook. It runs on the analysis
  thread, hands the pipeline's frozen `Snapshot` (monitor/snapshot.py: levels after the
  bleed canceller, speech after the crosstalk guard, baselines, the raised threshold in
  force, states) to the view model and redraws at most `refresh_hz` times a second
  (`clock` decides when; tests inject one).
- `sink(rec)` is a `run_call` sink: alerts and transcripts, drawn at once.
- `status(text)` shows one status line (device lost, call split, ...); any thread.
- `end_call(summary)` shows the recap.

When the console is not a terminal the view prints plain lines instead (the text of
`tonewatch replay`). Desktop notifications for warnings (desktop-notifier: Linux, macOS,
Windows) are off by default: feedback stays private to the agent unless they ask for it.

`Player` plays a call through the default output device as its blocks are analysed, so
a trainee hears the call in step with the nudges; the device's clock paces the replay.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType, TracebackType
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from alerts.model import Alert, Record
from audio.types import SAMPLE_RATE, Block
from monitor.formatting import format_record
from monitor.snapshot import Snapshot
from monitor.viewmodel import (
    METER_SPAN_DB,
    Frame,
    PlainLines,
    SpeakerView,
    ViewModel,
    snapshot_state,
    words,
)

STYLE = {"info": "cyan", "warning": "bold yellow", "critical": "bold red"}
STATE_STYLE = {"raised": "bold yellow", "yelling": "bold red", "learning": "grey50"}
NAMES = {"agent": "You", "customer": "Customer"}


class Notifier:
    """Desktop notifications for warning and critical alerts (desktop-notifier).

    Sent from a thread of its own, never on the call's path; a missing library or no
    notification service turns them off quietly and never fails the call.
    """

    def __init__(self, enabled: bool) -> None:
        self._queue: queue.SimpleQueue[Alert | None] | None = None
        if not enabled:
            return
        try:
            from desktop_notifier import DesktopNotifierSync, Urgency
        except ImportError:
            return
        log = logging.getLogger("desktop_notifier")
        log.addHandler(logging.NullHandler())  # its failures must not print over the view
        log.propagate = False
        self._make = lambda: DesktopNotifierSync(app_name="tonewatch")
        self._urgency = {"warning": Urgency.Normal, "critical": Urgency.Critical}
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tonewatch-notify", daemon=True)
        self._thread.start()

    @property
    def enabled(self) -> bool:
        return self._queue is not None

    def send(self, alert: Alert) -> None:
        if self._queue is not None and alert.severity != "info":
            self._queue.put(alert)

    def _run(self) -> None:
        assert self._queue is not None
        try:
            notifier = self._make()
        except Exception:  # no notification service here: notifications are off
            self._queue = None
            return
        while (alert := self._queue.get()) is not None:
            try:
                notifier.send(
                    title=words(alert),
                    message=alert.tip,
                    urgency=self._urgency[alert.severity],
                )
            except Exception:  # one failed notification never stops the next
                continue

    def close(self) -> None:
        """Send what is queued, then stop (waits at most 5 s)."""
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join(timeout=5.0)


def meter(sp: SpeakerView, width: int) -> Text:
    """`width` cells from -12 dB to +12 dB around the usual level (`│` at the centre), `╎` at
    the raised threshold, and `▶` cells past the end for a voice beyond +12 dB."""
    half = width // 2
    bar = Text()

    def col(db: float) -> int:
        return int(round((db + METER_SPAN_DB) / (2 * METER_SPAN_DB) * width))

    mark = min(col(min(sp.raised_db, METER_SPAN_DB)), width - 1)
    filled = -1 if sp.over_db is None else col(max(min(sp.over_db, METER_SPAN_DB), -METER_SPAN_DB))
    hot = "bold red" if sp.state == "yelling" else None
    for i in range(width):
        if i == half:
            bar.append("│", "bold white")
        elif i == mark:
            bar.append("╎", "bold yellow")
        elif i < filled:
            bar.append("█", hot or ("green" if i < mark else "yellow"))
        else:
            bar.append("·", "grey30")
    bar.append("▏", "grey50")
    over = 0.0 if sp.over_db is None else sp.over_db - METER_SPAN_DB
    bar.append("▶" * (2 if over >= 6 else 1 if over > 0 else 0), "bold red")
    bar.append("  "[: 2 - (2 if over >= 6 else 1 if over > 0 else 0)])
    return bar


class AgentView:
    """The live display for one agent (see the module docstring).

    Args:
        notify: desktop notifications for warning and critical alerts.
        console: where to draw (default: a `rich` console on stdout).
        refresh_hz: most redraws per second from `on_snapshot`.
        clock: seconds, for the redraw rate (default: time.monotonic).
        publish: called with each new `Frame` (the browser view).
    """

    def __init__(
        self,
        notify: bool = False,
        console: Console | None = None,
        refresh_hz: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        publish: Callable[[Frame], None] | None = None,
    ) -> None:
        self.console = Console() if console is None else console
        self.live_display = self.console.is_terminal
        self.notifier = Notifier(notify)
        self.min_interval = 1.0 / refresh_hz
        self.clock = clock
        self.publish = publish
        self.model = ViewModel()
        self._plain_lines = PlainLines(self._plain, format_record)
        self._last_draw = -1e9
        self._lock = threading.RLock()
        self._live: Live | None = None

    # -- context ------------------------------------------------------------------------
    def __enter__(self) -> AgentView:
        if self.live_display:
            self._live = Live(
                self._render(self.model.frame()),
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
                self._live.update(self._render(self.model.frame()), refresh=True)
                self._live.stop()
                self._live = None
        self.notifier.close()

    # -- inputs -------------------------------------------------------------------------
    def sink(self, rec: Record) -> None:
        """A `run_call` sink: show an alert or transcript (notify for warnings)."""
        if isinstance(rec, Alert):
            self.notifier.send(rec)
        with self._lock:
            self.model.record(rec)
            if not self.live_display:
                self._plain_lines(rec)
            self._draw()

    def on_snapshot(self, snap: Snapshot) -> None:
        """A `CallSetup.on_snapshot` hook: the newest state; redraw at most `refresh_hz`."""
        if snap is None:
            return
        with self._lock:
            new_call = snap.call != self.model.call
            if new_call and self.model.call:  # live: the next call began
                status, self.model = self.model.status, ViewModel()
                self.model.status = status
            voices, bleed = snapshot_state(snap)
            self.model.state(snap.t / SAMPLE_RATE, snap.call, voices, bleed)
            # A new call is drawn at once (the last call's recap leaves the screen).
            if new_call or self.clock() - self._last_draw >= self.min_interval:
                self._draw()

    def status(self, text: str) -> None:
        """Show one status line (replaces the previous one)."""
        with self._lock:
            self.model.status = text
            if not self.live_display:
                self._plain(f"tonewatch: {text}")
            self._draw()

    def end_call(self, summary: dict[str, Any] | None) -> None:
        """Show the end-of-call recap (on the terminal and the page)."""
        with self._lock:
            self.model.end(summary)
            self._draw(force=True)

    # -- drawing ------------------------------------------------------------------------
    def _plain(self, line: str) -> None:
        self.console.file.write(line + "\n")
        self.console.file.flush()

    def _draw(self, force: bool = False) -> None:
        self._last_draw = self.clock()
        frame = self.model.frame()
        if self.publish is not None:
            self.publish(frame)
        if self._live is not None:
            self._live.update(self._render(frame), refresh=True)

    def _render(self, frame: Frame) -> Group:
        return render(frame, self.console.width)


def render(frame: Frame, width: int) -> Group:
    """One frame as rich renderables for a terminal `width` columns wide (60 or more)."""
    width = max(60, width)
    m, s = divmod(frame.now_s, 60.0)
    head = Text.assemble(("tonewatch", "bold"), f"  {int(m):02d}:{s:02.0f}")
    if frame.call:
        head.append(f"  call {frame.call}", "grey50")
    parts: list[Any] = [head]
    meter_w = max(15, min(41, width - 10 - 4 - 34))
    lines = Table.grid(padding=(0, 1))
    lines.add_column(width=10, no_wrap=True)
    lines.add_column(width=meter_w + 3, no_wrap=True)
    lines.add_column(no_wrap=True, overflow="ellipsis")
    for sp in frame.speakers:
        name = Text.assemble(
            ("● " if sp.speaking else "  ", "bold green"),
            (NAMES.get(sp.speaker, sp.speaker), "bold" if sp.speaking else ""),
        )
        if sp.state == "learning":
            pct = f" {sp.learning:.0%}" if sp.learning is not None else ""
            # no usual level yet: a plain bar (-60 to -10 dBFS) shows the sound is heard
            n = 0 if sp.level_db is None else int(min(max((sp.level_db + 60) / 50, 0), 1) * meter_w)
            bar = Text("█" * n, "grey50") + Text("·" * (meter_w - n), "grey30")
            lines.add_row(name, bar, Text(sp.words + pct, "grey50"))
            continue
        lines.add_row(name, meter(sp, meter_w), Text(sp.words, STATE_STYLE.get(sp.state, "")))
    parts.append(lines)
    notes = []
    if frame.both_talking:
        notes.append(("both talking", "bold"))
    if frame.bleed:
        notes.append((frame.bleed, "grey50"))
    if notes:
        parts.append(Text("  ·  ").join(Text(t, st) for t, st in notes))
    if frame.alerts:
        alerts = Table.grid(padding=(0, 1))
        alerts.add_column(width=7, no_wrap=True)
        alerts.add_column()
        for a in frame.alerts:
            am, asec = divmod(a.start, 60.0)
            style = "grey50" if a.dim else STYLE.get(a.severity, "")
            what = Text(a.words + (" (heard late)" if a.late else ""), style)
            tip = Text(a.tip, "grey42" if a.dim else "italic")
            alerts.add_row(Text(f"{int(am):02d}:{asec:02.0f}", "grey50"), Group(what, tip))
        parts.append(alerts)
    if frame.good:
        parts.append(Text(frame.good, "green"))
    for who, text in frame.said:
        line = Text(f"{NAMES.get(who, who)}: {text}", "grey50", no_wrap=True, overflow="ellipsis")
        parts.append(line)
    if frame.status:
        parts.append(Text(frame.status, "bold magenta"))
    if frame.recap is not None:
        parts.append(recap_text(frame))
    return Group(*parts)


def recap_text(frame: Frame) -> Group:
    r = frame.recap
    assert r is not None
    m, s = divmod(r.duration_s, 60.0)
    rows = Table.grid(padding=(0, 1))
    rows.add_column(width=1)
    rows.add_column()
    share = (
        "n/a"
        if r.agent_share is None
        else f"you {r.agent_share:.0%}, customer {1 - r.agent_share:.0%}"
    )
    times = "time" if r.interruptions == 1 else "times"
    good = ", ".join(r.good_signs) if r.good_signs else "none heard"
    for text, style in (
        (f"Talk: {share}", ""),
        (f"You interrupted: {r.interruptions} {times}", ""),
        (f"Moments your voice rose: {r.raised_moments}", ""),
        (f"Good signs: {good}", "green" if r.good_signs else ""),
        (f"Next time: {r.suggestion}", "italic"),
    ):
        rows.add_row("", Text(text, style))
    head = Text(f"Your call in brief ({int(m)}:{s:02.0f}, just for you)", "bold")
    return Group(head, rows)


# -- playback ---------------------------------------------------------------------------


class PlaybackError(Exception):
    """The call cannot be played; the message is one line."""


def _sounddevice() -> ModuleType:
    """sounddevice, through the one module that imports it (audio.live)."""
    from audio.live import LiveError, sounddevice

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
