"""The durable alert log: JSON Lines, one record per line, each flushed and fsynced.

A record reaches the disk before `write` returns, so a crash or kill loses nothing already
reported. Logs may hold what callers said, so a new log is created readable by the user only
(0600; see `alerts.files`: an existing log keeps its mode, a device or FIFO is refused). The
log holds only JSON: a NaN or infinity in a record is written as null. Logs are read back
by `monitor.calllog` (the schema and its one reader).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alerts.files import FileRefused, check_output, open_private


class LogError(Exception):
    """The alert log cannot be written; the message names the file."""


class AlertLog:
    """Append-only JSON Lines writer."""

    def __init__(self, path: str | Path, inputs: Iterable[str | Path] = ()) -> None:
        self.path = Path(path)
        try:
            check_output(self.path, inputs, "alert log")
            self._fd = open_private(self.path, append=True, what="alert log", make_dirs=True)
        except FileRefused as exc:
            raise LogError(str(exc)) from None

    def write(self, record: dict[str, Any]) -> None:
        try:
            line = _dumps(record)
        except ValueError:  # a NaN or infinity somewhere: JSON has no such number
            line = _dumps(finite(record))
        data = (line + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:
            raise LogError(f"{self.path}: cannot write alert log ({exc.strerror})") from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AlertLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON's null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
