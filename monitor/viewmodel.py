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
from typing import Any

LATE_SLACK_S = 0.5
"""A line is late when it starts this much earlier than a line already printed."""


class PlainLines:
    """A `run_call` sink printing records as lines; out-of-order ones are marked `(late)`."""

    def __init__(self, write: Callable[[str], None], fmt: Callable[[Any], str]) -> None:
        self.write = write
        self.fmt = fmt
        self.latest = 0.0

    def __call__(self, rec: Any) -> None:
        start = float(getattr(rec, "start", 0.0))
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
