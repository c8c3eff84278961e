"""The rule engine: per-speaker features in, alerts out.

`Detector.push` takes the hop features of both speakers for the same stretch of time and
returns the alerts that became certain in it. Decisions run on 200 ms ticks, measured in
stream time only, so replay is deterministic and as fast as the machine allows. The voice
rules (`alerts.voice`) and overlap rules (`alerts.overlap`) keep each speaker's state; the
engine adds matching (the agent against the customer), cooldowns and the alert records.
Runs on the analysis thread.
"""

from __future__ import annotations

from typing import Any

from alerts.messages import EFFORT_MESSAGES, LATE_PREFIX, MESSAGES
from alerts.model import Alert
from alerts.overlap import OverlapTracker
from alerts.settings import TICK_HOPS, DetectorSettings
from alerts.voice import LateEpisode, VoiceTracker
from audio.baseline import VoiceStats
from audio.types import HOP, SAMPLE_RATE, SPEAKERS, HopFeatures, Speaker, seconds


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
            # The customer first: an agent shouting back in the tick the customer's
            # elevation shows is matching, not yelling then matching.
            for sp in ("customer", "agent"):
                v = self.voices[sp]
                n_new = v.add(feats[sp], lo, hi, both)
                entered = v.tick(now, n_new)
                if entered:
                    alerts += self._voice_alert(sp, entered, now)
                while v.late:
                    alerts += self._late_alert(sp, v.late.pop(0), now)
            alerts += self._matching(now)
        return alerts

    def decide_building(self, sp: Speaker, now: int) -> list[Alert]:
        """The state building for `sp` (`VoiceTracker.building`) is entered at stream time
        `now`, before its hold is over, because another stage made it certain (the words:
        monitor/pipeline.py); returns its alert, as the detector would have given it."""
        entered = self.voices[sp].enter_building(now)
        return self._voice_alert(sp, entered, now) if entered else []

    # -- the agent's voice profile (monitor/profile.py) ---------------------------------------
    def seed_agent(self, stats: VoiceStats, raised_db: float | None) -> None:
        """Start the agent from their known calm voice (before the first block)."""
        self.voices["agent"].seed(stats, raised_db)

    @property
    def agent_profile_kept(self) -> bool | None:
        """Whether the seeded profile fitted this call's warm-up (None: not seeded/checked)."""
        return self.voices["agent"].profile_kept

    def agent_calm_voice(self) -> tuple[VoiceStats, float, float] | None:
        """(calm baseline, raised threshold dB, calm voiced seconds) of the agent's call."""
        return self.voices["agent"].calm_voice()

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
        assert v.deltas is not None
        dl, dp, db = v.deltas
        ev: dict[str, Any] = {
            "level_over_baseline_db": round(dl, 1),
            "pitch_change_st": round(dp, 2),
            "balance_change_db": round(db, 1),
        }
        if v.baseline.stats is None and v.provisional:
            # Most of the warm-up done: against the speaker's voice so far.
            ev["reference"] = "warm_up"
        elif v.baseline.stats is None:
            # Before the speaker's calm voice is known: against the calm pitch ceiling.
            ev["reference"] = "calm_ceiling"
        else:
            ev["baseline_level_db"] = round(v.baseline.stats.level_db, 1)
            ev["reference"] = "profile" if v.seeded and not v.settled else "call"
        return ev

    def _agent_severity(self, v: VoiceTracker) -> str:
        """`critical` only for the unmistakable: much louder and far up in effort (over the
        1.2 s window, i.e. held), else a warning."""
        assert v.deltas is not None
        s = self.s
        dl, dp, db = v.deltas
        score = dp / s.pitch_unit_st + db / s.balance_unit_db
        loud = dl >= s.agent_critical_level_db and score >= s.agent_critical_score
        return "critical" if v.state == "yelling" and loud else "warning"

    def _late_alert(self, sp: Speaker, ep: LateEpisode, now: int) -> list[Alert]:
        """An episode found when the baseline settled on calmer speech: its real start,
        marked late, so QA sees it and the agent's view shows it once."""
        kind = f"{sp}_{ep.state}"
        dl, dp, db = ep.deltas
        ev = {
            "level_over_baseline_db": round(dl, 1),
            "pitch_change_st": round(dp, 2),
            "balance_change_db": round(db, 1),
            "baseline_level_db": round(ep.baseline.level_db, 1),
            "reference": "settled",
            "found_at_s": seconds(now),
        }
        self.last_alert[(kind, sp)] = now
        severity, template, tip = MESSAGES[kind]
        if severity == "critical":
            severity = "warning"
        return [
            Alert(
                kind=kind,
                speaker=sp,
                start=seconds(ep.start),
                end=seconds(ep.end),
                severity=severity,  # type: ignore[arg-type]
                message=LATE_PREFIX + template.format(level=dl, pitch=dp, balance=db),
                tip=tip,
                evidence=ev,
                call=self.call,
                late=True,
            )
        ]

    def _voice_alert(self, sp: Speaker, state: str, now: int) -> list[Alert]:
        v = self.voices[sp]
        assert v.episode is not None and v.deltas is not None
        dl, dp, db = v.deltas
        kinds = [f"{sp}_{state}"]
        ev = self._evidence(v)
        severity = self._agent_severity(v) if sp == "agent" else None
        # Matching is climbing in volume (ACOUSTICS.md 5.2): the agent's raised voice is
        # matching when it is louder by `match_level_db`; a yelling agent always is, and
        # then a customer who only passed the exit test recently counts too.
        climbed = state == "yelling" or dl >= self.s.match_level_db
        if sp == "agent" and climbed and self._customer_elevated(now, loose=state == "yelling"):
            # Shouting back is matching: one alert, carrying the agent's own evidence.
            kinds = ["agent_matching"]
            ev["agent_state"] = state
            self.matched_episode = v.episode.start
        out: list[Alert] = []
        effort = state == "raised" and dl < v.raised_db()  # raised by pitch and timbre
        for kind in kinds:
            out += self._alert(
                kind,
                sp,
                v.episode.start,
                now,
                ev,
                template=EFFORT_MESSAGES.get(kind) if effort else None,
                severity=severity,
                level=dl,
                pitch=dp,
                balance=db,
            )
        return out

    def _customer_elevated(self, now: int, loose: bool = False) -> bool:
        """The customer sounds escalated now or did recently (alerted or not yet): yelling,
        or raised with their level up (`VoiceTracker._escalation`); an energetic voice at
        its usual level is not something to match. `loose` (for an agent who is raised or
        yelling already) also counts a customer who passed only the exit test (half the
        entry thresholds) recently."""
        c = self.voices["customer"]
        if c.state != "normal" and c.escalated:
            return True
        memory = self.s.match_memory_s * SAMPLE_RATE
        seen = [c.last_escalated_end, c.last_escalated_seen]
        if loose:
            seen.append(c.last_warm_seen)
        return any(t is not None and now - t <= memory for t in seen)

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
            if a.state != "yelling" and a.deltas[0] < self.s.match_level_db:
                return []  # raised by pitch and timbre at their usual level: no climb
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
        dl, dp, _ = a.deltas
        # Matching is the agent's voice itself climbing: louder and higher (ACOUSTICS.md 5.2:
        # a level rise with an F0 rise; a brighter voice at a louder level alone is how
        # some speakers' normal turns differ from their soft ones).
        climbing = dl >= s.match_level_db and dp >= s.match_pitch_st
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
        # Climbing is louder by `match_level_db`, so what it matches is the volume.
        return self._alert(
            "agent_matching", "agent", self.match_since, now, self._evidence(a), what="volume"
        )

    def _alert(
        self,
        kind: str,
        sp: str,
        start: int,
        now: int,
        ev: dict[str, Any],
        template: str | None = None,
        severity: str | None = None,
        **fmt: Any,
    ) -> list[Alert]:
        last = self.last_alert.get((kind, sp))
        if last is not None and now - last < self.s.cooldown_s * SAMPLE_RATE:
            self.suppressed += 1
            return []
        self.last_alert[(kind, sp)] = now
        default_severity, default, tip = MESSAGES[kind]
        severity = severity or default_severity
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
