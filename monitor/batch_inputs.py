"""Which calls a batch holds: recordings found from the command line's INPUTS.

An input is a file (taken as given, whatever its name), a folder (walked recursively for
files with an audio extension soundfile knows) or a glob (``calls/**/*.wav``). Each file is
one stereo call, unless a pair pattern is given: files whose names match the agent or the
customer pattern (``{call}_agent.*`` / ``{call}_customer.*``) in the same folder are joined
into one call whose id is the ``{call}`` part. A file matching one side with no partner is
returned as an `Orphan`, so the batch can report it instead of losing it silently.

Call ids are paths relative to the input they came from, without the extension
(``day1/call17``), so a folder tree maps onto the same tree of logs and reruns find the
same ids. Ids that still collide get a short hash of the file's path appended. Paths are
made absolute, so workers need not share the driver's working folder. Nothing here opens
audio; this runs on the batch driver before any work is sent out.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

AUDIO_EXTENSIONS = frozenset(
    {f".{ext.lower()}" for ext in sf.available_formats()} | {".oga", ".opus", ".aif"}
)
"""Extensions picked up when walking folders (globs and named files take any file)."""

CALL_FIELD = "{call}"


class InputError(Exception):
    """The batch inputs cannot be used as given; the message is one line."""


@dataclass(frozen=True)
class CallJob:
    """One call to analyse.

    Attributes:
        call: the call id (also the log's name below the output folder, plus ``.jsonl``).
        paths: one stereo file, or (agent file, customer file).
        size_bytes: total size of the input files, used to start long calls first.
    """

    call: str
    paths: tuple[str, ...]
    size_bytes: int = 0

    @property
    def paired(self) -> bool:
        return len(self.paths) == 2


@dataclass(frozen=True)
class Orphan:
    """A file that matched one side of the pair pattern but has no partner."""

    call: str
    path: str
    missing: str
    """"agent" or "customer": the side with no file."""


@dataclass(frozen=True)
class _Found:
    path: Path
    root: Path


def _is_glob(text: str) -> bool:
    return glob.has_magic(text)


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if _is_glob(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _walk(folder: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS and not name.startswith("."):
                yield Path(dirpath) / name


def find_files(inputs: Sequence[str], exclude: Path | None = None) -> list[_Found]:
    """Every file named, walked or matched by `inputs`, once each, in a stable order.

    Raises:
        InputError: a named file or folder does not exist.
    """
    found: dict[Path, _Found] = {}
    skip = exclude.resolve() if exclude is not None else None

    def add(path: Path, root: Path) -> None:
        real = path.resolve()
        if skip is not None and real.is_relative_to(skip):
            return
        found.setdefault(real, _Found(path.absolute(), root.absolute()))

    for text in inputs:
        if _is_glob(text):
            root = _glob_root(text)
            for match in sorted(glob.glob(text, recursive=True)):
                if os.path.isfile(match):
                    add(Path(match), root)
            continue
        path = Path(text)
        if path.is_dir():
            for file in _walk(path):
                add(file, path)
        elif path.exists():
            add(path, path.parent)
        else:
            raise InputError(f"{text}: no such file or folder")
    return list(found.values())


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A file-name pattern with one ``{call}`` field (and * ? wildcards) as a regex."""
    if pattern.count(CALL_FIELD) != 1:
        raise InputError(f"pair pattern {pattern!r} must contain {CALL_FIELD} exactly once")
    if "/" in pattern or os.sep in pattern:
        raise InputError(f"pair pattern {pattern!r} matches file names only, not folders")
    head, tail = pattern.split(CALL_FIELD)

    def part(text: str) -> str:
        return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)

    return re.compile(f"{part(head)}(?P<call>.+?){part(tail)}", re.IGNORECASE)


def _call_id(found: _Found, stem: str) -> str:
    rel = os.path.relpath(found.path.parent.resolve(), found.root.resolve())
    parts = [p for p in Path(rel).parts if p not in (".", "..")]
    return "/".join([*parts, stem])


def _size(paths: Iterable[str]) -> int:
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def plan_calls(
    files: Sequence[_Found], pair_pattern: tuple[str, str] | None = None
) -> tuple[list[CallJob], list[Orphan]]:
    """Group found files into calls (stereo files, agent/customer pairs) with unique ids."""
    jobs: list[CallJob] = []
    orphans: list[Orphan] = []
    if pair_pattern is None:
        for f in files:
            jobs.append(CallJob(_call_id(f, f.path.stem), (str(f.path),)))
    else:
        agent_re, customer_re = (pattern_regex(p) for p in pair_pattern)
        sides: dict[tuple[Path, str], dict[str, _Found]] = {}
        for f in files:
            for side, rx in (("agent", agent_re), ("customer", customer_re)):
                m = rx.fullmatch(f.path.name)
                if m is not None:
                    key = (f.path.parent.resolve(), m.group("call"))
                    sides.setdefault(key, {})[side] = f
                    break
            else:
                jobs.append(CallJob(_call_id(f, f.path.stem), (str(f.path),)))
        for (_, name), pair in sides.items():
            any_file = pair.get("agent") or pair["customer"]
            call = _call_id(any_file, name)
            if "agent" in pair and "customer" in pair:
                paths = (str(pair["agent"].path), str(pair["customer"].path))
                jobs.append(CallJob(call, paths))
            else:
                missing = "customer" if "agent" in pair else "agent"
                orphans.append(Orphan(call, str(any_file.path), missing))
    jobs = _unique(jobs)
    jobs = [CallJob(j.call, j.paths, _size(j.paths)) for j in jobs]
    return sorted(jobs, key=lambda j: j.call), orphans


def _unique(jobs: list[CallJob]) -> list[CallJob]:
    """Give calls that share an id a suffix from a hash of their first file's path."""
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.call] = counts.get(j.call, 0) + 1
    out = []
    for j in jobs:
        if counts[j.call] > 1:
            digest = hashlib.sha1(str(Path(j.paths[0]).resolve()).encode()).hexdigest()[:8]
            j = CallJob(f"{j.call}-{digest}", j.paths)
        out.append(j)
    return out


def discover(
    inputs: Sequence[str],
    pair_pattern: tuple[str, str] | None = None,
    exclude: Path | None = None,
) -> tuple[list[CallJob], list[Orphan]]:
    """The calls in `inputs` (see the module docstring); `exclude` is a folder to leave out.

    Raises:
        InputError: a named input is missing, or a pair pattern is malformed.
    """
    if pair_pattern is not None:
        for p in pair_pattern:
            pattern_regex(p)
    return plan_calls(find_files(inputs, exclude), pair_pattern)
