"""The agent's voice profile: learned from calm calls, stored privately, seeding the
agent's baseline from the first second; `tonewatch profile show|reset`."""

from __future__ import annotations

import io
import os
import stat
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import numpy as np

from audio.sources import ArraySource
from monitor import profile
from monitor.cli import main
from monitor.session import CallSetup, run_call
from tests.conftest import silence, voice

AGENT_CALM = {"f0_hz": 210.0, "level": 0.04, "tilt": 1.0}
AGENT_SHOUT = {"f0_hz": 210.0 * 2 ** (11 / 12), "level": 0.25, "tilt": 0.0}  # +11 st, +16 dB
CUSTOMER = {"f0_hz": 130.0, "level": 0.05, "tilt": 1.0}


def call(agent_turns: list[dict[str, float]], seed: int = 0):
    """Calm customer turns, each answered by an agent turn of the given voice."""
    c_parts, a_parts = [], []
    for i, kw in enumerate(agent_turns):
        c = voice(2.0, seed=seed + i, **CUSTOMER)
        a = voice(2.5, seed=seed + 100 + i, **kw)
        c_parts += [c, np.zeros(a.size + 2 * 9600, np.float32)]
        a_parts += [np.zeros(c.size + 9600, np.float32), a, silence(0.6)]
    return np.concatenate(a_parts), np.concatenate(c_parts)


def replay(cfg, agent, customer, name: str | None):
    setup = CallSetup(cfg, "p", agent_name=name, tracks=False)
    result = run_call(ArraySource(agent, customer), setup)
    return result.summary


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def agent_alerts(cfg, agent, customer, name):
    from monitor.pipeline import Pipeline

    pipe = Pipeline(cfg, "p")
    if name:
        prof = profile.load(name)
        assert prof is not None
        pipe.detector.seed_agent(prof.stats, prof.raised_db)
    alerts = [a for b in ArraySource(agent, customer) for a in pipe.push(b)] + pipe.finish()
    return [a for a in alerts if a.speaker == "agent"]


def test_profile_is_learned_stored_privately_shown_and_reset(cfg):
    assert cli("profile", "show", "dana")[0] == 1  # none yet
    summary = replay(cfg, *call([AGENT_CALM] * 14), "dana")
    assert summary["agent_profile"] == {"seeded": False, "updated": True}
    path = profile.profile_dir() / "dana.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path.parent.parent).st_mode) == 0o700
    first = profile.load("dana")
    assert first is not None and first.calls == 1
    assert abs(first.pitch_st - 12 * np.log2(2.1)) < 1.0  # 210 Hz
    # A second call seeds from it and folds in.
    summary = replay(cfg, *call([AGENT_CALM] * 14, seed=7), "dana")
    assert summary["agent_profile"] == {
        "seeded": True,
        "calls": 1,
        "kept": True,
        "updated": True,
    }
    code, out, _ = cli("profile", "show", "dana")
    assert code == 0 and "2 call(s)" in out and "210 Hz" in out
    assert cli("profile", "reset", "dana")[0] == 0 and not path.exists()
    assert cli("profile", "show", "dana")[0] == 1
    code, _, err = cli("profile", "show", "../etc")
    assert code == 2 and "agent name" in err and "Traceback" not in err


def test_the_profile_seeds_the_agents_baseline_from_the_first_second(cfg):
    replay(cfg, *call([AGENT_CALM] * 14), "sam")
    # The agent shouts from the first word: without a profile the shouting is the
    # baseline and nothing is said; with it, it is yelling from the start.
    shouting = call([AGENT_SHOUT] * 3 + [AGENT_CALM] * 2, seed=20)
    assert not [a for a in agent_alerts(cfg, *shouting, None) if not a.late]
    seeded = agent_alerts(cfg, *shouting, "sam")
    yells = [a for a in seeded if a.kind == "agent_yelling"]
    assert yells and yells[0].start < 4.0 and not yells[0].late
    assert yells[0].evidence["reference"] == "profile"


def test_critical_only_when_unmistakable(cfg):
    replay(cfg, *call([AGENT_CALM] * 14), "kim")
    mild = {"f0_hz": 210.0 * 2 ** (4 / 12), "level": 0.09, "tilt": 0.6}  # +4 st, +7 dB
    for kw, severity in ((AGENT_SHOUT, "critical"), (mild, "warning")):
        yells = [
            a
            for a in agent_alerts(cfg, *call([AGENT_CALM] * 2 + [kw] * 3, seed=30), "kim")
            if a.kind == "agent_yelling"
        ]
        assert yells and yells[0].severity == severity, (kw, yells)


def test_a_profile_that_does_not_fit_the_call_gives_way_to_the_call(cfg):
    # Another headset (or another person under the same name): higher and brighter at the
    # same level. That is no raised voice, so the call's own baseline takes over.
    replay(cfg, *call([AGENT_CALM] * 14), "lee")
    other = {"f0_hz": 210.0 * 2 ** (4 / 12), "level": 0.03, "tilt": 0.5}
    summary = replay(cfg, *call([other] * 14, seed=40), "lee")
    assert summary["agent_profile"]["kept"] is False
    assert summary["counts"]["agent_raised"] == summary["counts"]["agent_yelling"] == 0


def test_a_bad_agent_name_stops_and_a_damaged_profile_is_one_warning(cfg, tmp_path):
    """`replay --agent-name`: a name that cannot be a profile's is the user's mistake
    (one line, exit 2, nothing analysed); a stored profile that cannot be read (broken
    JSON, a number that is text or NaN) is one warning, and the call runs on the agent's
    in-call baseline, its alerts logged as without a name."""
    import json

    from tests.conftest import FIXTURES, run_cli

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}

    def run(name: str, log: str) -> Any:
        args = ["replay", str(FIXTURES / "agent_matching.flac"), "--fast", "--no-transcribe"]
        args += ["--quiet", "--agent-name", name, "--log", str(tmp_path / log)]
        return run_cli(*args, env=env)

    r = run("../etc", "bad.jsonl")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "--agent-name" in r.stderr
    assert not (tmp_path / "bad.jsonl").exists()

    folder = tmp_path / "data" / "tonewatch" / "profiles"
    folder.mkdir(parents=True, mode=0o700)
    good = {"name": "kim", "calls": 2, "level_db": -20.0, "pitch_st": 8.0}
    good |= {"balance_db": -6.0, "raised_db": 5.0, "updated": ""}
    plain = run("nobody", "plain.jsonl")
    assert plain.returncode == 0, plain.stderr
    kinds = [
        x["kind"]
        for x in map(json.loads, (tmp_path / "plain.jsonl").open())
        if x["record"] == "alert"
    ]
    for i, text in enumerate(
        [
            '{"level_db": ',
            json.dumps({**good, "level_db": "loud"}),
            json.dumps(good).replace("8.0", "NaN"),
        ]
    ):
        (folder / "kim.json").write_text(text)
        r = run("kim", f"kim{i}.jsonl")
        assert r.returncode == 0, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "warning" in lines[0] and "kim.json" in lines[0], r.stderr
        assert "profile reset kim" in lines[0]
        records = [json.loads(x) for x in (tmp_path / f"kim{i}.jsonl").open()]
        assert [x["kind"] for x in records if x["record"] == "alert"] == kinds
        assert records[-1]["agent_profile"]["seeded"] is False
