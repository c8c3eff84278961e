"""`tonewatch batch` on a cluster started as a real one is: `dask scheduler` and two
`dask worker` processes, each its own process, and the batch driver as a third. All write
to one call index (through the driver). One worker is killed (SIGKILL) while it analyses
a long call: only that call fails, the other calls finish on the other worker, and the
rerun redoes the killed call and skips the rest. No fixed sleeps: everything polls with a
deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.callindex import CallIndex
from tests.conftest import FIXTURES, ROOT

SHORT = ["calm_call", "customer_yelling", "agent_barge_in"]


def wait_for(what: str, ok: Callable[[], bool], deadline_s: float = 120.0) -> None:
    end = time.monotonic() + deadline_s
    while not ok():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # a poll interval, not a wait for something to happen


def env() -> dict[str, str]:
    e = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A task whose worker died is that call's error, not retried elsewhere (the setting a
    # real cluster gets in its Dask configuration; docs/batch.md).
    e["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
    return e


@pytest.fixture
def cluster(tmp_path) -> Iterator[dict]:
    """A scheduler and two single-threaded workers without nannies (so a killed worker
    stays dead), each started as its own `dask` process."""
    file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "dask-logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115
        p = subprocess.Popen(
            ["dask", *args], env=env(), stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        procs.append(p)
        return p

    try:
        start("scheduler", "scheduler", "--scheduler-file", str(file), "--port", "0")
        wait_for("the scheduler file", lambda: file.exists() and file.stat().st_size > 0)
        address = json.loads(file.read_text())["address"]
        workers = [
            start(
                f"worker{i}",
                "worker",
                "--scheduler-file",
                str(file),
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"w{i}",
            )
            for i in range(2)
        ]
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "workers": workers, "logs": logs}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def open_files(pid: int) -> set[str]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
    except OSError:
        pass
    return out


def make_calls(folder: Path) -> None:
    folder.mkdir()
    for name in SHORT:
        (folder / f"{name}.flac").write_bytes((FIXTURES / f"{name}.flac").read_bytes())
    # A long call (six fixture calls back to back, about six minutes), so it is still
    # running when its worker is killed.
    parts = [sf.read(FIXTURES / f"{n}.flac", dtype="int16")[0] for n in SHORT * 2]
    sf.write(folder / "long.flac", np.concatenate(parts), 16000, subtype="PCM_16")


def batch(calls: Path, out: Path, db: Path, address: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "monitor", "batch", str(calls), "--out", str(out)]
    cmd += ["--db", str(db), "--no-transcribe", "--scheduler", address]
    return subprocess.Popen(
        cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_killed_worker_loses_only_its_call_and_the_rerun_redoes_it(cluster, tmp_path):
    calls, out, db = tmp_path / "calls", tmp_path / "out", tmp_path / "index.sqlite"
    make_calls(calls)
    run = batch(calls, out, db, cluster["address"])
    # The long call starts first (longest first); find the worker writing its log.
    tmp = str(out / "logs" / "long.jsonl.tmp")
    victim: list[subprocess.Popen] = []

    def writing() -> bool:
        # Mid-call: the log is open on a worker and has its first records.
        if os.path.exists(tmp) and os.path.getsize(tmp) > 0:
            victim[:] = [w for w in cluster["workers"] if tmp in open_files(w.pid)]
        return bool(victim) or run.poll() is not None

    wait_for("a worker to be writing the long call's log", writing)
    assert victim, f"the batch ended first: {run.communicate()}"
    os.kill(victim[0].pid, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 5, stderr
    assert "Traceback" not in stderr
    rows = {r["call"]: r for r in json.loads((out / "index.json").read_text())["calls"]}
    assert rows["long"]["outcome"] == "error" and "worker failed" in rows["long"]["error"]
    assert {c: rows[c]["outcome"] for c in SHORT} == dict.fromkeys(SHORT, "ok")
    assert not (out / "logs" / "long.jsonl").exists()
    assert (out / "logs" / "long.jsonl.partial").exists()
    with CallIndex(db) as idx:
        first = {r["call"]: r for r in idx.query()}
    assert set(first) == {*SHORT, "long"}
    assert first["long"]["status"] == "cut short"  # what the killed worker had written
    assert all(first[c]["status"] == "complete" for c in SHORT)

    # The rerun, on the worker that is left: the long call is redone, the others skipped.
    again = batch(calls, out, db, cluster["address"])
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert "4 calls: 1 ok, 3 skipped, 0 failed" in stdout
    rows = {r["call"]: r for r in json.loads((out / "index.json").read_text())["calls"]}
    assert rows["long"]["outcome"] == "ok" and rows["long"]["duration_s"] > 300
    assert not (out / "logs" / "long.jsonl.partial").exists()
    with CallIndex(db) as idx:
        final = idx.query()
    assert sorted(r["call"] for r in final) == sorted([*SHORT, "long"])  # each once
    assert all(r["status"] == "complete" for r in final)
    long_row = next(r for r in final if r["call"] == "long")
    assert long_row["log"] == str(out / "logs" / "long.jsonl")
    for c in SHORT:  # the skipped calls are the rows of the first run, unchanged
        row = next(r for r in final if r["call"] == c)
        assert row["id"] == first[c]["id"] and row["alerts"] == first[c]["alerts"]
