"""Headset bleed: the customer's voice leaking into the agent's mic, found and taken out.

On a speakerphone or an open headset the agent's mic picks up the softphone's output: a
delayed (a few ms to ~50 ms) and attenuated copy of the customer channel. webrtcvad calls
it speech and its pitch is the customer's, so without this stage a yelling customer reads
as an agent who yells, matches or talks over them. The crosstalk guard (audio/crosstalk.py)
only catches copies 15 dB or more down; bleed at -6 dB passes it.

`BleedCanceller.clean(block)` runs before the analysis and returns the block with the bleed
subtracted from the agent channel:

- Estimation. At every `step_s` of stream time (every `active_every`-th step while
  cancelling) in which the customer channel carries sound, the last `window_s` of both
  channels are cross-correlated: coarse lags from 4x decimated signals (one small FFT);
  when those show a likely copy, the best few peaks (a voice also lines up one pitch
  period off) are refined at full rate, with a parabolic fit for the fraction of a
  sample. The gain is the least-squares fit of the delayed customer to the mic; the
  normalised correlation says how much of the mic the copy explains. The agent's own
  voice does not correlate with the customer, so double talk only lowers the correlation
  of a window, it does not move the peak.
- Decision. Two agreeing estimates with correlation >= `rho_min` (or one >= `rho_sure`)
  switch cancelling on; delay and gain then follow the median of the latest accepted
  estimates. `off_windows` windows of customer sound that the copy does not explain
  (correlation < `rho_off`) switch it off again (the agent put the headset back on).
- Subtraction. mic[t] - gain * customer(t - delay), the fractional delay done by a 16-tap
  windowed-sinc filter over the customer history. Per 50 ms the subtraction is kept
  only where it lowers the mic's energy, so a stale estimate never adds the customer's
  voice to the agent channel. Hops whose energy fell by `discount_db` or more count as
  discounted: the mic was mostly bleed there.

Everything runs in stream time on the analysis thread; with blocks of whole hops the result
does not depend on the block size.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from audio.types import HOP, SAMPLE_RATE, Block

TAPS_HALF = 8
"""Half the length of the fractional-delay filter (16 taps)."""
DECIMATE = 4
"""Decimation of the coarse lag search (16 kHz -> 4 kHz, 0.25 ms lag steps)."""
REFINE = 6
"""Full-rate lags tried either side of each coarse lag."""
CANDIDATES = 3
"""Coarse correlation peaks refined at full rate."""
GATE_HOPS = 5
"""Hops per cell in which the subtraction must lower the mic's energy to be kept."""


@dataclass(frozen=True)
class BleedSettings:
    """How bleed is looked for and how sure the canceller must be."""

    max_delay_ms: float = 60.0
    """Longest bleed delay searched, milliseconds (the shortest is TAPS_HALF samples,
    0.5 ms: the fractional-delay filter reaches that far ahead)."""
    window_s: float = 0.5
    """Audio per estimate, seconds."""
    step_s: float = 0.5
    """Stream time between estimates, seconds (a multiple of the 10 ms hop)."""
    active_every: int = 2
    """While cancelling, estimate only every this many steps."""
    min_customer_dbfs: float = -55.0
    """The customer window must be at least this loud (mean square, dBFS) to be used."""
    envelope_min: float = 0.5
    """While not cancelling, the mic's envelope must follow the customer's this well
    (correlation) before the waveforms are cross-correlated."""
    rho_min: float = 0.5
    """Correlation an estimate needs to count."""
    rho_sure: float = 0.8
    """Correlation that switches cancelling on from one estimate alone."""
    rho_off: float = 0.2
    """Correlation below which a window counts against the bleed still being there."""
    off_windows: int = 4
    """Consecutive unexplained windows that switch cancelling off."""
    agree_ms: float = 0.5
    """Two estimates agree when their delays differ by at most this, milliseconds."""
    max_gain_db: float = 6.0
    """Copies louder than this relative to the customer channel are not bleed."""
    discount_db: float = 6.0
    """A hop whose mic energy fell this much (dB) was mostly bleed."""
    keep: int = 5
    """Accepted estimates kept for the running medians."""


@dataclass(frozen=True)
class Estimate:
    """One window's answer: delay (samples, fractional), gain (linear) and correlation."""

    delay: float
    gain: float
    rho: float


def delay_filter(frac: float) -> np.ndarray:
    """Windowed-sinc taps that delay a signal by `frac` of a sample (0 <= frac < 1).

    Used as `np.convolve(x, taps, "valid")` with x starting TAPS_HALF samples before the
    whole-sample delay (see `BleedCanceller._delayed`); the Hann window keeps the ripple
    small over the telephone band.
    """
    k = np.arange(-TAPS_HALF + 1, TAPS_HALF + 1)
    x = k - frac
    h = np.sinc(x) * (0.5 + 0.5 * np.cos(np.pi * x / TAPS_HALF))
    return (h / h.sum()).astype(np.float32)


class BleedCanceller:
    """Finds a delayed, attenuated copy of the customer in the agent's mic and removes it."""

    def __init__(self, settings: BleedSettings | None = None) -> None:
        self.s = BleedSettings() if settings is None else settings
        self.max_lag = int(round(self.s.max_delay_ms * SAMPLE_RATE / 1000 / DECIMATE)) * DECIMATE
        self.window = int(round(self.s.window_s * SAMPLE_RATE / DECIMATE)) * DECIMATE
        self.step = int(round(self.s.step_s * SAMPLE_RATE / HOP)) * HOP
        if self.step <= 0 or self.window <= 0 or self.max_lag <= 0:
            raise ValueError("bleed window, step and max delay must be positive")
        # History: the estimate window plus the longest lag plus the filter's reach.
        self.keep = self.window + self.max_lag + 2 * TAPS_HALF + HOP
        self._gate = 10.0 ** (self.s.min_customer_dbfs / 10.0)
        self.active = False
        self.detected = False
        self.delay = 0.0
        self.gain = 0.0
        self.rho = 0.0
        self.accepted: deque[Estimate] = deque(maxlen=self.s.keep)
        self._last: Estimate | None = None
        self._misses = 0
        self.estimates = 0
        self._steps = 0
        self.last_block: Block | None = None
        """The latest block as cleaned (for meters that should show the agent, not bleed)."""
        self.discounted_hops = 0.0
        self._reset_history(0)

    # -- history ------------------------------------------------------------------------
    def _reset_history(self, start: int) -> None:
        self._mic = np.zeros(self.keep, np.float32)
        self._cust = np.zeros(self.keep, np.float32)
        self._end = start  # stream time just after the last sample held

    def _index(self, t: int) -> int:
        """Position of stream time `t` in the history arrays."""
        return self._mic.shape[0] - (self._end - t)

    # -- public -------------------------------------------------------------------------
    def clean(self, block: Block) -> Block:
        """The block with the bleed taken out of its agent channel (the same block if none)."""
        if block.start != self._end:
            self._reset_history(block.start)  # a gap: old audio no longer lines up
        n = block.n_samples
        self._mic = np.concatenate([self._mic, block.agent])
        self._cust = np.concatenate([self._cust, block.customer])
        self._end = block.start + n
        out: np.ndarray | None = None
        t = block.start
        end = block.start + n
        while t < end:
            boundary = (t // self.step + 1) * self.step
            b = min(boundary, end)
            if self.active:
                if out is None:
                    out = np.array(block.agent, np.float32, copy=True)
                out[t - block.start : b - block.start] = self._subtract(t, b)
            if b == boundary:
                self._steps += 1
                # While cancelling, every `active_every`-th step is enough to follow it.
                if not self.active or self._steps % self.s.active_every == 0:
                    self._decide(self._estimate(boundary))
            t = b
        self._mic = self._mic[-self.keep :]
        self._cust = self._cust[-self.keep :]
        self.last_block = block if out is None else dataclasses.replace(block, agent=out)
        return self.last_block

    def summary(self) -> dict[str, Any]:
        """The `headset_bleed` part of the call summary."""
        return {
            "detected": self.detected,
            "active_at_end": self.active,
            "delay_ms": round(self.delay * 1000 / SAMPLE_RATE, 2) if self.detected else None,
            "gain_db": round(float(20 * np.log10(abs(self.gain))), 1) if self.detected else None,
            "correlation": round(self.rho, 2) if self.detected else None,
            "hops_discounted": int(round(self.discounted_hops)),
            "discounted_s": round(self.discounted_hops * HOP / SAMPLE_RATE, 2),
            "estimates": self.estimates,
        }

    # -- subtraction --------------------------------------------------------------------
    def _delayed(self, a: int, b: int, delay: float) -> np.ndarray:
        """Customer samples of stream times [a - delay, b - delay), fractional delay."""
        whole = int(np.floor(delay))
        taps = delay_filter(delay - whole)
        lo = self._index(a - whole - TAPS_HALF)
        x = self._cust[lo : lo + (b - a) + 2 * TAPS_HALF - 1]
        # Sum of shifted copies: cheaper than np.convolve for 16 taps.
        n = b - a
        out = taps[-1] * x[:n]
        for j in range(2 * TAPS_HALF - 1):
            k = 2 * TAPS_HALF - 1 - j
            out += taps[j] * x[k : k + n]
        return out

    def _subtract(self, a: int, b: int) -> np.ndarray:
        mic = self._mic[self._index(a) : self._index(b)]
        residual = mic - np.float32(self.gain) * self._delayed(a, b, self.delay)
        # Judged per 50 ms cell of the stream's grid (partial cells at block edges stay
        # partial): long enough that the agent's voice and the bleed, which do not
        # correlate, add up in energy instead of cancelling by chance as in single hops.
        cell = GATE_HOPS * HOP
        edges = np.unique(np.r_[0, np.arange(-(a % cell) % cell, b - a, cell), b - a])
        starts = edges[:-1]
        e_mic = np.add.reduceat(mic * mic, starts)
        e_res = np.add.reduceat(residual * residual, starts)
        keep = e_res < e_mic
        lengths = np.diff(edges)
        mostly = keep & (e_mic >= e_res * 10.0 ** (self.s.discount_db / 10.0))
        mostly &= e_mic > lengths * 1e-8  # not digital near-silence
        self.discounted_hops += float(lengths[mostly].sum()) / HOP
        return np.where(np.repeat(keep, lengths), residual, mic)

    # -- estimation ---------------------------------------------------------------------
    def _estimate(self, end: int) -> Estimate | None:
        """Delay, gain and correlation of the customer copy in the mic over the last window."""
        w, lag = self.window, self.max_lag
        i_end = self._index(end)
        cust = self._cust[i_end - w - lag : i_end]
        if float(np.dot(cust[lag:], cust[lag:])) < self._gate * w:
            return None
        mic = self._mic[i_end - w : i_end]
        self.estimates += 1
        m_energy = float(np.dot(mic, mic))
        if m_energy <= 1e-12:
            return Estimate(0.0, 0.0, 0.0)
        if not self.active:
            envelope = self._envelope_match(mic, cust)
            if envelope < self.s.envelope_min:
                return Estimate(0.0, 0.0, 0.0)  # the mic does not follow the customer
        # Coarse, on decimated signals: r[k] = sum_n cd[n + k] md[n], lag = L - k.
        md = mic.reshape(-1, DECIMATE).mean(axis=1)
        cd = cust.reshape(-1, DECIMATE).mean(axis=1)
        n_fft = 1 << int(np.ceil(np.log2(cd.size + md.size)))
        r = np.fft.irfft(np.fft.rfft(cd, n_fft) * np.conj(np.fft.rfft(md, n_fft)), n_fft)
        ld = lag // DECIMATE
        mag = np.abs(r[: ld + 1])
        k = int(np.argmax(mag))
        seg_d = cd[k : k + md.size]
        rho_d = float(mag[k]) / np.sqrt(float(md @ md) * float(seg_d @ seg_d) + 1e-30)
        if rho_d < self.s.rho_off:
            return Estimate(float((ld - k) * DECIMATE), 0.0, rho_d)  # nothing like a copy
        # A voice's harmonics also line up one pitch period off the true lag, and the
        # decimated signals cannot tell those peaks apart: refine the best few at full rate.
        peaks = np.flatnonzero(
            (mag >= 0.7 * mag[k]) & (mag >= np.r_[0.0, mag[:-1]]) & (mag >= np.r_[mag[1:], 0.0])
        )
        peaks = peaks[np.argsort(mag[peaks])[::-1][:CANDIDATES]]
        lags = np.unique(
            np.clip(
                ((ld - peaks) * DECIMATE)[:, None] + np.arange(-REFINE, REFINE + 1),
                TAPS_HALF,
                lag,
            )
        )
        # Normalised full-rate correlation at each candidate lag (mic[n] ~ cust[n - lag]).
        views = sliding_window_view(cust, w)[lag - lags]
        dots = views @ mic
        norm = np.sqrt(np.einsum("ij,ij->i", views, views) + 1e-30)
        score = np.abs(dots) / norm
        i = int(np.argmax(score))
        frac = 0.0
        if 0 < i < lags.size - 1 and lags[i - 1] == lags[i] - 1 and lags[i + 1] == lags[i] + 1:
            y0, y1, y2 = score[i - 1 : i + 2].astype(np.float64)
            denom = y0 - 2 * y1 + y2
            frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
        delay = float(np.clip(lags[i] + frac, TAPS_HALF, lag))
        copy = self._delayed(end - w, end, delay)
        c_energy = float(np.dot(copy, copy))
        if c_energy <= 1e-12:
            return Estimate(delay, 0.0, 0.0)
        cross = float(np.dot(mic, copy))
        return Estimate(delay, cross / c_energy, abs(cross) / np.sqrt(m_energy * c_energy))

    def _envelope_match(self, mic: np.ndarray, cust: np.ndarray) -> float:
        """Best correlation of the mic's 10 ms RMS envelope with the customer's, any lag.

        A few dozen numbers per channel: the cheap test that spares the FFT while there
        is no bleed (the window ends on the hop grid).
        """
        n = mic.size // HOP
        shifts = self.max_lag // HOP + 1  # lags of 0 .. max_lag in whole hops
        src = cust[cust.size - (n + shifts - 1) * HOP :]
        env_m = np.sqrt((mic[mic.size - n * HOP :].reshape(n, HOP) ** 2).mean(axis=1))
        env_c = np.sqrt((src.reshape(-1, HOP) ** 2).mean(axis=1))
        views = sliding_window_view(env_c, n)
        views = views - views.mean(axis=1, keepdims=True)
        env_m = env_m - env_m.mean()
        dots = views @ env_m
        norm = np.sqrt((views * views).sum(axis=1) * float(env_m @ env_m)) + 1e-30
        return float(np.max(dots / norm))

    def _decide(self, est: Estimate | None) -> None:
        if est is None:
            return  # the customer was quiet: nothing learned either way
        s = self.s
        usable = (
            est.rho >= s.rho_min
            and est.gain != 0.0
            and 20 * np.log10(abs(est.gain)) <= s.max_gain_db
            and est.delay <= self.max_lag
        )
        self._misses = self._misses + 1 if est.rho < s.rho_off else 0
        if self.active and self._misses >= s.off_windows:
            self.active = False
            self.accepted.clear()
        if not usable:
            self._last = None
            return
        agree = s.agree_ms * SAMPLE_RATE / 1000
        if not self.active:
            prev = self._last
            self._last = est
            confirmed = prev is not None and abs(prev.delay - est.delay) <= agree
            if not (confirmed or est.rho >= s.rho_sure):
                return
            self.active = self.detected = True
            self.accepted.clear()
            if prev is not None and confirmed:
                self.accepted.append(prev)
        self.accepted.append(est)
        self.delay = float(np.median([e.delay for e in self.accepted]))
        self.gain = float(np.median([e.gain for e in self.accepted]))
        self.rho = float(np.median([e.rho for e in self.accepted]))
