"""The guard in front of the runner: duplicates, out-of-order events and stalls.

A feed may repeat an event (a websocket reconnect re-sends, a replay overlaps), deliver
events late or out of order, or go quiet. The kernel must see each event once, in
``(slot, seq)`` order, so the guard (DESIGN.md, "Bad input never crashes a run and is never
silently dropped"):

- re-sorts a chunk that arrives out of order within itself (nothing of it has run yet);
- drops an event whose ``(slot, seq)`` was already released: a **duplicate** when that key
  was seen in the last ``memory_slots`` slots, otherwise **out of order** (it arrived after
  later events ran); both go to quarantine with their reason (`Reason.DUPLICATE_KEY`,
  `Reason.OUT_OF_ORDER`) through ``on_quarantine`` and are counted in `FeedStats`;
- counts a **stall** when no chunk arrives for ``stall_timeout_s`` (once per quiet spell),
  flags it (the health endpoint reports it) and keeps waiting; with ``give_up_after_s`` a
  spell that long ends the run with an error instead.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import numpy as np

from engine.errors import ShoalError
from engine.feeds.base import Feed, FeedStats
from engine.schema import Reason, Tape

__all__ = ["FeedGuard", "FeedStalledError"]


class FeedStalledError(ShoalError):
    """The feed sent nothing for longer than the guard was told to wait."""


def _keys(tape: Tape) -> np.ndarray:
    return (tape.slot.astype(np.int64) << np.int64(32)) | (tape.seq.astype(np.int64) & np.int64(0xFFFFFFFF))


class FeedGuard:
    """Wrap ``feed`` and yield only new events, in order (see the module docstring).

    Parameters
    ----------
    feed : Feed
    stall_timeout_s : float
        Wall seconds without a chunk that count as a stall.
    give_up_after_s : float, optional
        End the run (`FeedStalledError`) after a stall this long; None waits for ever.
    memory_slots : int
        How many recent slots' keys are kept to tell a duplicate from a late event.
    on_quarantine : callable, optional
        ``(rows: Tape, reasons: ndarray of Reason codes) -> None`` for dropped events.
    on_stall : callable, optional
        ``(seconds_quiet: float) -> None`` when a stall starts.
    """

    def __init__(self, feed: Feed, *, stall_timeout_s: float = 10.0, give_up_after_s: float | None = None,
                 memory_slots: int = 64, on_quarantine: Callable[[Tape, np.ndarray], None] | None = None,
                 on_stall: Callable[[float], None] | None = None, last_key: tuple[int, int] | None = None) -> None:
        self.feed = feed
        self.stall_timeout_s = stall_timeout_s
        self.give_up_after_s = give_up_after_s
        self.memory_slots = memory_slots
        self.on_quarantine = on_quarantine
        self.on_stall = on_stall
        self.stats = FeedStats()
        self._last = (-1, -1) if last_key is None else last_key
        self._recent: deque[tuple[int, np.ndarray]] = deque()

    @property
    def source_stats(self) -> FeedStats:
        return self.feed.stats

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Tape]:
        it = aiter(self.feed)
        next_task: asyncio.Task | None = None
        quiet_since = time.monotonic()
        try:
            while True:
                if next_task is None:
                    next_task = asyncio.ensure_future(anext(it))
                done, _ = await asyncio.wait({next_task}, timeout=self.stall_timeout_s)
                if not done:
                    quiet = time.monotonic() - quiet_since
                    if not self.stats.stalled:
                        self.stats.stalled = True
                        self.stats.stalls += 1
                        if self.on_stall is not None:
                            self.on_stall(quiet)
                    if self.give_up_after_s is not None and quiet >= self.give_up_after_s:
                        msg = (f"the feed sent nothing for {quiet:.1f} s (give_up_after_s={self.give_up_after_s}); "
                               "check its connection, then resume the run")
                        raise FeedStalledError(msg)
                    continue
                task, next_task = next_task, None
                try:
                    tape = task.result()
                except StopAsyncIteration:
                    return
                quiet_since = time.monotonic()
                self.stats.stalled = False
                clean = self.clean(tape)
                if clean.n_events:
                    yield clean
        finally:
            if next_task is not None:
                next_task.cancel()

    def clean(self, tape: Tape) -> Tape:
        """Return the events of ``tape`` that are new, sorted; quarantine and count the rest."""
        n = tape.n_events
        if n == 0:
            return tape
        self.stats.chunks += 1
        slot, seq = tape.slot, tape.seq
        ls, lq = self._last
        first_new = slot[0] > ls or (slot[0] == ls and seq[0] > lq)
        if first_new:
            ds = np.diff(slot)
            if n == 1 or bool(np.all((ds > 0) | ((ds == 0) & (np.diff(seq) > 0)))):
                return self._accept(tape)
        return self._accept(self._repair(tape))

    def _repair(self, tape: Tape) -> Tape:
        slot, seq = tape.slot, tape.seq
        ls, lq = self._last
        is_new = (slot > ls) | ((slot == ls) & (seq > lq))
        keys = _keys(tape)
        reasons = np.zeros(tape.n_events, dtype=np.int8)
        old = np.flatnonzero(~is_new)
        if old.size:
            recent = np.concatenate([k for _, k in self._recent]) if self._recent else np.zeros(0, np.int64)
            seen = np.isin(keys[old], recent)
            reasons[old] = np.where(seen, Reason.DUPLICATE_KEY, Reason.OUT_OF_ORDER)
        new = np.flatnonzero(is_new)
        if new.size:
            order = new[np.lexsort((seq[new], slot[new]))]
            if np.any(order != new):
                self.stats.reordered += 1
            k = keys[order]
            repeat = np.zeros(order.size, dtype=np.bool_)
            repeat[1:] = k[1:] == k[:-1]
            reasons[order[repeat]] = Reason.DUPLICATE_KEY
            keep = order[~repeat]
        else:
            keep = new
        bad = np.flatnonzero(reasons)
        if bad.size:
            self.stats.duplicates += int(np.count_nonzero(reasons[bad] == Reason.DUPLICATE_KEY))
            self.stats.out_of_order += int(np.count_nonzero(reasons[bad] == Reason.OUT_OF_ORDER))
            if self.on_quarantine is not None:
                self.on_quarantine(tape.take(bad), reasons[bad])
        return tape.take(keep)

    def _accept(self, tape: Tape) -> Tape:
        if tape.n_events == 0:
            return tape
        last_slot = int(tape.slot[-1])
        self._last = (last_slot, int(tape.seq[-1]))
        self._recent.append((last_slot, _keys(tape)))
        while self._recent and self._recent[0][0] < last_slot - self.memory_slots:
            self._recent.popleft()
        self.stats.events += tape.n_events
        self.stats.head_slot = last_slot
        return tape
