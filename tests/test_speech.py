"""Transcription through the real pipeline: phrase alerts, transcript records, redaction,
and the alert log as QA reads it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from monitor.calllog import read_records as read_log
from tests.conftest import FIXTURES
from tests.test_cli import tonewatch


def _call(tmp_path, agent_files, customer_files):
    """A two-channel call: each phrase on its own side, with a second of silence between."""
    gap = np.zeros(16000, np.float32)
    agent, customer = [], []
    spans: dict[str, tuple[float, float]] = {}
    t = 0.0
    for name, side in [(f, "agent") for f in agent_files] + [(f, "c") for f in customer_files]:
        x, rate = sf.read(FIXTURES / f"phrases_{name}.flac", dtype="float32")
        assert rate == 16000
        quiet = np.zeros_like(x)
        spans[name] = (t, t + x.shape[0] / 16000)
        t += (x.shape[0] + gap.shape[0]) / 16000
        agent += [x if side == "agent" else quiet, gap]
        customer += [quiet if side == "agent" else x, gap]
    path = tmp_path / "phrases_call.flac"
    sf.write(path, np.column_stack([np.concatenate(agent), np.concatenate(customer)]), 16000)
    return path, spans


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speech")
    call, spans = _call(tmp, ["calm_down", "apology", "card_number"], ["supervisor", "noise"])
    log = tmp / "log.jsonl"
    r = tonewatch("replay", str(call), "--fast", "--log", str(log), timeout=300)
    assert r.returncode == 0, r.stderr
    return r, list(read_log(log)), spans


def test_phrase_alerts_from_the_embedded_model(replayed):
    r, records, _ = replayed
    cues = {(a["speaker"], a["cue"]) for a in records if a.get("kind") == "phrase"}
    assert ("agent", "calm_down") in cues
    assert ("agent", "apology") in cues
    assert ("customer", "supervisor_request") in cues
    assert "You told the customer to calm down." in r.stdout
    phrase = next(a for a in records if a.get("cue") == "calm_down")
    assert "calm down" in phrase["text"].lower() and phrase["severity"] == "warning"


def test_transcripts_are_logged_redacted_and_noise_gives_no_text(replayed):
    _, records, spans = replayed
    transcripts = [t for t in records if t["record"] == "transcript"]
    assert {t["speaker"] for t in transcripts} == {"agent", "customer"}
    # The noise-only stretch must not add invented words to what the customer said (the
    # worker may batch it with the phrase before it; the text must stay that phrase's).
    customer = " ".join(t["text"] for t in transcripts if t["speaker"] == "customer")
    assert "supervisor" in customer.lower()
    assert len(customer.split()) <= len(
        ["I", "want", "to", "speak", "to", "your", "supervisor", "right", "now."]
    )
    assert not [t for t in transcripts if t["start"] > spans["noise"][0] - 0.3], transcripts
    card = [t for t in transcripts if "#" in t["text"]]
    assert card, [t["text"] for t in transcripts]
    assert not any(ch.isdigit() for t in transcripts for ch in t["text"])
    summary = records[-1]
    assert summary["transcription"]["skipped"] == 0
    assert summary["cues"]["customer.supervisor_request"] == 1


def test_each_turn_and_cue_of_a_fast_replay_keeps_its_own_time(replayed):
    """`replay --fast` transcribes behind the audio, several of a speaker's turns at once:
    still one transcript per turn, each within its own phrase, and each cue at its own
    words (not at the first turn of a batch)."""
    _, records, spans = replayed
    agent = [t for t in records if t["record"] == "transcript" and t["speaker"] == "agent"]
    assert len(agent) == 3, [(t["start"], t["text"]) for t in agent]
    for t, name in zip(agent, ["calm_down", "apology", "card_number"], strict=True):
        lo, hi = spans[name]
        assert lo - 0.4 <= t["start"] < t["end"] <= hi + 0.4, (name, t)
    for cue in ("calm_down", "apology"):
        (alert,) = [a for a in records if a.get("cue") == cue]
        lo, hi = spans[cue]
        assert lo - 0.3 <= alert["start"] < alert["end"] <= hi + 0.3, (cue, alert)


def test_no_redact_keeps_digits(tmp_path):
    call, _ = _call(tmp_path, ["card_number"], [])
    log = tmp_path / "log.jsonl"
    r = tonewatch("replay", str(call), "--fast", "--no-redact", "--log", str(log), timeout=300)
    assert r.returncode == 0, r.stderr
    texts = [t["text"] for t in read_log(log) if t["record"] == "transcript"]
    assert any(ch.isdigit() for t in texts for ch in t), texts


def test_missing_model_warns_once_and_acoustic_monitoring_goes_on(tmp_path):
    r = tonewatch(
        "replay",
        str(FIXTURES / "customer_yelling.flac"),
        "--fast",
        "--model",
        str(tmp_path / "no-such-model"),
    )
    assert r.returncode == 0
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no-such-model" in warnings[0]
    assert "customer_yelling" in r.stdout


def test_no_transcribe_writes_no_transcripts(tmp_path):
    call, _ = _call(tmp_path, ["calm_down"], [])
    log = tmp_path / "log.jsonl"
    r = tonewatch("replay", str(call), "--fast", "--no-transcribe", "--log", str(log))
    assert r.returncode == 0
    records = list(read_log(log))
    assert not [x for x in records if x["record"] == "transcript" or x.get("kind") == "phrase"]
    assert json.dumps(records[-1]["transcription"]) == "null"
