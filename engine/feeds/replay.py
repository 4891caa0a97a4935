"""Replay the lake as a live feed: events released slot by slot at ``speed`` times real time.

The lake is read in time windows (an hour by default: memory holds one window, not the lake)
and cut into chunks of whole slots. A resumed session passes ``start_slot`` to continue
right after the last slot it journaled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from engine.errors import ConfigError
from engine.feeds.base import MAX_SPEED, FeedStats, Pacer
from engine.schema import Tape
from engine.store.lake import Lake

__all__ = ["LakeReplayFeed", "lake_span"]

_NS = 1_000_000_000


def lake_span(lake: Lake, start_ts_ns: int | None, stop_ts_ns: int | None) -> tuple[int, int, int, int, int]:
    """Events, first and last ``ts_ns``, first and last slot of the lake's events in [start, stop)."""
    import polars as pl

    total, t0, t1, s0, s1 = 0, None, None, None, None
    for name in lake.table_names():
        if name == "quarantine":
            continue
        n, a, b, c, d = lake.scan(name, start_ts_ns=start_ts_ns, stop_ts_ns=stop_ts_ns).select(
            pl.len().alias("n"), pl.col("ts_ns").min().alias("t0"), pl.col("ts_ns").max().alias("t1"),
            pl.col("slot").min().alias("s0"), pl.col("slot").max().alias("s1")).collect().row(0)
        if n:
            total += n
            t0, t1 = (a if t0 is None else min(t0, a)), (b if t1 is None else max(t1, b))
            s0, s1 = (c if s0 is None else min(s0, c)), (d if s1 is None else max(s1, d))
    return total, t0 or 0, t1 or 0, s0 or 0, s1 or 0


class LakeReplayFeed:
    """Yield the lake's events in [start_ts_ns, stop_ts_ns) as chunks of whole slots, paced.

    Parameters
    ----------
    lake : Lake
    start_ts_ns, stop_ts_ns : int, optional
        Time range (default: the whole lake).
    speed : float
        Factor over real time; `engine.feeds.base.MAX_SPEED` for no pacing.
    start_slot : int, optional
        Release no event before this slot (resume).
    max_chunk_slots : int
        Most slots in one chunk (a paced feed batches the slots due when it wakes up).
    window_s : int
        Seconds of events read from the lake at a time.
    """

    def __init__(self, lake: Lake, *, start_ts_ns: int | None = None, stop_ts_ns: int | None = None,
                 speed: float = MAX_SPEED, start_slot: int | None = None, max_chunk_slots: int = 150,
                 window_s: int = 3_600) -> None:
        n, t0, t1, s0, s1 = lake_span(lake, start_ts_ns, stop_ts_ns)
        if n == 0:
            msg = (f"the lake {str(lake.root)!r} has no events in that time range; "
                   "check --from/--to against `shoal lake info`")
            raise ConfigError(msg)
        self.lake = lake
        self.n_events, self.first_ts_ns, self.last_ts_ns = n, t0, t1
        self.first_slot, self.last_slot = s0, s1
        self.start_ts_ns = t0 if start_ts_ns is None else max(start_ts_ns, t0)
        self.stop_ts_ns = t1 + 1 if stop_ts_ns is None else stop_ts_ns
        self.speed = speed
        self.start_slot = s0 if start_slot is None else max(int(start_slot), s0)
        self.max_chunk_slots = max(1, int(max_chunk_slots))
        self.window_ns = int(window_s) * _NS
        self.stats = FeedStats()

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Tape]:
        pacer = Pacer(self.speed, self.start_slot)
        lo = self.start_ts_ns
        while lo < self.stop_ts_ns:
            hi = min(self.stop_ts_ns, lo + self.window_ns)
            tape = self.lake.read_tape(start_ts_ns=lo, stop_ts_ns=hi)
            lo = hi
            if tape.n_events and tape.slot[0] < self.start_slot:
                tape = tape.slice(int(np.searchsorted(tape.slot, self.start_slot, side="left")), tape.n_events)
            pos = 0
            while pos < tape.n_events:
                slot = int(tape.slot[pos])
                due = await pacer.wait_for(slot)
                last = slot + self.max_chunk_slots - 1 if self.speed == MAX_SPEED else \
                    max(slot, min(slot + self.max_chunk_slots - 1, pacer.due_slot()))
                end = int(np.searchsorted(tape.slot, last, side="right"))
                chunk = tape.slice(pos, end)
                pos = end
                self.stats.head_slot = int(chunk.slot[-1])
                self.stats.due_ns = due
                self.stats.chunks += 1
                self.stats.events += chunk.n_events
                yield chunk
