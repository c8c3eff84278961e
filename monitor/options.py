"""Command-line options shared by several subcommands, and the settings they lead to.

`add_config_option` and `add_transcription_options` add the same options with the same
help everywhere; `load_settings` turns `--config` (and `--agent-channel` where a command
has it) into validated settings, or a `CommandError` with exit code 2.
"""

from __future__ import annotations

import argparse

from monitor.config import Config, ConfigError, find_config, load_config, with_overrides
from monitor.errors import EXIT_USAGE, CommandError

OFFLINE_BLOCK_S = 5.0
"""Seconds of audio per block when nothing waits on the result (`replay --fast`, batch).
Larger blocks cost less per second of audio; the results do not depend on the size."""
MIN_BLOCK_S, MAX_BLOCK_S = 0.001, 60.0
"""Range of `replay --block-s`, seconds (one block is held in memory)."""
REALTIME_BLOCK_S = 0.1
"""Seconds of audio per block at real-time pace (`replay` without `--fast`): alerts stay
prompt."""


def add_config_option(p: argparse.ArgumentParser) -> None:
    """`--config TOML`."""
    p.add_argument("--config", metavar="TOML", help="settings file (see `tonewatch config`)")


def add_transcription_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The transcription options shared by replay, live and batch.

    The model's device is `--whisper-device` in every command: `--device` is only ever a
    sound device (`live`).
    """
    p.add_argument(
        "--no-transcribe", action="store_true", help="acoustic alerts only, no transcription"
    )
    p.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help="Whisper model: a CTranslate2 folder or a faster-whisper name already on this "
        "machine (default: the embedded tiny.en)",
    )
    p.add_argument(
        "--whisper-device", metavar="DEV", help="Whisper's device: cpu | cuda | auto (default: cpu)"
    )
    p.add_argument("--compute-type", metavar="TYPE", help="CTranslate2 type (default: int8)")
    p.add_argument("--language", metavar="CODE", help="spoken language (default: en)")
    redact = p.add_mutually_exclusive_group()
    redact.add_argument(
        "--redact",
        dest="redact",
        action="store_true",
        default=None,
        help="mask digit runs (card, account numbers) in logged text (default)",
    )
    redact.add_argument(
        "--no-redact", dest="redact", action="store_false", help="log transcripts unmasked"
    )


def add_channels_option(p: argparse.ArgumentParser, whose: str) -> None:
    """`--channels A,C`: the channels (from 1) that carry the agent and the customer."""
    p.add_argument(
        "--channels",
        metavar="A,C",
        help=f"channels (from 1) that carry the agent and the customer: of {whose}; needed "
        "when a call file has more than two channels or a speaker's file more than one",
    )


def parse_channels(text: str | None) -> tuple[int, int] | None:
    """The agent's and the customer's channel from `--channels A,C`, or None.

    Raises:
        CommandError: not two channel numbers from 1 (exit code 2).
    """
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise CommandError(
            f"--channels {text!r}: give the agent's and the customer's channel, e.g. 1,2",
            EXIT_USAGE,
        )
    return int(parts[0]), int(parts[1])


def load_settings(args: argparse.Namespace) -> Config:
    """The settings from `--config`, with `--agent-channel` applied when given.

    Raises:
        CommandError: a bad settings file or option (exit code 2).
    """
    try:
        cfg = load_config(find_config(getattr(args, "config", None))[0])
        channel = getattr(args, "agent_channel", None)
        if channel is not None and channel not in ("left", "right"):
            raise ConfigError(f"--agent-channel must be left or right, got {channel!r}")
        if channel:
            cfg = with_overrides(cfg, call={"agent_channel": channel})
        return cfg
    except ConfigError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
