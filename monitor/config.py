"""Settings: the packaged defaults merged with a user's TOML file, validated in one place.

Every section maps onto a frozen settings dataclass of the package it configures. Unknown
keys, wrong types and out-of-range values raise `ConfigError` with one line naming the file
and the setting, before any audio is opened.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alerts.cues import load_cues
from alerts.settings import DetectorSettings
from audio.analyzer import AnalysisSettings
from audio.transcribe import TranscriberSettings, settings_from_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(Exception):
    """A settings file or value is wrong; the message is one line."""


@dataclass(frozen=True)
class CallSettings:
    agent_channel: str = "left"


@dataclass(frozen=True)
class Config:
    call: CallSettings
    analysis: AnalysisSettings
    detector: DetectorSettings
    source: str = "defaults"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Sections owned by optional features (transcription, cues), validated by them."""


SECTIONS: dict[str, type] = {
    "call": CallSettings,
    "analysis": AnalysisSettings,
    "detector": DetectorSettings,
}
EXTRA_SECTIONS = ("transcription", "cues", "live")


def defaults_text() -> str:
    return resources.files("monitor").joinpath("defaults.toml").read_text(encoding="utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _build(cls: type, section: str, values: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown setting {section}.{key}")
        default = fields[key].default
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(default, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float))
            value = float(value) if ok else value
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ConfigError(
                f"{where}: {section}.{key} must be {type(default).__name__}, got {value!r}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def _validate(cfg: Config, where: str) -> None:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{where}: {msg}")

    if cfg.call.agent_channel not in ("left", "right"):
        raise bad(f"call.agent_channel must be left or right, got {cfg.call.agent_channel!r}")
    a = cfg.analysis
    if a.vad_aggressiveness not in (0, 1, 2, 3):
        raise bad(f"analysis.vad_aggressiveness must be 0-3, got {a.vad_aggressiveness}")
    if not 0 < a.pitch_threshold < 1:
        raise bad(f"analysis.pitch_threshold must be in (0, 1), got {a.pitch_threshold}")
    if not 40 <= a.pitch_fmin_hz < a.pitch_fmax_hz <= 2000:
        raise bad("analysis.pitch_fmin_hz/pitch_fmax_hz must satisfy 40 <= fmin < fmax <= 2000")
    if not 0.03 <= a.window_s <= 0.1:
        raise bad(f"analysis.window_s must be in [0.03, 0.1], got {a.window_s}")
    if a.window_s * a.pitch_fmin_hz < 1.5:
        raise bad("analysis.window_s is too short for pitch_fmin_hz (need 1.5 periods)")
    for name in ("onset_s", "hangover_s"):
        if not 0 < getattr(a, name) <= 2:
            raise bad(f"analysis.{name} must be in (0, 2], got {getattr(a, name)}")
    d = cfg.detector
    for f in dataclasses.fields(d):
        v = getattr(d, f.name)
        if f.name.endswith("_s") and v <= 0:
            raise bad(f"detector.{f.name} must be > 0 seconds, got {v}")
    if not 0 < d.exit_margin <= 1:
        raise bad(f"detector.exit_margin must be in (0, 1], got {d.exit_margin}")
    for name in (
        "pitch_unit_st",
        "balance_unit_db",
        "yell_score",
        "raised_spread_k",
        "yell_pitch_spread_st",
    ):
        if getattr(d, name) <= 0:
            raise bad(f"detector.{name} must be > 0, got {getattr(d, name)}")
    if not 0 < d.spread_quantile <= 1:
        raise bad(f"detector.spread_quantile must be in (0, 1], got {d.spread_quantile}")
    if not 0 < d.raised_floor_db <= d.raised_level_db:
        raise bad(
            f"detector.raised_floor_db must be in (0, raised_level_db], got {d.raised_floor_db}"
        )
    if d.spread_min_ticks < 1:
        raise bad(f"detector.spread_min_ticks must be >= 1, got {d.spread_min_ticks}")


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, overridden by the TOML file at `path` (if any), validated."""
    data = tomllib.loads(defaults_text())
    where = "defaults"
    if path is not None:
        p = Path(path)
        where = str(p)
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read config ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML ({exc})") from None
        for key, value in user.items():
            if key not in SECTIONS and key not in EXTRA_SECTIONS:
                raise ConfigError(f"{p}: unknown section [{key}]")
            if not isinstance(value, dict):
                raise ConfigError(f"{p}: [{key}] must be a table")
        data = _merge(data, user)
    parts = {name: _build(cls, name, data.get(name, {}), where) for name, cls in SECTIONS.items()}
    extra = {k: data[k] for k in EXTRA_SECTIONS if k in data}
    cfg = Config(source=where, extra=extra, **parts)
    _validate(cfg, where)
    _validate_speech(cfg, where)
    _validate_live(cfg, where)
    return cfg


SPEECH_KEYS = ("enabled", "redact", "max_snippet_s")


def transcriber_settings(cfg: Config, **overrides: Any) -> TranscriberSettings:
    """The [transcription] table (minus the keys the pipeline handles) as worker settings."""
    table = dict(cfg.extra.get("transcription", {}))
    table.update({k: v for k, v in overrides.items() if v is not None})
    return settings_from_table(table, ignore=SPEECH_KEYS)


def _validate_speech(cfg: Config, where: str) -> None:
    table = cfg.extra.get("transcription", {})
    for key in ("enabled", "redact"):
        if key in table and not isinstance(table[key], bool):
            raise ConfigError(f"{where}: transcription.{key} must be true or false")
    snip = table.get("max_snippet_s", 10.0)
    if not isinstance(snip, (int, float)) or not 2 <= snip <= 30:
        raise ConfigError(f"{where}: transcription.max_snippet_s must be in [2, 30], got {snip!r}")
    try:
        transcriber_settings(cfg)
        load_cues(cfg.extra.get("cues"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


LIVE_RANGES: dict[str, tuple[float, float]] = {
    "split_silence_s": (0.0, 3600.0),
    "silence_dbfs": (-120.0, 0.0),
    "block_s": (0.02, 1.0),
    "ring_s": (0.5, 60.0),
    "stall_s": (0.2, 60.0),
    "reopen_s": (0.05, 60.0),
}
"""Numeric [live] settings (see monitor/defaults.toml) and their allowed ranges."""


def _validate_live(cfg: Config, where: str) -> None:
    for key, value in cfg.extra.get("live", {}).items():
        if key == "log_dir":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: live.log_dir must be a string, got {value!r}")
            continue
        if key not in LIVE_RANGES:
            raise ConfigError(f"{where}: unknown setting live.{key}")
        lo, hi = LIVE_RANGES[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not lo <= value <= hi:
            raise ConfigError(
                f"{where}: live.{key} must be a number in [{lo:g}, {hi:g}], got {value!r}"
            )


def with_overrides(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `cfg` with some fields replaced, e.g. call={"agent_channel": "right"}."""
    changes = {k: dataclasses.replace(getattr(cfg, k), **v) for k, v in sections.items() if v}
    new = dataclasses.replace(cfg, **changes)
    _validate(new, cfg.source)
    return new


def as_dict(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {name: dataclasses.asdict(getattr(cfg, name)) for name in SECTIONS}
    out.update(cfg.extra)
    return out


def to_toml(cfg: Config) -> str:
    """The effective settings as TOML text."""
    lines = [f"# effective tonewatch settings (from {cfg.source})"]
    for section, values in as_dict(cfg).items():
        if not isinstance(values, dict):
            continue
        lines.append(f"\n[{section}]")
        for k, v in values.items():
            if isinstance(v, bool):
                lines.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, (int, float)):
                lines.append(f"{k} = {v}")
            elif isinstance(v, str):
                lines.append(f'{k} = "{v}"')
    return "\n".join(lines) + "\n"
