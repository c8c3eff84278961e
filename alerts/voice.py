"""Voice rules: one speaker's baseline, current voice and elevated state.

Vocal effort (yelling) rests on cues a gain change cannot fake: pitch in semitones over
the speaker's own baseline and a flatter spectral balance (more energy 1-3.4 kHz against
0.3-1 kHz). Level over baseline only makes a voice "raised". A level step with no change of
pitch or balance is a louder line (gain, mic, route), and the level baseline follows it.
See docs/detection.md for the method and the numbers behind each threshold.
Runs on the analysis thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts.settings import TICK_HOPS, VOICE_FRAME_S, DetectorSettings
from audio.baseline import Baseline, VoiceStats, VoiceWindow, semitones
from audio.types import HOP, SAMPLE_RATE, HopFeatures, Speaker


@dataclass
class Episode:
    state: str
    start: int
    last_true: int


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
