"""Monitor live calls from the sound devices until stopped (`tonewatch live`).

Captures the agent's mic and the customer's audio (`audio.live`), runs each call through
the same `run_call` loop as replay, and writes one alert log per call into a log directory,
named by the call's UTC start time and id. A call ends when the agent presses Enter, when
the process gets SIGUSR1, after `--split-silence` seconds of quiet on both sides, or when
SIGINT/SIGTERM stop the monitor (the call's summary is written first). Devices that go away
mid-call are reopened when they return, within the same call: same log, same baselines.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from alerts.log import AlertLog, LogError
from alerts.model import Record, now_iso
from audio.devices import LiveError, Route, find_device, list_devices, one_device, two_devices
from audio.live import Clock, LiveSource
from audio.types import SAMPLE_RATE, Block, seconds
from monitor.config import Config
from monitor.errors import EXIT_INTERNAL, EXIT_OUTPUT, EXIT_SOURCE, EXIT_USAGE, CommandError
from monitor.formatting import format_record
from monitor.options import add_config_option, add_transcription_options, load_settings
from monitor.session import CallSetup, run_call

PREROLL_BLOCKS = 5
"""Blocks kept while waiting for a call to start, so its first words are not cut."""
MAX_FAILED_CALLS = 3
"""Calls in a row that may fail with an internal error before the daemon gives up."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    dev = p.add_argument_group("devices (see `tonewatch devices`)")
    dev.add_argument("--mic", metavar="DEV", help="the agent's microphone: id or part of a name")
    dev.add_argument(
        "--loopback",
        metavar="DEV",
        help="the device carrying the customer's audio (a .monitor / loopback / BlackHole input)",
    )
    dev.add_argument(
        "--device", metavar="DEV", help="one device carrying both speakers (with --channels)"
    )
    dev.add_argument(
        "--channels",
        metavar="A,C",
        default="1,2",
        help="with --device: the agent's and the customer's channel numbers (default 1,2)",
    )
    p.add_argument("--log-dir", metavar="DIR", help="one alert log per call goes here")
    p.add_argument("--agent-name", metavar="NAME", help="agent identity stored in every record")
    p.add_argument(
        "--split-silence",
        metavar="SECONDS",
        type=float,
        help="end a call after this long of silence on both sides (default: [live] "
        "split_silence_s; 0 = only Enter or SIGUSR1 end a call)",
    )
    p.add_argument("--quiet", action="store_true", help="print only one summary line per call")
    p.add_argument(
        "--notify", action="store_true", help="desktop notifications for warnings (with the view)"
    )
    p.add_argument(
        "--web",
        action="store_true",
        help="also serve the agent's view as a page on 127.0.0.1 (address and token on stderr)",
    )
    p.add_argument(
        "--no-tracks", action="store_true", help="leave the 10 Hz track records out of the logs"
    )
    speech = p.add_argument_group("transcription (as in replay)")
    add_transcription_options(speech)
    add_config_option(p)


def default_log_dir() -> Path:
    """Per-user data directory for call logs on this platform."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "tonewatch" / "calls"


def routes_from(args: argparse.Namespace) -> list[Route]:
    """The devices asked for on the command line (--device, else --mic and --loopback).

    Raises:
        LiveError: a device is missing, ambiguous or unusable.
    """
    if args.device:
        return one_device(find_device(args.device, "capture"), args.channels)
    devices = list_devices()
    mic = find_device(args.mic, "mic", devices)
    loop = find_device(args.loopback, "loopback", devices)
    return two_devices(mic, loop)


class Speech:
    """The transcription model, loaded once; a fresh worker and spotter for each call."""

    def __init__(self, args: argparse.Namespace, cfg: Config) -> None:
        from monitor.transcription import SpeechSetup

        try:
            self.setup = SpeechSetup.from_args(args, cfg, "drop_oldest")
        except ValueError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        self.note = self.setup.note

    def for_call(self, call: str) -> tuple[Any, Any]:
        worker, spotter, _ = self.setup.parts(call)
        return worker, spotter


class Printer:
    """Plain terminal output: alert lines as replay prints them, and status lines."""

    def __init__(self, quiet: bool) -> None:
        from monitor.viewmodel import PlainLines

        self.quiet = quiet
        self.lines = PlainLines(lambda text: print(text, flush=True), format_record)

    def sink(self, rec: Record) -> None:
        if not self.quiet:
            self.lines(rec)

    def status(self, text: str) -> None:
        if not self.quiet:
            print(f"tonewatch: {text}", flush=True)


def open_display(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """The agent's view when there is one and a terminal to show it; else plain lines.
    With --web the view is also served as a page (monitor.webview)."""
    if getattr(args, "web", False):
        from rich.console import Console

        from monitor.view import AgentView
        from monitor.webview import WebView

        stack = contextlib.ExitStack()
        web = WebView().start()
        stack.callback(web.close)
        print(f"tonewatch: the agent's view in a browser: {web.url}", file=sys.stderr, flush=True)
        shown = AgentView(
            notify=args.notify, console=Console(quiet=args.quiet), publish=web.publish
        )
        stack.enter_context(shown)
        return _Opened(stack, shown)
    if not args.quiet and sys.stdout.isatty():
        try:
            from monitor.view import AgentView
        except ModuleNotFoundError as exc:
            if exc.name != "monitor.view":
                raise
        else:
            view: contextlib.AbstractContextManager[Any] = AgentView(notify=args.notify)
            return view
    return contextlib.nullcontext(Printer(args.quiet))


class _Opened(contextlib.AbstractContextManager[Any]):
    """An ExitStack that hands out the display it opened."""

    def __init__(self, stack: contextlib.ExitStack, display: Any) -> None:
        self.stack, self.display = stack, display

    def __enter__(self) -> Any:
        return self.display

    def __exit__(self, *exc: Any) -> None:
        self.stack.__exit__(*exc)


class Silence:
    """Counts how long both speakers have been quiet (filled-in lost audio does not count)."""

    def __init__(self, limit_s: float, threshold_dbfs: float) -> None:
        self.limit = int(limit_s * SAMPLE_RATE)
        self.threshold = 10 ** (threshold_dbfs / 20)
        self.quiet = 0

    def loud(self, block: Block) -> bool:
        return any(
            float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) >= self.threshold
            for x in (block.agent, block.customer)
        )

    def update(self, block: Block) -> bool:
        """True once the silence has lasted the limit (never when the limit is 0)."""
        if block.dropped_before >= block.n_samples:
            return False
        self.quiet = 0 if self.loud(block) else self.quiet + block.n_samples
        return self.limit > 0 and self.quiet >= self.limit


class Daemon:
    """The run-until-stopped loop: wait for a call, run it, write its log, repeat."""

    def __init__(
        self,
        args: argparse.Namespace,
        cfg: Config,
        source: LiveSource,
        log_dir: Path,
        speech: Speech,
    ) -> None:
        self.args = args
        self.cfg = cfg
        self.source = source
        self.log_dir = log_dir
        self.speech = speech
        split = args.split_silence
        if split is None:
            split = cfg.live.split_silence_s
        self.auto = split > 0
        self.silence = Silence(split, cfg.live.silence_dbfs)
        self.stopping = False
        self.split = threading.Event()
        self.log: AlertLog | None = None
        self.display: Any = None
        self.ended_by = "stop"
        self._call = ""
        self._t = 0
        source.on_event = self._device_event

    # -- signals and keys ------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping and signum == signal.SIGINT:
            # A second Ctrl-C while the summary is being written: stop at once.
            raise KeyboardInterrupt
        self.stopping = True

    def _on_split(self, signum: int, frame: FrameType | None) -> None:
        self.split.set()

    def _read_keys(self) -> None:
        """Enter on stdin splits the call; ends quietly at end of input."""
        if sys.stdin is None or sys.stdin.closed:
            return
        try:
            for _line in sys.stdin:
                self.split.set()
        except (OSError, ValueError):
            return

    def _interrupted(self) -> bool:
        return self.stopping or self.split.is_set()

    # -- events ----------------------------------------------------------------------

    def _device_event(self, kind: str, device: str, detail: str) -> None:
        text = f"device {device}: {kind}: {detail}"
        if isinstance(self.display, Printer) or self.display is None:
            print(f"tonewatch: {text}", file=sys.stderr, flush=True)
        else:
            self.display.status(text)
        if self.log is not None:
            self.log.write(
                {
                    "record": "device",
                    "call": self._call,
                    "event": kind,
                    "device": device,
                    "detail": detail,
                    "t": seconds(self._t),
                    "at": now_iso(),
                }
            )

    # -- the loop --------------------------------------------------------------------

    def run(self) -> int:
        with open_display(self.args) as display:
            self.display = display
            display.status(f"listening; calls are logged in {self.log_dir}")
            failures = 0
            while not self.stopping:
                preroll = self._wait_for_sound() if self.auto else []
                if self.stopping:
                    break
                try:
                    self._one_call(preroll)
                    failures = 0
                except CommandError:
                    raise
                except Exception as exc:  # a fault in the analysis: keep monitoring
                    failures += 1
                    print(
                        f"tonewatch: error: call {self._call} stopped by an internal error "
                        f"({type(exc).__name__}: {exc}); its log keeps what was reported",
                        file=sys.stderr,
                        flush=True,
                    )
                    if failures >= MAX_FAILED_CALLS:
                        raise CommandError(
                            f"{failures} calls in a row failed; stopping", EXIT_INTERNAL
                        ) from None
                    display.status("starting a new call after an internal error")
        return 0

    def _wait_for_sound(self) -> list[Block]:
        """Between calls (automatic splitting): keep the last moments until someone speaks."""
        self.display.status("waiting for the next call (press Enter to start one now)")
        self.split.clear()
        kept: collections.deque[Block] = collections.deque(maxlen=PREROLL_BLOCKS)
        for block in self.source.blocks(stop=self._interrupted):
            kept.append(block)
            if block.dropped_before < block.n_samples and self.silence.loud(block):
                break
        return list(kept)

    def _blocks(self, preroll: list[Block]) -> Iterator[Block]:
        """One call's blocks, stream time from 0; ends on a split, a stop or the silence."""
        self._t = 0
        self.silence.quiet = 0
        self.split.clear()
        blocks = self.source.blocks(stop=self._interrupted)
        for block in preroll:
            self.silence.update(block)
            yield self._stamp(block)
        for block in blocks:
            yield self._stamp(block)
            if self.silence.update(block):
                self.ended_by = "silence"
                return
        self.ended_by = "stop" if self.stopping else "split"

    def _stamp(self, block: Block) -> Block:
        out = Block(self._t, block.agent, block.customer, block.dropped_before, block.captured_at)
        self._t += block.n_samples
        return out

    def _one_call(self, preroll: list[Block]) -> None:
        call = uuid.uuid4().hex[:12]
        self._call = call
        self.ended_by = "stop"
        begun = datetime.now(timezone.utc)
        # Named by start time to the microsecond, so the names sort as the calls started
        # (the random id only tells apart calls that started in the same microsecond).
        path = self.log_dir / f"{begun:%Y%m%dT%H%M%S.%fZ}_{call}.jsonl"
        self.source.begin_call()
        try:
            log = AlertLog(path)
        except LogError as exc:
            raise CommandError(str(exc), EXIT_OUTPUT) from None
        worker, spotter = self.speech.for_call(call)
        display = self.display
        setup = CallSetup(
            cfg=self.cfg,
            call=call,
            log=log,
            sinks=[display.sink],
            agent_name=self.args.agent_name,
            source=self.source.describe(),
            worker=worker,
            spotter=spotter,
            tracks=not self.args.no_tracks,
            on_snapshot=getattr(display, "on_snapshot", None),
            summary_extra=lambda: {"capture": self._capture_stats()},
        )
        display.status(f"call {call} started, log {path}")
        self.log = log
        try:
            result = run_call(self._blocks(preroll), setup)
        except LogError as exc:
            raise CommandError(str(exc), EXIT_OUTPUT) from None
        finally:
            self.log = None
            log.close()
        from monitor.callindex import index_finished_log

        index_finished_log(path, warn=display.status)
        summary = result.summary
        if hasattr(display, "end_call"):
            display.end_call(summary)  # the agent's recap
        counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items() if v) or "no alerts"
        line = (
            f"call {call} ended ({self.ended_by}): {summary['duration_s']:.1f} s, {counts}; "
            f"log {path}"
        )
        display.status(line)
        if self.args.quiet:
            print(line, flush=True)

    def _capture_stats(self) -> dict[str, Any]:
        stats = self.source.call_stats()
        stats["ended_by"] = self.ended_by
        return stats


def _log_dir(args: argparse.Namespace, cfg: Config) -> Path:
    configured = cfg.live.log_dir
    path = Path(args.log_dir or configured or default_log_dir()).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise CommandError(
            f"{path}: cannot create log directory ({exc.strerror})", EXIT_OUTPUT
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CommandError(f"{path}: log directory is not writable", EXIT_OUTPUT)
    return path


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    """`tonewatch live`; `clock` is capture's time (the system's unless given: tests)."""
    cfg = load_settings(args)
    if args.split_silence is not None and not 0 <= args.split_silence <= 3600:
        raise CommandError(
            f"--split-silence must be in [0, 3600] seconds, got {args.split_silence}", EXIT_USAGE
        )
    if args.device and (args.mic or args.loopback):
        raise CommandError(
            "give either --device (with --channels) or --mic and --loopback", EXIT_USAGE
        )
    if not args.device and not (args.mic and args.loopback):
        raise CommandError(
            "say where the call is heard: --mic DEV --loopback DEV, or --device DEV "
            "--channels A,C (see `tonewatch devices`)",
            EXIT_USAGE,
        )
    from monitor.profile import check_agent

    check_agent(args.agent_name)
    try:
        routes = routes_from(args)
    except LiveError as exc:
        raise CommandError(str(exc), EXIT_SOURCE) from None
    log_dir = _log_dir(args, cfg)
    speech = Speech(args, cfg)
    if speech.note:
        print(f"tonewatch: warning: {speech.note}", file=sys.stderr)
    source = LiveSource(routes, cfg.live.capture(), clock=clock)
    daemon = Daemon(args, cfg, source, log_dir, speech)
    handlers = {
        signal.SIGINT: daemon._on_stop,
        signal.SIGTERM: daemon._on_stop,
    }
    if hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = daemon._on_split
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        try:
            source.start()
        except LiveError as exc:
            raise CommandError(str(exc), EXIT_SOURCE) from None
        threading.Thread(target=daemon._read_keys, name="tonewatch-keys", daemon=True).start()
        return daemon.run()
    finally:
        source.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
