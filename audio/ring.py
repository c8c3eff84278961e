"""The ring buffer between a PortAudio callback (the writer) and the capture reader.

`Ring.write` runs on the real-time thread: two slice copies into preallocated memory under
a lock held for the copy only; nothing else. `Ring.take` runs on the reader's thread.
"""

from __future__ import annotations

import threading

import numpy as np


class Ring:
    """A fixed ring of frames from one stream: the callback writes, the reader takes.

    When the reader falls behind and the ring is full, the newest frames are dropped and
    remembered as a gap after what is buffered, so the reader can put silence in their
    place and keep time.
    """

    def __init__(self, capacity: int, channels: int) -> None:
        self._buf = np.zeros((capacity, channels), np.float32)
        self._lock = threading.Lock()
        self._read = 0
        self._written = 0
        self._gap = 0
        self.frames_in = 0
        """Frames delivered by the device, kept or dropped."""
        self.dropped = 0
        """Frames dropped because the ring was full."""

    @property
    def capacity(self) -> int:
        return int(self._buf.shape[0])

    def write(self, x: np.ndarray) -> None:
        """Copy frames in (callback side): two slice copies at most, no allocation."""
        n = x.shape[0]
        cap = self._buf.shape[0]
        with self._lock:
            self.frames_in += n
            keep = min(n, cap - (self._written - self._read))
            if self._gap or keep < n:
                # Order matters: frames after a gap would be read before it. Keep none.
                keep = 0 if self._gap else keep
                self._gap += n - keep
                self.dropped += n - keep
            pos = self._written % cap
            first = min(keep, cap - pos)
            self._buf[pos : pos + first] = x[:first]
            if keep > first:
                self._buf[: keep - first] = x[first:keep]
            self._written += keep

    def take(self) -> tuple[np.ndarray, int]:
        """Everything buffered (frames, channels) and the frames lost right after it.

        The copy is made outside the lock: the writer never touches frames that have not
        been read yet, so the callback only ever waits for a few index updates.
        """
        cap = self._buf.shape[0]
        with self._lock:
            n = self._written - self._read
            pos = self._read % cap
            gap, self._gap = self._gap, 0
        first = min(n, cap - pos)
        out = np.concatenate([self._buf[pos : pos + first], self._buf[: n - first]])
        with self._lock:
            self._read += n
        return out, gap
