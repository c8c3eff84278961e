"""Crosstalk guard: speech on one channel that is only the other speaker's bleed.

Softphone echo and headset bleed put an attenuated copy of one speaker into the other's
channel; webrtcvad calls it speech, and its pitch is the other person's. A hop of channel X
is taken as bleed while channel Y speaks when X's 400 ms loudness, relative to X's own
typical speech level, is more than `margin_db` below Y's, relative to Y's typical level.
Real double talk keeps both near their own levels, whatever the gains of the two lines.

Two lavaliers in one room, a speakerphone or room echo put each voice on both channels only
a few dB apart, where that margin cannot tell. There the channels carry the same sound,
one a delayed, filtered copy of the other: `EchoLocator` cross-correlates the two channels
tick by tick (lags within +-30 ms, at 4 kHz), and where the normalised correlation peak is
high the sound is one voice heard twice. It goes to its earlier channel (the copy travelled
further), or to the louder one when they arrive together; the other channel's hops are not
speech. Two different voices at once correlate weakly, so real double talk stays double
talk. Runs on the analysis thread.
"""

from __future__ import annotations

import numpy as np

from audio.types import HOP, SAMPLE_RATE, HopFeatures


class EchoLocator:
    """Which channel a sound shared by both channels comes from, per tick.

    Args:
        max_lag_s: the longest acoustic delay between the two microphones considered.
        min_corr: normalised correlation peak from which the two channels carry one voice.
        decim: the correlation runs on the signal averaged over this many samples.
        sure_corr: from this peak on, a tick also teaches the level of the copy.
        own_voice_db: a follower this much louder than its copy usually is carries its
            own voice too (double talk), and keeps its speech.
    """

    def __init__(
        self,
        max_lag_s: float = 0.03,
        min_corr: float = 0.6,
        decim: int = 4,
        sure_corr: float = 0.9,
        own_voice_db: float = 4.0,
    ) -> None:
        self.decim = decim
        self.sure_corr = sure_corr
        self.own_voice_db = own_voice_db
        self.lag = int(round(max_lag_s * SAMPLE_RATE / decim))
        self.min_corr = min_corr
        self.start = 0
        self.buf = (np.zeros(0, np.float32), np.zeros(0, np.float32))
        self.shared_hops = [0, 0]
        # Level of each channel's copy of the other's voice, relative to the original (dB),
        # learned on ticks where the two are clearly one voice; None until seen.
        self.leak_db: list[float | None] = [None, None]
        self.carry: tuple[int, int] | None = None  # (follower, until stream time)
        # How far (decimated samples) each channel's copy lags its source, as last seen.
        self.delay = [0, 0]
        self.tail = int(0.4 * SAMPLE_RATE)

    def push(self, start: int, a: np.ndarray, b: np.ndarray) -> None:
        """Samples of both channels from stream time `start` (contiguous)."""
        if self.buf[0].size == 0:
            self.start = start
        self.buf = (np.concatenate([self.buf[0], a]), np.concatenate([self.buf[1], b]))

    def _span(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples [lo, hi) of both channels, zeros where none are held."""
        out = []
        for x in self.buf:
            seg = np.zeros(hi - lo, np.float32)
            s0, s1 = max(lo, self.start), min(hi, self.start + x.size)
            if s1 > s0:
                seg[s0 - lo : s1 - lo] = x[s0 - self.start : s1 - self.start]
            out.append(seg)
        return out[0], out[1]

    def _follower(self, core: np.ndarray, b: np.ndarray, ea: float, eb: float) -> int | None:
        """The channel (0 or 1) that carries a copy of the other's sound, or None."""
        lag = self.lag
        if ea <= 1e-12 or eb <= 1e-12:
            return None
        # r[k] = sum_n core[n] * b[n + k] for k in 0..2*lag (lag k - `lag` samples).
        size = 1 << int(np.ceil(np.log2(b.size + core.size)))
        r = np.fft.irfft(np.conj(np.fft.rfft(core, size)) * np.fft.rfft(b, size), size)
        r = r[: 2 * lag + 1]
        # Normalised by the energy of the part of `b` each lag compares with `core`, so a
        # peak is at most 1 whatever the lag.
        cs = np.concatenate([[0.0], np.cumsum(b.astype(np.float64) ** 2)])
        eb_k = cs[core.size : core.size + r.size] - cs[: r.size]
        norm = np.abs(r) / np.sqrt(ea * np.maximum(eb_k, 1e-20))
        norm[eb_k <= 1e-12] = 0.0
        k = int(np.argmax(norm))
        peak = float(norm[k])
        eb = float(eb_k[k])
        if peak < self.min_corr:
            return None
        shift = k - lag  # > 0: b lags a, so a is the source
        if shift == 0:
            shift = 1 if ea >= eb else -1
        follower = 1 if shift > 0 else 0
        self.delay[follower] = abs(k - lag)
        # The follower's level over the source's, against what its copy usually is:
        # clearly more means the follower's own voice is there too (double talk).
        ratio = 10 * np.log10((eb / ea) if follower == 1 else (ea / eb))
        known = self.leak_db[follower]
        if peak >= self.sure_corr:
            self.leak_db[follower] = ratio if known is None else known + 0.1 * (ratio - known)
        elif known is not None and ratio > known + self.own_voice_db:
            return None
        return follower

    def judge(
        self,
        start: int,
        both: np.ndarray,
        tick: int,
        voiced: tuple[np.ndarray, np.ndarray] | None = None,
        level: tuple[np.ndarray, np.ndarray] | None = None,
        ref: tuple[float | None, float | None] = (None, None),
        floor_db: float = 15.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per hop from `start`: hops of each channel that are the other channel's voice.

        In the tail of a shared sound the follower keeps its own speech only where it has
        a voice of its own: voiced hops (`voiced`), a loudest hop (`level`, dB) no more
        than `floor_db` below its typical speech level (`ref`), and more energy than its
        copy usually has. The VAD's hangover and the copy's reverberation have none."""
        n = both.shape[0]
        masks = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
        d, lag = self.decim, self.lag
        margin = lag * d
        for t0 in range(0, n, tick):
            sel = both[t0 : t0 + tick]
            if not sel.any():
                continue
            lo = start + t0 * HOP
            hi = start + min(n, t0 + tick) * HOP
            a, b = self._span(lo - margin, hi + margin)
            m = (a.size // d) * d
            a = a[:m].reshape(-1, d).mean(axis=1)
            b = b[:m].reshape(-1, d).mean(axis=1)
            core = a[lag:-lag]
            ea = float(core @ core)
            eb = float(b[lag:-lag] @ b[lag:-lag])
            follower = self._follower(core, b, ea, eb)
            if follower is not None:
                # The shared sound's tail runs on from its last tick heard on both channels.
                self.carry = (follower, hi + self.tail)
            elif self.carry is not None and lo < self.carry[1]:
                # The tail of a shared sound (reverberation, the VAD's hangover) stays
                # with the channel that was following.
                f = self.carry[0]
                known = self.leak_db[f]
                # The follower against the source as it was one copy delay earlier.
                src = (a, b)[1 - f]
                s = self.delay[f]
                src = src[lag - s : src.size - lag - s]
                own = (ea, eb)[f] / max(float(src @ src), 1e-20)
                quiet = voiced is not None and not voiced[f][t0 : t0 + tick].any()
                typical = ref[f]
                if level is not None and typical is not None:
                    quiet |= bool(level[f][t0 : t0 + tick].max() < typical - floor_db)
                if (
                    quiet
                    or known is None
                    or 10 * np.log10(own + 1e-20) <= known + self.own_voice_db
                ):
                    follower = f
            if follower is None:
                continue
            masks[follower][t0 : t0 + tick] = sel
            self.shared_hops[follower] += int(sel.sum())
        # Keep only what the next ticks may look back on.
        keep_from = start + n * HOP - margin
        if keep_from > self.start:
            cut = min(keep_from - self.start, self.buf[0].size)
            self.buf = (self.buf[0][cut:], self.buf[1][cut:])
            self.start += cut
        return masks


class CrosstalkGuard:
    """Masks bleed hops out of `speech` and `voiced` of both channels, in place."""

    def __init__(self, margin_db: float = 15.0, tau_hops: float = 1000.0) -> None:
        self.margin_db = margin_db
        self.tau_hops = tau_hops
        self.ref: list[float | None] = [None, None]
        self.bleed_hops = [0, 0]
        self.echo = EchoLocator()

    def push_audio(self, start: int, a: np.ndarray, b: np.ndarray) -> None:
        """The samples behind the features `apply` will judge (both channels)."""
        self.echo.push(start, a, b)

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
        # One voice heard on both channels goes to its source first.
        shared = self.echo.judge(
            a.start,
            both,
            tick,
            (a.voiced, b.voiced),
            (a.level_db, b.level_db),
            (self.ref[0], self.ref[1]),
            self.margin_db,
        )
        # A channel's own level is learned where it speaks alone or the other channel only
        # carries its copy (with leaks both ways, the other VAD is rarely silent).
        refs = [
            self._refs(i, feats[i], feats[i].speech & ~shared[i] & (~both | shared[1 - i]), tick)
            for i in (0, 1)
        ]
        for i in (0, 1):
            if shared[i].any():
                feats[i].speech[shared[i]] = False
                feats[i].voiced[shared[i]] = False
                masks[i][:] = shared[i]
        both = a.speech & b.speech
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
                masks[i][:] |= bleed
        return masks
