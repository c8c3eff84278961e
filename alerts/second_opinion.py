"""The words as a second opinion on the acoustic alerts: excited is not angry.

A stage between the detector and the sinks. It sees every alert the detector emits and
every transcript the worker finishes, and may hold an alert about a raised voice for a
moment to hear what was said:

- A customer's elevated episode (``customer_raised``/``customer_yelling``) whose words are
  positive (thanks, praise, laughter; see `alerts.valence`) becomes ``customer_upbeat``:
  info, with no "don't match" tip. With negative words the acoustic alert stands, and
  cursing or insults turn a raised voice into ``customer_yelling``: the words make it more
  certain, not less.
- Shared positive excitement is rapport: while an upbeat customer moment is recent, the
  agent's ``agent_matching``, ``agent_yelling`` and ``agent_raised`` (unless the agent's own
  words are negative) and ``agent_interrupting`` (cooperative overlap) are dropped, and
  counted in the summary.
- An alert waits at most `OpinionSettings.wait_s` after its episode's start (stream time).
  When transcription is off, behind, or the words are unreliable (low avg_logprob or word
  probability, high no_speech_prob, or an unsure language: a call in a language the model
  does not speak), the acoustic decision stands and the alert says it had no words to go on.

The stage never reads a clock: it is pushed the stream time the analysis has reached,
with ``ready(speaker, t)`` telling whether that speaker's speech up to stream time ``t``
has been transcribed. Offline (the worker's "block" policy) the pipeline waits for the
words before pushing, so the verdicts do not depend on machine speed; live, the deadline
decides.

All times are stream sample indices at 16 kHz; alerts carry seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from alerts.cues import TENSE_S
from alerts.model import ACOUSTIC_KINDS, Alert
from alerts.valence import Valence, judge
from audio.transcribe import Transcript
from audio.types import SAMPLE_RATE, SPEAKERS

HELD = frozenset(ACOUSTIC_KINDS)
"""The alerts the words may change: every acoustic kind."""
"""Alert kinds the stage judges (others pass at once)."""

RAPPORT_KINDS = frozenset({"agent_raised", "agent_yelling", "agent_matching"})
"""The agent's elevated-voice alerts that shared positive excitement cancels."""

UPBEAT_MESSAGE = "Customer sounds upbeat ({why})."
UPBEAT_TIP = "A good moment: share it, then carry on with the next step."
NO_WORDS = " No words to go on."

OWN_WORDS_S = 0.5
"""Words from this long (s) before an episode's start count as the episode's own."""

Ready = Callable[[str, int], bool]


@dataclass(frozen=True)
class OpinionSettings:
    """How long alerts wait for words, and when words count.

    Attributes:
        wait_s: most seconds after an episode's start that its alert waits for words
            (live). The deadline is checked on the 0.2 s decision ticks of the block that
            reaches it, so 2.7 s keeps the alert within 3 s of the episode's start.
        lookback_s: words said this long (s) before an episode's start count as its words.
        rapport_s: an upbeat customer moment makes the agent's excitement rapport for this
            long (s) after the upbeat alert's end.
        min_logprob: transcripts with a lower avg_logprob are unreliable.
        max_no_speech: transcripts with a higher no_speech_prob are unreliable.
        min_word_probability: transcripts whose words' mean probability is lower are
            unreliable.
        min_language_probability: transcripts whose language is less certain are
            unreliable.
    """

    wait_s: float = 2.7
    lookback_s: float = 6.0
    rapport_s: float = 20.0
    min_logprob: float = -0.8
    max_no_speech: float = 0.5
    min_word_probability: float = 0.5
    min_language_probability: float = 0.5


@dataclass
class _Held:
    alert: Alert
    deadline: int


def reliable(t: Transcript, s: OpinionSettings) -> bool:
    """Whether a transcript's own confidence says its words can be trusted."""
    return (
        t.avg_logprob >= s.min_logprob
        and t.no_speech_prob <= s.max_no_speech
        and t.word_probability >= s.min_word_probability
        and t.language_probability >= s.min_language_probability
    )


def _t(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


class SecondOpinion:
    """The words-as-evidence stage for one call.

    Args:
        settings: timings and confidence limits.
        words: whether transcription is on for this call (off: every judged alert passes
            at once, saying it had no words).
        offline: the words are waited for (offline replay): no deadline applies.
    """

    def __init__(
        self, settings: OpinionSettings | None = None, words: bool = True, offline: bool = False
    ) -> None:
        self.s = settings if settings is not None else OpinionSettings()
        self.words = words
        self.offline = offline
        self.held: list[_Held] = []
        self.outbox: list[Alert] = []
        self.heard: dict[str, list[Transcript]] = {sp: [] for sp in SPEAKERS}
        self.upbeat_until: int | None = None
        self.tense_spans: list[tuple[int, int]] = []
        self.counts: dict[str, int] = {
            "upbeat": 0,
            "confirmed": 0,
            "upgraded": 0,
            "rapport_dropped": 0,
            "no_words": 0,
            "unreliable": 0,
        }

    # -- what the pipeline needs ------------------------------------------------------

    def wanted(self) -> list[tuple[str, int]]:
        """(speaker, stream time) of speech whose words held alerts wait for."""
        if not self.words:
            return []
        return [(h.alert.speaker, _t(h.alert.end)) for h in self.held]

    @property
    def holding(self) -> bool:
        return bool(self.held)

    def tense(self, t: int) -> bool:
        """Whether stream time ``t`` is a tense moment: within `alerts.cues.TENSE_S` of a
        customer raised or yelling whose words were negative or unknown, or whose alert
        still waits for its words."""
        after = _t(TENSE_S)
        spans = [*self.tense_spans]
        spans += [
            (_t(h.alert.start), _t(h.alert.end)) for h in self.held if h.alert.speaker == "customer"
        ]
        return any(lo <= t <= hi + after for lo, hi in spans)

    def add(self, alerts: Iterable[Alert]) -> None:
        """Take the detector's new alerts (before asking for `wanted` words)."""
        for alert in alerts:
            if alert.kind in HELD:
                self.held.append(_Held(alert, _t(alert.start + self.s.wait_s)))
            else:
                self.outbox.append(alert)

    def push(
        self, now: int, transcripts: Iterable[Transcript], ready: Ready | None = None
    ) -> list[Alert]:
        """Take new transcripts at stream time ``now``; return the alerts to emit.

        Args:
            now: stream time the analysis has reached.
            transcripts: transcripts finished since the last push.
            ready: whether a speaker's speech up to a stream time has been transcribed;
                None means nothing more will come (decide now).
        """
        for t in transcripts:
            self.heard[t.speaker].append(t)
        out, self.outbox = self.outbox, []
        self._forget(now)
        out += self._decide(now, ready)
        return out

    def flush(self, now: int) -> list[Alert]:
        """Decide every held alert with the words there are (end of the call)."""
        out, self.outbox = self.outbox, []
        return out + self._decide(now, None, final=True)

    def summary(self) -> dict[str, Any]:
        """Counts of what the words decided, for the call summary."""
        return dict(self.counts)

    # -- decisions --------------------------------------------------------------------

    def _forget(self, now: int) -> None:
        keep = _t(60.0)
        for sp in SPEAKERS:
            self.heard[sp] = [t for t in self.heard[sp] if now - t.end < keep]

    def _decide(self, now: int, ready: Ready | None, final: bool = False) -> list[Alert]:
        out: list[Alert] = []
        # The customer's verdicts first: the agent's alerts depend on them.
        order = sorted(self.held, key=lambda h: (h.alert.speaker != "customer", h.alert.end))
        remaining: list[_Held] = []
        for h in order:
            a = h.alert
            heard = not self.words or ready is None or ready(a.speaker, _t(a.end))
            words_in = heard or final or (now >= h.deadline and not self.offline)
            customer_pending = a.speaker == "agent" and any(
                r.alert.speaker == "customer" for r in remaining
            )
            if not words_in or (customer_pending and not final):
                remaining.append(h)
                continue
            decided = self._judge(a, heard)
            if decided is not None:
                out.append(decided)
        self.held = remaining
        out.sort(key=lambda x: x.end)
        return out

    def _valence(self, a: Alert, ready: bool) -> tuple[Valence | None, str]:
        """The words of the alert's speaker around its episode, or (None, why not)."""
        if not self.words:
            return None, "transcription off"
        lo = _t(a.start - self.s.lookback_s)
        own = _t(a.start - OWN_WORDS_S)
        hi = _t(a.end)
        near = [t for t in self.heard[a.speaker] if t.end > own and t.start < hi]
        good = [t for t in near if reliable(t, self.s)]
        if not good:
            # The episode's own speech gave no words to trust: earlier words alone do
            # not decide how this is meant.
            if near:
                self.counts["unreliable"] += 1
                return None, "words unreliable"
            return None, "no words understood" if ready else "no words in time"
        good = [
            t for t in self.heard[a.speaker] if t.end > lo and t.start < hi and reliable(t, self.s)
        ]
        texts: list[str] = []
        laughs = 0
        for t in good:
            words = [w.text for w in t.words if w.end > lo and w.start < hi] if t.words else []
            if t.words and not words:
                continue
            texts.append(" ".join(words) if t.words else t.text)
            laughs += t.laughs
        if not texts:
            return None, "no words in time"
        return judge(" ".join(texts), laughs), ""

    def _judge(self, a: Alert, ready: bool) -> Alert | None:
        valence, why = self._valence(a, ready)
        if a.speaker == "agent":
            return self._judge_agent(a, valence, why)
        if valence is None:
            self.counts["no_words"] += 1
            self.tense_spans.append((_t(a.start), _t(a.end)))
            return _annotate(a, {"verdict": "none", "why": why}, a.message + NO_WORDS)
        ev = valence.evidence()
        if valence.verdict == "negative":
            self.tense_spans.append((_t(a.start), _t(a.end)))
        if valence.verdict == "positive":
            self.counts["upbeat"] += 1
            self.upbeat_until = _t(a.end + self.s.rapport_s)
            why_text = ", ".join(valence.signs) or "positive words"
            return dataclasses.replace(
                a,
                kind="customer_upbeat",
                severity="info",
                message=UPBEAT_MESSAGE.format(why=why_text),
                tip=UPBEAT_TIP,
                evidence={**a.evidence, "acoustic_kind": a.kind, "words": ev},
            )
        hostile = {"cursing", "insult"} & set(valence.signs)
        if a.kind == "customer_raised" and hostile:
            from alerts.messages import MESSAGES

            self.counts["upgraded"] += 1
            _, _, tip = MESSAGES["customer_yelling"]
            return dataclasses.replace(
                a,
                kind="customer_yelling",
                severity="warning",
                message=f"Customer's voice is raised and they are {_hostile(hostile)}.",
                tip=tip,
                evidence={**a.evidence, "acoustic_kind": a.kind, "words": ev},
            )
        if valence.verdict == "negative":
            self.counts["confirmed"] += 1
        return _annotate(a, ev, a.message)

    def _judge_agent(self, a: Alert, valence: Valence | None, why: str) -> Alert | None:
        rapport = self.upbeat_until is not None and _t(a.start) <= self.upbeat_until
        negative = valence is not None and valence.verdict == "negative"
        if rapport and not negative and (a.kind in RAPPORT_KINDS or a.kind == "agent_interrupting"):
            self.counts["rapport_dropped"] += 1
            return None
        if a.kind == "agent_interrupting":
            return a
        if valence is None:
            self.counts["no_words"] += 1
            return _annotate(a, {"verdict": "none", "why": why}, a.message + NO_WORDS)
        return _annotate(a, valence.evidence(), a.message)


def _hostile(signs: set[str]) -> str:
    return " and ".join({"cursing": "swearing", "insult": "insulting"}[s] for s in sorted(signs))


def _annotate(a: Alert, words: dict[str, Any], message: str) -> Alert:
    return dataclasses.replace(a, message=message, evidence={**a.evidence, "words": words})
