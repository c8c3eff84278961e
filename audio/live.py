"""Live capture: the reader that turns what sound devices deliver into blocks.

Devices are found and named in `audio.devices` (the only module that imports
sounddevice); each open stream writes into an `audio.ring.Ring`. Two ways to hear a call:
two input devices (the agent's headset mic and a loopback or monitor device carrying the
softphone's output) or one multi-channel device with a channel per speaker.
`LiveSource.blocks()` turns what the devices deliver into the same `Block`s a recording
gives (16 kHz float32 per speaker), so `monitor.session.run_call` runs unchanged.

Real-time contract: the PortAudio callback (`_Device._callback`) copies the samples it is
handed into a preallocated ring buffer, bumps two counters, wakes the reader and returns.
It allocates nothing sizeable, holds one lock for the length of a copy, and never
resamples, analyses, logs or prints. Everything else happens on the reader's thread
(whoever iterates `blocks()`): streaming soxr resampling, keeping two devices aligned,
filling lost audio with silence, noticing a device that went away and reopening it.

Time comes from a `Clock` (`SystemClock` by default): the reader waits on it and asks it
the time, so tests run capture on fake devices in virtual time. Stream time keeps pace
with that clock. Audio that never arrived (a full ring, a device
that disappeared) becomes silence in the blocks and is counted in `Block.dropped_before`,
so the speakers stay aligned and a call's seconds are real seconds. Two devices run on two
clocks: the reader compares how many samples each has delivered and drops samples, evenly
spread and never faster than `MAX_CORRECTION`, from the one that runs ahead; what remains
of the skew is reported by `call_stats()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from audio.devices import (
    LOOPBACK_HINTS,
    DeviceInfo,
    LiveError,
    Route,
    _refresh_portaudio,
    find_device,
    list_devices,
    looks_like_loopback,
    one_device,
    sounddevice,
    two_devices,
)
from audio.ring import Ring
from audio.sources import _Resampler
from audio.types import SAMPLE_RATE, SPEAKERS, Block, Speaker

__all__ = [
    "LOOPBACK_HINTS",
    "CallCounters",
    "Clock",
    "DeviceInfo",
    "LiveError",
    "LiveSettings",
    "LiveSource",
    "Ring",
    "Route",
    "SystemClock",
    "find_device",
    "list_devices",
    "looks_like_loopback",
    "one_device",
    "sounddevice",
    "two_devices",
]

MAX_CORRECTION = 0.01
"""Most samples dropped per sample delivered while correcting drift (1 %)."""
SKEW_DEADBAND = 160
"""Smoothed skew (samples at 16 kHz, 10 ms) below which no correction is made."""
OVERFLOW_REPEAT_S = 10.0
"""Overflows are all counted, but reported as an event at most this often."""
SKEW_SMOOTHING = 0.05
"""Weight of each new skew reading in the running estimate (callback jitter averages out)."""


class Clock(Protocol):
    """Where live capture gets its time: the reader's waits and "now"."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until `event` is set or `timeout` seconds have passed; True if it is set."""
        ...


class SystemClock:
    """The machine's monotonic clock; waits block the calling thread."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)


EventSink = Callable[[str, str, str], None]
"""on_event(kind, device, detail): kind is "lost", "waiting", "back" or "overflow"."""


class _Device:
    """One open input stream and its ring."""

    def __init__(self, route: Route, ring_s: float, wake: threading.Event, clock: Clock) -> None:
        self.route = route
        self.clock = clock
        self.name = f"{route.device.index} {route.device.name!r}"
        self.ring = Ring(max(1024, int(ring_s * route.sample_rate)), route.channels)
        self.wake = wake
        self.stream: Any = None
        self.overflows = 0
        self.finished = False
        self.opened_at_frame = 0
        self._seen = 0
        self._seen_at = 0.0

    def open(self, rescan: bool = False) -> None:
        """Start capturing; after a re-scan the device is found again by name and host API
        (a replugged headset may come back under another id)."""
        sd = sounddevice()
        self.finished = False
        index = self.route.device.index
        if rescan:
            want = self.route.device
            found = [
                d
                for d in list_devices()
                if d.name == want.name and d.hostapi == want.hostapi and d.max_input_channels
            ]
            if not found:
                raise LiveError(f"device {self.name}: not present")
            index = found[0].index
        try:
            stream = sd.InputStream(
                device=index,
                channels=self.route.channels,
                samplerate=self.route.sample_rate,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._finished,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise LiveError(f"device {self.name}: cannot open for capture ({exc})") from None
        self.stream = stream
        self.opened_at_frame = self._seen = self.ring.frames_in
        self._seen_at = self.clock.monotonic()

    def _callback(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        self.ring.write(indata)
        self.wake.set()

    def _finished(self) -> None:
        self.finished = True
        self.wake.set()

    def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is None:
            return
        sd = sounddevice()
        try:
            stream.abort()
            stream.close()
        except (sd.PortAudioError, OSError):
            return

    def trouble(self, now: float, stall_s: float) -> str | None:
        """Why this device looks gone, or None while it delivers."""
        if self.stream is None:
            return "not open"
        if self.finished or not self.stream.active:
            return "the stream stopped"
        if self.ring.frames_in != self._seen:
            self._seen, self._seen_at = self.ring.frames_in, now
        elif now - self._seen_at > stall_s:
            return f"no audio for {now - self._seen_at:.1f} s"
        return None


@dataclass(frozen=True)
class LiveSettings:
    """Capture settings (the `[live]` table)."""

    block_s: float = 0.1
    """Seconds of audio per block handed to the pipeline."""
    ring_s: float = 5.0
    """Seconds each device's ring holds before the newest audio is dropped."""
    stall_s: float = 2.0
    """A device silent (no callbacks) this long is taken as gone."""
    reopen_s: float = 1.0
    """Seconds between attempts to reopen lost devices."""


@dataclass
class CallCounters:
    """What capture did during one call (see `LiveSource.call_stats`)."""

    overflows: int = 0
    ring_dropped_s: float = 0.0
    lost_s: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    corrected: dict[str, int] = field(default_factory=lambda: {sp: 0 for sp in SPEAKERS})
    samples: int = 0
    max_skew: float = 0.0


class LiveSource:
    """Blocks of both speakers from one or two devices, until the caller stops iterating.

    Open with `start()`, iterate `blocks()` once per call (state carries over, so nothing
    is lost between calls), read `call_stats()` for the call summary, `close()` at the end.

    Args:
        routes: one route (a device with a channel per speaker) or two (mic, loopback).
        settings: block size, ring size, stall and reopen timing.
        on_event: told of lost and returning devices and of overflows, on the reader's thread.
        clock: the reader's time (default `SystemClock()`).
    """

    def __init__(
        self,
        routes: list[Route],
        settings: LiveSettings | None = None,
        on_event: EventSink | None = None,
        clock: Clock | None = None,
    ) -> None:
        served = sorted(sp for r in routes for sp in r.take)
        if served != sorted(SPEAKERS):
            raise ValueError("routes must feed each speaker exactly once")
        self.routes = routes
        self.settings = settings or LiveSettings()
        self.on_event = on_event
        self.clock: Clock = SystemClock() if clock is None else clock
        self._wake = threading.Event()
        self._devices = [_Device(r, self.settings.ring_s, self._wake, self.clock) for r in routes]
        self._resamplers = {sp: _Resampler(r.sample_rate) for r in routes for sp in r.take}
        self._pending: dict[Speaker, np.ndarray] = {sp: np.zeros(0, np.float32) for sp in SPEAKERS}
        self._fill: dict[Speaker, int] = {sp: 0 for sp in SPEAKERS}
        self._down_since: float | None = None
        self._filled_to = 0.0
        self._next_try = 0.0
        self._skew = 0.0
        self._budget = 0.0
        self._overflows_seen: dict[str, int] = {}
        self._overflow_said = -OVERFLOW_REPEAT_S
        self._reopen_error: str | None = None
        self._syncing = True
        self._resuming = False
        self.counters = CallCounters()

    # -- lifetime --------------------------------------------------------------------

    def start(self) -> None:
        """Open every device.

        Raises:
            LiveError: a device cannot be opened (named in the message).
        """
        try:
            for dev in self._devices:
                dev.open()
        except LiveError:
            self.close()
            raise
        self._syncing, self._resuming = True, False

    def close(self) -> None:
        for dev in self._devices:
            dev.close()

    def describe(self) -> dict[str, Any]:
        """The devices and channels, for the `call_start` record."""
        return {
            "live": [
                {
                    "device": r.device.name,
                    "id": r.device.index,
                    "sample_rate": r.sample_rate,
                    "channels": {sp: [c + 1 for c in ch] for sp, ch in r.take.items()},
                }
                for r in self.routes
            ]
        }

    def begin_call(self) -> None:
        """Start counting for a new call (the audio carries on uninterrupted)."""
        self.counters = CallCounters()

    def call_stats(self) -> dict[str, Any]:
        """Capture figures for the call summary: losses, overflows, drift and skew."""
        c = self.counters
        stats: dict[str, Any] = {
            "devices": [r.device.name for r in self.routes],
            "overflows": c.overflows,
            "ring_dropped_s": round(c.ring_dropped_s, 3),
            "lost_s": round(c.lost_s, 3),
            "device_events": list(c.events),
        }
        if len(self.routes) > 1:
            dur = max(c.samples, 1)
            net = c.corrected["agent"] - c.corrected["customer"]
            stats["skew_ms"] = round(self._skew / SAMPLE_RATE * 1000, 1)
            stats["max_skew_ms"] = round(c.max_skew / SAMPLE_RATE * 1000, 1)
            stats["corrected_ms"] = {
                sp: round(n / SAMPLE_RATE * 1000, 1) for sp, n in c.corrected.items()
            }
            stats["drift_ppm"] = round(net / dur * 1e6)
        return stats

    # -- the reader ------------------------------------------------------------------

    def blocks(self, stop: Callable[[], bool] | None = None) -> Iterator[Block]:
        """Blocks from now on, stream time from 0, until `stop()` is true (checked often).

        Device trouble never ends the iteration: a lost device is logged through
        `on_event`, its time becomes silence, and it is reopened when it returns.
        """
        n_block = max(160, int(self.settings.block_s * SAMPLE_RATE))
        start = 0
        while stop is None or not stop():
            self.clock.wait(self._wake, min(0.05, self.settings.block_s))
            self._wake.clear()
            now = self.clock.monotonic()
            self._watch(now)
            if self._down_since is not None or (self._syncing and self._resuming):
                self._fill_silence(now)
            if self._down_since is None and self._syncing:
                self._sync()
            if self._down_since is None and not self._syncing:
                self._pull()
            while min(p.shape[0] for p in self._pending.values()) >= n_block:
                # Silence put in for lost audio, reported on the blocks that carry it.
                dropped = min(max(self._fill.values()), n_block)
                self._fill = {sp: max(0, f - n_block) for sp, f in self._fill.items()}
                parts = {sp: self._pending[sp][:n_block] for sp in SPEAKERS}
                self._pending = {sp: p[n_block:] for sp, p in self._pending.items()}
                self.counters.samples += n_block
                yield Block(
                    start,
                    parts["agent"],
                    parts["customer"],
                    dropped_before=dropped,
                    captured_at=now,
                )
                start += n_block

    def _event(self, kind: str, dev: _Device, detail: str) -> None:
        self.counters.events.append(
            {"event": kind, "device": dev.route.device.name, "detail": detail}
        )
        if self.on_event is not None:
            self.on_event(kind, dev.name, detail)

    def _watch(self, now: float) -> None:
        """Notice lost devices; while any is lost, try to reopen them all now and then."""
        if self._down_since is None:
            for dev in self._devices:
                why = dev.trouble(now, self.settings.stall_s)
                if why is not None:
                    self._pull()
                    self._event("lost", dev, why)
                    self._go_down(now)
                    return
            for dev in self._devices:
                new = dev.overflows - self._overflows_seen.get(dev.name, 0)
                if new > 0:
                    self.counters.overflows += new
                    self._overflows_seen[dev.name] = dev.overflows
                    # One line per quiet spell, not one per callback, when it keeps happening.
                    if now - self._overflow_said >= OVERFLOW_REPEAT_S:
                        self._overflow_said = now
                        self._event("overflow", dev, f"input overflow: audio was lost ({new}x)")
            return
        if now < self._next_try:
            return
        self._next_try = now + self.settings.reopen_s
        _refresh_portaudio()
        for dev in self._devices:
            try:
                dev.open(rescan=True)
            except LiveError as exc:
                for other in self._devices:
                    other.close()
                why = str(exc).removeprefix(f"device {dev.name}: ")
                if why != self._reopen_error:
                    self._reopen_error = why
                    self._event("waiting", dev, why)
                return
        self._fill_silence(now)
        for dev in self._devices:
            self._event("back", dev, f"capturing again after {now - self._down_since:.1f} s")
        self._down_since = None
        self._reopen_error = None
        self._syncing = self._resuming = True

    def _sync(self) -> None:
        """Start reading once every device delivers, all from the same moment.

        Devices (and PortAudio's ALSA pulse plugin in particular) can take a second or more
        to deliver their first audio. Reading one before the others would put the speakers
        that far apart, far more than drift correction should have to undo. Until then,
        after a loss, the time keeps being filled with silence.
        """
        if any(dev.ring.frames_in == dev.opened_at_frame for dev in self._devices):
            return
        for dev in self._devices:
            dev.ring.take()
        self._syncing = self._resuming = False
        self._skew = 0.0

    def _go_down(self, now: float) -> None:
        for dev in self._devices:
            dev.close()
        # Whatever one device delivered beyond the other is padded so both end together.
        longest = max(p.shape[0] for p in self._pending.values())
        for sp in SPEAKERS:
            self._add(sp, np.zeros(longest - self._pending[sp].shape[0], np.float32), fill=True)
        self._down_since = now
        self._filled_to = now
        self._next_try = now + self.settings.reopen_s

    def _fill_silence(self, now: float) -> None:
        """Silence for the time no device was heard, so stream time keeps up with the clock."""
        n = int((now - self._filled_to) * SAMPLE_RATE)
        if n <= 0:
            return
        self._filled_to += n / SAMPLE_RATE
        self.counters.lost_s += n / SAMPLE_RATE
        for sp in SPEAKERS:
            self._add(sp, np.zeros(n, np.float32), fill=True)

    def _add(self, sp: Speaker, x: np.ndarray, fill: bool = False) -> None:
        if x.shape[0] == 0:
            return
        self._pending[sp] = np.concatenate([self._pending[sp], x])
        if fill:
            self._fill[sp] += x.shape[0]

    def _pull(self) -> None:
        """Move what the devices delivered into the per-speaker queues at 16 kHz."""
        fresh: dict[Speaker, int] = {}
        for dev in self._devices:
            data, gap = dev.ring.take()
            if gap:
                self.counters.ring_dropped_s += gap / dev.route.sample_rate
                data = np.concatenate([data, np.zeros((gap, data.shape[1]), np.float32)])
            if data.shape[0] == 0:
                continue
            for sp, chans in dev.route.take.items():
                mono = data[:, chans[0]] if len(chans) == 1 else data[:, list(chans)].mean(axis=1)
                # A glitching driver can hand over NaN or inf; one such sample would poison
                # the analysis filters for the rest of the call.
                mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
                out = self._resamplers[sp](mono)
                self._add(sp, out)
                self._fill[sp] += int(gap * SAMPLE_RATE / dev.route.sample_rate)
                fresh[sp] = out.shape[0]
        if len(self._devices) > 1:
            self._align(fresh)

    def _align(self, fresh: dict[Speaker, int]) -> None:
        """Keep two devices' clocks together: drop samples from the one that runs ahead."""
        diff = self._pending["agent"].shape[0] - self._pending["customer"].shape[0]
        self._skew += SKEW_SMOOTHING * (diff - self._skew)
        self.counters.max_skew = max(self.counters.max_skew, abs(self._skew))
        if abs(self._skew) <= SKEW_DEADBAND:
            self._budget = 0.0
            return
        ahead: Speaker = "agent" if self._skew > 0 else "customer"
        n_new = fresh.get(ahead, 0)
        self._budget += MAX_CORRECTION * n_new
        k = min(int(self._budget), int(abs(self._skew) - SKEW_DEADBAND / 2), n_new)
        if k <= 0:
            return
        p = self._pending[ahead]
        at = p.shape[0] - n_new + np.linspace(0, n_new - 1, k).astype(int)
        self._pending[ahead] = np.delete(p, at)
        self._fill[ahead] = max(0, self._fill[ahead] - k)
        self._budget -= k
        self._skew -= k if ahead == "agent" else -k
        self.counters.corrected[ahead] += k
