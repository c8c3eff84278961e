"""Analyse many recorded calls on a Dask cluster: one alert log per call, an index of
them (``DIR/index.csv``, ``DIR/index.json``) and every call in the call index database.

`tonewatch batch INPUTS... --out DIR` finds the calls (`monitor.batch_inputs`), sends each
one to a Dask worker (`monitor.batch_cluster`), where `monitor.batch_task.analyse_call`
writes its log, and collects each call's row as it finishes (`monitor.batch_index`). This
module is the command: options, resuming, progress and the closing line. Its rules:

- A call whose ``<call>.jsonl`` ends in a complete ``call_summary`` is skipped on rerun
  (its row comes from the call index, or from its log if the index does not have it).
- One bad call never stops the batch: its error goes to the index (outcome "error"); a
  worker that dies takes only its own call with it, which the next run redoes.
- The driver is the call index's one writer: workers send their calls' rows back.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from alerts.files import FileRefused, private_dirs
from monitor.batch_cluster import ClusterError, open_client, run_jobs
from monitor.batch_index import store, totals, write_index
from monitor.batch_inputs import CallJob, InputError, Orphan, discover
from monitor.batch_task import (
    LOG_DIR,
    BatchOptions,
    finished_summary,
    log_path,
    make_row,
    side,
)
from monitor.callindex import CallIndex, Filters, IndexDbError, default_db
from monitor.config import ConfigError, find_config, load_config, with_overrides
from monitor.errors import EXIT_CLUSTER, EXIT_FAILED, EXIT_USAGE
from monitor.errors import EXIT_OUTPUT as EXIT_LOG
from monitor.errors import CommandError as BatchError
from monitor.options import add_channels_option, add_transcription_options, parse_channels

__all__ = ["BatchOptions", "finished_summary", "log_path", "open_client", "run_jobs"]


# -- progress --------------------------------------------------------------------------------


class Progress:
    """A progress bar on a terminal (rich); silent otherwise. Failures are always printed."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("[bold]batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task("batch", total=total, failed=0)
            self._bar.start()
        self.failed = 0

    def advance(self, row: dict[str, Any]) -> None:
        if row["outcome"] == "error":
            self.failed += 1
            line = f"tonewatch: call {row['call']}: {row['error']}"
            if self._bar is not None:
                self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                print(line, file=sys.stderr, flush=True)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# -- the command -----------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="recordings: files, folders (walked recursively) or quoted globs ('calls/**/*.wav')",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the logs and index")
    p.add_argument("--db", metavar="PATH", help=f"call index database (default: {default_db()})")
    p.add_argument(
        "--pair-pattern",
        nargs=2,
        metavar=("AGENT", "CUSTOMER"),
        help="join mono files into calls by name, e.g. '{call}_agent.*' '{call}_customer.*' "
        "(files matching neither are stereo calls)",
    )
    p.add_argument(
        "--agent-channel",
        metavar="left|right",
        help="channel of stereo files that carries the agent (default: left)",
    )
    add_channels_option(p, "every recording (a call file, or each file of a pair)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use this Dask scheduler (tcp://...)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local cluster (default: one per core)",
    )
    p.add_argument("--force", action="store_true", help="redo calls whose log is complete")
    add_transcription_options(p)
    p.add_argument("--agent-name", metavar="NAME", help="agent identity stored in every record")
    p.add_argument("--no-tracks", action="store_true", help="leave the 10 Hz tracks out of logs")
    p.add_argument("--config", metavar="TOML", help="settings file (see `tonewatch config`)")


def options(args: argparse.Namespace) -> BatchOptions:
    """The shared call options from the command line, validated on the driver.

    Raises:
        BatchError: bad settings, or a speech model that cannot be loaded (code 2).
    """
    try:
        cfg = load_config(find_config(args.config)[0])
        if args.agent_channel is not None:
            if args.agent_channel not in ("left", "right"):
                raise ConfigError(
                    f"--agent-channel must be left or right, got {args.agent_channel!r}"
                )
            cfg = with_overrides(cfg, call={"agent_channel": args.agent_channel})
    except ConfigError as exc:
        raise BatchError(str(exc), EXIT_USAGE) from None
    from monitor.profile import check_agent

    check_agent(args.agent_name)
    from audio.transcribe import ModelError
    from monitor.transcription import SpeechSetup

    try:
        # offline: wait for the model, skip nothing; load it here once, not on every call
        speech = SpeechSetup.from_args(args, cfg, "block", strict=True)
    except ValueError as exc:
        raise BatchError(str(exc), EXIT_USAGE) from None
    except ModelError as exc:
        raise BatchError(f"{exc} (or pass --no-transcribe)", EXIT_USAGE) from None
    if speech.note:
        print(f"tonewatch: warning: {speech.note}", file=sys.stderr)
    return BatchOptions(
        cfg=cfg,
        transcriber=speech.settings,
        redact=speech.redact,
        agent_name=args.agent_name,
        tracks=not args.no_tracks,
        channels=parse_channels(args.channels),
    )


def _prepare_out(out: Path) -> Path:
    try:
        private_dirs(out / LOG_DIR)
        probe = out / ".tonewatch-write-test"
        probe.write_text("")
        probe.unlink()
    except FileRefused as exc:
        raise BatchError(f"{out}: cannot write to the output folder ({exc})", EXIT_LOG) from None
    except OSError as exc:
        raise BatchError(
            f"{out}: cannot write to the output folder ({exc.strerror})", EXIT_LOG
        ) from None
    return out


def _skipped_rows(
    idx: CallIndex, jobs: list[tuple[CallJob, dict[str, Any]]], out: Path, warnings: list[str]
) -> list[dict[str, Any]]:
    """Rows of calls finished before: from the call index (which reads only the logs it
    does not have, or that changed)."""
    paths = [str(log_path(out, job.call)) for job, _ in jobs]
    idx.refresh(paths, warnings)
    by_log: dict[str, list[dict[str, Any]]] = {}
    for r in idx.query(Filters(logs=[os.path.abspath(p) for p in paths]), "call"):
        by_log.setdefault(r["log"], []).append(r)
    rows = []
    for (job, summary), path in zip(jobs, paths, strict=True):
        qa = by_log.get(os.path.abspath(path), [])
        rows.append(
            make_row(
                job,
                "skipped",
                log=str(Path(path).relative_to(out)),
                compute_s=summary.get("compute_s"),
                entries=[(r, []) for r in qa],
            )
        )
    return rows


def _orphan_row(o: Orphan) -> dict[str, Any]:
    job = CallJob(o.call, (o.path,))
    return make_row(job, "error", error=f"{o.path}: no {o.missing} file matches the pair pattern")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BatchError as exc:
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code


def _run(args: argparse.Namespace) -> int:
    if args.workers is not None and (args.workers < 1 or args.scheduler):
        raise BatchError("--workers needs a positive count and no --scheduler", EXIT_USAGE)
    out = Path(args.out).absolute()
    try:
        jobs, orphans = discover(
            args.inputs,
            tuple(args.pair_pattern) if args.pair_pattern else None,
            exclude=out if out.exists() else None,
        )
    except InputError as exc:
        raise BatchError(str(exc), EXIT_USAGE) from None
    if not jobs and not orphans:
        raise BatchError(f"no recordings found in {' '.join(args.inputs)}", EXIT_USAGE)
    opts = options(args)
    out = _prepare_out(out)
    try:
        idx = CallIndex(Path(args.db) if args.db else default_db())
    except IndexDbError as exc:
        raise BatchError(str(exc), EXIT_LOG) from None
    with idx:
        return _drive(args, idx, jobs, orphans, opts, out)


def _drive(
    args: argparse.Namespace,
    idx: CallIndex,
    jobs: list[CallJob],
    orphans: list[Orphan],
    opts: BatchOptions,
    out: Path,
) -> int:
    rows: list[dict[str, Any]] = [_orphan_row(o) for o in orphans]
    todo: list[CallJob] = []
    done_before: list[tuple[CallJob, dict[str, Any]]] = []
    for job in jobs:
        summary = None if args.force else finished_summary(log_path(out, job.call))
        if summary is not None:
            done_before.append((job, summary))
        else:
            todo.append(job)
    warnings: list[str] = []
    try:
        rows += _skipped_rows(idx, done_before, out, warnings)
    except IndexDbError as exc:
        raise BatchError(str(exc), EXIT_LOG) from None
    for w in warnings:
        print(f"tonewatch: warning: {w}", file=sys.stderr)
    meta = {
        "inputs": list(args.inputs),
        "pair_pattern": args.pair_pattern,
        "transcribe": opts.transcriber is not None,
        "settings": opts.cfg.source,
        "db": str(idx.path),
    }
    progress = Progress(len(todo) + len(orphans), sys.stderr.isatty())
    for r in rows:
        if r["outcome"] == "error":
            progress.advance(r)
    started = time.monotonic()
    last_write = started
    interrupted = False
    index_error: str | None = None

    def on_row(row: dict[str, Any]) -> None:
        nonlocal last_write, index_error
        rows.append(row)
        try:
            store(idx, row, out)
        except IndexDbError as exc:
            index_error = index_error or str(exc)
        progress.advance(row)
        if time.monotonic() - last_write > 5.0:
            write_index(out, rows, meta)
            last_write = time.monotonic()

    try:
        if todo:
            with open_client(args.scheduler, args.workers) as client:
                run_jobs(client, todo, opts, out, on_row)
    except ClusterError as exc:
        raise BatchError(str(exc), EXIT_CLUSTER) from None
    except KeyboardInterrupt:
        interrupted = True
        # Calls cut off with their workers start afresh on resume; drop what they began.
        finished = {r["call"] for r in rows}
        for job in todo:
            if job.call not in finished:
                side(log_path(out, job.call), ".tmp").unlink(missing_ok=True)
    finally:
        progress.close()
        try:
            write_index(out, rows, meta)
        except OSError as exc:
            raise BatchError(f"{out}: cannot write the index ({exc.strerror})", EXIT_LOG) from None
    wall = time.monotonic() - started
    t = totals(rows)
    speed = t["audio_s"] / wall if wall > 0 and t["ok"] else 0.0
    head = "batch interrupted" if interrupted else "batch"
    print(
        f"{head}: {t['calls']} calls: {t['ok']} ok, {t['skipped']} skipped, {t['error']} failed; "
        f"{t['audio_s'] / 3600:.2f} h of audio in {wall:.1f} s ({speed:.0f}x real time); "
        f"index {out / 'index.csv'}, {idx.path}"
    )
    if index_error:
        print(
            f"tonewatch: error: {index_error}; the logs are whole, add them later with "
            f"`tonewatch index {out / LOG_DIR}`",
            file=sys.stderr,
        )
        return EXIT_LOG
    if interrupted:
        return 130
    return EXIT_FAILED if t["error"] else 0
