"""`tonewatch review` over logs from several replayed fixture calls: a cut-short log, a log
with two calls, files that are not logs, filters, sorting and the CSV/JSON exports."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from alerts.log import read_log
from alerts.model import KINDS
from tests.conftest import FIXTURES
from tests.test_cli import tonewatch
from tests.test_report import replayed_logs, run_cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A QA folder: four complete calls (one in a subfolder), one crashed mid-call, two
    calls appended to one log, and two files that are not logs."""
    logs = replayed_logs(tmp_path_factory)
    root = tmp_path_factory.mktemp("qa")
    (root / "week2").mkdir()
    shutil.copy(logs["barge"], root / "barge.jsonl")
    shutil.copy(logs["calm"], root / "calm.jsonl")
    shutil.copy(logs["match"], root / "week2" / "match.jsonl")
    # The crash cuts the yell call inside the line of its first alert.
    lines = logs["yell"].read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(b'{"record": "alert"'))
    (root / "crashed.jsonl").write_bytes(b"".join(lines[:first]) + lines[first][:40])
    (root / "two.jsonl").write_bytes(logs["yell"].read_bytes() + logs["calm"].read_bytes())
    shutil.copy(FIXTURES / "calm_call.flac", root / "audio.jsonl")  # binary, not a log
    (root / "notes.jsonl").write_text('{"hello": 1}\n["x"]\n', encoding="utf-8")
    return root


def review(*args: str) -> tuple[Any, list[dict[str, Any]]]:
    """Run review with a JSON export; returns (result, exported rows)."""
    out = Path(args[0].split("*")[0]).parent / "rows.json"  # beside the QA folder
    r = run_cli("review", *args, "--json", str(out))
    rows = json.loads(out.read_text(encoding="utf-8")) if r.returncode == 0 else []
    return r, rows


def test_table_lists_every_call_and_names_each_bad_file_once(folder):
    out = folder.parent / "table.json"
    r = tonewatch("review", str(folder), "--json", str(out))  # the console script's way
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    calls = sorted(row["call"] for row in rows)
    # crashed.jsonl holds the cut-short yell call; two.jsonl holds yell and calm again.
    assert calls == ["barge", "calm", "calm", "match", "yell", "yell"]
    for call in ("barge", "calm", "match", "yell", "dana", "alice", "bob", "cut short"):
        assert call in r.stdout
    assert "6 of 6 calls from 5 log file(s) (2 other file(s) skipped)" in r.stdout
    warnings = r.stderr.strip().splitlines()
    assert all(w.startswith("tonewatch: warning:") for w in warnings)
    assert [w for w in warnings if "audio.jsonl" in w] == [
        f"tonewatch: warning: {folder / 'audio.jsonl'}: not a tonewatch alert log "
        "(binary data), skipped"
    ]
    assert len([w for w in warnings if "notes.jsonl" in w]) == 1
    crashed = [w for w in warnings if "crashed.jsonl" in w]
    assert len(crashed) == 2 and "partial last line" in crashed[0]
    assert "no call_summary" in crashed[1]


def test_rows_match_the_logs(folder):
    _, rows = review(str(folder))
    by_log = {(Path(r["log"]).name, r["call"]): r for r in rows}
    for name, call in [("barge.jsonl", "barge"), ("calm.jsonl", "calm"), ("match.jsonl", "match")]:
        path = next(folder.rglob(name))
        summary = [x for x in read_log(path) if x["record"] == "call_summary"][0]
        row = by_log[(name, call)]
        assert row["status"] == "complete"
        assert row["counts"] == summary["counts"]
        assert row["duration_s"] == pytest.approx(summary["duration_s"], abs=0.01)
        assert row["agent"] == summary["agent"]
    barge = by_log[("barge.jsonl", "barge")]
    assert barge["worst"]["kind"] == "agent_interrupting"  # warning beats the info apology
    assert barge["worst"]["severity"] == "warning" and barge["cues"] == {"agent.apology": 1}
    assert by_log[("calm.jsonl", "calm")]["worst"] is None
    # The crashed call keeps what was logged before the crash.
    crashed = by_log[("crashed.jsonl", "yell")]
    assert crashed["status"] == "cut short"
    assert 30 < crashed["duration_s"] < 45
    assert crashed["counts"]["customer_yelling"] == 0 and crashed["worst"] is None


def test_filters(folder):
    def calls(*args: str) -> list[str]:
        r, rows = review(str(folder), *args)
        assert r.returncode == 0, r.stderr
        return sorted(row["call"] for row in rows)

    # The crashed copy of yell was cut before its alert; match has one too.
    assert calls("--kind", "customer_yelling") == ["match", "yell"]
    assert calls("--min-severity", "critical") == ["match"]  # the agent yelling
    assert calls("--kind", "apology") == ["barge"]  # a phrase cue name works too
    assert calls("--kind", "agent_interrupting,agent_matching") == ["barge", "match"]
    assert calls("--agent", "DANA") == ["barge", "calm", "calm"]
    assert calls("--agent", "dana", "--min-severity", "warning") == ["barge"]
    assert "calm" not in calls("--min-severity", "info")
    assert calls("--since", "2000-01-01") == calls()
    assert calls("--since", "1d") == calls()
    assert calls("--since", "2999-01-01") == []
    r, rows = review(str(folder), "--kind", "shouting")
    assert rows == [] and "--kind shouting: no such alert kind" in r.stderr
    r = run_cli("review", str(folder), "--since", "last tuesday")
    assert r.returncode == 2 and "--since" in r.stderr
    r = run_cli("review", str(folder), "--min-severity", "loud")
    assert r.returncode == 2


def test_sorting(folder):
    _, rows = review(str(folder), "--sort", "duration")
    durations = [r["duration_s"] for r in rows]
    assert durations == sorted(durations, reverse=True)
    _, rows = review(str(folder), "--sort", "worst")
    assert rows[0]["call"] == "match" and rows[0]["worst"]["severity"] == "critical"
    assert rows[1]["worst"]["severity"] == "warning" and rows[-1]["worst"] is None
    _, rows = review(str(folder), "--sort", "call", "--reverse")
    assert [r["call"] for r in rows] == sorted((r["call"] for r in rows), reverse=True)
    _, rows = review(str(folder), "--sort", "date")
    dates = [r["date"] for r in rows]
    assert dates == sorted(dates)


def test_csv_export(folder, tmp_path):
    out = tmp_path / "calls.csv"
    r = run_cli("review", str(folder), "--kind", "phrase,agent_matching", "--csv", str(out))
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(row["call"] for row in rows) == ["barge", "match"]
    barge = next(row for row in rows if row["call"] == "barge")
    assert barge["agent"] == "dana" and barge["status"] == "complete"
    assert [barge[k] for k in KINDS] == ["0", "0", "0", "0", "0", "1", "1"]
    assert barge["worst_kind"] == "agent_interrupting" and barge["worst_severity"] == "warning"
    assert barge["cues"] == "agent.apology=1" and barge["log"].endswith("barge.jsonl")
    assert float(barge["duration_s"]) == pytest.approx(59.65, abs=0.01)


def test_files_and_globs_and_nothing_found(folder, tmp_path):
    r, rows = review(str(folder / "barge.jsonl"), str(folder / "week2" / "*.jsonl"))
    assert r.returncode == 0 and sorted(x["call"] for x in rows) == ["barge", "match"]
    r = run_cli("review", str(folder / "missing.jsonl"), str(folder / "calm.jsonl"))
    assert r.returncode == 0 and "missing.jsonl: no such file or folder" in r.stderr
    batch = tmp_path / "batch" / "logs"  # `batch` keeps a failed call's log as .partial
    batch.mkdir(parents=True)
    shutil.copy(folder / "calm.jsonl", batch / "calm.jsonl.partial")
    r, rows = review(str(tmp_path / "batch"))
    assert r.returncode == 0 and [x["call"] for x in rows] == ["calm"]
    r = run_cli("review", str(tmp_path / "*.jsonl"))
    assert r.returncode == 2 and "no alert logs found" in r.stderr
    r = run_cli("review", str(folder), "--json", str(tmp_path / "no" / "such" / "x.json"))
    assert r.returncode == 4 and "x.json" in r.stderr
