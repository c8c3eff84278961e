"""Issue 13: bad samples, bad output paths, Ctrl-C, extra channels and unreadable files.

Each test reproduces one case of the issue through the real command line and the real
pipeline (fixtures/), and checks the one-line message, the exit code and what is on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.sources import FileSource
from monitor.calllog import read_records
from monitor.cli import main

ROOT = Path(__file__).resolve().parent.parent
YELL = ROOT / "fixtures" / "customer_yelling.flac"
CALM = ROOT / "fixtures" / "calm_call.flac"


def tonewatch(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "monitor", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def strict_json(path: Path) -> list[dict]:
    def refuse(token: str) -> None:
        raise ValueError(f"non-JSON token {token}")

    return [json.loads(x, parse_constant=refuse) for x in path.read_text().splitlines()]


# -- item 2: --log never changes a mode, refuses what is not a regular file ---------------


def test_an_existing_shared_log_keeps_its_mode(tmp_path):
    log = tmp_path / "shared.jsonl"
    log.write_text("")
    os.chmod(log, 0o664)
    r = tonewatch("replay", str(YELL), "--fast", "--no-transcribe", "--quiet", "--log", str(log))
    assert r.returncode == 0, r.stderr
    assert mode(log) == 0o664 and strict_json(log)[-1]["record"] == "call_summary"
    new = tmp_path / "sub" / "new.jsonl"
    r = tonewatch("replay", str(YELL), "--fast", "--no-transcribe", "--quiet", "--log", str(new))
    assert r.returncode == 0 and mode(new) == 0o600 and mode(new.parent) == 0o700


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_log_path_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    target = tmp_path / f"{kind}.jsonl"
    if kind == "fifo":
        os.mkfifo(target, 0o644)
    elif kind == "folder":
        target.mkdir(mode=0o755)
    elif os.geteuid() == 0:  # a private copy of /dev/null: root could change its mode
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        target = Path("/dev/null")
    before = mode(target)
    r = tonewatch("replay", str(YELL), "--fast", "--no-transcribe", "--log", str(target))
    assert r.returncode == 4
    line = one_line(r)
    assert str(target) in line and ("not a regular file" in line or "a folder" in line)
    assert mode(target) == before


# -- item 3: NaN/inf samples are silence, counted once; the log is JSON ------------------


def _damaged(tmp_path: Path) -> Path:
    x, rate = sf.read(YELL, dtype="float32", always_2d=True)
    x = x.copy()
    x[rate * 10 : rate * 11, 1] = np.nan
    x[rate * 12 : rate * 12 + 100, 0] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    return path


def test_nan_samples_become_silence_counted_once(tmp_path):
    wav = _damaged(tmp_path)
    log = tmp_path / "nan.jsonl"
    r = tonewatch("replay", str(wav), "--fast", "--no-transcribe", "--quiet", "--log", str(log))
    assert r.returncode == 0
    line = one_line(r)
    assert "16100 samples were NaN or infinite" in line and str(wav) in line
    records = strict_json(log)  # no bare NaN anywhere
    summary = records[-1]
    assert summary["input"]["nonfinite_samples"] == 16100
    assert any(x.get("kind") == "customer_yelling" for x in records)
    html = tmp_path / "nan.html"
    r = tonewatch("report", str(log), "-o", str(html))
    assert r.returncode == 0 and "NaN" not in html.read_text()


def test_an_all_nan_file_is_an_input_error(tmp_path):
    wav = tmp_path / "allnan.wav"
    sf.write(wav, np.full((48000, 2), np.nan, np.float32), 16000, subtype="FLOAT")
    r = tonewatch("replay", str(wav), "--fast", "--no-transcribe", "--quiet")
    assert r.returncode == 3 and "every sample is NaN or infinite" in r.stderr
    assert "Traceback" not in r.stderr and "RuntimeWarning" not in r.stderr


def test_the_log_writes_null_for_a_non_finite_number(tmp_path):
    from alerts.log import AlertLog

    with AlertLog(tmp_path / "x.jsonl") as log:
        log.write({"record": "alert", "evidence": {"a": float("nan"), "b": [float("inf"), 1.0]}})
    (rec,) = strict_json(tmp_path / "x.jsonl")
    assert rec["evidence"] == {"a": None, "b": [None, 1.0]}


# -- items 4 and 5: never onto an input; everything written 0600 --------------------------


@pytest.fixture(scope="module")
def a_log(tmp_path_factory) -> Path:
    log = tmp_path_factory.mktemp("log") / "L.jsonl"
    assert (
        main(["replay", str(YELL), "--fast", "--no-transcribe", "--quiet", "--log", str(log)]) == 0
    )
    return log


def test_outputs_onto_inputs_are_refused(tmp_path, a_log):
    log = tmp_path / "L.jsonl"
    shutil.copy(a_log, log)
    before = log.read_bytes()
    for args in (
        ["report", str(log), "-o", str(log)],
        ["review", str(log), "--json", str(log)],
        ["report", str(log), "--audio", str(YELL), "-o", str(YELL)],
    ):
        r = tonewatch(*args)
        assert r.returncode != 0 and "is one of the inputs" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert log.read_bytes() == before
    copy = tmp_path / "call.flac"
    shutil.copy(YELL, copy)
    r = tonewatch("replay", str(copy), "--fast", "--no-transcribe", "--log", str(copy))
    assert r.returncode == 4 and "is one of the inputs" in one_line(r)
    assert copy.read_bytes() == YELL.read_bytes()


def test_reports_exports_and_the_batch_index_are_private(tmp_path, a_log):
    out = tmp_path / "out"
    out.mkdir()
    r = tonewatch("report", str(a_log), "-o", str(out / "r.html"))
    assert r.returncode == 0, r.stderr
    r = tonewatch("review", str(a_log), "--json", str(out / "r.json"), "--csv", str(out / "r.csv"))
    assert r.returncode == 0, r.stderr
    for name in ("r.html", "r.json", "r.csv"):
        assert mode(out / name) == 0o600, name
    from monitor.batch_index import write_index

    (tmp_path / "b").mkdir()
    write_index(tmp_path / "b", [], {})
    for name in ("index.csv", "index.json"):
        assert mode(tmp_path / "b" / name) == 0o600


# -- item 9: Ctrl-C during replay writes an "interrupted" summary ---------------------------


def test_ctrl_c_during_replay_writes_the_summary(tmp_path, monkeypatch, capsys):
    real_iter = FileSource.__iter__

    def interrupted(self):  # the user presses Ctrl-C after 20 s of the call
        for block in real_iter(self):
            yield block
            if block.start + block.n_samples >= 20 * 16000:
                raise KeyboardInterrupt

    monkeypatch.setattr(FileSource, "__iter__", interrupted)
    log = tmp_path / "int.jsonl"
    code = main(["replay", str(CALM), "--fast", "--block-s", "1", "--no-transcribe"]
                + ["--quiet", "--log", str(log)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130
    assert len(err) == 1 and "interrupted" in err[0] and str(log) in err[0]
    records = list(read_records(log))
    summary = records[-1]
    assert summary["record"] == "call_summary" and summary["status"] == "interrupted"
    assert 19.0 <= summary["duration_s"] <= 21.0


# -- item 10: extra channels are named, never dropped silently --------------------------------


def test_extra_channels_need_a_channel_option(tmp_path):
    x, rate = sf.read(YELL, dtype="float32", always_2d=True)
    six = np.zeros((x.shape[0], 6), np.float32)
    six[:, 0], six[:, 4] = x[:, 0], x[:, 1]
    sf.write(tmp_path / "six.wav", six, rate)
    r = tonewatch("replay", str(tmp_path / "six.wav"), "--fast", "--no-transcribe", "--quiet")
    assert r.returncode == 3 and "has 6 channels" in one_line(r) and "--channels" in r.stderr
    log = tmp_path / "six.jsonl"
    r = tonewatch(
        "replay", str(tmp_path / "six.wav"), "--channels", "1,5", "--fast", "--no-transcribe",
        "--quiet", "--log", str(log),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    records = list(read_records(log))
    assert records[-1]["input"]["channels"] == [1, 5]
    assert any(x.get("kind") == "customer_yelling" for x in records)
    sf.write(tmp_path / "stereo.wav", x, rate)
    sf.write(tmp_path / "mono.wav", x[:, 1], rate)
    args = ["--agent", str(tmp_path / "stereo.wav"), "--customer", str(tmp_path / "mono.wav")]
    r = tonewatch("replay", *args, "--fast", "--no-transcribe", "--quiet")
    assert r.returncode == 3 and "has 2 channels but --agent takes" in one_line(r)
    r = tonewatch("replay", *args, "--channels", "1,1", "--fast", "--no-transcribe", "--quiet")
    assert r.returncode == 0, r.stderr
    r = tonewatch("replay", *args, "--channels", "1,3", "--fast", "--no-transcribe")
    assert r.returncode == 3 and "--channels 3 is not one" in one_line(r)


def test_batch_takes_the_channels_of_files_with_more_than_two(tmp_path):
    import csv

    x, rate = sf.read(YELL, dtype="float32", always_2d=True)
    six = np.zeros((x.shape[0], 6), np.float32)
    six[:, 0], six[:, 4] = x[:, 0], x[:, 1]
    (tmp_path / "calls").mkdir()
    sf.write(tmp_path / "calls" / "six.wav", six, rate)

    def rows(out: Path, *extra: str) -> list[dict[str, str]]:
        argv = ["batch", str(tmp_path / "calls"), "--out", str(out), "--no-transcribe"]
        main([*argv, "--workers", "1", *extra])
        with open(out / "index.csv", newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    (refused,) = rows(tmp_path / "plain")
    assert refused["outcome"] == "error" and "--channels A,C" in refused["error"]
    (picked,) = rows(tmp_path / "picked", "--channels", "1,5")
    assert picked["outcome"] == "ok" and int(picked["customer_yelling"]) >= 1


# -- item 11: an unreadable file says permission denied ---------------------------------------


def test_permission_denied_says_so(tmp_path):
    locked = tmp_path / "locked.flac"
    shutil.copy(YELL, locked)
    os.chmod(locked, 0)
    cmd = [sys.executable, "-m", "monitor", "replay", str(locked), "--fast", "--no-transcribe"]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that allow it
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to test this as root"
        caps = "-dac_override,-dac_read_search"
        cmd = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 3
    assert "permission denied" in one_line(r) and str(locked) in r.stderr
    # The report's audio is read the same way.
    log = tmp_path / "yell.jsonl"
    assert (
        tonewatch(
            "replay", str(YELL), "--fast", "--no-transcribe", "--quiet", "--log", str(log)
        ).returncode
        == 0
    )
    at = cmd.index(sys.executable)
    report = [
        *cmd[:at],
        sys.executable,
        "-m",
        "monitor",
        "report",
        str(log),
        "--audio",
        str(locked),
    ]
    r = subprocess.run(
        [*report, "-o", str(tmp_path / "r.html")], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 3 and "permission denied" in one_line(r) and str(locked) in r.stderr
