"""The one driver from audio blocks to alerts, shared by live capture and replay.

`Pipeline.push(block)` analyses both speakers and returns the records that became certain;
`Pipeline.finish()` flushes the tail and returns the call summary. `analyze(blocks, cfg)`
wraps both as a generator. The pipeline owns no threads, reads no clock for decisions and
writes nothing: what runs live and what runs on a recording differ only in the blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from alerts.model import KINDS, Alert
from alerts.rules import TICK_HOPS, Detector
from audio.analyzer import ChannelAnalyzer
from audio.crosstalk import CrosstalkGuard
from audio.types import HOP, SPEAKERS, Block, HopFeatures, seconds
from monitor.config import Config


class Pipeline:
    """Both speakers' analysis and the detector, for one call."""

    def __init__(self, cfg: Config, call: str = "") -> None:
        self.cfg = cfg
        self.call = call
        self.analyzers = {sp: ChannelAnalyzer(sp, cfg.analysis) for sp in SPEAKERS}
        self.guard = CrosstalkGuard(cfg.analysis.crosstalk_margin_db)
        self.detector = Detector(cfg.detector, cfg.analysis.hangover_s, call)
        self.n_samples = 0
        self.dropped = 0
        self.counts: dict[str, int] = {k: 0 for k in KINDS}
        self._pending: list[tuple[HopFeatures, HopFeatures]] = []

    def push(self, block: Block) -> list[Alert]:
        """Analyse one block (blocks must be contiguous in stream time, gaps counted)."""
        if block.dropped_before:
            self.dropped += block.dropped_before
        self.n_samples = block.start + block.n_samples
        feats = [self.analyzers[sp].push(block.start, block.channel(sp)) for sp in SPEAKERS]
        return self._detect(feats[0], feats[1])

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
        for lo in range(0, whole, TICK_HOPS):
            hi = min(lo + TICK_HOPS, whole)
            self.guard.apply(agent.take(lo, hi), customer.take(lo, hi))
        alerts = self.detector.push(agent, customer)
        for alert in alerts:
            self.counts[alert.kind] += 1
        return alerts

    def finish(self) -> list[Alert]:
        """Flush the tail of the call; returns its last alerts."""
        tails = [self.analyzers[sp].flush()[0] for sp in SPEAKERS]
        alerts = self._detect(tails[0], tails[1], last=True)
        self.detector.finish(self.n_samples)
        return alerts

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
            "counts": {k: v for k, v in self.counts.items()},
            "dropped_s": seconds(self.dropped),
        }


def analyze(blocks: Iterable[Block], cfg: Config, call: str = "") -> Iterator[Alert]:
    """Run a whole call: yields alerts as they become certain."""
    pipe = Pipeline(cfg, call)
    for block in blocks:
        yield from pipe.push(block)
    yield from pipe.finish()
