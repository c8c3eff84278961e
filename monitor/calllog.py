"""Alert logs read back as calls, for the QA tools (`report` and `review`).

A log is JSON Lines and may hold several calls one after another (replay appends). This
module splits it into `CallLog`s by call id, and works out a summary from the records when
a call has no `call_summary` because it was cut short. It never raises on damaged content:
a partial or damaged line becomes a warning; only a file that cannot be opened, or one
holding no tonewatch records at all, is a `CallLogError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.model import KINDS, SEVERITIES

SPEAKERS = ("agent", "customer")
RECORD_KINDS = {"call_start", "alert", "transcript", "track", "call_summary"}
_TRACK_PREFIX = '{"record": "track"'
MAX_LINE = 1 << 20
"""Longest record read (characters). A 5 s track record is about 2 KB and an alert under
4 KB; a longer line is skipped unparsed, so one huge line cannot take the memory or the
report's size with it."""


class CallLogError(Exception):
    """The file cannot be read as an alert log; the message names the file."""


@dataclass
class CallLog:
    """One call's records from one log file."""

    path: Path
    call: str
    start: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)
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
        if self.summary and isinstance(self.summary.get("duration_s"), (int, float)):
            return float(self.summary["duration_s"])
        ends = [float(a.get("end", 0.0)) for a in (*self.alerts, *self.transcripts)]
        return max([self.track_end_s, *ends, 0.0])

    def counts(self) -> dict[str, int]:
        """Alerts per kind, counted from the alert records (all kinds, zeros included)."""
        out = dict.fromkeys(KINDS, 0)
        for a in self.alerts:
            kind = str(a.get("kind"))
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
    values = [
        ev.get("level_over_baseline_db"),
        ev.get("pitch_change_st"),
        ev.get("overlap_s"),
    ]
    return max([float(v) for v in values if isinstance(v, (int, float))] + [0.0])


def read_calls(path: str | Path, warnings: list[str], tracks: bool = True) -> list[CallLog]:
    """The calls in one log, in the order they start.

    `tracks=False` skips parsing the (large) track records, which `review` does not need;
    their extent is still measured from the line's `start` so a cut-short call gets a
    duration. Damaged lines and calls without a `call_summary` add to `warnings`.

    Raises:
        CallLogError: the file cannot be opened or read, or holds no tonewatch records.
    """
    path = Path(path)
    calls: dict[str, CallLog] = {}
    seen = 0
    damaged: list[int] = []
    oversized: list[int] = []
    partial_last = False
    try:
        fh = open(path, encoding="utf-8", errors="strict")  # noqa: SIM115
    except OSError as exc:
        raise CallLogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        number = 0
        try:
            for number, line in enumerate(fh, 1):  # noqa: B007
                if not line.strip():
                    continue
                partial_last = not line.endswith("\n")
                if len(line) > MAX_LINE:
                    oversized.append(number)
                    continue
                if not tracks and line.startswith(_TRACK_PREFIX) and not partial_last:
                    _count_track(calls, path, line)
                    seen += 1
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    damaged.append(number)
                    continue
                if not isinstance(rec, dict) or rec.get("record") not in RECORD_KINDS:
                    damaged.append(number)
                    continue
                seen += 1
                _add(calls, path, rec)
        except UnicodeDecodeError:
            if not seen:
                raise CallLogError(f"{path}: not a tonewatch alert log (binary data)") from None
            warnings.append(f"{path}: unreadable bytes after line {number}; read up to there")
        except OSError as exc:
            raise CallLogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not seen and number == 0:
        raise CallLogError(f"{path}: empty file, not a tonewatch alert log")
    if not seen:
        raise CallLogError(f"{path}: not a tonewatch alert log (no tonewatch records)")
    if oversized:
        warnings.append(
            f"{path}: skipped {len(oversized)} line(s) over {MAX_LINE // 1024} KB "
            f"({_lines(oversized)}): not a record tonewatch writes"
        )
    if damaged:
        last = damaged[-1] == number and partial_last
        what = "a partial last line" if last and len(damaged) == 1 else f"{len(damaged)} damaged"
        lines = "" if last and len(damaged) == 1 else f" line(s) ({_lines(damaged)})"
        warnings.append(f"{path}: skipped {what}{lines}: the log was cut short or damaged")
    for call in calls.values():
        if not call.complete:
            warnings.append(
                f"{path}: call {call.call} has no call_summary (cut short, e.g. by a crash); "
                "its summary is worked out from the records"
            )
    return list(calls.values())


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (", ..." if len(numbers) > 5 else "")


def _call(calls: dict[str, CallLog], path: Path, call_id: Any) -> CallLog:
    key = str(call_id) if call_id else "?"
    if key not in calls:
        calls[key] = CallLog(path=path, call=key)
    return calls[key]


def _count_track(calls: dict[str, CallLog], path: Path, line: str) -> None:
    """Account for a track line without parsing its series (only its call and extent)."""
    call_at = line.find('"call": "')
    start_at = line.find('"start": ')
    if call_at < 0 or start_at < 0:
        return
    call_id = line[call_at + 9 : line.find('"', call_at + 9)]
    end = start_at + 9
    while end < len(line) and line[end] in "0123456789.-e":
        end += 1
    call = _call(calls, path, call_id)
    call.track_records += 1
    try:
        # Each track record covers 5 s by default; the last may be shorter.
        call.track_end_s = max(call.track_end_s, float(line[start_at + 9 : end]) + 5.0)
    except ValueError:
        return


def _add(calls: dict[str, CallLog], path: Path, rec: dict[str, Any]) -> None:
    kind = rec["record"]
    call = _call(calls, path, rec.get("call"))
    if kind == "call_start":
        call.start = rec
    elif kind == "alert":
        call.alerts.append(rec)
    elif kind == "transcript":
        call.transcripts.append(rec)
    elif kind == "track":
        call.tracks.append(rec)
        call.track_records += 1
        call.track_end_s = max(call.track_end_s, track_end(rec))
    elif kind == "call_summary":
        call.summary = rec


def track_end(rec: dict[str, Any]) -> float:
    """Seconds into the call where a track record's series end."""
    rate = float(rec.get("rate_hz") or 10)
    n = len((rec.get("agent") or {}).get("level_db") or [])
    return float(rec.get("start") or 0.0) + n / rate
