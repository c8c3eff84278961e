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
  counted in the summary. So is an ``agent_raised`` whose own words are positive (warmth:
  "Oh, it did! Great!"); the agent's yelling and matching stand whatever is said.
- Live, an alert waits at most `OpinionSettings.wait_s` after its episode's start (the
  alert's ``start``, stream time), so an alert the detector decides at or after that
  deadline goes out at once with the words already heard. And live, the words may decide
  a customer's episode that is still building (`decides`: trusted words of that speech
  that are positive, or curse or insult): the pipeline then has the detector enter the
  state before its acoustic hold is over, and that alert is judged at once. A kind the
  words gave is not alerted again within `OpinionSettings.repeat_s` (the rest of that
  episode growing from raised to yelling). When transcription is off,
  behind, or the words are unreliable (low avg_logprob or word probability, high
  no_speech_prob, or an unsure language: a call in a language the model does not speak),
  the acoustic decision stands and the alert says it had no words to go on.
- Words of the episode that are transcribed after its alert went out come out as an
  `AlertWords` record for the log, which readers fold into the alert's evidence. They make
  a second alert only when they turn a raised voice that went out into yelling (cursing or
  insults, ``upgraded_late``): the agent should hear of that at once.

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
from alerts.model import ACOUSTIC_KINDS, Alert, AlertWords
from alerts.valence import Valence, judge
from audio.transcribe import Transcript
from audio.types import SAMPLE_RATE, SPEAKERS

HELD = frozenset(ACOUSTIC_KINDS)
"""The alerts the words may change (every acoustic kind); others pass at once."""

RAPPORT_KINDS = frozenset({"agent_raised", "agent_yelling", "agent_matching"})
"""The agent's elevated-voice alerts that shared positive excitement cancels."""

UPBEAT_MESSAGE = "Customer sounds upbeat ({why})."
UPBEAT_TIP = "A good moment: share it, then carry on with the next step."
NO_WORDS = " No words to go on."

OWN_WORDS_S = 0.5
"""Words from this long (s) before an episode's start count as the episode's own."""

COVERED_S = 0.7
"""Live, a reliable transcript of the episode's speech from its start to within this long
(s) of the alert's decision lets the alert go before the rest of its words are in (a look
at the turn is at most 0.6 s old when the next one may be made); the rest, when it is
transcribed, amends the alert in the log."""

AMEND_S = 20.0
"""Words of an alert's speech transcribed up to this long (s of stream time) after the
alert went out still amend its evidence in the log."""

Ready = Callable[[str, int], bool]


@dataclass(frozen=True)
class OpinionSettings:
    """How long alerts wait for words, and when words count.

    Attributes:
        wait_s: most seconds after an episode's start that its alert waits for words
            (live); an alert decided later waits not at all. The deadline is checked on
            the 0.2 s decision ticks of the block that reaches it, so 2.7 s keeps the
            alert within 3 s of the episode's start.
        lookback_s: words said this long (s) before an episode's start count as its words.
        rapport_s: an upbeat customer moment makes the agent's excitement rapport for this
            long (s) after the upbeat alert's end.
        repeat_s: a customer alert of a kind emitted less than this long (s) before is not
            emitted again (the detector's `cooldown_s`, applied to the kinds the words give).
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
    repeat_s: float = 20.0
    min_logprob: float = -0.8
    max_no_speech: float = 0.5
    min_word_probability: float = 0.5
    min_language_probability: float = 0.5


@dataclass
class _Held:
    alert: Alert
    deadline: int


@dataclass
class _Sent:
    """An alert that went out before all of its speech was transcribed."""

    alert: Alert  # as emitted
    asked: Alert  # as the detector gave it (its end: the speech the words cover)
    words: dict[str, Any]


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
        self.sent: list[_Sent] = []
        self.outbox: list[Alert | AlertWords] = []
        self.heard: dict[str, list[Transcript]] = {sp: [] for sp in SPEAKERS}
        self.upbeat_until: int | None = None
        self.tense_spans: list[tuple[int, int]] = []
        self.counts: dict[str, int] = {
            "upbeat": 0,
            "confirmed": 0,
            "upgraded": 0,
            "upgraded_late": 0,
            "rapport_dropped": 0,
            "warmth_dropped": 0,
            "no_words": 0,
            "unreliable": 0,
            "amended": 0,
            "early": 0,
            "repeats": 0,
        }
        # (end, kind) of the customer alerts emitted lately (see `_repeat`).
        self.emitted: list[tuple[float, str]] = []

    # -- what the pipeline needs ------------------------------------------------------

    def wanted(self, now: int | None = None) -> list[tuple[str, int]]:
        """(speaker, stream time) of speech whose words held alerts wait for (live, at
        stream time ``now``: only alerts whose deadline is still ahead)."""
        if not self.words:
            return []
        live = now is not None and not self.offline
        return [
            (h.alert.speaker, _t(h.alert.end))
            for h in self.held
            if not (live and now is not None and now >= h.deadline)
        ]

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

    def add(self, alerts: Iterable[Alert], early: bool = False) -> None:
        """Take the detector's new alerts (before asking for `wanted` words). `early`:
        alerts of a building state that the words decided (`decides`), judged at the next
        push with the words already heard."""
        for alert in alerts:
            if alert.kind in HELD:
                if early:
                    self.counts["early"] += 1
                    alert = dataclasses.replace(
                        alert, evidence={**alert.evidence, "decided_by_words": True}
                    )
                deadline = 0 if early else _t(alert.start + self.s.wait_s)
                self.held.append(_Held(alert, deadline))
            else:
                self.outbox.append(alert)

    def decides(self, speaker: str, start: int, now: int) -> bool:
        """Live, whether the words already heard decide an episode of `speaker` that is
        still building (from stream time `start`, now `now`) before its acoustic hold is
        over: reliable words of that speech that are positive (it is `customer_upbeat`)
        or curse or insult (it is `customer_yelling`). Neutral or other negative words,
        or none, leave the acoustic decision alone. Only the customer's episodes."""
        if not self.words or self.offline or speaker != "customer":
            return False
        valence, _ = self._words(speaker, start, now, False, count=False)
        if valence is None:
            return False
        return valence.verdict == "positive" or bool(_hostile_signs(valence))

    def push(
        self, now: int, transcripts: Iterable[Transcript], ready: Ready | None = None
    ) -> list[Alert | AlertWords]:
        """Take new transcripts at stream time ``now``; return the alerts to emit, and
        `AlertWords` for alerts already emitted whose words came in since.

        Args:
            now: stream time the analysis has reached.
            transcripts: transcripts finished since the last push.
            ready: whether a speaker's speech up to a stream time has been transcribed;
                None means nothing more will come (decide now).
        """
        for t in transcripts:
            self._hear(t)
        out, self.outbox = self.outbox, []
        self._forget(now)
        out += self._decide(now, ready)
        out += self._amend(now, ready)
        return out

    def flush(self, now: int) -> list[Alert | AlertWords]:
        """Decide every held alert with the words there are (end of the call)."""
        out, self.outbox = self.outbox, []
        out += self._decide(now, None, final=True)
        return out + self._amend(now, None)

    def summary(self) -> dict[str, Any]:
        """Counts of what the words decided, for the call summary."""
        return dict(self.counts)

    # -- decisions --------------------------------------------------------------------

    def _hear(self, t: Transcript) -> None:
        """Keep a transcript; a provisional look at speech that a newer transcript covers
        whole (the turn's own, or a longer look) is dropped, so no words count twice."""
        tol = _t(0.05)
        heard = self.heard[t.speaker]
        if t.provisional and any(
            h.start <= t.start + tol and h.end >= t.end - tol and not h.provisional for h in heard
        ):
            return
        # Words that cannot be trusted do not displace a trusted look at the same speech
        # (a longer look may end inside a word and fall under the trust limits).
        trusted = reliable(t, self.s)
        kept = [
            h
            for h in heard
            if not (
                h.provisional
                and h.start >= t.start - tol
                and h.end <= t.end + tol
                and (trusted or not reliable(h, self.s))
            )
        ]
        self.heard[t.speaker] = [*kept, t]

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
            due = now >= h.deadline and not self.offline  # live: waited long enough
            due = due or (not self.offline and not heard and self._covered(a))
            # An agent's alert waits for a customer verdict still to come, but live never
            # past its own deadline.
            customer_pending = a.speaker == "agent" and any(
                r.alert.speaker == "customer" for r in remaining
            )
            if not (heard or final or due) or (customer_pending and not (final or due)):
                remaining.append(h)
                continue
            decided = self._judge(a, heard)
            if decided is not None and self._repeat(decided):
                self.counts["repeats"] += 1
                continue
            if decided is not None:
                out.append(decided)
                if not heard and not final and a.kind != "agent_interrupting":
                    words = decided.evidence.get("words", {})
                    self.sent.append(_Sent(decided, a, words))
        self.held = remaining
        out.sort(key=lambda x: x.end)
        return out

    def _repeat(self, a: Alert) -> bool:
        """A customer alert of a kind already emitted less than `repeat_s` before it (the
        detector's own cooldown, kept for the kinds the words gave: the rest of an episode
        the words decided early, growing from raised to yelling, is not alerted again)."""
        if a.speaker != "customer" or a.late:
            return False
        if any(k == a.kind and a.end - end < self.s.repeat_s for end, k in self.emitted):
            return True
        self.emitted = [(e, k) for e, k in self.emitted if a.end - e < self.s.repeat_s]
        self.emitted.append((a.end, a.kind))
        return False

    def _covered(self, a: Alert) -> bool:
        """A reliable transcript of the alert's speaker runs from the episode's start to
        within `COVERED_S` of the alert's decision."""
        lo, hi = _t(a.start + OWN_WORDS_S), _t(a.end - COVERED_S)
        return any(
            t.start <= lo and t.end >= hi and reliable(t, self.s) for t in self.heard[a.speaker]
        )

    def _amend(self, now: int, ready: Ready | None) -> list[Alert | AlertWords]:
        """Later words for alerts that went out before their speech was transcribed."""
        out: list[Alert | AlertWords] = []
        waiting: list[_Sent] = []
        for sent in self.sent:
            a = sent.asked
            if ready is not None and not ready(a.speaker, _t(a.end)):
                if now - _t(a.end) < _t(AMEND_S):
                    waiting.append(sent)
                continue
            valence, why = self._valence(a, True, count=False)
            words = valence.evidence() if valence is not None else {"verdict": "none", "why": why}
            if words == sent.words:
                continue
            self.counts["amended"] += 1
            if a.speaker == "customer" and valence is not None and valence.verdict == "negative":
                self.tense_spans.append((_t(a.start), _t(a.end)))
            e = sent.alert
            out.append(
                AlertWords(e.kind, e.speaker, e.start, e.end, {**words, "late": True}, e.call)
            )
            # Cursing heard after a raised voice went out makes it yelling after all: the
            # agent hears of it now (the tip to ask for civility), not only the log.
            upgraded = _upgrade(e, valence) if valence is not None else None
            if upgraded is not None and not self._repeat(upgraded):
                self.counts["upgraded_late"] += 1
                late = {**upgraded.evidence["words"], "late": True}
                out.append(
                    dataclasses.replace(upgraded, evidence={**upgraded.evidence, "words": late})
                )
        self.sent = waiting
        return out

    def _valence(self, a: Alert, ready: bool, count: bool = True) -> tuple[Valence | None, str]:
        """The words of the alert's speaker around its episode, or (None, why not)."""
        return self._words(a.speaker, _t(a.start), _t(a.end), ready, count)

    def _words(
        self, speaker: str, start: int, end: int, ready: bool, count: bool = True
    ) -> tuple[Valence | None, str]:
        """The words of `speaker` around the episode from `start` to `end` (stream times),
        or (None, why not)."""
        if not self.words:
            return None, "transcription off"
        lo = start - _t(self.s.lookback_s)
        own = start - _t(OWN_WORDS_S)
        hi = end
        near = [t for t in self.heard[speaker] if t.end > own and t.start < hi]
        good = [t for t in near if reliable(t, self.s)]
        if not good:
            # The episode's own speech gave no words to trust: earlier words alone do
            # not decide how this is meant.
            if near:
                self.counts["unreliable"] += count
                return None, "words unreliable"
            return None, "no words understood" if ready else "no words in time"
        good = [
            t for t in self.heard[speaker] if t.end > lo and t.start < hi and reliable(t, self.s)
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
        upgraded = _upgrade(a, valence)
        if upgraded is not None:
            self.counts["upgraded"] += 1
            return upgraded
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
        if a.kind == "agent_raised" and valence is not None and valence.verdict == "positive":
            # The agent's own warm words ("Oh, it did! Great!"): animation, not a raised
            # voice. Yelling and matching stand whatever is said.
            self.counts["warmth_dropped"] += 1
            return None
        if valence is None:
            self.counts["no_words"] += 1
            return _annotate(a, {"verdict": "none", "why": why}, a.message + NO_WORDS)
        return _annotate(a, valence.evidence(), a.message)


def _upgrade(a: Alert, valence: Valence) -> Alert | None:
    """A raised customer whose words curse or insult: `customer_yelling`, or None."""
    hostile = _hostile_signs(valence)
    if a.kind != "customer_raised" or not hostile:
        return None
    from alerts.messages import MESSAGES

    _, _, tip = MESSAGES["customer_yelling"]
    return dataclasses.replace(
        a,
        kind="customer_yelling",
        severity="warning",
        message=f"Customer's voice is raised and they are {_hostile(hostile)}.",
        tip=tip,
        evidence={**a.evidence, "acoustic_kind": a.kind, "words": valence.evidence()},
    )


def _hostile_signs(valence: Valence) -> set[str]:
    """The signs among the words' that make a raised voice yelling: cursing, insults."""
    return {"cursing", "insult"} & set(valence.signs)


def _hostile(signs: set[str]) -> str:
    return " and ".join({"cursing": "swearing", "insult": "insulting"}[s] for s in sorted(signs))


def _annotate(a: Alert, words: dict[str, Any], message: str) -> Alert:
    return dataclasses.replace(a, message=message, evidence={**a.evidence, "words": words})
