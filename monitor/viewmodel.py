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
