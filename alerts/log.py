"""The durable alert log: JSON Lines, one record per line, each flushed and fsynced.

A record reaches the disk before `write` returns, so a crash or kill loses nothing already
reported. Logs may hold what callers said, so they are created readable by the user only
(mode 0600). Logs are read back by `monitor.calllog` (the schema and its one reader).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class LogError(Exception):
    """The alert log cannot be written; the message names the file."""


class AlertLog:
    """Append-only JSON Lines writer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)
        except OSError as exc:
            raise LogError(f"{self.path}: cannot open alert log ({exc.strerror})") from None
        self._fd = fd

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n"
        data = line.encode("utf-8")
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
