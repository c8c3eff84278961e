"""One call from blocks to records: the loop shared by replay, live capture and batch.

`run_call` runs `analyze` (monitor/pipeline.py) over any iterable of blocks, stamps each
record with the wall-clock time of emission and the agent's name, writes it to the alert
log (fsynced) and hands it to the sinks (the terminal, a live view, ...), then writes the
`call_summary`.
A source that fails mid-call still gets its summary (status "error") before the error is
raised again, so nothing already reported is lost. Runs on the caller's thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from alerts.log import AlertLog
from alerts.model import AlertWords, now_iso
from audio.sources import SourceError
from audio.types import SAMPLE_RATE, Block
from monitor.config import Config, as_dict
from monitor.pipeline import Analysis, Pipeline, Record, analyze
from monitor.snapshot import Snapshot

Sink = Callable[[Record], None]


class CallInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the call; its summary ("status": "interrupted") was written."""

    def __init__(self, result: CallResult) -> None:
        super().__init__()
        self.result = result


@dataclass
class CallResult:
    """What a finished call left behind."""

    summary: dict[str, Any]
    error: str | None = None
    records: int = 0


@dataclass
class CallSetup:
    """Everything about one call besides its audio."""

    cfg: Config
    call: str
    log: AlertLog | None = None
    sinks: list[Sink] = field(default_factory=list)
    agent_name: str | None = None
    source: Any = None
    worker: Any = None
    spotter: Any = None
    tracks: bool = True
    on_snapshot: Callable[[Snapshot], None] | None = None
    """Called after every block with the pipeline's snapshot (the agent's view)."""
    summary_extra: Callable[[], dict[str, Any]] | None = None
    """More fields for the `call_summary` (live: the capture figures), asked at the end."""


def run_call(blocks: Iterable[Block], setup: CallSetup) -> CallResult:
    """Run one call to its end (or its source's failure); returns the summary.

    Raises:
        LogError: the alert log cannot be written.
    """
    log = setup.log

    def after_block(analysis: Analysis) -> None:
        write_tracks()
        if setup.on_snapshot is not None:
            setup.on_snapshot(analysis.snapshot)

    analysis = analyze(
        blocks,
        setup.cfg,
        setup.call,
        transcriber=setup.worker,
        spotter=setup.spotter,
        tracks=log is not None and setup.tracks,
        after_block=after_block,
    )
    pipe = analysis.pipeline
    profile_note = _seed_profile(setup, pipe)
    stamp: dict[str, Any] = {"call": setup.call}
    if setup.agent_name:
        stamp["agent"] = setup.agent_name
    started = time.perf_counter()
    count = 0

    def emit(rec: Record) -> None:
        nonlocal count
        rec.at = now_iso()
        rec.agent = setup.agent_name
        if log is not None:
            log.write(rec.to_record())
        if isinstance(rec, AlertWords):
            return  # later words for an alert already shown: the log's, not the view's
        for sink in setup.sinks:
            sink(rec)
        count += 1

    def write_tracks() -> None:
        if log is not None:
            for track in analysis.take_tracks():
                log.write(track)

    if log is not None:
        log.write(
            {
                "record": "call_start",
                **stamp,
                "at": now_iso(),
                "source": setup.source,
                "settings": as_dict(setup.cfg),
            }
        )
    error: str | None = None
    try:
        for rec in analysis:  # the blocks, through the pipeline, to the end of the call
            emit(rec)
    except SourceError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        # Ctrl-C: what was reported stays, and the log ends with a summary that says the
        # call was stopped; then the interrupt goes on to the command (exit 130).
        if setup.worker is not None:
            with contextlib.suppress(Exception):
                setup.worker.close(timeout=0)
        write_tracks()
        summary = call_summary(setup, pipe, started, None, status="interrupted")
        if log is not None:
            log.write(summary)
        raise CallInterrupted(CallResult(summary, None, count)) from None
    except Exception as exc:
        # A fault in the analysis itself: the log still ends with a summary saying so
        # (everything reported before stays), then the caller decides what comes next.
        _close_after_fault(setup, pipe, f"internal error: {type(exc).__name__}: {exc}", started)
        raise
    for rec in analysis.finish():  # after a source error: the tail still owed
        emit(rec)
    write_tracks()
    profile: dict[str, Any] | None = None
    if setup.agent_name:
        kept = pipe.detector.agent_profile_kept
        if kept is not None:
            profile_note["kept"] = kept
        profile = {**profile_note, **_update_profile(setup, pipe, error)}
    summary = call_summary(setup, pipe, started, error, profile=profile)
    if log is not None:
        log.write(summary)
    return CallResult(summary, error, count)


def _seed_profile(setup: CallSetup, pipe: Pipeline) -> dict[str, Any]:
    """Seed the agent's baseline from their voice profile (monitor/profile.py)."""
    if not setup.agent_name:
        return {}
    from monitor import profile

    try:
        prof = profile.load(setup.agent_name)
    except profile.ProfileError as exc:
        return {"seeded": False, "error": str(exc)}
    if prof is None:
        return {"seeded": False}
    pipe.detector.seed_agent(prof.stats, prof.raised_db)
    return {"seeded": True, "calls": prof.calls}


def _update_profile(setup: CallSetup, pipe: Pipeline, error: str | None) -> dict[str, Any]:
    """Fold this call's calm agent voice into the profile (complete calls only)."""
    from monitor import profile

    calm = pipe.detector.agent_calm_voice()
    if error or calm is None or not setup.agent_name:
        return {"updated": False}
    try:
        new = profile.update(setup.agent_name, *calm)
    except (profile.ProfileError, OSError) as exc:
        return {"updated": False, "error": str(exc)}
    return {"updated": new is not None}


def call_summary(
    setup: CallSetup,
    pipe: Pipeline,
    started: float,
    error: str | None,
    fault: bool = False,
    profile: dict[str, Any] | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The `call_summary` record: the one place it is put together.

    The pipeline's totals, the call's stamp (id, agent), wall-clock time of writing,
    status ("complete" or "error") with the error, compute time and the setup's extra
    fields. After an internal fault (`fault`) the pipeline's totals may be unusable; then
    only its duration is kept.
    """
    if fault:
        analysis: dict[str, Any] = {
            "record": "call_summary",
            "call": setup.call,
            "duration_s": round(pipe.n_samples / SAMPLE_RATE, 3),
        }
    else:
        analysis = pipe.summary()
    summary = {**analysis, "call": setup.call}
    if setup.agent_name:
        summary["agent"] = setup.agent_name
    if profile is not None:
        summary["agent_profile"] = profile  # what the agent's voice profile did
    summary["at"] = now_iso()
    summary["status"] = status or ("error" if error else "complete")
    if error:
        summary["error"] = error
    summary["compute_s"] = round(time.perf_counter() - started, 3)
    if setup.summary_extra is not None:
        summary.update(setup.summary_extra())
    return summary


def _close_after_fault(setup: CallSetup, pipe: Pipeline, error: str, started: float) -> None:
    """Best effort after an internal fault: stop the worker, write an error summary."""
    if setup.worker is not None:
        with contextlib.suppress(Exception):
            setup.worker.close(timeout=0)
    if setup.log is None:
        return
    with contextlib.suppress(Exception):
        setup.log.write(call_summary(setup, pipe, started, error, fault=True))
