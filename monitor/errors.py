"""The one user-facing error type and the one set of exit codes of `tonewatch`.

Every command reports a user's mistake (a bad option, setting, input or output) by raising
`CommandError` with one line naming the file, device or setting and what is wrong, and the
exit code below; `monitor.cli.main` prints it as ``tonewatch: error: ...`` and exits with
the code. Nothing else in the program picks exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
"""Everything worked (batch: every call ok or skipped)."""
EXIT_INTERNAL = 1
"""Live capture: several calls in a row stopped by an internal error."""
EXIT_USAGE = 2
"""Bad usage or settings, or an input log that cannot be read (or is not tonewatch's)."""
EXIT_SOURCE = 3
"""Bad audio input: a recording that is missing, empty, corrupt or not audio; a sound
device that cannot be found, opened or kept."""
EXIT_OUTPUT = 4
"""Something cannot be written: an alert log, a log directory, a report, an export, the
batch output folder or index."""
EXIT_FAILED = 5
"""Batch: it ran, but some calls failed."""
EXIT_CLUSTER = 6
"""Batch: the Dask cluster cannot be started or reached."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT)."""


class CommandError(Exception):
    """A command cannot go on: `str(exc)` is the one-line message, `code` the exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code
