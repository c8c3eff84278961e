"""Voice rules: one speaker's baseline, current voice and elevated state.

Vocal effort (yelling) rests on cues a gain change cannot fake: pitch in semitones over
the speaker's own baseline and a flatter spectral balance (more energy 1-3.4 kHz against
0.3-1 kHz). Level over baseline only makes a voice "raised". A level step with no change of
pitch or balance is a louder line (gain, mic, route), and the level baseline follows it.
See docs/detection.md for the method and the numbers behind each threshold.
Runs on the analysis thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from alerts.settings import TICK_HOPS, VOICE_FRAME_S, DetectorSettings
from audio.baseline import Baseline, VoiceStats, VoiceWindow, semitones, summarize
from audio.types import HOP, SAMPLE_RATE, HopFeatures, Speaker


@dataclass
class Episode:
    state: str
    start: int
    last_true: int


@dataclass(frozen=True)
class Judged:
    """One judged tick, kept so the call so far can be judged again against a calmer
    baseline: tick time, earliest time its window covers in the spurt, the voice summary,
    the window's pitch range and its pitch floor (semitones)."""

    t: int
    onset: int
    stats: VoiceStats
    spread: float
    floor: float


@dataclass(frozen=True)
class LateEpisode:
    """An episode found only when the baseline settled on calmer speech."""

    state: str
    start: int
    end: int
    deltas: tuple[float, float, float]
    baseline: VoiceStats


ORDER = {"normal": 0, "raised": 1, "yelling": 2}


def _spread(pitch: np.ndarray) -> tuple[float, float]:
    """(10-90 % range, 25th percentile) of the window's pitch frames, semitones."""
    p = np.sort(pitch)
    n = p.size - 1
    return float(p[int(round(0.9 * n))] - p[int(round(0.1 * n))]), float(p[int(round(0.25 * n))])


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
        self.recent_frames = int(s.recent_look_s * per_s) if speaker == "customer" else 0
        self.state = "normal"
        self.candidate: Episode | None = None
        self._by_step = False  # the candidate's hold began with the latest frames' step
        self.episode: Episode | None = None
        self.last_voice = 0
        self.last_change = 0
        self.rebase_frames = 0
        self.deltas: tuple[float, float, float] | None = None
        self.elevated_s = {"raised": 0.0, "yelling": 0.0}
        self.last_elevated_end: int | None = None
        self.spurt_start = 0
        self._speaking = False
        self._spoke = False  # speech hops added since the last tick
        self._judged = "normal"  # the level the last judged window read as
        # Escalation (what the agent must not match): yelling, or raised by level. A voice
        # raised by pitch and brightness alone at its usual level is energetic (upbeat
        # callers sound like that), not escalating.
        self.escalated = False  # the current episode has been an escalation
        self.last_escalated_end: int | None = None
        self.last_escalated_seen: int | None = None
        self.last_warm_seen: int | None = None
        self.pitch_spread = 0.0
        self.pitch_floor = -np.inf  # the window's 25th percentile pitch over the reference
        # Level changes of calm windows over baseline (one per judged tick), as a ring.
        self._calm = np.zeros(int(s.spread_memory_s / (TICK_HOPS * HOP / SAMPLE_RATE)))
        self._calm_n = 0
        self._raised_db = s.raised_level_db
        # Settling: consecutive blocks of voiced speech, each a candidate calm baseline.
        self._block: list[np.ndarray] = []
        self._block_n = 0
        self.settle_frames = int(s.settle_block_s * per_s)
        self._blocks: deque[tuple[int, VoiceStats]] = deque()
        self._prev_data: np.ndarray | None = None
        # After settling, the customer's calm voice is learned afresh from the settling
        # speech and the calm speech that follows, up to a warm-up's worth of frames.
        self._calm_after: np.ndarray | None = None
        self._calm_grew = False
        # The customer's latest block's worth of voiced frames, looked at between blocks.
        self._recent = np.zeros((0, 3))
        self._since_look = 0
        self.history: deque[Judged] = deque()
        self.alerted: list[list[int]] = []  # [start, end, state order] of alerted episodes
        self.late: list[LateEpisode] = []
        self.settled = 0
        self.seeded = False
        self.calm_frames = 0
        self._own: Baseline | None = None  # the call's own warm-up, beside a seeded profile
        self.profile_kept: bool | None = None

    def seed(self, stats: VoiceStats, raised_db: float | None = None) -> None:
        """Start from a known calm voice (the agent's profile): ready from the first word."""
        self.baseline.seed(stats)
        self.seeded = True
        self._own = Baseline(self.baseline.warmup_frames, self.baseline.tau_frames)
        if raised_db is not None:
            s = self.s
            self._raised_db = min(s.raised_level_db, max(s.raised_floor_db, raised_db))

    def reference(self, now: VoiceStats | None = None) -> VoiceStats | None:
        """What the voice is judged against: the baseline with its pitch bounded to the
        calm ceiling; before a baseline is known, for the customer, the ceiling alone (the
        speaker-independent reference: level and balance unknown, so no change in them)."""
        b = self.baseline.stats
        if b is None and self.provisional:
            b = self.baseline.partial
        ceiling = self.s.calm_pitch_ceiling_st
        if b is not None:
            # A register between the ceiling and yelling from the first word is a high
            # voice, kept as it is; one above that was learned on shouting.
            if b.pitch_st < ceiling + self.s.prior_yell_pitch_st:
                return b
            return VoiceStats(b.level_db, ceiling, b.balance_db)
        if now is None or self.speaker != "customer":
            return None
        return VoiceStats(now.level_db, ceiling, now.balance_db)

    @property
    def provisional(self) -> bool:
        """The customer is judged against their warm-up so far: most of it is done
        (`provisional_share`), the rest not yet."""
        b = self.baseline
        return (
            self.speaker == "customer"
            and b.partial is not None
            and b.progress >= self.s.provisional_share
        )

    def classify(
        self,
        d: tuple[float, float, float],
        margin: float = 1.0,
        pitch_abs: float | None = None,
        spread: float | None = None,
        coupled: bool = True,
        floor: float | None = None,
    ) -> str:
        """The level the deltas `d` read as. `coupled=False` drops the agent's rule that
        effort must come with level (for telling a different voice from the same one).
        `floor`: the window's 25th percentile pitch over the reference (st)."""
        s = self.s
        dl, dp, db = d
        score = dp / s.pitch_unit_st + db / s.balance_unit_db
        spread = self.pitch_spread if spread is None else spread
        floor = self.pitch_floor if floor is None else floor
        # Without a raised level, the pitch rise must come from a coherent contour ...
        coherent = spread <= s.yell_pitch_spread_st / margin
        # ... or from one lifted as a whole: a rough shout's subharmonic and octave-jumping
        # frames widen its range, but its lowest quarter is still an octave over the
        # speaker's calm voice (the customer, against their own voice: the baseline, or
        # the warm-up so far once most of it is done; never the ceiling alone).
        own = self.baseline.stats is not None or self.provisional
        lifted = self.speaker == "customer" and own and floor >= s.yell_pitch_floor_st * margin
        # Far above any calm adult register with a coherent track: yelling, whatever the
        # baseline (the speaker-independent reference; the customer only, see settings).
        ceiling = s.calm_pitch_ceiling_st + s.prior_yell_pitch_st * margin
        absolute = pitch_abs is not None and pitch_abs >= ceiling
        # ... and far above the speaker's own register, unless that register (the baseline,
        # or the warm-up so far) is itself no calm one.
        register = self.baseline.stats or self.baseline.partial
        absolute = absolute and (register is None or register.pitch_st >= ceiling)
        # Effort without level still has a floor: AGC or a far phone can hold a shout at
        # the calm level, nothing turns more effort 6 dB quieter. A voice that far under
        # the speaker's calm one is someone else's (a reverberant leak of the other side).
        audible = dl >= -s.effort_floor_db / margin
        if self.speaker == "customer" and absolute and coherent and audible:
            return "yelling"
        # The agent's headset gain is fixed, so the agent's real shouting is also louder;
        # the customer's line gain is not, so the customer's level is not required.
        loud_enough = self.speaker == "customer" or dl >= s.agent_yell_level_db * margin
        raised = dl >= self.raised_db() * margin
        loud_enough = loud_enough and audible and (coherent or lifted or raised)
        if dp >= s.yell_pitch_st * margin and score >= s.yell_score * margin and loud_enough:
            return "yelling"
        effort = dp >= s.effort_pitch_st * margin and db >= s.effort_balance_db * margin
        # The agent's fixed headset gain again: effort that brightens the voice is louder.
        coupled = not coupled or dl >= s.agent_effort_coupling * db * margin
        effort = effort and audible and (self.speaker == "customer" or coupled)
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
            self._spoke = self._spoke or bool(speech.any())
        v = np.flatnonzero(feats.voiced[lo:hi]) + lo
        if v.size == 0:
            return 0
        t = feats.start + v * HOP
        level = feats.level_db[v]
        pitch = semitones(feats.f0_hz[v])
        bal = feats.balance_db[v]
        self.window.add(t, level, pitch, bal)
        self.last_voice = int(t[-1])
        keep = ~overlap[v]
        if not self.baseline.ready:
            self.baseline.learn(level[keep], pitch[keep], bal[keep])
        if self._own is not None and not self._own.ready:
            self._own.learn(level[keep], pitch[keep], bal[keep])
        if keep.any():
            frames = np.column_stack([level[keep], pitch[keep], bal[keep]])
            self._block.append(frames)
            self._block_n += int(keep.sum())
            if self.speaker == "customer":
                self._recent = np.concatenate([self._recent, frames])[-self.settle_frames :]
                self._since_look += int(keep.sum())
            if self._calm_after is not None and self.state == "normal" and self.candidate is None:
                self._calm_after = np.concatenate([self._calm_after, frames])
                self._calm_grew = True
        return int(v.size)

    def tick(self, now: int, n_new: int) -> str | None:
        """Update the state at stream time `now`; returns a state just entered, if any."""
        self.window.expire(now)
        if self.state != "normal" and now - self.last_voice > self.s.idle_reset_s * SAMPLE_RATE:
            self._end(now)
        if self._own is not None and self._own.stats is not None:
            self._check_profile(self._own.stats)
        if self._calm_grew and self._calm_after is not None:
            c = self._calm_after
            self.baseline.seed(summarize(c[:, 0], c[:, 1], c[:, 2]))
            self._calm_grew = False
            if c.shape[0] >= self.baseline.warmup_frames:
                self._calm_after = None
        if self._block_n >= self.settle_frames:
            self._settle(now)
        elif self._since_look >= self.settle_frames // 3:
            self._look_between_blocks(now)
        if self.candidate is not None and now - self.last_voice > self.s.turn_gap_s * SAMPLE_RATE:
            # A building state ends with the speaker's turn: it must hold in their own
            # speech, not be completed by the first frames of their next turn.
            self.candidate = None
        spoke, self._spoke = self._spoke, False
        if n_new == 0 and spoke and self._yell_held(now):
            # Speech with no new voiced frames (a rough, aperiodic shout goes on) leaves the
            # window's verdict as it was: a yelling state building completes its hold.
            assert self.candidate is not None
            return self._enter(self.candidate, now)
        if n_new == 0 or len(self.window) < self.min_frames // 2:
            return None
        stats = self.window.stats()
        spread, floor_st = _spread(self.window.data[:, 1])
        # A window half filled is judged again later (a settled baseline), not live.
        self._remember(now, stats, spread, floor_st)
        ref = self.reference(stats)
        if ref is None:
            return None
        d = _deltas(stats, ref)
        floor = floor_st - ref.pitch_st
        if len(self.window) < self.min_frames and not self._unmistakable(d, stats, spread, floor):
            # Not judged yet, but a raised voice's hold may begin with the latest frames
            # (and a hold begun that way ends with them).
            raised = self.candidate is not None and self.candidate.state == "raised"
            if self.state == "normal" and not self._step_onset(ref, now) and raised:
                self.candidate = None
            return None
        self.deltas = d
        self.pitch_spread = spread
        self.pitch_floor = floor
        entered = None
        level = self.classify(d, pitch_abs=stats.pitch_st)
        self._judged = level
        if level == "raised" and self._own is not None:
            level = "normal"  # on a profile not yet checked against the call, only yelling
        escalated = self._escalation(level, d)
        if escalated:
            self.last_escalated_seen = now
        warm = self.classify(d, self.s.exit_margin, pitch_abs=stats.pitch_st)
        if self._escalation(warm, d, self.s.exit_margin):
            self.last_warm_seen = now
        order = ORDER
        if self.state != "normal" and self.alerted:
            self.alerted[-1][1] = now
        if order[level] > order[self.state]:
            if self._by_step and not self._voice_step(d):
                # The window's raise is not the louder voice the latest frames showed (a
                # louder line, or effort at the usual level): its hold starts now.
                self.candidate = None
            self._by_step = False
            if self.candidate is None or order[self.candidate.state] < order[level]:
                # last_true holds the tick the condition first held.
                self.candidate = Episode(level, self._onset(d, level), now)
            held = now - self.candidate.last_true
            need = self.s.enter_s if level == "yelling" else self.s.raised_enter_s
            if held >= need * SAMPLE_RATE:
                entered = self._enter(self.candidate, now)
        elif not (self.state == "normal" and self._step_onset(ref, now)):
            self.candidate = None
        if self.state != "normal" and escalated:
            self.escalated = True
        if self.state != "normal":
            if order[warm] >= order[self.state]:  # the exit test: half the entry thresholds
                self.last_change = now
            elif now - self.last_change > self.s.exit_s * SAMPLE_RATE:
                self._end(now)
        if not self.baseline.ready:
            return entered
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
            self.calm_frames += n_new
        return entered

    def _yell_held(self, now: int) -> bool:
        """Yelling is building from normal, the last judged window read as yelling, and it
        has held `enter_s` at stream time `now`."""
        c = self.candidate
        return (
            self.state == "normal"
            and c is not None
            and c.state == "yelling"
            and self._judged == "yelling"
            and self._held(now, self.s.enter_s)
        )

    def _held(self, now: int, hold_s: float) -> bool:
        """A candidate state has held at least `hold_s` seconds at stream time `now`."""
        c = self.candidate
        return c is not None and now - c.last_true >= hold_s * SAMPLE_RATE

    def _step_onset(self, ref: VoiceStats, now: int) -> bool:
        """The onset of a raised voice, before the whole window shows it: the customer's
        latest `recent_look_s` of voiced frames are a louder voice than `ref`
        (`_voice_step`). It starts (or keeps) the raised state's hold; the hold goes on
        only if the whole window, once raised, is that louder voice too, and the alert
        still needs the whole window raised when the hold is over."""
        k = self.recent_frames
        if self.speaker != "customer" or k <= 0 or len(self.window) < k:
            return False
        data = self.window.data[-k:]
        d = _deltas(summarize(data[:, 0], data[:, 1], data[:, 2]), ref)
        if not self._voice_step(d):
            return False
        if self.candidate is None:
            self.candidate = Episode("raised", self._onset(d, "raised"), now)
            self._by_step = True
        return self.candidate.state == "raised"

    def _voice_step(self, d: tuple[float, float, float]) -> bool:
        """Louder by the raised threshold, and higher or brighter by an effort step: a
        louder voice, not a louder line."""
        s = self.s
        dl, dp, db = d
        return dl >= self.raised_db() and (dp >= s.effort_pitch_st or db >= s.effort_balance_db)

    def _escalation(self, level: str, d: tuple[float, float, float], k: float = 1.0) -> bool:
        """`level` (judged with thresholds scaled by `k`) is an escalation: yelling, or
        raised with the level up by the speaker's raised threshold."""
        return level == "yelling" or (level == "raised" and d[0] >= self.raised_db() * k)

    def _unmistakable(
        self, d: tuple[float, float, float], stats: VoiceStats, spread: float, floor: float
    ) -> bool:
        """A window only half filled is judged live when it is a shout beyond doubt: yelling
        in pitch and balance, with a coherent contour, and louder by the speaker's raised
        step (the customer's first shout after a long pause fills no whole window: a 2 s
        RAVDESS shout has about 1 s of voiced frames); or, for the customer, yelling with
        the contour lifted as a whole (`floor`) and a spectrum no darker than the calm
        voice's (effort brightens it): a rough shout voices so few frames that its window
        may never be half filled."""
        known = self.baseline.stats is not None
        if not (known or self.provisional):
            return False
        if self.classify(d, pitch_abs=stats.pitch_st, spread=spread, floor=floor) != "yelling":
            return False
        if known and spread <= self.s.yell_pitch_spread_st and d[0] >= self.raised_db():
            return True
        lifted = floor >= self.s.yell_pitch_floor_st
        return self.speaker == "customer" and lifted and d[2] >= 0.0

    def _remember(self, now: int, stats: VoiceStats, spread: float, floor: float) -> None:
        onset = max(int(self.window.t[0]), self.spurt_start)
        self.history.append(Judged(now, onset, stats, spread, floor))
        horizon = now - int(self.s.history_s * SAMPLE_RATE)
        while self.history[0].t < horizon:
            self.history.popleft()

    def _elevated_over(self, x: VoiceStats, cand: VoiceStats, k: float = 1.0) -> bool:
        """`x` reads as elevated against `cand` (k scales the thresholds): louder by a
        raised step and yelling-like in pitch and balance, or louder by a loud step
        (`settle_loud_db`) and higher or brighter. RAVDESS calm takes of one speaker differ
        by up to ~10 dB and 4 st between 6 s blocks, so smaller steps are no calming down.
        Pitch and balance alone wander that much between blocks of a calm real call (its
        agent: -3.8 st, -3.7 dB at the same level); a level step alone is the line."""
        s = self.s
        dl, dp, db = _deltas(x, cand)
        yell_like = dp >= s.yell_pitch_st * k and (
            dp / s.pitch_unit_st + db / s.balance_unit_db >= s.yell_score * k
        )
        voice = dp >= s.effort_pitch_st * k or db >= s.effort_balance_db * k
        loud = dl >= s.settle_loud_db * k and voice
        if self.speaker == "agent":
            # The agent's calm voice comes from their profile; in the call only a loud
            # step is calming down. A raised step that merely looks like yelling is how
            # one actor's normal turns differ from their soft ones (+6 dB, +3.3 st,
            # +5.3 dB brighter), which made the opening a late agent_yelling.
            return loud
        return loud or (dl >= self.raised_db() * k and yell_like)

    def _check_profile(self, own: VoiceStats) -> None:
        """The call's own warm-up against the seeded profile. Started elevated over it
        (louder and higher or brighter): the profile stays, it is what shows that. Merely
        different (another headset or line, a cold): the profile would flag calm speech, so
        the call's own baseline takes over. Close to it: the two are averaged (the profile
        is a prior worth as much as the call's own warm-up)."""
        self._own = None
        prof = self.baseline.stats
        assert prof is not None
        if self._elevated_over(own, prof):
            self.profile_kept = True
            return
        # Different in level, or in pitch and timbre at any level (another headset).
        differs = self.classify(_deltas(own, prof), spread=0.0, coupled=False) != "normal"
        self.profile_kept = not differs
        if differs:
            self.baseline.seed(own)
            self.seeded = False
            return
        self.baseline.seed(
            VoiceStats(
                (prof.level_db + own.level_db) / 2,
                (prof.pitch_st + own.pitch_st) / 2,
                (prof.balance_db + own.balance_db) / 2,
            )
        )

    def _settle(self, now: int) -> None:
        """A new block of voiced speech: when an earlier block (or the baseline) reads as
        elevated against it, and the baseline is not calmer already, the speaker has calmed
        down. The block becomes the baseline and the call so far is judged again against it
        (episodes missed live become late episodes).

        A smaller, speaker-relative step counts when it holds for two blocks in a row: both
        this block and the one before are quieter than an earlier block by the speaker's
        raised threshold and lower in pitch or balance by an effort step, and the baseline
        sits above them (by half the raised step, or an effort step in pitch or balance).
        The two blocks together become the baseline."""
        data = np.concatenate(self._block)
        self._block, self._block_n = [], 0
        cand = summarize(data[:, 0], data[:, 1], data[:, 2])
        earlier = list(self._blocks)
        prev_data, self._prev_data = self._prev_data, data
        self._blocks.append((now, cand))
        horizon = now - int(self.s.history_s * SAMPLE_RATE)
        while self._blocks[0][0] < horizon:
            self._blocks.popleft()
        b = self.baseline.stats
        if b is None:
            return
        if self._calmed_down(b, cand, earlier, now):
            self._settle_on(cand, now, data)
            return
        if self.speaker != "customer" or prev_data is None or len(earlier) < 2:
            return  # the agent's calm voice comes from their profile (and a loud step)
        prev = earlier[-1][1]
        if not any(
            self._raised_over(x, cand) and self._raised_over(x, prev) for _, x in earlier[:-1]
        ):
            return
        both = np.concatenate([prev_data, data])
        pair = summarize(both[:, 0], both[:, 1], both[:, 2])
        if self._above(b, pair):
            self._settle_on(pair, now, both)

    def _calmed_down(
        self,
        b: VoiceStats,
        cand: VoiceStats,
        earlier: Iterable[tuple[int, VoiceStats]],
        now: int,
    ) -> bool:
        """The loud-step test of calming down: the baseline `b` is at least half elevated
        over `cand`, and an earlier block (or the baseline, at `now`) wholly is."""
        return self._elevated_over(b, cand, 0.5) and any(
            self._elevated_over(x, cand) for _, x in [*earlier, (now, b)]
        )

    def _look_between_blocks(self, now: int) -> None:
        """The customer's latest block's worth of voiced frames, between two blocks: when it
        is calmer by the loud step (`_settle`'s first test), the baseline settles on it now
        instead of at the next block's end, and the next block starts afresh."""
        self._since_look = 0
        b = self.baseline.stats
        if b is None or len(self._recent) < self.settle_frames:
            return
        data = self._recent
        cand = summarize(data[:, 0], data[:, 1], data[:, 2])
        if self._calmed_down(b, cand, self._blocks, now):
            self._block, self._block_n = [], 0
            self._prev_data = data
            self._blocks.append((now, cand))
            self._settle_on(cand, now, data)

    def _raised_over(self, x: VoiceStats, cand: VoiceStats) -> bool:
        """`x` is louder than `cand` by the speaker's raised threshold and higher or
        brighter by an effort step."""
        s = self.s
        dl, dp, db = _deltas(x, cand)
        return dl >= self.raised_db() and (dp >= s.effort_pitch_st or db >= s.effort_balance_db)

    def _above(self, b: VoiceStats, cand: VoiceStats) -> bool:
        """The baseline sits above `cand`: half a raised step louder, or an effort step
        higher or brighter (a baseline learned on emphatic speech at a calm level)."""
        s = self.s
        dl, dp, db = _deltas(b, cand)
        return dl >= 0.5 * self.raised_db() or dp >= s.effort_pitch_st or db >= s.effort_balance_db

    def _settle_on(self, cand: VoiceStats, now: int, data: np.ndarray) -> None:
        self.baseline.seed(cand)
        self.settled += 1
        if self.speaker == "customer" and data.shape[0] < self.baseline.warmup_frames:
            self._calm_after, self._calm_grew = data, False
        self._rejudge(now)

    def _rejudge(self, now: int) -> None:
        """Judge the remembered ticks again against the settled baseline."""
        ref = self.reference()
        if ref is None or not self.history:
            return
        s = self.s
        tick_s = TICK_HOPS * HOP / SAMPLE_RATE
        found: list[LateEpisode] = []
        run: list[tuple[Judged, str, tuple[float, float, float]]] = []

        def close() -> None:
            if not run:
                return
            n_yell = sum(lv == "yelling" for _, lv, _ in run)
            state = "normal"
            if n_yell * tick_s >= s.enter_s + tick_s:
                state = "yelling"
            elif len(run) * tick_s >= s.raised_enter_s + tick_s:
                state = "raised"
            if state != "normal":
                peak = max(run, key=lambda r: (ORDER[r[1]], r[2][1]))
                start, end = run[0][0].onset, run[-1][0].t
                found.append(LateEpisode(state, start, end, peak[2], ref))
            run.clear()

        # The customer's late raised episodes use the live, speaker-relative level step; the
        # agent's only a loud step (their calm voice comes from the profile, see _settle).
        late_raised_db = self.raised_db() if self.speaker == "customer" else s.settle_loud_db
        last_t = None
        for j in self.history:
            d = _deltas(j.stats, ref)
            floor = j.floor - ref.pitch_st
            lv = self.classify(d, pitch_abs=j.stats.pitch_st, spread=j.spread, floor=floor)
            if lv == "raised" and d[0] < late_raised_db:
                lv = "normal"  # late, only a louder voice is worth telling as raised
            if lv == "normal":
                if last_t is not None and j.t - last_t > s.exit_s * SAMPLE_RATE:
                    close()
                    last_t = None
                continue
            run.append((j, lv, d))
            last_t = j.t
        close()
        fresh = [
            ep
            for ep in found
            if not any(
                a[0] <= ep.end and ep.start <= a[1] and a[2] >= ORDER[ep.state]
                for a in self.alerted
            )
        ]
        if not fresh:
            return
        ep = max(fresh, key=lambda e: (ORDER[e.state], -e.start))
        self.late.append(ep)
        self.alerted.append([ep.start, ep.end, ORDER[ep.state]])
        if ep.end >= self.history[-1].t and ORDER[ep.state] > ORDER[self.state]:
            # Still under way: the live state takes it over, so it is not alerted twice.
            self.state = ep.state
            self.episode = Episode(ep.state, ep.start, now)
            self.last_change = now
            self.candidate = None

    def _onset(self, d: tuple[float, float, float], level: str) -> int:
        """Start of the episode: the earliest window frame that already looks elevated."""
        b = self.reference(self.window.stats())
        assert b is not None
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

    def building(self, now: int) -> Episode | None:
        """The raised or yelling state building toward an alert (from normal) that has held
        at least the yelling hold (`enter_s`) at stream time `now` but not yet its own
        hold; None otherwise. For another stage (the words) that may make it certain."""
        if self.state != "normal" or not self._held(now, self.s.enter_s):
            return None
        return self.candidate

    def enter_building(self, now: int) -> str | None:
        """Enter the state `building` returns now, before its own hold is over; returns
        the state entered (None when nothing is building)."""
        c = self.building(now)
        return None if c is None else self._enter(c, now)

    def _enter(self, ep: Episode, now: int) -> str:
        if self.state != "normal" and self.episode is not None:
            self._account(now)
            ep = Episode(ep.state, ep.start, now)
        if self.state == "normal":
            self.escalated = False  # a new episode (normal is also reached by a re-base)
        self.state = ep.state
        self.episode = Episode(ep.state, ep.start, now)
        self.last_change = now
        self.candidate = None
        self.rebase_frames = 0
        self.alerted.append([ep.start, now, ORDER[ep.state]])
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
        if self.escalated:
            self.last_escalated_end = now
        self.escalated = False

    def _maybe_rebase(self, d: tuple[float, float, float], stats: VoiceStats, n: int) -> None:
        s = self.s
        dl, dp, db = d
        line = dp < s.rebase_pitch_st and db < s.rebase_balance_db
        if dl < 0:
            # A quieter line leaves pitch and balance where they were; a quieter voice that is
            # also lower or darker is the speaker calming down (settling decides that).
            line = line and dp > -s.rebase_pitch_st and db > -s.rebase_balance_db
        if abs(dl) >= self.raised_db() and line:
            self.rebase_frames += n
            if self.rebase_frames * VOICE_FRAME_S >= s.rebase_s:
                self.baseline.rebase_level(stats.level_db)
                self.rebase_frames = 0
                if self.state == "raised":
                    self.state = "normal"
                    self.last_elevated_end = self.last_voice
        else:
            self.rebase_frames = 0

    def calm_voice(self) -> tuple[VoiceStats, float, float] | None:
        """(calm baseline, raised threshold dB, calm voiced seconds) at the end of a call."""
        if self.baseline.stats is None:
            return None
        return self.baseline.stats, self._raised_db, self.calm_frames * VOICE_FRAME_S

    def finish(self, now: int) -> None:
        if self.state != "normal":
            self._end(now)
