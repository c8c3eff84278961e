"""Settings: one converter from TOML to frozen dataclasses, with every value range-checked.

Every section of a settings file becomes one frozen dataclass, at one point (`load_config`):

    [call]           CallSettings                   (here)
    [analysis]       audio.analyzer.AnalysisSettings
    [detector]       alerts.settings.DetectorSettings
    [transcription]  TranscriptionSettings          (here; `.worker()` gives the
                                                     audio.transcribe.TranscriberSettings)
    [cues]           CueSettings                    (here; the cues in force, validated)
    [bleed]          audio.bleed.BleedSettings
    [live]           LiveConfig                     (here; `.capture()` gives the
                                                     audio.live.LiveSettings)

Defaults live in one place: the dataclasses' field defaults (the sections defined here take
theirs from the dataclass they feed). `SPECS` says, for every key, what it may hold (a
finite range with its unit, a set of choices, text or a flag) and a short note; the shipped
``defaults.toml`` is rendered from the defaults and the notes (`render_defaults`), and a test
checks that they agree. A value of the wrong type, outside its range, nan or inf, an unknown
key or section raises `ConfigError` with one line naming the file, the key, the value and
what is allowed, before any audio is opened or any file is written.

A settings file is found on its own when `--config` is not given: ``TONEWATCH_CONFIG``, else
``tonewatch/config.toml`` in the platform's user config folder (`find_config`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alerts.cues import Cue, load_cues
from alerts.settings import DetectorSettings
from audio.analyzer import AnalysisSettings
from audio.bleed import BleedSettings
from audio.live import LiveSettings
from audio.transcribe import TranscriberSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(Exception):
    """A settings file or value is wrong; the message is one line."""


# -- the sections defined here -------------------------------------------------------------


@dataclass(frozen=True)
class CallSettings:
    agent_channel: str = "left"
    """Channel of a stereo call that carries the agent: "left" or "right"."""


_W = TranscriberSettings()
_L = LiveSettings()


@dataclass(frozen=True)
class TranscriptionSettings:
    """The `[transcription]` table: what the pipeline does with speech, and the model."""

    enabled: bool = True
    """False: acoustic alerts only (as --no-transcribe)."""
    redact: bool = True
    """Mask digit runs (card, account, phone numbers) in logged text."""
    max_snippet_s: float = 10.0
    """Long turns are cut at a pause near this length, seconds."""
    model: str = _W.model
    """"" for the embedded tiny.en, or a CTranslate2 folder / faster-whisper name."""
    device: str = _W.device
    """Where the model runs: cpu, cuda or auto."""
    compute_type: str = _W.compute_type
    """CTranslate2 compute type (int8, float32, ...)."""
    language: str = _W.language or ""
    """Spoken language code; "" lets a multilingual model detect it."""
    beam_size: int = _W.beam_size
    """Beams searched; 1 is greedy decoding, the fastest."""
    cpu_threads: int = _W.cpu_threads
    """CTranslate2 threads; 0 is the library's default."""
    no_speech_threshold: float = _W.no_speech_threshold
    """Segments more likely than this (0..1) to be no speech are dropped."""
    logprob_threshold: float = _W.logprob_threshold
    """Segments with a lower average log-probability are dropped."""
    compression_ratio_threshold: float = _W.compression_ratio_threshold
    """Segments more repetitive than this (gzip ratio) are decoding loops, dropped."""
    min_snippet_s: float = _W.min_snippet_s
    """Shorter snippets are not transcribed, seconds."""
    max_batch_s: float = _W.max_batch_s
    """Most audio (seconds) transcribed in one call when behind; 0 = one snippet at a time."""
    queue_size: int = _W.queue_size
    """Snippets waiting for the model; live drops the oldest when full."""

    def worker(self, policy: str = _W.policy, **overrides: Any) -> TranscriberSettings:
        """The model and worker settings, with command-line `overrides` (None = not given).

        Raises:
            ValueError: an override the worker refuses (one line).
        """
        values = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(TranscriberSettings)
            if hasattr(self, f.name)
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["language"] = values.get("language") or None
        try:
            return TranscriberSettings(**values, policy=policy)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"transcription.{exc}") from None


@dataclass(frozen=True)
class LiveConfig:
    """The `[live]` table: `tonewatch live` (capture from sound devices)."""

    split_silence_s: float = 0.0
    """Both sides quiet this long (seconds) ends the call; 0 = split by hand only."""
    silence_dbfs: float = -50.0
    """A block quieter than this (dBFS) on both sides counts as silence."""
    log_dir: str = ""
    """Folder for the call logs; "" = the user data folder (tonewatch/calls)."""
    block_s: float = _L.block_s
    """Seconds of audio per block handed to the analysis."""
    ring_s: float = _L.ring_s
    """Seconds each device buffers before the newest audio is dropped."""
    stall_s: float = _L.stall_s
    """A device that delivers nothing this long (seconds) is taken as gone."""
    reopen_s: float = _L.reopen_s
    """Seconds between attempts to reopen a lost device."""

    def capture(self) -> LiveSettings:
        """The capture settings `audio.live.LiveSource` takes."""
        names = {f.name for f in dataclasses.fields(LiveSettings)}
        return LiveSettings(**{k: getattr(self, k) for k in names})


@dataclass(frozen=True)
class CueSettings:
    """The `[cues]` table as given, and the cues it leaves in force (defaults merged)."""

    cue: tuple[Mapping[str, Any], ...] = ()
    """The user's `[[cues.cue]]` entries, as written."""
    replace_defaults: bool = False
    """True drops every default cue (alerts/cues.toml) before the user's apply."""
    active: tuple[Cue, ...] = ()
    """The cues in force: defaults (unless replaced) with the user's merged over them."""

    def table(self) -> dict[str, Any] | None:
        """The user's table in `alerts.cues.load_cues` form (None when there is none)."""
        if not self.cue and not self.replace_defaults:
            return None
        out: dict[str, Any] = {"cue": [dict(c) for c in self.cue]}
        if self.replace_defaults:
            out["replace_defaults"] = True
        return out


def _cue_settings(table: Any, where: str) -> CueSettings:
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [cues] must be a table, got {_show(table)}")
    unknown = sorted(set(table) - {"cue", "replace_defaults"})
    if unknown:
        raise ConfigError(f"{where}: unknown setting cues.{_one_line(unknown[0], 60)}")
    raw = {"cue": table.get("cue", []), **table}
    try:
        active = load_cues(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{where}: {_one_line(str(exc))}") from None
    return CueSettings(
        cue=tuple(dict(c) for c in raw["cue"]),
        replace_defaults=bool(table.get("replace_defaults", False)),
        active=tuple(active),
    )


@dataclass(frozen=True)
class Config:
    """The effective settings, one frozen dataclass per section."""

    call: CallSettings = CallSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    detector: DetectorSettings = DetectorSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()
    cues: CueSettings = dataclasses.field(default_factory=lambda: _cue_settings({}, "defaults"))
    bleed: BleedSettings = BleedSettings()
    live: LiveConfig = LiveConfig()
    source: str = "defaults"
    """Where the settings came from: "defaults" or the file's path."""


SECTIONS: dict[str, type] = {
    "call": CallSettings,
    "analysis": AnalysisSettings,
    "detector": DetectorSettings,
    "transcription": TranscriptionSettings,
    "bleed": BleedSettings,
    "live": LiveConfig,
}
"""The sections of plain settings, in file order ([cues] comes last, see `CueSettings`)."""


# -- what each key may hold ----------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What one setting may hold, and the note printed beside it.

    A number has a closed range `lo`..`hi` (always finite) and a `unit`; text has `choices`
    (or any text when empty); a flag is true or false.
    """

    note: str
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()

    def allowed(self, kind: type) -> str:
        if kind is bool:
            return "true or false"
        if kind is str:
            return "one of " + ", ".join(self.choices) if self.choices else "text"
        what = "a whole number" if kind is int else "a number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{what} from {self.lo:g} to {self.hi:g}{unit}"


def N(lo: float, hi: float, unit: str, note: str) -> Spec:  # noqa: N802
    return Spec(note, lo, hi, unit)


def T(note: str, *choices: str) -> Spec:  # noqa: N802
    return Spec(note, choices=choices)


S, DB, ST, HZ = "s", "dB", "st", "Hz"

SPECS: dict[str, dict[str, Spec]] = {
    "call": {
        "agent_channel": T("channel of a stereo call that carries the agent", "left", "right"),
    },
    "analysis": {
        "vad_aggressiveness": N(0, 3, "", "webrtcvad; 3 rejects the most non-speech (noisy)"),
        "onset_s": N(0.01, 2, S, "speech this long opens a segment"),
        "hangover_s": N(0.01, 2, S, "non-speech this long closes a segment"),
        "pitch_fmin_hz": N(40, 2000, HZ, "lowest pitch tracked"),
        "pitch_fmax_hz": N(40, 2000, HZ, "highest pitch tracked; shouting pushes F0 high"),
        "pitch_threshold": N(0.01, 0.99, "", "YIN dip threshold; higher: more frames voiced"),
        "pitch_tracker": T("yin, or harmonic (fewer octave errors)", "yin", "harmonic"),
        "window_s": N(0.03, 0.1, S, "pitch / spectral balance window"),
        "min_level_db": N(-100, -10, DB, "quieter speech frames give no voice features"),
        "crosstalk_margin_db": N(1, 60, DB, "while both talk, this far below = bleed/echo"),
    },
    "detector": {
        "warmup_s": N(0.5, 120, S, "voiced speech forming each speaker's baseline"),
        "adapt_tau_s": N(5, 3600, S, "baseline adaptation time constant (voiced)"),
        "freeze_s": N(0.1, 600, S, "no adaptation while elevated and this long after"),
        "agent_window_s": N(0.3, 10, S, "voiced speech summarised as the agent's voice now"),
        "customer_window_s": N(0.3, 10, S, "... and as the customer's"),
        "window_max_age_s": N(1, 60, S, "older voiced frames leave that window (call time)"),
        "min_window_share": N(0.05, 1, "", "share of that window filled before it is judged"),
        "raised_level_db": N(1, 30, DB, "level over baseline that makes a voice raised (max)"),
        "raised_floor_db": N(0.5, 30, DB, "... and at least, once a talker's swings are known"),
        "raised_spread_k": N(0.5, 10, "", "... this many times their typical calm swing"),
        "spread_quantile": N(0.05, 1, "", "the typical swing: this quantile of calm swings"),
        "spread_min_ticks": N(1, 10000, "", "calm 0.2 s ticks before own swings are used"),
        "spread_memory_s": N(1, 3600, S, "call time of calm ticks kept for those swings"),
        "effort_pitch_st": N(0.5, 12, ST, "pitch rise and ..."),
        "effort_balance_db": N(0.5, 20, DB, "... balance rise: raised at any level"),
        "yell_pitch_st": N(0.5, 24, ST, "yelling needs at least this pitch rise, and"),
        "yell_score": N(0.1, 20, "", "pitch/pitch_unit + balance/balance_unit >= this"),
        "yell_pitch_spread_st": N(1, 48, ST, "unless louder, the 10-90 % pitch range within"),
        "yell_pitch_floor_st": N(0, 48, ST, "... or the customer's 25th pct pitch this far up"),
        "agent_yell_level_db": N(0, 30, DB, "the agent's yelling is also this much louder"),
        "effort_floor_db": N(0, 60, DB, "effort counts down to this far under the calm level"),
        "agent_effort_coupling": N(0, 5, "", "the agent's timbre raise needs this dB level per dB"),
        "pitch_unit_st": N(0.5, 24, ST, "pitch rise worth one point of yell score"),
        "balance_unit_db": N(0.5, 24, DB, "balance rise worth one point of yell score"),
        "exit_margin": N(0.05, 1, "", "a state ends below this fraction of its entry test"),
        "enter_s": N(0.1, 30, S, "a state holds this long before its alert"),
        "exit_s": N(0.2, 60, S, "... and is over after this long below its exit test"),
        "idle_reset_s": N(0.5, 600, S, "... or after this long of the speaker's silence"),
        "cooldown_s": N(0.5, 3600, S, "one alert per kind and speaker per this long"),
        "rebase_s": N(0.2, 60, S, "louder, same pitch and balance this long = louder line"),
        "rebase_pitch_st": N(0.1, 12, ST, "... 'same pitch': within this"),
        "rebase_balance_db": N(0.1, 20, DB, "... 'same balance': within this"),
        "match_level_db": N(0.5, 30, DB, "agent matching: a level rise over own baseline"),
        "match_pitch_st": N(0.1, 12, ST, "... with a pitch rise, while the customer is escalated"),
        "match_memory_s": N(0.5, 600, S, "matching is checked this long after they calm"),
        "interrupt_mid_turn_s": N(0.1, 30, S, "the customer has been talking this long"),
        "interrupt_overlap_s": N(0.05, 10, S, "overlap needed for an interruption"),
        "interrupt_min_s": N(0.1, 30, S, "shorter agent speech = backchannel"),
        "terminal_s": N(0.05, 10, S, "customer finishing this soon after = hand-over"),
        "turn_gap_s": N(0.05, 10, S, "a turn runs through pauses shorter than this"),
        "raised_enter_s": N(0.1, 60, S, "a raised voice (not yelling) holds this long first"),
        "recent_look_s": N(0, 5, S, "the customer's latest speech whose step starts that hold"),
        "provisional_share": N(0.05, 1, "", "share of the warm-up, then judged against it"),
        "calm_pitch_ceiling_st": N(0, 36, ST, "highest calm pitch (re 100 Hz), bounds baselines"),
        "prior_yell_pitch_st": N(0.5, 24, ST, "the customer this far above it = yelling"),
        "settle_block_s": N(0.5, 60, S, "voiced speech per block that may be a calmer baseline"),
        "settle_loud_db": N(1, 40, DB, "calming down: this much quieter and lower or darker"),
        "history_s": N(10, 3600, S, "call time judged again when a baseline settles"),
        "agent_critical_level_db": N(0, 40, DB, "agent yelling is critical only this much louder"),
        "agent_critical_score": N(0.1, 40, "", "... and with this yell score (twice yelling)"),
    },
    "transcription": {
        "enabled": T("false = acoustic alerts only (as --no-transcribe)"),
        "redact": T("mask digit runs (card, account, phone numbers) in logged text"),
        "max_snippet_s": N(2, 30, S, "long turns are cut at a pause near this length"),
        "model": T('"" = embedded tiny.en; or a CTranslate2 folder / model name'),
        "device": T("where the model runs", "cpu", "cuda", "auto"),
        "compute_type": T("CTranslate2 compute type (int8, float32, ...)"),
        "language": T('spoken language code; "" = detect (multilingual models)'),
        "beam_size": N(1, 20, "", "1 = greedy decoding, the fastest"),
        "cpu_threads": N(0, 64, "", "model threads; 1 leaves the other core to the audio"),
        "no_speech_threshold": N(0, 1, "", "drop segments Whisper thinks are not speech"),
        "logprob_threshold": N(-20, 0, "", "drop low-confidence segments (inventions)"),
        "compression_ratio_threshold": N(1, 20, "", "drop repetitive segments (loops)"),
        "min_snippet_s": N(0, 5, S, "shorter snippets are not transcribed"),
        "max_batch_s": N(0, 120, S, "most audio per model call when behind; 0 = one"),
        "queue_size": N(1, 1000, "", "snippets waiting; when full (live) the oldest go"),
    },
    "bleed": {
        "max_delay_ms": N(1, 200, "ms", "longest delay of the customer's copy in the mic"),
        "window_s": N(0.1, 5, S, "audio per bleed estimate"),
        "step_s": N(0.1, 5, S, "call time between estimates"),
        "active_every": N(1, 100, "", "while cancelling, estimate every this many steps"),
        "min_customer_dbfs": N(-120, 0, "dBFS", "quieter customer windows are not used"),
        "envelope_min": N(0, 1, "", "envelope correlation before waveforms are compared"),
        "rho_min": N(0, 1, "", "correlation an estimate needs to count"),
        "rho_sure": N(0, 1, "", "correlation that starts cancelling from one estimate"),
        "rho_off": N(0, 1, "", "below this a window counts against the bleed"),
        "off_windows": N(1, 100, "", "unexplained windows in a row that stop cancelling"),
        "agree_ms": N(0.01, 50, "ms", "two estimates agree within this delay"),
        "max_gain_db": N(-40, 20, DB, "louder copies (vs the customer) are not bleed"),
        "residue_db": N(0, 60, DB, "cleaned this far below the bleed = left-over bleed"),
        "discount_db": N(0, 60, DB, "a hop whose mic energy fell this much was bleed"),
        "keep": N(1, 100, "", "accepted estimates kept for the running medians"),
    },
    "live": {
        "split_silence_s": N(0, 3600, S, "both sides quiet this long ends the call; 0 = off"),
        "silence_dbfs": N(-120, 0, "dBFS", "a block quieter on both sides is silence"),
        "log_dir": T('"" = the user data folder, e.g. ~/.local/share/tonewatch/calls'),
        "block_s": N(0.02, 1, S, "audio per block handed to the analysis"),
        "ring_s": N(0.5, 60, S, "each device buffers this much before audio is dropped"),
        "stall_s": N(0.2, 60, S, "a device silent this long is taken as gone"),
        "reopen_s": N(0.05, 60, S, "time between attempts to reopen a lost device"),
    },
}
"""Every key of every plain section: its allowed values and its note (see `Spec`)."""


# -- loading -------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any) -> str:
    """A value as the message shows it: short, on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return _one_line(repr(value), 60)


def _field_type(cls: type, name: str) -> type:
    default = {f.name: f.default for f in dataclasses.fields(cls)}[name]
    return type(default)


def _convert(section: str, key: str, value: Any, kind: type, spec: Spec, where: str) -> Any:
    """`value` as the field's type, or `ConfigError` naming the key, value and range."""
    ok = False
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is str:
        ok = isinstance(value, str) and (not spec.choices or value in spec.choices)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        assert spec.lo is not None and spec.hi is not None
        finite = not isinstance(value, float) or math.isfinite(value)
        # Exact comparison first: a huge TOML integer never goes through float().
        ok = finite and spec.lo <= value <= spec.hi
        if ok and kind is int and isinstance(value, float):
            ok = value.is_integer()
        if ok:
            value = kind(value)
    if not ok:
        raise ConfigError(
            f"{where}: {section}.{key} must be {spec.allowed(kind)}, got {_show(value)}"
        )
    return value


def _build(cls: type, section: str, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: [{section}] must be a table, got {_show(values)}")
    specs = SPECS[section]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in specs:
            raise ConfigError(f"{where}: unknown setting {section}.{_one_line(key, 60)}")
        kwargs[key] = _convert(section, key, value, _field_type(cls, key), specs[key], where)
    return cls(**kwargs)


def _check(cfg: Config, where: str) -> None:
    """The rules between settings (each value's own range is checked as it is read)."""

    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{where}: {msg}")

    a, d, b = cfg.analysis, cfg.detector, cfg.bleed
    if not a.pitch_fmin_hz < a.pitch_fmax_hz:
        raise bad(
            f"analysis.pitch_fmin_hz ({a.pitch_fmin_hz:g}) must be below "
            f"analysis.pitch_fmax_hz ({a.pitch_fmax_hz:g})"
        )
    if a.window_s * a.pitch_fmin_hz < 1.5:
        raise bad(
            f"analysis.window_s ({a.window_s:g} s) is too short for pitch_fmin_hz "
            f"({a.pitch_fmin_hz:g} Hz): it must hold 1.5 periods"
        )
    if d.raised_floor_db > d.raised_level_db:
        raise bad(
            f"detector.raised_floor_db ({d.raised_floor_db:g}) must be at most "
            f"detector.raised_level_db ({d.raised_level_db:g})"
        )
    if not b.rho_off <= b.rho_min <= b.rho_sure:
        raise bad(
            f"bleed.rho_off ({b.rho_off:g}) <= bleed.rho_min ({b.rho_min:g}) <= "
            f"bleed.rho_sure ({b.rho_sure:g}) must hold"
        )
    if b.max_delay_ms / 1000 >= b.window_s:
        raise bad(
            f"bleed.max_delay_ms ({b.max_delay_ms:g} ms) must be shorter than "
            f"bleed.window_s ({b.window_s:g} s)"
        )
    try:
        cfg.transcription.worker()
    except ValueError as exc:
        raise bad(str(exc)) from None


def load_config(path: str | Path | None = None) -> Config:
    """The defaults, overridden by the TOML file at `path` (if any), validated.

    Raises:
        ConfigError: one line naming the file and the setting.
    """
    if path is None:
        return from_table({}, "defaults")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except PermissionError:
        raise ConfigError(f"{p}: cannot read config (permission denied)") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{p}: cannot read config ({_one_line(why)})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({_one_line(str(exc))})") from None
    return from_table(data, str(p))


def from_table(data: Mapping[str, Any], where: str = "settings") -> Config:
    """Settings from an already parsed TOML document (`where` names it in messages).

    Raises:
        ConfigError: one line naming the setting.
    """
    for key, value in data.items():
        if key not in SECTIONS and key != "cues":
            raise ConfigError(f"{where}: unknown section [{_one_line(key, 60)}]")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{key}] must be a table, got {_show(value)}")
    parts = {name: _build(cls, name, data.get(name, {}), where) for name, cls in SECTIONS.items()}
    cues = _cue_settings(data.get("cues"), where)
    cfg = Config(**parts, cues=cues, source=where)
    _check(cfg, where)
    return cfg


def with_overrides(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `cfg` with some fields replaced, e.g. call={"agent_channel": "right"};
    checked as a file's values are.

    Raises:
        ConfigError: a value outside what its setting allows.
    """
    where = cfg.source
    changes = {}
    for name, values in sections.items():
        if not values:
            continue
        cls, specs = SECTIONS[name], SPECS[name]
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in specs:
                raise ConfigError(f"{where}: unknown setting {name}.{_one_line(key, 60)}")
            checked[key] = _convert(name, key, value, _field_type(cls, key), specs[key], where)
        changes[name] = dataclasses.replace(getattr(cfg, name), **checked)
    new = dataclasses.replace(cfg, **changes)
    _check(new, where)
    return new


def transcriber_settings(
    cfg: Config, policy: str = "drop_oldest", **overrides: Any
) -> TranscriberSettings:
    """The model and worker settings of `cfg`, with command-line overrides (None = not
    given). Raises ValueError (one line) for an override the worker refuses."""
    return cfg.transcription.worker(policy, **overrides)


# -- writing -------------------------------------------------------------------------------


def as_dict(cfg: Config) -> dict[str, Any]:
    """The settings as plain JSON-ready data (the `settings` of a log's `call_start`)."""
    out: dict[str, Any] = {name: dataclasses.asdict(getattr(cfg, name)) for name in SECTIONS}
    table = cfg.cues.table()
    if table is not None:
        out["cues"] = table
    return out


HEADER = """\
tonewatch settings. Copy any part into your own file and pass it with --config, or put it in
the file `tonewatch config --path` names; `tonewatch config` prints the effective settings.
Each value's note says its unit and the range it must stay in."""


def _note(spec: Spec, kind: type) -> str:
    if kind in (int, float):
        unit = f" {spec.unit}" if spec.unit else ""
        return f"{spec.note} [{spec.lo:g}..{spec.hi:g}{unit}]"
    if kind is str and spec.choices:
        return f"{spec.note}: {' | '.join(spec.choices)}"
    return spec.note


def to_toml(cfg: Config, header: str | None = None) -> str:
    """The settings as TOML text with a note (unit, range) beside every key: valid for any
    value, and loading it back gives the same settings."""
    import tomlkit

    doc = tomlkit.document()
    head = header if header is not None else f"effective tonewatch settings (from {cfg.source})"
    for line in head.splitlines():
        doc.add(tomlkit.comment(line))
    for name, cls in SECTIONS.items():
        table = tomlkit.table()
        section = getattr(cfg, name)
        items = {key: tomlkit.item(getattr(section, key)) for key in SPECS[name]}
        width = max(len(f"{k} = {v.as_string()}") for k, v in items.items())
        for key, item in items.items():
            item.comment(_note(SPECS[name][key], _field_type(cls, key)))
            # Notes line up in a column (values too long for it just get one space).
            pad = min(width, 34) - len(f"{key} = {item.as_string()}")
            item.trivia.comment_ws = " " * max(2, pad + 2)
            table.add(key, item)
        doc.add(tomlkit.nl())
        doc.add(name, table)
    doc.add(tomlkit.nl())
    doc.add(tomlkit.comment("Phrase cues: the defaults live in alerts/cues.toml; add or override"))
    doc.add(tomlkit.comment("cues with [[cues.cue]] tables (see the README). In force now:"))
    names = ", ".join(f"{c.speaker}.{c.name}" for c in cfg.cues.active) or "none"
    for line in _wrap(names, 86):
        doc.add(tomlkit.comment("  " + line))
    user = cfg.cues.table()
    if user is not None:
        cues = tomlkit.table()
        if cfg.cues.replace_defaults:
            cues.add("replace_defaults", True)
        entries = tomlkit.aot()
        for entry in user["cue"]:
            entries.append(tomlkit.item(entry))
        cues.add("cue", entries)
        doc.add("cues", cues)
    return tomlkit.dumps(doc)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def render_defaults() -> str:
    """The text of the shipped ``monitor/defaults.toml``: the defaults with their notes."""
    example = """
# For example, a cue of your own:
# [[cues.cue]]
# name = "refund_promise"
# speaker = "agent"
# patterns = ["guaranteed refund"]
# severity = "warning"
# message = "Don't promise refunds you can't authorise."
"""
    return to_toml(Config(), header=HEADER) + example


def defaults_text() -> str:
    """The shipped ``monitor/defaults.toml``."""
    return resources.files("monitor").joinpath("defaults.toml").read_text(encoding="utf-8")


# -- finding the settings file -------------------------------------------------------------

ENV_VAR = "TONEWATCH_CONFIG"


def user_config_path() -> Path:
    """``tonewatch/config.toml`` in the platform's user config folder."""
    import platformdirs

    return Path(platformdirs.user_config_dir("tonewatch", appauthor=False)) / "config.toml"


def find_config(given: str | Path | None = None) -> tuple[Path | None, str]:
    """The settings file to use and why: `given` (--config), else ``TONEWATCH_CONFIG``,
    else the user config file when it exists; (None, why) when there is none."""
    if given is not None:
        return Path(given), "--config"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), ENV_VAR
    user = user_config_path()
    if user.exists():
        return user, "user config file"
    return None, f"no settings file (none at {user}); built-in defaults"


def load_settings(given: str | Path | None = None) -> Config:
    """`load_config` of the file `find_config` picks (the defaults when there is none)."""
    return load_config(find_config(given)[0])


if __name__ == "__main__":  # pragma: no cover - `python -m monitor.config > defaults.toml`
    sys.stdout.write(render_defaults())
