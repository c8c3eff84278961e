"""Plain-text lines for records: what `replay`, `live` and the view print on a terminal."""

from __future__ import annotations

from alerts.model import Alert, AlertWords, Record, TranscriptRecord


def clock(seconds: float) -> str:
    """Stream time as ``MM:SS.s``."""
    m, s = divmod(seconds, 60.0)
    return f"{int(m):02d}:{s:04.1f}"


def format_record(rec: Record) -> str:
    """Terminal text: two lines for an alert (what happened, what to do), one for speech."""
    if isinstance(rec, TranscriptRecord):
        return f"[{clock(rec.start)}] {'':<8} {rec.speaker:>8} said: {rec.text}"
    if isinstance(rec, AlertWords):
        verdict = rec.words.get("verdict", "none")
        return f"[{clock(rec.start)}] {'':<8} {rec.kind:<19} words heard later: {verdict}"
    return format_alert(rec)


def format_alert(alert: Alert) -> str:
    """Two lines for the terminal: what happened, and what to do."""
    sev = alert.severity.upper()
    head = f"[{clock(alert.start)}] {sev:<8} {alert.kind:<19} {alert.message}"
    return f"{head}\n{'':>10}tip: {alert.tip}"
