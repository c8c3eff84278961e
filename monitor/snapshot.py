"""What the pipeline knows after each block, frozen: the one answer for everyone who shows it.

`Pipeline.snapshot` is a `Snapshot`, replaced (never changed) after every `push`. The agent's
view, the track recorder and the call summary read it (or the records) instead of a
stage's insides, so who is speaking, how loud, against which baseline and which threshold
is the same everywhere:

- who is speaking is speech after the crosstalk guard (the other speaker's echo is not
  speech), the answer the rules and the snippet cutter use;
- levels are of the audio after the headset-bleed canceller (the agent's meter shows the
  agent, not the customer's voice in the mic);
- `raised_db` is the level rise the rule applies now (it adapts to the speaker's own calm
  swings), not the configured ceiling.

Everything is in stream time at the end of the last decided 200 ms tick (`t`); the
pipeline holds a little audio back (the canceller's 50 ms cells, the 30 ms VAD frames, the
tick), so `t` trails `received` by up to about a quarter of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio.types import SAMPLE_RATE, Speaker


@dataclass(frozen=True)
class VoiceSnapshot:
    """One speaker's state.

    Attributes:
        speaking: speech (after the crosstalk guard) in the last hop decided.
        turn_start: stream time (samples) the current run of speech began, None if silent.
        level_db: loudest 10 ms hop of the last 300 ms (K-weighted dB, the baselines'
            scale), None before any audio.
        momentary_db: 400 ms momentary loudness at the last hop (K-weighted dB).
        baseline_level_db: the speaker's calm level (dB), None while still learning.
        baseline_pitch_st: calm pitch, semitones re 100 Hz; None while learning.
        baseline_balance_db: calm spectral balance (dB); None while learning.
        learning: how far the baseline has been learnt, 0..1 (1 = known).
        state: "normal", "raised" or "yelling" (the voice rule's episode state).
        raised_db: the level rise over the baseline (dB) that counts as raised now.
    """

    speaking: bool
    turn_start: int | None
    level_db: float | None
    momentary_db: float | None
    baseline_level_db: float | None
    baseline_pitch_st: float | None
    baseline_balance_db: float | None
    learning: float
    state: str
    raised_db: float

    @property
    def over_baseline_db(self) -> float | None:
        """How far the level is above the calm level (dB), None if either is unknown."""
        if self.level_db is None or self.baseline_level_db is None:
            return None
        return self.level_db - self.baseline_level_db


@dataclass(frozen=True)
class BleedSnapshot:
    """The headset-bleed canceller's state.

    Attributes:
        detected: bleed was found at some point in the call.
        active: the customer's copy is being taken out of the mic now.
        delay_ms: delay of the copy (ms), None if never detected.
        gain_db: gain of the copy relative to the customer channel (dB), None if never
            detected.
    """

    detected: bool
    active: bool
    delay_ms: float | None
    gain_db: float | None


@dataclass(frozen=True)
class Snapshot:
    """The pipeline's state after a block (see the module docstring).

    Attributes:
        call: the call id.
        t: stream time (samples) decided so far: the end of the last whole tick.
        received: stream time (samples) received so far.
        agent, customer: each speaker's `VoiceSnapshot`.
        bleed: the headset-bleed canceller's `BleedSnapshot`.
        dropped: samples lost in capture so far.
    """

    call: str
    t: int
    received: int
    agent: VoiceSnapshot
    customer: VoiceSnapshot
    bleed: BleedSnapshot
    dropped: int = 0

    def voice(self, speaker: Speaker) -> VoiceSnapshot:
        return self.agent if speaker == "agent" else self.customer

    @property
    def overlap(self) -> bool:
        """Both speakers are speaking (after the crosstalk guard)."""
        return self.agent.speaking and self.customer.speaking

    @property
    def t_s(self) -> float:
        """`t` in seconds."""
        return self.t / SAMPLE_RATE
