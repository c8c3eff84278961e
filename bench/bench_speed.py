"""Speed and memory benchmark of the analysis path (not part of the test suite).

    python bench/bench_speed.py [--runs 3] [--quick] [--no-transcription] [--json PATH]
                                [--block-s 5.0]

Builds two-channel calls from the shipped fixture calls (`fixtures/*.flac`, concatenated
and written to a temporary FLAC): 4 and 60 minutes at 16 kHz, and the 4-minute call at
8 kHz (telephone rate, so the resampler is measured too). They are read in 5 s blocks, as
`tonewatch replay --fast` and `tonewatch batch` do (`--block-s 1` for the 1 s blocks of
earlier versions); the 4-minute call is also run in 5 s blocks as a fixed point of
comparison. Each case runs in its own child process, so peak
RSS (`ru_maxrss`) belongs to that case alone:

- acoustic analysis (`--no-transcribe`): the real `run_call` over `FileSource` with an alert
  log written to a temporary directory, pinned to one core with OMP/OpenBLAS threads at 1.
  Speed is call seconds (two channels) per second of CPU time, and per second of wall time.
  One further run wraps the stage entry points with timers (thread CPU time, exclusive of
  nested stages) to split the time: decode/resample, headset bleed, VAD, level, pitch,
  spectral balance, analysis glue (framing, momentary loudness), crosstalk guard, rules,
  tracks, log writing, other (pipeline). The wrapped run is not used for the speed.
- with transcription (the default model, as `tonewatch replay --fast`): the 4-minute call on
  two cores; wall-clock speed, CPU time of the whole process and Whisper's own figures.
- references on the same 4-minute audio, one core: librosa's `yin` and `pyin` with the same
  pitch range, window (40 ms) and step (30 ms) as tonewatch, and webrtcvad alone over every
  30 ms frame. They turn machine-dependent seconds into ratios.

Figures are medians over `--runs` runs. `--quick` is a smoke run: one run, a 15-minute
"long" call, pyin on 30 s, transcription on 1 minute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CALLS = ("calm_call", "customer_yelling", "agent_matching", "gain_step", "agent_barge_in")
BIG_BLOCK_S = 5.0
"""A further case reads the 4-minute call in blocks this long: the analysis gives the same
alerts for any block size, and longer blocks cost less per block."""
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

# Stage entry points timed in the instrumented run: (stage, module, class, method).
STAGES = (
    ("decode/resample", "audio.sources", "FileSource", "__iter__"),
    ("headset bleed", "audio.bleed", "BleedCanceller", "_clean"),
    ("VAD", "audio.vad", "WebrtcScorer", "score"),
    ("VAD", "audio.vad", "Segmenter", "push"),
    ("level", "audio.features", "KWeightedPower", "__call__"),
    ("pitch", "audio.features", "HarmonicPitch", "__call__"),
    ("spectral balance", "audio.features", "BandBalance", "__call__"),
    ("analysis glue", "audio.analyzer", "ChannelAnalyzer", "_analyse"),
    ("crosstalk guard", "audio.crosstalk", "CrosstalkGuard", "apply"),
    ("rules", "alerts.engine", "Detector", "push"),
    ("tracks", "monitor.tracks", "TrackRecorder", "push"),
    ("tracks", "monitor.tracks", "TrackRecorder", "flush"),
    ("log writing", "alerts.log", "AlertLog", "write"),
)
STAGE_ORDER = (
    "decode/resample",
    "headset bleed",
    "VAD",
    "level",
    "pitch",
    "spectral balance",
    "analysis glue",
    "crosstalk guard",
    "rules",
    "tracks",
    "log writing",
    "other",
)


# -- building the calls ------------------------------------------------------------------


def build_call(path: Path, seconds: float, rate: int = 16_000) -> Path:
    """Concatenate the fixture calls (cycling) into a `seconds` long stereo FLAC."""
    import numpy as np
    import soundfile as sf
    import soxr

    parts = [sf.read(str(FIXTURES / f"{name}.flac"), dtype="float32")[0] for name in CALLS]
    if rate != 16_000:
        parts = [soxr.resample(p, 16_000, rate) for p in parts]
    total = int(seconds * rate)
    with sf.SoundFile(str(path), "w", rate, 2, "PCM_16", format="FLAC") as out:
        done, i = 0, 0
        while done < total:
            part = parts[i % len(parts)][: total - done]
            out.write(np.clip(part, -1.0, 1.0))
            done += part.shape[0]
            i += 1
    return path


# -- child processes: one case each --------------------------------------------------------


def pin(cores: int) -> list[int]:
    """Restrict this process to its first `cores` allowed CPUs."""
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    os.sched_setaffinity(0, allowed)
    return allowed


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class StageTimer:
    """Wraps methods with thread-CPU timers; each stage's time excludes nested stages."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._stack: list[list[float]] = []
        self._undo: list[tuple[type, str, Any]] = []

    def _enter(self) -> None:
        self._stack.append([time.thread_time(), 0.0])

    def _exit(self, stage: str) -> None:
        start, nested = self._stack.pop()
        spent = time.thread_time() - start
        self.totals[stage] = self.totals.get(stage, 0.0) + spent - nested
        if self._stack:
            self._stack[-1][1] += spent

    def wrap(self, stage: str, cls: type, name: str) -> None:
        original = cls.__dict__[name]
        timer = self
        if name == "__iter__":

            def timed_iter(obj: Any) -> Iterator[Any]:
                it = original(obj)
                while True:
                    timer._enter()
                    try:
                        item = next(it)
                    except StopIteration:
                        timer._exit(stage)
                        return
                    timer._exit(stage)
                    yield item

            setattr(cls, name, timed_iter)
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                timer._enter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timer._exit(stage)

            setattr(cls, name, timed)
        self._undo.append((cls, name, original))

    def install(self) -> None:
        import importlib

        for stage, module, cls_name, method in STAGES:
            try:
                cls = getattr(importlib.import_module(module), cls_name)
            except (ImportError, AttributeError):
                continue  # a stage this version of tonewatch does not have
            self.wrap(stage, cls, method)

    def remove(self) -> None:
        for cls, name, original in reversed(self._undo):
            setattr(cls, name, original)
        self._undo = []


def run_once(audio: Path, transcribe: bool, block_s: float = 1.0) -> dict[str, Any]:
    """One call through `run_call`, as `tonewatch replay --fast [--no-transcribe]` runs it."""
    from alerts.log import AlertLog
    from audio.sources import FileSource
    from monitor.config import load_config
    from monitor.session import CallSetup, run_call

    cfg = load_config(None)
    worker = spotter = None
    if transcribe:
        from alerts.cues import CueMatcher
        from audio.transcribe import TranscriptionWorker, load_model
        from monitor.config import transcriber_settings
        from monitor.speech import PhraseSpotter

        settings = transcriber_settings(cfg, policy="block")
        worker = TranscriptionWorker(settings, model=load_model(settings))
        spotter = PhraseSpotter(CueMatcher(cfg.cues.active), "bench", True)
    with tempfile.TemporaryDirectory() as tmp:
        log = AlertLog(Path(tmp) / "bench.jsonl")
        setup = CallSetup(
            cfg=cfg, call="bench", log=log, source=str(audio), worker=worker, spotter=spotter
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = run_call(FileSource(audio, block_s=block_s), setup)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        log.close()
        log_bytes = (Path(tmp) / "bench.jsonl").stat().st_size
    summary = result.summary
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "duration_s": summary["duration_s"],
        "alerts": result.records,
        "log_bytes": log_bytes,
        "transcription": summary.get("transcription"),
    }


def child_acoustic(audio: Path, runs: int, block_s: float) -> dict[str, Any]:
    cores = pin(1)
    run_once(audio, False, block_s)  # warm-up: imports, caches
    results = [run_once(audio, False, block_s) for _ in range(runs)]
    timer = StageTimer()
    timer.install()
    t0 = time.thread_time()
    run_once(audio, False, block_s)
    total = time.thread_time() - t0
    timer.remove()
    stages = dict(timer.totals)
    stages["other"] = max(0.0, total - sum(stages.values()))
    return {
        "cores": cores,
        "block_s": block_s,
        "duration_s": results[0]["duration_s"],
        "alerts": results[0]["alerts"],
        "log_bytes": results[0]["log_bytes"],
        "cpu_s": statistics.median(r["cpu_s"] for r in results),
        "wall_s": statistics.median(r["wall_s"] for r in results),
        "cpu_runs": [round(r["cpu_s"], 3) for r in results],
        "stages_s": stages,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_transcribe(audio: Path, runs: int) -> dict[str, Any]:
    cores = pin(2)
    results = [run_once(audio, True) for _ in range(runs)]
    speech = [r["transcription"] or {} for r in results]
    return {
        "cores": cores,
        "duration_s": results[0]["duration_s"],
        "cpu_s": statistics.median(r["cpu_s"] for r in results),
        "wall_s": statistics.median(r["wall_s"] for r in results),
        "wall_runs": [round(r["wall_s"], 2) for r in results],
        "snippets": speech[0].get("snippets"),
        "transcribed": speech[0].get("transcribed"),
        "skipped": speech[0].get("skipped"),
        "whisper_audio_s": statistics.median(s.get("audio_s", 0.0) for s in speech),
        "whisper_busy_s": statistics.median(s.get("compute_s", 0.0) for s in speech),
        "peak_rss_mb": peak_rss_mb(),
    }


def cpu_timed(fn: Callable[[], Any], runs: int) -> float:
    """Median CPU seconds of `fn` over `runs` calls (after one warm-up call elsewhere)."""
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def child_reference(audio: Path, runs: int, pyin_s: float) -> dict[str, Any]:
    cores = pin(1)
    import librosa
    import numpy as np
    import soundfile as sf
    import webrtcvad

    from audio.analyzer import AnalysisSettings

    a = AnalysisSettings()
    x, rate = sf.read(str(audio), dtype="float32")
    if rate != 16_000:
        raise SystemExit(f"{audio}: references expect 16 kHz audio, got {rate}")
    channels = [np.ascontiguousarray(x[:, 0]), np.ascontiguousarray(x[:, 1])]
    call_s = x.shape[0] / rate
    # The same job as tonewatch's pitch stage: 70-800 Hz, 40 ms window, a value every 30 ms.
    pitch = {
        "fmin": a.pitch_fmin_hz,
        "fmax": a.pitch_fmax_hz,
        "sr": rate,
        "frame_length": int(a.window_s * rate),
        "hop_length": 480,
    }

    def yin() -> None:
        for ch in channels:
            librosa.yin(ch, center=False, **pitch)

    excerpt = [ch[: int(pyin_s * rate)] for ch in channels]

    def pyin() -> None:
        for ch in excerpt:
            librosa.pyin(ch, center=False, **pitch)

    vad = webrtcvad.Vad(a.vad_aggressiveness)

    def vad_alone() -> None:
        for ch in channels:
            pcm = (np.clip(ch, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            for i in range(0, len(pcm) - 959, 960):
                vad.is_speech(pcm[i : i + 960], rate)

    warm = [ch[: rate * 2] for ch in channels]
    for ch in warm:  # numba compiles pyin's Viterbi on first use
        librosa.pyin(ch, center=False, **pitch)
        librosa.yin(ch, center=False, **pitch)
    out = {
        "cores": cores,
        "duration_s": call_s,
        "yin_cpu_s": cpu_timed(yin, runs),
        "pyin_cpu_s": cpu_timed(pyin, max(1, min(runs, 2))),
        "pyin_audio_s": min(pyin_s, call_s),
        "webrtcvad_cpu_s": cpu_timed(vad_alone, runs),
    }
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def child_main(args: argparse.Namespace) -> None:
    audio = Path(args.audio)
    if args.child == "acoustic":
        out = child_acoustic(audio, args.runs, args.block_s)
    elif args.child == "transcribe":
        out = child_transcribe(audio, args.runs)
    else:
        out = child_reference(audio, args.runs, args.pyin_s)
    print(json.dumps(out))


# -- parent: build, spawn, print ---------------------------------------------------------


def spawn(
    kind: str, audio: Path, runs: int, pyin_s: float = 60.0, block_s: float = 1.0
) -> dict[str, Any]:
    env = dict(os.environ)
    env.update({v: "1" for v in THREAD_VARS})
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--audio", str(audio)]
    cmd += ["--runs", str(runs), "--pyin-s", str(pyin_s), "--block-s", str(block_s)]
    print(f"  running {kind} on {audio.name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} on {audio.name} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy as np

    return (
        f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}"
    )


def speed(call_s: float, seconds: float) -> str:
    return f"{call_s / seconds:,.0f}x" if seconds > 0 else "-"


def report(res: dict[str, Any], runs: int) -> str:
    lines = [f"tonewatch speed benchmark ({machine()})", f"medians of {runs} run(s)", ""]
    acoustic = res["acoustic"]
    names = list(acoustic)
    width = 20
    lines.append(
        "acoustic analysis, --no-transcribe, 1 core".ljust(44)
        + "".join(n.rjust(width) for n in names)
    )

    def row(label: str, fn: Callable[[dict[str, Any]], str]) -> None:
        lines.append(f"  {label}".ljust(44) + "".join(fn(acoustic[n]).rjust(width) for n in names))

    row("call length (s)", lambda r: f"{r['duration_s']:.0f}")
    row("block (s)", lambda r: f"{r.get('block_s', 1.0):g}")
    row("CPU time (s)", lambda r: f"{r['cpu_s']:.2f}")
    row("speed per core (call s / CPU s)", lambda r: speed(r["duration_s"], r["cpu_s"]))
    row("wall time (s)", lambda r: f"{r['wall_s']:.2f}")
    row("speed, wall clock", lambda r: speed(r["duration_s"], r["wall_s"]))
    row("CPU s per call hour", lambda r: f"{r['cpu_s'] * 3600 / r['duration_s']:.2f}")
    row("peak RSS (MB)", lambda r: f"{r['peak_rss_mb']:.0f}")
    row("records written / log KB", lambda r: f"{r['alerts']} / {r['log_bytes'] // 1024}")
    lines.append("  time per stage, CPU s per call hour (share)")
    for stage in STAGE_ORDER:

        def cell(r: dict[str, Any], stage: str = stage) -> str:
            s = r["stages_s"].get(stage, 0.0)
            total = sum(r["stages_s"].values())
            return f"{s * 3600 / r['duration_s']:.2f} ({100 * s / total:.0f}%)"

        row(f"  {stage}", cell)
    base, long = acoustic[names[0]], acoustic[names[1]]
    lines.append(
        f"  memory with call length: peak RSS {base['peak_rss_mb']:.0f} MB ({names[0]}) -> "
        f"{long['peak_rss_mb']:.0f} MB ({names[1]}), "
        f"{long['peak_rss_mb'] - base['peak_rss_mb']:+.0f} MB"
    )
    ref = res["reference"]
    lines += ["", f"references on the same audio ({ref['duration_s']:.0f} s call), 1 core"]
    ours = base["duration_s"] / base["cpu_s"]
    for label, call_s, cpu in (
        ("librosa.yin (pitch only)", ref["duration_s"], ref["yin_cpu_s"]),
        (
            f"librosa.pyin (first {ref['pyin_audio_s']:.0f} s)",
            ref["pyin_audio_s"],
            ref["pyin_cpu_s"],
        ),
        ("webrtcvad alone", ref["duration_s"], ref["webrtcvad_cpu_s"]),
    ):
        theirs = call_s / cpu
        lines.append(
            f"  {label}".ljust(44)
            + f"{theirs:,.0f}x".rjust(width)
            + f"   tonewatch acoustic = {ours / theirs:.2f} x this"
        )
    if "transcribe" in res:
        t = res["transcribe"]
        lines += [
            "",
            f"with transcription (default model), {t['duration_s']:.0f} s call, "
            f"{len(t['cores'])} cores",
            f"  wall time {t['wall_s']:.1f} s = {speed(t['duration_s'], t['wall_s'])} real time "
            f"(runs {t['wall_runs']})",
            f"  CPU time {t['cpu_s']:.1f} s (all threads) = "
            f"{speed(t['duration_s'], t['cpu_s'])} real time per core",
            f"  Whisper: {t['transcribed']} of {t['snippets']} snippets ({t['skipped']} skipped), "
            f"{t['whisper_audio_s']:.0f} s of speech in {t['whisper_busy_s']:.1f} s "
            f"(RTF {t['whisper_busy_s'] / max(t['whisper_audio_s'], 1e-9):.3f})",
            f"  peak RSS {t['peak_rss_mb']:.0f} MB",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per case (medians)")
    p.add_argument("--quick", action="store_true", help="one run, shorter calls")
    p.add_argument("--no-transcription", action="store_true", help="skip the transcription case")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    p.add_argument(
        "--child", choices=("acoustic", "transcribe", "reference"), help=argparse.SUPPRESS
    )
    p.add_argument("--audio", help=argparse.SUPPRESS)
    p.add_argument("--pyin-s", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--block-s",
        type=float,
        default=5.0,
        help="seconds per block (5.0, as `tonewatch replay --fast` and batch read files)",
    )
    args = p.parse_args(argv)
    if args.child:
        child_main(args)
        return 0
    runs = 1 if args.quick else max(1, args.runs)
    long_min = 15 if args.quick else 60
    res: dict[str, Any] = {"acoustic": {}}
    with tempfile.TemporaryDirectory(prefix="tonewatch-bench-") as tmp:
        d = Path(tmp)
        print("building calls from fixtures/ ...", file=sys.stderr, flush=True)
        short = build_call(d / "call_4min.flac", 240)
        long = build_call(d / f"call_{long_min}min.flac", long_min * 60)
        short8k = build_call(d / "call_4min_8k.flac", 240, rate=8000)
        for label, audio, block_s in (
            ("4 min", short, args.block_s),
            (f"{long_min} min", long, args.block_s),
            ("4 min @ 8 kHz", short8k, args.block_s),
            (f"4 min, {BIG_BLOCK_S:g} s blocks", short, BIG_BLOCK_S),
        ):
            res["acoustic"][label] = spawn("acoustic", audio, runs, block_s=block_s)
        res["reference"] = spawn("reference", short, runs, pyin_s=30.0 if args.quick else 60.0)
        if not args.no_transcription:
            speech = build_call(d / "call_1min.flac", 60) if args.quick else short
            res["transcribe"] = spawn("transcribe", speech, min(runs, 3))
    print(report(res, runs))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
