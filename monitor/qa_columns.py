"""The QA columns: one row per call, the same in `review --csv/--json`, the batch index,
the call index database and the web app's export.

`call_row(call)` turns one `CallLog` (as `monitor.calllog` reads it) into a flat dict of
`COLUMNS`; `alert_rows(call)` gives one small dict per alert for the index's alert table.
A call cut short by a crash (no `call_summary`) gets status "cut short" and what its
records allow: duration from its last record, alerts and cues counted from the alerts,
talk, overlap and raised seconds left empty (they are only known from the summary).

Cue columns: every default phrase cue has its own column, named by speaker and cue, with
good signs (`good_agent_apology`) apart from warnings (`cue_customer_profanity`); cues
added in a settings file are counted in the `cues` column (`speaker.cue=count;...`) and, in
CSV exports, get columns of their own. `csv_cell` defuses spreadsheet formulas.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from alerts.model import KINDS
from monitor.calllog import SPEAKERS, CallLog, severity_rank


@lru_cache(maxsize=1)
def default_cues() -> tuple[tuple[str, str, bool], ...]:
    """(speaker, cue name, good sign) of each cue shipped with tonewatch, in file order."""
    from alerts.cues import load_cues

    return tuple((c.speaker, c.name, c.good) for c in load_cues())


def cue_column(speaker: str, name: str, good: bool) -> str:
    """The column of one cue: ``good_agent_apology``, ``cue_customer_profanity``."""
    safe = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return f"{'good' if good else 'cue'}_{speaker}_{safe}"


@lru_cache(maxsize=1)
def _cue_columns() -> tuple[str, ...]:
    cues = default_cues()
    warn = [cue_column(s, n, False) for s, n, g in cues if not g]
    good = [cue_column(s, n, True) for s, n, g in cues if g]
    return tuple(warn + good)


def cue_columns() -> list[str]:
    """Warning cues first, then good signs (each group in the cue file's order)."""
    return list(_cue_columns())


HEAD = ["date", "call", "agent", "status", "duration_s"]
TALK = [
    "talk_agent_s",
    "talk_customer_s",
    "talk_share_agent",
    "talk_share_customer",
    "overlap_s",
    "interruptions_agent",
    "interruptions_customer",
    "raised_agent_s",
    "yelling_agent_s",
    "raised_customer_s",
    "yelling_customer_s",
]
WORST = ["worst_start", "worst_kind", "worst_cue", "worst_speaker", "worst_severity"]
WORST += ["worst_message"]
TAIL = ["log", "report", "source", "error"]
REVIEW = ["reviewed_at", "note"]
NUMERIC = {"duration_s", *TALK, "alerts", *KINDS, "good_signs", "cue_warnings", "worst_start"}


def columns() -> list[str]:
    """Every QA column in export order (review's `reviewed_at` and `note` last)."""
    return list(_columns())


@lru_cache(maxsize=1)
def _columns() -> tuple[str, ...]:
    return (
        *HEAD,
        *TALK,
        "alerts",
        *KINDS,
        "cue_warnings",
        "good_signs",
        *cue_columns(),
        "cues",
        *WORST,
        *TAIL,
        *REVIEW,
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def utc_iso(when: datetime | None) -> str | None:
    """A date as UTC ISO text to the second (sorts as text); naive times are local."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def week_of(when: datetime | None) -> str | None:
    """The Monday (UTC) of the week the call started, as YYYY-MM-DD."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    day = when.astimezone(timezone.utc).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def good_cue_keys(call: CallLog) -> set[str]:
    """`speaker.cue` keys that are good signs: shipped ones and any flagged in the alerts."""
    keys = {f"{s}.{n}" for s, n, g in default_cues() if g}
    for a in call.alerts:
        ev = a.get("evidence")
        if a.get("kind") == "phrase" and isinstance(ev, dict) and ev.get("good_sign") is True:
            keys.add(f"{a.get('speaker')}.{a.get('cue')}")
    return keys


def status_of(call: CallLog) -> str:
    """complete, error, interrupted (whatever the summary says), or cut short."""
    if call.summary is None:
        return "cut short"
    return str(call.summary.get("status") or "complete")


def call_row(call: CallLog, report: str | Path | None = None) -> dict[str, Any]:
    """The QA columns of one call (without the review columns)."""
    s = call.summary or {}
    row: dict[str, Any] = {
        "date": utc_iso(call.started_at),
        "call": call.call,
        "agent": call.agent,
        "status": status_of(call),
        "duration_s": round(call.duration_s, 3),
    }
    talk = {sp: _num(_get(s, "talk_s", sp)) for sp in SPEAKERS}
    both = (talk["agent"] or 0.0) + (talk["customer"] or 0.0)
    for sp in SPEAKERS:
        row[f"talk_{sp}_s"] = talk[sp]
    for sp in SPEAKERS:
        t = talk[sp]
        row[f"talk_share_{sp}"] = round(t / both, 3) if t is not None and both > 0 else None
    row["overlap_s"] = _num(s.get("overlap_s"))
    counts = call.counts()
    for sp in SPEAKERS:
        n = _num(s.get(f"{sp}_interruptions"))
        if n is None and sp == "agent":
            n = float(counts.get("agent_interrupting", 0))  # cut short: what was alerted
        row[f"interruptions_{sp}"] = None if n is None else int(n)
    for sp in SPEAKERS:
        for level in ("raised", "yelling"):
            row[f"{level}_{sp}_s"] = _num(_get(s, "elevated_s", sp, level))
    row["alerts"] = sum(counts.values())
    for k in KINDS:
        row[k] = counts.get(k, 0)
    cues = call.cue_counts()
    good = good_cue_keys(call)
    row["cue_warnings"] = sum(n for k, n in cues.items() if k not in good)
    row["good_signs"] = sum(n for k, n in cues.items() if k in good)
    for sp, name, is_good in default_cues():
        row[cue_column(sp, name, is_good)] = cues.get(f"{sp}.{name}", 0)
    row["cues"] = ";".join(f"{k}={n}" for k, n in sorted(cues.items()) if n)
    w = call.worst()
    row["worst_start"] = _num(w.get("start")) if w else None
    for f in ("kind", "cue", "speaker", "severity", "message"):
        v = w.get(f) if w else None
        row[f"worst_{f}"] = None if v is None else str(v)
    row["log"] = str(Path(call.path).absolute())
    row["report"] = str(report) if report else None
    source = (call.start or {}).get("source")
    if isinstance(source, list):
        source = ";".join(str(x) for x in source)
    row["source"] = None if source is None else str(source)
    err = s.get("error")
    row["error"] = None if err is None else str(err)
    return row


def alert_rows(call: CallLog) -> list[dict[str, Any]]:
    """One row per alert: when, what, whose, how severe, and whether it is a good sign."""
    good = good_cue_keys(call)
    out = []
    for a in call.alerts:
        cue = a.get("cue")
        key = f"{a.get('speaker')}.{cue}"
        out.append(
            {
                "start": _num(a.get("start")),
                "end": _num(a.get("end")),
                "kind": str(a.get("kind")),
                "cue": None if cue is None else str(cue),
                "speaker": None if a.get("speaker") is None else str(a.get("speaker")),
                "severity": None if a.get("severity") is None else str(a.get("severity")),
                "rank": severity_rank(a.get("severity")),
                "good": int(cue is not None and key in good),
                "message": None if a.get("message") is None else str(a.get("message")),
            }
        )
    return out


def worst_rank(row: dict[str, Any]) -> int:
    return severity_rank(row.get("worst_severity"))


# -- CSV ------------------------------------------------------------------------------------

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a
    leading apostrophe (numbers stay numbers; None becomes empty)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def extra_cue_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns for cues counted in `rows` that are not shipped cues (custom cues)."""
    known = {f"{s}.{n}" for s, n, _ in default_cues()}
    extra: set[str] = set()
    for r in rows:
        for item in (r.get("cues") or "").split(";"):
            key = item.rpartition("=")[0]
            if key and key not in known:
                extra.add(key)
    return sorted(f"cue_{k.replace('.', '_', 1)}" for k in extra)


def with_extra_cues(row: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    if not extra:
        return row
    counts = {}
    for item in (row.get("cues") or "").split(";"):
        key, _, n = item.rpartition("=")
        if key:
            counts[f"cue_{key.replace('.', '_', 1)}"] = int(n) if n.isdigit() else 0
    return {**row, **{c: counts.get(c, 0) for c in extra}}
