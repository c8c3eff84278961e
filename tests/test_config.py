"""Settings: defaults load, user overrides apply, bad values fail with one line."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, load_config, to_toml


def test_defaults_and_override(tmp_path):
    p = tmp_path / "team.toml"
    p.write_text("[analysis]\nvad_aggressiveness = 3\n[detector]\ncooldown_s = 5\n")
    cfg = load_config(p)
    assert cfg.analysis.vad_aggressiveness == 3
    assert cfg.detector.cooldown_s == 5.0
    assert load_config().analysis.vad_aggressiveness == 2
    assert "vad_aggressiveness = 3" in to_toml(cfg)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[analysis]\nvad_aggressiveness = 7\n", "vad_aggressiveness must be 0-3"),
        ("[analysis]\nvad_agressiveness = 1\n", "unknown setting analysis.vad_agressiveness"),
        ("[detector]\ncooldown_s = 'soon'\n", "detector.cooldown_s must be float"),
        ("[detector]\nexit_s = -1\n", "detector.exit_s must be > 0"),
        ("[detector]\nraised_floor_db = 9.0\n", "raised_floor_db must be in (0, raised_level_db]"),
        ("[detector]\nspread_quantile = 1.5\n", "spread_quantile must be in (0, 1]"),
        ("[call]\nagent_channel = 'middle'\n", "agent_channel must be left or right"),
        ("[nonsense]\nx = 1\n", "unknown section [nonsense]"),
        ("[analysis\n", "not valid TOML"),
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
