"""Crosstalk guard: speech on one channel that is only the other speaker's bleed.

Softphone echo and headset bleed put an attenuated copy of one speaker into the other's
channel; webrtcvad calls it speech, and its pitch is the other person's. A hop of channel X
is taken as bleed while channel Y speaks when X's 400 ms loudness, relative to X's own
typical speech level, is more than `margin_db` below Y's, relative to Y's typical level.
Real double talk keeps both near their own levels, whatever the gains of the two lines.
Runs on the analysis thread.
"""

from __future__ import annotations

import numpy as np

from audio.types import HopFeatures


class CrosstalkGuard:
    """Masks bleed hops out of `speech` and `voiced` of both channels, in place."""

    def __init__(self, margin_db: float = 15.0, tau_hops: float = 1000.0) -> None:
        self.margin_db = margin_db
        self.tau_hops = tau_hops
        self.ref: list[float | None] = [None, None]
        self.bleed_hops = [0, 0]

    def _refs(self, i: int, f: HopFeatures, own: np.ndarray, tick: int) -> np.ndarray:
        """Channel i's typical level after each tick (NaN while still unknown).

        Each tick's voiced hops where only this channel speaks move the reference toward
        their median level, by a weight that grows with their number.
        """
        n_ticks = -(-f.n_hops // tick)
        levels = np.full(n_ticks * tick, np.nan, dtype=f.level_db.dtype)
        sel = own & f.voiced
        levels[: f.n_hops][sel] = f.level_db[sel]
        rows = np.sort(levels.reshape(n_ticks, tick), axis=1)  # NaN sort last
        counts = (~np.isnan(rows)).sum(axis=1)
        idx = np.arange(n_ticks)
        lo = rows[idx, np.maximum(counts - 1, 0) // 2]
        hi = rows[idx, counts // 2 - (counts == 0)]
        medians = ((lo + hi) / 2).tolist()  # np.median's value, in the levels' precision
        ref = self.ref[i]
        out = np.full(n_ticks, np.nan)
        for t, k in enumerate(counts.tolist()):
            if k and ref is None:
                ref = medians[t]
            elif k and ref is not None:
                ref += min(1.0, k * 3 / self.tau_hops) * (medians[t] - ref)
            if ref is not None:
                out[t] = ref
        self.ref[i] = ref
        return out

    def apply(
        self, a: HopFeatures, b: HopFeatures, tick_hops: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mask bleed in place; returns the hops masked on each channel.

        With `tick_hops`, the hops are taken tick by tick (as if `apply` were called once
        per tick): each tick is judged with the references updated by that tick.
        """
        n = a.n_hops
        tick = max(1, n if tick_hops is None else tick_hops)
        masks = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
        if n == 0:
            return masks
        feats = (a, b)
        both = a.speech & b.speech
        refs = [self._refs(i, feats[i], feats[i].speech & ~both, tick) for i in (0, 1)]
        if not both.any():
            return masks
        # 400 ms momentary loudness: syllable-level dips of real double talk average out,
        # a steady echo 20-40 dB down does not. A tick is judged once both references
        # exist (NaN compares false).
        rel = [
            a.momentary_db - np.repeat(refs[0], tick)[:n],
            b.momentary_db - np.repeat(refs[1], tick)[:n],
        ]
        for i in (0, 1):
            j = 1 - i
            bleed = both & (rel[i] < rel[j] - self.margin_db)
            if bleed.any():
                self.bleed_hops[i] += int(bleed.sum())
                feats[i].speech[bleed] = False
                feats[i].voiced[bleed] = False
                masks[i][:] = bleed
        return masks
