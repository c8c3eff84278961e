"""The call index: `tonewatch index`, the hook replay calls when its log completes, a log
cut short by a crash, rebuilds that keep reviewers' notes, file modes, and several
processes writing one index at once without losing a call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.callindex import CallIndex, Filters
from tests.conftest import FIXTURES, ROOT
from tests.test_report import replayed_logs, run_cli


def copy_as(src: Path, dst: Path, call: str, agent: str) -> None:
    """A log of the same call under another call id and agent name."""
    lines = []
    for line in src.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec["call"] = call
        if rec["record"] != "track":
            rec["agent"] = agent
        lines.append(json.dumps(rec))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    return replayed_logs(tmp_path_factory)


def test_index_command_adds_rebuilds_and_keeps_reviews(logs, tmp_path):
    db = tmp_path / "i.sqlite"
    folder = tmp_path / "logs"
    copy_as(logs["barge"], folder / "a.jsonl", "a", "dana")
    copy_as(logs["match"], folder / "b.jsonl", "b", "bob")
    (folder / "junk.jsonl").write_text("not json\n")
    (folder / "a.html").write_text("<p>a report</p>")  # `tonewatch report a.jsonl` made it
    r = run_cli("index", str(folder), "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "read 2 log(s) (2 calls), 0 unchanged, 1 skipped" in r.stdout
    assert "junk.jsonl: not a tonewatch alert log" in r.stderr
    r = run_cli("index", str(folder), "--db", str(db))
    assert "read 0 log(s) (0 calls), 2 unchanged, 1 skipped" in r.stdout
    with CallIndex(db) as idx:
        b = idx.query(Filters(agent="bob"))[0]
        a = idx.query(Filters(agent="dana"))[0]
        assert a["report"] == str(folder / "a.html") and b["report"] is None
        idx.set_review(b["id"], True, "spoke to Bob")
        assert [a["kind"] for a in idx.alerts(b["id"])] == [
            a["kind"]
            for a in (json.loads(x) for x in logs["match"].read_text().splitlines())
            if a["record"] == "alert"
        ]
    r = run_cli("index", str(folder), "--db", str(db), "--rebuild")
    assert "read 2 log(s) (2 calls)" in r.stdout and "it holds 2 calls" in r.stdout
    with CallIndex(db) as idx:
        b = idx.query(Filters(agent="bob"))[0]
        assert b["note"] == "spoke to Bob" and b["reviewed_at"]
        assert [r["call"] for r in idx.query(Filters(reviewed=False))] == ["a"]
    r = run_cli("index", str(tmp_path / "empty*"), "--db", str(db))
    assert r.returncode == 2 and "no alert logs found" in r.stderr


def test_a_log_cut_short_by_a_crash_is_indexed_as_such(logs, tmp_path):
    data = logs["yell"].read_bytes()
    log = tmp_path / "crash.jsonl"
    log.write_bytes(data[: len(data) // 2])
    with CallIndex(tmp_path / "i.sqlite") as idx:
        warnings: list[str] = []
        idx.refresh([log], warnings)
        (row,) = idx.query()
    assert row["status"] == "cut short" and 0 < row["duration_s"] < 60
    assert any("no call_summary" in w for w in warnings)


def test_replay_adds_its_log_to_the_default_index(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    log = tmp_path / "calm.jsonl"
    cmd = [sys.executable, "-m", "monitor", "replay", str(FIXTURES / "calm_call.flac")]
    cmd += ["--fast", "--quiet", "--no-transcribe", "--log", str(log), "--call-id", "c1"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    db = tmp_path / "data" / "tonewatch" / "index.sqlite"
    with CallIndex(db) as idx:
        rows = idx.query()
    assert [(x["call"], x["status"], x["log"]) for x in rows] == [("c1", "complete", str(log))]
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700


def test_a_broken_index_never_fails_the_call(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    db = tmp_path / "data" / "tonewatch" / "index.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    log = tmp_path / "calm.jsonl"
    cmd = [sys.executable, "-m", "monitor", "replay", str(FIXTURES / "calm_call.flac")]
    cmd += ["--fast", "--quiet", "--no-transcribe", "--log", str(log)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "not added to the call index" in r.stderr and log.stat().st_size > 0


def test_many_processes_write_one_index_without_losing_a_call(logs, tmp_path):
    """Four `tonewatch index` processes at once, 30 logs each, into one database."""
    db = tmp_path / "shared.sqlite"
    groups = []
    for w in range(4):
        files = []
        for i in range(30):
            f = tmp_path / f"w{w}" / f"c{i}.jsonl"
            copy_as(logs["barge"], f, f"w{w}-c{i}", f"agent{w}")
            files.append(str(f))
        groups.append(files)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "index", "--db", str(db), *files],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for files in groups
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with CallIndex(db) as idx:
        calls = sorted(r["call"] for r in idx.query())
        for extra in ("-wal", "-shm"):  # SQLite gives its side files the database's mode
            side = Path(str(db) + extra)
            assert side.exists() and side.stat().st_mode & 0o777 == 0o600
    assert calls == sorted(f"w{w}-c{i}" for w in range(4) for i in range(30))
    assert db.stat().st_mode & 0o777 == 0o600


def _writer(db: str, log: str, worker: int, n: int, barrier: object) -> None:
    from monitor.callindex import CallIndex, entry
    from monitor.calllog import read_calls

    (call,) = read_calls(log, [], tracks=False)
    row, alerts = entry(call)
    with CallIndex(db) as idx:
        barrier.wait()  # type: ignore[attr-defined]
        for i in range(n):  # one transaction per call, all four processes at once
            idx.add_entries(f"{log}.w{worker}.{i}", [({**row, "call": f"{worker}-{i}"}, alerts)])


def test_concurrent_transactions_queue_instead_of_failing(logs, tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    db = str(tmp_path / "busy.sqlite")
    CallIndex(db).close()
    barrier = ctx.Barrier(4)
    procs = [
        ctx.Process(target=_writer, args=(db, str(logs["barge"]), w, 50, barrier)) for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with CallIndex(db) as idx:
        assert idx.count() == 200
        assert len({r["call"] for r in idx.query()}) == 200


def test_live_adds_each_finished_call_to_the_default_index(tmp_path, monkeypatch):
    """`tonewatch live` on fake hardware (as tests/test_live.py drives it): two calls split
    on silence, each in the index once its log is complete."""
    import numpy as np

    from audio.types import SAMPLE_RATE
    from tests.test_live import CALM, FakeDevice, FakeHardware, at_rate, fixture, live_config
    from tests.test_live import run_live as live

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    speech = fixture(CALM, 0.0, 8.0)
    quiet = np.zeros((4 * SAMPLE_RATE, 2), np.float32)
    dev = FakeDevice("Call mixer", at_rate(np.concatenate([speech, quiet, speech]), 44100), 44100)
    config = live_config(tmp_path, split_silence_s=2.5)
    code, _, err = live(
        FakeHardware([dev]), monkeypatch, tmp_path, "--device", "0", "--config", str(config)
    )
    assert code == 0, err
    logs = sorted(str(p) for p in (tmp_path / "calls").glob("*.jsonl"))
    assert len(logs) == 2
    with CallIndex(tmp_path / "data" / "tonewatch" / "index.sqlite") as idx:
        rows = idx.query()
    assert sorted(r["log"] for r in rows) == logs
    assert all(r["status"] == "complete" and r["duration_s"] > 5 for r in rows)
