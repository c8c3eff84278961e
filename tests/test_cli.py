"""The command line as a user runs it: replay, the log it writes, and bad input."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from monitor.calllog import read_records as read_log
from tests.conftest import FIXTURES, run_cli, voice

YELL = FIXTURES / "customer_yelling.flac"


tonewatch = run_cli


def test_replay_prints_and_logs_alerts(tmp_path):
    log = tmp_path / "calls" / "out.jsonl"
    r = tonewatch(
        "replay",
        str(YELL),
        "--fast",
        "--no-transcribe",
        "--log",
        str(log),
        "--call-id",
        "c1",
        "--agent-name",
        "dana",
    )
    assert r.returncode == 0, r.stderr
    assert "customer_yelling" in r.stdout and "tip:" in r.stdout
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    records = list(read_log(log))
    assert records[0]["record"] == "call_start" and records[-1]["record"] == "call_summary"
    alerts = [r for r in records if r["record"] == "alert"]
    assert [a["kind"] for a in alerts] == ["customer_yelling"]
    fields = {
        "kind",
        "speaker",
        "start",
        "end",
        "severity",
        "message",
        "tip",
        "evidence",
        "text",
        "call",
        "at",
    }
    assert fields <= set(alerts[0]) and alerts[0]["call"] == "c1" and alerts[0]["agent"] == "dana"
    assert alerts[0]["evidence"]["pitch_change_st"] > 3
    assert records[-1]["status"] == "complete"
    assert records[-1]["counts"]["customer_yelling"] == 1


def test_two_mono_files_and_channel_swap(tmp_path):
    stereo, rate = sf.read(YELL, dtype="float32")
    sf.write(tmp_path / "a.wav", stereo[:, 0], rate)
    sf.write(tmp_path / "c.wav", stereo[:, 1], rate)
    r = tonewatch(
        "replay",
        "--agent",
        str(tmp_path / "a.wav"),
        "--customer",
        str(tmp_path / "c.wav"),
        "--fast",
    )
    assert r.returncode == 0 and "customer_yelling" in r.stdout
    sf.write(tmp_path / "swapped.flac", stereo[:, ::-1], rate)
    r = tonewatch("replay", str(tmp_path / "swapped.flac"), "--agent-channel", "right", "--fast")
    assert r.returncode == 0 and "customer_yelling" in r.stdout


def _bad_inputs(d):
    (d / "empty.wav").write_bytes(b"")
    (d / "text.wav").write_text("not audio at all " * 20)
    sf.write(d / "mono.wav", voice(1.0), 16000)
    sf.write(d / "cut.wav", np.zeros((16000, 2)), 16000)
    data = (d / "cut.wav").read_bytes()
    (d / "cut.wav").write_bytes(data[: len(data) // 2])
    (d / "bad.toml").write_text("[detector]\ncooldown_s = -3\n")
    return d


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["replay", "{d}/missing.flac"], 3, "no such file"),
        (["replay", "{d}/empty.wav"], 3, "file is empty"),
        (["replay", "{d}/text.wav"], 3, "not a readable audio file"),
        (["replay", "{d}/mono.wav"], 3, "has 1 channel"),
        (["replay", "{d}/cut.wav", "--fast"], 3, "truncated"),
        (["replay", str(YELL), "--agent-channel", "middle"], 2, "--agent-channel"),
        (["replay", str(YELL), "--config", "{d}/bad.toml"], 2, "detector.cooldown_s"),
        (["replay"], 2, "no call given"),
        (["replay", str(YELL), "--block-s", "0"], 2, "--block-s must be from"),
        (["replay", str(YELL), "--log", "/proc/nope/x.jsonl"], 4, "cannot open alert log"),
    ],
)
def test_bad_input_one_line_and_exit_code(tmp_path, args, code, words):
    d = _bad_inputs(tmp_path)
    r = tonewatch(*[a.format(d=d) for a in args])
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr


def test_truncated_call_keeps_alerts_written_before_the_damage(tmp_path):
    data = YELL.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: int(len(data) * 0.85)])
    log = tmp_path / "cut.jsonl"
    r = tonewatch("replay", str(cut), "--fast", "--log", str(log))
    assert r.returncode == 3 and "corrupt or truncated" in r.stderr
    records = list(read_log(log))
    assert any(x.get("kind") == "customer_yelling" for x in records)
    assert records[-1]["record"] == "call_summary" and records[-1]["status"] == "error"


def test_damage_inside_a_call_keeps_the_alerts_before_it_and_is_one_line(tmp_path):
    """Bytes scrambled inside the FLAC stream, the rest of the file intact: the decoder
    loses sync and (libsndfile) cannot seek back. The audio before the damage is still
    analysed, its alerts are logged, and the error is one line naming the file."""
    data = bytearray(YELL.read_bytes())
    at = int(len(data) * 0.85)
    for i in range(at, at + 2000):
        data[i] = (data[i] * 7 + 13) % 256
    bad = tmp_path / "damaged.flac"
    bad.write_bytes(bytes(data))
    log = tmp_path / "damaged.jsonl"
    r = tonewatch("replay", str(bad), "--fast", "--no-transcribe", "--log", str(log))
    assert r.returncode == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged.flac" in lines[0] and "corrupt" in lines[0], r.stderr
    records = list(read_log(log))
    assert any(x.get("kind") == "customer_yelling" for x in records)
    assert records[-1]["record"] == "call_summary" and records[-1]["status"] == "error"


def test_read_log_survives_a_partial_last_line(tmp_path):
    log = tmp_path / "crash.jsonl"
    alert = {"record": "alert", "kind": "customer_yelling", "speaker": "customer"}
    alert.update(start=1.0, end=2.0, severity="warning")
    log.write_text(json.dumps(alert) + '\n{"rec')
    warnings: list[str] = []
    assert [r["kind"] for r in read_log(log, warnings)] == ["customer_yelling"]
    assert len(warnings) == 1 and "partial" in warnings[0]


def test_config_command_prints_effective_settings(tmp_path):
    (tmp_path / "t.toml").write_text("[analysis]\nvad_aggressiveness = 3\n")
    r = tonewatch("config", "--config", str(tmp_path / "t.toml"))
    assert r.returncode == 0 and "vad_aggressiveness = 3" in r.stdout
    assert "[detector]" in r.stdout


def test_help_documents_every_replay_option():
    r = tonewatch("replay", "--help")
    for opt in (
        "--agent",
        "--customer",
        "--agent-channel",
        "--log",
        "--fast",
        "--no-transcribe",
        "--call-id",
        "--agent-name",
        "--config",
        "--quiet",
    ):
        assert opt in r.stdout


def test_replay_block_size_changes_nothing_but_the_reading(tmp_path):
    KINDS = ("alert", "track", "call_summary")
    """`--block-s`: 441-sample blocks (not whole hops) log what 5 s blocks log."""
    logs = []
    for extra in ([], ["--block-s", str(441 / 16000)]):
        log = tmp_path / f"b{len(logs)}.jsonl"
        r = tonewatch("replay", str(YELL), "--fast", "--no-transcribe", "--log", str(log), *extra)
        assert r.returncode == 0, r.stderr
        records = [
            {k: v for k, v in rec.items() if k not in ("at", "call", "compute_s")}
            for rec in read_log(log)
        ]
        # Each kind of record in order (how they interleave follows the blocks).
        logs.append({kind: [r for r in records if r["record"] == kind] for kind in KINDS})
    assert logs[0] == logs[1]
    assert logs[0]["alert"] and logs[0]["track"] and logs[0]["call_summary"]
