"""The feed guard: duplicates and late events quarantined and counted, unsorted chunks re-sorted, stalls seen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from engine.exec.paper import PaperConfig
from engine.feeds.base import FeedStats
from engine.feeds.guard import FeedGuard
from engine.feeds.synthetic import SyntheticMarket
from engine.schema import Reason, Tape
from engine.store.lake import Lake
from tests.engine.exec.helpers import GEN, session

TAPE = SyntheticMarket(GEN.cfg).generate()


class ScriptedFeed:
    """Yields given chunks, sleeping where a chunk is a number (seconds)."""

    def __init__(self, items: list[Tape | float]) -> None:
        self.items = items
        self.stats = FeedStats()

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Tape]:
        for item in self.items:
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            self.stats.head_slot = int(item.slot[-1])
            yield item


HELD = np.arange(100, 103)  # held back by the feed: they arrive after later events ran
CLEAN = TAPE.take(np.setdiff1d(np.arange(TAPE.n_events), HELD))


def _bad_feed() -> tuple[list[Tape | float], int, int]:
    a = TAPE.take(np.setdiff1d(np.arange(400), HELD))
    b, c = TAPE.slice(400, 800), TAPE.slice(800, TAPE.n_events)
    shuffled = b.take(np.random.default_rng(1).permutation(b.n_events))
    items = [a, a.slice(387, 397), shuffled, b.slice(395, 400), TAPE.take(HELD), 0.25, c]
    return items, 10 + 5, HELD.size  # duplicates, out of order


async def _collect(guard: FeedGuard) -> list[Tape]:
    return [t async for t in guard]


def test_the_guard_yields_each_event_once_in_order_and_quarantines_the_rest() -> None:
    # Arrange
    items, n_dup, n_late = _bad_feed()
    dropped: list[tuple[Tape, np.ndarray]] = []
    guard = FeedGuard(ScriptedFeed(items), stall_timeout_s=0.1, memory_slots=10**9,
                      on_quarantine=lambda rows, reasons: dropped.append((rows, reasons)))
    # Act
    out = Tape.concat(asyncio.run(_collect(guard)), sort=False)
    # Assert
    assert out.equals(CLEAN)
    reasons = np.concatenate([r for _, r in dropped])
    assert int(np.sum(reasons == Reason.DUPLICATE_KEY)) == n_dup == guard.stats.duplicates
    assert int(np.sum(reasons == Reason.OUT_OF_ORDER)) == n_late == guard.stats.out_of_order
    assert guard.stats.reordered == 1
    assert guard.stats.stalls == 1 and not guard.stats.stalled


def test_a_session_on_a_bad_feed_matches_the_clean_market_and_counts_in_its_metrics(tmp_path) -> None:
    # Arrange
    items, n_dup, n_late = _bad_feed()
    s = session(tmp_path, "bad-feed", paper=PaperConfig(flush_every_s=0.05, checkpoint_every_s=0.1,
                                                        stall_timeout_s=0.1, metrics_port=0))
    # Act
    out = s.run(feed_factory=lambda start_slot: ScriptedFeed(items))
    text = s.metrics.exposition().decode()
    # Assert
    assert out.status == "completed" and out.n_events == CLEAN.n_events
    assert f'shoal_feed_anomalies_total{{kind="duplicate"}} {float(n_dup)}' in text
    assert f'shoal_feed_anomalies_total{{kind="out_of_order"}} {float(n_late)}' in text
    assert 'shoal_feed_anomalies_total{kind="stall"} 1.0' in text
    q = Lake(tmp_path).read("quarantine")
    assert sorted(q["reason"].unique().to_list()) == ["duplicate_key", "out_of_order"]
    assert q.height == n_dup + n_late
