"""Thresholds and timings of the acoustic rules, and the decision tick.

One frozen dataclass (`DetectorSettings`, the `[detector]` section of the settings file)
read by the voice, overlap and engine modules. See docs/detection.md for the numbers
behind each value.
"""

from __future__ import annotations

from dataclasses import dataclass

TICK_HOPS = 20
"""Hops per decision tick (200 ms)."""
VOICE_FRAME_S = 0.03
"""Voice features come once per 30 ms frame."""


@dataclass(frozen=True)
class DetectorSettings:
    """Thresholds and timings of the acoustic rules (see `monitor/defaults.toml`)."""

    warmup_s: float = 4.5
    """Voiced speech (seconds) that forms a speaker's baseline before relative alerts."""
    adapt_tau_s: float = 90.0
    """Baseline adaptation time constant, seconds of voiced speech."""
    freeze_s: float = 10.0
    """The baseline stays frozen this long (s) after an elevated episode ends."""
    agent_window_s: float = 1.2
    """Voiced speech (seconds) summarised as the agent's voice now: short, so that matching
    shows within the agent's next turn or two."""
    customer_window_s: float = 2.0
    """Voiced speech (seconds) summarised as the customer's voice now: longer, so that a
    real call's changing words do not pass for effort."""
    window_max_age_s: float = 6.0
    """Voiced frames older than this (seconds of call time) leave the window."""
    min_window_share: float = 0.5
    """Share of the window that must be filled before it is judged."""
    raised_level_db: float = 6.0
    """Level over baseline (dB) that makes a voice raised, at most (the ANSI S3.5
    normal-to-raised step)."""
    raised_floor_db: float = 4.0
    """A steady talker's raised threshold goes no lower than this (dB over baseline)."""
    raised_spread_k: float = 2.0
    """... and is this many times the typical size of their calm level swings."""
    spread_quantile: float = 0.9
    """Which quantile of a speaker's calm swings is their typical size."""
    spread_min_ticks: int = 25
    """Judged calm ticks (0.2 s each) before a speaker's own swings are used."""
    spread_memory_s: float = 120.0
    """Call time (s) of calm ticks remembered for those swings."""
    effort_pitch_st: float = 2.0
    effort_balance_db: float = 2.0
    """Pitch (st) and balance (dB) rises that together make a voice raised at any level."""
    yell_pitch_st: float = 3.0
    """Minimum pitch rise (st) for yelling."""
    yell_score: float = 2.0
    """Yelling needs pitch_rise/pitch_unit + balance_rise/balance_unit >= this."""
    yell_pitch_spread_st: float = 12.0
    """Without a raised level, yelling needs a coherent pitch track: the window's 10-90 %
    pitch range (st) within about an octave. A wider range is octave errors or sweeping
    intonation, and its median is no register shift (shouting lifts the whole contour)."""
    yell_pitch_floor_st: float = 12.0
    """... or (the customer, against their own baseline) the window's 25th percentile pitch
    this far (st) over the baseline: the whole contour lifted by an octave, as shouting
    lifts it, though a rough voice's subharmonic and octave-jumping frames widen its range."""
    agent_yell_level_db: float = 6.0
    """The agent's yelling must also be this much louder (dB) than the agent's baseline."""
    effort_floor_db: float = 6.0
    """Pitch and balance up are a speaker's effort (raised, or yelling without a louder
    level) only down to this many dB under their calm level (the ANSI S3.5 normal-to-raised
    step, 6 dB): AGC can hold a shout at the calm level, it does not make it quieter."""
    agent_effort_coupling: float = 0.5
    """The agent's voice raised by pitch and timbre (under the raised level) counts only
    when their level rose by at least this many dB per dB of balance rise: with a fixed
    headset gain, effort that brightens the voice also makes it louder (0.4-0.7 dB of
    alpha ratio per dB, ACOUSTICS.md 1.1; 0.5 allows twice the steepest coupling), while a
    bright, high voice at its usual level is animation, not effort."""
    pitch_unit_st: float = 4.0
    balance_unit_db: float = 4.0
    exit_margin: float = 0.5
    """Hysteresis: leave a state when its measure falls below this fraction of entry."""
    enter_s: float = 0.4
    """A state must hold this long (seconds of call time) before its alert."""
    exit_s: float = 3.0
    """An elevated state ends after this long (seconds) below its exit threshold."""
    idle_reset_s: float = 8.0
    """An elevated state ends when the speaker is silent this long (seconds)."""
    cooldown_s: float = 20.0
    """No second alert of the same kind and speaker within this many seconds."""
    rebase_s: float = 2.0
    """Raised level with no pitch or balance change for this long (voiced seconds)
    re-bases the level baseline: the line got louder, not the voice."""
    rebase_pitch_st: float = 1.5
    rebase_balance_db: float = 2.5
    match_level_db: float = 4.0
    match_pitch_st: float = 1.5
    """The agent climbs toward an escalated customer: louder than their baseline by
    `match_level_db` (dB) and higher by `match_pitch_st` (st), ACOUSTICS.md 5.2; an agent
    raised or yelling then is matching when louder by `match_level_db` or yelling."""
    match_memory_s: float = 20.0
    """After the customer's elevated episode ends, matching is still checked this long."""
    interrupt_mid_turn_s: float = 1.0
    """The customer must have been talking this long (s) for an agent start to cut in."""
    interrupt_overlap_s: float = 0.5
    """Overlap (s) needed for an interruption."""
    interrupt_min_s: float = 1.0
    """Agent speech shorter than this (s) while the customer carries on is a backchannel."""
    terminal_s: float = 0.5
    """The customer finishing within this long (s) after the agent starts is a hand-over."""
    turn_gap_s: float = 1.0
    """A speaker's turn runs through pauses shorter than this (s)."""
    calm_pitch_ceiling_st: float = 18.0
    """The highest pitch (semitones re 100 Hz; 18 st = 283 Hz) a calm adult voice is taken
    to have: the top of the female speaking range (about 255 Hz, Titze 1994) plus about 2
    st. A baseline above it is bounded to it, so a baseline learned on shouting still
    leaves room to see the shouting."""
    prior_yell_pitch_st: float = 4.0
    """The customer's voice this far (st) over the calm ceiling, with a coherent pitch
    track, is yelling whatever the baseline (no adult speaks calmly at 360 Hz)."""
    settle_block_s: float = 2.25
    """Voiced speech (s; about 6 s of talk) in each block that may become a calmer baseline."""
    settle_loud_db: float = 12.0
    """A block this much quieter (dB; the ANSI normal-to-loud step) and lower or darker
    than earlier speech means the speaker calmed down (the customer also does with their
    raised step held for two blocks); the agent's late raised alerts need it too."""
    history_s: float = 180.0
    """Call time (s) kept to be judged again when a speaker's baseline settles lower."""
    agent_critical_level_db: float = 12.0
    agent_critical_score: float = 4.0
    """The agent's yelling is critical only when at least this much louder (dB; the ANSI
    normal-to-loud step) and this far up in effort (twice the yelling score)."""
    raised_enter_s: float = 1.5
    """A raised voice (not yelling) must hold this long (s of call time) before its alert."""
    recent_look_s: float = 0.6
    """The customer's latest voiced speech (s) whose level step (with pitch or balance up)
    starts a raised state's hold before the whole window shows it; 0 = off."""
    provisional_share: float = 0.5
    """Share of the warm-up after which the customer is judged against the warm-up so far."""
