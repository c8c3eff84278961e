"""The agent's voice profile (`tonewatch profile show|reset NAME`), and its store.

An agent is the same person with the same headset on every call, so their calm voice is
known before they say a word: per agent name (`--agent-name`), the level, pitch and spectral
balance of their calm speech and the size of their calm level swings, learned over past
calls. `run_call` seeds the agent's baseline with it from the first second and updates it at
the end of each call from that call's calm speech (an average over about the last
`PROFILE_CALLS` calls). Without a name the agent's baseline is learned in the call, as for
the customer.

Profiles are JSON files in the user data folder (platformdirs `user_data_dir("tonewatch")`,
`profiles/NAME.json`); the folders are 0700 and the files 0600, written atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alerts.model import now_iso
from audio.baseline import VoiceStats

PROFILE_CALLS = 10
"""A new call weighs 1/n of the profile for its first n calls, then 1/PROFILE_CALLS."""
MIN_CALM_S = 10.0
"""Calm voiced speech (s) a call needs before it updates the profile."""
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class ProfileError(Exception):
    """A profile name or file is wrong; the message is one line."""


@dataclass(frozen=True)
class VoiceProfile:
    """An agent's calm voice over past calls."""

    name: str
    calls: int
    level_db: float
    pitch_st: float
    balance_db: float
    raised_db: float
    updated: str = ""

    @property
    def stats(self) -> VoiceStats:
        return VoiceStats(self.level_db, self.pitch_st, self.balance_db)


def profile_dir() -> Path:
    """Where profiles live (created 0700 on first write)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("tonewatch", appauthor=False)) / "profiles"


def _path(name: str) -> Path:
    if not _NAME_RE.match(name):
        raise ProfileError(
            f"agent name {name!r}: use 1-64 letters, digits, '.', '_', '-' or '@' "
            "(starting with a letter or digit)"
        )
    return profile_dir() / f"{name}.json"


def load(name: str) -> VoiceProfile | None:
    """The agent's profile, or None when there is none yet."""
    path = _path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        prof = VoiceProfile(**{k: data[k] for k in VoiceProfile.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProfileError(f"{path}: not a voice profile ({exc}); {_reset(name)}") from None
    bad = [k for k in _NUMBERS if not _finite(getattr(prof, k))]
    if not isinstance(prof.calls, int) or isinstance(prof.calls, bool) or prof.calls < 1:
        bad.insert(0, "calls")
    if bad:
        raise ProfileError(f"{path}: not a voice profile (bad {', '.join(bad)}); {_reset(name)}")
    return prof


_NUMBERS = ("level_db", "pitch_st", "balance_db", "raised_db")


def _reset(name: str) -> str:
    return f"`tonewatch profile reset {name}` starts it again"


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_agent(name: str | None) -> None:
    """Before a call (replay, live, batch): a name that cannot be an agent's is the user's
    mistake, and the command stops (`CommandError`, exit 2); a stored profile that cannot
    be read is one warning on stderr, and the call goes on from its own baseline, as
    without a name (its summary says so too)."""
    from monitor.errors import EXIT_USAGE, CommandError

    if not name:
        return
    try:
        _path(name)
    except ProfileError as exc:
        raise CommandError(f"--agent-name: {exc}", EXIT_USAGE) from None
    try:
        load(name)
    except ProfileError as exc:
        print(
            f"tonewatch: warning: {exc}; this call learns the agent's voice in the call",
            file=sys.stderr,
        )


def _write(path: Path, profile: VoiceProfile) -> None:
    for folder in (path.parent.parent, path.parent):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".profile-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(profile), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update(name: str, calm: VoiceStats, raised_db: float, calm_s: float) -> VoiceProfile | None:
    """Fold one call's calm voice into the agent's profile; returns the new profile, or
    None when the call had too little calm speech to say anything."""
    if calm_s < MIN_CALM_S:
        return None
    old = load(name)
    n = 0 if old is None else old.calls
    w = 1.0 / min(n + 1, PROFILE_CALLS)

    def mix(prev: float | None, new: float) -> float:
        return round(new if prev is None else prev + w * (new - prev), 2)

    new = VoiceProfile(
        name=name,
        calls=n + 1,
        level_db=mix(None if old is None else old.level_db, calm.level_db),
        pitch_st=mix(None if old is None else old.pitch_st, calm.pitch_st),
        balance_db=mix(None if old is None else old.balance_db, calm.balance_db),
        raised_db=mix(None if old is None else old.raised_db, raised_db),
        updated=now_iso(),
    )
    _write(_path(name), new)
    return new


def reset(name: str) -> bool:
    """Forget the agent's profile; False when there was none."""
    try:
        _path(name).unlink()
    except FileNotFoundError:
        return False
    return True


def describe(p: VoiceProfile) -> list[str]:
    hz = 100.0 * 2 ** (p.pitch_st / 12)
    return [
        f"agent {p.name}: {p.calls} call(s), updated {p.updated}",
        f"  level    {p.level_db:6.1f} dB (K-weighted, calm speech)",
        f"  pitch    {p.pitch_st:6.2f} st re 100 Hz ({hz:.0f} Hz)",
        f"  balance  {p.balance_db:6.1f} dB (1-3.4 kHz minus 0.3-1 kHz)",
        f"  raised   {p.raised_db:6.1f} dB over calm makes the voice raised",
    ]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("show", "reset"), help="show or forget a profile")
    p.add_argument("name", help="the agent's name, as given to --agent-name")


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "show":
            prof = load(args.name)
            if prof is None:
                print(f"no voice profile for {args.name} yet ({_path(args.name)})")
                return 1
            print("\n".join(describe(prof)))
            return 0
        if reset(args.name):
            print(f"voice profile of {args.name} removed")
        else:
            print(f"no voice profile for {args.name}")
        return 0
    except (ProfileError, OSError) as exc:
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return 2


def as_record(p: VoiceProfile) -> dict[str, Any]:
    """The profile as stored (for tests and the call summary)."""
    return asdict(p)
