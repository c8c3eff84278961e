"""`tonewatch review` over logs from several replayed fixture calls: a cut-short log, a log
with two calls, files that are not logs, filters, sorting, the per-agent roll-up, the QA
columns of the CSV/JSON exports, and answering from the call index."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from alerts.model import KINDS
from monitor.callindex import CallIndex
from monitor.calllog import read_records as read_log
from monitor.qa_columns import columns, csv_cell
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


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index") / "index.sqlite"


def review(db: Path, *args: str) -> tuple[Any, list[dict[str, Any]]]:
    """Run review with a JSON export; returns (result, exported rows)."""
    out = db.parent / "rows.json"
    r = run_cli("review", "--db", str(db), *args, "--json", str(out))
    rows = json.loads(out.read_text(encoding="utf-8")) if r.returncode == 0 else []
    return r, rows


def test_table_lists_every_call_and_names_each_bad_file_once(folder, db):
    out = folder.parent / "table.json"
    # The console script's way, twice: the second run answers from the index.
    for _ in range(2):
        r = tonewatch("review", str(folder), "--db", str(db), "--json", str(out))
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
    assert out.stat().st_mode & 0o777 == 0o600
    assert db.stat().st_mode & 0o777 == 0o600


def test_rows_hold_the_qa_columns_of_the_logs(folder, db):
    _, rows = review(db, str(folder))
    assert all(list(r) == columns() for r in rows)
    by_log = {(Path(r["log"]).name, r["call"]): r for r in rows}
    for name, call in [("barge.jsonl", "barge"), ("calm.jsonl", "calm"), ("match.jsonl", "match")]:
        path = next(folder.rglob(name))
        summary = [x for x in read_log(path) if x["record"] == "call_summary"][0]
        row = by_log[(name, call)]
        assert row["status"] == "complete"
        assert {k: row[k] for k in KINDS} == summary["counts"]
        assert row["alerts"] == sum(summary["counts"].values())
        assert row["duration_s"] == pytest.approx(summary["duration_s"], abs=0.01)
        assert row["agent"] == summary["agent"]
        assert row["log"] == str(path.absolute())
        talk = summary["talk_s"]
        assert row["talk_agent_s"] == talk["agent"] and row["overlap_s"] == summary["overlap_s"]
        share = talk["agent"] / (talk["agent"] + talk["customer"])
        assert row["talk_share_agent"] == pytest.approx(share, abs=0.001)
        assert row["talk_share_agent"] + row["talk_share_customer"] == pytest.approx(1, abs=0.002)
        assert row["interruptions_agent"] == summary["agent_interruptions"]
        for sp in ("agent", "customer"):
            for lv in ("raised", "yelling"):
                assert row[f"{lv}_{sp}_s"] == summary["elevated_s"][sp][lv]
    barge = by_log[("barge.jsonl", "barge")]
    assert barge["worst_kind"] == "agent_interrupting"  # warning beats the info apology
    assert barge["worst_severity"] == "warning" and barge["worst_start"] > 0
    # The apology is a good sign, in its own column, not counted with the warnings.
    assert barge["good_agent_apology"] == 1 and barge["good_signs"] == 1
    assert barge["cue_warnings"] == 0 and barge["cue_customer_profanity"] == 0
    assert barge["cues"] == "agent.apology=1"
    assert barge["report"] is None and barge["source"].endswith("agent_barge_in.flac")
    match = by_log[("match.jsonl", "match")]
    assert match["yelling_agent_s"] > 0 and match["worst_severity"] == "critical"
    assert by_log[("calm.jsonl", "calm")]["worst_severity"] is None
    # The crashed call keeps what was logged before the crash, and says it was cut short.
    crashed = by_log[("crashed.jsonl", "yell")]
    assert crashed["status"] == "cut short"
    assert 30 < crashed["duration_s"] < 45
    assert crashed["customer_yelling"] == 0 and crashed["worst_severity"] is None
    assert crashed["talk_agent_s"] is None and crashed["overlap_s"] is None


def test_filters(folder, db):
    def calls(*args: str) -> list[str]:
        r, rows = review(db, str(folder), *args)
        assert r.returncode == 0, r.stderr
        return sorted(row["call"] for row in rows)

    # The crashed copy of yell was cut before its alert; match has one too.
    assert calls("--kind", "customer_yelling") == ["match", "yell"]
    assert calls("--min-severity", "critical") == ["match"]  # the agent yelling
    assert calls("--kind", "apology") == ["barge"]  # a phrase cue name works too
    assert calls("--kind", "agent.apology") == ["barge"]
    assert calls("--kind", "agent_interrupting,agent_matching") == ["barge", "match"]
    assert calls("--agent", "DANA") == ["barge", "calm", "calm"]
    assert calls("--agent", "dana", "--min-severity", "warning") == ["barge"]
    assert "calm" not in calls("--min-severity", "info")
    assert calls("--since", "2000-01-01") == calls()
    assert calls("--since", "1d") == calls()
    assert calls("--since", "99999999d") == calls()  # as far back as dates go
    assert calls("--since", "2999-01-01") == []
    assert calls("--until", "2000-01-01") == []
    r, rows = review(db, str(folder), "--kind", "shouting")
    assert r.returncode == 2 and rows == []
    assert "--kind shouting: no such alert kind or phrase cue" in r.stderr
    r = run_cli("review", "--db", str(db), str(folder), "--since", "last tuesday")
    assert r.returncode == 2 and "--since" in r.stderr
    r = run_cli("review", "--db", str(db), str(folder), "--since", "")
    assert r.returncode == 2 and "--since is empty" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("review", "--db", str(db), str(folder), "--min-severity", "loud")
    assert r.returncode == 2


def test_sorting(folder, db):
    _, rows = review(db, str(folder), "--sort", "duration")
    durations = [r["duration_s"] for r in rows]
    assert durations == sorted(durations, reverse=True)
    _, rows = review(db, str(folder), "--sort", "worst")
    assert rows[0]["call"] == "match" and rows[0]["worst_severity"] == "critical"
    assert rows[1]["worst_severity"] == "warning" and rows[-1]["worst_severity"] is None
    _, rows = review(db, str(folder), "--sort", "call", "--reverse")
    assert [r["call"] for r in rows] == sorted((r["call"] for r in rows), reverse=True)
    _, rows = review(db, str(folder), "--sort", "date")
    dates = [r["date"] for r in rows]
    assert dates == sorted(dates)


def test_by_agent_rolls_calls_up(folder, db):
    r, rows = review(db, str(folder), "--by", "agent")
    assert r.returncode == 0, r.stderr
    _, calls = review(db, str(folder))
    by = {row["agent"]: row for row in rows}
    assert set(by) == {c["agent"] for c in calls}
    for agent, row in by.items():
        mine = [c for c in calls if c["agent"] == agent]
        assert row["calls"] == len(mine)
        assert row["alerts"] == sum(c["alerts"] for c in mine)
        assert row["good_signs"] == sum(c["good_signs"] for c in mine)
        assert row["yelling_agent_s"] == pytest.approx(
            sum(c["yelling_agent_s"] or 0 for c in mine), abs=0.11
        )
    assert by["dana"]["good_signs"] == 1 and by["dana"]["interruptions_agent"] >= 1
    assert "dana" in r.stdout and "agent(s)" in r.stdout


def test_csv_export_has_the_same_columns_and_defuses_formulas(folder, db, tmp_path):
    out = tmp_path / "calls.csv"
    r = run_cli(
        "review", "--db", str(db), str(folder), "--kind", "phrase,agent_matching", "--csv", str(out)
    )
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == columns()
    assert sorted(row["call"] for row in rows) == ["barge", "match"]
    barge = next(row for row in rows if row["call"] == "barge")
    assert barge["agent"] == "dana" and barge["status"] == "complete"
    assert {k: barge[k] for k in KINDS if barge[k] != "0"} == {
        "agent_interrupting": "1",
        "phrase": "1",
    }
    assert barge["worst_kind"] == "agent_interrupting" and barge["worst_severity"] == "warning"
    assert barge["good_agent_apology"] == "1" and barge["log"].endswith("barge.jsonl")
    assert float(barge["duration_s"]) == pytest.approx(59.65, abs=0.01)
    assert out.stat().st_mode & 0o777 == 0o600

    # An agent named like a formula, and a log named like one.
    evil = tmp_path / "evil"
    evil.mkdir()
    text = (folder / "calm.jsonl").read_text(encoding="utf-8")
    text = text.replace('"agent": "dana"', '"agent": "=HYPERLINK(\\"http://x\\")"')
    (evil / "=1+2.jsonl").write_text(text, encoding="utf-8")
    r = run_cli("review", "--db", str(db), str(evil), "--csv", str(out))
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["agent"] == '\'=HYPERLINK("http://x")'
    assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
    for bad in ("=x", "+x", "-x", "@x", "\tx", "\rx"):
        assert csv_cell(bad) == "'" + bad
    assert csv_cell("a=b") == "a=b" and csv_cell(-1.5) == -1.5


def test_files_and_globs_and_nothing_found(folder, db, tmp_path):
    r, rows = review(db, str(folder / "barge.jsonl"), str(folder / "week2" / "*.jsonl"))
    assert r.returncode == 0 and sorted(x["call"] for x in rows) == ["barge", "match"]
    r = run_cli(
        "review", "--db", str(db), str(folder / "missing.jsonl"), str(folder / "calm.jsonl")
    )
    assert r.returncode == 0 and "missing.jsonl: no such file or folder" in r.stderr
    batch = tmp_path / "batch" / "logs"  # `batch` keeps a failed call's log as .partial
    batch.mkdir(parents=True)
    shutil.copy(folder / "calm.jsonl", batch / "calm.jsonl.partial")
    r, rows = review(db, str(tmp_path / "batch"))
    assert r.returncode == 0 and [x["call"] for x in rows] == ["calm"]
    r = run_cli("review", "--db", str(db), str(tmp_path / "*.jsonl"))
    assert r.returncode == 2 and "no alert logs found" in r.stderr
    r = run_cli(
        "review", "--db", str(db), str(folder), "--json", str(tmp_path / "no" / "such" / "x.json")
    )
    assert r.returncode == 4 and "x.json" in r.stderr
    # An export never overwrites a log it reads.
    before = (folder / "calm.jsonl").read_bytes()
    calm = str(folder / "calm.jsonl")
    r = run_cli("review", "--db", str(db), calm, "--json", calm)
    assert r.returncode == 2 and "is one of the inputs" in r.stderr
    assert (folder / "calm.jsonl").read_bytes() == before


def test_a_changed_log_is_read_again_and_an_unchanged_one_is_not(folder, tmp_path):
    db = tmp_path / "i.sqlite"
    log = tmp_path / "calm.jsonl"
    shutil.copy(folder / "calm.jsonl", log)
    _, rows = review(db, str(log))
    assert [r["call"] for r in rows] == ["calm"]
    with CallIndex(db) as idx:
        idx.con.execute("UPDATE calls SET agent = 'marked'")  # what the index holds
    _, rows = review(db, str(log))
    assert rows[0]["agent"] == "marked"  # not read again: answered from the index
    # Appending a call changes the file: both calls now come from the log.
    with open(log, "ab") as fh:
        fh.write((folder / "barge.jsonl").read_bytes())
    _, rows = review(db, str(log))
    assert sorted((r["call"], r["agent"]) for r in rows) == [("barge", "dana"), ("calm", "dana")]


def test_no_path_reads_the_live_log_folder(folder, tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    r = run_cli("review")
    assert r.returncode == 2 and "no calls yet" in r.stderr
    live = data / "tonewatch" / "calls"
    live.mkdir(parents=True)
    shutil.copy(folder / "barge.jsonl", live / "20261201T090000Z_barge.jsonl")
    r = run_cli("review", "--json", str(tmp_path / "rows.json"))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [x["call"] for x in rows] == ["barge"]
    index = data / "tonewatch" / "index.sqlite"
    assert index.stat().st_mode & 0o777 == 0o600
    assert os.stat(index.parent).st_mode & 0o777 == 0o700
