"""The `tonewatch` command line.

The entry point, and a leaf: nothing in the program imports this module. Subcommands here:
`replay` (a recorded call through the same pipeline as live capture) and `config` (print
the effective settings); `live`, `devices`, `report`, `review` and `batch` live in their own
modules (see `SUBCOMMANDS`). Errors are `monitor.errors.CommandError`, printed as one line;
the exit codes are `monitor.errors`' (replay: 0 ok, 2 bad usage or settings, 3 bad audio
input, 4 the alert log cannot be written).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from alerts.log import AlertLog, LogError
from monitor.config import Config, ConfigError, find_config, to_toml
from monitor.errors import (
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_SOURCE,
    EXIT_USAGE,
    CommandError,
)
from monitor.formatting import format_record
from monitor.options import (
    MAX_BLOCK_S,
    MIN_BLOCK_S,
    OFFLINE_BLOCK_S,
    REALTIME_BLOCK_S,
    add_channels_option,
    add_config_option,
    add_transcription_options,
    load_settings,
    parse_channels,
)

if TYPE_CHECKING:
    from audio.sources import FileSource
    from audio.types import Block

# The analysis stack (numpy, scipy, soxr, webrtcvad) is imported by the commands that run
# it, so `review`, `report`, `devices` and `--help` start quickly.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tonewatch",
        description="Voice-call tone and volume monitor for customer-service agents.",
        epilog="`tonewatch COMMAND --help` tells more about each command.",
    )
    parser.add_argument("--version", action="version", version=f"tonewatch {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rp = sub.add_parser(
        "replay",
        help="analyse a recorded call and print/log its alerts",
        description="Replay a recorded call through the monitor (the same pipeline as live "
        "capture): alerts print as they happen and go to the alert log.",
    )
    rp.add_argument("call", nargs="?", help="stereo call recording (WAV, FLAC, ...)")
    rp.add_argument("--agent", metavar="FILE", help="agent's mono recording (with --customer)")
    rp.add_argument("--customer", metavar="FILE", help="customer's mono recording")
    rp.add_argument(
        "--agent-channel",
        metavar="left|right",
        help="channel of the stereo file that carries the agent (default: left)",
    )
    rp.add_argument("--log", metavar="PATH", help="append alerts to this JSON Lines log (0600)")
    rp.add_argument(
        "--fast", action="store_true", help="run as fast as possible instead of real-time pace"
    )
    rp.add_argument(
        "--block-s",
        metavar="SECONDS",
        type=float,
        help=f"seconds of audio read per block (default {REALTIME_BLOCK_S:g}, with --fast "
        f"{OFFLINE_BLOCK_S:g}); the alerts and the summary do not depend on it",
    )
    add_transcription_options(rp)
    rp.add_argument("--call-id", metavar="ID", help="call id in every record (default: random)")
    rp.add_argument("--agent-name", metavar="NAME", help="agent identity stored in every record")
    rp.add_argument("--quiet", action="store_true", help="print only the summary line")
    rp.add_argument(
        "--no-view",
        action="store_true",
        help="plain lines even on a terminal (at real-time pace a terminal shows the "
        "agent's view: level meters, who is speaking, alerts with tips)",
    )
    rp.add_argument(
        "--speed",
        metavar="FACTOR",
        type=float,
        default=1.0,
        help="at real-time pace, play the call this many times faster (e.g. 2; default 1)",
    )
    rp.add_argument(
        "--web",
        action="store_true",
        help="also serve the agent's view as a page on 127.0.0.1 (its address, with a "
        "private token, is printed on stderr)",
    )
    rp.add_argument(
        "--play",
        action="store_true",
        help="also play the call through the default output device, in step with the "
        "replay (real-time pace only)",
    )
    rp.add_argument(
        "--no-tracks",
        action="store_true",
        help="leave the 10 Hz level/pitch/speech track records out of the log",
    )
    add_channels_option(rp, "CALL, or of the --agent and --customer files")
    add_config_option(rp)

    cp = sub.add_parser(
        "config",
        help="print the effective settings as TOML",
        description="Print the effective settings as TOML (reloadable with --config). The "
        "settings file is --config, else $TONEWATCH_CONFIG, else tonewatch/config.toml in "
        "the user config folder when it exists.",
    )
    add_config_option(cp)
    cp.add_argument("--path", action="store_true", help="say which settings file is used")
    for name, (module, help_text) in SUBCOMMANDS.items():
        mod = _subcommand(module)
        if mod is None:
            continue
        sp = sub.add_parser(name, help=help_text, description=mod.__doc__.split("\n\n")[0])
        mod.add_arguments(sp)
    # Commands that need the whole parser (completion) get it here, not by importing us.
    parser.set_defaults(parser=parser)
    return parser


SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "live": ("monitor.daemon", "monitor live calls beside the softphone"),
    "devices": ("monitor.devices", "list audio devices; mark loopback/monitor sources"),
    "report": ("monitor.report", "one call's alert log as a self-contained HTML report"),
    "review": ("monitor.review", "a table of many calls' alert logs, with filters and export"),
    "batch": ("monitor.batch", "analyse many recordings on a Dask cluster"),
    "service": ("monitor.service", "start `live` with the agent's session (systemd user unit)"),
    "completion": ("monitor.completion", "print a shell completion script (bash, zsh, tcsh)"),
    "index": ("monitor.index_command", "add alert logs to the call index, or rebuild it"),
    "serve": ("monitor.serve", "the QA web app over the call index"),
    "profile": ("monitor.profile", "show or reset an agent's voice profile (--agent-name)"),
}
"""Subcommands in their own modules: each has `add_arguments(parser)` and `run(args)`."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tonewatch")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _subcommand(module: str) -> Any:
    """The module of a subcommand, or None when this build does not have it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def _source(args: argparse.Namespace, cfg: Config) -> FileSource:
    from audio.sources import FileSource, SourceError

    # Offline, larger blocks cost less per second of audio and give the same alerts; at
    # real-time pace small blocks keep alerts prompt.
    block_s = OFFLINE_BLOCK_S if args.fast else REALTIME_BLOCK_S
    if args.block_s is not None:
        if not MIN_BLOCK_S <= args.block_s <= MAX_BLOCK_S:
            raise CommandError(
                f"--block-s must be from {MIN_BLOCK_S:g} to {MAX_BLOCK_S:g} seconds, "
                f"got {args.block_s:g}",
                EXIT_USAGE,
            )
        block_s = args.block_s
    if args.call and (args.agent or args.customer):
        raise CommandError("give either CALL or --agent/--customer, not both", EXIT_USAGE)
    if not args.call and not (args.agent and args.customer):
        raise CommandError("no call given: pass CALL or --agent FILE --customer FILE", EXIT_USAGE)
    channels = parse_channels(args.channels)
    try:
        if args.call:
            return FileSource(
                args.call,
                agent_channel=cfg.call.agent_channel,
                block_s=block_s,
                channels=channels,
            )
        return FileSource(
            agent_path=args.agent, customer_path=args.customer, block_s=block_s, channels=channels
        )
    except SourceError as exc:
        raise CommandError(str(exc), EXIT_SOURCE) from None


def replay(args: argparse.Namespace, out: TextIO) -> int:
    from audio.sources import paced
    from monitor.session import CallInterrupted, CallSetup, run_call

    cfg = load_settings(args)
    if args.play and args.fast:
        raise CommandError("--play needs real-time pace: leave out --fast", EXIT_USAGE)
    if not 0.1 <= args.speed <= 100:
        raise CommandError(f"--speed must be in [0.1, 100], got {args.speed}", EXIT_USAGE)
    if args.play and args.speed != 1.0:
        raise CommandError("--play plays at real time: leave out --speed", EXIT_USAGE)
    from monitor.profile import check_agent

    check_agent(args.agent_name)
    source = _source(args, cfg)
    player = _player(source) if args.play else None
    call = args.call_id or uuid.uuid4().hex[:12]
    log = None
    if args.log:
        try:
            log = AlertLog(
                args.log, inputs=[p for p in (args.call, args.agent, args.customer) if p]
            )
        except LogError as exc:
            source.close()
            if player is not None:
                player.close()
            raise CommandError(str(exc), EXIT_OUTPUT) from None
    worker, spotter, speech_note = _speech(args, cfg, call)
    if speech_note:
        print(f"tonewatch: warning: {speech_note}", file=sys.stderr)
    setup = CallSetup(
        cfg=cfg,
        call=call,
        log=log,
        agent_name=args.agent_name,
        source=args.call or [args.agent, args.customer],
        worker=worker,
        spotter=spotter,
        tracks=not args.no_tracks,
        summary_extra=lambda: {
            "input": {"channels": source.channels_used, "nonfinite_samples": source.nonfinite}
        },
    )
    blocks: Iterable[Block] = source if args.fast else paced(source, args.speed)
    with contextlib.ExitStack() as stack:
        view = None
        web = None
        if args.web:
            from monitor.webview import WebView

            web = WebView().start()
            stack.callback(web.close)
            print(f"tonewatch: the agent's view in a browser: {web.url}", file=sys.stderr)
        if (not (args.fast or args.quiet or args.no_view) and out.isatty()) or web:
            from rich.console import Console

            from monitor.view import AgentView

            console = Console(file=out, quiet=args.quiet)
            view = stack.enter_context(
                AgentView(console=console, publish=web.publish if web else None)
            )
            setup.sinks.append(view.sink)
            setup.on_snapshot = view.on_snapshot
        elif not args.quiet:
            from monitor.viewmodel import PlainLines

            setup.sinks.append(
                PlainLines(lambda text: print(text, file=out, flush=True), format_record)
            )
        if player is not None:
            warn = view.status if view is not None else _warn
            blocks = player.play(source, on_lost=warn)
        try:
            result = run_call(blocks, setup)
            if view is not None:
                view.end_call(result.summary)
        except LogError as exc:
            raise CommandError(str(exc), EXIT_OUTPUT) from None
        except CallInterrupted as stop:
            where = f"; its summary is in {args.log}" if args.log else ""
            done = stop.result.summary.get("duration_s", 0.0)
            print(
                f"tonewatch: interrupted: call {call} stopped at {done:.1f} s{where}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        finally:
            if log is not None:
                log.close()
            if player is not None:
                player.close()
    if args.log:
        from monitor.callindex import index_finished_log

        index_finished_log(args.log)
    summary, error = result.summary, result.error
    elapsed = summary["compute_s"]
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items() if v) or "no alerts"
    speed = summary["duration_s"] / elapsed if elapsed > 0 else 0.0
    print(
        f"call {call}: {summary['duration_s']:.1f} s, {counts}; "
        f"talk agent {summary['talk_s']['agent']:.1f} s / customer "
        f"{summary['talk_s']['customer']:.1f} s, overlap {summary['overlap_s']:.1f} s "
        f"({speed:.0f}x real time)",
        file=out,
    )
    if source.nonfinite and not error:  # (an all-NaN file: the error says it all)
        print(
            f"tonewatch: warning: {setup.source}: {source.nonfinite} samples were NaN or "
            "infinite (a damaged float file); they were played as silence",
            file=sys.stderr,
        )
    speech = summary.get("transcription")
    if speech and speech.get("error"):
        print(f"tonewatch: warning: transcription stopped: {speech['error']}", file=sys.stderr)
    if error:
        raise CommandError(error, EXIT_SOURCE)
    return 0


def _warn(text: str) -> None:
    print(f"tonewatch: warning: {text}", file=sys.stderr)


def _player(source: FileSource) -> Any:
    """The output device for --play, opened before anything of the call starts."""
    from monitor.view import PlaybackError, Player

    try:
        return Player()
    except PlaybackError as exc:
        source.close()
        raise CommandError(str(exc), EXIT_SOURCE) from None


def _speech(args: argparse.Namespace, cfg: Config, call: str) -> tuple[Any, Any, str | None]:
    """The transcription worker and phrase spotter, or (None, None, why not)."""
    from monitor.transcription import SpeechSetup

    # Offline fast replay waits for the model (nothing skipped); real-time pace never does.
    try:
        speech = SpeechSetup.from_args(args, cfg, "block" if args.fast else "drop_oldest")
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    worker, spotter, _ = speech.parts(call)
    return worker, spotter, speech.note


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `tonewatch`: what it can do
        parser.print_help()
        return 0
    try:
        if args.command == "replay":
            return replay(args, sys.stdout)
        if args.command == "config":
            if args.path:
                path, why = find_config(args.config)
                print(f"{path} ({why})" if path is not None else why)
                return 0
            sys.stdout.write(to_toml(load_settings(args)))
            return 0
        if args.command in SUBCOMMANDS:
            code: int = _subcommand(SUBCOMMANDS[args.command][0]).run(args)
            return code
    except CommandError as exc:
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:  # a settings error no command turned into a CommandError
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
