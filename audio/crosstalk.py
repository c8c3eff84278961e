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

    def _update_ref(self, i: int, f: HopFeatures, own: np.ndarray) -> None:
        levels = f.level_db[own & f.voiced]
        if levels.size == 0:
            return
        # The median of at most one tick of values: a sort is far cheaper than np.median.
        levels.sort()
        half = levels.size // 2
        typical = float(levels[half] if levels.size % 2 else (levels[half - 1] + levels[half]) / 2)
        ref = self.ref[i]
        if ref is None:
            self.ref[i] = typical
        else:
            w = min(1.0, levels.size * 3 / self.tau_hops)
            self.ref[i] = ref + w * (typical - ref)

    def apply(self, a: HopFeatures, b: HopFeatures) -> tuple[np.ndarray, np.ndarray]:
        """Mask bleed in place; returns the hops masked on each channel."""
        feats = (a, b)
        both = a.speech & b.speech
        own = [a.speech & ~both, b.speech & ~both]
        masks = (np.zeros_like(both), np.zeros_like(both))
        for i in (0, 1):
            self._update_ref(i, feats[i], own[i])
        ref_a, ref_b = self.ref
        if not both.any() or ref_a is None or ref_b is None:
            return masks
        # 400 ms momentary loudness: syllable-level dips of real double talk average out,
        # a steady echo 20-40 dB down does not.
        rel = [a.momentary_db - ref_a, b.momentary_db - ref_b]
        for i in (0, 1):
            j = 1 - i
            bleed = both & (rel[i] < rel[j] - self.margin_db)
            if bleed.any():
                self.bleed_hops[i] += int(bleed.sum())
                feats[i].speech[bleed] = False
                feats[i].voiced[bleed] = False
                masks[i][:] = bleed
        return masks
