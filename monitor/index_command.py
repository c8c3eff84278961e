"""Add alert logs to the call index, or rebuild it from them.

`tonewatch index [LOGS...] [--db PATH] [--rebuild]` reads the logs given (files, folders:
every `*.jsonl` and `*.jsonl.partial` below them, globs; default: the live log folder) into
the call index (`monitor.callindex`). Logs already indexed and unchanged since (same size
and modification time) are not read again; `--rebuild` empties the index first and reads
every log afresh (reviewers' marks and notes are kept). Exit codes: 0 ok (files that are
not logs are warned about and skipped), 2 nothing to index, 4 the index cannot be written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from monitor.callindex import CallIndex, IndexDbError, default_db, live_log_dir
from monitor.errors import EXIT_OUTPUT as EXIT_WRITE
from monitor.errors import EXIT_USAGE
from monitor.review import _logs_in, add_db_option, expand


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs",
        nargs="*",
        metavar="LOGS",
        help="log files, folders (*.jsonl inside) or globs (default: the live log folder)",
    )
    add_db_option(parser)
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="empty the index first and read every log again (reviews and notes stay)",
    )


def run(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    if args.logs:
        files = expand(args.logs, warnings)
        where = " ".join(args.logs)
    else:
        folder = live_log_dir()
        files = _logs_in(folder) if folder.is_dir() else []
        where = str(folder)
    db = Path(args.db) if args.db else default_db()
    started = time.perf_counter()
    try:
        if not files:
            for w in warnings:
                print(f"tonewatch: warning: {w}", file=sys.stderr)
            print(f"tonewatch: error: no alert logs found in {where}", file=sys.stderr)
            return EXIT_USAGE
        with CallIndex(db) as idx:
            if args.rebuild:
                idx.clear()
            stats = idx.refresh(files, warnings, force=args.rebuild)
            total = idx.totals()[0]
    except IndexDbError as exc:
        for w in warnings:
            print(f"tonewatch: warning: {w}", file=sys.stderr)
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return EXIT_WRITE
    for w in warnings:
        print(f"tonewatch: warning: {w}", file=sys.stderr)
    took = time.perf_counter() - started
    print(
        f"index {db}: read {stats.read} log(s) ({stats.calls} calls), {stats.unchanged} "
        f"unchanged, {stats.skipped} skipped, in {took:.1f} s; it holds {total} calls"
    )
    return 0
