"""Start `tonewatch live` with the agent's session: `tonewatch service install|uninstall`.

`install -- LIVE OPTIONS` checks the options as `live` would read them, then writes a
systemd user unit (`$XDG_CONFIG_HOME/systemd/user/tonewatch.service`, 0600) whose
`ExecStart` runs this Python's `-m monitor live` with those options (relative paths made
absolute), and enables and starts it with `systemctl --user` unless `--no-enable`.
`--print` shows the unit without writing anything. `uninstall` stops, disables and
removes it. With no terminal, `live` prints plain lines, which go to the user's journal
(`journalctl --user -u tonewatch`). macOS (a launchd agent) and Windows (a Task Scheduler
logon task) are described in docs/live.md. Exit codes: 0 ok, 2 bad options or not Linux,
4 the unit cannot be written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

UNIT = "tonewatch.service"
PATH_OPTIONS = ("--config", "--log-dir", "--model")
"""Options of `live` naming files: made absolute, as the service does not start here."""


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-enable",
        action="store_true",
        help="only write (or remove) the unit; do not run systemctl --user",
    )
    parser.add_argument("--print", action="store_true", help="print the unit, write nothing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "uninstall"), help="what to do")
    _options(parser)
    parser.add_argument(
        "live_args",
        nargs=argparse.REMAINDER,
        metavar="-- LIVE OPTIONS",
        help="the options `tonewatch live` runs with, after --, e.g. -- --mic 3 "
        "--loopback 5 --agent-name dana",
    )


def _split(args: argparse.Namespace) -> list[str]:
    """The live options: what follows the service's own options (and `--`)."""
    rest = list(args.live_args)
    while rest and rest[0] in ("--no-enable", "--print"):
        setattr(args, rest.pop(0)[2:].replace("-", "_"), True)
    return rest[1:] if rest[:1] == ["--"] else rest


def unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT


def _quote(arg: str) -> str:
    """One argument for a systemd ExecStart= line."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in " \t\"'\\;"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def live_command(live_args: list[str]) -> list[str]:
    """`python -m monitor live ...` with the agent's options, checked as `live` reads them.

    Raises:
        ServiceError: the options are not ones `live` accepts.
    """
    from monitor import daemon

    args = list(live_args)
    check = argparse.ArgumentParser(prog="tonewatch live", add_help=False, exit_on_error=False)
    daemon.add_arguments(check)
    try:
        parsed, unknown = check.parse_known_args(args)
    except argparse.ArgumentError as exc:
        raise ServiceError(f"live option {exc}") from None
    if unknown:
        raise ServiceError(f"not an option of `tonewatch live`: {' '.join(unknown)}")
    if not (parsed.device or (parsed.mic and parsed.loopback)):
        raise ServiceError(
            "say where the call is heard: install -- --mic DEV --loopback DEV, or -- --device "
            "DEV --channels A,C (see `tonewatch devices`)"
        )
    for i, arg in enumerate(args):
        for opt in PATH_OPTIONS:
            if arg == opt and i + 1 < len(args):
                if opt != "--model" or Path(args[i + 1]).exists():
                    args[i + 1] = str(Path(args[i + 1]).expanduser().resolve())
            elif arg.startswith(opt + "="):
                args[i] = f"{opt}={Path(arg[len(opt) + 1 :]).expanduser().resolve()}"
    return [sys.executable, "-m", "monitor", "live", *args]


def unit_text(command: list[str]) -> str:
    return (
        "# Written by `tonewatch service install`; remove with `tonewatch service uninstall`.\n"
        "[Unit]\n"
        "Description=tonewatch: call tone and volume monitor for the agent\n"
        "After=pipewire-pulse.service pulseaudio.service\n\n"
        "[Service]\n"
        f"ExecStart={' '.join(_quote(a) for a in command)}\n"
        "Environment=PYTHONUNBUFFERED=1\n"
        "Restart=on-failure\n"
        "RestartSec=10\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


class ServiceError(Exception):
    """One line for the user; `code` is the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _systemctl(*args: str) -> str | None:
    """Run `systemctl --user ARGS`; None when it worked, else why not."""
    exe = shutil.which("systemctl")
    if exe is None:
        return "systemctl is not installed"
    try:
        r = subprocess.run(
            [exe, "--user", *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
    return None


def install(args: argparse.Namespace) -> int:
    text = unit_text(live_command(_split(args)))
    if args.print:
        sys.stdout.write(text)
        return 0
    path = unit_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ServiceError(f"{path}: cannot write the unit ({exc.strerror})", 4) from None
    print(f"wrote {path}")
    if args.no_enable:
        print(f"start it: systemctl --user daemon-reload; systemctl --user enable --now {UNIT}")
        return 0
    why = _systemctl("daemon-reload") or _systemctl("enable", "--now", UNIT)
    if why:
        print(
            f"tonewatch: warning: could not enable the service ({why}); run "
            f"`systemctl --user enable --now {UNIT}` in the agent's session",
            file=sys.stderr,
        )
    else:
        print(f"enabled and started {UNIT}: logs with `journalctl --user -u tonewatch`")
    return 0


def uninstall(args: argparse.Namespace) -> int:
    path = unit_path()
    if not path.exists():
        print(f"no tonewatch service installed ({path} does not exist)")
        return 0
    if not args.no_enable:
        why = _systemctl("disable", "--now", UNIT)
        if why:
            print(f"tonewatch: warning: systemctl could not stop it ({why})", file=sys.stderr)
    try:
        path.unlink()
    except OSError as exc:
        raise ServiceError(f"{path}: cannot remove the unit ({exc.strerror})", 4) from None
    if not args.no_enable:
        _systemctl("daemon-reload")
    print(f"removed {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if not sys.platform.startswith("linux"):
            raise ServiceError(
                "service install writes a systemd user unit (Linux); for macOS (launchd) and "
                "Windows (Task Scheduler) see docs/live.md"
            )
        if args.action == "uninstall":
            if _split(args):
                raise ServiceError("uninstall takes no live options")
            return uninstall(args)
        return install(args)
    except ServiceError as exc:
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code
