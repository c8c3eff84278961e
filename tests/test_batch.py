"""`tonewatch batch` on a real local Dask cluster: shipped fixture calls through the real
pipeline, corrupt and truncated files, a rerun that must skip finished calls, agent/customer
pairs by name, and a worker that dies mid-call."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import soundfile as sf

from alerts.model import ACOUSTIC_KINDS, KINDS
from monitor.batch_cluster import open_client, run_jobs
from monitor.batch_inputs import CallJob, InputError, discover
from monitor.batch_task import BatchOptions, analyse_call, finished_summary, log_path
from monitor.callindex import CallIndex
from monitor.calllog import read_records as read_log
from monitor.cli import main
from monitor.config import load_config, transcriber_settings
from monitor.qa_columns import columns
from tests.conftest import FIXTURES

GOOD = ["calm_call", "customer_yelling", "agent_barge_in"]

# The crash task below must reach the workers by value: they cannot import this test file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def check_alerts(name: str, alerts: list[dict]) -> None:
    """The alerts of a fixture call match its expected file (as in test_fixtures)."""
    spec = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    acoustic = [a for a in alerts if a["kind"] in ACOUSTIC_KINDS]
    for exp in spec["expected"]:
        assert any(
            a["kind"] == exp["kind"]
            and a["speaker"] == exp["speaker"]
            and abs(a["start"] - exp["start"]) <= exp["tolerance_s"]
            for a in acoustic
        ), f"{name}: missing {exp}; got {[(a['kind'], a['start']) for a in acoustic]}"
    allowed = {(e["kind"], e["speaker"]) for e in spec["expected"] + spec["allowed"]}
    extra = [a["kind"] for a in acoustic if (a["kind"], a["speaker"]) not in allowed]
    assert not extra, f"{name}: unexpected alerts {extra}"


def records(path: Path) -> list[dict]:
    return list(read_log(path))


def index(out: Path) -> dict[str, dict]:
    doc = json.loads((out / "index.json").read_text())
    return {row["call"]: row for row in doc["calls"]}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One batch over three fixture calls, random bytes and a truncated call; then a rerun."""
    root = tmp_path_factory.mktemp("batch")
    calls = root / "calls"
    (calls / "day2").mkdir(parents=True)
    for name in GOOD[:2]:
        shutil.copy(FIXTURES / f"{name}.flac", calls / f"{name}.flac")
    shutil.copy(FIXTURES / f"{GOOD[2]}.flac", calls / "day2" / f"{GOOD[2]}.flac")
    rng = np.random.default_rng(7)
    (calls / "noise_bytes.flac").write_bytes(rng.integers(0, 256, 40_000, np.uint8).tobytes())
    whole = (FIXTURES / "agent_matching.flac").read_bytes()
    (calls / "day2" / "cut_short.flac").write_bytes(whole[: len(whole) // 3])
    out = root / "out"
    db = root / "db" / "index.sqlite"
    argv = ["batch", str(calls), "--out", str(out), "--no-transcribe", "--workers", "2"]
    argv += ["--db", str(db)]
    first = main(argv)
    first_index = index(out)
    with CallIndex(db) as idx:
        first_db = idx.query(sort="call")
    stamps = {
        p.relative_to(out): (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in (out / "logs").rglob("*")
        if p.is_file()
    }
    second = main(argv)
    with CallIndex(db) as idx:
        second_db = idx.query(sort="call")
    return {
        "out": out,
        "db": (first_db, second_db),
        "codes": (first, second),
        "first": first_index,
        "second": index(out),
        "stamps": stamps,
    }


def test_good_calls_get_complete_logs_with_their_expected_alerts(batch):
    out, rows = batch["out"], batch["first"]
    ids = {"calm_call", "customer_yelling", "day2/agent_barge_in"}
    assert {c for c, r in rows.items() if r["outcome"] == "ok"} == ids
    for call in ids:
        name = call.split("/")[-1]
        path = log_path(out, call)
        assert path.stat().st_mode & 0o777 == 0o600
        recs = records(path)
        assert recs[0]["record"] == "call_start" and recs[0]["call"] == call
        summary = finished_summary(path)
        assert summary is not None and summary == recs[-1]
        alerts = [r for r in recs if r["record"] == "alert"]
        check_alerts(name, alerts)
        row = rows[call]
        assert row["duration_s"] == pytest.approx(summary["duration_s"])
        assert row["duration_s"] > 50 and row["compute_s"] > 0
        assert row["log"] == str(path) and row["status"] == "complete"
        for kind in KINDS:
            assert row[kind] == sum(a["kind"] == kind for a in alerts)
        assert row["talk_agent_s"] == summary["talk_s"]["agent"]


def test_corrupt_and_truncated_files_are_errors_and_never_complete_logs(batch):
    out, rows = batch["out"], batch["first"]
    assert batch["codes"][0] == 5
    noise, cut = rows["noise_bytes"], rows["day2/cut_short"]
    for row in (noise, cut):
        assert row["outcome"] == "error" and row["status"] == "error"
        assert "\n" not in row["error"] and row["inputs"].split(";")[0] in row["error"]
        assert not log_path(out, row["call"]).exists()
    assert "not a readable audio file" in noise["error"] and noise["log"] is None
    assert "truncated" in cut["error"]
    # What the truncated call did analyse is kept, under a name that is not a log's.
    partial = Path(cut["log"])
    assert partial.name == "cut_short.jsonl.partial"
    summary = records(partial)[-1]
    assert summary["record"] == "call_summary" and summary["status"] == "error"
    assert finished_summary(partial) is None
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_index_csv_has_a_row_per_call_with_counts_and_errors(batch):
    import csv

    with open(batch["out"] / "index.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = {r["call"]: r for r in reader}
    # The QA columns of review, after the batch's own.
    assert reader.fieldnames == ["outcome", "inputs", "compute_s", *columns()[:-2]]
    assert set(rows) == set(batch["second"])
    assert rows["customer_yelling"]["customer_yelling"] == "1"
    assert rows["noise_bytes"]["outcome"] == "error" and rows["noise_bytes"]["error"]
    assert rows["calm_call"]["error"] == ""
    assert (batch["out"] / "index.csv").stat().st_mode & 0o777 == 0o600
    assert (batch["out"] / "index.json").stat().st_mode & 0o777 == 0o600


def test_every_call_with_a_log_is_in_the_call_index_once(batch):
    first, second = batch["db"]
    rows = index(batch["out"])
    want = sorted(c for c, r in rows.items() if r["log"])
    assert [r["call"] for r in first] == want == [r["call"] for r in second]
    for r in second:
        assert {k: r[k] for k in KINDS} == {k: rows[r["call"]][k] for k in KINDS}
        assert r["log"] == rows[r["call"]]["log"]
    cut = next(r for r in second if r["call"] == "day2/cut_short")
    assert cut["status"] == "error" and cut["log"].endswith(".jsonl.partial")


def test_rerun_skips_finished_calls_without_recomputing_them(batch):
    out, rows, before = batch["out"], batch["second"], batch["stamps"]
    assert batch["codes"][1] == 5
    for call in ("calm_call", "customer_yelling", "day2/agent_barge_in"):
        assert rows[call]["outcome"] == "skipped"
        for k in KINDS:
            assert rows[call][k] == batch["first"][call][k]
        path = log_path(out, call)
        assert (path.stat().st_mtime_ns, path.stat().st_ino) == before[path.relative_to(out)]
    # Failed calls are tried again (and fail again).
    assert rows["noise_bytes"]["outcome"] == rows["day2/cut_short"]["outcome"] == "error"


def test_no_recordings_is_a_one_line_usage_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not audio")
    code = main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--no-transcribe"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no recordings found" in err
    assert main(["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2


# -- discovery -------------------------------------------------------------------------------


def split_to_mono(src: Path, agent: Path, customer: Path) -> None:
    data, rate = sf.read(src, dtype="int16")
    sf.write(agent, data[:, 0], rate, subtype="PCM_16")
    sf.write(customer, data[:, 1], rate, subtype="PCM_16")


def test_discovery_walks_folders_globs_and_files_with_stable_unique_ids(tmp_path):
    for rel in ("a/x.wav", "a/b/y.flac", "c/x.wav", "a/readme.txt", "a/b/.hidden.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    jobs, orphans = discover([str(tmp_path / "a")])
    assert [j.call for j in jobs] == ["b/y", "x"] and not orphans
    jobs, _ = discover([str(tmp_path / "**" / "*.wav"), str(tmp_path / "a" / "x.wav")])
    assert [j.call for j in jobs] == ["a/x", "c/x"]
    # Two files named alike in different folders keep apart (a hash of the path is added).
    jobs, _ = discover([str(tmp_path / "a" / "x.wav"), str(tmp_path / "c" / "x.wav")])
    calls = {j.call for j in jobs}
    assert len(calls) == 2 and all(c.startswith("x-") for c in calls)
    with pytest.raises(InputError, match="no such file"):
        discover([str(tmp_path / "nope")])
    with pytest.raises(InputError, match="exactly once"):
        discover([str(tmp_path)], ("agent.*", "{call}_customer.*"))


def test_pair_pattern_joins_mono_files_and_reports_orphans(tmp_path):
    for name in ("c1_agent.flac", "c1_customer.flac", "c2_agent.flac", "stereo.flac"):
        (tmp_path / name).write_bytes(b"")
    jobs, orphans = discover([str(tmp_path)], ("{call}_agent.*", "{call}_customer.*"))
    assert [(j.call, [Path(p).name for p in j.paths]) for j in jobs] == [
        ("c1", ["c1_agent.flac", "c1_customer.flac"]),
        ("stereo", ["stereo.flac"]),
    ]
    assert [(o.call, o.missing) for o in orphans] == [("c2", "customer")]


# -- on a shared cluster -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with open_client(None, 2) as c:
        yield c


def crash_on_boom(job: CallJob, opts: BatchOptions, out_dir: str) -> dict:
    """analyse_call, except that the call named "boom" kills its worker mid-log."""
    if job.call == "boom":
        tmp = log_path(Path(out_dir), job.call).with_suffix(".jsonl.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text('{"record": "call_start"}\n')
        os._exit(1)
    return analyse_call(job, opts, out_dir)


def test_paired_mono_files_run_like_the_stereo_call(client, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    split_to_mono(
        FIXTURES / "customer_yelling.flac", calls / "y_agent.wav", calls / "y_customer.wav"
    )
    jobs, _ = discover([str(calls)], ("{call}_agent.*", "{call}_customer.*"))
    out = tmp_path / "out"
    rows: list[dict] = []
    opts = BatchOptions(cfg=load_config())
    run_jobs(client, jobs, opts, out, rows.append)
    assert [(r["call"], r["outcome"]) for r in rows] == [("y", "ok")]
    recs = records(log_path(out, "y"))
    assert recs[0]["source"] == [str(calls / "y_agent.wav"), str(calls / "y_customer.wav")]
    check_alerts("customer_yelling", [r for r in recs if r["record"] == "alert"])


def test_a_worker_that_dies_fails_only_its_own_call(client, tmp_path):
    shutil.copy(FIXTURES / "calm_call.flac", tmp_path / "calm.flac")
    jobs = [
        CallJob("boom", (str(tmp_path / "calm.flac"),), 10**9),
        CallJob("calm", (str(tmp_path / "calm.flac"),), 1),
    ]
    out = tmp_path / "out"
    rows: list[dict] = []
    run_jobs(client, jobs, BatchOptions(cfg=load_config()), out, rows.append, crash_on_boom)
    by_call = {r["call"]: r for r in rows}
    assert by_call["calm"]["outcome"] == "ok"
    boom = by_call["boom"]
    assert boom["outcome"] == "error" and "worker failed" in boom["error"]
    assert not log_path(out, "boom").exists()
    assert boom["log"] == "logs/boom.jsonl.partial"
    assert not list(out.rglob("*.tmp"))


def test_transcription_runs_on_the_workers_and_finds_the_phrase_cues(client, tmp_path):
    spec = json.loads((FIXTURES / "phrases.expected.json").read_text())
    names = ["phrases_supervisor.flac", "phrases_apology.flac", "phrases_calm_down.flac"]
    for name in names:  # mono clips: onto their speaker's side of a two-channel call
        voice, rate = sf.read(FIXTURES / name, dtype="float32")
        call = np.zeros((voice.shape[0], 2), np.float32)
        call[:, 0 if spec[name]["speaker"] == "agent" else 1] = voice
        sf.write(tmp_path / name, call, rate)
    jobs, _ = discover([str(tmp_path / name) for name in names])
    cfg = load_config()
    opts = BatchOptions(cfg=cfg, transcriber=transcriber_settings(cfg, policy="block"))
    out = tmp_path / "out"
    rows: list[dict] = []
    run_jobs(client, jobs, opts, out, rows.append)
    assert sorted(r["outcome"] for r in rows) == ["ok"] * 3
    for name in names:
        recs = records(log_path(out, name.removesuffix(".flac")))
        said = [r for r in recs if r["record"] == "transcript"]
        assert said and all(r["speaker"] == spec[name]["speaker"] for r in said)
        text = " ".join(r["text"] for r in said).lower()
        assert all(w in text for w in spec[name]["words"]), text
        cues = {r["cue"] for r in recs if r["record"] == "alert" and r["kind"] == "phrase"}
        assert set(spec[name]["cues"]) <= cues
        summary = recs[-1]["transcription"]
        assert summary["skipped"] == 0 and summary["error"] is None


def test_cli_on_an_existing_scheduler_with_pairs_and_an_orphan(client, tmp_path, capsys):
    calls = tmp_path / "calls"
    calls.mkdir()
    split_to_mono(FIXTURES / "calm_call.flac", calls / "c1_agent.flac", calls / "c1_customer.flac")
    shutil.copy(calls / "c1_agent.flac", calls / "c2_agent.flac")
    out = tmp_path / "out"
    argv = ["batch", str(calls), "--out", str(out), "--no-transcribe"]
    argv += ["--db", str(tmp_path / "index.sqlite")]
    argv += ["--pair-pattern", "{call}_agent.*", "{call}_customer.*"]
    code = main([*argv, "--scheduler", client.scheduler.address])
    captured = capsys.readouterr()
    assert code == 5
    assert "c2" in captured.err and "no customer file" in captured.err
    assert captured.out.startswith("batch: 2 calls: 1 ok, 0 skipped, 1 failed")
    rows = index(out)
    assert rows["c1"]["outcome"] == "ok"
    assert rows["c1"]["inputs"] == f"{calls / 'c1_agent.flac'};{calls / 'c1_customer.flac'}"
    assert finished_summary(log_path(out, "c1")) is not None
    assert rows["c2"]["outcome"] == "error" and not log_path(out, "c2").exists()


def test_local_workers_keep_glibc_adaptive_malloc(client):
    """Dask's MALLOC_TRIM_THRESHOLD_ makes the analysis ~1.6x slower; the batch unsets it."""
    found = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(found) == 2 and set(found.values()) == {None}
