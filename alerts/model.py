"""The alert record: the stable schema QA tools and trainers rely on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

ACOUSTIC_KINDS = (
    "customer_raised",
    "customer_yelling",
    "agent_raised",
    "agent_yelling",
    "agent_matching",
    "agent_interrupting",
)
KINDS = (*ACOUSTIC_KINDS, "customer_upbeat", "phrase")


def now_iso() -> str:
    """Wall-clock time of emission, ISO 8601 with timezone, millisecond precision."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


@dataclass
class Alert:
    """One alert.

    Attributes:
        kind: one of `KINDS`.
        speaker: "agent" or "customer": whose speech the alert is about.
        start, end: seconds from the start of the call.
        severity: "info", "warning" or "critical".
        message: one line for the agent.
        tip: the de-escalation advice that goes with it.
        evidence: the numbers behind it (dB, semitones, seconds).
        text: transcript of the speech, when there is one.
        call: call id.
        at: wall-clock ISO 8601 time of emission (set when emitted).
        cue: the phrase cue name, for kind "phrase".
        agent: the agent's name, when known.
        late: found after the fact (the speaker's calm voice became known later); `start`
            is the episode's real start. Written as `"late": true` only when set.
    """

    kind: str
    speaker: str
    start: float
    end: float
    severity: Severity
    message: str
    tip: str
    evidence: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    call: str = ""
    at: str = ""
    cue: str | None = None
    agent: str | None = None
    late: bool = False

    def to_record(self) -> dict[str, Any]:
        """The JSON object written to the log (the `record` field says what it is)."""
        rec: dict[str, Any] = {
            "record": "alert",
            "kind": self.kind,
            "speaker": self.speaker,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "severity": self.severity,
            "message": self.message,
            "tip": self.tip,
            "evidence": self.evidence,
            "text": self.text,
            "call": self.call,
            "at": self.at,
        }
        if self.cue is not None:
            rec["cue"] = self.cue
        if self.agent is not None:
            rec["agent"] = self.agent
        if self.late:
            rec["late"] = True
        return rec


@dataclass
class TranscriptRecord:
    """What a speaker said in one snippet (kind `transcript`), for QA to read the call."""

    speaker: str
    start: float
    end: float
    text: str
    call: str = ""
    at: str = ""
    confidence: dict[str, Any] = field(default_factory=dict)
    agent: str | None = None
    kind: str = "transcript"

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "record": "transcript",
            "kind": "transcript",
            "speaker": self.speaker,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "confidence": self.confidence,
            "call": self.call,
            "at": self.at,
        }
        if self.agent is not None:
            rec["agent"] = self.agent
        return rec


@dataclass
class AlertWords:
    """Words heard after an alert went out, for that alert (kind `alert_words`).

    Live, an alert waits for its words only until its deadline; when the rest of the
    episode's speech is transcribed later, the words' evidence goes to the log as this
    record, naming the alert by kind, speaker and start. Readers of the log
    (`monitor.calllog`) fold it into that alert's ``evidence.words``: it is never a second
    alert, and the agent's view does not show it.
    """

    kind: str
    speaker: str
    start: float
    end: float
    words: dict[str, Any]
    call: str = ""
    at: str = ""
    agent: str | None = None

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "record": "alert_words",
            "kind": self.kind,
            "speaker": self.speaker,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "words": self.words,
            "call": self.call,
            "at": self.at,
        }
        if self.agent is not None:
            rec["agent"] = self.agent
        return rec


Record = Alert | TranscriptRecord | AlertWords
"""What the pipeline emits: an alert, a transcribed snippet, or later words for an alert
already emitted (the log keeps those; the agent's view takes the other two)."""
