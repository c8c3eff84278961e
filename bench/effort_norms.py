"""Population norms of vocal effort: do gain-invariant cues tell shouting from calm speech of
an UNKNOWN speaker? (prints figures; not a test)

    python bench/effort_norms.py [--data DIR] [--actors 1,2] [--no-calm] [--no-cpp]

What a hot-start caller (shouting from the first word) gives the detector before any calm
speech of theirs is heard is their voice as it is: the customer's 2 s window summary (the
loudest half of the last 2 s of voiced frames: pitch in semitones re 100 Hz and spectral
balance 1-3.4 kHz over 0.3-1 kHz, both unchanged by gain) and the window's 10-90 % pitch
range. This measures those windows exactly as the detector computes them (the real
`Pipeline`, the customer's `VoiceTracker` history of judged windows) for:

- RAVDESS takes of actors 1-12, per actor and category: `normal` (neutral + calm),
  `emphatic` (angry, normal intensity), `shout` (angry, strong), and for the female
  actors `high4` (normal shifted up 4 st, the eval's `high_normal`) and `high567` (shifted
  5, 6 and 7 st, `high_excited`); each category's takes once, shuffled, 0.4-0.9 s apart,
  on the customer channel alone;
- each through the eval's line conditions: `clean`, `phone` (+6 dB, 300-3400 Hz, 8 kHz,
  G.711 mu-law), `gain12` (+12 dB, clipped) and `quiet` (-20 dB);
- the real calm call (`calls/auto_repairs_40_agentL_customerR_8k.flac`) as recorded and
  with the roles swapped, so that each side's voice is judged as a customer's.

Then a first-word rule of the form "window pitch >= P and balance >= B, with a coherent
contour (range <= 12 st)" is fitted on one half of the actors (1-6 or 7-12): over a grid,
the rule catching the most shouting actors (>= 2 consecutive windows, the 0.4 s yelling
hold) with no such run in any calm or high-voiced take of that half, in any condition;
ties go to the stricter rule. It is tested on the other half and on the real call (runs
of windows anywhere in the call, and in its first 6 s of talk, before the warm-up would
take over). `--no-cpp` skips the cepstral peak prominence column (CPP, Hillenbrand-style,
on the loudest half of the analysis' voiced frames, per take), which needs a second pass
over the audio. `--formants` adds LPC formant estimates per clean category (order 10 at 8
kHz on the same frames, pre-emphasised: F1 = the lowest resonance 250-1000 Hz, F3 = the
lowest 2000-3400 Hz, bandwidths under 400 Hz; medians over frames), to see whether the
vocal tract (and with it the speaker's register) can be told apart on a telephone band.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import eval_detection as ev  # noqa: E402

from audio.analyzer import AnalysisSettings, ChannelAnalyzer  # noqa: E402
from audio.sources import ArraySource, FileSource  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.pipeline import Pipeline  # noqa: E402

SR = 16_000
CATEGORIES = ("normal", "emphatic", "shout", "high4", "high567")
CALM_CATS = ("normal", "high4", "high567")
CONDITIONS = ("clean", "phone", "gain12", "quiet")
PITCH_GRID = (18.0, 19.0, 20.0, 21.0, 22.0, 23.0)
BALANCE_GRID = (-10.0, -8.0, -6.0, -4.0, -2.0, 0.0)
COHERENT_ST = 12.0
HOLD = 2  # consecutive judged windows (0.2 s ticks): the yelling hold, 0.4 s
FIRST_TALK_S = 6.0


@dataclass(frozen=True)
class Windows:
    """Judged customer windows of one channel: tick time (s), pitch, balance, range."""

    t: np.ndarray
    pitch: np.ndarray
    balance: np.ndarray
    spread: np.ndarray

    def hits(self, p: float, b: float) -> np.ndarray:
        return (self.pitch >= p) & (self.balance >= b) & (self.spread <= COHERENT_ST)


def judged(agent: np.ndarray, customer: np.ndarray) -> Windows:
    """Every window the customer's voice tracker judged (half filled or more)."""
    pipe = Pipeline(load_config(None), "norms")
    rows: list[tuple[float, float, float, float]] = []
    last = -1
    voice = pipe.detector.voices["customer"]
    for blk in ArraySource(agent, customer):
        pipe.push(blk)
        for j in voice.history:
            if j.t > last:
                rows.append((j.t / SR, j.stats.pitch_st, j.stats.balance_db, j.spread))
                last = j.t
    pipe.finish()
    a = np.array(rows).reshape(-1, 4)
    return Windows(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def condition(x: np.ndarray, cond: str) -> np.ndarray:
    if cond == "phone":
        return ev.phone_line(x, 6.0)[0]
    if cond == "gain12":
        return ev.apply_gain(x, 12.0)[0]
    if cond == "quiet":
        return (x * 0.1).astype(np.float32)
    return x


def channel(takes: Iterable[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The takes once each, shuffled, 0.4-0.9 s apart, with 0.5 s of silence at the start."""
    takes = list(takes)
    parts = [np.zeros(SR // 2, np.float32)]
    for i in rng.permutation(len(takes)):
        parts += [takes[i], np.zeros(int(rng.uniform(0.4, 0.9) * SR), np.float32)]
    return np.concatenate(parts)


def category_takes(ravdess: str, actor: int, cat: str) -> tuple[np.ndarray, ...]:
    a = ev.actor_takes(ravdess, actor)
    if cat == "high4":
        return ev.high_takes(ravdess, actor, "high_normal")
    if cat == "high567":
        return ev.high_takes(ravdess, actor, "high_excited")
    return {"normal": a.normal, "emphatic": a.emphatic, "shout": a.shout}[cat]


def _loud_voiced(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """`x` padded as the analysis sees it, and the hops of its loudest half of voiced
    frames (None without any voiced frame)."""
    an = ChannelAnalyzer("customer", AnalysisSettings())
    pad = np.zeros(int(0.3 * SR), np.float32)
    y = np.concatenate([pad, x.astype(np.float32), pad])
    y = y[: y.shape[0] // 480 * 480]
    f = an.push(0, y)
    if f is None or not f.voiced.any():
        return None
    idx = np.flatnonzero(f.voiced)
    return y, idx[f.level_db[idx] >= np.median(f.level_db[idx])]


def cpp(x: np.ndarray) -> float:
    """Median cepstral peak prominence (dB-cepstrum units) over the loudest half of the
    analysis' voiced frames of `x`: the peak of the real cepstrum of the 40 ms frame's dB
    spectrum at 70-800 Hz quefrencies, above the regression line over that range."""
    loud = _loud_voiced(x)
    if loud is None:
        return float("nan")
    y, idx = loud
    n, nfft = 640, 1024
    starts = np.clip(idx * 160 + 80 - n // 2, 0, y.shape[0] - n)
    frames = y[starts[:, None] + np.arange(n)].astype(np.float64) * np.hanning(n)
    db = 10 * np.log10(np.abs(np.fft.rfft(frames, nfft)) ** 2 + 1e-12)
    cep = np.fft.irfft(db, nfft)[:, SR // 800 : SR // 70]
    q = np.arange(cep.shape[1], dtype=np.float64)
    a = np.vstack([q, np.ones_like(q)]).T
    coef, *_ = np.linalg.lstsq(a, cep.T, rcond=None)
    line = (a @ coef).T
    k = np.argmax(cep, axis=1)
    rows = np.arange(cep.shape[0])
    return float(np.median(cep[rows, k] - line[rows, k]))


def formants(x: np.ndarray) -> tuple[float, float]:
    """(F1, F3) medians in Hz over the loudest half of the analysis' voiced frames."""
    import librosa

    loud = _loud_voiced(x)
    if loud is None:
        return float("nan"), float("nan")
    y, idx = loud
    y8 = librosa.resample(y, orig_sr=SR, target_sr=8000)
    f1: list[float] = []
    f3: list[float] = []
    for k in idx:
        c = int(k) * 80 + 40
        fr = y8[max(0, c - 160) : c + 160].astype(np.float64)
        if fr.shape[0] < 320 or not np.any(fr):
            continue
        fr = np.append(fr[0], fr[1:] - 0.63 * fr[:-1]) * np.hamming(fr.shape[0])
        r = np.roots(librosa.lpc(fr, order=10))
        r = r[np.imag(r) > 0]
        hz = np.angle(r) * 8000 / (2 * np.pi)
        bw = -np.log(np.abs(r)) * 8000 / np.pi
        hz = np.sort(hz[bw < 400])
        lo = hz[(hz > 250) & (hz < 1000)]
        hi = hz[(hz > 2000) & (hz < 3400)]
        if lo.size:
            f1.append(float(lo[0]))
        if hi.size:
            f3.append(float(hi[0]))
    return (
        float(np.median(f1)) if f1 else float("nan"),
        float(np.median(f3)) if f3 else float("nan"),
    )


def runs(hit: np.ndarray) -> int:
    """Number of runs of at least `HOLD` consecutive hits."""
    n, count = 0, 0
    for h in hit:
        n = n + 1 if h else 0
        count += n == HOLD
    return count


def fit(
    data: dict[tuple[int, str, str], Windows], actors: Iterable[int]
) -> tuple[float, float, int]:
    """(pitch, balance, shouting actors caught) of the rule fitted on `actors`."""
    actors = list(actors)
    best: tuple[int, float, float] | None = None
    for p in PITCH_GRID:
        for b in BALANCE_GRID:
            false = any(
                runs(w.hits(p, b))
                for (a, cat, _), w in data.items()
                if a in actors and cat in CALM_CATS
            )
            if false:
                continue
            caught = caught_actors(data, actors, p, b)
            key = (len(caught), p, b)
            if best is None or key[0] > best[0]:
                best = key
    if best is None:
        return float("inf"), float("inf"), 0
    return best[1], best[2], best[0]


def caught_actors(
    data: dict[tuple[int, str, str], Windows], actors: Iterable[int], p: float, b: float
) -> set[int]:
    """Actors whose clean shouts give a run of the rule."""
    return {
        a
        for a in actors
        if (a, "shout", "clean") in data and runs(data[a, "shout", "clean"].hits(p, b))
    }


def false_takes(
    data: dict[tuple[int, str, str], Windows], actors: Iterable[int], p: float, b: float
) -> list[str]:
    actors = list(actors)
    return sorted(
        f"{cat} a{a:02d} {cond}"
        for (a, cat, cond), w in data.items()
        if a in actors and cat in CALM_CATS and runs(w.hits(p, b))
    )


def real_call(path: Path, swap: bool) -> Windows:
    src = FileSource(str(path), agent_channel="right" if swap else "left")
    blocks = list(src)
    agent = np.concatenate([b.agent for b in blocks])
    customer = np.concatenate([b.customer for b in blocks])
    return judged(agent, customer)


def describe(w: Windows) -> str:
    if w.t.size == 0:
        return "no windows"
    return (
        f"pitch median {np.median(w.pitch):5.1f} p90 {np.percentile(w.pitch, 90):5.1f}  "
        f"balance median {np.median(w.balance):6.1f} p90 {np.percentile(w.balance, 90):6.1f}  "
        f"range median {np.median(w.spread):5.1f}  (n={w.t.size})"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    p.add_argument("--actors", default=",".join(str(a) for a in ev.ACTORS))
    p.add_argument("--no-calm", action="store_true", help="skip the real calm call")
    p.add_argument("--no-cpp", action="store_true", help="skip the CPP column")
    p.add_argument("--formants", action="store_true", help="add LPC F1/F3 per clean category")
    args = p.parse_args(argv)
    ravdess = str(args.data / "ravdess")
    if not Path(ravdess).is_dir():
        print(f"effort_norms: RAVDESS folder not found: {ravdess}", file=sys.stderr)
        return 2
    actors = [int(a) for a in args.actors.split(",") if a.strip()]
    data: dict[tuple[int, str, str], Windows] = {}
    print("per actor, category and line: the customer's judged 2 s windows")
    print("  (balance in dB; CPP of the clean takes, dB-cepstrum units)")
    for actor in actors:
        for cat in CATEGORIES:
            if cat.startswith("high") and actor % 2:
                continue  # the female actors only, as in the eval
            takes = category_takes(ravdess, actor, cat)
            for cond in CONDITIONS:
                rng = np.random.default_rng(zlib.crc32(f"{actor}-{cat}-{cond}".encode()))
                x = channel([condition(t, cond) for t in takes], rng)
                w = judged(np.zeros_like(x), x)
                data[actor, cat, cond] = w
                extra = ""
                if cond == "clean" and not args.no_cpp:
                    extra = f"  CPP {np.nanmedian([cpp(t) for t in takes]):4.2f}"
                if cond == "clean" and args.formants:
                    fm = np.array([formants(t) for t in takes])
                    extra += (
                        f"  F1 {np.nanmedian(fm[:, 0]):4.0f} F3 {np.nanmedian(fm[:, 1]):4.0f} Hz"
                    )
                print(f"a{actor:02d} {cat:8s} {cond:6s} {describe(w)}{extra}", flush=True)
    calls: dict[str, Windows] = {}
    calm = args.data / ev.CALM_CALL
    if not args.no_calm and calm.is_file():
        for swap in (False, True):
            name = "real call, roles swapped" if swap else "real call"
            calls[name] = w = real_call(calm, swap)
            print(f"{name:24s} customer: {describe(w)}")
            first = w.t <= w.t[0] + FIRST_TALK_S if w.t.size else w.t.astype(bool)
            sub = Windows(w.t[first], w.pitch[first], w.balance[first], w.spread[first])
            print(f"{'':24s} first {FIRST_TALK_S:.0f} s: {describe(sub)}")
    halves = [h for h in ((1, 2, 3, 4, 5, 6), (7, 8, 9, 10, 11, 12)) if set(h) <= set(actors)]
    print()
    print("first-word rule 'pitch >= P, balance >= B, range <= 12 st, held 0.4 s', fitted per half")
    for fit_on in halves:
        test_on = [h for h in halves if h != fit_on]
        pt, bt, n = fit(data, fit_on)
        name = f"{fit_on[0]}-{fit_on[-1]}"
        if n == 0:
            print(f"  fit {name}: no rule on the grid is clean on that half's calm takes")
            continue
        print(
            f"  fit {name}: P {pt:.0f} st, B {bt:.0f} dB: "
            f"shouters caught {sorted(caught_actors(data, fit_on, pt, bt))}"
        )
        for other in test_on:
            oname = f"{other[0]}-{other[-1]}"
            print(
                f"    on {oname}: shouters caught {sorted(caught_actors(data, other, pt, bt))}, "
                f"false runs in {false_takes(data, other, pt, bt) or 'none'}"
            )
        for cname, w in calls.items():
            h = w.hits(pt, bt)
            early = h & (w.t <= w.t[0] + FIRST_TALK_S)
            print(f"    {cname}: {runs(h)} runs ({runs(early)} in the first {FIRST_TALK_S:.0f} s)")
    if calls:
        print()
        print("the real call's windows under every grid rule (runs anywhere / in the first 6 s)")
        for cname, w in calls.items():
            cells = []
            for pt in PITCH_GRID:
                for bt in BALANCE_GRID:
                    h = w.hits(pt, bt)
                    e = h & (w.t <= w.t[0] + FIRST_TALK_S)
                    if runs(h):
                        cells.append(f"P{pt:.0f}/B{bt:.0f}: {runs(h)}/{runs(e)}")
            print(f"  {cname}: {', '.join(cells) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
