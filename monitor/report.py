"""Write one call's alert log as a self-contained HTML report for QA and trainers.

`tonewatch report LOG [--audio CALL] -o report.html` reads the call's records (a log that
holds several calls reports the last one unless `--call-id` picks another), gathers the
10 Hz tracks, the alerts, the transcript and the call summary into one JSON object, and
writes it into a page whose styles and script (`monitor/report_assets/`) are inlined: the
page needs no network when it is viewed. With `--audio` the recording is downmixed to mono,
encoded as Ogg Vorbis at a low bitrate and embedded as a data: URI, so the page can play
the call, seek to an alert and show a playback cursor on the timeline.

A log cut short by a crash still reports: its summary is worked out from the tracks and the
alerts, and the page and the terminal say so. Exit codes: 0 ok, 2 bad log or usage, 3 bad
audio, 4 the report cannot be written.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from monitor.calllog import SPEAKERS, CallLog, CallLogError, read_calls, track_end
from monitor.errors import EXIT_OUTPUT as EXIT_WRITE
from monitor.errors import EXIT_SOURCE as EXIT_AUDIO
from monitor.errors import EXIT_USAGE
from monitor.errors import EXIT_USAGE as EXIT_LOG
from monitor.errors import CommandError as ReportError

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
AUDIO_RATE = 16000
OGG_BLOCK = 16384  # samples per write to the Vorbis encoder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG", help="alert log written by replay or live (--log)")
    parser.add_argument(
        "--audio",
        metavar="FILE",
        nargs="+",
        help="the call's recording (any format soundfile reads), embedded as a player: one "
        "stereo file, or the agent's and the customer's mono files",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="HTML",
        help="report file to write (default: the log's name with .html)",
    )
    parser.add_argument(
        "--call-id", metavar="ID", help="which call of a log that holds several (default: last)"
    )


def run(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    try:
        out = Path(args.output) if args.output else Path(args.log).with_suffix(".html")
        size = write_report(
            args.log, out, audio=args.audio, call_id=args.call_id, warnings=warnings
        )
    except ReportError as exc:
        for w in warnings:
            print(f"tonewatch: warning: {w}", file=sys.stderr)
        print(f"tonewatch: error: {exc}", file=sys.stderr)
        return exc.code
    for w in warnings:
        print(f"tonewatch: warning: {w}", file=sys.stderr)
    print(f"wrote {out} ({size / 1024:.0f} KB)")
    return 0


def write_report(
    log: str | Path,
    out: str | Path,
    audio: str | Path | None = None,
    call_id: str | None = None,
    warnings: list[str] | None = None,
) -> int:
    """Build the report of one call of `log` and write it to `out`; returns its size in bytes.

    Raises:
        ReportError: the log, the audio or the output file is unusable.
    """
    warnings = [] if warnings is None else warnings
    call = pick_call(log, call_id, warnings)
    data = report_data(call, warnings)
    audio_uri = encode_audio(audio, data["duration_s"], warnings) if audio else None
    page = render(data, audio_uri)
    out = Path(out)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write report ({exc.strerror})", EXIT_WRITE) from None
    return len(page.encode("utf-8"))


def pick_call(log: str | Path, call_id: str | None, warnings: list[str]) -> CallLog:
    """The call to report: `call_id`, else the last call in the log."""
    path = Path(log)
    if path.is_dir():
        raise ReportError(f"{path}: is a folder, not an alert log", EXIT_LOG)
    try:
        calls = read_calls(path, warnings)
    except CallLogError as exc:
        raise ReportError(str(exc), EXIT_LOG) from None
    if call_id is not None:
        chosen = [c for c in calls if c.call == call_id]
        if not chosen:
            ids = ", ".join(c.call for c in calls)
            raise ReportError(f"{path}: no call {call_id!r} in this log (it has {ids})", EXIT_LOG)
        return chosen[0]
    if len(calls) > 1:
        warnings.append(
            f"{path}: holds {len(calls)} calls; reporting the last ({calls[-1].call}), "
            "pick another with --call-id"
        )
    return calls[-1]


def tracks_of(call: CallLog, duration_s: float) -> dict[str, Any]:
    """Each speaker's 10 Hz series on one time grid (null where the log has no point)."""
    rate = float(call.tracks[0].get("rate_hz", 10)) if call.tracks else 10.0
    end = max([duration_s, *(track_end(t) for t in call.tracks)])
    n = int(round(end * rate))
    out: dict[str, Any] = {"rate_hz": rate, "n": n}
    for sp in SPEAKERS:
        level: list[float | None] = [None] * n
        pitch: list[float | None] = [None] * n
        speech: list[int] = [0] * n
        baseline: list[list[Any]] = []
        for t in call.tracks:
            series = t.get(sp) or {}
            i0 = int(round(float(t.get("start", 0.0)) * rate))
            for name, dest in (("level_db", level), ("pitch_st", pitch), ("speech", speech)):
                for j, v in enumerate(series.get(name) or []):
                    if 0 <= i0 + j < n:
                        dest[i0 + j] = v
            b = series.get("baseline")
            if b:
                baseline.append([round(track_end(t), 2), b.get("level_db"), b.get("pitch_st")])
        out[sp] = {"level_db": level, "pitch_st": pitch, "speech": speech, "baseline": baseline}
    return out


def summary_of(call: CallLog, tracks: dict[str, Any]) -> dict[str, Any]:
    """The call summary; worked out from tracks and alerts when the log has none."""
    if call.summary is not None:
        s = dict(call.summary)
        s["derived"] = False
        s["counts"] = call.counts()
        s["cues"] = call.cue_counts()
        return s
    rate = tracks["rate_hz"]
    a = np.array(tracks["agent"]["speech"], dtype=bool)
    c = np.array(tracks["customer"]["speech"], dtype=bool)
    counts = call.counts()
    return {
        "derived": True,
        "status": "cut short",
        "duration_s": call.duration_s,
        "talk_s": {"agent": round(a.sum() / rate, 1), "customer": round(c.sum() / rate, 1)},
        "overlap_s": round(float((a & c).sum()) / rate, 1),
        "agent_interruptions": counts.get("agent_interrupting", 0),
        "customer_interruptions": None,
        "agent_backchannels": None,
        "elevated_s": None,
        "counts": counts,
        "cues": call.cue_counts(),
    }


def report_data(call: CallLog, warnings: list[str]) -> dict[str, Any]:
    """Everything the page draws, as one JSON-ready object."""
    duration = call.duration_s
    tracks = tracks_of(call, duration)
    if not call.tracks:
        warnings.append(
            f"{call.path}: call {call.call} has no track records (replayed with --no-tracks "
            "or by an older version); the timeline shows alerts only"
        )
    settings = (call.start or {}).get("settings") or {}
    detector = settings.get("detector") or {}
    started = call.started_at
    own = [w for w in warnings if w.startswith(str(call.path))]
    return {
        "call": call.call,
        "agent": call.agent,
        "log": str(call.path),
        "started_at": started.isoformat(timespec="seconds") if started else None,
        "source": (call.start or {}).get("source"),
        "duration_s": round(duration, 2),
        "complete": call.complete,
        "raised_level_db": float(detector.get("raised_level_db", 6.0)),
        "tracks": tracks,
        "alerts": sorted(call.alerts, key=lambda a: float(a.get("start", 0.0))),
        "transcripts": sorted(call.transcripts, key=lambda t: float(t.get("start", 0.0))),
        "summary": summary_of(call, tracks),
        "warnings": own,
    }


def _read_mono(path: Path, duration_s: float, warnings: list[str]) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        x, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise ReportError(f"{path}: cannot read audio ({exc})", EXIT_AUDIO) from None
    if x.shape[0] == 0:
        raise ReportError(f"{path}: the recording is empty", EXIT_AUDIO)
    length = x.shape[0] / rate
    if duration_s and abs(length - duration_s) > 1.0:
        warnings.append(
            f"{path}: recording is {length:.1f} s but the call in the log is {duration_s:.1f} s; "
            "is it the same call?"
        )
    return x.mean(axis=1), int(rate)


def encode_audio(
    paths: str | Path | Sequence[str | Path], duration_s: float, warnings: list[str]
) -> str:
    """The recording (one file, or the two speakers' files mixed) as a data: URI of mono Ogg
    Vorbis at about 14 kbit/s.

    Raises:
        ReportError: a file cannot be read as audio, or more than two are given.
    """
    import soundfile as sf

    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not 1 <= len(files) <= 2:
        raise ReportError(
            "--audio takes one call file, or the agent's and the customer's", EXIT_USAGE
        )
    parts = [_read_mono(f, duration_s, warnings) for f in files]
    rates = {rate for _, rate in parts}
    rate = parts[0][1] if len(rates) == 1 else AUDIO_RATE
    if rate not in OPUS_RATES:
        rate = AUDIO_RATE
    import soxr

    tracks = [x if r == rate else soxr.resample(x, r, rate).astype(np.float32) for x, r in parts]
    mono = np.zeros(max(t.shape[0] for t in tracks), np.float32)
    for t in tracks:
        mono[: t.shape[0]] += t  # the two sides rarely talk at once; the peak is limited below
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak > 0.99:
        mono = mono * (0.99 / peak)
    buf = io.BytesIO()
    with sf.SoundFile(
        buf, "w", rate, 1, format="OGG", subtype="VORBIS", compression_level=1.0
    ) as fh:
        # libsndfile's Vorbis encoder crashes on very large single writes: feed it blocks.
        for i in range(0, mono.shape[0], OGG_BLOCK):
            fh.write(mono[i : i + OGG_BLOCK])
    return "data:audio/ogg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _asset(name: str) -> str:
    return (resources.files("monitor") / "report_assets" / name).read_text(encoding="utf-8")


def render(data: dict[str, Any], audio_uri: str | None) -> str:
    """The page: template with styles, script, data and (optional) audio inlined."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # No "<" at all inside the <script> element ("</script>", "<!--" in what a caller
    # said cannot end or confuse it); "\\u003c" is the same JSON string.
    payload = payload.replace("<", "\\u003c")
    who = f" · {data['agent']}" if data.get("agent") else ""
    player = (
        f'<audio id="player" controls preload="auto" src="{audio_uri}"></audio>'
        if audio_uri
        else '<p class="muted" id="no-audio">No recording embedded (make the report with '
        "<code>--audio CALL</code> to listen along).</p>"
    )
    values = {
        "title": html.escape(f"Call {data['call']}{who}"),
        "style": _asset("report.css"),
        "script": _asset("report.js"),
        "data": payload,
        "player": player,
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], _asset("report.html"))
