"""Analyse many recorded calls on a Dask cluster: one alert log per call plus an index.

`tonewatch batch INPUTS... --out DIR` finds the calls (see `monitor.batch_inputs`), sends
each one to a Dask worker, where `run_call` (the loop replay and live use) writes its log,
and collects one index row per call into ``DIR/index.csv`` and ``DIR/index.json``.

This module owns the driver (cluster, scheduling, resuming, the index, progress) and the
task that runs on the workers. The rules it keeps:

- A log is written as ``DIR/logs/<call>.jsonl.tmp`` and renamed to ``<call>.jsonl`` only
  when the call finished cleanly, so a file with the final name is always whole. A call
  whose audio fails part-way keeps what it wrote as ``<call>.jsonl.partial`` (ending in a
  ``call_summary`` with status "error").
- A call whose ``<call>.jsonl`` ends in a complete ``call_summary`` is skipped on rerun.
- One bad call never stops the batch: its error goes to the index (status "error"); a
  worker that dies takes only its own call with it (the local cluster never retries a
  task that killed a worker).
- At most as many calls are in flight as the cluster has worker threads, so a call never
  waits queued behind another on a worker that might die.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.log import AlertLog, LogError
from alerts.model import KINDS, now_iso
from audio.sources import FileSource, SourceError
from audio.transcribe import TranscriberSettings, one_line
from monitor.batch_inputs import CallJob, InputError, Orphan, discover
from monitor.config import Config, ConfigError, load_config, transcriber_settings, with_overrides
from monitor.errors import EXIT_CLUSTER, EXIT_FAILED, EXIT_USAGE
from monitor.errors import EXIT_OUTPUT as EXIT_LOG
from monitor.errors import CommandError as BatchError
from monitor.options import OFFLINE_BLOCK_S, add_transcription_options
from monitor.session import CallSetup, run_call

LOG_DIR = "logs"
INDEX_FIELDS = ("call", "status", "inputs", "log", "duration_s", "compute_s", "alerts")


@dataclass(frozen=True)
class BatchOptions:
    """What every call of a batch shares; sent to the workers with each call.

    Attributes:
        cfg: the validated settings (agent channel override applied).
        transcriber: speech model settings (policy "block"), or None for acoustic only.
        redact: mask digit runs in logged transcripts.
        agent_name: stored in every record when given.
        tracks: write the 10 Hz level/pitch/speech track records.
    """

    cfg: Config
    transcriber: TranscriberSettings | None = None
    redact: bool = True
    agent_name: str | None = None
    tracks: bool = True


# -- paths and logs ----------------------------------------------------------------------


def log_path(out: Path, call: str) -> Path:
    """Where the finished log of `call` lives below the output folder."""
    return out / LOG_DIR / f"{call}.jsonl"


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def finished_summary(path: Path) -> dict[str, Any] | None:
    """The log's last record if it is a complete `call_summary`, else None."""
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
    try:
        last = json.loads(lines[-1])
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if (
        isinstance(last, dict)
        and last.get("record") == "call_summary"
        and last.get("status") == "complete"
    ):
        return last
    return None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _row(job: CallJob, status: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "call": job.call,
        "status": status,
        "inputs": list(job.paths),
        "log": "",
        "duration_s": None,
        "compute_s": None,
        "counts": {},
        "alerts": 0,
        "error": "",
    }
    row.update(fields)
    return row


def _from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    counts = {k: int(v) for k, v in summary.get("counts", {}).items()}
    return {
        "duration_s": summary.get("duration_s"),
        "counts": counts,
        "alerts": sum(counts.values()),
    }


# -- the task that runs on a worker ------------------------------------------------------


def _open_source(job: CallJob, cfg: Config) -> FileSource:
    if job.paired:
        return FileSource(
            agent_path=job.paths[0], customer_path=job.paths[1], block_s=OFFLINE_BLOCK_S
        )
    return FileSource(job.paths[0], agent_channel=cfg.call.agent_channel, block_s=OFFLINE_BLOCK_S)


def _speech(opts: BatchOptions, call: str) -> tuple[Any, Any]:
    """A transcription worker on this process's cached model, and a phrase spotter."""
    if opts.transcriber is None:
        return None, None
    from alerts.cues import CueMatcher, load_cues
    from audio.transcribe import TranscriptionWorker, load_model
    from monitor.speech import PhraseSpotter

    model = load_model(opts.transcriber)  # loaded once per worker process, then cached
    cues = load_cues(opts.cfg.extra.get("cues"))
    worker = TranscriptionWorker(opts.transcriber, model=model)
    return worker, PhraseSpotter(CueMatcher(cues), call, opts.redact)


def analyse_call(job: CallJob, opts: BatchOptions, out_dir: str) -> dict[str, Any]:
    """Analyse one call into its log; returns its index row. Runs on a Dask worker.

    Never raises for a bad call: its error becomes the row's status and message.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    final = log_path(out, job.call)
    tmp, partial = _side(final, ".tmp"), _side(final, ".partial")

    def took() -> float:
        return round(time.perf_counter() - started, 3)

    worker = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in (tmp, partial):
            stale.unlink(missing_ok=True)
        worker, spotter = _speech(opts, job.call)
        source = _open_source(job, opts.cfg)
        try:
            log = AlertLog(tmp)
        except LogError:
            source.close()
            raise
        try:
            setup = CallSetup(
                cfg=opts.cfg,
                call=job.call,
                log=log,
                agent_name=opts.agent_name,
                source=job.paths[0] if len(job.paths) == 1 else list(job.paths),
                worker=worker,
                spotter=spotter,
                tracks=opts.tracks,
            )
            result = run_call(source, setup)
        finally:
            log.close()
            source.close()
        fields = _from_summary(result.summary)
        if result.error:
            os.replace(tmp, partial)
            rel = str(partial.relative_to(out))
            return _row(job, "error", log=rel, error=result.error, compute_s=took(), **fields)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        rel = str(final.relative_to(out))
        return _row(job, "ok", log=rel, compute_s=took(), **fields)
    except (SourceError, LogError) as exc:
        return _failed(job, out, str(exc), took())
    except Exception as exc:  # the batch's edge: a bug on one call must not stop the rest
        return _failed(job, out, one_line(f"{type(exc).__name__}: {exc}"), took())
    finally:
        if worker is not None:
            worker.close(timeout=0)


def _failed(job: CallJob, out: Path, message: str, compute_s: float | None) -> dict[str, Any]:
    """The row of a call that did not finish; a leftover .tmp log becomes .partial."""
    final = log_path(out, job.call)
    tmp, partial = _side(final, ".tmp"), _side(final, ".partial")
    rel = ""
    if tmp.exists():
        with contextlib.suppress(OSError):
            os.replace(tmp, partial)
            rel = str(partial.relative_to(out))
    return _row(job, "error", log=rel, error=message, compute_s=compute_s)


# -- the index -----------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    tmp = _side(path, ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Call counts per status and the audio and compute seconds of the calls analysed now."""
    by_status = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "error")}
    done = [r for r in rows if r["status"] == "ok"]
    return {
        "calls": len(rows),
        **by_status,
        "audio_s": round(sum(r["duration_s"] or 0.0 for r in done), 3),
        "compute_s": round(sum(r["compute_s"] or 0.0 for r in done), 3),
    }


def write_index(out: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``index.csv`` (one row per call, a column per alert kind) and ``index.json``."""
    rows = sorted(rows, key=lambda r: r["call"])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*INDEX_FIELDS, *KINDS, "error"])
    for r in rows:
        writer.writerow(
            [
                r["call"],
                r["status"],
                ";".join(r["inputs"]),
                r["log"],
                "" if r["duration_s"] is None else r["duration_s"],
                "" if r["compute_s"] is None else r["compute_s"],
                r["alerts"],
                *(r["counts"].get(k, 0) for k in KINDS),
                r["error"],
            ]
        )
    _atomic_write(out / "index.csv", buf.getvalue())
    doc = {**meta, "written_at": now_iso(), "totals": totals(rows), "calls": rows}
    _atomic_write(out / "index.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


# -- scheduling ----------------------------------------------------------------------------

Task = Callable[[CallJob, BatchOptions, str], dict[str, Any]]


def run_jobs(
    client: Any,
    jobs: Sequence[CallJob],
    opts: BatchOptions,
    out: Path,
    on_row: Callable[[dict[str, Any]], None],
    task: Task = analyse_call,
) -> None:
    """Run `task` for every job on the cluster, longest input first, and hand each row to
    `on_row` as it finishes. A task that dies with its worker gives an "error" row."""
    from distributed import as_completed

    queue = iter(sorted(jobs, key=lambda j: (-j.size_bytes, j.call)))
    running: dict[str, CallJob] = {}
    done = as_completed()

    def slots() -> int:
        return max(1, sum(client.nthreads().values()))

    def submit() -> bool:
        job = next(queue, None)
        if job is None:
            return False
        fut = client.submit(task, job, opts, str(out), pure=False, retries=0)
        running[fut.key] = job
        done.add(fut)
        return True

    for _ in range(slots()):
        if not submit():
            break
    for fut in done:
        job = running.pop(fut.key)
        try:
            row = fut.result()
        except Exception as exc:  # KilledWorker, lost scheduler, ...: this call only
            why = one_line(f"{type(exc).__name__}: {exc}")
            row = _failed(job, out, f"worker failed while analysing this call ({why})", None)
        fut.release()
        on_row(row)
        while len(running) < slots() and submit():
            pass


@contextlib.contextmanager
def open_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A Dask client on `scheduler`, or on a local cluster of `workers` single-threaded
    worker processes (default: one per core) that is closed afterwards."""
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            n = workers or os.cpu_count() or 1
            settings = {
                # A task that killed its worker is an error of that call, never retried.
                "distributed.scheduler.allowed-failures": 0,
                # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's
                # adaptive mmap threshold: every large numpy temporary is then mapped and
                # unmapped afresh and a call takes about 1.6 times as long. None unsets it.
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            }
            with dask.config.set(settings):
                cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            client = Client(cluster)
    except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
        if cluster is not None:
            cluster.close()
        where = scheduler or "local cluster"
        raise BatchError(
            f"{where}: cannot start or reach the Dask cluster ({exc})", EXIT_CLUSTER
        ) from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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
        if row["status"] == "error":
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
        cfg = load_config(args.config)
        if args.agent_channel is not None:
            if args.agent_channel not in ("left", "right"):
                raise ConfigError(
                    f"--agent-channel must be left or right, got {args.agent_channel!r}"
                )
            cfg = with_overrides(cfg, call={"agent_channel": args.agent_channel})
    except ConfigError as exc:
        raise BatchError(str(exc), EXIT_USAGE) from None
    table = cfg.extra.get("transcription", {})
    redact = bool(table.get("redact", True) if args.redact is None else args.redact)
    settings = None
    if not args.no_transcribe and table.get("enabled", True):
        try:
            settings = transcriber_settings(
                cfg,
                model=args.model,
                device=args.whisper_device,
                compute_type=args.compute_type,
                language=args.language,
                policy="block",  # offline: wait for the model, skip nothing
            )
        except ValueError as exc:
            raise BatchError(str(exc), EXIT_USAGE) from None
        from audio.transcribe import ModelError, load_model

        try:
            load_model(settings)  # fail here once, not on every call
        except ModelError as exc:
            raise BatchError(f"{exc} (or pass --no-transcribe)", EXIT_USAGE) from None
    return BatchOptions(
        cfg=cfg,
        transcriber=settings,
        redact=redact,
        agent_name=args.agent_name,
        tracks=not args.no_tracks,
    )


def _prepare_out(out: Path) -> Path:
    try:
        (out / LOG_DIR).mkdir(parents=True, exist_ok=True)
        probe = out / ".tonewatch-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise BatchError(
            f"{out}: cannot write to the output folder ({exc.strerror})", EXIT_LOG
        ) from None
    return out


def _skipped_row(job: CallJob, out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    rel = str(log_path(out, job.call).relative_to(out))
    fields = _from_summary(summary)
    return _row(job, "skipped", log=rel, compute_s=summary.get("compute_s"), **fields)


def _orphan_row(o: Orphan) -> dict[str, Any]:
    job = CallJob(o.call, (o.path,))
    return _row(job, "error", error=f"{o.path}: no {o.missing} file matches the pair pattern")


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

    rows: list[dict[str, Any]] = [_orphan_row(o) for o in orphans]
    todo: list[CallJob] = []
    for job in jobs:
        summary = None if args.force else finished_summary(log_path(out, job.call))
        if summary is not None:
            rows.append(_skipped_row(job, out, summary))
        else:
            todo.append(job)
    meta = {
        "inputs": list(args.inputs),
        "pair_pattern": args.pair_pattern,
        "transcribe": opts.transcriber is not None,
        "settings": opts.cfg.source,
    }
    progress = Progress(len(todo) + len(orphans), sys.stderr.isatty())
    for r in rows:
        if r["status"] == "error":
            progress.advance(r)
    started = time.monotonic()
    last_write = started
    interrupted = False

    def on_row(row: dict[str, Any]) -> None:
        nonlocal last_write
        rows.append(row)
        progress.advance(row)
        if time.monotonic() - last_write > 5.0:
            write_index(out, rows, meta)
            last_write = time.monotonic()

    try:
        if todo:
            with open_client(args.scheduler, args.workers) as client:
                run_jobs(client, todo, opts, out, on_row)
    except KeyboardInterrupt:
        interrupted = True
        # Calls cut off with their workers start afresh on resume; drop what they began.
        finished = {r["call"] for r in rows}
        for job in todo:
            if job.call not in finished:
                _side(log_path(out, job.call), ".tmp").unlink(missing_ok=True)
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
        f"index {out / 'index.csv'}"
    )
    if interrupted:
        return 130
    return EXIT_FAILED if t["error"] else 0
