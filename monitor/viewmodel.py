"""What the agent is shown, worked out once for every surface (terminal, web page, plain lines).

This module knows nothing about drawing: it turns the pipeline's records (alerts,
transcripts) and its per-block state into plain values, in the agent's words, that the
terminal view (`monitor.view`) and the browser view (`monitor.webview`) both draw.

`PlainLines` is the text of plain `replay`/`live` output: records arrive in the order the
pipeline reports them, and a phrase cue (heard once its words are transcribed) can come
after alerts later in the call; such a line is marked late, so the printout reads in
call-time order or says why not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

LATE_SLACK_S = 0.5
"""A line is late when it starts this much earlier than a line already printed."""


class PlainLines:
    """A `run_call` sink printing records as lines; out-of-order ones are marked `(late)`."""

    def __init__(self, write: Callable[[str], None], fmt: Callable[[Any], str]) -> None:
        self.write = write
        self.fmt = fmt
        self.latest = 0.0
        self.call: Any = None

    def __call__(self, rec: Any) -> None:
        start = float(getattr(rec, "start", 0.0))
        if getattr(rec, "call", None) != self.call:  # live: a new call starts at 0
            self.call, self.latest = getattr(rec, "call", None), 0.0
        text = self.fmt(rec)
        if getattr(rec, "late", False) or start < self.latest - LATE_SLACK_S:
            head, sep, rest = text.partition("\n")
            text = f"{head}  (late)" + sep + rest
        self.latest = max(self.latest, start)
        self.write(text)


# -- plain words ----------------------------------------------------------------------------

WORDS: dict[str, tuple[str, str]] = {
    # kind: (what the agent reads, what a reviewer reads)
    "customer_raised": ("The customer is speaking up", "Customer spoke louder"),
    "customer_yelling": ("The customer is shouting", "Customer shouted"),
    "agent_raised": ("You're getting louder than usual", "Agent got louder than usual"),
    "agent_yelling": ("You're raising your voice", "Agent raised their voice"),
    "agent_matching": ("You're matching the customer", "Agent matched the customer"),
    "agent_interrupting": ("You talked over the customer", "Agent talked over the customer"),
    "customer_upbeat": ("The customer sounds happier", "Customer sounded upbeat"),
}
CUE_WORDS: dict[str, tuple[str, str]] = {
    "calm_down": ("You told them to calm down", "Agent told the customer to calm down"),
    "defensive": ("That sounded defensive", "Agent sounded defensive"),
    "pushing": ("That sounded pushy", "Agent pushed back"),
    "supervisor_request": ("They're asking for a supervisor", "Customer asked for a supervisor"),
    "profanity": ("The customer is swearing", "Customer swore"),
    "apology": ("You apologised", "Agent apologised"),
    "empathy": ("You showed empathy", "Agent showed empathy"),
}
GOOD_KINDS = {"customer_upbeat"}


def is_good(rec: Any) -> bool:
    """A good sign (an apology, empathy, an upbeat customer), not a warning."""
    get = rec.get if isinstance(rec, dict) else lambda k, d=None: getattr(rec, k, d)
    evidence = get("evidence") or {}
    return get("kind") in GOOD_KINDS or bool(
        isinstance(evidence, dict) and evidence.get("good_sign")
    )


def words(rec: Any, reviewer: bool = False) -> str:
    """What happened, in plain words without numbers (for the agent or a reviewer)."""
    get = rec.get if isinstance(rec, dict) else lambda k, d=None: getattr(rec, k, d)
    kind, cue, speaker = get("kind"), get("cue"), get("speaker")
    pick = 1 if reviewer else 0
    if kind == "phrase" and cue in CUE_WORDS:
        return CUE_WORDS[str(cue)][pick]
    if kind == "phrase":
        who = ("Customer" if speaker == "customer" else "Agent") if reviewer else "Heard"
        return f"{who}: {str(cue or 'a phrase cue').replace('_', ' ')}"
    evidence = get("evidence") or {}
    shouting = isinstance(evidence, dict) and evidence.get("agent_state") == "yelling"
    if kind == "agent_matching" and shouting:
        return ("You're shouting back", "Agent shouted back")[pick]
    if kind in WORDS:
        return WORDS[str(kind)][pick]
    return str(get("message") or kind or "alert")


def evidence_words(evidence: Any) -> dict[str, str]:
    """Each number of an alert's evidence said in words, by key (unknown keys left out)."""
    if not isinstance(evidence, dict):
        return {}

    def num(key: str) -> float | None:
        v = evidence.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    out: dict[str, str] = {}

    def rel(v: float, unit: str, up: str, down: str) -> str:
        return f"{abs(v):.1f} {unit} {up if v >= 0 else down} than their usual"

    for key, who in (("", ""), ("customer_", "customer: ")):
        v = num(f"{key}level_over_baseline_db")
        if v is not None:
            out[f"{key}level_over_baseline_db"] = (
                who
                + rel(v, "dB", "louder", "quieter")
                + (" (about twice as loud)" if v >= 10 else "")
            )
        v = num(f"{key}pitch_change_st")
        if v is not None:
            out[f"{key}pitch_change_st"] = who + rel(v, "semitones", "higher", "lower") + " pitch"
    v = num("balance_change_db")
    if v is not None:
        out["balance_change_db"] = (
            f"voice {abs(v):.1f} dB {'brighter' if v >= 0 else 'duller'} than usual"
            + (" (strained, effortful)" if v >= 6 else "")
        )
    v = num("baseline_level_db")
    if v is not None:
        out["baseline_level_db"] = f"their usual speaking level ({v:.0f} dB, K-weighted)"
    v = num("overlap_s")
    if v is not None:
        out["overlap_s"] = f"both talked at once for {v:.1f} s"
    if isinstance(evidence.get("pattern"), str):
        out["pattern"] = f"heard the words “{evidence['pattern'][:120]}”"
    if evidence.get("good_sign") is True:
        out["good_sign"] = "a good sign"
    return out


# -- the agent's view -------------------------------------------------------------------------

METER_SPAN_DB = 12.0
"""The meter runs from this far below the speaker's usual level to this far above it; a
voice beyond the top overflows (yelling shows as a bar past its end)."""
SILENT_AFTER_S = 0.3
"""A speaker's meter goes blank this long after they stop speaking."""
FLOOR_DB = -70.0
"""A level below this (K-weighted dBFS) is silence: the meter is blank, never "-88 dB"."""
DECAY_S = 1.5
"""A raised or yelling state is shown this long after the speaker stops, then cleared."""
FADE_S = 20.0
"""Warnings leave the view this long (call time) after they were shown."""
DIM_S = 15.0
"""...and are shown dimmed from this age on."""
GOOD_FOR_S = 30.0
"""A good sign stays on its line this long."""
KEEP_ALERTS = 4

STATE_WORDS = {
    ("agent", "raised"): "You're getting louder than usual",
    ("agent", "yelling"): "You're raising your voice",
    ("customer", "raised"): "The customer is speaking up",
    ("customer", "yelling"): "The customer is shouting",
}
LEARNING_WORDS = {
    "agent": "learning your usual voice",
    "customer": "learning the customer's usual voice",
}
AGENT_KINDS = ("agent_raised", "agent_yelling", "agent_matching")


@dataclass(frozen=True)
class SpeakerView:
    """One speaker's line: the meter (dB relative to their usual level; None = blank), the
    raised threshold in force (dB above usual), and what to say about them."""

    speaker: str
    over_db: float | None
    level_db: float | None
    raised_db: float
    speaking: bool
    state: str  # quiet | normal | raised | yelling | learning
    words: str
    learning: float | None = None


@dataclass(frozen=True)
class AlertView:
    start: float
    severity: str
    kind: str
    words: str
    tip: str
    dim: bool
    late: bool


@dataclass(frozen=True)
class Recap:
    """The end-of-call recap, private to the agent."""

    duration_s: float
    agent_share: float | None  # of the time anyone talked, 0..1
    interruptions: int
    raised_moments: int
    good_signs: list[str]
    suggestion: str


@dataclass(frozen=True)
class Frame:
    """Everything one redraw shows (terminal or page)."""

    now_s: float
    call: str
    speakers: tuple[SpeakerView, ...]
    both_talking: bool
    bleed: str | None
    alerts: tuple[AlertView, ...]
    good: str | None
    said: tuple[tuple[str, str], ...]
    status: str
    recap: Recap | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Shown:
    rec: Any
    shown_s: float
    late: bool


@dataclass
class _Voice:
    """What the adapter read from the pipeline for one speaker."""

    level_db: float | None = None
    baseline_db: float | None = None
    raised_db: float = 6.0
    speaking: bool = False
    state: str = "normal"
    learning: float | None = None
    last_spoke_s: float = -1e9


class ViewModel:
    """Records and pipeline state in, `Frame`s out. One feeds the terminal and the page.

    Time is the call's own (stream seconds), so what fades and decays does not depend on the
    machine's speed or the block size, and tests need no clock.
    """

    def __init__(self) -> None:
        self.now_s = 0.0
        self.call = ""
        self.voices: dict[str, _Voice] = {sp: _Voice() for sp in ("agent", "customer")}
        self.shown: list[_Shown] = []
        self.good: list[_Shown] = []
        self.said: list[tuple[str, str]] = []
        self.status = ""
        self.bleed: str | None = None
        self.recap: Recap | None = None
        self.agent_alerts = 0
        self.good_seen: list[str] = []
        self.latest_start = 0.0

    # -- inputs ------------------------------------------------------------------------------
    def record(self, rec: Any) -> None:
        """An alert or transcript, as the pipeline reports it."""
        kind = getattr(rec, "kind", "")
        start = float(getattr(rec, "start", 0.0))
        if kind == "transcript":
            self.said = [*self.said, (str(rec.speaker), str(rec.text))][-2:]
            return
        late = bool(getattr(rec, "late", False)) or start < self.latest_start - LATE_SLACK_S
        self.latest_start = max(self.latest_start, start)
        item = _Shown(rec, max(self.now_s, float(getattr(rec, "end", start))), late)
        if is_good(rec):
            self.good.append(item)
            self.good_seen.append(words(rec))
            return
        if kind in AGENT_KINDS:
            self.agent_alerts += 1
        self.shown.append(item)

    def state(
        self, now_s: float, call: str, voices: dict[str, dict[str, Any]], bleed: str | None
    ) -> None:
        """The pipeline's state after a block (see `pipeline_state`)."""
        self.now_s = max(self.now_s, now_s)
        self.call = call
        self.bleed = bleed
        for sp, values in voices.items():
            v = self.voices[sp]
            for k, x in values.items():
                setattr(v, k, x)
            if v.speaking:
                v.last_spoke_s = self.now_s

    def end(self, summary: dict[str, Any] | None) -> None:
        """The call is over: make the recap from its summary."""
        self.recap = recap(summary or {}, self.agent_alerts, self.good_seen)

    # -- output ------------------------------------------------------------------------------
    def frame(self) -> Frame:
        now = self.now_s
        self.shown = [s for s in self.shown if now - s.shown_s < FADE_S]
        self.good = [g for g in self.good if now - g.shown_s < GOOD_FOR_S]
        alerts = sorted(self.shown, key=lambda s: float(s.rec.start))[-KEEP_ALERTS:]
        speakers = tuple(self._speaker(sp) for sp in ("agent", "customer"))
        return Frame(
            now_s=now,
            call=self.call,
            speakers=speakers,
            both_talking=all(v.speaking for v in self.voices.values()),
            bleed=self.bleed,
            alerts=tuple(
                AlertView(
                    start=float(s.rec.start),
                    severity=str(s.rec.severity),
                    kind=str(s.rec.kind),
                    words=words(s.rec),
                    tip=str(s.rec.tip),
                    dim=now - s.shown_s >= DIM_S,
                    late=s.late,
                )
                for s in alerts
            ),
            good=("✓ " + words(self.good[-1].rec)) if self.good else None,
            said=tuple(self.said),
            status=self.status,
            recap=self.recap,
        )

    def _speaker(self, sp: str) -> SpeakerView:
        v = self.voices[sp]
        quiet_for = self.now_s - v.last_spoke_s
        heard = v.speaking or quiet_for <= SILENT_AFTER_S
        level = v.level_db if heard and (v.level_db or FLOOR_DB) > FLOOR_DB else None
        if v.baseline_db is None:
            return SpeakerView(
                sp, None, level, v.raised_db, v.speaking, "learning", LEARNING_WORDS[sp], v.learning
            )
        state = v.state if (v.speaking or quiet_for <= DECAY_S) else "quiet"
        if state == "normal" and not heard:
            state = "quiet"
        over = None if level is None else level - v.baseline_db
        return SpeakerView(
            sp, over, level, v.raised_db, v.speaking, state, STATE_WORDS.get((sp, state), "")
        )


def recap(summary: dict[str, Any], agent_alerts: int, good: list[str]) -> Recap:
    """Talk share, interruptions, moments raised, good signs and one suggestion."""
    talk = summary.get("talk_s") or {}
    a, c = float(talk.get("agent") or 0.0), float(talk.get("customer") or 0.0)
    share = a / (a + c) if a + c > 0 else None
    interruptions = int(summary.get("agent_interruptions") or 0)
    if interruptions >= 2:
        tip = "Let the customer finish before you answer: a short pause shows you listened."
    elif agent_alerts:
        tip = "When the customer gets loud, go lower and slower rather than matching them."
    elif share is not None and share > 0.65:
        tip = "You did most of the talking: ask a question and let the customer explain."
    elif not good:
        tip = (
            "Name the feeling and own the next step: "
            "\"I can see why that's frustrating; here's what I'll do.\""
        )
    else:
        tip = "A calm, even call. Keep it up."
    return Recap(
        duration_s=float(summary.get("duration_s") or 0.0),
        agent_share=share,
        interruptions=interruptions,
        raised_moments=agent_alerts,
        good_signs=list(dict.fromkeys(good)),
        suggestion=tip,
    )


def snapshot_state(snap: Any) -> tuple[dict[str, dict[str, Any]], str | None]:
    """What the view needs of the pipeline's `Snapshot`: per speaker, speaking (after the
    crosstalk guard), level (after the bleed canceller), usual level, the raised threshold
    in force, state and learning; and the bleed status in words."""
    voices: dict[str, dict[str, Any]] = {}
    for sp in ("agent", "customer"):
        v = snap.voice(sp)
        voices[sp] = {
            "speaking": bool(v.speaking),
            "level_db": v.level_db,
            "state": str(v.state),
            "baseline_db": v.baseline_level_db,
            "raised_db": float(v.raised_db),
            "learning": float(v.learning),
        }
    b = snap.bleed
    text = None
    if b.active and b.delay_ms is not None and b.gain_db is not None:
        text = f"mic bleed removed ({b.delay_ms:.0f} ms, {b.gain_db:+.0f} dB)"
    return voices, text
