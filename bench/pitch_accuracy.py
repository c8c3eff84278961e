"""Pitch accuracy of the analysis' tracker against a reference (prints figures; not a test).

    python bench/pitch_accuracy.py [--data DIR] [--cache DIR] [--actors 1,2] [--by-actor]
                                   [--no-calm]

Frames are the analysis' own: one 40 ms window per 30 ms frame, ending with the frame, on
frames whose K-weighted level passes the analysis' level gate (`min_level_db`). The
reference is librosa's pyin (60-1000 Hz, 64 ms window, its own 10 ms step) on the clean
full-band 16 kHz file, at the pyin frame centred on the tracker's window, kept only where
it is confident: voiced where pyin's path is voiced there and 10 ms either side within
1 st, unvoiced where all three are unvoiced; frames in between count only for GPE* (below).
pyin's figures are cached (`--cache`, default $XDG_CACHE_HOME/tonewatch/pitch_ref, 0600);
the first run takes about 2 s per file.

Conditions: `full` (the file as it is), `phone` (the eval's telephone line: +6 dB, 300-3400
Hz band-pass, 8 kHz, G.711 mu-law, back to 16 kHz: `phone_line` in bench/eval_detection.py)
and `quiet` (the shouts 20 dB down, as the eval's quietened shouts are). Files: all RAVDESS
takes of the development set (neutral, calm, angry normal "emphatic", angry strong
"shout"; 12 actors, reported by half 1-6 and 7-12) and the clean read speech of
data/clean.

Per row: frames voiced in the reference (n), gross pitch error rate GPE (voiced in both,
more than 3 st = about 19 % off), the octave share of the gross errors (within 1.5 st of
one or two octaves, up / down), and voicing errors as a share of the reference-voiced
frames (missed: voiced in the reference, unvoiced here) and of the reference-unvoiced
frames (false: voiced here), and GPE* over every frame voiced here and on pyin's path,
confident or not (what a window's median and range are made of). Two trackers are shown:
`yin` (plain YIN, `audio.features.Yin` with the analysis' settings) and `tracker` (what
`audio.analyzer.pitch_tracker` gives the analysis).

The real calm call (8 kHz, no reference) is summarised per channel: voiced share of the
gated frames, the share of voiced-to-voiced steps (frames <= 60 ms apart) that jump more
than 7 st, and the 10-90 % range of the channel's pitch in semitones.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_detection import phone_line  # noqa: E402

from audio.analyzer import AnalysisSettings, pitch_tracker  # noqa: E402
from audio.features import KWeightedPower, Yin, power_db  # noqa: E402

SR = 16_000
FRAME = 480
HOP = 160
WINDOW = 640
GROSS_ST = 3.0
OCTAVE_TOL_ST = 1.5
CALM_CALL = Path("calls") / "auto_repairs_40_agentL_customerR_8k.flac"

Tracker = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Take:
    name: str
    group: str
    actor: int  # 0 for data/clean
    x: np.ndarray


def frames_of(x: np.ndarray) -> np.ndarray:
    """The analysis' pitch windows: 40 ms ending with each whole 30 ms frame."""
    n = x.shape[0] // FRAME
    padded = np.concatenate([np.zeros(WINDOW - FRAME), x[: n * FRAME]])
    starts = np.arange(n) * FRAME
    return padded[starts[:, None] + np.arange(WINDOW)].astype(np.float64)


def gate(x: np.ndarray, min_level_db: float) -> np.ndarray:
    """Frames the analysis would hand to the tracker (level gate; VAD left out)."""
    n = x.shape[0] // FRAME
    ms = KWeightedPower(HOP)(x[: n * FRAME].reshape(-1, HOP).astype(np.float64))
    return power_db(ms).reshape(n, 3).max(axis=1) > min_level_db


def cache_dir(arg: str | None) -> Path:
    base = (
        Path(arg)
        if arg
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "tonewatch"
        / "pitch_ref"
    )
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return base


def reference(take: Take, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz or NaN, confidence) per analysis frame, from pyin on the clean take.

    pyin runs at its own 10 ms step (a 30 ms step changes its path: more frames voiced and
    lower pitch); analysis frame k's window is centred on pyin frame 3k + 1. A frame is a
    confident voiced one (confidence 1) when pyin's path is voiced there and 10 ms either
    side, all within 1 st; a confident unvoiced one (0) when all three are unvoiced; else
    0.5 (not counted).
    """
    path = cache / f"{take.name}.npz"
    n = take.x.shape[0] // FRAME
    if path.exists():
        with np.load(path) as z:
            return z["f0"][:n], z["conf"][:n]
    import librosa

    f0, flag, _ = librosa.pyin(
        take.x.astype(np.float64),
        fmin=60.0,
        fmax=1000.0,
        sr=SR,
        frame_length=1024,
        hop_length=HOP,
    )
    f0 = np.where(flag, f0, np.nan)
    f0 = np.pad(f0, (0, max(0, 3 * n - f0.shape[0])), constant_values=np.nan)[: 3 * n]
    trio = f0.reshape(n, 3)  # pyin frames 3k, 3k+1, 3k+2
    mid = trio[:, 1]
    voiced = ~np.isnan(trio)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = 12 * np.log2(np.nanmax(trio, axis=1) / np.nanmin(trio, axis=1))
    conf = np.full(n, 0.5)
    conf[voiced.all(axis=1) & (spread <= 1.0)] = 1.0
    conf[~voiced.any(axis=1)] = 0.0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, f0=mid, conf=conf)
    return mid, conf


def load(path: Path) -> np.ndarray:
    import soundfile as sf

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != SR:
        raise SystemExit(f"{path}: expected {SR} Hz, got {rate}")
    return x[:, 0]


def takes(data: Path, actors: Iterable[int]) -> list[Take]:
    out = []
    rav = data / "ravdess"
    for a in actors:
        for emotion, intensity, group in (
            (1, 1, "normal"),
            (2, 1, "normal"),
            (2, 2, "normal"),
            (5, 1, "emphatic"),
            (5, 2, "shout"),
        ):
            for s in (1, 2):
                name = f"03-01-{emotion:02d}-{intensity:02d}-{s:02d}-01-{a:02d}"
                f = rav / f"{name}.flac"
                if f.exists():
                    out.append(Take(name, group, a, load(f)))
    for f in sorted((data / "clean").glob("*.flac")):
        out.append(Take(f.stem, "clean", 0, load(f)))
    return out


@dataclass
class Tally:
    ref_voiced: int = 0
    both: int = 0
    gross: int = 0
    octave_up: int = 0
    octave_down: int = 0
    missed: int = 0
    ref_unvoiced: int = 0
    false: int = 0
    any_both: int = 0
    any_gross: int = 0

    def add(self, ref_f0: np.ndarray, ref_p: np.ndarray, hz: np.ndarray, ok: np.ndarray) -> None:
        rv = ok & (ref_p == 1.0)
        ru = ok & (ref_p == 0.0)
        tv = ~np.isnan(hz)
        both = rv & tv
        d = 12 * np.log2(hz[both] / ref_f0[both])
        gross = np.abs(d) > GROSS_ST
        near = lambda k: np.abs(d - 12 * k) <= OCTAVE_TOL_ST  # noqa: E731
        anyv = ok & ~np.isnan(ref_f0) & tv
        self.any_both += int(anyv.sum())
        self.any_gross += int((np.abs(12 * np.log2(hz[anyv] / ref_f0[anyv])) > GROSS_ST).sum())
        self.ref_voiced += int(rv.sum())
        self.both += int(both.sum())
        self.gross += int(gross.sum())
        self.octave_up += int((gross & (near(1) | near(2))).sum())
        self.octave_down += int((gross & (near(-1) | near(-2))).sum())
        self.missed += int((rv & ~tv).sum())
        self.ref_unvoiced += int(ru.sum())
        self.false += int((ru & tv).sum())

    def row(self) -> str:
        def pct(a: int, b: int) -> str:
            return f"{100 * a / b:5.1f}" if b else "    -"

        return (
            f"{self.ref_voiced:6d} {pct(self.gross, self.both)} "
            f"{pct(self.octave_up, self.gross)}/{pct(self.octave_down, self.gross)} "
            f"{pct(self.missed, self.ref_voiced)} {pct(self.false, self.ref_unvoiced)} "
            f"{pct(self.any_gross, self.any_both)}"
        )


def condition(name: str, x: np.ndarray) -> np.ndarray:
    if name == "phone":
        y = phone_line(x, 6.0)[0][: x.shape[0]]
        return np.pad(y, (0, x.shape[0] - y.shape[0]))
    if name == "quiet":
        return (x * 0.1).astype(np.float32)
    return x


def calm_call(data: Path, trackers: dict[str, Tracker], settings: AnalysisSettings) -> None:
    import soundfile as sf
    import soxr

    path = data / CALL_PATH
    if not path.exists():
        print(f"(calm call not found: {path})")
        return
    y, rate = sf.read(str(path), dtype="float32", always_2d=True)
    print(f"\nreal calm call ({path.name}, {y.shape[0] / rate:.0f} s at {rate} Hz), per channel:")
    print(f"  {'tracker':8s} {'channel':9s} voiced  jumps>7st  10-90% range (st)")
    for ch, speaker in enumerate(("agent", "customer")):
        x = np.asarray(soxr.resample(y[:, ch], rate, SR), dtype=np.float32)
        ok = gate(x, settings.min_level_db)
        fr = frames_of(x)[ok]
        idx = np.flatnonzero(ok)
        for tname, tr in trackers.items():
            hz, _ = tr(fr)
            v = ~np.isnan(hz)
            st = 12 * np.log2(hz[v] / 100.0)
            iv = idx[v]
            close = np.diff(iv) <= 2
            jumps = np.abs(np.diff(st))[close] > 7
            p10, p90 = np.percentile(st, [10, 90]) if st.size else (np.nan, np.nan)
            print(
                f"  {tname:8s} {speaker:9s} {100 * v.mean():5.1f}%  "
                f"{100 * jumps.mean() if jumps.size else 0:6.1f}%    "
                f"{p90 - p10:5.1f} ({p10:.1f} .. {p90:.1f})"
            )


CALL_PATH = CALM_CALL


def report(
    trackers: dict[str, Tracker],
    data: Path,
    cache: Path,
    actors: Iterable[int],
    by_actor: bool = False,
    calm: bool = True,
) -> None:
    """Print the accuracy table (and the calm call's summary) for the given trackers."""
    settings = AnalysisSettings()
    all_takes = takes(data, actors)
    refs = {t.name: reference(t, cache) for t in all_takes}
    tallies: dict[tuple[str, str, str, str], Tally] = {}
    for t in all_takes:
        half = "clean" if t.actor == 0 else ("1-6" if t.actor <= 6 else "7-12")
        conds = ("full", "phone", "quiet") if t.group == "shout" else ("full", "phone")
        for c in conds:
            x = condition(c, t.x)
            ok = gate(x, settings.min_level_db)
            fr = frames_of(x)
            ref_f0, ref_p = refs[t.name]
            for tname, tr in trackers.items():
                hz = np.full(fr.shape[0], np.nan)
                hz[ok] = tr(fr[ok])[0]
                keys = [(c, t.group, half, tname)]
                if by_actor and t.group == "shout":
                    keys.append((c, t.group, f"a{t.actor:02d}", tname))
                for k in keys:
                    tallies.setdefault(k, Tally()).add(ref_f0, ref_p, hz, ok)
    print(
        f"pitch accuracy vs pyin on the clean take (GPE: > {GROSS_ST:g} st off; "
        f"octave share up/down of the gross errors; missed / false voicing)"
    )
    print(
        f"{'condition':9s} {'group':9s} {'set':6s} "
        + "   ".join(f"{n:>7s}:  n   GPE%  oct up/dn  miss% false%  GPE*" for n in trackers)
    )
    seen = sorted(
        {k[:3] for k in tallies},
        key=lambda k: (
            ("full", "phone", "quiet").index(k[0]),
            ("normal", "emphatic", "shout", "clean").index(k[1]),
            k[2],
        ),
    )
    for k in seen:
        print(
            f"{k[0]:9s} {k[1]:9s} {k[2]:6s} "
            + "   ".join(f"{tallies[(*k, n)].row():>45s}" for n in trackers)
        )
    if calm:
        calm_call(data, trackers, settings)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--cache", help="folder for pyin's reference figures")
    p.add_argument("--actors", help="comma-separated actors (default 1-12)")
    p.add_argument("--by-actor", action="store_true", help="also one row per actor (shouts)")
    p.add_argument("--no-calm", action="store_true", help="skip the real calm call")
    args = p.parse_args(argv)
    data = Path(args.data)
    if not (data / "ravdess").is_dir():
        print(f"pitch_accuracy: no RAVDESS folder in {data} (use --data)", file=sys.stderr)
        return 2
    actors = [int(a) for a in args.actors.split(",")] if args.actors else list(range(1, 13))
    settings = AnalysisSettings()
    trackers: dict[str, Tracker] = {
        "yin": Yin(
            WINDOW, settings.pitch_fmin_hz, settings.pitch_fmax_hz, settings.pitch_threshold
        ),
        "tracker": pitch_tracker(settings),
    }
    report(trackers, data, cache_dir(args.cache), actors, args.by_actor, not args.no_calm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
