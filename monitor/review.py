"""Review many calls' alert logs as one table, with filters, sorting and CSV/JSON export.

`tonewatch review LOGS...` takes log files, folders (every `*.jsonl` below them, and the
`*.jsonl.partial` logs of `batch`) and glob patterns, and shows one row per call: date,
call id, agent (when replay or live had `--agent-name`), duration, alerts per kind and
the worst moment. Filters keep the calls that match all of `--kind`, `--since`, `--agent`
and `--min-severity`; `--csv` / `--json` write the rows shown. Logs cut short by a crash
are read as far as they go, with a warning; files that cannot be read are named in one
line each and skipped.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from alerts.model import KINDS, SEVERITIES
from monitor.calllog import CallLog, CallLogError, read_calls, severity_rank
from monitor.errors import EXIT_OUTPUT as EXIT_WRITE
from monitor.errors import CommandError as ReviewError

SORTS = ("date", "duration", "alerts", "worst", "agent", "call")
SHORT = {
    "customer_raised": "cust raised",
    "customer_yelling": "cust yell",
    "agent_raised": "agent raised",
    "agent_yelling": "agent yell",
    "agent_matching": "matching",
    "agent_interrupting": "interrupt",
    "phrase": "phrase",
}


@dataclass
class Row:
    """One call as the review shows and exports it."""

    date: datetime | None
    call: str
    agent: str | None
    duration_s: float
    counts: dict[str, int]
    cues: dict[str, int]
    worst: dict[str, Any] | None
    status: str
    log: str
    kinds_seen: set[str]

    @classmethod
    def of(cls, call: CallLog) -> Row:
        status = "cut short"
        if call.summary is not None:
            status = str(call.summary.get("status", "complete"))
        seen = {str(a.get("kind")) for a in call.alerts}
        seen |= {str(a["cue"]) for a in call.alerts if a.get("cue")}
        return cls(
            date=call.started_at,
            call=call.call,
            agent=call.agent,
            duration_s=call.duration_s,
            counts=call.counts(),
            cues=call.cue_counts(),
            worst=call.worst(),
            status=status,
            log=str(call.path),
            kinds_seen=seen,
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def worst_rank(self) -> int:
        return severity_rank(self.worst.get("severity")) if self.worst else -1

    def worst_text(self) -> str:
        if not self.worst:
            return ""
        w = self.worst
        kind = str(w.get("kind"))
        what = f"{w.get('speaker')} {w['cue']} phrase" if w.get("cue") else kind
        return (
            f"{_clock(float(w.get('start', 0.0)))} {what.replace('_', ' ')} · {w.get('severity')}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The exported form (JSON; CSV flattens counts into one column per kind)."""
        w = self.worst
        return {
            "date": self.date.isoformat(timespec="seconds") if self.date else None,
            "call": self.call,
            "agent": self.agent,
            "duration_s": round(self.duration_s, 2),
            "status": self.status,
            "alerts": self.total,
            "counts": self.counts,
            "cues": self.cues,
            "worst": None
            if w is None
            else {
                "start": w.get("start"),
                "kind": w.get("kind"),
                "cue": w.get("cue"),
                "speaker": w.get("speaker"),
                "severity": w.get("severity"),
                "message": w.get("message"),
            },
            "log": self.log,
        }


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m:02d}:{s:02d}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs", nargs="+", metavar="LOGS", help="log files, folders (*.jsonl inside) or globs"
    )
    parser.add_argument(
        "--kind",
        action="append",
        metavar="KIND",
        help="only calls with an alert of this kind or phrase cue (repeat or comma-separate "
        f"for any of several; kinds: {', '.join(KINDS)})",
    )
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only calls started on or after this date/time (2026-11-23, 2026-11-23T09:00) "
        "or this long ago (7d, 12h)",
    )
    parser.add_argument(
        "--agent", metavar="NAME", help="only this agent's calls (as given to --agent-name)"
    )
    parser.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        help="only calls with an alert at least this severe",
    )
    parser.add_argument(
        "--sort", choices=SORTS, default="date", help="row order (default: date, oldest first)"
    )
    parser.add_argument("--reverse", action="store_true", help="reverse the order")
    parser.add_argument("--csv", metavar="PATH", help="also write the rows as CSV")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")


def run(args: argparse.Namespace) -> int:
    warnings: list[str] = []

    def warn_all() -> None:
        for w in warnings:
            print(f"tonewatch: warning: {w}", file=sys.stderr)

    try:
        since = parse_since(args.since) if args.since else None
        kinds = _kinds(args.kind)
        files = expand(args.logs, warnings)
        rows, skipped = load_rows(files, warnings)
        if not files:
            raise ReviewError("no alert logs found in " + " ".join(args.logs))
        unknown = sorted(
            k for k in kinds if k not in KINDS and not any(k in r.kinds_seen for r in rows)
        )
        if unknown:
            warnings.append(
                f"--kind {', '.join(unknown)}: no such alert kind, nor a phrase cue in these "
                f"logs (kinds: {', '.join(KINDS)})"
            )
        shown = filter_rows(rows, kinds, since, args.agent, args.min_severity)
        shown = sort_rows(shown, args.sort, args.reverse)
        if args.csv:
            write_csv(shown, Path(args.csv))
        if args.json:
            write_json(shown, Path(args.json))
    except ReviewError as exc:
        warn_all()
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code
    warn_all()
    print_table(shown, len(rows), len(files) - skipped, skipped)
    return 0


def _kinds(values: list[str] | None) -> set[str]:
    return {k.strip() for v in values or [] for k in v.split(",") if k.strip()}


def parse_since(text: str) -> datetime:
    """An ISO date/time (local time when it has no offset) or an age such as 7d, 12h, 30m."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([dhm])", text.strip())
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        return datetime.now(timezone.utc) - timedelta(**{unit: float(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReviewError(
            f"--since {text!r}: use a date (2026-11-23), a date and time (2026-11-23T09:00) "
            "or an age (7d, 12h, 30m)"
        ) from None
    return when if when.tzinfo else when.astimezone()


def expand(items: Iterable[str], warnings: list[str]) -> list[Path]:
    """Files named, *.jsonl under folders, and glob matches; each once, in a stable order."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for item in items:
        p = Path(item)
        if p.is_dir():
            found = _logs_in(p)
            if not found:
                warnings.append(f"{p}: no *.jsonl logs in this folder")
            for q in found:
                add(q)
        elif p.exists():
            add(p)
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                warnings.append(f"{item}: no files match")
            for m in matches:
                q = Path(m)
                if q.is_dir():
                    for r in _logs_in(q):
                        add(r)
                else:
                    add(q)
        else:
            warnings.append(f"{p}: no such file or folder, skipped")
    return out


def _logs_in(folder: Path) -> list[Path]:
    """The logs below a folder: `*.jsonl`, and the `*.jsonl.partial` logs `batch` keeps
    for calls whose audio failed part-way."""
    found = [*folder.rglob("*.jsonl"), *folder.rglob("*.jsonl.partial")]
    return sorted(q for q in found if q.is_file())


def load_rows(files: Iterable[Path], warnings: list[str]) -> tuple[list[Row], int]:
    """One row per call in the files, and how many files were skipped (each named in one
    warning line: cannot be read, or not a log)."""
    rows: list[Row] = []
    skipped = 0
    for path in files:
        try:
            calls = read_calls(path, warnings, tracks=False)
        except CallLogError as exc:
            warnings.append(f"{exc}, skipped")
            skipped += 1
            continue
        rows += [Row.of(c) for c in calls]
    return rows, skipped


def filter_rows(
    rows: list[Row],
    kinds: set[str],
    since: datetime | None,
    agent: str | None,
    min_severity: str | None,
) -> list[Row]:
    """Calls matching every filter given (any one of several kinds)."""
    floor = severity_rank(min_severity) if min_severity else None
    out = []
    for r in rows:
        if kinds and not (kinds & r.kinds_seen):
            continue
        if since is not None and (r.date is None or _aware(r.date) < since):
            continue
        if agent is not None and (r.agent or "").casefold() != agent.casefold():
            continue
        if floor is not None and r.worst_rank < floor:
            continue
        out.append(r)
    return out


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.astimezone()


def sort_rows(rows: list[Row], key: str, reverse: bool = False) -> list[Row]:
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    keys: dict[str, Any] = {
        "date": lambda r: (_aware(r.date) if r.date else epoch, r.call),
        "duration": lambda r: (r.duration_s, r.call),
        "alerts": lambda r: (r.total, r.worst_rank, r.call),
        "worst": lambda r: (r.worst_rank, r.total, r.call),
        "agent": lambda r: (r.agent or "", r.call),
        "call": lambda r: r.call,
    }
    # Counts and severity read best highest first; dates, names and ids oldest/A first.
    descending = key in ("duration", "alerts", "worst")
    return sorted(rows, key=keys[key], reverse=descending != reverse)


def write_csv(rows: list[Row], path: Path) -> None:
    fields = ["date", "call", "agent", "duration_s", "status", "alerts", *KINDS]
    fields += ["worst_start", "worst_kind", "worst_severity", "worst_message", "cues", "log"]
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            for r in rows:
                d = r.as_dict()
                worst = d["worst"] or {}
                w.writerow(
                    {
                        **{k: d[k] for k in ("date", "call", "agent", "duration_s", "status")},
                        "alerts": d["alerts"],
                        **{k: r.counts.get(k, 0) for k in KINDS},
                        "worst_start": worst.get("start"),
                        "worst_kind": worst.get("kind"),
                        "worst_severity": worst.get("severity"),
                        "worst_message": worst.get("message"),
                        "cues": ";".join(f"{k}={v}" for k, v in sorted(r.cues.items())),
                        "log": d["log"],
                    }
                )
    except OSError as exc:
        raise ReviewError(f"{path}: cannot write CSV ({exc.strerror})", EXIT_WRITE) from None


def write_json(rows: list[Row], path: Path) -> None:
    try:
        path.write_text(
            json.dumps([r.as_dict() for r in rows], indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise ReviewError(f"{path}: cannot write JSON ({exc.strerror})", EXIT_WRITE) from None


def print_table(rows: list[Row], total_calls: int, n_files: int, skipped: int = 0) -> None:
    """The table on stdout: one line per call, aligned columns, the worst moment coloured
    by severity on a terminal (160 columns wide when stdout is not a terminal).

    The lines are laid out here and printed as one rich `Text`: a rich `Table` measures
    and wraps every cell, which costs about two seconds per thousand calls.
    """
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    title = f"{len(rows)} of {total_calls} calls from {n_files} log file(s)"
    if skipped:
        title += f" ({skipped} other file(s) skipped)"
    colour = {"critical": "bold red", "warning": "yellow", "info": "green"}
    lines = []
    for r in rows:
        status = "" if r.status == "complete" else f" ({r.status})"
        counts = ", ".join(f"{SHORT.get(k, k)} {n}" for k, n in r.counts.items() if n)
        lines.append(
            [
                r.date.astimezone().strftime("%Y-%m-%d %H:%M") if r.date else "?",
                r.call + status,
                r.agent or "",
                _clock(r.duration_s),
                counts or "-",
                r.worst_text(),
            ]
        )
    heads = ["date", "call", "agent", "length", "alerts (per kind)", "worst moment"]
    caps = [16, 32, 20, 6, 48, 60]
    widths = [
        min(caps[i], max([len(head)] + [len(cells[i]) for cells in lines]))
        for i, head in enumerate(heads)
    ]

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 1] + "…"
        return text.rjust(widths[i]) if heads[i] == "length" else text.ljust(widths[i])

    out = Text(title + "\n", style="italic")
    out.append("  ".join(cell(h, i) for i, h in enumerate(heads)).rstrip() + "\n", style="bold")
    out.append("  ".join("─" * w for w in widths) + "\n")
    for r, cells in zip(rows, lines, strict=True):
        sev = str(r.worst.get("severity")) if r.worst else ""
        out.append("  ".join(cell(c, i) for i, c in enumerate(cells[:-1])) + "  ")
        out.append(cell(cells[-1], 5).rstrip(), style=colour.get(sev, ""))
        out.append("\n")
    console.print(out, end="", no_wrap=True, overflow="ignore", crop=False)
