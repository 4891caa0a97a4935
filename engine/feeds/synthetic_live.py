"""A synthetic market generated on the fly and released in real (or accelerated) time.

For paper runs with no lake: `SyntheticMarket` produces each slot's events when the slot is
due. The generator is chunk-invariant, so starting at a later slot (resume) by generating and
discarding everything before it gives exactly the market an uninterrupted run saw.

The pools and tokens of launches that happen later in the span are not known to a fresh
generator; `synthetic_market` runs a throwaway generator over the whole span first (about
0.2 s per day of market) to build the `Market` with every pool the run will meet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from engine.feeds.base import MAX_SPEED, FeedStats, Pacer
from engine.feeds.synthetic import SLOTS_PER_DAY, SyntheticConfig, SyntheticMarket
from engine.schema import Tape
from engine.sim.market import Market

__all__ = ["SyntheticLiveFeed", "synthetic_market"]

_SKIP_CHUNK_SLOTS = 2_160  # slots per call while skipping ahead (pre-pass, resume): small, to keep memory low


def _lean(cfg: SyntheticConfig) -> SyntheticConfig:
    """The same market without the latent-truth buffer (sampled once a day: ~90 MB less over 3 days).

    ``truth_every_slots`` only says how often the generator records its latent prices for
    tests and notebooks; the events do not depend on it.
    """
    return replace(cfg, truth_every_slots=SLOTS_PER_DAY)


def synthetic_market(cfg: SyntheticConfig) -> tuple[Market, SyntheticMarket]:
    """Return the `Market` of the whole span of ``cfg`` (every pool that will ever launch) and its generator."""
    gen = SyntheticMarket(_lean(cfg))
    while not gen.done:
        gen.next_chunk(_SKIP_CHUNK_SLOTS)
    market = Market.from_registries(gen.pools, gen.tokens, n_markets=gen.markets.height)
    return market, gen


class SyntheticLiveFeed:
    """Yield the synthetic market slot by slot, paced at ``speed`` times real time.

    Parameters
    ----------
    cfg : SyntheticConfig
        The market (its seed, span and size).
    speed : float
        Factor over real time (400 ms slots); `engine.feeds.base.MAX_SPEED` for no pacing.
    start_slot : int, optional
        First slot to release (resume); earlier slots are generated and discarded.
    max_chunk_slots : int
        Most slots in one chunk. A chunk holds the slots that are due when the feed wakes up,
        so a fast feed batches slots instead of sleeping microseconds; at ``max`` speed every
        chunk has this many slots.
    """

    def __init__(self, cfg: SyntheticConfig, *, speed: float, start_slot: int | None = None,
                 max_chunk_slots: int = 150) -> None:
        self.cfg = cfg
        self.speed = speed
        self.start_slot = cfg.start_slot if start_slot is None else max(int(start_slot), cfg.start_slot)
        self.max_chunk_slots = max(1, int(max_chunk_slots))
        self.stats = FeedStats()
        self.end_slot = cfg.start_slot + cfg.n_slots

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Tape]:
        gen = SyntheticMarket(_lean(self.cfg))
        while gen.next_slot < self.start_slot:  # skip ahead: same market, chunk-invariant
            gen.next_chunk(min(_SKIP_CHUNK_SLOTS, self.start_slot - gen.next_slot))
        pacer = Pacer(self.speed, self.start_slot)
        while not gen.done:
            slot = gen.next_slot
            due = await pacer.wait_for(slot)
            n = self.max_chunk_slots if self.speed == MAX_SPEED else \
                max(1, min(self.max_chunk_slots, pacer.due_slot() - slot + 1))
            tape = gen.next_chunk(n)
            self.stats.head_slot = gen.next_slot - 1
            self.stats.due_ns = due
            if tape.n_events:
                self.stats.chunks += 1
                self.stats.events += tape.n_events
                yield tape
