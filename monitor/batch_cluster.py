"""Where a batch runs: a Dask cluster, and the calls scheduled onto it.

`open_client` connects to a running scheduler (`--scheduler`) or starts a local cluster of
single-threaded worker processes; `run_jobs` sends the calls out longest first, keeps at
most as many in flight as the cluster has worker threads (so a call never waits queued
behind another on a worker that might die), and hands each finished row back as it comes.
A call whose worker dies gets an "error" row; the local cluster never retries a task that
killed a worker (on a cluster of your own, set `distributed.scheduler.allowed-failures`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from audio.transcribe import one_line
from monitor.batch_inputs import CallJob
from monitor.batch_task import BatchOptions, analyse_call, failed


class ClusterError(Exception):
    """The Dask cluster cannot be started or reached; the message is one line."""


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
            row = failed(job, out, f"worker failed while analysing this call ({why})", None)
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
        raise ClusterError(f"{where}: cannot start or reach the Dask cluster ({exc})") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
