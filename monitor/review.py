"""Review many calls as one table, answered from the call index, with CSV/JSON export.

`tonewatch review [LOGS...]` first brings the index (`monitor.callindex`, `--db`) up to date
with the logs given (files, folders: every `*.jsonl` and batch `*.jsonl.partial` below
them, glob patterns; logs unchanged since they were last read are not read again), then
asks the index for the calls of those logs. With no LOGS it indexes the live log folder
and answers from the whole index (live calls, batches, anything indexed before).

One row per call with the QA columns (`monitor.qa_columns`); `--by agent` rolls the calls
up per agent. Filters keep the calls that match all of `--kind` (any of several kinds or
phrase cues), `--since`/`--until`, `--agent`, `--min-severity` and `--reviewed`; `--csv` /
`--json` write the rows shown (0600). Logs cut short by a crash are indexed as far as they
go, with a warning; files that cannot be read are named in one line each and skipped.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from alerts.model import KINDS, SEVERITIES
from monitor.callindex import (
    ROLLUP,
    SORTS,
    CallIndex,
    Filters,
    IndexDbError,
    default_db,
    live_log_dir,
)
from monitor.errors import EXIT_OUTPUT as EXIT_WRITE
from monitor.errors import CommandError as ReviewError
from monitor.qa_columns import columns, csv_cell, default_cues, extra_cue_columns, with_extra_cues

TABLE_FIELDS = [
    "date",
    "call",
    "agent",
    "status",
    "duration_s",
    *KINDS,
    "worst_start",
    "worst_kind",
    "worst_cue",
    "worst_speaker",
    "worst_severity",
]
"""The columns the terminal table shows (an export reads them all)."""
SHORT = {
    "customer_raised": "cust raised",
    "customer_yelling": "cust yell",
    "agent_raised": "agent raised",
    "agent_yelling": "agent yell",
    "agent_matching": "matching",
    "agent_interrupting": "interrupt",
    "customer_upbeat": "cust upbeat",
    "phrase": "phrase",
}


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m:02d}:{s:02d}"


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH", help=f"call index database (default: {default_db()})"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs",
        nargs="*",
        metavar="LOGS",
        help="log files, folders (*.jsonl inside) or globs (default: the live log folder, "
        "and every call already in the index)",
    )
    add_db_option(parser)
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
        "or this long ago (7d, 12h, 30m)",
    )
    parser.add_argument(
        "--until", metavar="WHEN", help="only calls started before this date/time or age"
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
        "--reviewed",
        choices=("yes", "no"),
        help="only calls a reviewer has (yes) or has not (no) marked reviewed",
    )
    parser.add_argument(
        "--sort", choices=SORTS, default="date", help="row order (default: date, oldest first)"
    )
    parser.add_argument("--reverse", action="store_true", help="reverse the order")
    parser.add_argument(
        "--by", choices=("agent",), help="one row per agent over the calls that pass the filters"
    )
    parser.add_argument("--csv", metavar="PATH", help="also write the rows as CSV")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")


def run(args: argparse.Namespace) -> int:
    warnings: list[str] = []

    def warn_all() -> None:
        for w in warnings:
            print(f"tonewatch: warning: {w}", file=sys.stderr)

    try:
        filters = filters_from(args)
        db = Path(args.db) if args.db else default_db()
        if args.logs:
            files = expand(args.logs, warnings)
            if not files:
                raise ReviewError("no alert logs found in " + " ".join(args.logs))
        else:
            folder = live_log_dir()
            files = _logs_in(folder) if folder.is_dir() else []
        outputs = [Path(p) for p in (args.csv, args.json) if p]
        refuse_overwrite(outputs, [*files, db])
        try:
            idx = CallIndex(db)
        except IndexDbError as exc:
            raise ReviewError(str(exc)) from None
        with idx:
            try:
                stats = idx.refresh(files, warnings)
            except IndexDbError as exc:
                raise ReviewError(str(exc), EXIT_WRITE) from None
            check_kinds(filters.kinds, idx)
            if args.logs:
                filters.logs = [os.path.abspath(f) for f in files]
                total = idx.count(Filters(logs=filters.logs))
                n_files, skipped = len(files) - stats.skipped, stats.skipped
                where = f"{n_files} log file(s)"
            else:
                total, n_files, skipped = idx.totals()
                if total == 0:
                    raise ReviewError(
                        f"no calls yet: the index {db} is empty and the live log folder "
                        f"{live_log_dir()} holds no logs (give LOGS, or `tonewatch index`)"
                    )
                where = f"the index ({n_files} log file(s))"
            if args.by == "agent":
                agents = idx.by_agent(filters, args.sort)
                if args.csv:
                    write_csv(agents, Path(args.csv), list(ROLLUP))
                if args.json:
                    write_json(agents, Path(args.json))
                warn_all()
                print_agents(agents, total, where)
                return 0
            exporting = bool(args.csv or args.json)
            rows = idx.query(
                filters, args.sort, args.reverse, fields=None if exporting else TABLE_FIELDS
            )
        if args.csv:
            write_csv(rows, Path(args.csv))
        if args.json:
            cols = columns()
            write_json([{c: r.get(c) for c in cols} for r in rows], Path(args.json))
    except ReviewError as exc:
        warn_all()
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code
    warn_all()
    title = f"{len(rows)} of {total} calls from {where}"
    if skipped:
        title += f" ({skipped} other file(s) skipped)"
    print_table(rows, title)
    return 0


def filters_from(args: argparse.Namespace) -> Filters:
    """The filters of the command line, each value checked (ReviewError, exit 2)."""
    since = parse_since(args.since, "--since") if args.since is not None else None
    until = parse_since(args.until, "--until") if getattr(args, "until", None) is not None else None
    reviewed = getattr(args, "reviewed", None)
    return Filters(
        kinds=_kinds(args.kind),
        since=since,
        until=until,
        agent=args.agent,
        min_severity=args.min_severity,
        reviewed=None if reviewed is None else reviewed == "yes",
    )


def check_kinds(kinds: set[str], idx: CallIndex) -> None:
    """An unknown --kind is an error: neither an alert kind nor a phrase cue known here."""
    known_cues = {n for _, n, _ in default_cues()} | set(idx.cue_names())
    known_cues |= {f"{s}.{n}" for s, n, _ in default_cues()}
    try:
        from monitor.config import load_config

        for c in load_config().cues.active:
            known_cues |= {c.name, f"{c.speaker}.{c.name}"}
    except Exception:  # a broken settings file is not review's business
        pass
    unknown = sorted(k for k in kinds if k not in KINDS and k not in known_cues)
    if unknown:
        raise ReviewError(
            f"--kind {', '.join(unknown)}: no such alert kind or phrase cue (kinds: "
            f"{', '.join(KINDS)}; cues: {', '.join(sorted(c for c in known_cues if '.' not in c))})"
        )


def _kinds(values: list[str] | None) -> set[str]:
    return {k.strip() for v in values or [] for k in v.split(",") if k.strip()}


def parse_since(text: str, option: str = "--since") -> datetime:
    """An ISO date/time (local time when it has no offset) or an age such as 7d, 12h, 30m.
    An age reaching before year 1 means the earliest time there is."""
    if not text.strip():
        raise ReviewError(f"{option} is empty: give a date (2026-11-23) or an age (7d)")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([dhm])", text.strip())
    if m:
        unit = {"d": 86400.0, "h": 3600.0, "m": 60.0}[m.group(2)]
        seconds = float(m.group(1)) * unit
        now = datetime.now(timezone.utc)
        earliest = datetime.min.replace(tzinfo=timezone.utc)
        if not math.isfinite(seconds) or seconds >= (now - earliest).total_seconds():
            return earliest
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReviewError(
            f"{option} {text!r}: use a date (2026-11-23), a date and time (2026-11-23T09:00) "
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


# -- exports ---------------------------------------------------------------------------------


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    """A call as exported: the QA columns in order."""
    return {c: row.get(c) for c in columns()}


def refuse_overwrite(outputs: list[Path], inputs: Iterable[Path]) -> None:
    """An export must not land on a log it reads, nor on the index."""
    ins = set()
    for p in inputs:
        try:
            ins.add(p.resolve())
        except OSError:
            continue
    for out in outputs:
        if out.resolve() in ins:
            raise ReviewError(f"{out}: is one of the inputs (a log or the index); not overwritten")


def _write_private(path: Path, text: str, what: str) -> None:
    """Write `text` to `path`, a new file being created 0600; an existing file keeps its
    mode. Refuses a path that is not a regular file."""
    from alerts.files import FileRefused, write_private

    try:
        write_private(path, text, what=what)
    except FileRefused as exc:
        raise ReviewError(str(exc), EXIT_WRITE) from None


def csv_text(rows: list[dict[str, Any]], fields: list[str] | None = None) -> str:
    """Rows as CSV text: the QA columns (plus a column per custom cue) unless `fields` is
    given; cells that a spreadsheet would run as a formula are defused."""
    if fields is None:
        extra = extra_cue_columns(rows)
        fields = [*columns(), *extra]
        rows = [with_extra_cues(r, extra) for r in rows]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(fields)
    for r in rows:
        w.writerow([csv_cell(r.get(f)) for f in fields])
    return buf.getvalue()


def write_csv(rows: list[dict[str, Any]], path: Path, fields: list[str] | None = None) -> None:
    _write_private(path, csv_text(rows, fields), "CSV")


def write_json(rows: list[dict[str, Any]], path: Path) -> None:
    """A JSON list, one row per line (json's fast encoder: no indent)."""
    body = ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    _write_private(path, f"[\n{body}\n]\n" if rows else "[]\n", "JSON")


# -- the terminal ----------------------------------------------------------------------------


def worst_text(r: dict[str, Any]) -> str:
    if not r.get("worst_severity"):
        return ""
    kind = str(r.get("worst_kind"))
    what = f"{r.get('worst_speaker')} {r['worst_cue']} phrase" if r.get("worst_cue") else kind
    return f"{_clock(float(r.get('worst_start') or 0.0))} {what.replace('_', ' ')} · " + str(
        r["worst_severity"]
    )


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console


def _lay_out(heads: list[str], lines: list[list[str]], caps: list[int], right: set[int]) -> Any:
    widths = [
        min(caps[i], max([len(head)] + [len(cells[i]) for cells in lines]))
        for i, head in enumerate(heads)
    ]

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 1] + "…"
        return text.rjust(widths[i]) if i in right else text.ljust(widths[i])

    return widths, cell


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    """The table on stdout: one line per call, aligned columns, the worst moment coloured
    by severity on a terminal (160 columns wide when stdout is not a terminal).

    The lines are laid out here and printed as one rich `Text` on a terminal, as plain
    text otherwise: a rich `Table` measures and wraps every cell, which costs about two
    seconds per thousand calls, and even one `Text` costs a second per 3,000 lines.
    """
    colour = {"critical": "bold red", "warning": "yellow", "info": "green"}
    lines = []
    for r in rows:
        status = "" if r.get("status") == "complete" else f" ({r.get('status')})"
        mark = " ✓" if r.get("reviewed_at") else ""
        counts = ", ".join(f"{SHORT.get(k, k)} {r[k]}" for k in KINDS if r.get(k))
        date = r.get("date")
        when = datetime.fromisoformat(date).astimezone().strftime("%Y-%m-%d %H:%M") if date else "?"
        lines.append(
            [
                when,
                str(r.get("call")) + status + mark,
                r.get("agent") or "",
                _clock(float(r.get("duration_s") or 0.0)),
                counts or "-",
                worst_text(r),
            ]
        )
    heads = ["date", "call", "agent", "length", "alerts (per kind)", "worst moment"]
    widths, cell = _lay_out(heads, lines, [16, 32, 20, 6, 48, 60], {3})
    if not sys.stdout.isatty():  # a file or pipe: plain lines, no colour to lay out
        text = [title, "  ".join(cell(h, i) for i, h in enumerate(heads)).rstrip()]
        text.append("  ".join("─" * w for w in widths))
        text += ["  ".join(cell(c, i) for i, c in enumerate(cells)).rstrip() for cells in lines]
        sys.stdout.write("\n".join(text) + "\n")
        return
    from rich.text import Text

    out = Text(title + "\n", style="italic")
    out.append("  ".join(cell(h, i) for i, h in enumerate(heads)).rstrip() + "\n", style="bold")
    out.append("  ".join("─" * w for w in widths) + "\n")
    for r, cells in zip(rows, lines, strict=True):
        out.append("  ".join(cell(c, i) for i, c in enumerate(cells[:-1])) + "  ")
        out.append(cell(cells[-1], 5).rstrip(), style=colour.get(str(r.get("worst_severity")), ""))
        out.append("\n")
    _console().print(out, end="", no_wrap=True, overflow="ignore", crop=False)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * float(v):.0f}%"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def print_agents(rows: list[dict[str, Any]], total: int, where: str) -> None:
    """`--by agent`: one line per agent."""
    from rich.text import Text

    heads = ["agent", "calls", "hours", "talk", "interrupts", "raised s", "yelling s"]
    heads += ["alerts", "per talk h", "good signs", "cue warnings", "worst", "reviewed"]
    lines = [
        [
            r["agent"] or "(none)",
            str(r["calls"]),
            f"{r['hours']:.2f}",
            _fmt(r["talk_share_agent"], pct=True),
            str(r["interruptions_agent"]),
            _fmt(r["raised_agent_s"]),
            _fmt(r["yelling_agent_s"]),
            str(r["alerts"]),
            _fmt(r["alerts_per_talk_h"]),
            str(r["good_signs"]),
            str(r["cue_warnings"]),
            r["worst_severity"] or "",
            str(r["reviewed"]),
        ]
        for r in rows
    ]
    widths, cell = _lay_out(heads, lines, [24] + [12] * 12, set(range(1, 11)))
    calls = sum(r["calls"] for r in rows)
    out = Text(f"{len(rows)} agent(s), {calls} of {total} calls from {where}\n", style="italic")
    out.append("  ".join(cell(h, i) for i, h in enumerate(heads)).rstrip() + "\n", style="bold")
    out.append("  ".join("─" * w for w in widths) + "\n")
    for cells in lines:
        out.append("  ".join(cell(c, i) for i, c in enumerate(cells)).rstrip() + "\n")
    _console().print(out, end="", no_wrap=True, overflow="ignore", crop=False)
