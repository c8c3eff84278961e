"""A batch's index: ``DIR/index.csv`` and ``DIR/index.json`` (one row per call, the QA
columns of `monitor.qa_columns` after the batch's own), and the call index database.

The batch's own columns come first: `outcome` (ok, skipped or error), `inputs` (the file,
or agent;customer) and `compute_s` (the worker's seconds on the call); then the QA columns
of the call as its log tells them (`error` says why a call failed). A call that failed
before writing a log has only its id, status "error" and the error. Both files are
written atomically and 0600. `store` puts each call into the call index database as it
comes back from its worker; the driver is the index's only writer.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alerts.model import now_iso
from monitor.callindex import CallIndex
from monitor.qa_columns import columns
from monitor.review import csv_text

BATCH_FIELDS = ("outcome", "inputs", "compute_s")


def index_row(row: dict[str, Any], out: Path) -> dict[str, Any]:
    """A batch row flattened into the batch columns and the QA columns."""
    entries = row.get("entries") or []
    qa: dict[str, Any] = dict(entries[-1][0]) if entries else {}
    if not qa:
        qa = {c: None for c in columns()}
        qa.update(call=row["call"], status="error", alerts=0)
        if row.get("log"):
            qa["log"] = str(out / row["log"])
    if row.get("error"):
        qa["error"] = row["error"]
    qa["call"] = row["call"]
    return {
        "outcome": row["outcome"],
        "inputs": ";".join(row["inputs"]),
        "compute_s": row.get("compute_s"),
        **{c: qa.get(c) for c in columns() if c not in ("reviewed_at", "note")},
    }


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Call counts per outcome and the audio and compute seconds of the calls analysed now."""
    by = {s: sum(r["outcome"] == s for r in rows) for s in ("ok", "skipped", "error")}
    done = [r for r in rows if r["outcome"] == "ok"]

    def audio(r: dict[str, Any]) -> float:
        entries = r.get("entries") or []
        return float(entries[-1][0].get("duration_s") or 0.0) if entries else 0.0

    return {
        "calls": len(rows),
        **by,
        "audio_s": round(sum(audio(r) for r in done), 3),
        "compute_s": round(sum(r["compute_s"] or 0.0 for r in done), 3),
    }


def _atomic_write(path: Path, text: str) -> None:
    from alerts.files import FileRefused, write_private

    try:
        write_private(path, text, what="batch index", atomic=True)
    except FileRefused as exc:  # the driver reports an OSError as "cannot write the index"
        raise OSError(errno.EIO, str(exc)) from None


def write_index(out: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``index.csv`` and ``index.json`` (with totals and the batch's inputs and settings)."""
    flat = [index_row(r, out) for r in sorted(rows, key=lambda r: r["call"])]
    fields = [*BATCH_FIELDS, *(c for c in columns() if c not in ("reviewed_at", "note"))]
    _atomic_write(out / "index.csv", csv_text(flat, fields))
    doc = {**meta, "written_at": now_iso(), "totals": totals(rows), "calls": flat}
    _atomic_write(out / "index.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def store(idx: CallIndex, row: dict[str, Any], out: Path) -> None:
    """Put a finished call into the call index: its log's calls replace what the index
    had for that log, and a redone call's old .partial log is dropped."""
    final = out / "logs" / f"{row['call']}.jsonl"
    partial = final.with_name(final.name + ".partial")
    if row["outcome"] == "ok":
        idx.add_entries(final, row["entries"])
        idx.forget([partial])
    elif row.get("log"):
        idx.add_entries(out / row["log"], row["entries"])
