"""Frame features: K-weighted level, pitch (YIN candidates, harmonic choice) and spectral balance.

All functions work on whole batches of frames with numpy; there are no per-frame Python
loops. Stateful filters carry their state between calls so that streaming in blocks of any
size gives the same result as one pass over the whole signal. Runs on the analysis thread.
"""

from __future__ import annotations

import numpy as np

from audio.types import SAMPLE_RATE

EPS = 1e-12


def k_weighting_sos(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Second-order sections of the ITU-R BS.1770-4 K-weighting pre-filter at any rate.

    Stage 1 is the head-effect high shelf (about +4 dB above 2 kHz), stage 2 the RLB
    high-pass (about 38 Hz). The analogue prototype parameters below, mapped with the
    bilinear transform, reproduce the 48 kHz coefficients printed in BS.1770-4 Table 1/2.
    """
    # Stage 1: high shelf.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    # Stage 2: RLB high-pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def sos_response_power(sos: np.ndarray, freqs_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """|H(f)|^2 of a cascade of biquads at the given frequencies."""
    z = np.exp(-1j * 2 * np.pi * freqs_hz / sample_rate)
    h = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in sos:
        h *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return np.abs(h) ** 2


class KWeightedPower:
    """Mean square of the K-weighted signal per hop, computed in the frequency domain.

    Each hop's power spectrum is weighted by the K filter's |H(f)|^2 and summed (Parseval),
    which equals filtering then squaring up to the filter's short transient at hop edges.
    This is a numpy batch operation, with no per-sample recursion.
    """

    def __init__(self, hop: int, sample_rate: int = SAMPLE_RATE) -> None:
        self.hop = hop
        freqs = np.fft.rfftfreq(hop, 1 / sample_rate)
        w = sos_response_power(k_weighting_sos(sample_rate), freqs, sample_rate)
        # A 10 ms hop resolves 100 Hz: its DC bin mostly holds leakage of low voice
        # harmonics, not true DC, so it is weighted like the first bin.
        w[0] = w[1]
        # One-sided spectrum: bins other than DC and Nyquist stand for two.
        w[1:] *= 2.0
        if hop % 2 == 0:
            w[-1] /= 2.0
        self.weights = (w / (hop * hop)).astype(np.float32)

    def __call__(self, hops: np.ndarray) -> np.ndarray:
        """hops: (n, hop) samples -> (n,) K-weighted mean squares."""
        spec = np.fft.rfft(hops, axis=1)
        return (spec.real**2 + spec.imag**2) @ self.weights


def power_db(mean_square: np.ndarray) -> np.ndarray:
    """BS.1770-4 eq. 2 loudness scale: -0.691 + 10 log10(mean square)."""
    return -0.691 + 10.0 * np.log10(mean_square + EPS)


class Yin:
    """Batch YIN pitch tracker (de Cheveigné & Kawahara 2002) on fixed-length frames.

    The difference function is computed for all frames at once from an FFT
    cross-correlation plus cumulative energies; the first dip of the cumulative mean
    normalised difference below `threshold` gives the period, refined by parabolic
    interpolation. Frames without such a dip are unvoiced (NaN).
    """

    def __init__(
        self,
        frame_length: int,
        fmin_hz: float,
        fmax_hz: float,
        threshold: float,
        tolerance: float = 0.05,
    ) -> None:
        self.frame_length = frame_length
        self.tau_max = int(np.ceil(SAMPLE_RATE / fmin_hz))
        self.tau_min = max(2, int(np.floor(SAMPLE_RATE / fmax_hz)))
        self.n_int = frame_length - self.tau_max
        if self.n_int < self.tau_max // 2:
            raise ValueError("pitch frame too short for the lowest pitch")
        self.threshold = threshold
        self.tolerance = tolerance
        # The cross-correlation needs lags 0..tau_max of an n_int-long head against the
        # frame: n_int - 1 + tau_max < frame_length, so a circular FFT of the frame's own
        # length never wraps and no zero padding is needed.
        self.nfft = frame_length
        self._taus = np.arange(self.tau_max + 1)

    def cmndf(self, frames: np.ndarray) -> np.ndarray:
        """(m, tau_max + 1) cumulative mean normalised difference of each frame."""
        return self.analyse(frames)[0]

    def analyse(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cumulative mean normalised difference, the frames' spectra): the spectra are
        the `frame_length`-point FFT of the mean-removed frames, unwindowed."""
        m = frames.shape[0]
        x = frames - frames.mean(axis=1, keepdims=True)
        n, tmax = self.n_int, self.tau_max
        spec_x = np.fft.rfft(x, self.nfft, axis=1)
        spec_a = np.fft.rfft(x[:, :n], self.nfft, axis=1)
        r = np.fft.irfft(np.conj(spec_a) * spec_x, self.nfft, axis=1)[:, : tmax + 1]
        cs = np.zeros((m, x.shape[1] + 1))
        np.cumsum(x * x, axis=1, out=cs[:, 1:])
        taus = self._taus
        e_tau = cs[:, n : n + tmax + 1] - cs[:, : tmax + 1]
        d = np.maximum(cs[:, [n]] + e_tau - 2.0 * r, 0.0)
        d[:, 0] = 0.0
        cum = np.cumsum(d[:, 1:], axis=1)
        cmndf = np.ones_like(d)
        cmndf[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, EPS)
        return cmndf, spec_x

    def dips(self, cmndf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(depth, minima): each lag's value from tau_min to tau_max (column j is lag
        tau_min + j) where it is a local minimum, inf elsewhere; and each frame's deepest."""
        seg = cmndf[:, self.tau_min - 1 : self.tau_max + 1]
        core = seg[:, 1:-1]
        minima = (core <= seg[:, :-2]) & (core <= seg[:, 2:])
        depth = np.where(minima, core, np.inf)
        return depth, depth.min(axis=1)

    def refine(self, cmndf: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parabolic interpolation around integer lags `tau` (m, c): (lag, value there)."""
        rows = np.arange(cmndf.shape[0]).reshape((-1,) + (1,) * (tau.ndim - 1))
        left = cmndf[rows, tau - 1]
        mid = cmndf[rows, tau]
        right = cmndf[rows, np.minimum(tau + 1, self.tau_max)]
        denom = left - 2 * mid + right
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = np.where(np.abs(denom) > EPS, 0.5 * (left - right) / denom, 0.0)
        return tau + np.clip(shift, -1, 1), mid

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (f0_hz, aperiodicity) per frame; f0 is NaN where unvoiced."""
        m = frames.shape[0]
        if m == 0:
            return np.zeros(0), np.zeros(0)
        cmndf = self.cmndf(frames)
        depth, best = self.dips(cmndf)
        # The deepest dip decides voicing; among dips nearly as deep, the shortest lag wins
        # (YIN's first-dip rule guards against sub-octaves, the depth test against
        # octave-up jumps on band-limited telephone speech whose fundamental is missing).
        has = best < self.threshold
        first = np.argmax(depth <= best[:, None] + self.tolerance, axis=1)
        tau_f, mid = self.refine(cmndf, first + self.tau_min)
        f0 = np.where(has, SAMPLE_RATE / tau_f, np.nan)
        return f0, np.where(has, mid, 1.0)


def first_and_primes(n: int) -> np.ndarray:
    """Boolean mask over 0..n: True at 1 and at the primes."""
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    for p in range(2, int(np.sqrt(n)) + 1):
        if keep[p]:
            keep[p * p :: p] = False
    return keep


class HarmonicPitch:
    """YIN's candidate periods, the octave chosen by the harmonics in the spectrum.

    Voicing is YIN's (the deepest dip of the normalised difference under `threshold`), so
    the frames called voiced are the same as plain YIN's. The period is chosen among the
    dips within `spread` of the deepest (at most `candidates` of them): each candidate
    pitch is scored by how well the frame's spectrum matches a harmonic kernel at it, in
    the manner of SWIPE' (Camacho & Harris 2008): a cosine lobe around the first and each
    prime harmonic (positive on the harmonic, negative half-way to the next), weighted by
    1/sqrt(frequency), correlated with the compressed magnitude spectrum (|X|^1/3, Hann) over
    `band_hz`. A pitch an octave (or a formant's period) too high leaves the harmonics
    between its own falling on its negative lobes; one an octave too low puts most of its
    prime lobes between the true harmonics. So where the fundamental is missing (the
    300 Hz high-pass of a telephone line) or one harmonic dominates, the harmonic series
    still decides, where YIN's shortest-lag rule would take a fraction of the period.
    YIN's own pick (the shortest lag within its tolerance of the deepest dip) stands
    unless another candidate correlates better by `margin`: in doubt, YIN's choice. (With
    no margin the kernel takes the octave below on rough, period-doubled shouts, whose
    subharmonics fill its odd lobes.) Frames with a single candidate keep it, and no
    spectrum is computed for them. See docs/detection.md and bench/pitch_accuracy.py.
    """

    STEPS_PER_OCTAVE = 384
    """Resolution of the kernel table: 1/32 semitone (0.18 % of the pitch, a 0.06
    harmonic shift at the 3.4 kHz edge for a 100 Hz voice)."""

    def __init__(
        self,
        frame_length: int,
        fmin_hz: float,
        fmax_hz: float,
        threshold: float,
        spread: float = 0.1,
        candidates: int = 4,
        band_hz: tuple[float, float] = (60.0, 3400.0),
        margin: float = 0.08,
    ) -> None:
        self.yin = Yin(frame_length, fmin_hz, fmax_hz, threshold)
        self.margin = margin
        self.spread = spread
        self.candidates = candidates
        # The spectrum is YIN's own FFT of the frame (frame_length points, 25 Hz apart for
        # 40 ms), Hann-windowed in the frequency domain: 0.5 X[k] - 0.25 (X[k-1] + X[k+1]).
        df = SAMPLE_RATE / frame_length
        lo = max(1, int(np.ceil(band_hz[0] / df)))
        hi = min(frame_length // 2 - 1, int(band_hz[1] / df))
        self.bins = np.arange(lo, hi + 1)
        freqs = self.bins * df
        # One kernel per pitch on a log grid a semitone beyond the range at each end
        # (parabolic refinement can step just outside it), normalised to unit length.
        self.f_lo = fmin_hz / 2 ** (1 / 12)
        n = int(np.ceil(np.log2(fmax_hz * 2 ** (1 / 12) / self.f_lo) * self.STEPS_PER_OCTAVE))
        f0 = self.f_lo * 2 ** (np.arange(n + 1) / self.STEPS_PER_OCTAVE)
        ratio = freqs / f0[:, None]  # each bin in harmonics of each pitch
        lobes = first_and_primes(int(band_hz[1] / self.f_lo) + 2)
        k = np.minimum(np.rint(ratio).astype(np.intp), lobes.shape[0] - 1)
        kernel = np.where(lobes[k] & (ratio >= 0.5), np.cos(2 * np.pi * ratio), 0.0)
        kernel /= np.sqrt(freqs)
        kernel /= np.sqrt((kernel * kernel).sum(axis=1, keepdims=True))
        self.kernels = kernel.astype(np.float32)

    def score(self, spec: np.ndarray, f0: np.ndarray) -> np.ndarray:
        """Harmonic-kernel correlation (m, c) of each frame's spectrum (YIN's FFT) with
        candidate pitches f0 (m, c)."""
        b = self.bins
        hann = 0.5 * spec[:, b] - 0.25 * (spec[:, b - 1] + spec[:, b + 1])
        amp = np.cbrt(np.sqrt(hann.real**2 + hann.imag**2))  # |X|^(1/3)
        amp /= np.maximum(np.sqrt((amp * amp).sum(axis=1, keepdims=True)), EPS)
        step = np.rint(np.log2(f0 / self.f_lo) * self.STEPS_PER_OCTAVE).astype(np.intp)
        kern = self.kernels[np.clip(step, 0, self.kernels.shape[0] - 1)]
        return np.einsum("mcb,mb->mc", kern, amp.astype(np.float32))

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (f0_hz, aperiodicity) per frame; f0 is NaN where unvoiced."""
        m = frames.shape[0]
        if m == 0:
            return np.zeros(0), np.zeros(0)
        yin = self.yin
        cmndf, spec = yin.analyse(frames)
        depth, best = yin.dips(cmndf)
        has = best < yin.threshold
        # YIN's own pick: the shortest lag among dips within its tolerance of the deepest.
        first = np.argmax(depth <= best[:, None] + yin.tolerance, axis=1)
        tau_f, ap = yin.refine(cmndf, first + yin.tau_min)
        near = depth <= best[:, None] + self.spread
        several = np.flatnonzero(has & (np.count_nonzero(near, axis=1) > 1))
        if several.size and self.candidates > 1:
            # Candidates: YIN's pick first, then the deepest other dips within `spread`.
            d = np.where(near[several], depth[several], np.inf)
            d[np.arange(several.size), first[several]] = -1.0
            c = min(self.candidates, d.shape[1])
            cols = np.argpartition(d, c - 1, axis=1)[:, :c]
            key = np.take_along_axis(d, cols, axis=1)
            order = np.argsort(key, axis=1)
            cols = np.take_along_axis(cols, order, axis=1)
            valid = np.isfinite(np.take_along_axis(key, order, axis=1))
            cand_tau, cand_ap = yin.refine(cmndf[several], cols + yin.tau_min)
            score = self.score(spec[several], SAMPLE_RATE / cand_tau)
            score = np.where(valid, score, -np.inf)
            top = np.argmax(score, axis=1)
            rows = np.arange(several.size)
            switch = score[rows, top] - score[:, 0] > self.margin
            tau_f[several] = np.where(switch, cand_tau[rows, top], tau_f[several])
            ap[several] = np.where(switch, cand_ap[rows, top], ap[several])
        f0 = np.where(has, SAMPLE_RATE / tau_f, np.nan)
        return f0, np.where(has, ap, 1.0)


class BandBalance:
    """Spectral balance: energy 1-3.4 kHz minus energy 0.3-1 kHz, in dB (alpha-ratio style).

    Both bands sit inside the 300-3400 Hz telephone band, so the cue survives 8 kHz lines,
    and as a ratio it is unchanged by gain.
    """

    def __init__(self, frame_length: int, low_hz=(300.0, 1000.0), high_hz=(1000.0, 3400.0)):
        self.nfft = 1 << int(np.ceil(np.log2(frame_length)))
        self.window = np.hanning(frame_length)
        freqs = np.fft.rfftfreq(self.nfft, 1 / SAMPLE_RATE)
        # Both bands are runs of consecutive bins: keep them as slices (no gather copies).
        self.low = slice(*np.searchsorted(freqs, low_hz))
        self.high = slice(*np.searchsorted(freqs, high_hz))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if frames.shape[0] == 0:
            return np.zeros(0)
        spec = np.fft.rfft(frames * self.window, self.nfft, axis=1)[:, : self.high.stop]
        p = spec.real**2 + spec.imag**2
        return 10 * np.log10((p[:, self.high].sum(1) + EPS) / (p[:, self.low].sum(1) + EPS))
