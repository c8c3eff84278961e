"""The one driver from audio blocks to alerts, shared by live capture and replay.

`Pipeline.push(block)` analyses both speakers and returns the records that became certain;
`Pipeline.finish()` flushes the tail and returns the call summary. `analyze(blocks, cfg)`
wraps both as a generator. The pipeline owns no threads, reads no clock for decisions and
writes nothing: what runs live and what runs on a recording differ only in the blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from alerts.engine import Detector
from alerts.model import KINDS, Alert, Record
from alerts.settings import TICK_HOPS
from audio.analyzer import ChannelAnalyzer
from audio.bleed import BleedCanceller
from audio.crosstalk import CrosstalkGuard
from audio.transcribe import Snippet, Transcript
from audio.types import HOP, SPEAKERS, Block, HopFeatures, Segment, seconds
from monitor.config import Config
from monitor.speech import PhraseSpotter, SnippetCutter
from monitor.tracks import TrackRecorder

__all__ = ["Pipeline", "Record", "analyze"]


class Transcriber(Protocol):
    """What the pipeline needs of a transcription worker (audio/transcribe.py)."""

    def submit(self, snippet: Snippet) -> bool: ...
    def poll(self) -> list[Transcript]: ...
    def close(self, timeout: float | None = None) -> list[Transcript]: ...


class Pipeline:
    """Both speakers' analysis and the detector, for one call."""

    def __init__(
        self,
        cfg: Config,
        call: str = "",
        transcriber: Transcriber | None = None,
        spotter: PhraseSpotter | None = None,
        max_snippet_s: float = 10.0,
        tracks: bool = False,
    ) -> None:
        self.cfg = cfg
        self.call = call
        self.analyzers = {sp: ChannelAnalyzer(sp, cfg.analysis) for sp in SPEAKERS}
        self.guard = CrosstalkGuard(cfg.analysis.crosstalk_margin_db)
        self.bleed = BleedCanceller(cfg.bleed)
        self.detector = Detector(cfg.detector, cfg.analysis.hangover_s, call)
        self.n_samples = 0
        self.analysed = 0  # stream time analysed so far (the canceller holds up to 50 ms)
        self.dropped = 0
        self.counts: dict[str, int] = {k: 0 for k in KINDS}
        self._pending: list[tuple[HopFeatures, HopFeatures]] = []
        self.transcriber = transcriber
        self.spotter = spotter
        self.cutter = SnippetCutter(max_snippet_s) if transcriber is not None else None
        self.snippets = 0
        self.tracks = TrackRecorder(call) if tracks else None
        self._tracks: list[dict[str, Any]] = []

    def push(self, block: Block) -> list[Record]:
        """Analyse one block (blocks must be contiguous in stream time, gaps counted)."""
        if block.dropped_before:
            self.dropped += block.dropped_before
        self.n_samples = block.start + block.n_samples
        records: list[Record] = []
        for cleaned in self.bleed.push(block):  # the customer's voice out of the agent's mic
            records += self._analyse(cleaned)
        return records

    def _analyse(self, block: Block) -> list[Record]:
        """Both speakers' analysis of audio the bleed canceller has handed on."""
        self.analysed = block.start + block.n_samples
        feats = [self.analyzers[sp].push(block.start, block.channel(sp)) for sp in SPEAKERS]
        if self.cutter is not None:
            for sp in SPEAKERS:
                self.cutter.add_audio(sp, block.start, block.channel(sp))
            if self.bleed.backfill is not None:
                # Cancelling just began: the words heard before it are bleed too.
                self.cutter.audio["agent"].put(*self.bleed.backfill)
        records: list[Record] = list(self._detect(feats[0], feats[1]))
        return records + self._transcribe([f.segments for f in feats if f is not None])

    def _transcribe(self, closed: list[list[Segment]], last: bool = False) -> list[Record]:
        """Hand finished speech to the worker; collect what it has transcribed."""
        if self.transcriber is None or self.cutter is None:
            return []
        snippets = [s for segs in closed for s in self.cutter.segments(segs)]
        if not last:
            for sp in SPEAKERS:
                a = self.analyzers[sp]
                if a.speaking:
                    snip = self.cutter.long_turn(sp, a.segment_start, self.analysed)
                    if snip is not None:
                        snippets.append(snip)
        for snip in snippets:
            self.snippets += 1
            self.transcriber.submit(snip)
        done = self.transcriber.close() if last else self.transcriber.poll()
        return self._spot(done)

    def _spot(self, transcripts: list[Transcript]) -> list[Record]:
        out: list[Record] = []
        if self.spotter is None:
            return out
        for t in transcripts:
            for rec in self.spotter(t):
                if isinstance(rec, Alert):
                    self.counts[rec.kind] += 1
                out.append(rec)
        return out

    def _detect(
        self, agent: HopFeatures | None, customer: HopFeatures | None, last: bool = False
    ) -> list[Alert]:
        if agent is not None and customer is not None:
            self._pending.append((agent, customer))
        n = sum(a.n_hops for a, _ in self._pending)
        whole = n if last else n - n % TICK_HOPS
        if whole == 0:
            return []
        # Decisions run on whole ticks aligned to stream time, whatever the block size.
        joined_a = HopFeatures.join([p[0] for p in self._pending])
        joined_c = HopFeatures.join([p[1] for p in self._pending])
        self._pending = [] if whole == n else [(joined_a.take(whole, n), joined_c.take(whole, n))]
        agent, customer = joined_a.take(0, whole), joined_c.take(0, whole)
        # The guard judges tick by tick, all ticks of the block in one call.
        masks = self.guard.apply(agent, customer, TICK_HOPS)
        if self.cutter is not None:
            self.cutter.add_mask("agent", agent, masks[0])
            self.cutter.add_mask("customer", customer, masks[1])
        if self.tracks is None:
            alerts = self.detector.push(agent, customer)
        else:
            # A track record carries the baselines as they were at its end: the detector
            # runs up to each record's end before the recorder takes the hops.
            alerts = []
            for lo, hi in self.tracks.pieces(agent.start, agent.n_hops):
                part_a, part_c = agent.take(lo, hi), customer.take(lo, hi)
                alerts += self.detector.push(part_a, part_c)
                baselines = {sp: v.baseline for sp, v in self.detector.voices.items()}
                self._tracks += self.tracks.push({"agent": part_a, "customer": part_c}, baselines)
        for alert in alerts:
            self.counts[alert.kind] += 1
        return alerts

    def finish(self) -> list[Record]:
        """Flush the tail of the call (and pending transcription); returns the last records."""
        records: list[Record] = []
        for cleaned in self.bleed.flush():
            records += self._analyse(cleaned)
        tails = [self.analyzers[sp].flush() for sp in SPEAKERS]
        records += self._detect(tails[0][0], tails[1][0], last=True)
        self.detector.finish(self.n_samples)
        closed = [t[1] + (t[0].segments if t[0] is not None else []) for t in tails]
        records += self._transcribe(closed, last=True)
        if self.tracks is not None:
            baselines = {sp: v.baseline for sp, v in self.detector.voices.items()}
            self._tracks += self.tracks.flush(baselines)
        return records

    def take_tracks(self) -> list[dict[str, Any]]:
        """Track records finished so far (emptied by the call)."""
        out, self._tracks = self._tracks, []
        return out

    def summary(self) -> dict[str, Any]:
        """The `call_summary` record (without wall-clock fields)."""
        return {
            "record": "call_summary",
            "call": self.call,
            "duration_s": seconds(self.n_samples),
            **self.detector.summary(),
            "bleed_s": {
                "agent": seconds(self.guard.bleed_hops[0] * HOP),
                "customer": seconds(self.guard.bleed_hops[1] * HOP),
            },
            "headset_bleed": self.bleed.summary(),
            "counts": {k: v for k, v in self.counts.items()},
            "dropped_s": seconds(self.dropped),
            **self._speech_summary(),
        }

    def _speech_summary(self) -> dict[str, Any]:
        if self.transcriber is None:
            return {"transcription": None}
        stats = getattr(self.transcriber, "stats", None)
        info: dict[str, Any] = {"snippets": self.snippets}
        if stats is not None:
            st = stats() if callable(stats) else stats
            info.update(
                {
                    "transcribed": st.transcribed,
                    "skipped": st.skipped,
                    "skipped_s": round(st.skipped_s, 2),
                    "audio_s": round(st.audio_s, 2),
                    "compute_s": round(st.busy_s, 2),
                    "error": st.error,
                }
            )
        if self.cutter is not None:
            info["bleed_snippets_dropped"] = self.cutter.dropped_bleed
        cues = self.spotter.cue_counts if self.spotter is not None else {}
        return {"transcription": info, "cues": cues}


def analyze(blocks: Iterable[Block], cfg: Config, call: str = "") -> Iterator[Record]:
    """Run a whole call (acoustic alerts only): yields records as they become certain."""
    pipe = Pipeline(cfg, call)
    for block in blocks:
        yield from pipe.push(block)
    yield from pipe.finish()
