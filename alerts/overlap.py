"""Overlap rules: who starts talking inside the other's turn, and whether it is an
interruption, a backchannel or a hand-over. Runs on the analysis thread.
"""

from __future__ import annotations

import numpy as np

from alerts.settings import DetectorSettings
from audio.types import HOP, SAMPLE_RATE


class OverlapTracker:
    """Who starts talking inside the other's turn, and whether it is an interruption.

    The holder's turn runs through pauses shorter than `turn_gap`. An onset of the
    `incoming` speaker while the holder is talking and has held the turn for at least
    `mid_turn` is a candidate. It is dropped as a backchannel when the incoming speech ends
    within `min_len` and stays silent for a turn gap, and as a hand-over when the holder
    falls silent for a whole `turn_gap`. It becomes an interruption once the incoming
    speaker has talked for `min_len`, the holder past `terminal`, and the overlap has reached
    `min_overlap`.
    Smoothed speech carries a VAD hangover, which the timings allow for.
    """

    def __init__(self, s: DetectorSettings, hangover_s: float) -> None:
        self.hang = int(hangover_s * SAMPLE_RATE)
        self.mid_turn = int(s.interrupt_mid_turn_s * SAMPLE_RATE)
        self.min_overlap = int(s.interrupt_overlap_s * SAMPLE_RATE)
        self.min_len = int(s.interrupt_min_s * SAMPLE_RATE)
        self.terminal = int(s.terminal_s * SAMPLE_RATE)
        self.turn_gap = int(s.turn_gap_s * SAMPLE_RATE)
        self.turn_start: int | None = None
        self.holder_last = 0  # end of the holder's latest speech hop (with hangover)
        self.holder_on = False
        self.incoming_on = False
        self.cand: int | None = None
        self.cand_overlap = 0
        self.cand_speech = 0
        self.incoming_last = 0
        self.backchannels = 0
        self.handovers = 0
        self.interruptions = 0

    def _holder(self, t: int, talking: bool) -> None:
        if talking:
            if self.turn_start is None or t - self.holder_last > self.turn_gap:
                self.turn_start = t
            self.holder_last = t + HOP
        self.holder_on = talking

    def push(self, start: int, incoming: np.ndarray, holder: np.ndarray) -> list[tuple[int, int]]:
        """Consume hops; returns (onset, overlap samples) of interruptions confirmed."""
        found: list[tuple[int, int]] = []
        n = incoming.shape[0]
        steady = (
            n > 0
            and self.cand is None
            and bool(incoming[0]) == self.incoming_on
            and bool(holder[0]) == self.holder_on
            and bool((incoming[1:] == incoming[:-1]).all())
            and bool((holder[1:] == holder[:-1]).all())
        )
        if steady:
            if self.holder_on:
                self._holder(start, True)
                self.holder_last = start + n * HOP
            return found
        for i in range(n):
            t = start + i * HOP
            h, x = bool(holder[i]), bool(incoming[i])
            self._holder(t, h)
            if x and not self.incoming_on and self.cand is None:
                turn = self.turn_start
                # The holder talks at the onset, or did up to it: where the incoming
                # voice's copy lies over the holder's quieter voice, the crosstalk guard
                # takes the holder's hops from the incoming onset on (audio/crosstalk.py),
                # and the holder's turn is as open as it was a hop before.
                # (`_holder` has run: `holder_last` is past `t` when they talk at it.)
                if self.holder_last >= t and turn is not None and t - turn >= self.mid_turn:
                    self.cand, self.cand_overlap, self.cand_speech = t, 0, 0
            self.incoming_on = x
            if x:
                self.incoming_last = t + HOP
            if self.cand is None:
                continue
            # The incoming speaker's own pauses shorter than a turn gap do not end it.
            if not x and t - self.incoming_last >= self.turn_gap - self.hang:
                if self.cand_speech - self.hang < self.min_len:
                    self.backchannels += 1
                self.cand = None
                continue
            if not h and t - self.holder_last >= self.turn_gap:
                self.handovers += 1
                self.cand = None
                continue
            if x:
                self.cand_speech += HOP
                if h:
                    self.cand_overlap += HOP
            spoke = self.cand_speech - self.hang >= self.min_len
            held = self.holder_last - self.hang - self.cand >= self.terminal
            if x and spoke and held and self.cand_overlap >= self.min_overlap:
                found.append((self.cand, self.cand_overlap))
                self.interruptions += 1
                self.cand = None
        return found
