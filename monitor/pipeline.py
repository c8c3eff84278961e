"""The one driver from audio blocks to alerts, shared by live capture and replay.

`analyze(blocks, settings)` is the entry point everything runs (replay, live capture,
batch, and anyone using tonewatch from Python): iterate over what it returns for the
records as they become certain. Underneath, `Pipeline.push(block)` analyses both speakers
and returns the records that became certain, `Pipeline.finish()` flushes the tail, and
`Pipeline.snapshot` tells the state after each block. The pipeline owns no threads, reads
no clock for decisions and writes nothing: what runs live and what runs on a recording
differ only in the blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from alerts.engine import Detector
from alerts.model import KINDS, Alert, Record
from alerts.second_opinion import SecondOpinion
from alerts.settings import TICK_HOPS
from audio.analyzer import ChannelAnalyzer
from audio.bleed import BleedCanceller
from audio.crosstalk import CrosstalkGuard
from audio.transcribe import Snippet, Transcript, WorkerStats
from audio.types import HOP, SAMPLE_RATE, SPEAKERS, Block, HopFeatures, Segment, Speaker, seconds
from monitor.config import Config
from monitor.snapshot import BleedSnapshot, Snapshot, VoiceSnapshot
from monitor.speech import PhraseSpotter, SnippetCutter, Turns
from monitor.tracks import TrackRecorder

EARLY_LOOK_S = 1.2
"""Live, a customer turn this long (s) that is louder than their calm voice by half their
raised threshold, or comes before their calm voice is known, gets a provisional look: the
detector takes 1.6-3.6 s after an episode's start to decide, and the words of its first
second are then in by the time it does."""

METER_HOPS = 30
"""A speaker's level in the snapshot is the loudest hop of the last 300 ms: the scale the
baselines use (the loudest half of voiced hops), without flicker between syllables."""

__all__ = ["Analysis", "Pipeline", "Record", "analyze"]


class Transcriber(Protocol):
    """What the pipeline needs of a transcription worker (`audio.transcribe.TranscriptionWorker`).

    ``policy`` is "block" offline (the pipeline waits for words an alert needs, so verdicts
    do not depend on machine speed) or "drop_oldest" live (it only moves them to the front
    of the queue). Times are stream sample indices.
    """

    @property
    def policy(self) -> str: ...
    def submit(self, snippet: Snippet) -> bool: ...
    def poll(self) -> list[Transcript]: ...
    def close(self, timeout: float | None = None) -> list[Transcript]: ...
    def stats(self) -> WorkerStats: ...
    def pending_before(self, speaker: str, t: int) -> bool: ...
    def promote(self, speaker: str, t: int) -> None: ...
    def wait_for(self, speaker: str, t: int, timeout: float | None = None) -> bool: ...


class Pipeline:
    """Both speakers' analysis and the detector, for one call.

    Stages, in order, each speaking push / flush: the headset-bleed canceller (blocks ->
    cleaned blocks of whole 50 ms cells), each speaker's analyser (samples -> hop
    features), the crosstalk guard (masks the other speaker's echo, tick by tick), the
    detector (hop features -> alerts), the track recorder, and the turn tracker and
    snippet cutter feeding transcription. After every `push`, `snapshot` tells what the
    pipeline knows (see monitor/snapshot.py); nothing outside reads a stage.
    """

    def __init__(
        self,
        cfg: Config,
        call: str = "",
        transcriber: Transcriber | None = None,
        spotter: PhraseSpotter | None = None,
        max_snippet_s: float = 10.0,
        tracks: bool = False,
        opinion: SecondOpinion | None = None,
    ) -> None:
        self.cfg = cfg
        self.call = call
        self.analyzers = {sp: ChannelAnalyzer(sp, cfg.analysis) for sp in SPEAKERS}
        self.guard = CrosstalkGuard(cfg.analysis.crosstalk_margin_db)
        self.bleed = BleedCanceller(cfg.bleed)
        self.detector = Detector(cfg.detector, cfg.analysis.hangover_s, call)
        self.n_samples = 0
        self.decided = 0  # stream time the detector has decided up to (whole ticks)
        self.dropped = 0
        self.counts: dict[str, int] = {k: 0 for k in KINDS}
        self._pending: list[tuple[HopFeatures, HopFeatures]] = []
        self.transcriber = transcriber
        self.spotter = spotter
        self.cutter = SnippetCutter(max_snippet_s) if transcriber is not None else None
        a = cfg.analysis
        self.turns = {sp: Turns(sp, a.onset_s, a.hangover_s) for sp in SPEAKERS}
        self.snippets = 0
        self.looks = 0  # of which provisional looks at a turn under way
        self._building: int | None = None  # onset of the customer's episode building
        self._looked: int | None = None  # start of the customer turn last looked at
        self._voiced = (np.zeros(0, np.int64), np.zeros(0))  # customer's voiced hops: t, dB
        # The words as a second opinion on raised-voice alerts (alerts/second_opinion.py).
        offline = transcriber is not None and transcriber.policy == "block"
        self.opinion = (
            opinion
            if opinion is not None
            else SecondOpinion(words=transcriber is not None, offline=offline)
        )
        if spotter is not None:
            spotter.moment = self.opinion.tense  # guarded cues count in a tense moment
        self.tracks = TrackRecorder(call) if tracks else None
        self._tracks: list[dict[str, Any]] = []
        self._last_speech = {sp: False for sp in SPEAKERS}
        self._last_momentary: dict[Speaker, float | None] = {sp: None for sp in SPEAKERS}
        self._levels = {sp: np.zeros(0) for sp in SPEAKERS}  # the last METER_HOPS hops
        self._snapshot: Snapshot | None = None

    # -- the stage protocol -------------------------------------------------------------
    def push(self, block: Block) -> list[Record]:
        """Analyse one block (blocks must be contiguous in stream time, gaps counted)."""
        if block.dropped_before:
            self.dropped += block.dropped_before
        self.n_samples = block.start + block.n_samples
        records: list[Record] = []
        # The crosstalk guard compares the channels as captured: the headset-bleed canceller
        # leaves a residual of the other voice that no longer correlates with it.
        self.guard.push_audio(block.start, block.agent, block.customer)
        for cleaned in self.bleed.push(block):  # the customer's voice out of the agent's mic
            records += self._analyse(cleaned)
        self._snapshot = None
        return self._counted(records)

    def finish(self) -> list[Record]:
        """Flush the tail of the call (and pending transcription); returns the last records."""
        records: list[Record] = []
        for cleaned in self.bleed.flush():
            records += self._analyse(cleaned)
        tails = [self.analyzers[sp].flush()[0] for sp in SPEAKERS]
        records += self._detect(tails[0], tails[1], last=True)
        self.detector.finish(self.n_samples)
        done = self._transcribe([self.turns[sp].flush() for sp in SPEAKERS], last=True)
        records += self.opinion.push(self.decided, done, None)
        records += self.opinion.flush(self.decided)
        records += self._spot(done)
        if self.tracks is not None:
            self._tracks += self.tracks.flush(self._voices())
        self._snapshot = None
        return self._counted(records)

    flush = finish

    def _counted(self, records: list[Record]) -> list[Record]:
        """Every alert the pipeline emits is counted here, once."""
        for rec in records:
            if isinstance(rec, Alert):
                self.counts[rec.kind] += 1
        return records

    # -- stages -------------------------------------------------------------------------
    def _analyse(self, block: Block) -> list[Record]:
        """Both speakers' analysis of audio the bleed canceller has handed on."""
        feats = [self.analyzers[sp].push(block.start, block.channel(sp)) for sp in SPEAKERS]
        if self.cutter is not None:
            for sp in SPEAKERS:
                self.cutter.add_audio(sp, block.start, block.channel(sp))
            if self.bleed.backfill is not None:
                # Cancelling just began: the words heard before it are bleed too.
                self.cutter.replace_audio("agent", *self.bleed.backfill)
        return self._detect(feats[0], feats[1])

    def _detect(
        self, agent: HopFeatures | None, customer: HopFeatures | None, last: bool = False
    ) -> list[Record]:
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
        # The guard judges tick by tick, all ticks of the block in one call; from here on
        # speech is speech after the guard, for the rules and for transcription alike.
        masks = self.guard.apply(agent, customer, TICK_HOPS)
        self.decided = agent.start + agent.n_hops * HOP
        if self.cutter is not None and customer.n_hops:
            v = np.flatnonzero(customer.voiced)
            keep = self.decided - 5 * SAMPLE_RATE
            t = np.concatenate([self._voiced[0], customer.start + v.astype(np.int64) * HOP])
            lv = np.concatenate([self._voiced[1], customer.level_db[v]])
            self._voiced = (t[t >= keep], lv[t >= keep])
        for sp, f in zip(SPEAKERS, (agent, customer), strict=True):
            if f.n_hops:
                self._last_speech[sp] = bool(f.speech[-1])
                self._last_momentary[sp] = float(f.momentary_db[-1])
                self._levels[sp] = np.concatenate([self._levels[sp], f.level_db])[-METER_HOPS:]
        alerts: list[Alert] = []
        if self.tracks is None:
            alerts += self.detector.push(agent, customer)
        else:
            # A track record carries the baselines as they were at its end: the detector
            # runs up to each record's end before the recorder takes the hops.
            for lo, hi in self.tracks.pieces(agent.start, agent.n_hops):
                part_a, part_c = agent.take(lo, hi), customer.take(lo, hi)
                alerts += self.detector.push(part_a, part_c)
                parts = {"agent": part_a, "customer": part_c}
                self._tracks += self.tracks.push(parts, self._voices())
        # The words' second opinion sees the alerts before the speech is cut, so that a
        # turn under way is cut where an alert waits for its words.
        self.opinion.add(alerts)
        done: list[Transcript] = []
        if self.cutter is not None:
            closed = [
                self.turns[sp].push(f.start, f.speech, m)
                for sp, f, m in zip(SPEAKERS, (agent, customer), masks, strict=True)
            ]
            # The worker is closed by `finish`, once the open turns are flushed to it.
            done = self._transcribe(closed)
        records: list[Record] = list(self.opinion.push(self.decided, done, self._ready))
        early = self._words_decide()
        if early:
            self.opinion.add(early, early=True)
            records += self.opinion.push(self.decided, [], self._ready)
        return records + self._spot(done)

    def _words_decide(self) -> list[Alert]:
        """Live, the customer's raised or yelling state still building is decided now when
        it has held the yelling hold and the words already heard of that speech decide it
        (`SecondOpinion.decides`: positive, or cursing and insults); its alert, as the
        detector gives it, for the second opinion to judge at once. Offline the acoustic
        hold always runs its course (the words are waited for anyway): `decides` says no."""
        cand = self.detector.voices["customer"].building(self.decided)
        if cand is None or not self.opinion.decides("customer", cand.start, self.decided):
            return []
        return self.detector.decide_building("customer", self.decided)

    def _ready(self, speaker: str, t: int) -> bool:
        """Whether `speaker`'s speech up to stream time `t` has been transcribed."""
        if self.transcriber is None or self.cutter is None:
            return True
        sp: Speaker = "agent" if speaker == "agent" else "customer"
        submitted = self.turns[sp].open_start is None or self.cutter.cut_done[sp] >= t
        return submitted and not self.transcriber.pending_before(speaker, t)

    def _transcribe(self, closed: list[list[Segment]], last: bool = False) -> list[Transcript]:
        """Hand finished turns to the worker; collect what it has transcribed."""
        if self.transcriber is None or self.cutter is None:
            return []
        offline = self.transcriber.policy == "block"
        wanted = self.opinion.wanted(self.decided)
        # Live, the speech of an episode that is building is sent at once, to the front of
        # the queue, so its words are in when the detector decides (offline, the words
        # are waited for). Those looks at a turn under way are provisional snippets: the
        # turn is still transcribed whole when it ends.
        building = [] if offline or last else self._episodes_building()
        for sp, t in [*building, *wanted]:
            self.cutter.request_cut(sp, t)  # type: ignore[arg-type]
        snippets = [s for segs in closed for s in self.cutter.segments(segs)]
        if not last:
            for sp in SPEAKERS:
                begun = self.turns[sp].open_start
                early = self.cutter.cut_open(sp, begun, self.decided)
                if early is not None:
                    snippets.append(early)
                if begun is not None:
                    snip = self.cutter.long_turn(sp, begun, self.decided)
                    if snip is not None:
                        snippets.append(snip)
        for snip in snippets:
            self.snippets += 1
            self.looks += snip.provisional
            self.transcriber.submit(snip)
        if last:
            return self.transcriber.close()
        for sp, t in wanted:
            # Offline, wait for the words so verdicts do not depend on machine speed;
            # live, only move them to the front of the queue.
            if offline:
                self.transcriber.wait_for(sp, t)
            else:
                self.transcriber.promote(sp, t)
        # A look goes to the front of the queue when it is sent (its cut may come a few
        # ticks after it was asked for, at a pause).
        looked = [] if offline else [(s.speaker, self.decided) for s in snippets if s.provisional]
        for sp, t in dict.fromkeys([*building, *looked]):
            self.transcriber.promote(sp, t)
        return self.transcriber.poll()

    def _episodes_building(self) -> list[tuple[Speaker, int]]:
        """[("customer", now)] when the customer's speech should be looked at now: their
        raised or yelling episode began building at this tick (the detector holds a
        candidate it has not alerted yet), or their turn is `EARLY_LOOK_S` old and sounds
        raised. The agent's alerts need the customer's verdict more than their own
        words, so only the customer's speech is sent this early."""
        voice = self.detector.voices["customer"]
        cand = voice.candidate
        key = None if cand is None or voice.state != "normal" else cand.start
        if key is not None and key != self._building:
            self._building = key
            return [("customer", self.decided)]
        turn = self.turns["customer"].open_start
        if turn is None or turn == self._looked or voice.state != "normal":
            return []
        if self.decided - turn < EARLY_LOOK_S * SAMPLE_RATE:
            return []
        self._looked = turn
        return [("customer", self.decided)] if self._sounds_raised(turn) else []

    def _sounds_raised(self, since: int) -> bool:
        """The customer's voiced speech since `since` is louder than their calm voice by
        half their raised threshold (or their calm voice is not known yet)."""
        voice = self.detector.voices["customer"]
        calm = voice.baseline.stats
        t, levels = self._voiced
        now = levels[t >= since]
        if now.size < 10:  # under 0.1 s voiced: nothing to go on
            return False
        if calm is None:
            return True
        return float(np.mean(now)) - calm.level_db >= 0.5 * voice.raised_db()

    def _spot(self, transcripts: list[Transcript]) -> list[Record]:
        """Transcript records and phrase alerts; a provisional look at a turn under way is
        only for the second opinion (the turn's own transcript comes when it ends)."""
        out: list[Record] = []
        if self.spotter is None:
            return out
        for t in transcripts:
            if not t.provisional:
                out += self.spotter(t)
        return out

    # -- what the pipeline publishes ----------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The pipeline's state after the latest `push` (frozen; built when first asked)."""
        if self._snapshot is None:
            voices = self._voices()
            b = self.bleed
            self._snapshot = Snapshot(
                call=self.call,
                t=self.decided,
                received=self.n_samples,
                agent=voices["agent"],
                customer=voices["customer"],
                bleed=BleedSnapshot(
                    detected=b.detected,
                    active=b.active,
                    delay_ms=b.delay * 1000 / SAMPLE_RATE if b.detected else None,
                    gain_db=float(20 * np.log10(abs(b.gain))) if b.detected and b.gain else None,
                ),
                dropped=self.dropped,
            )
        return self._snapshot

    def _voices(self) -> dict[Speaker, VoiceSnapshot]:
        out: dict[Speaker, VoiceSnapshot] = {}
        for sp in SPEAKERS:
            voice = self.detector.voices[sp]
            stats = voice.baseline.stats
            levels = self._levels[sp]
            out[sp] = VoiceSnapshot(
                speaking=self._last_speech[sp],
                turn_start=self.turns[sp].open_start,
                level_db=float(levels.max()) if levels.size else None,
                momentary_db=self._last_momentary[sp],
                baseline_level_db=None if stats is None else stats.level_db,
                baseline_pitch_st=None if stats is None else stats.pitch_st,
                baseline_balance_db=None if stats is None else stats.balance_db,
                learning=voice.baseline.progress,
                state=voice.state,
                raised_db=voice.raised_db(),
            )
        return out

    def take_tracks(self) -> list[dict[str, Any]]:
        """Track records finished so far (emptied by the call)."""
        out, self._tracks = self._tracks, []
        return out

    def summary(self) -> dict[str, Any]:
        """The analysis part of the `call_summary` record (no wall-clock fields)."""
        return {
            "record": "call_summary",
            "call": self.call,
            "duration_s": seconds(self.n_samples),
            **self.detector.summary(),
            "crosstalk_s": {
                "agent": seconds(self.guard.echo.shared_hops[0] * HOP),
                "customer": seconds(self.guard.echo.shared_hops[1] * HOP),
            },
            "bleed_s": {
                "agent": seconds(self.guard.bleed_hops[0] * HOP),
                "customer": seconds(self.guard.bleed_hops[1] * HOP),
            },
            "headset_bleed": self.bleed.summary(),
            "counts": {k: v for k, v in self.counts.items()},
            "dropped_s": seconds(self.dropped),
            "second_opinion": self.opinion.summary(),
            **self._speech_summary(),
        }

    def _speech_summary(self) -> dict[str, Any]:
        if self.transcriber is None:
            return {"transcription": None}
        st = self.transcriber.stats()
        info: dict[str, Any] = {
            "snippets": self.snippets,
            "looks": self.looks,
            "transcribed": st.transcribed,
            "skipped": st.skipped,
            "skipped_s": round(st.skipped_s, 2),
            "audio_s": round(st.audio_s, 2),
            "compute_s": round(st.busy_s, 2),
            "error": st.error,
        }
        cues = self.spotter.cue_counts if self.spotter is not None else {}
        return {"transcription": info, "cues": cues}


class Analysis:
    """A call under analysis: iterate over it for its records, as they become certain.

    Made by `analyze`. Iterating pushes the blocks through the `Pipeline`, one at a time,
    and finishes the call when they run out; `after_block` (if given) is called after each
    block. When the blocks fail part-way (a `SourceError` from the source), the error
    reaches the caller and `finish()` gives the records still owed. Between blocks,
    `snapshot` is the pipeline's state; at the end, `summary()` its totals.
    """

    def __init__(
        self,
        blocks: Iterable[Block],
        pipeline: Pipeline,
        after_block: Callable[[Analysis], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._blocks = blocks
        self._after_block = after_block
        self._finished = False

    def __iter__(self) -> Iterator[Record]:
        for block in self._blocks:
            yield from self.pipeline.push(block)
            if self._after_block is not None:
                self._after_block(self)
        yield from self.finish()

    def finish(self) -> list[Record]:
        """End the call (once): the records of its tail."""
        if self._finished:
            return []
        self._finished = True
        return self.pipeline.finish()

    @property
    def snapshot(self) -> Snapshot:
        return self.pipeline.snapshot

    def take_tracks(self) -> list[dict[str, Any]]:
        return self.pipeline.take_tracks()

    def summary(self) -> dict[str, Any]:
        return self.pipeline.summary()


def analyze(
    blocks: Iterable[Block],
    settings: Config,
    call: str = "",
    *,
    transcriber: Transcriber | None = None,
    spotter: PhraseSpotter | None = None,
    tracks: bool = False,
    after_block: Callable[[Analysis], None] | None = None,
) -> Analysis:
    """Analyse a call: the one entry point replay, live capture and batch run.

    Args:
        blocks: the call's audio, any iterable of `Block`s in stream order (a
            `FileSource`, an `ArraySource`, live capture, your own); any block size.
        settings: validated settings (`monitor.config.load_config`).
        call: call id stamped on every record.
        transcriber: a transcription worker (`audio.transcribe.TranscriptionWorker`) for
            transcripts and phrase alerts, with `spotter`; None for acoustic alerts only.
        spotter: turns transcripts into transcript records and phrase alerts.
        tracks: also collect the 10 Hz track records (`take_tracks()`).
        after_block: called after every block (to read `snapshot`, write tracks, ...).

    Returns:
        An `Analysis`: iterate over it for `Alert` and `TranscriptRecord`s.
    """
    pipe = Pipeline(
        settings,
        call,
        transcriber,
        spotter,
        max_snippet_s=settings.transcription.max_snippet_s,
        tracks=tracks,
    )
    return Analysis(blocks, pipe, after_block)
