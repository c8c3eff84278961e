"""Crosstalk guard: speech on one channel that is only the other speaker's bleed.

Softphone echo and headset bleed put an attenuated copy of one speaker into the other's
channel; webrtcvad calls it speech, and its pitch is the other person's. A hop of channel X
is taken as bleed while channel Y speaks when X's 400 ms loudness, relative to X's own
typical speech level, is more than `margin_db` below Y's, relative to Y's typical level.
Real double talk keeps both near their own levels, whatever the gains of the two lines.

Two lavaliers in one room, a speakerphone or room echo put each voice on both channels only
a few dB apart, where that margin cannot tell. There the channels carry the same sound,
one a delayed, filtered copy of the other: `EchoLocator` cross-correlates the two channels
tick by tick (lags within +-100 ms, at 4 kHz), and where the normalised correlation peak is
high the sound is one voice heard twice. It goes to its earlier channel (the copy travelled
further), or to the louder one when they arrive together; the other channel's hops are not
speech, and the tail of that sound (reverberation, the VAD's hangover) stays with it.
Two different voices at once correlate weakly, so real double talk stays double talk. When
one voice is much louder, though, the quieter one's own voice sits under the louder one's
copy on its channel and the correlation stays high: each direction's leak is learned as a
FIR path (`LeakPath`), and a follower with clearly more energy than the path explains
(against plain copies of the source at the level of its speech), that does not repeat at
the source's own pitch period as what a path leaves over of a copy does, carries its own
voice too and keeps its speech.

A network echo (a caller's speakerphone, a line hybrid without echo cancelling) brings one
side's voice back on the other's channel 150-300 ms late, past those lags. `BulkDelay` finds
each direction's delay over the call (whitened cross-correlation of both channels' last
second, summed over the ticks where both are speech, with a peak-to-sidelobe test), and from
then on each tick is also tested against the source one bulk delay earlier: a far copy has
its own learned path (`FarRoute`) and the same double-talk tests as a near leak. Runs on the
analysis thread.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from audio.types import HOP, SAMPLE_RATE, HopFeatures

MIXED_DB = -3.0
"""Double talk in which the follower's own voice is less than half its channel's energy
(what the path leaves over, re the channel): the pitch and spectrum there are the copy's."""
HISTORY = 100
"""Ticks of plain copy (20 s of shared sound) the misfit and source levels are taken over."""
ALONE_EVERY = 5
"""Of the ticks where a channel talks alone, every this many tells its level as a source."""
MIN_LEARNED = 8
"""Ticks of plain copy (1.6 s) before a path is fitted: 600 taps want several thousand
samples of the source."""
SPEAKING_DB = 10.0
"""A source this far below its own louder speech (`EchoLocator.source_db`) is at a turn's
edge or in its tail: a copy there is mostly the room's reverberation beyond the learned
path, which no path of `taps` explains, so it neither teaches the misfit nor is judged by it."""
FOREIGN = 0.5
"""A residual counts as a voice of its own only if less than this share of it repeats at the
source's pitch period (`source_periodic`): more, and it is the source's voice the path left
over (see `EchoLocator._own_voice`)."""
FLOOR_DB = 20.0
"""While the other channel speaks, a channel's hop whose 400 ms loudness is this far under
its own typical speech level is not its speaker talking, whatever the other channel's
level: conversational speech stays within about 10 dB of a speaker's typical level (soft
to raised, the ANSI S3.5 steps are 6 dB), and a 400 ms window reaches 20 dB under it only
in the first and last 100-200 ms of speech. What the VAD hears there is the other voice's
echo or the room's reverberation of it, with no direct path to correlate."""
PSR = 10.0
"""Peak-to-sidelobe ratio of the whitened cross-correlation from which a far copy is known
(`BulkDelay`): a network echo gave 18-600 on the real call, no echo at most 4.9."""
FAR_WINDOW_S = 0.025
"""How far around the bulk delay a far copy is looked for and its path starts."""
FAR_SETTLED = 40
FAR_LEARN_EVERY = 4
"""A far path learns from every plain copy up to `FAR_SETTLED` of them (8 s), then from one
in `FAR_LEARN_EVERY`: the path is stable, and a copy is nearly every tick of an echoed call."""
RIDGE = 0.01
"""Ridge on the path's normal equations (re the source's energy): a voice has next to no
energy in some bands (below 100 Hz, the top of the band), where an unregularised path
grows without bound and then predicts a copy louder than the channel."""


def _decimate(x: np.ndarray, d: int) -> np.ndarray:
    """`x` averaged over runs of `d` samples (a trailing part run dropped)."""
    m = (x.size // d) * d
    return x[:m].reshape(-1, d).mean(axis=1)


def _mean_db(x: np.ndarray) -> float:
    """Mean energy per sample of `x`, dB."""
    return float(10 * np.log10(max(float(x @ x), 1e-20) / max(x.size, 1)))


def _nac(v: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of `v` at `lags` (samples, each < v.size)."""
    size = 1 << int(np.ceil(np.log2(2 * v.size)))
    f = np.fft.rfft(v, size)
    ac = np.fft.irfft(f * np.conj(f), size)[: v.size]
    e = np.concatenate([[0.0], np.cumsum(v * v)])
    head = e[v.size - lags]  # energy of v[: -L]
    tail = e[v.size] - e[lags]  # energy of v[L:]
    return ac[lags] / np.sqrt(np.maximum(head * tail, 1e-30))


PERIOD_LAGS = np.arange(10, 101)
"""Pitch periods looked at, in samples at 4 kHz: 40-400 Hz."""


def _normalised_corr(
    y: np.ndarray, x: np.ndarray, ey: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`y` slid along `x` at lags 0..n-1: the correlation sum_m y[m] x[m + k], normalised
    by `ey` (the energy of `y`) and the energy of the part of `x` each lag compares, so a
    peak is at most 1 whatever the lag; and that energy of `x` per lag."""
    size = 1 << int(np.ceil(np.log2(x.size + y.size)))
    r = np.fft.irfft(np.conj(np.fft.rfft(y, size)) * np.fft.rfft(x, size), size)[:n]
    cs = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    ex = cs[y.size : y.size + n] - cs[:n]
    norm = np.abs(r) / np.sqrt(ey * np.maximum(ex, 1e-20))
    norm[ex <= 1e-12] = 0.0
    return norm, ex


def source_periodic(r: np.ndarray, x: np.ndarray, frame: int = 200) -> float | None:
    """How much of the residual `r` repeats at the source `x`'s own pitch period: the
    normalised autocorrelation of `r` at that period, energy-weighted over the 50 ms frames
    (half overlapping) where the source is voiced; None where it is voiced in none. What a
    path leaves over of a copy is the source's voice again, periodic with it; a second voice
    under the copy has a period of its own."""
    num = den = 0.0
    for s in range(0, r.size - frame + 1, frame // 2):
        ax = _nac(x[s : s + frame], PERIOD_LAGS)
        k = int(np.argmax(ax))
        if ax[k] < 0.6:
            continue
        rr = r[s : s + frame]
        er = float(rr @ rr)
        num += er * float(_nac(rr, PERIOD_LAGS[k : k + 1])[0])
        den += er
    return num / den if den > 0 else None


class LeakPath:
    """How one channel's sound reaches the other channel: a FIR path, learned.

    A leak is the source filtered by the room and the far microphone (delay, colour,
    reverberation), and that path is stable over a call. It is fitted by least squares
    (Wiener: Toeplitz normal equations, slowly forgetting) on ticks that are clearly one
    voice heard twice; what the path does not predict of the copy is its misfit. Energy on
    the copy's channel well above that misfit is a voice of its own there: double talk.

    Args:
        taps: path length in decimated samples (the longest delay plus the room's tail).
        forget: weight of what was learned before at each new tick.
    """

    def __init__(self, taps: int, forget: float = 0.98) -> None:
        self.taps = taps
        self.forget = forget
        self.auto = np.zeros(taps)
        self.cross = np.zeros(taps)
        self.learned = 0
        self.path: np.ndarray | None = None  # the taps
        self._spectra: dict[int, np.ndarray] = {}  # rfft of the taps per FFT size
        # What the path left over of the latest plain copies (dB re the copy).
        self.misfits: deque[float] = deque(maxlen=HISTORY)
        self.last_residual: np.ndarray | None = None  # what the last prediction left over

    def misfit_db(self, q: float = 90.0) -> float | None:
        """The residual a share `q` (%) of the latest plain copies stay below (None until
        enough are known)."""
        if len(self.misfits) < MIN_LEARNED:
            return None
        return float(np.percentile(self.misfits, q))

    def size(self, n: int) -> int:
        """FFT size for a tick of `n` samples (no wrap-around in any product below)."""
        return 1 << int(np.ceil(np.log2(n + 2 * self.taps)))

    def learn(self, x: np.ndarray, x_f: np.ndarray, y: np.ndarray) -> None:
        """One tick of plain copy: `x` the source's span, `taps` samples of history then
        the tick, and `x_f` its rfft at `size(y.size)`; `y` the copy's tick."""
        p, size = self.taps, self.size(y.size)
        y_f = np.fft.rfft(y, size)
        corr = np.fft.irfft(x_f * np.conj(y_f), size)  # corr[m] = sum y[n] x[n + m]
        # The source's autocorrelation over the tick's own samples against their history
        # (sum over the tick of x[m] x[m - j]): the products the normal equations hold.
        z_f = np.fft.rfft(np.concatenate([np.zeros(p), x[p:]]), size)
        auto = np.fft.irfft(z_f * np.conj(x_f), size)[:p]
        self.auto = self.forget * self.auto + auto
        self.cross = self.forget * self.cross + corr[p:0:-1]  # tap k is lag p - k
        self.learned += 1
        if self.learned >= MIN_LEARNED and self.learned % 4 == 0:
            from scipy.linalg import solve_toeplitz  # on first fit: keeps imports light

            col = self.auto.copy()
            col[0] *= 1.0 + RIDGE
            if col[0] > 1e-12:
                self.path = solve_toeplitz(col, self.cross)
                self._spectra = {}

    def residual_db(self, x_f: np.ndarray, y: np.ndarray, ey: float) -> float | None:
        """What the path does not explain of `y` (dB re `y`'s energy), or None untaught."""
        if self.path is None or ey <= 1e-12:
            return None
        p, n = self.taps, y.size
        size = self.size(n)
        if size not in self._spectra:
            self._spectra[size] = np.fft.rfft(self.path, size)
        pred = np.fft.irfft(self._spectra[size] * x_f, size)[p : p + n]
        r = y - pred
        self.last_residual = r
        resid = float(10 * np.log10(max(float(r @ r), 1e-20) / ey))
        # A prediction louder than what it predicts is a path that no longer fits (someone
        # moved): it says nothing about a voice.
        return resid if resid < 0.0 else None


class BulkDelay:
    """How late each channel carries a far copy of the other: a network echo.

    A caller's speakerphone or a line hybrid without echo cancelling sends the agent's own
    voice back on the customer's channel 150-300 ms late, past the lags `EchoLocator`
    searches tick by tick. Over ticks where both channels are speech, the two channels'
    last second (averaged to 1 kHz, Hann window) is cross-correlated with phase transform
    weighting (GCC-PHAT: the cross spectrum, summed over ticks with forgetting, whitened),
    which turns a copy at a fixed delay into one sharp peak whatever the voice's spectrum
    and turns two different voices, or a room's reverberation, into low noise. A direction
    has a bulk delay once its highest peak in `min_delay_s`..`max_delay_s` stands out
    `psr` times over the other lags' RMS (peak-to-sidelobe ratio). Causal: each tick adds
    to the sum, and the delay is re-read every `every` ticks.

    Args:
        decim: the correlation runs on the signal averaged over this many samples.
        frame: samples (decimated) of each channel's latest audio a tick contributes.
        min_delay_s, max_delay_s: the delays looked at (shorter ones are near leaks).
        forget: weight of the earlier ticks' cross spectrum at each new tick.
        min_ticks: ticks summed before any delay is read.
        psr: peak-to-sidelobe ratio from which a peak is a copy.
    """

    def __init__(
        self,
        decim: int = 16,
        frame: int = 1024,
        min_delay_s: float = 0.1,
        max_delay_s: float = 0.4,
        forget: float = 0.995,
        min_ticks: int = 10,
        psr: float = PSR,
        every: int = 2,
    ) -> None:
        self.decim = decim
        self.frame = frame
        fs = SAMPLE_RATE / decim
        self.lo = int(round(min_delay_s * fs))
        self.hi = int(round(max_delay_s * fs))
        self.guard = int(round(0.02 * fs))  # lags beside a peak that belong to it
        self.forget = forget
        self.min_ticks = min_ticks
        self.psr = psr
        self.every = every
        self.window = np.hanning(frame)
        self.cross = np.zeros(frame // 2 + 1, complex)
        self.ticks = 0
        # Per follower (0: the agent's channel lags the customer's), the bulk delay in
        # stream samples (None: no far copy), and its last peak-to-sidelobe ratio.
        self.delay: list[int | None] = [None, None]
        self.ratio = [0.0, 0.0]

    def update(self, a: np.ndarray, b: np.ndarray) -> None:
        """One tick: both channels' latest `frame` samples, averaged over `decim`."""
        x = a * self.window
        y = b * self.window
        self.cross = self.forget * self.cross + np.conj(np.fft.rfft(x)) * np.fft.rfft(y)
        self.ticks += 1
        if self.ticks >= self.min_ticks and self.ticks % self.every == 0:
            g = np.fft.irfft(self.cross / np.maximum(np.abs(self.cross), 1e-30), self.frame)
            # g[k]: the customer's channel lags the agent's by k; g[-k] the other way.
            sides = (np.concatenate([g[:1], g[: -self.hi - 1 : -1]]), g[: self.hi + 1])
            for f, side in enumerate(sides):
                k = self.lo + int(np.argmax(side[self.lo :]))
                peak = side[k - self.guard : k + self.guard + 1]
                rest = max(float(side @ side) - float(peak @ peak), 0.0)
                rms = np.sqrt(rest / max(side.size - peak.size, 1))
                self.ratio[f] = float(side[k]) / max(float(rms), 1e-12)
                # The peak must lie inside the range, not on the near leaks' shoulder; a
                # delay once known holds at the same lag down to half the ratio.
                known = self.delay[f]
                held = known is not None and abs(k * self.decim - known) <= self.guard * self.decim
                ok = self.ratio[f] >= (self.psr / 2 if held else self.psr) and k > self.lo
                self.delay[f] = (known if held else k * self.decim) if ok else None


class FarRoute:
    """A far copy's way from one channel into the other: its bulk delay, the path learned
    around it and the copy's usual level (dB re the source)."""

    def __init__(self, delay: int, window: int, taps: int) -> None:
        self.delay = delay  # stream samples
        self.offset = delay - window  # the path's first tap, stream samples
        self.path = LeakPath(taps)
        self.leak_db: float | None = None
        self.plain = 0  # plain copies seen


class EchoLocator:
    """Which channel a sound shared by both channels comes from, per tick.

    Args:
        max_lag_s: the longest delay of a copy considered: a room's direct path is a few
            ms, a speakerphone's played-out sound reaches the microphone 20-100 ms late.
        min_corr: normalised correlation peak from which the two channels carry one voice.
        decim: the correlation runs on the signal averaged over this many samples.
        sure_corr: from this peak on, a tick also teaches the level of the copy.
        own_voice_db: a follower this much louder than its copy usually is, or whose
            energy the learned path leaves this much more unexplained than it usually
            does, carries its own voice too (double talk), and keeps its speech.
        path_s: the room's response the learned path covers beyond `max_lag_s`.
        floor_db: what is left over must be at most this far below the follower's own
            level as a source to be a voice.
    """

    def __init__(
        self,
        max_lag_s: float = 0.1,
        min_corr: float = 0.6,
        decim: int = 4,
        sure_corr: float = 0.9,
        own_voice_db: float = 4.0,
        path_s: float = 0.05,
        floor_db: float = 15.0,
    ) -> None:
        self.floor_db = floor_db
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
        # Each direction's learned path (index = the follower) and each channel's level
        # as a source (dB per decimated sample), for the double-talk test.
        self.taps = int(round((max_lag_s + path_s) * SAMPLE_RATE / decim))
        self.paths = [LeakPath(self.taps), LeakPath(self.taps)]
        self.source_levels: tuple[deque[float], deque[float]] = (
            deque(maxlen=HISTORY),
            deque(maxlen=HISTORY),
        )
        self.source_count = [0, 0]  # levels ever added to `source_levels`
        self._source_cache = [(-1, 0.0), (-1, 0.0)]  # (count, `source_db`) per channel
        self.double_talk = [0, 0]  # ticks each channel kept as its own voice over a copy
        self.alone_ticks = [0, 0]
        # Hops of the last `judge` (per channel) of double talk under a louder copy.
        self.mixed = (np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
        # A far copy (network echo), per follower: its bulk delay, then the copy looked for
        # within `far_window` of it and its path (`far_taps`) learned as a near leak's is.
        self.bulk = BulkDelay(min_delay_s=max_lag_s)
        empty = np.zeros(0, np.float32)
        self.coarse = (empty, empty)  # the channels averaged for the bulk delay
        self.coarse_start: int | None = None  # stream time of the first group
        self.coarse_off = 0  # index (in groups) of coarse[0][0]
        self.pending = (empty, empty)  # samples of a group not yet complete
        self.far: list[FarRoute | None] = [None, None]
        self.far_window = int(round(FAR_WINDOW_S * SAMPLE_RATE / decim)) * decim
        self.far_taps = int(round((2 * FAR_WINDOW_S + path_s) * SAMPLE_RATE / decim))
        self.far_carry: tuple[int, int] | None = None
        self.far_hops = [0, 0]
        self.talk = (np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))  # see `_remember`
        # Whether each channel's speech in the latest tick was its own (kept, all voice).
        self.kept = [False, False]
        self.talk_start = 0
        # Samples held back: the near search and path, a far route's (its bulk delay, the
        # window, the path); the bulk delay's own second is held averaged (`coarse`).
        self.history = max(
            self.lag * decim,
            self.taps * decim,
            self.bulk.hi * self.bulk.decim + self.far_window + self.far_taps * decim,
        )

    def push(self, start: int, a: np.ndarray, b: np.ndarray) -> None:
        """Samples of both channels from stream time `start` (contiguous)."""
        if self.buf[0].size == 0:
            self.start = start
        self.buf = (np.concatenate([self.buf[0], a]), np.concatenate([self.buf[1], b]))
        # The bulk delay's view: averages over groups of `bulk.decim` samples counted from
        # the stream's first sample, whatever the blocks.
        d = self.bulk.decim
        if self.coarse_start is None:
            self.coarse_start = start
        joined = [np.concatenate([p, x]) for p, x in zip(self.pending, (a, b), strict=True)]
        m = joined[0].size // d * d
        self.coarse = (
            np.concatenate([self.coarse[0], _decimate(joined[0][:m], d)]),
            np.concatenate([self.coarse[1], _decimate(joined[1][:m], d)]),
        )
        self.pending = (joined[0][m:], joined[1][m:])

    def _coarse(self, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Both channels' last `bulk.frame` coarse samples before stream time `hi`."""
        assert self.coarse_start is not None
        end = (hi - self.coarse_start) // self.bulk.decim
        lo = end - self.bulk.frame
        out = []
        for x in self.coarse:
            seg = np.zeros(self.bulk.frame)
            s0, s1 = max(lo, self.coarse_off), min(end, self.coarse_off + x.size)
            if s1 > s0:
                seg[s0 - lo : s1 - lo] = x[s0 - self.coarse_off : s1 - self.coarse_off]
            out.append(seg)
        return out[0], out[1]

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

    def _follower(
        self, core: np.ndarray, b: np.ndarray, ea: float, eb: float
    ) -> tuple[int, float, float] | None:
        """(the channel, 0 or 1, that carries a copy of the other's sound, the normalised
        correlation peak, the copy's level over its source in dB), or None."""
        lag = self.lag
        if ea <= 1e-12 or eb <= 1e-12:
            return None
        # Lag k of `b` against `core` is a delay of k - `lag` samples.
        norm, eb_k = _normalised_corr(core, b, ea, 2 * lag + 1)
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
        ratio = 10 * np.log10((eb / ea) if follower == 1 else (ea / eb))
        return follower, peak, float(ratio)

    def _own_voice(
        self,
        f: int,
        peak: float,
        ratio: float,
        lo: int,
        hi: int,
        y: np.ndarray,
        far: FarRoute | None = None,
    ) -> float | None:
        """Whether follower `f`'s channel carries a voice of its own besides the copy in
        [lo, hi) (`y`: its decimated samples there): None if not, else that voice's share
        of the channel's energy (dB; 0 when only its level tells). Learns from plain
        copies: of the near leak, or with `far` of that far copy."""
        d = self.decim
        path = self.paths[f] if far is None else far.path
        off = 0 if far is None else far.offset
        x = _decimate(self._span(lo - off - path.taps * d, hi - off)[1 - f], d).astype(np.float64)
        y = y.astype(np.float64)
        x_f = np.fft.rfft(x, path.size(y.size))
        ey = float(y @ y)
        resid = path.residual_db(x_f, y, ey)
        if resid is not None:
            # What neither the learned path nor the best single delay explains (a path
            # still learning, or caught out by a sound it has not heard, can do worse
            # than the plain delayed copy the correlation peak stands for).
            resid = min(resid, float(10 * np.log10(max(1.0 - peak * peak, 1e-6))))
        src_db = _mean_db(x[path.taps :])
        known = self.leak_db[f] if far is None else far.leak_db
        sure = peak >= self.sure_corr
        # The source at the level of its speech, not at a turn's edge (see SPEAKING_DB):
        # only there is what the path leaves over comparable from tick to tick.
        src_level = self.source_db(1 - f)
        if src_level is None or src_db < src_level - SPEAKING_DB:
            resid = None
        if sure:
            # What a copy leaves over and how loud each voice is as a source, from every
            # tick that is clearly one voice heard twice (the odd double talk among them
            # does not move the high quantiles taken below).
            if resid is not None:
                path.misfits.append(resid)
            self._add_source(1 - f, float(src_db))
        misfit, level = path.misfit_db(), self.source_db(f)
        # Louder than the copy usually is, or more left over than nearly any plain copy
        # leaves; either way at a level the follower's own voice has as a source (known:
        # the tail of a turn, quiet on both channels, is not a voice).
        if level is not None:
            floor = level - self.floor_db
            y_db = _mean_db(y)
            louder = not sure and known is not None and ratio > known + self.own_voice_db
            if louder and y_db >= floor:
                return 0.0
            if (
                resid is not None
                and misfit is not None
                and resid > misfit + self.own_voice_db
                and y_db + resid >= floor
                and self._foreign(path, x[path.taps :])
            ):
                return resid
        if sure:
            # A plain copy: teach the copy's level and path.
            level_db = ratio if known is None else known + 0.1 * (ratio - known)
            if far is None:
                self.leak_db[f] = level_db
                path.learn(x, x_f, y)
            else:
                # A far copy is most of what an echoed call has: once its path has seen
                # `FAR_SETTLED` plain copies it learns from every `FAR_LEARN_EVERY`th.
                far.leak_db = level_db
                far.plain += 1
                if far.plain <= FAR_SETTLED or far.plain % FAR_LEARN_EVERY == 0:
                    path.learn(x, x_f, y)
        return None

    @staticmethod
    def _foreign(path: LeakPath, x: np.ndarray) -> bool:
        """What `path` left over of the last tick is not the source `x`'s voice again:
        less than `FOREIGN` of it repeats at the source's pitch period (or the source is
        not voiced there, and the period says nothing)."""
        if path.last_residual is None:
            return True
        rho = source_periodic(path.last_residual, x)
        return rho is None or rho < FOREIGN

    @property
    def far_known(self) -> bool:
        """Whether either direction has a far copy (a bulk delay) to test ticks against."""
        return self.far[0] is not None or self.far[1] is not None

    def _far_routes(self) -> None:
        """Follow the bulk delays: a route per far copy, anew when its delay moves."""
        for f in (0, 1):
            delay, route = self.bulk.delay[f], self.far[f]
            if delay is None:
                self.far[f] = None
            elif route is None or abs(route.delay - delay) > self.far_window // 2:
                self.far[f] = FarRoute(delay, self.far_window, self.far_taps)
                self.kept = [False, False]  # noted only while a far route is known

    def _far_copy(self, f: int, lo: int, hi: int) -> tuple[float, float, np.ndarray] | None:
        """Follower `f`'s tick [lo, hi) against the source around the bulk delay: (the
        normalised correlation peak, the copy's level over its source in dB, the tick's
        decimated samples), or None where either side is silent."""
        route = self.far[f]
        assert route is not None
        d, w = self.decim, self.far_window
        y = _decimate(self._span(lo, hi)[f], d).astype(np.float64)
        x = _decimate(self._span(lo - route.delay - w, hi - route.delay + w)[1 - f], d)
        ey = float(y @ y)
        if ey <= 1e-12:
            return None
        norm, ex = _normalised_corr(y, x, ey, x.size - y.size + 1)
        k = int(np.argmax(norm))
        if ex[k] <= 1e-12:
            return None
        return float(norm[k]), float(10 * np.log10(ey / ex[k])), y

    def _far_judge(
        self,
        t0: int,
        tick: int,
        lo: int,
        hi: int,
        speech: tuple[np.ndarray, np.ndarray],
        voiced: tuple[np.ndarray, np.ndarray] | None,
        level: tuple[np.ndarray, np.ndarray] | None,
        ref: tuple[float | None, float | None],
        floor_db: float,
    ) -> int | None:
        """The channel whose speech in this tick is a far copy of the other's voice (or
        that copy's tail), None, or -1 where a channel keeps its speech over a far copy:
        it carries a voice of its own too (double talk), or the copy fills a pause of the
        follower's own talk (its hops stay speech but not voice)."""
        best: tuple[float, int, float, np.ndarray] | None = None
        for f in (0, 1):
            route = self.far[f]
            if route is None or not speech[f][t0 : t0 + tick].any():
                continue
            w = self.far_window
            if not self._spoke(1 - f, lo - route.delay - w, hi - route.delay + w):
                continue  # no speech of the source to be a copy of
            got = self._far_copy(f, lo, hi)
            if got is not None and got[0] >= self.min_corr and (best is None or got[0] > best[0]):
                best = (got[0], f, got[1], got[2])
        if best is not None:
            peak, f, ratio, y = best
            route = self.far[f]
            own = self._own_voice(f, peak, ratio, lo, hi, y, route)
            if own is not None:
                self.double_talk[f] += 1
                if own < MIXED_DB:
                    self.mixed[f][t0 : t0 + tick] = speech[f][t0 : t0 + tick]
                return -1
            self.far_carry = (f, hi + self.tail)
            if self.kept[f]:
                # The follower spoke in its own voice up to this tick: a pause inside its
                # turn that the copy fills stays its turn (a tick at most: one voiced tick
                # before), or the turn would restart as a new onset over the source.
                self.mixed[f][t0 : t0 + tick] = speech[f][t0 : t0 + tick]
                return -1
            return f
        for f in (0, 1):
            route = self.far[f]
            if route is None or not speech[f][t0 : t0 + tick].any():
                continue
            unvoiced, low = self._quiet(f, t0, tick, voiced, level, ref, floor_db)
            if self.far_carry is not None and self.far_carry[0] == f and lo < self.far_carry[1]:
                # The far copy's tail (its reverberation, the VAD's hangover) stays with
                # the follower unless it has a voice of its own there.
                y = _decimate(self._span(lo, hi)[f], self.decim)
                x = _decimate(self._span(lo - route.delay, hi - route.delay)[1 - f], self.decim)
                own = float(y @ y) / max(float(x @ x), 1e-20)
                if self._tail_stays(own, route.leak_db, unvoiced or low):
                    return f
            elif unvoiced and low and self._spoke(1 - f, lo - route.delay, lo):
                # No voice and far under the follower's own speech while the source spoke
                # one delay earlier (in its own voice, in ticks already judged): what the
                # VAD hears there is the echo on the line's noise (an echo all through the
                # call also moves the VAD's noise model).
                return f
        return None

    @staticmethod
    def _quiet(
        f: int,
        t0: int,
        tick: int,
        voiced: tuple[np.ndarray, np.ndarray] | None,
        level: tuple[np.ndarray, np.ndarray] | None,
        ref: tuple[float | None, float | None],
        floor_db: float,
    ) -> tuple[bool, bool]:
        """Channel `f`'s tick from hop `t0`: whether it has no voiced hop, and whether its
        loudest hop is more than `floor_db` under its typical level (`ref`)."""
        sl = slice(t0, t0 + tick)
        unvoiced = voiced is not None and not voiced[f][sl].any()
        typical = ref[f]
        if level is None or typical is None:
            return unvoiced, False
        return unvoiced, bool(level[f][sl].max() < typical - floor_db)

    def _tail_stays(self, own: float, known: float | None, quiet: bool) -> bool:
        """A shared sound's tail stays with its follower: the follower is quiet there, or
        its energy over the source's (`own`) is not clearly more than its copy usually has
        (`known`, dB; unknown: it stays)."""
        return quiet or known is None or 10 * np.log10(own + 1e-20) <= known + self.own_voice_db

    def _kept(
        self,
        start: int,
        t0: int,
        tick: int,
        talk: tuple[np.ndarray, np.ndarray],
        voiced: tuple[np.ndarray, np.ndarray] | None,
        masks: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """Tick `t0` judged: note whether each channel kept its own speech there, voiced
        and all of it voice (not a turn's unvoiced end or its hangover), and forget the
        hops given to the other channel as its copy (what `_spoke` looks back on is each
        channel's own speech)."""
        sl = slice(t0, t0 + tick)
        base = (start - self.talk_start) // HOP
        for i in (0, 1):
            own = talk[i][sl] if voiced is None else voiced[i][sl]
            self.kept[i] = bool(
                own.any() and not masks[i][sl].any() and not self.mixed[i][sl].any()
            )
            if masks[i][sl].any():
                gone = np.flatnonzero(masks[i][sl]) + base + t0
                self.talk[i][gone[gone >= 0]] = False

    def _remember(self, start: int, speech: tuple[np.ndarray, np.ndarray]) -> None:
        """Each channel's speech hops as the VAD gave them (less, once judged, the hops that
        were the other's copy: `_kept`), for looking one delay back."""
        if self.talk_start + self.talk[0].size * HOP != start:
            self.talk_start = start
            self.talk = (np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
        keep = -(-self.history // HOP)
        joined = [np.concatenate([old, new]) for old, new in zip(self.talk, speech, strict=True)]
        cut = max(0, joined[0].size - keep - speech[0].size)
        self.talk = (joined[0][cut:], joined[1][cut:])
        self.talk_start += cut * HOP

    def _spoke(self, i: int, lo: int, hi: int) -> bool:
        """Whether channel i was speech in [lo, hi) of stream time (as far as remembered)."""
        a = max(0, (lo - self.talk_start) // HOP)
        b = max(0, -(-(hi - self.talk_start) // HOP))
        return bool(self.talk[i][a:b].any())

    def source_db(self, i: int) -> float | None:
        """Channel i's level as the source of a shared sound (dB per decimated sample):
        the 75th percentile of the last ticks, the level of its louder speech."""
        levels = self.source_levels[i]
        if len(levels) < MIN_LEARNED:
            return None
        if self._source_cache[i][0] != self.source_count[i]:
            self._source_cache[i] = (self.source_count[i], float(np.percentile(levels, 75)))
        return self._source_cache[i][1]

    def _add_source(self, i: int, level_db: float) -> None:
        """Channel i's level as a source on one more tick."""
        self.source_levels[i].append(level_db)
        self.source_count[i] += 1

    def _alone(
        self,
        t0: int,
        tick: int,
        lo: int,
        hi: int,
        speech: tuple[np.ndarray, np.ndarray],
        voiced: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """A tick where at most one channel talks: its level as a source, if it does (one
        tick in `ALONE_EVERY`: a level a second is plenty for a percentile)."""
        for i in (0, 1):
            if voiced[i][t0 : t0 + tick].any() and not speech[1 - i][t0 : t0 + tick].any():
                self.alone_ticks[i] += 1
                if self.alone_ticks[i] % ALONE_EVERY != 1:
                    continue
                x = _decimate(self._span(lo, hi)[i], self.decim).astype(np.float64)
                self._add_source(i, _mean_db(x))

    def judge(
        self,
        start: int,
        both: np.ndarray,
        tick: int,
        voiced: tuple[np.ndarray, np.ndarray] | None = None,
        level: tuple[np.ndarray, np.ndarray] | None = None,
        ref: tuple[float | None, float | None] = (None, None),
        floor_db: float = 15.0,
        speech: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per hop from `start`: hops of each channel that are the other channel's voice.

        With `speech` (each channel's speech hops), a tick where one channel talks alone
        (voiced) tells its level as a source, as a clearly shared tick does.

        In the tail of a shared sound the follower keeps its own speech only where it has
        a voice of its own: voiced hops (`voiced`), a loudest hop (`level`, dB) no more
        than `floor_db` below its typical speech level (`ref`), and more energy than its
        copy usually has. The VAD's hangover and the copy's reverberation have none."""
        n = both.shape[0]
        masks = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
        self.mixed = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
        d, lag = self.decim, self.lag
        margin = lag * d
        talk = speech if speech is not None else (both, both)
        self._remember(start, talk)
        for t0 in range(0, n, tick):
            if t0 and self.far_known:
                self._kept(start, t0 - tick, tick, talk, voiced, masks)
            sel = both[t0 : t0 + tick]
            lo = start + t0 * HOP
            hi = start + min(n, t0 + tick) * HOP
            if sel.any():
                # Where both channels are speech a far copy shows: the bulk delays learn.
                self.bulk.update(*self._coarse(hi))
                self._far_routes()
            if not sel.any():
                far = None
                if self.far_known:
                    far = self._far_judge(t0, tick, lo, hi, talk, voiced, level, ref, floor_db)
                if far is not None and far >= 0:
                    hops = talk[far][t0 : t0 + tick]
                    masks[far][t0 : t0 + tick] = hops
                    self.far_hops[far] += int(hops.sum())
                    self.shared_hops[far] += int(hops.sum())
                elif far is None and speech is not None and voiced is not None:
                    self._alone(t0, tick, lo, hi, speech, voiced)
                continue
            a, b = (_decimate(x, d) for x in self._span(lo - margin, hi + margin))
            core = a[lag:-lag]
            ea = float(core @ core)
            eb = float(b[lag:-lag] @ b[lag:-lag])
            found = self._follower(core, b, ea, eb)
            follower: int | None = None
            hops = sel
            if found is not None:
                follower = found[0]
                fy = core if follower == 0 else b[lag:-lag]
                own = self._own_voice(follower, found[1], found[2], lo, hi, fy)
                if own is not None:
                    # Double talk: both keep their speech. Where the copy is still most
                    # of the follower's channel, its pitch and spectrum are the other
                    # voice's: that channel's hops are speech but not voice.
                    self.double_talk[follower] += 1
                    if own < MIXED_DB:
                        self.mixed[follower][t0 : t0 + tick] = sel
                    continue
                # The shared sound's tail runs on from its last tick heard on both channels.
                self.carry = (follower, hi + self.tail)
            elif self.far_known:
                follower = self._far_judge(t0, tick, lo, hi, talk, voiced, level, ref, floor_db)
                if follower == -1:
                    continue
                if follower is not None:
                    # A far copy: the follower's speech in the tick is all the copy's.
                    hops = talk[follower][t0 : t0 + tick]
                    self.far_hops[follower] += int(hops.sum())
            if follower is None and self.carry is not None and lo < self.carry[1]:
                # The tail of a shared sound (reverberation, the VAD's hangover) stays
                # with the channel that was following.
                f = self.carry[0]
                known = self.leak_db[f]
                # The follower against the source as it was one copy delay earlier.
                src = (a, b)[1 - f]
                s = self.delay[f]
                src = src[lag - s : src.size - lag - s]
                own = (ea, eb)[f] / max(float(src @ src), 1e-20)
                unvoiced, low = self._quiet(f, t0, tick, voiced, level, ref, floor_db)
                if self._tail_stays(own, known, unvoiced or low):
                    follower = f
            if follower is None:
                continue
            masks[follower][t0 : t0 + tick] = hops
            self.shared_hops[follower] += int(hops.sum())
        if n and self.far_known:
            self._kept(start, (n - 1) // tick * tick, tick, talk, voiced, masks)
        # Keep only what the next ticks may look back on.
        keep_from = start + n * HOP - self.history
        if keep_from > self.start:
            cut = min(keep_from - self.start, self.buf[0].size)
            self.buf = (self.buf[0][cut:], self.buf[1][cut:])
            self.start += cut
        if self.coarse_start is not None:
            d = self.bulk.decim
            keep = (start + n * HOP - self.coarse_start) // d - self.bulk.frame
            cut = min(keep - self.coarse_off, self.coarse[0].size)
            if cut > 0:
                self.coarse = (self.coarse[0][cut:], self.coarse[1][cut:])
                self.coarse_off += cut
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
            (a.speech, b.speech),
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
            feats[i].voiced[self.echo.mixed[i]] = False
        both = a.speech & b.speech
        if not both.any():
            return masks
        # 400 ms momentary loudness: syllable-level dips of real double talk average out,
        # a steady echo 20-40 dB down does not. A tick is judged once both references
        # exist (NaN compares false); a channel far under its own speech level is not
        # speech as soon as its own reference exists.
        rel = [
            a.momentary_db - np.repeat(refs[0], tick)[:n],
            b.momentary_db - np.repeat(refs[1], tick)[:n],
        ]
        for i in (0, 1):
            j = 1 - i
            bleed = both & ((rel[i] < rel[j] - self.margin_db) | (rel[i] < -FLOOR_DB))
            if bleed.any():
                self.bleed_hops[i] += int(bleed.sum())
                feats[i].speech[bleed] = False
                feats[i].voiced[bleed] = False
                masks[i][:] |= bleed
        return masks
