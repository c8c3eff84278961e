"""Settings: one converter, defaults in one place, every value range-checked at load."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import (
    SECTIONS,
    SPECS,
    Config,
    ConfigError,
    defaults_text,
    load_config,
    render_defaults,
    to_toml,
    with_overrides,
)

ROOT = Path(__file__).resolve().parent.parent
CALM = ROOT / "fixtures" / "calm_call.flac"


def test_defaults_and_override(tmp_path):
    p = tmp_path / "team.toml"
    p.write_text("[analysis]\nvad_aggressiveness = 3\n[detector]\ncooldown_s = 5\n")
    cfg = load_config(p)
    assert cfg.analysis.vad_aggressiveness == 3
    assert cfg.detector.cooldown_s == 5.0 and isinstance(cfg.detector.cooldown_s, float)
    assert load_config().analysis.vad_aggressiveness == 2
    assert "vad_aggressiveness = 3 " in to_toml(cfg)


def test_every_section_is_a_frozen_dataclass_with_a_spec_for_every_field():
    cfg = load_config()
    for name, cls in SECTIONS.items():
        section = getattr(cfg, name)
        assert isinstance(section, cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        fields = [f.name for f in dataclasses.fields(cls)]
        assert sorted(fields) == sorted(SPECS[name]), name
        for key, spec in SPECS[name].items():
            value = getattr(section, key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert spec.lo is not None and spec.hi is not None
                assert math.isfinite(spec.lo) and math.isfinite(spec.hi)
                assert spec.lo <= value <= spec.hi, f"default {name}.{key} out of its range"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.detector.warmup_s = 1.0  # type: ignore[misc]


def test_shipped_defaults_file_is_the_rendered_defaults():
    """`monitor/defaults.toml` is generated: `python -m monitor.config > monitor/defaults.toml`."""
    assert defaults_text() == render_defaults()
    shipped = ROOT / "monitor" / "defaults.toml"
    assert load_config(shipped) == dataclasses.replace(load_config(), source=str(shipped))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[analysis]\nvad_aggressiveness = 7\n", "whole number from 0 to 3, got 7"),
        ("[analysis]\nvad_agressiveness = 1\n", "unknown setting analysis.vad_agressiveness"),
        ("[detector]\ncooldown_s = 'soon'\n", "detector.cooldown_s must be a number from"),
        ("[detector]\nexit_s = -1\n", "detector.exit_s must be a number from 0.2 to 60 s"),
        ("[detector]\nraised_floor_db = 9.0\n", "raised_floor_db (9) must be at most"),
        ("[detector]\nspread_quantile = 1.5\n", "spread_quantile must be a number from 0.05 to 1"),
        ("[call]\nagent_channel = 'middle'\n", "agent_channel must be one of left, right"),
        ("[nonsense]\nx = 1\n", "unknown section [nonsense]"),
        ("detector = 3\n", "[detector] must be a table"),
        ("[analysis\n", "not valid TOML"),
        # Issue 13, item 1: nan, inf and negative values used to pass.
        ("[analysis]\nmin_level_db = nan\n", "analysis.min_level_db must be a number from -100"),
        ("[detector]\nyell_pitch_st = nan\n", "detector.yell_pitch_st must be a number from"),
        ("[detector]\nyell_pitch_st = inf\n", "got inf"),
        ("[detector]\neffort_pitch_st = -1.0\n", "effort_pitch_st must be a number from 0.5"),
        ("[detector]\neffort_balance_db = -2\n", "effort_balance_db must be a number from 0.5"),
        ("[detector]\nwarmup_s = nan\n", "detector.warmup_s must be a number from 0.5 to 120 s"),
        ("[detector]\nspread_min_ticks = 99999999999999999999\n", "spread_min_ticks must be"),
        ("[live]\nblock_s = 0\n", "live.block_s must be a number from 0.02 to 1 s, got 0"),
        ("[bleed]\nmax_delay_ms = -inf\n", "bleed.max_delay_ms must be a number from 1 to 200"),
        ("[transcription]\nmax_snippet_s = 1e9\n", "transcription.max_snippet_s must be"),
        ("[transcription]\nredact = 'yes'\n", "transcription.redact must be true or false"),
        ("[cues]\ncue = 3\n", "'cue' must be a list of tables"),
    ],
)
def test_bad_config_values(tmp_path, text, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert message in str(info.value) and str(p) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_overrides_are_checked_like_the_file():
    cfg = load_config()
    assert with_overrides(cfg, call={"agent_channel": "right"}).call.agent_channel == "right"
    with pytest.raises(ConfigError, match="detector.warmup_s must be a number"):
        with_overrides(cfg, detector={"warmup_s": float("nan")})


def test_nan_setting_is_refused_before_any_log_is_created(tmp_path):
    """Issue 13, item 1: `warmup_s = nan` was a traceback that left a 0-byte log."""
    bad = tmp_path / "nan.toml"
    bad.write_text("[detector]\nwarmup_s = nan\n")
    log = tmp_path / "out.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(CALM), "--fast", "--no-transcribe"]
        + ["--config", str(bad), "--log", str(log)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "detector.warmup_s" in lines[0] and "nan" in lines[0]
    assert "Traceback" not in r.stderr
    assert not log.exists()


def test_settings_reach_the_stages_that_use_them(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[bleed]\nmax_delay_ms = 30\n[live]\nring_s = 9\n[transcription]\nlanguage = ''\n")
    cfg = load_config(p)
    from monitor.pipeline import Pipeline

    assert Pipeline(cfg).bleed.s.max_delay_ms == 30.0
    assert cfg.live.capture().ring_s == 9.0
    assert cfg.transcription.worker(policy="block").language is None


# -- property: any TOML value for any key -> a setting or one line, never a traceback -------

KEYS = [(section, key) for section, keys in SPECS.items() for key in keys]
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
)
toml_values = st.one_of(
    toml_scalars,
    st.lists(toml_scalars, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=5), toml_scalars, max_size=2),
)
known = st.sampled_from(KEYS)
unknown = st.tuples(st.sampled_from([*SPECS, "cues", "nonsense"]), st.text(min_size=1, max_size=12))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(known, known, unknown), toml_values, min_size=1, max_size=4))
def test_any_toml_value_gives_a_setting_or_one_line(tmp_path_factory, values):
    doc: dict[str, dict[str, object]] = {}
    for (section, key), value in values.items():
        doc.setdefault(section, {})[key] = value
    path = tmp_path_factory.mktemp("cfg") / "any.toml"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    # Accepted: every number is finite and inside its range, and it prints and reloads.
    for section, key in KEYS:
        value = getattr(getattr(cfg, section), key)
        spec = SPECS[section][key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert spec.lo is not None and spec.hi is not None
            assert math.isfinite(value) and spec.lo <= value <= spec.hi
    again = path.with_name("again.toml")
    again.write_text(to_toml(cfg), encoding="utf-8")
    assert dataclasses.replace(load_config(again), source="x") == dataclasses.replace(
        cfg, source="x"
    )


def test_defaults_config_object_matches_loading_nothing():
    assert Config() == load_config()


# -- `tonewatch config`: found on its own, printed faithfully, reloadable ------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, env=full
    )


AWKWARD = r"""
[live]
log_dir = 'C:\Users\agent "dana"\calls'
ring_s = 9.5
[transcription]
model = "it's a \"quoted\" name\twith a tab"
language = ""
[[cues.cue]]
name = "refund_promise"
speaker = "agent"
patterns = ["guaranteed refund", "100% refund"]
severity = "warning"
message = "Don't promise \"refunds\" you can't authorise."
"""


def test_config_output_round_trips_any_value(tmp_path):
    src = tmp_path / "awkward.toml"
    src.write_text(AWKWARD, encoding="utf-8")
    first = _cli("config", "--config", str(src))
    assert first.returncode == 0, first.stderr
    printed = tmp_path / "printed.toml"
    printed.write_text(first.stdout, encoding="utf-8")
    again = _cli("config", "--config", str(printed))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1:] == first.stdout.splitlines()[1:]  # all but the header
    a, b = load_config(src), load_config(printed)
    assert dataclasses.replace(a, source="") == dataclasses.replace(b, source="")
    assert a.live.log_dir == 'C:\\Users\\agent "dana"\\calls'
    assert "agent.refund_promise" in first.stdout and "[[cues.cue]]" in first.stdout
    assert "ring_s = 9.5" in first.stdout and "[0.5..60 s]" in first.stdout  # unit and range


def test_the_settings_file_is_found_on_its_own(tmp_path):
    home = tmp_path / "config-home"
    env = {"XDG_CONFIG_HOME": str(home), "TONEWATCH_CONFIG": ""}
    r = _cli("config", "--path", env=env)
    assert r.returncode == 0 and "no settings file" in r.stdout and "defaults" in r.stdout
    user = home / "tonewatch" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[detector]\ncooldown_s = 33\n")
    r = _cli("config", "--path", env=env)
    assert r.stdout.strip() == f"{user} (user config file)"
    assert "cooldown_s = 33.0" in _cli("config", env=env).stdout
    other = tmp_path / "team.toml"
    other.write_text("[detector]\ncooldown_s = 44\n")
    env["TONEWATCH_CONFIG"] = str(other)
    assert _cli("config", "--path", env=env).stdout.strip() == f"{other} (TONEWATCH_CONFIG)"
    assert "cooldown_s = 44.0" in _cli("config", env=env).stdout
    # A bad value in a file found on its own is refused like --config's, before any output.
    other.write_text("[detector]\nwarmup_s = inf\n")
    log = tmp_path / "x.jsonl"
    r = _cli("replay", str(CALM), "--fast", "--no-transcribe", "--log", str(log), env=env)
    assert r.returncode == 2 and str(other) in r.stderr and "warmup_s" in r.stderr
    assert not log.exists()
