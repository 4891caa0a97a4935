"""Helpers shared by the bar strategies (`ma_cross`, `breakout`): BAR tapes from arrays."""

from __future__ import annotations

import numpy as np

from engine.layout import EventKind
from engine.schema import Tape


def bar_tape(close: np.ndarray, *, open_: np.ndarray | None = None, high: np.ndarray | None = None,
             low: np.ndarray | None = None, volume: np.ndarray | None = None, instrument: int = 0,
             ts_ns: np.ndarray | None = None) -> Tape:
    """Return a tape of BAR events of one instrument, one bar per slot (slot = bar index).

    Missing open/high/low default to the close, volume to 0; ``ts_ns`` defaults to one
    bar per second from 0.
    """
    close = np.ascontiguousarray(close, dtype=np.float64)
    n = close.shape[0]
    vals = np.empty((n, 5), dtype=np.float64)
    for j, col in enumerate((open_, high, low, close, volume)):
        vals[:, j] = (0.0 if j == 4 else close) if col is None else col
    slot = np.arange(n, dtype=np.int64)
    return Tape.from_columns(slot=slot, seq=np.zeros(n, dtype=np.int32),
                             ts_ns=slot * 1_000_000_000 if ts_ns is None else ts_ns,
                             kind=np.full(n, EventKind.BAR, dtype=np.int8),
                             pool_id=np.full(n, instrument, dtype=np.int32), vals=vals)
