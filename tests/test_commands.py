"""The command line's own surface: version, the bare command, one name per option, shell
completion, the login service, and plain replay text in call-time order."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.model import Alert
from monitor.cli import format_record, main
from monitor.viewmodel import PlainLines
from tests.conftest import FIXTURES, ROOT
from tests.test_cli import tonewatch


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_and_bare_command_list_the_commands(capsys):
    from importlib.metadata import version

    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"tonewatch {version('tonewatch')}"
    r = tonewatch()  # bare, as a user types it
    assert r.returncode == 0 and r.stderr == ""
    for command in ("replay", "live", "report", "review", "batch", "service", "completion"):
        assert f"    {command}" in r.stdout


def test_whisper_device_has_one_name_in_every_command(capsys):
    for command in ("replay", "live", "batch"):
        code, out, _ = run_main(capsys, command, "--help")
        assert code == 0 and "--whisper-device DEV" in out, command
    _, out, _ = run_main(capsys, "replay", "--help")
    assert "--device" not in out.replace("--whisper-device", "")
    code, _, err = run_main(capsys, "replay", str(FIXTURES / "calm_call.flac"), "--device", "cpu")
    assert code == 2 and "unrecognized arguments: --device" in err


def test_whisper_device_reaches_the_model(capsys, tmp_path):
    code, _, err = run_main(
        capsys,
        "replay",
        str(FIXTURES / "calm_call.flac"),
        "--fast",
        "--whisper-device",
        "tpu",
        "--log",
        str(tmp_path / "x.jsonl"),
    )
    # The model cannot load on it: one warning naming the device, acoustic alerts go on.
    assert code == 0 and err.count("\n") == 1 and "unsupported device tpu" in err


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_offers_commands_and_options(capsys, shell):
    code, out, _ = run_main(capsys, "completion", shell)
    assert code == 0
    for word in ("replay", "report", "--whisper-device", "--agent-channel", "--min-severity"):
        assert word in out, word
    if shell == "bash":
        r = subprocess.run(["bash", "-n"], input=out, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr  # a script bash can load


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A user config folder and a `systemctl` that records what it is asked (the edge)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.log"
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env, calls, tmp_path / "config" / "systemd" / "user" / "tonewatch.service"


def service(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "service", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_service_install_writes_a_private_unit_and_enables_it(home, tmp_path):
    env, calls, unit = home
    (tmp_path / "my settings.toml").write_text("")
    r = service(
        env,
        "install",
        "--",
        "--mic",
        "3",
        "--loopback",
        "Monitor of Built-in",
        "--agent-name",
        "Dana 100%",
        "--config",
        str(Path(os.path.relpath(tmp_path / "my settings.toml", ROOT))),
    )
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(unit.stat().st_mode) == 0o600
    text = unit.read_text()
    exec_line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    assert exec_line.startswith(f"ExecStart={sys.executable} -m monitor live --mic 3 ")
    assert '"Monitor of Built-in"' in exec_line and '"Dana 100%%"' in exec_line
    assert f'"{tmp_path / "my settings.toml"}"' in exec_line  # made absolute
    assert "WantedBy=default.target" in text
    assert calls.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now tonewatch.service",
    ]
    r = service(env, "uninstall")
    assert r.returncode == 0 and not unit.exists()
    assert "--user disable --now tonewatch.service" in calls.read_text()


@pytest.mark.parametrize(
    "live_args, words",
    [
        (["--mic", "3"], "say where the call is heard"),
        (["--mic", "3", "--loopback", "4", "--bogus"], "not an option of `tonewatch live`"),
        (["--mic", "3", "--loopback", "4", "--split-silence", "soon"], "--split-silence"),
    ],
)
def test_service_refuses_options_live_would_refuse(home, live_args, words):
    env, calls, unit = home
    r = service(env, "install", "--", *live_args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr
    assert "Traceback" not in r.stderr and not unit.exists() and not calls.exists()


def test_service_print_and_no_enable(home):
    env, calls, unit = home
    r = service(env, "install", "--print", "--", "--device", "0", "--channels", "1,2")
    assert r.returncode == 0 and "ExecStart=" in r.stdout and not unit.exists()
    r = service(env, "install", "--no-enable", "--", "--device", "0")
    assert r.returncode == 0 and unit.exists() and not calls.exists()


def alert(start: float, kind: str = "customer_raised", late: bool = False) -> Alert:
    a = Alert(kind, "customer", start, start + 1, "info", "Customer is louder.", "Stay even.")
    if late:
        a.late = True  # type: ignore[attr-defined]
    return a


def test_plain_lines_mark_what_arrives_out_of_call_time_order():
    lines: list[str] = []
    sink = PlainLines(lines.append, format_record)
    for a in (alert(10.0), alert(14.0), alert(12.0, "phrase"), alert(14.2), alert(15.0, late=True)):
        sink(a)
    heads = [x.splitlines()[0] for x in lines]
    assert [h.endswith("(late)") for h in heads] == [False, False, True, False, True]
    assert heads[2].startswith("[00:12.0]") and lines[2].splitlines()[1].strip().startswith("tip:")


def test_plain_replay_prints_in_call_time_order():
    r = tonewatch("replay", str(FIXTURES / "agent_matching.flac"), "--fast", "--no-transcribe")
    assert r.returncode == 0, r.stderr
    heads = [x for x in r.stdout.splitlines() if x.startswith("[")]
    assert len(heads) >= 2 and not any(x.endswith("(late)") for x in heads)
    starts = [x[1:8] for x in heads]
    assert starts == sorted(starts)
