"""Write one call's alert log as a self-contained HTML report for QA and trainers.

`tonewatch report LOG [--audio CALL] -o report.html` reads the call's records (a log that
holds several calls reports the last one unless `--call-id` picks another), gathers the
10 Hz tracks, the alerts, the transcript and the call summary into one JSON object, and
writes it into a page whose styles and script (`monitor/report_assets/`) are inlined: the
page needs no network when it is viewed. With `--audio` the recording is embedded in
stereo (agent left, customer right, so talk-over can be heard) as Ogg Vorbis at a low
bitrate in a data: URI, so the page can play the call, seek to an alert and show a
playback cursor on the timeline.

The page leads with "moments to review" (nearby alerts grouped, worst first) and says each
alert's evidence in words beside its numbers (`monitor.viewmodel`). What it embeds is
bounded whatever the log holds: the timeline grid ends with the call (at most
`MAX_CALL_S`), each track record gives at most `MAX_TRACK_POINTS` points, texts are cut
at `MAX_TEXT`, and at most `MAX_ALERTS` alerts and `MAX_TRANSCRIPTS` transcript lines are
kept, each cut with a warning.

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

from monitor.calllog import SPEAKERS, CallLog, CallLogError, read_calls, severity_rank, track_end
from monitor.errors import EXIT_OUTPUT as EXIT_WRITE
from monitor.errors import EXIT_SOURCE as EXIT_AUDIO
from monitor.errors import EXIT_USAGE
from monitor.errors import EXIT_USAGE as EXIT_LOG
from monitor.errors import CommandError as ReportError
from monitor.viewmodel import evidence_words, is_good, words

AUDIO_RATE = 16000
OGG_BLOCK = 16384  # frames per write to the encoder (large single writes crash libsndfile)
READ_BLOCK_S = 30.0
"""Seconds of the recording read at a time: memory stays bounded for any length."""
VORBIS_LEVEL = 1.0
"""libsndfile's Vorbis `compression_level`: its smallest, about 18 kbit/s for the two
channels at 16 kHz (a 60-minute call: about 8 MB). Opus would be a third smaller but its
encoder costs ten times the CPU (about 110 s per hour of call on this machine, Vorbis 11 s)."""

MAX_CALL_S = 8 * 3600.0
MAX_TRACK_POINTS = 600
MAX_TEXT = 2000
MAX_ALERTS = 5000
MAX_TRANSCRIPTS = 20000
MOMENT_GAP_S = 20.0
"""Alerts closer than this belong to the same moment to review."""
MAX_MOMENTS = 10


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
    audio_uri = (
        encode_audio(audio, data["duration_s"], warnings, data["agent_channel"]) if audio else None
    )
    page = render(data, audio_uri)
    out = Path(out)
    from alerts.files import FileRefused, write_private

    sources = [log, *([audio] if isinstance(audio, (str, Path)) else list(audio or []))]
    try:
        return write_private(out, page, inputs=sources, what="report")
    except FileRefused as exc:
        raise ReportError(str(exc), EXIT_WRITE) from None


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
    rate = _finite(call.tracks[0].get("rate_hz") if call.tracks else None, 10.0)
    if not 1.0 <= rate <= 100.0:
        rate = 10.0
    ends = [
        min(track_end(t), float(t.get("start") or 0) + MAX_TRACK_POINTS / rate) for t in call.tracks
    ]
    end = max([duration_s, *ends])
    if call.summary is not None and duration_s > 0:
        end = min(end, duration_s + 5.0)  # a track past the end of the call adds nothing
    end = min(end, MAX_CALL_S)
    n = int(round(end * rate))
    out: dict[str, Any] = {"rate_hz": rate, "n": n}
    for sp in SPEAKERS:
        level: list[Any] = [None] * n
        pitch: list[Any] = [None] * n
        speech: list[Any] = [0] * n
        baseline: list[list[Any]] = []
        for t in call.tracks:
            got = t.get(sp)
            series: dict[str, Any] = got if isinstance(got, dict) else {}
            i0 = int(round(_finite(t.get("start"), 0.0) * rate))
            for name, dest in (("level_db", level), ("pitch_st", pitch), ("speech", speech)):
                values = series.get(name)
                if not isinstance(values, list):
                    continue
                for j, v in enumerate(values[:MAX_TRACK_POINTS]):
                    if 0 <= i0 + j < n and isinstance(v, (int, float)):
                        dest[i0 + j] = v
            b = series.get("baseline")
            if isinstance(b, dict) and len(baseline) < n:
                baseline.append(
                    [
                        round(min(track_end(t), end), 2),
                        _num(b.get("level_db")),
                        _num(b.get("pitch_st")),
                    ]
                )
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
    alerts = sorted(call.alerts, key=lambda a: _finite(a.get("start"), 0.0))
    transcripts = sorted(call.transcripts, key=lambda t: _finite(t.get("start"), 0.0))
    for what, items, limit in (
        ("alerts", alerts, MAX_ALERTS),
        ("transcript lines", transcripts, MAX_TRANSCRIPTS),
    ):
        if len(items) > limit:
            warnings.append(
                f"{call.path}: call {call.call} has {len(items)} {what}; the report shows "
                f"the first {limit}"
            )
            del items[limit:]
    alerts = [_bounded(a) for a in alerts]
    transcripts = [_bounded(t) for t in transcripts]
    for a in alerts:
        a["words"] = words(a, reviewer=True)
        a["evidence_words"] = evidence_words(a.get("evidence"))
        a["good"] = is_good(a)
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
        "agent_channel": (settings.get("call") or {}).get("agent_channel", "left"),
        "alerts": alerts,
        "moments": moments(alerts),
        "transcripts": transcripts,
        "summary": summary_of(call, tracks),
        "warnings": own,
    }


def _finite(v: Any, default: float) -> float:
    x = _num(v)
    return default if x is None else x


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    x = float(v)
    return x if np.isfinite(x) else None


def _bounded(rec: dict[str, Any]) -> dict[str, Any]:
    """A copy of an alert or transcript record with texts cut at MAX_TEXT characters and its
    evidence kept to scalar values and short lists."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if isinstance(v, str) and len(v) > MAX_TEXT:
            v = v[:MAX_TEXT] + "…"
        elif k == "evidence" and isinstance(v, dict):
            v = {
                str(ek)[:80]: ev
                for ek, ev in list(v.items())[:40]
                if ev is None
                or isinstance(ev, (bool, int, float))
                or (isinstance(ev, str) and len(ev) <= 500)
            }
        elif isinstance(v, (dict, list)) and len(json.dumps(v)) > MAX_TEXT:
            continue
        out[k] = v
    for k in ("start", "end"):
        out[k] = _finite(out.get(k), 0.0)
    return out


def moments(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where a reviewer should listen first: alerts (good signs aside) closer than
    MOMENT_GAP_S grouped into one moment, worst first (most severe, then most alerts, then
    earliest), at most MAX_MOMENTS. Each names its alerts by index into `alerts`."""
    groups: list[list[int]] = []
    group_end = 0.0
    for i, a in enumerate(alerts):
        if a.get("good"):
            continue
        if groups and a["start"] <= group_end + MOMENT_GAP_S:
            groups[-1].append(i)
            group_end = max(group_end, a["end"])
        else:
            groups.append([i])
            group_end = a["end"]
    out = []
    for g in groups:
        items = [alerts[i] for i in g]
        worst = max(
            g, key=lambda i: (severity_rank(alerts[i].get("severity")), -alerts[i]["start"])
        )
        kinds = [alerts[worst]["words"]]
        for a in items:
            w = a["words"]
            if w not in kinds:
                kinds.append(w)
        out.append(
            {
                "start": min(a["start"] for a in items),
                "end": max(a["end"] for a in items),
                "severity": alerts[worst].get("severity"),
                "worst": worst,
                "alerts": g,
                "title": "; ".join(kinds[:3]) + ("; ..." if len(kinds) > 3 else ""),
            }
        )
    out.sort(key=lambda m: (-severity_rank(m["severity"]), -len(m["alerts"]), m["start"]))
    return out[:MAX_MOMENTS]


def _open_audio(path: Path, duration_s: float, warnings: list[str]) -> Any:
    from audio.sources import SourceError, open_audio

    try:
        fh = open_audio(path)
    except SourceError as exc:
        raise ReportError(str(exc), EXIT_AUDIO) from None
    length = fh.frames / fh.samplerate
    if duration_s and abs(length - duration_s) > 1.0:
        warnings.append(
            f"{path}: recording is {length:.1f} s but the call in the log is {duration_s:.1f} s; "
            "is it the same call?"
        )
    return fh


def _side(fh: Any, pick: Any, rate: int) -> Any:
    """One speaker's samples of an open file, resampled to `rate`, in bounded chunks."""
    import soundfile as sf

    resampler = None
    if fh.samplerate != rate:
        import soxr

        resampler = soxr.ResampleStream(fh.samplerate, rate, 1, dtype="float32")
    block = int(fh.samplerate * READ_BLOCK_S)
    try:
        for x in fh.blocks(blocksize=block, dtype="float32", always_2d=True):
            y = pick(x)
            yield y if resampler is None else resampler.resample_chunk(y)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise ReportError(f"{fh.name}: cannot read audio ({exc})", EXIT_AUDIO) from None
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def encode_audio(
    paths: str | Path | Sequence[str | Path],
    duration_s: float,
    warnings: list[str],
    agent_channel: str = "left",
) -> str:
    """The recording as a data: URI of stereo Ogg Vorbis, agent left and customer right: one
    call file (its agent channel as the log says), or the agent's and the customer's files.
    Read, resampled and encoded a block at a time, so memory does not grow with the call.

    Raises:
        ReportError: a file cannot be read as audio, or more than two are given.
    """
    import soundfile as sf

    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not 1 <= len(files) <= 2:
        raise ReportError(
            "--audio takes one call file, or the agent's and the customer's", EXIT_USAGE
        )
    handles = [_open_audio(f, duration_s, warnings) for f in files]
    try:
        rates = {fh.samplerate for fh in handles}
        rate = handles[0].samplerate if len(rates) == 1 else AUDIO_RATE
        if rate > AUDIO_RATE:
            rate = AUDIO_RATE
        if len(handles) == 2:
            sides = [_side(fh, lambda x: x.mean(axis=1), rate) for fh in handles]
        elif handles[0].channels == 1:
            warnings.append(
                f"{files[0]}: a mono recording; both ears of the player carry the whole call"
            )
            sides = [_side(handles[0], lambda x: x[:, 0], rate)]
        else:
            a = 1 if agent_channel == "right" else 0
            fh = handles[0]
            sides = [_side(fh, lambda x: np.stack([x[:, a], x[:, 1 - a]], axis=1), rate)]
        buf = io.BytesIO()
        with sf.SoundFile(
            buf, "w", rate, 2, format="OGG", subtype="VORBIS", compression_level=VORBIS_LEVEL
        ) as out:
            for frames in _stereo(sides):
                for i in range(0, frames.shape[0], OGG_BLOCK):
                    out.write(frames[i : i + OGG_BLOCK])
    finally:
        for fh in handles:
            fh.close()
    return "data:audio/ogg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _stereo(sides: list[Any]) -> Any:
    """(n, 2) blocks from one stereo stream, one mono stream (both ears), or two mono
    streams kept in step (the shorter is padded with silence at the end)."""
    if len(sides) == 1:
        for x in sides[0]:
            yield np.column_stack([x, x]) if x.ndim == 1 else x
        return
    pending = [np.zeros(0, np.float32), np.zeros(0, np.float32)]
    live = [True, True]
    while any(live):
        for k in (0, 1):
            if live[k] and pending[k].size < AUDIO_RATE * READ_BLOCK_S:
                try:
                    pending[k] = np.concatenate([pending[k], next(sides[k])])
                except StopIteration:
                    live[k] = False
        n = min(p.size for p in pending) if all(live) else max(p.size for p in pending)
        if n == 0 and any(live):
            continue
        out = np.zeros((n, 2), np.float32)
        for k in (0, 1):
            take = pending[k][:n]
            out[: take.size, k] = take
            pending[k] = pending[k][n:]
        if n:
            yield out


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
