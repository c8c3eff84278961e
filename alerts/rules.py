"""Detection rules: per-speaker features in, alerts out.

`Detector.push` takes the hop features of both speakers for the same stretch of time and
returns the alerts that became certain in it. Decisions run on 200 ms ticks, measured in
stream time only, so replay is deterministic and as fast as the machine allows.

Vocal effort (yelling) rests on cues a gain change cannot fake: pitch in semitones over
the speaker's own baseline and a flatter spectral balance (more energy 1-3.4 kHz against
0.3-1 kHz). Level over baseline only makes a voice "raised". A level step with no change of
pitch or balance is a louder line (gain, mic, route), and the level baseline follows it.
See docs/detection.md for the method and the numbers behind each threshold.
Runs on the analysis thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts.model import Alert
from audio.baseline import Baseline, VoiceStats, VoiceWindow, semitones
from audio.types import HOP, SAMPLE_RATE, SPEAKERS, HopFeatures, Speaker, seconds

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
    """Level over baseline (dB) that makes a voice raised."""
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
    agent_yell_level_db: float = 6.0
    """The agent's yelling must also be this much louder (dB) than the agent's baseline."""
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
    match_balance_db: float = 2.0
    """The agent climbs toward an elevated customer: level over baseline (dB) plus a pitch
    (st) or balance (dB) rise, or effort (pitch and balance) at any level."""
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
    raised_enter_s: float = 1.5
    """A raised voice (not yelling) must hold this long (s of call time) before its alert."""


@dataclass
class Episode:
    state: str
    start: int
    last_true: int


MESSAGES: dict[str, tuple[str, str, str]] = {
    # kind: (severity, message template, tip)
    "customer_raised": (
        "info",
        "Customer is speaking louder ({level:+.0f} dB).",
        "Stay even: keep your own volume and pace. A loud caller is not necessarily yelling.",
    ),
    "customer_yelling": (
        "warning",
        "Customer is yelling (pitch {pitch:+.1f} st, voice brighter {balance:+.1f} dB).",
        "Don't match it. Lower your pace, let them finish, then acknowledge: "
        '"I can hear how frustrating this is."',
    ),
    "agent_raised": (
        "warning",
        "Your voice is rising ({level:+.0f} dB over your normal).",
        "Bring your volume back down and slow your pace.",
    ),
    "agent_yelling": (
        "critical",
        "You are raising your voice (pitch {pitch:+.1f} st, {level:+.0f} dB).",
        "Pause, breathe, and lower your voice before you answer.",
    ),
    "agent_matching": (
        "warning",
        "You are matching the customer's {what}.",
        "Stay below the customer's energy: lower your volume and pitch, slow down.",
    ),
    "agent_interrupting": (
        "warning",
        "You talked over the customer ({overlap:.1f} s overlap).",
        "Let them finish. Listen, then acknowledge before you answer.",
    ),
}


EFFORT_MESSAGES: dict[str, str] = {
    # A raised voice that is not louder but higher and brighter (effort at any level).
    "customer_raised": "Customer's voice is more energetic "
    "(pitch {pitch:+.1f} st, brighter {balance:+.1f} dB).",
    "agent_raised": "Your voice is rising in pitch and energy "
    "({pitch:+.1f} st, brighter {balance:+.1f} dB).",
}


def _spread(pitch: np.ndarray) -> float:
    """10-90 % range of the window's pitch frames, semitones."""
    p = np.sort(pitch)
    n = p.size - 1
    return float(p[int(round(0.9 * n))] - p[int(round(0.1 * n))])


def _deltas(now: VoiceStats, base: VoiceStats) -> tuple[float, float, float]:
    return (
        now.level_db - base.level_db,
        now.pitch_st - base.pitch_st,
        now.balance_db - base.balance_db,
    )


class VoiceTracker:
    """One speaker's baseline, current voice and elevated state (none/raised/yelling)."""

    def __init__(self, speaker: Speaker, s: DetectorSettings) -> None:
        self.speaker = speaker
        self.s = s
        per_s = 1.0 / VOICE_FRAME_S
        self.baseline = Baseline(int(s.warmup_s * per_s), s.adapt_tau_s * per_s)
        window_s = s.agent_window_s if speaker == "agent" else s.customer_window_s
        self.window = VoiceWindow(int(window_s * per_s), int(s.window_max_age_s * SAMPLE_RATE))
        self.min_frames = int(window_s * s.min_window_share * per_s)
        self.state = "normal"
        self.candidate: Episode | None = None
        self.episode: Episode | None = None
        self.last_voice = 0
        self.last_change = 0
        self.rebase_frames = 0
        self.deltas: tuple[float, float, float] | None = None
        self.elevated_s = {"raised": 0.0, "yelling": 0.0}
        self.last_elevated_end: int | None = None
        self.spurt_start = 0
        self._speaking = False
        self.last_elevated_seen: int | None = None
        self.pitch_spread = 0.0
        # Level changes of calm windows over baseline (one per judged tick), as a ring.
        self._calm = np.zeros(int(s.spread_memory_s / (TICK_HOPS * HOP / SAMPLE_RATE)))
        self._calm_n = 0
        self._raised_db = s.raised_level_db

    def classify(self, d: tuple[float, float, float], margin: float = 1.0) -> str:
        s = self.s
        dl, dp, db = d
        score = dp / s.pitch_unit_st + db / s.balance_unit_db
        # The agent's headset gain is fixed, so the agent's real shouting is also louder;
        # the customer's line gain is not, so the customer's level is not required.
        loud_enough = self.speaker == "customer" or dl >= s.agent_yell_level_db * margin
        # Without a raised level, the pitch rise must come from a coherent contour.
        coherent = self.pitch_spread <= s.yell_pitch_spread_st / margin
        loud_enough = loud_enough and (coherent or dl >= self.raised_db() * margin)
        if dp >= s.yell_pitch_st * margin and score >= s.yell_score * margin and loud_enough:
            return "yelling"
        effort = dp >= s.effort_pitch_st * margin and db >= s.effort_balance_db * margin
        if dl >= self.raised_db() * margin or effort:
            return "raised"
        return "normal"

    def raised_db(self) -> float:
        """Level rise (dB) that makes this speaker's voice raised.

        `raised_level_db` until the speaker's calm speech is known; then twice the typical
        size (`spread_quantile`) of their own calm level swings, kept within
        [`raised_floor_db`, `raised_level_db`]: a steady talker who gets 5 dB louder has
        clearly raised their voice, one whose level always swings that much has not.
        """
        return self._raised_db

    def _note_calm(self, d: tuple[float, float, float]) -> None:
        s = self.s
        self._calm[self._calm_n % self._calm.shape[0]] = abs(d[0])
        self._calm_n += 1
        # The swings change slowly: refresh the threshold every `spread_min_ticks` ticks.
        if self._calm_n % s.spread_min_ticks == 0:
            held = self._calm[: min(self._calm_n, self._calm.shape[0])]
            spread = float(np.quantile(held, s.spread_quantile))
            k = s.raised_spread_k * spread
            self._raised_db = min(s.raised_level_db, max(s.raised_floor_db, k))

    def add(self, feats: HopFeatures, lo: int, hi: int, overlap: np.ndarray) -> int:
        """Take the voiced hops in [lo, hi) of `feats`; returns how many were added."""
        speech = feats.speech[lo:hi]
        before = np.empty_like(speech)
        if speech.size:
            before[0] = self._speaking
            before[1:] = speech[:-1]
        rises = np.flatnonzero(speech & ~before)
        if rises.size:
            self.spurt_start = feats.start + (lo + int(rises[-1])) * HOP
        if speech.size:
            self._speaking = bool(speech[-1])
        v = np.flatnonzero(feats.voiced[lo:hi]) + lo
        if v.size == 0:
            return 0
        t = feats.start + v * HOP
        level = feats.level_db[v]
        pitch = semitones(feats.f0_hz[v])
        bal = feats.balance_db[v]
        self.window.add(t, level, pitch, bal)
        self.last_voice = int(t[-1])
        if not self.baseline.ready:
            keep = ~overlap[v]
            self.baseline.learn(level[keep], pitch[keep], bal[keep])
        return int(v.size)

    def tick(self, now: int, n_new: int) -> str | None:
        """Update the state at stream time `now`; returns a state just entered, if any."""
        self.window.expire(now)
        if self.state != "normal" and now - self.last_voice > self.s.idle_reset_s * SAMPLE_RATE:
            self._end(now)
        if not self.baseline.ready or self.baseline.stats is None:
            return None
        if n_new == 0 or len(self.window) < self.min_frames:
            return None
        stats = self.window.stats()
        d = _deltas(stats, self.baseline.stats)
        self.deltas = d
        self.pitch_spread = _spread(self.window.data[:, 1])
        entered = None
        level = self.classify(d)
        if level != "normal":
            self.last_elevated_seen = now
        order = {"normal": 0, "raised": 1, "yelling": 2}
        if order[level] > order[self.state]:
            if self.candidate is None or order[self.candidate.state] < order[level]:
                # last_true holds the tick the condition first held.
                self.candidate = Episode(level, self._onset(d, level), now)
            held = now - self.candidate.last_true
            need = self.s.enter_s if level == "yelling" else self.s.raised_enter_s
            if held >= need * SAMPLE_RATE:
                entered = self._enter(self.candidate, now)
        else:
            self.candidate = None
        if self.state != "normal":
            if order[self.classify(d, self.s.exit_margin)] >= order[self.state]:
                self.last_change = now
            elif now - self.last_change > self.s.exit_s * SAMPLE_RATE:
                self._end(now)
        self._maybe_rebase(d, stats, n_new)
        # Gated adaptation: the baseline follows the speaker only while no episode is
        # active or building, and not within `freeze_s` after one.
        quiet_since = self.last_elevated_end or 0
        if (
            self.state == "normal"
            and self.candidate is None
            and now - quiet_since > self.s.freeze_s * SAMPLE_RATE
        ):
            self.baseline.adapt(stats, n_new)
            self._note_calm(d)
        return entered

    def _onset(self, d: tuple[float, float, float], level: str) -> int:
        """Start of the episode: the earliest window frame that already looks elevated."""
        assert self.baseline.stats is not None
        b = self.baseline.stats
        data = self.window.data
        dl = data[:, 0] - b.level_db
        dp = data[:, 1] - b.pitch_st
        db = data[:, 2] - b.balance_db
        if level == "yelling":
            hit = dp >= 0.5 * self.s.yell_pitch_st
        elif d[0] >= self.raised_db():
            hit = dl >= 0.5 * self.raised_db()
        else:
            hit = (dp >= 0.5 * self.s.effort_pitch_st) & (db >= 0.5 * self.s.effort_balance_db)
        # The episode starts at the earliest elevated frame after which elevated frames
        # stay the majority, so a stray frame from an earlier calm turn does not count.
        tail_share = np.cumsum(hit[::-1])[::-1] / np.arange(hit.size, 0, -1)
        # It does not reach back past the start of the talk spurt now under way.
        idx = np.flatnonzero(hit & (tail_share >= 0.6) & (self.window.t >= self.spurt_start))
        return int(self.window.t[idx[0]]) if idx.size else int(self.window.t[-1])

    def _enter(self, ep: Episode, now: int) -> str:
        if self.state != "normal" and self.episode is not None:
            self._account(now)
            ep = Episode(ep.state, ep.start, now)
        self.state = ep.state
        self.episode = Episode(ep.state, ep.start, now)
        self.last_change = now
        self.candidate = None
        self.rebase_frames = 0
        return ep.state

    def _account(self, now: int) -> None:
        if self.episode is not None:
            self.elevated_s[self.episode.state] += (now - self.episode.last_true) / SAMPLE_RATE

    def _end(self, now: int) -> None:
        self._account(now)
        self.state = "normal"
        self.episode = None
        self.candidate = None
        self.last_elevated_end = now

    def _maybe_rebase(self, d: tuple[float, float, float], stats: VoiceStats, n: int) -> None:
        s = self.s
        dl, dp, db = d
        if abs(dl) >= self.raised_db() and dp < s.rebase_pitch_st and db < s.rebase_balance_db:
            self.rebase_frames += n
            if self.rebase_frames * VOICE_FRAME_S >= s.rebase_s:
                self.baseline.rebase_level(stats.level_db)
                self.rebase_frames = 0
                if self.state == "raised":
                    self.state = "normal"
                    self.last_elevated_end = self.last_voice
        else:
            self.rebase_frames = 0

    def finish(self, now: int) -> None:
        if self.state != "normal":
            self._end(now)


class OverlapTracker:
    """Who starts talking inside the other's turn, and whether it is an interruption.

    The holder's turn runs through pauses shorter than `turn_gap`. An onset of the
    `incoming` speaker while the holder is talking and has held the turn for at least
    `mid_turn` is a candidate. It is dropped as a backchannel when the incoming speech ends
    within `min_len` and stays silent for a turn gap, and as a hand-over when the holder
    falls silent for a whole `turn_gap`. It becomes an interruption once the incoming
    speaker has talked for `min_len`, the holder past `terminal`, and the overlap has reached
    `min_overlap`.
    Smoothed speech carries a VAD hangover, which the timings allow for.
    """

    def __init__(self, s: DetectorSettings, hangover_s: float) -> None:
        self.hang = int(hangover_s * SAMPLE_RATE)
        self.mid_turn = int(s.interrupt_mid_turn_s * SAMPLE_RATE)
        self.min_overlap = int(s.interrupt_overlap_s * SAMPLE_RATE)
        self.min_len = int(s.interrupt_min_s * SAMPLE_RATE)
        self.terminal = int(s.terminal_s * SAMPLE_RATE)
        self.turn_gap = int(s.turn_gap_s * SAMPLE_RATE)
        self.turn_start: int | None = None
        self.holder_last = 0  # end of the holder's latest speech hop (with hangover)
        self.holder_on = False
        self.incoming_on = False
        self.cand: int | None = None
        self.cand_overlap = 0
        self.cand_speech = 0
        self.incoming_last = 0
        self.backchannels = 0
        self.handovers = 0
        self.interruptions = 0

    def _holder(self, t: int, talking: bool) -> None:
        if talking:
            if self.turn_start is None or t - self.holder_last > self.turn_gap:
                self.turn_start = t
            self.holder_last = t + HOP
        self.holder_on = talking

    def push(self, start: int, incoming: np.ndarray, holder: np.ndarray) -> list[tuple[int, int]]:
        """Consume hops; returns (onset, overlap samples) of interruptions confirmed."""
        found: list[tuple[int, int]] = []
        n = incoming.shape[0]
        steady = (
            n > 0
            and self.cand is None
            and bool(incoming[0]) == self.incoming_on
            and bool(holder[0]) == self.holder_on
            and bool((incoming[1:] == incoming[:-1]).all())
            and bool((holder[1:] == holder[:-1]).all())
        )
        if steady:
            if self.holder_on:
                self._holder(start, True)
                self.holder_last = start + n * HOP
            return found
        for i in range(n):
            t = start + i * HOP
            h, x = bool(holder[i]), bool(incoming[i])
            self._holder(t, h)
            if x and not self.incoming_on and self.cand is None:
                turn = self.turn_start
                if h and turn is not None and t - turn >= self.mid_turn:
                    self.cand, self.cand_overlap, self.cand_speech = t, 0, 0
            self.incoming_on = x
            if x:
                self.incoming_last = t + HOP
            if self.cand is None:
                continue
            # The incoming speaker's own pauses shorter than a turn gap do not end it.
            if not x and t - self.incoming_last >= self.turn_gap - self.hang:
                if self.cand_speech - self.hang < self.min_len:
                    self.backchannels += 1
                self.cand = None
                continue
            if not h and t - self.holder_last >= self.turn_gap:
                self.handovers += 1
                self.cand = None
                continue
            if x:
                self.cand_speech += HOP
                if h:
                    self.cand_overlap += HOP
            spoke = self.cand_speech - self.hang >= self.min_len
            held = self.holder_last - self.hang - self.cand >= self.terminal
            if x and spoke and held and self.cand_overlap >= self.min_overlap:
                found.append((self.cand, self.cand_overlap))
                self.interruptions += 1
                self.cand = None
        return found


class Detector:
    """All acoustic rules over both speakers.

    Args:
        settings: thresholds and timings.
        hangover_s: the VAD hangover of the speech arrays it is given.
        call: call id stamped on alerts.
    """

    def __init__(self, settings: DetectorSettings, hangover_s: float, call: str = "") -> None:
        self.s = settings
        self.call = call
        self.voices = {sp: VoiceTracker(sp, settings) for sp in SPEAKERS}
        self.last_alert: dict[tuple[str, str], int] = {}
        self.talk = {sp: 0 for sp in SPEAKERS}
        self.overlap = 0
        self.agent_over = OverlapTracker(settings, hangover_s)
        self.customer_over = OverlapTracker(settings, hangover_s)
        self.match_since: int | None = None
        self.matched_episode: int | None = None
        self.suppressed = 0

    def push(self, agent: HopFeatures, customer: HopFeatures) -> list[Alert]:
        """Features of both speakers for the same hops -> alerts that became certain."""
        if agent.start != customer.start or agent.n_hops != customer.n_hops:
            raise ValueError("agent and customer features must cover the same hops")
        feats = {"agent": agent, "customer": customer}
        both = agent.speech & customer.speech
        self.overlap += int(both.sum()) * HOP
        for sp in SPEAKERS:
            self.talk[sp] += int(feats[sp].speech.sum()) * HOP
        alerts: list[Alert] = []
        for lo in range(0, agent.n_hops, TICK_HOPS):
            hi = min(lo + TICK_HOPS, agent.n_hops)
            t0 = agent.start + lo * HOP
            now = agent.start + hi * HOP
            a_sp, c_sp = agent.speech[lo:hi], customer.speech[lo:hi]
            for onset, ov in self.agent_over.push(t0, a_sp, c_sp):
                alerts += self._alert(
                    "agent_interrupting",
                    "agent",
                    onset,
                    now,
                    {"overlap_s": round(ov / SAMPLE_RATE, 2)},
                    overlap=ov / SAMPLE_RATE,
                )
            self.customer_over.push(t0, c_sp, a_sp)
            for sp in SPEAKERS:
                n_new = self.voices[sp].add(feats[sp], lo, hi, both)
                entered = self.voices[sp].tick(now, n_new)
                if entered:
                    alerts += self._voice_alert(sp, entered, now)
            alerts += self._matching(now)
        return alerts

    def finish(self, now: int) -> None:
        for v in self.voices.values():
            v.finish(now)

    def summary(self) -> dict[str, Any]:
        """Totals for the call summary record."""
        return {
            "talk_s": {sp: round(n / SAMPLE_RATE, 2) for sp, n in self.talk.items()},
            "overlap_s": round(self.overlap / SAMPLE_RATE, 2),
            "agent_interruptions": self.agent_over.interruptions,
            "customer_interruptions": self.customer_over.interruptions,
            "agent_backchannels": self.agent_over.backchannels,
            "elevated_s": {
                sp: {k: round(x, 1) for k, x in v.elevated_s.items()}
                for sp, v in self.voices.items()
            },
            "baseline": {
                sp: (
                    None
                    if v.baseline.stats is None
                    else {
                        "level_db": round(v.baseline.stats.level_db, 1),
                        "pitch_st": round(v.baseline.stats.pitch_st, 2),
                        "balance_db": round(v.baseline.stats.balance_db, 1),
                        "level_rebased": v.baseline.rebased,
                    }
                )
                for sp, v in self.voices.items()
            },
            "alerts_suppressed_by_cooldown": self.suppressed,
        }

    # -- voice ------------------------------------------------------------------------------
    def _evidence(self, v: VoiceTracker) -> dict[str, Any]:
        assert v.deltas is not None and v.baseline.stats is not None
        dl, dp, db = v.deltas
        return {
            "level_over_baseline_db": round(dl, 1),
            "pitch_change_st": round(dp, 2),
            "balance_change_db": round(db, 1),
            "baseline_level_db": round(v.baseline.stats.level_db, 1),
        }

    def _voice_alert(self, sp: Speaker, state: str, now: int) -> list[Alert]:
        v = self.voices[sp]
        assert v.episode is not None and v.deltas is not None
        dl, dp, db = v.deltas
        kinds = [f"{sp}_{state}"]
        if sp == "agent" and self._customer_elevated(now):
            kinds = ["agent_matching"] + (["agent_yelling"] if state == "yelling" else [])
            self.matched_episode = v.episode.start
        out: list[Alert] = []
        effort = state == "raised" and dl < v.raised_db()  # raised by pitch and timbre
        for kind in kinds:
            out += self._alert(
                kind,
                sp,
                v.episode.start,
                now,
                self._evidence(v),
                template=EFFORT_MESSAGES.get(kind) if effort else None,
                level=dl,
                pitch=dp,
                balance=db,
            )
        return out

    def _customer_elevated(self, now: int) -> bool:
        """The customer sounds elevated now or did recently (alerted or not yet)."""
        c = self.voices["customer"]
        if c.state != "normal":
            return True
        memory = self.s.match_memory_s * SAMPLE_RATE
        recent = [t for t in (c.last_elevated_end, c.last_elevated_seen) if t is not None]
        return any(now - t <= memory for t in recent)

    def _matching(self, now: int) -> list[Alert]:
        """The agent climbs toward an elevated customer (or already was elevated when the
        customer's elevation showed)."""
        a = self.voices["agent"]
        if a.deltas is None or not self._customer_elevated(now):
            self.match_since = None
            return []
        if a.state != "normal":
            self.match_since = None
            ep = a.episode
            if ep is None or self.matched_episode == ep.start:
                return []
            self.matched_episode = ep.start
            dl = a.deltas[0]
            return self._alert(
                "agent_matching",
                "agent",
                ep.start,
                now,
                self._evidence(a),
                what="volume" if dl >= self.s.match_level_db else "pitch",
            )
        s = self.s
        dl, dp, db = a.deltas
        # Matching is the agent's voice itself climbing: pitch up with level or balance up.
        climbing = dp >= s.match_pitch_st and (dl >= s.match_level_db or db >= s.match_balance_db)
        if not climbing or now - a.last_voice > TICK_HOPS * HOP:
            if not climbing:
                self.match_since = None
            return []
        if self.match_since is None:
            self.match_since = a._onset(a.deltas, "raised")
            self.match_first = now
            return []
        if now - self.match_first < s.enter_s * SAMPLE_RATE:
            return []
        what = "volume" if dl >= s.match_level_db else "pitch"
        return self._alert(
            "agent_matching", "agent", self.match_since, now, self._evidence(a), what=what
        )

    def _alert(
        self,
        kind: str,
        sp: str,
        start: int,
        now: int,
        ev: dict[str, Any],
        template: str | None = None,
        **fmt: Any,
    ) -> list[Alert]:
        last = self.last_alert.get((kind, sp))
        if last is not None and now - last < self.s.cooldown_s * SAMPLE_RATE:
            self.suppressed += 1
            return []
        self.last_alert[(kind, sp)] = now
        severity, default, tip = MESSAGES[kind]
        template = template or default
        if kind == "agent_matching":
            c = self.voices["customer"].deltas or (0.0, 0.0, 0.0)
            fmt.setdefault(
                "what", "volume" if fmt.get("level", 0) >= self.s.match_level_db else "pitch"
            )
            ev = {
                **ev,
                "customer_level_over_baseline_db": round(c[0], 1),
                "customer_pitch_change_st": round(c[1], 2),
            }
        return [
            Alert(
                kind=kind,
                speaker=sp,
                start=seconds(start),
                end=seconds(now),
                severity=severity,  # type: ignore[arg-type]
                message=template.format(**fmt),
                tip=tip,
                evidence=ev,
                call=self.call,
            )
        ]
