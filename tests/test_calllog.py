"""The call-log schema and its one reader: bad records are skipped with a warning naming
the file and line, never a traceback, and one bad file never stops a review of many."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.calllog import (
    SCHEMA,
    finished_summary,
    parse_line,
    read_calls,
    read_records,
)
from monitor.cli import main
from monitor.qa_columns import call_row
from monitor.report import pick_call, render, report_data

ROOT = Path(__file__).resolve().parent.parent
YELL = ROOT / "fixtures" / "customer_yelling.flac"


@pytest.fixture(scope="module")
def good_lines(tmp_path_factory) -> list[str]:
    """A real log: the yelling fixture through the replay pipeline."""
    log = tmp_path_factory.mktemp("log") / "yell.jsonl"
    code = main(["replay", str(YELL), "--fast", "--no-transcribe", "--quiet", "--log", str(log)])
    assert code == 0
    return log.read_text(encoding="utf-8").splitlines(keepends=True)


def _first(lines: list[str], kind: str) -> int:
    return next(i for i, x in enumerate(lines) if json.loads(x)["record"] == kind)


def _mutated(lines: list[str], kind: str, **fields: Any) -> tuple[list[str], int]:
    out = list(lines)
    i = _first(out, kind)
    rec = json.loads(out[i])
    rec.update(fields)
    out[i] = json.dumps(rec) + "\n"
    return out, i + 1


BAD = {
    "evidence_list": ("alert", {"evidence": [1, 2]}),
    "start_null": ("alert", {"start": None}),
    "cue_counts_text": ("call_summary", {"cues": {"agent.calm_down": "three"}}),
    "counts_text": ("call_summary", {"counts": {"customer_yelling": "1"}}),
    "rate_text": ("track", {"rate_hz": "fast"}),
    "series_text": ("track", {"agent": {"level_db": "loud"}}),
    "duration_text": ("call_summary", {"duration_s": "long"}),
    "start_far_future": ("alert", {"start": 1e300}),
    "rate_huge": ("track", {"rate_hz": 1e9}),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_malformed_record_is_skipped_with_file_and_line(tmp_path, good_lines, name):
    kind, fields = BAD[name]
    lines, number = _mutated(good_lines, kind, **fields)
    log = tmp_path / f"{name}.jsonl"
    log.write_text("".join(lines), encoding="utf-8")
    warnings: list[str] = []
    (call,) = read_calls(log, warnings)
    assert any(str(log) in w and f"line {number}:" in w for w in warnings), warnings
    # Report and review both work on what is left.
    data = report_data(pick_call(log, None, []), [])
    json.dumps(data, allow_nan=False)
    assert render(data, None)
    assert call_row(call)["call"] == call.call


def test_review_of_many_files_survives_the_bad_ones(tmp_path, good_lines, capsys):
    paths = []
    for name, (kind, fields) in BAD.items():
        lines, _ = _mutated(good_lines, kind, **fields)
        p = tmp_path / f"{name}.jsonl"
        p.write_text("".join(lines), encoding="utf-8")
        paths.append(str(p))
    (tmp_path / "junk.jsonl").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "list.jsonl").write_text("[1, 2, 3]\n")
    good = tmp_path / "good.jsonl"
    good.write_text("".join(good_lines), encoding="utf-8")
    export = tmp_path / "rows.json"
    bad = [str(tmp_path / "junk.jsonl"), str(tmp_path / "list.jsonl")]
    code = main(["review", *paths, *bad, str(good), "--json", str(export)])
    out = capsys.readouterr()
    assert code == 0 and "Traceback" not in out.err
    rows = json.loads(export.read_text())
    assert len(rows) == len(BAD) + 1  # every damaged log still gives its call
    assert all(p in out.err for p in bad)  # the two unreadable files are named


def test_nan_tokens_in_old_logs_read_as_null(tmp_path, good_lines):
    lines = list(good_lines)
    i = _first(lines, "alert")
    lines[i] = lines[i].replace('"evidence": {', '"evidence": {"bad": NaN, ', 1)
    log = tmp_path / "nan.jsonl"
    log.write_text("".join(lines), encoding="utf-8")
    recs = list(read_records(log))
    alert = next(r for r in recs if r["record"] == "alert")
    assert alert["evidence"]["bad"] is None
    page = render(report_data(pick_call(log, None, []), []), None)
    assert "NaN" not in page


def test_batch_resume_reads_the_last_record_through_the_schema(tmp_path, good_lines):
    log = tmp_path / "done.jsonl"
    log.write_text("".join(good_lines), encoding="utf-8")
    assert finished_summary(log) is not None
    lines, _ = _mutated(good_lines, "call_summary", counts={"phrase": "many"})
    log.write_text("".join(lines), encoding="utf-8")
    assert finished_summary(log) is None  # a damaged summary is not a finished call


# -- property: any JSON line -> a record or a skipped line with a warning -------------------

FIELDS = sorted({k for fields in SCHEMA.values() for k in fields} | {"call", "agent", "at"})
# Numbers stay within a day either side of zero, besides the special ones: a report of a
# (valid) 48-hour call takes a while to build, and that is no error.
numbers = st.one_of(
    st.integers(-86400, 86400),
    st.floats(-86400, 86400),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e300, -(2**70), 2**70]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=8),
    st.sampled_from(["agent", "customer", "warning", "critical", "complete", "phrase"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)
records = st.fixed_dictionaries(
    {"record": st.sampled_from([*SCHEMA, "other"])},
    optional={name: json_values for name in FIELDS},
)
SERIES = {"level_db": [-30.0, None], "pitch_st": [1.0, None], "speech": [1, 0]}
TEMPLATES: dict[str, dict[str, Any]] = {
    "call_start": {"record": "call_start", "call": "c", "at": "2026-11-23T09:00:00+00:00"},
    "alert": {
        "record": "alert",
        "kind": "customer_yelling",
        "speaker": "customer",
        "start": 1.0,
        "end": 2.0,
        "severity": "critical",
        "message": "m",
        "tip": "t",
        "evidence": {"level_over_baseline_db": 9.0},
        "text": None,
        "call": "c",
        "at": "2026-11-23T09:00:01+00:00",
    },
    "transcript": {
        "record": "transcript",
        "speaker": "agent",
        "start": 0.0,
        "end": 1.0,
        "text": "hello",
        "call": "c",
    },  # fmt: skip
    "track": {
        "record": "track",
        "call": "c",
        "start": 0.0,
        "rate_hz": 10,
        "agent": {**SERIES, "baseline": None},
        "customer": {**SERIES, "baseline": {"level_db": -30.0, "pitch_st": 0.0}},
    },  # fmt: skip
    "call_summary": {
        "record": "call_summary",
        "call": "c",
        "duration_s": 3.0,
        "status": "complete",
        "counts": {"customer_yelling": 1},
        "cues": {"agent.apology": 1},
        "talk_s": {"agent": 1.0, "customer": 1.0},
        "overlap_s": 0.0,
    },  # fmt: skip
}
"""One valid record of each kind; the property test spoils one or two fields of them."""
spoiled = st.sampled_from(sorted(TEMPLATES)).flatmap(
    lambda kind: st.dictionaries(
        st.sampled_from(sorted({*TEMPLATES[kind], *FIELDS})), json_values, max_size=2
    ).map(lambda over: {**TEMPLATES[kind], **over})
)
lines = st.one_of(
    spoiled.map(lambda r: json.dumps(r, allow_nan=True)),
    spoiled.map(lambda r: json.dumps(r, allow_nan=True)),
    records.map(lambda r: json.dumps(r, allow_nan=True)),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.text(max_size=30),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.lists(lines, min_size=1, max_size=4), where=st.integers(0, 50))
def test_any_json_line_is_a_record_or_a_warning(tmp_path_factory, good_lines, extra, where):
    out = list(good_lines)
    at = min(where, len(out))
    out[at:at] = [x.replace("\n", " ") + "\n" for x in extra]
    log = tmp_path_factory.mktemp("any") / "any.jsonl"
    log.write_text("".join(out), encoding="utf-8")
    for line in extra:
        rec, why = parse_line(line)
        assert (rec is None) == bool(why)
    warnings: list[str] = []
    for tracks in (True, False):
        calls = read_calls(log, warnings, tracks=tracks)
        for call in calls:
            json.dumps(call_row(call), allow_nan=False)
            payload = json.dumps(report_data(call, []), allow_nan=False)
            assert payload
    assert all("\n" not in w for w in warnings)
