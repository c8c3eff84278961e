"""Headset bleed: the customer's voice leaking into the agent's mic, found and taken out.

On a speakerphone or an open headset the agent's mic picks up the softphone's output: a
delayed (a few ms to ~50 ms) and attenuated copy of the customer channel. webrtcvad calls
it speech and its pitch is the customer's, so without this stage a yelling customer reads
as an agent who yells, matches or talks over them. The crosstalk guard (audio/crosstalk.py)
only catches copies 15 dB or more down; bleed at -6 dB passes it.

`BleedCanceller` is a stage (`push(block) -> blocks`, `flush() -> blocks`, `reset()`) that
runs before the analysis and hands on both speakers' audio with the bleed subtracted from
the agent channel. It hands on whole 50 ms cells of stream time only (see Subtraction) and
holds the rest of a block until the next one completes the cell: up to 50 ms of delay,
which makes what it hands on the same whatever the block size.

- Search. At every `step_s` of stream time in which the customer channel carries sound,
  while no bleed is known: a cheap test first (the mic's 10 ms envelope must follow the
  customer's), then the last `window_s` of both channels are cross-correlated: coarse
  lags from 4x decimated signals (one small FFT), the best few peaks (a voice also lines
  up one pitch period off the true lag) refined at full rate with a parabolic fit for
  the fraction of a sample. The agent's own voice does not correlate with the customer,
  so double talk lowers the correlation of a window but does not move the peak.
- Path. The bleed is not just delayed and scaled: the earpiece, the headset shell and the
  room filter it. For each candidate delay a short FIR (`PATH_TAPS` taps starting
  `PATH_PRE` samples before it) is fitted by least squares to the window (Wiener
  solution: Toeplitz normal equations with a little ridge); it also takes care of the
  fraction of a sample. The best fit's share of the mic (as a correlation, rho) decides.
- Decision. Two agreeing windows with rho >= `rho_min` (or one >= `rho_sure`) switch
  cancelling on. Then every `active_every`-th step refits the known path only (a search
  only when it stops fitting, and a new delay is taken after two windows agree on it);
  the taps are the element-wise median of the latest accepted fits. `off_windows`
  windows of customer sound that nothing explains (rho < `rho_off`) switch it off (the
  agent put the headset back on).
- Subtraction. mic - path * customer. Per 50 ms the subtraction is kept only where it
  lowers the mic's energy, so a stale path never adds the customer's voice to the agent
  channel. Where what is left is `residue_db` below the bleed taken out, it is left-over
  bleed and is turned down (an echo canceller's residual suppressor); the agent talking
  is far louder than that. Hops whose energy fell by `discount_db` or more, or that were
  turned down, count as discounted: the mic was mostly bleed there.

Everything runs in stream time on the analysis thread; the result does not depend on the
block size (the cells are always whole, except the last one of a stream).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from audio.types import HOP, SAMPLE_RATE, Block

PATH_TAPS = 40
"""Taps of the fitted bleed path (2.5 ms at 16 kHz)."""
RESIDUE_GAIN = 0.03
"""Gain (-30 dB) on cells judged left-over bleed."""
PATH_PRE = 8
"""Taps of the path before the correlation peak (filters spread a copy both ways)."""
MIN_LAG = 4
"""Shortest delay searched, samples: a copy with no delay is a mix, not bleed."""
RIDGE = 1e-3
"""Ridge added to the path fit's normal equations, relative to the customer's energy
(telephone audio has nothing above 4 kHz, which leaves them ill-conditioned)."""
DECIMATE = 4
"""Decimation of the coarse lag search (16 kHz -> 4 kHz, 0.25 ms lag steps)."""
REFINE = 6
"""Full-rate lags tried either side of each coarse lag."""
CANDIDATES = 5
"""Coarse correlation peaks refined at full rate."""
GATE_HOPS = 5
"""Hops per cell in which the subtraction must lower the mic's energy to be kept."""
CELL = GATE_HOPS * HOP
"""Samples per cell (50 ms); cells lie on the stream-time grid."""


@dataclass(frozen=True)
class BleedSettings:
    """How bleed is looked for and how sure the canceller must be."""

    max_delay_ms: float = 60.0
    """Longest bleed delay searched, milliseconds (the shortest is MIN_LAG samples)."""
    window_s: float = 0.5
    """Audio per estimate, seconds."""
    step_s: float = 0.5
    """Stream time between estimates, seconds (a multiple of the 10 ms hop)."""
    active_every: int = 4
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
    off_windows: int = 3
    """Consecutive unexplained windows that switch cancelling off."""
    agree_ms: float = 0.5
    """Two estimates agree when their delays differ by at most this, milliseconds."""
    max_gain_db: float = 6.0
    """Copies louder than this relative to the customer channel are not bleed."""
    residue_db: float = 12.0
    """A cleaned cell this far (dB) below the bleed taken out of it is left-over bleed."""
    discount_db: float = 6.0
    """A hop whose mic energy fell this much (dB) was mostly bleed."""
    keep: int = 5
    """Accepted estimates kept for the running medians."""


@dataclass(frozen=True)
class Estimate:
    """One window's answer about the copy of the customer in the mic.

    Attributes:
        delay: delay of the correlation peak, samples (fractional).
        gain: broadband gain of the fitted path (RMS of the fit over RMS of the customer).
        rho: share of the mic the copy explains, as a correlation (0..1).
        taps: the fitted path, `PATH_TAPS` taps from stream delay `anchor`.
        anchor: whole-sample delay of the first tap.
    """

    delay: float
    gain: float
    rho: float
    taps: np.ndarray | None = None
    anchor: int = 0


NOTHING = Estimate(0.0, 0.0, 0.0)


class BleedCanceller:
    """Finds a delayed, attenuated copy of the customer in the agent's mic and removes it."""

    def __init__(self, settings: BleedSettings | None = None) -> None:
        self.s = BleedSettings() if settings is None else settings
        self.max_lag = int(round(self.s.max_delay_ms * SAMPLE_RATE / 1000 / DECIMATE)) * DECIMATE
        self.window = int(round(self.s.window_s * SAMPLE_RATE / DECIMATE)) * DECIMATE
        self.step = int(round(self.s.step_s * SAMPLE_RATE / HOP)) * HOP
        if self.step <= 0 or self.window <= 0 or self.max_lag <= 0:
            raise ValueError("bleed window, step and max delay must be positive")
        # History: the estimate window plus the longest lag plus the path's reach.
        self.keep = self.window + self.max_lag + PATH_TAPS + HOP
        self._gate = 10.0 ** (self.s.min_customer_dbfs / 10.0)
        self.reset()

    def reset(self) -> None:
        """Forget everything: a new stream, nothing known about bleed."""
        self.active = False
        self.detected = False
        self.delay = 0.0
        self.gain = 0.0
        self.rho = 0.0
        self.taps = np.zeros(PATH_TAPS, np.float32)
        self.anchor = 0
        self.accepted: deque[Estimate] = deque(maxlen=self.s.keep)
        self._last: Estimate | None = None
        self._misses = 0
        self._moved = 0
        self.estimates = 0
        self._steps = 0
        self.backfill: tuple[int, np.ndarray] | None = None
        """Set by the `push` (or `flush`) in which cancelling starts: (stream time, the mic
        audio from shortly before that moment, cleaned), for whoever kept the raw audio."""
        self.discounted_hops = 0.0
        self._held: Block | None = None
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
    def push(self, block: Block) -> list[Block]:
        """Take a block; returns the audio of the whole cells now complete, bleed removed.

        Blocks are contiguous in stream time; one that is not (a gap) first flushes what is
        held. Returns zero, one or (after a gap) two blocks.
        """
        self.backfill = None
        out: list[Block] = []
        held = self._held
        if held is not None and held.start + held.n_samples != block.start:
            out += self.flush()
            held = None
        if held is not None:
            block = Block(
                held.start,
                np.concatenate([held.agent, block.agent]),
                np.concatenate([held.customer, block.customer]),
                held.dropped_before + block.dropped_before,
                block.captured_at,
            )
            self._held = None
        end = block.start + block.n_samples
        cut = end - end % CELL
        if cut < end:
            n = max(0, cut - block.start)
            self._held = Block(
                block.start + n,
                block.agent[n:],
                block.customer[n:],
                0 if n else block.dropped_before,
                block.captured_at,
            )
            if n == 0:
                return out
            block = Block(
                block.start,
                block.agent[:n],
                block.customer[:n],
                block.dropped_before,
                block.captured_at,
            )
        out.append(self._clean(block))
        return out

    def flush(self) -> list[Block]:
        """The audio still held (the stream's last, partial cell), bleed removed."""
        held, self._held = self._held, None
        self.backfill = None
        return [] if held is None else [self._clean(held)]

    def _clean(self, block: Block) -> Block:
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
        began: int | None = None
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
                    was_active = self.active
                    self._decide(self._estimate(boundary))
                    if self.active and not was_active:
                        began = boundary
            t = b
        if began is not None:
            self.backfill = self._clean_before(began)
        self._mic = self._mic[-self.keep :]
        self._cust = self._cust[-self.keep :]
        return block if out is None else dataclasses.replace(block, agent=out)

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

    def _clean_before(self, began: int) -> tuple[int, np.ndarray] | None:
        """The mic from as far back as the history allows up to `began`, bleed removed.

        The first words of bleed pass before the path is known; the analysis has moved on,
        but the transcription still holds that audio and can take the cleaned copy.
        """
        first = self._end - self._mic.shape[0] + self.anchor + PATH_TAPS
        lo = ((first + HOP - 1) // HOP) * HOP
        if began - lo < HOP:
            return None
        counted = self.discounted_hops  # already counted as the analysis saw it
        cleaned = self._subtract(lo, began)
        self.discounted_hops = counted
        return lo, cleaned

    # -- subtraction --------------------------------------------------------------------
    def _through_path(self, a: int, b: int, taps: np.ndarray, anchor: int) -> np.ndarray:
        """The customer through the bleed path, for stream times [a, b)."""
        lo = self._index(a - anchor - PATH_TAPS + 1)
        x = self._cust[lo : lo + (b - a) + PATH_TAPS - 1]
        return np.convolve(x, taps, "valid")

    def _subtract(self, a: int, b: int) -> np.ndarray:
        mic = self._mic[self._index(a) : self._index(b)]
        bleed = self._through_path(a, b, self.taps, self.anchor)
        residual = mic - bleed
        # Judged per 50 ms cell of the stream's grid (`push` hands over whole cells; only
        # the stream's last cell and the backfill's first may be partial): long enough
        # that the agent's voice and the bleed, which do not correlate, add up in energy
        # instead of cancelling by chance as in single hops.
        cell = CELL
        edges = np.unique(np.r_[0, np.arange(-(a % cell) % cell, b - a, cell), b - a])
        starts = edges[:-1]
        lengths = np.diff(edges)
        e_mic = np.add.reduceat(mic * mic, starts)
        e_res = np.add.reduceat(residual * residual, starts)
        e_bleed = np.add.reduceat(bleed * bleed, starts)
        keep = e_res < e_mic
        # Residue: what is left is far below the bleed it came from, so it is the part of
        # the bleed the fitted path missed (a spectrum the fit windows did not show), not
        # the agent: turned down like an echo canceller's residual suppressor.
        residue = keep & (e_res * 10.0 ** (self.s.residue_db / 10.0) <= e_bleed)
        mostly = keep & (e_mic >= e_res * 10.0 ** (self.s.discount_db / 10.0))
        mostly &= e_mic > lengths * 1e-8  # not digital near-silence
        self.discounted_hops += float(lengths[mostly | residue].sum()) / HOP
        gain = np.where(residue, RESIDUE_GAIN, 1.0).astype(np.float32)
        out = np.where(np.repeat(keep, lengths), residual, mic)
        return out * np.repeat(gain, lengths)

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
            return NOTHING
        if self.active:
            # Cancelling: does the known path still explain the mic? Then no search.
            known = self._fit_path(mic, end, self.delay, self.anchor, m_energy)
            if known.rho >= self.s.rho_min:
                return known
        elif self._envelope_match(mic, cust) < self.s.envelope_min:
            return NOTHING  # the mic does not follow the customer
        return self._search(mic, cust, end, m_energy)

    def _search(self, mic: np.ndarray, cust: np.ndarray, end: int, m_energy: float) -> Estimate:
        """Look for the copy at every lag; the best-fitting path among the likely delays."""
        w, lag = self.window, self.max_lag
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
        # A voice's harmonics also line up one pitch period off the true lag (a steady,
        # high yelled voice most of all): refine the best few coarse peaks at full rate and
        # keep the one whose fitted path explains the mic best.
        peaks = np.flatnonzero(
            (mag >= 0.5 * mag[k]) & (mag >= np.r_[0.0, mag[:-1]]) & (mag >= np.r_[mag[1:], 0.0])
        )
        best = NOTHING
        for peak in peaks[np.argsort(mag[peaks])[::-1][:CANDIDATES]]:
            lags = np.clip((ld - peak) * DECIMATE + np.arange(-REFINE, REFINE + 1), MIN_LAG, lag)
            lags = np.unique(lags)
            # Normalised full-rate correlation at each lag (mic[n] ~ cust[n - lag]).
            views = sliding_window_view(cust, w)[lag - lags]
            score = np.abs(views @ mic) / np.sqrt(np.einsum("ij,ij->i", views, views) + 1e-30)
            i = int(np.argmax(score))
            frac = 0.0
            if 0 < i < lags.size - 1:
                y0, y1, y2 = score[i - 1 : i + 2].astype(np.float64)
                denom = y0 - 2 * y1 + y2
                frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
            delay = float(np.clip(lags[i] + frac, MIN_LAG, lag))
            anchor = max(0, int(round(delay)) - PATH_PRE)
            if self.active and self.anchor + PATH_PRE // 2 <= delay <= self.anchor + PATH_TAPS // 2:
                anchor = self.anchor  # the known path's taps still cover it
            est = self._fit_path(mic, end, delay, anchor, m_energy)
            if est.rho > best.rho:
                best = est
        return best

    def _fit_path(
        self, mic: np.ndarray, end: int, delay: float, anchor: int, m_energy: float
    ) -> Estimate:
        """Least-squares FIR from the customer to the mic over the window ending at `end`."""
        w = mic.size
        lo = self._index(end - w - anchor - PATH_TAPS + 1)
        seg = self._cust[lo : lo + w + PATH_TAPS - 1]
        # Row r of the views is the customer delayed by anchor + (PATH_TAPS - 1 - r).
        views = sliding_window_view(seg, w)
        cross = (views @ mic)[::-1].astype(np.float64)
        # Autocorrelation at lags 0 .. PATH_TAPS - 1 over the window (one C loop).
        auto = np.correlate(seg, seg[:w], "valid").astype(np.float64)
        if auto[0] <= 1e-12:
            return NOTHING
        auto[0] *= 1.0 + RIDGE
        from scipy.linalg import solve_toeplitz  # on first fit: keeps settings imports light

        taps = solve_toeplitz(auto, cross)
        fit = float(taps @ cross)
        rho = float(np.sqrt(min(max(fit / m_energy, 0.0), 1.0)))
        gain = float(np.sqrt(max(fit, 0.0) / auto[0]))
        return Estimate(delay, gain, rho, taps.astype(np.float32), anchor)

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
            self.anchor = est.anchor
            if prev is not None and confirmed and prev.anchor == est.anchor:
                self.accepted.append(prev)
        elif est.anchor != self.anchor:
            # The delay moved (another route, a clock step): follow it once it is confirmed.
            self._moved += 1
            if self._moved < 2:
                return
            self.accepted.clear()
            self.anchor = est.anchor
        self._moved = 0
        self.accepted.append(est)
        self.delay = float(np.median([e.delay for e in self.accepted]))
        self.gain = float(np.median([e.gain for e in self.accepted]))
        self.rho = float(np.median([e.rho for e in self.accepted]))
        fits = [e.taps for e in self.accepted if e.taps is not None]
        self.taps = np.median(fits, axis=0).astype(np.float32)
