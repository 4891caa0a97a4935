"""What a feed is to the paper executor: an async iterator of tape chunks, plus its counters.

Every feed (lake replay, synthetic live market, Solana websocket) yields `Tape` chunks whose
events are sorted by ``(slot, seq)`` and that follow each other in time. Paced feeds release
a slot's events no earlier than its wall-clock time: ``SLOT_NS / speed`` after the previous
slot (400 ms at x1, 4 us at x100,000, no wait at ``max``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.errors import ConfigError
from engine.layout import SLOT_NS
from engine.schema import Tape

__all__ = ["MAX_SPEED", "SPEED_LIMITS", "Feed", "FeedStats", "Pacer", "parse_speed"]

MAX_SPEED = math.inf
SPEED_LIMITS = (1.0, 100_000.0)


@dataclass(slots=True)
class FeedStats:
    """Counters of a feed and of the guard in front of the runner (exported as metrics).

    ``head_slot`` is the newest slot the feed has released; ``due_ns`` the wall-clock time
    (``time.perf_counter_ns``) at which the last chunk was due, so lag = receipt - due.
    """

    chunks: int = 0
    events: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    reordered: int = 0  # chunks that arrived unsorted and were put in order
    stalls: int = 0
    stalled: bool = False
    head_slot: int = -1
    due_ns: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


@runtime_checkable
class Feed(Protocol):
    """An async iterator of `Tape` chunks with a `FeedStats`."""

    stats: FeedStats

    def __aiter__(self) -> AsyncIterator[Tape]: ...


def parse_speed(text: str | float) -> float:
    """``"max"`` -> infinity; else a factor in [1, 100,000] (``"x2000"`` and ``"2000"`` both work)."""
    if isinstance(text, str):
        t = text.strip().lower().removeprefix("x")
        if t == "max":
            return MAX_SPEED
        try:
            value = float(t)
        except ValueError:
            value = math.nan
    else:
        value = float(text)
    if value == MAX_SPEED:
        return value
    lo, hi = SPEED_LIMITS
    if not lo <= value <= hi:  # NaN fails too
        msg = f"speed must be a factor in [{lo:g}, {hi:,.0f}] or 'max', was {text!r}"
        raise ConfigError(msg)
    return value


class Pacer:
    """Wall-clock schedule of slots: slot ``s`` is due ``(s - first) * SLOT_NS / speed`` after the start."""

    def __init__(self, speed: float, first_slot: int) -> None:
        self.speed = speed
        self.first_slot = first_slot
        self.t0_ns = time.perf_counter_ns()

    def due_ns(self, slot: int) -> int:
        if self.speed == MAX_SPEED:
            return self.t0_ns
        return self.t0_ns + int((slot - self.first_slot) * SLOT_NS / self.speed)

    def due_slot(self) -> int:
        """The newest slot due now."""
        if self.speed == MAX_SPEED:
            return 2**62
        return self.first_slot + int((time.perf_counter_ns() - self.t0_ns) * self.speed / SLOT_NS)

    async def wait_for(self, slot: int) -> int:
        """Sleep until ``slot`` is due; return its due time."""
        due = self.due_ns(slot)
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # let the metrics server and other tasks run
        return due
