"""The call-log schema and its one reader, for every tool that reads logs back.

A log is JSON Lines and may hold several calls one after another (replay appends). Each
line is one record; `SCHEMA` says, per record kind, which fields the tools rely on and what
they must hold. `parse_line` turns one line into a checked record (or says why not),
`read_calls` splits a log into `CallLog`s by call id (`report`, `review`), `read_records`
yields the checked records in order (tests, tools), and `finished_summary` reads only a
log's last record (`batch` resuming).

Nothing in a log's content raises: a line that is not JSON, not an object, not a tonewatch
record, or a record whose fields break the schema (`"evidence": [1, 2]`, `"start": null`,
counts as strings, `"rate_hz": "fast"`) is skipped, and the file and line are named in a
warning. JSON's non-standard NaN/Infinity tokens (old logs) read as null. Only a file that
cannot be opened, or that holds no tonewatch record at all, is a `CallLogError`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.model import KINDS, SEVERITIES

SPEAKERS = ("agent", "customer")
RECORD_KINDS = (
    "call_start",
    "alert",
    "alert_words",
    "transcript",
    "track",
    "device",
    "call_summary",
)


MAX_LINE = 1 << 20
"""Longest record read (characters). A 5 s track record is about 2 KB and an alert under
4 KB; a longer line is skipped unparsed, so one huge line cannot take the memory or the
report's size with it."""


class CallLogError(Exception):
    """The file cannot be read as an alert log; the message names the file."""


# -- the schema ----------------------------------------------------------------------------

Check = Callable[[Any], bool]


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _text(v: Any) -> bool:
    return isinstance(v, str)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


def _count_map(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v.values()
    )


def _num_map(v: Any) -> bool:
    return isinstance(v, dict) and all(_opt(_num)(x) for x in v.values())


def _series(v: Any) -> bool:
    """One speaker's part of a track record."""
    if not isinstance(v, dict):
        return False
    for name in ("level_db", "pitch_st", "speech"):
        values = v.get(name, [])
        if not isinstance(values, list) or not all(_opt(_num)(x) for x in values):
            return False
    base = v.get("baseline")
    return base is None or (isinstance(base, dict) and _num_map(base))


MAX_CALL_S = 48 * 3600.0
"""Latest time (s into the call) a record may carry; a later one is damage, not a call."""


def _time(v: Any) -> bool:
    """Seconds into the call: finite and within 0..`MAX_CALL_S`."""
    return _num(v) and 0.0 <= v <= MAX_CALL_S


def _rate(v: Any) -> bool:
    """A track's points per second (10 as written; 0.1..100 read)."""
    return _num(v) and 0.1 <= v <= 100.0


SCHEMA: dict[str, dict[str, tuple[Check, bool]]] = {
    "call_start": {"settings": (_opt(_obj), False), "at": (_opt(_text), False)},
    "alert": {
        "kind": (_text, True),
        "speaker": (_text, True),
        "start": (_time, True),
        "end": (_time, True),
        "severity": (_text, True),
        "message": (_opt(_text), False),
        "tip": (_opt(_text), False),
        "evidence": (_opt(_obj), False),
        "text": (_opt(_text), False),
        "cue": (_opt(_text), False),
        "at": (_opt(_text), False),
    },
    "alert_words": {
        "kind": (_text, True),
        "speaker": (_text, True),
        "start": (_time, True),
        "end": (_opt(_time), False),
        "words": (_obj, True),
        "at": (_opt(_text), False),
    },
    "transcript": {
        "speaker": (_text, True),
        "start": (_time, True),
        "end": (_time, True),
        "text": (_text, True),
        "confidence": (_opt(_obj), False),
        "at": (_opt(_text), False),
    },
    "track": {
        "start": (_time, True),
        "rate_hz": (_rate, False),
        "agent": (_series, False),
        "customer": (_series, False),
    },
    "device": {
        "event": (_text, True),
        "device": (_text, True),
        "detail": (_opt(_text), False),
        "t": (_opt(_time), False),
        "at": (_opt(_text), False),
    },
    "call_summary": {
        "duration_s": (_opt(_time), False),
        "status": (_opt(_text), False),
        "counts": (_opt(_count_map), False),
        "cues": (_opt(_count_map), False),
        "talk_s": (_opt(_num_map), False),
        "overlap_s": (_opt(_num), False),
        "agent_interruptions": (_opt(_num), False),
        "customer_interruptions": (_opt(_num), False),
        "agent_backchannels": (_opt(_num), False),
        "elevated_s": (_opt(_obj), False),
        "compute_s": (_opt(_num), False),
        "at": (_opt(_text), False),
    },
}
"""Per record kind: field -> (what it must hold, required). Every record also has
``"record"`` (one of `RECORD_KINDS`) and may have ``"call"`` and (except a track, whose
``"agent"`` is the agent's series) ``"agent"``, the agent's name (text)."""


def _nan_to_null(token: str) -> None:
    return None


def parse_line(line: str | bytes) -> tuple[dict[str, Any] | None, str]:
    """One log line as a checked record, or (None, why it is not one)."""
    if len(line) > MAX_LINE:
        return None, f"over {MAX_LINE // 1024} KB, not a record tonewatch writes"
    try:
        rec = json.loads(line, parse_constant=_nan_to_null)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None, "not JSON (damaged or cut short)"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    kind = rec.get("record")
    if kind not in RECORD_KINDS:
        return None, "not a tonewatch record"
    for name in ("call", "agent") if kind != "track" else ("call",):
        if name in rec and not _opt(_text)(rec[name]) and not _num(rec[name]):
            return None, f"{kind} record: {name} must be text"
    for name, (check, required) in SCHEMA[kind].items():
        if name not in rec:
            if required:
                return None, f"{kind} record has no {name}"
            continue
        if not check(rec[name]):
            return None, f"{kind} record: bad {name} ({_short(rec[name])})"
    return rec, ""


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return text if len(text) <= 40 else text[:37] + "..."


class _Skips:
    """Lines skipped in one file, reported as one warning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[tuple[int, str]] = []

    def add(self, number: int, why: str) -> None:
        self.lines.append((number, why))

    def warning(self, partial_last: int | None) -> str | None:
        if not self.lines:
            return None
        if len(self.lines) == 1 and self.lines[0][0] == partial_last:
            return f"{self.path}: skipped a partial last line (line {partial_last}): cut short"
        shown = "; ".join(f"line {n}: {why}" for n, why in self.lines[:3])
        more = f"; and {len(self.lines) - 3} more" if len(self.lines) > 3 else ""
        return f"{self.path}: skipped {len(self.lines)} bad line(s) ({shown}{more})"


# -- calls ---------------------------------------------------------------------------------


@dataclass
class CallLog:
    """One call's records from one log file (each record checked against `SCHEMA`)."""

    path: Path
    call: str
    start: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    """Live capture's device events (lost, back, overflow, ...)."""
    summary: dict[str, Any] | None = None
    track_records: int = 0
    track_end_s: float = 0.0

    @property
    def complete(self) -> bool:
        """The call reached its `call_summary` (whatever its status)."""
        return self.summary is not None

    @property
    def agent(self) -> str | None:
        for rec in (self.start, self.summary, *self.alerts, *self.transcripts):
            if rec and rec.get("agent"):
                return str(rec["agent"])
        return None

    @property
    def started_at(self) -> datetime | None:
        """Wall-clock time the call started (call_start), else of its first stamped record."""
        for rec in (self.start, *self.alerts, *self.transcripts, self.summary):
            if rec and rec.get("at"):
                try:
                    return datetime.fromisoformat(str(rec["at"]))
                except ValueError:
                    continue
        return None

    @property
    def duration_s(self) -> float:
        if self.summary and _num(self.summary.get("duration_s")):
            return float(self.summary["duration_s"])
        ends = [float(a["end"]) for a in (*self.alerts, *self.transcripts)]
        return max([self.track_end_s, *ends, 0.0])

    def counts(self) -> dict[str, int]:
        """Alerts per kind, counted from the alert records (all kinds, zeros included)."""
        out = dict.fromkeys(KINDS, 0)
        for a in self.alerts:
            kind = str(a["kind"])
            out[kind] = out.get(kind, 0) + 1
        return out

    def cue_counts(self) -> dict[str, int]:
        """Phrase cues per `speaker.cue`, from the summary or else from the alerts."""
        if self.summary and isinstance(self.summary.get("cues"), dict):
            return {str(k): int(v) for k, v in self.summary["cues"].items()}
        out: dict[str, int] = {}
        for a in self.alerts:
            if a.get("kind") == "phrase" and a.get("cue"):
                key = f"{a.get('speaker')}.{a['cue']}"
                out[key] = out.get(key, 0) + 1
        return out

    def worst(self) -> dict[str, Any] | None:
        """The worst moment: the most severe alert, the strongest evidence breaking ties."""
        if not self.alerts:
            return None
        return max(self.alerts, key=lambda a: (severity_rank(a.get("severity")), _strength(a)))


def severity_rank(severity: Any) -> int:
    """0 info, 1 warning, 2 critical; -1 for anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _strength(alert: dict[str, Any]) -> float:
    ev = alert.get("evidence") or {}
    names = ("level_over_baseline_db", "pitch_change_st", "overlap_s")
    values: list[Any] = [ev.get(name) for name in names]
    return max([float(v) for v in values if _num(v)] + [0.0])


_TRACK_HEAD = re.compile(
    r'\{"record": "track", "call": ("(?:[^"\\]|\\.)*"), "start": '
    r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?), \"rate_hz\": (\d+(?:\.\d+)?)"
)


def read_calls(path: str | Path, warnings: list[str], tracks: bool = True) -> list[CallLog]:
    """The calls in one log, in the order they start.

    `tracks=False` skips parsing the (large) series of track records, which `review` does
    not need: their call and extent are read from the record's head. Bad lines and calls
    without a `call_summary` add to `warnings`.

    Raises:
        CallLogError: the file cannot be opened or read, or holds no tonewatch records.
    """
    path = Path(path)
    calls: dict[str, CallLog] = {}
    skips = _Skips(path)
    seen = [0]  # records read so far (shared with `_lines`)
    number = 0
    partial_last: int | None = None
    for number, line, partial in _lines(path, warnings, seen):
        partial_last = number if partial else None
        if not tracks and not partial and len(line) <= MAX_LINE:
            head = _TRACK_HEAD.match(line, 0, 300)
            if head is not None:
                _count_track(calls, path, head)
                seen[0] += 1
                continue
        rec, why = parse_line(line)
        if rec is None:
            skips.add(number, why)
            continue
        seen[0] += 1
        _add(calls, path, rec)
    if not seen[0] and number == 0:
        raise CallLogError(f"{path}: empty file, not a tonewatch alert log")
    if not seen[0]:
        raise CallLogError(f"{path}: not a tonewatch alert log (no tonewatch records)")
    note = skips.warning(partial_last)
    if note:
        warnings.append(note)
    for call in calls.values():
        if not call.complete:
            warnings.append(
                f"{path}: call {call.call} has no call_summary (cut short, e.g. by a crash); "
                "its summary is worked out from the records"
            )
    return list(calls.values())


def read_records(path: str | Path, warnings: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The checked records of a log in file order; bad lines are skipped and, when
    `warnings` is given, named there (one warning per file).

    Raises:
        CallLogError: the file cannot be opened or read.
    """
    path = Path(path)
    sink: list[str] = [] if warnings is None else warnings
    skips = _Skips(path)
    partial_last: int | None = None
    count = [0]
    for number, line, partial in _lines(path, sink, count):
        partial_last = number if partial else None
        rec, why = parse_line(line)
        if rec is None:
            skips.add(number, why)
            continue
        count[0] += 1
        yield rec
    note = skips.warning(partial_last)
    if note:
        sink.append(note)


def _lines(path: Path, warnings: list[str], seen: list[int]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, is a last line with no newline) for each non-blank line."""
    try:
        fh = open(path, encoding="utf-8", errors="strict")  # noqa: SIM115
    except IsADirectoryError:
        raise CallLogError(f"{path}: is a folder, not an alert log") from None
    except OSError as exc:
        raise CallLogError(f"{path}: cannot read ({_why(exc)})") from None
    with fh:
        number = 0
        try:
            for number, line in enumerate(fh, 1):  # noqa: B007
                if line.strip():
                    yield number, line, not line.endswith("\n")
        except UnicodeDecodeError:
            if not seen[0]:
                raise CallLogError(f"{path}: not a tonewatch alert log (binary data)") from None
            warnings.append(f"{path}: unreadable bytes after line {number}; read up to there")
        except OSError as exc:
            raise CallLogError(f"{path}: cannot read ({_why(exc)})") from None


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def _call(calls: dict[str, CallLog], path: Path, call_id: Any) -> CallLog:
    key = str(call_id) if call_id not in (None, "") else "?"
    if key not in calls:
        calls[key] = CallLog(path=path, call=key)
    return calls[key]


def _count_track(calls: dict[str, CallLog], path: Path, head: re.Match[str]) -> None:
    """Account for a track line from its head alone (its call and where it starts)."""
    call = _call(calls, path, json.loads(head.group(1)))
    call.track_records += 1
    # Each track record covers 5 s by default; the last may be shorter.
    call.track_end_s = max(call.track_end_s, float(head.group(2)) + 5.0)


def _add(calls: dict[str, CallLog], path: Path, rec: dict[str, Any]) -> None:
    kind = rec["record"]
    call = _call(calls, path, rec.get("call"))
    if kind == "call_start":
        call.start = rec
    elif kind == "alert":
        call.alerts.append(rec)
    elif kind == "alert_words":
        _fold_words(call, rec)
    elif kind == "transcript":
        call.transcripts.append(rec)
    elif kind == "track":
        call.tracks.append(rec)
        call.track_records += 1
        call.track_end_s = max(call.track_end_s, track_end(rec))
    elif kind == "device":
        call.devices.append(rec)
    elif kind == "call_summary":
        call.summary = rec


def _fold_words(call: CallLog, rec: dict[str, Any]) -> None:
    """Words heard after an alert went out become that alert's ``evidence.words`` (the
    latest alert of that kind, speaker and start; none such: the record is ignored)."""
    for alert in reversed(call.alerts):
        same = alert["kind"] == rec["kind"] and alert["speaker"] == rec["speaker"]
        if same and abs(float(alert["start"]) - float(rec["start"])) < 1e-3:
            alert["evidence"] = {**(alert.get("evidence") or {}), "words": rec["words"]}
            return


def track_end(rec: dict[str, Any]) -> float:
    """Seconds into the call where a (checked) track record's series end."""
    rate = float(rec.get("rate_hz") or 10)
    n = len((rec.get("agent") or {}).get("level_db") or [])
    return float(rec.get("start") or 0.0) + n / rate


def finished_summary(path: str | Path) -> dict[str, Any] | None:
    """The log's last record if it is a checked `call_summary` with status "complete"
    (the call finished cleanly), else None. Reads only the end of the file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            span = 4096
            while True:
                fh.seek(max(0, size - span))
                tail = fh.read()
                if not tail.endswith(b"\n"):
                    return None
                lines = tail[:-1].rsplit(b"\n", 1)
                if len(lines) == 2 or span >= size:
                    break
                span *= 4
    except OSError:
        return None
    rec, _ = parse_line(lines[-1])
    if rec is not None and rec["record"] == "call_summary" and rec.get("status") == "complete":
        return rec
    return None
