"""The task a batch runs on a Dask worker: one recorded call into its alert log.

`analyse_call` runs the call through `run_call` (the loop replay and live use), writes its
log as ``DIR/logs/<call>.jsonl.tmp`` and renames it to ``<call>.jsonl`` only when the call
finished cleanly, so a file with the final name is always whole; a call whose audio fails
part-way keeps what it wrote as ``<call>.jsonl.partial`` (ending in a ``call_summary``
with status "error"). It then reads its log back into the QA columns and alert rows of the
call index and returns them with the call's row, so the batch driver (the index's one
writer) stores them: workers never open the index. It never raises for a bad call.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.log import AlertLog, LogError
from audio.sources import FileSource, SourceError
from audio.transcribe import TranscriberSettings, one_line
from monitor.batch_inputs import CallJob
from monitor.calllog import finished_summary as finished_summary  # resume reads it here
from monitor.config import Config
from monitor.options import OFFLINE_BLOCK_S
from monitor.session import CallSetup, run_call

LOG_DIR = "logs"


@dataclass(frozen=True)
class BatchOptions:
    """What every call of a batch shares; sent to the workers with each call.

    Attributes:
        cfg: the validated settings (agent channel override applied).
        transcriber: speech model settings (policy "block"), or None for acoustic only.
        redact: mask digit runs in logged transcripts.
        agent_name: stored in every record when given.
        tracks: write the 10 Hz level/pitch/speech track records.
        channels: the agent's and the customer's channel (from 1), for files with more.
    """

    cfg: Config
    transcriber: TranscriberSettings | None = None
    redact: bool = True
    agent_name: str | None = None
    tracks: bool = True
    channels: tuple[int, int] | None = None


def log_path(out: Path, call: str) -> Path:
    """Where the finished log of `call` lives below the output folder."""
    return out / LOG_DIR / f"{call}.jsonl"


def side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_row(job: CallJob, outcome: str, **fields: Any) -> dict[str, Any]:
    """A call's batch row: how it went (`outcome` ok/skipped/error), its inputs, its log
    below the output folder, the worker's compute seconds, the error, and `entries`: the
    log's calls as the index stores them (QA row, alert rows)."""
    row: dict[str, Any] = {
        "call": job.call,
        "outcome": outcome,
        "inputs": list(job.paths),
        "log": "",
        "compute_s": None,
        "error": "",
        "entries": [],
    }
    row.update(fields)
    return row


def read_entries(log: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The calls of a log as index entries; empty if it cannot be read."""
    from monitor.callindex import entry
    from monitor.calllog import CallLogError, read_calls

    try:
        return [entry(c) for c in read_calls(log, [], tracks=False)]
    except CallLogError:
        return []


def _open_source(job: CallJob, opts: BatchOptions) -> FileSource:
    if job.paired:
        return FileSource(
            agent_path=job.paths[0],
            customer_path=job.paths[1],
            block_s=OFFLINE_BLOCK_S,
            channels=opts.channels,
        )
    return FileSource(
        job.paths[0],
        agent_channel=opts.cfg.call.agent_channel,
        block_s=OFFLINE_BLOCK_S,
        channels=opts.channels,
    )


def _speech(opts: BatchOptions, call: str) -> tuple[Any, Any]:
    """A transcription worker on this process's cached model, and a phrase spotter."""
    from monitor.transcription import SpeechSetup

    setup = SpeechSetup(opts.transcriber, tuple(opts.cfg.cues.active), opts.redact)
    worker, spotter, _ = setup.parts(call)  # the model: loaded once per process, cached
    return worker, spotter


def analyse_call(job: CallJob, opts: BatchOptions, out_dir: str) -> dict[str, Any]:
    """Analyse one call into its log; returns its batch row. Runs on a Dask worker.

    Never raises for a bad call: its error becomes the row's outcome and message.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    final = log_path(out, job.call)
    tmp, partial = side(final, ".tmp"), side(final, ".partial")

    def took() -> float:
        return round(time.perf_counter() - started, 3)

    worker = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in (tmp, partial):
            stale.unlink(missing_ok=True)
        worker, spotter = _speech(opts, job.call)
        source = _open_source(job, opts)
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
        if result.error:
            os.replace(tmp, partial)
            return make_row(
                job,
                "error",
                log=str(partial.relative_to(out)),
                error=result.error,
                compute_s=took(),
                entries=read_entries(partial),
            )
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        return make_row(
            job,
            "ok",
            log=str(final.relative_to(out)),
            compute_s=took(),
            entries=read_entries(final),
        )
    except (SourceError, LogError) as exc:
        return failed(job, out, str(exc), took())
    except Exception as exc:  # the batch's edge: a bug on one call must not stop the rest
        return failed(job, out, one_line(f"{type(exc).__name__}: {exc}"), took())
    finally:
        if worker is not None:
            worker.close(timeout=0)


def failed(job: CallJob, out: Path, message: str, compute_s: float | None) -> dict[str, Any]:
    """The row of a call that did not finish; a leftover .tmp log becomes .partial (and
    its calls, cut short, are in the row's entries)."""
    final = log_path(out, job.call)
    tmp, partial = side(final, ".tmp"), side(final, ".partial")
    rel = ""
    entries: list[Any] = []
    if tmp.exists():
        with contextlib.suppress(OSError):
            os.replace(tmp, partial)
            rel = str(partial.relative_to(out))
            entries = read_entries(partial)
    return make_row(job, "error", log=rel, error=message, compute_s=compute_s, entries=entries)
