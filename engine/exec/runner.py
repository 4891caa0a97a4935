"""The incremental runner: the backtest kernel, driven one chunk at a time from a feed.

`ChunkKernel` is the incremental twin of `engine.sim.run`: the same resolve and prepare
steps, once, then the same specialised ``simulate_rows_nb`` on each chunk as a tape of its
own, continuing one `SimState` (as `engine.sim.stream` does, without wrapping frames after
every call: building the summary and the fill frames costs more than a small chunk).
Chunk invariance of the kernel makes the result bit-identical to one `run` over the
concatenated chunks; ``shoal parity`` checks exactly that.

`Runner` adds what a live session needs: the global event count, the last slot, and the
counters (orders, fills, failures by reason) the metrics export.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numba
import numpy as np

from engine.amm.state import N_STATE_COLS
from engine.errors import ConfigError
from engine.schema import Tape
from engine.sim.config import SimConfig
from engine.sim.market import Market
from engine.sim.records import (
    ACC_N_CANCELLED,
    ACC_N_FILLED,
    ACC_N_FILLS,
    ACC_N_HONEYPOT,
    ACC_N_MIN_OUT,
    ACC_N_NO_FUNDS,
    ACC_N_NO_LIQ,
    ACC_N_ORDERS,
    ACC_N_OUTBID,
    ACC_REALIZED,
    MAX_HOPS,
)
from engine.sim.runner import Capacity, RunResult, SimState, final_equity, init_state, raise_for_status, wrap
from engine.sim.specialize import specialize
from engine.sim.strategy import Strategy

__all__ = ["FAILURE_REASONS", "ChunkKernel", "Runner", "Step"]

# order outcomes other than a fill, as the metrics name them, with their accumulator
FAILURE_REASONS = {"below_min_out": ACC_N_MIN_OUT, "outbid": ACC_N_OUTBID, "honeypot": ACC_N_HONEYPOT,
                   "no_liquidity": ACC_N_NO_LIQ, "no_funds": ACC_N_NO_FUNDS, "cancelled": ACC_N_CANCELLED}
_COUNTER_COLS = np.array([ACC_N_ORDERS, ACC_N_FILLED, *FAILURE_REASONS.values()], dtype=np.int64)


class ChunkKernel:
    """Run tape chunks through the specialised kernel, continuing one state.

    Parameters
    ----------
    strategy, params, market, cfg, capacity
        As for `engine.sim.run`. ``cfg.cash_asset`` is set to the market's, as `run` does.
    """

    def __init__(self, strategy: Strategy, params: np.ndarray, *, market: Market, cfg: SimConfig,
                 capacity: Capacity) -> None:
        if params.dtype != strategy.params_dtype or params.ndim != 1 or params.shape[0] == 0:
            msg = (f"params must be a non-empty 1-d array of {strategy.name!r}'s dtype, was {params.dtype} "
                   f"with shape {params.shape}; Hint: build them with strategy.params(...)")
            raise ConfigError(msg)
        if capacity.max_fills == 0:
            msg = "a paper run journals its fills; set Capacity.max_fills > 0"
            raise ConfigError(msg)
        if cfg.cash_asset != market.cash_asset:
            cfg = replace(cfg, cash_asset=market.cash_asset)
        self.strategy = strategy
        self.params = np.ascontiguousarray(params)
        self.market = market
        self.cfg = cfg
        self.capacity = capacity
        self._kernel = specialize(strategy.module, has_on_fill=strategy.has_on_fill,
                                  events=strategy.events).simulate_rows_nb
        self._rec = np.array([cfg.to_record()])
        self._mk = market.static()
        n = params.shape[0]
        self._scratch = np.zeros((n, MAX_HOPS, N_STATE_COLS), dtype=np.float64)
        self._scratch_pool = np.zeros((n, MAX_HOPS), dtype=np.int64)
        self._per_row = cfg.impact == "counterfactual"
        self._no_aux = np.zeros((0, 0), dtype=np.float64)
        # a prepare() that reads only the market and params (arbitrage's cycle table) runs once, not per chunk;
        # Strategy has no such flag yet (see the issue 7 notes): a strategy may set prepare_scope = "market"
        self._aux_once = getattr(strategy, "prepare_scope", "tape") == "market"
        self._aux: np.ndarray | None = None
        # one thread per parameter row at most: a paper run has one or a few rows, and a parallel region
        # whose idle workers wait at a barrier costs a scheduler time slice (~10 ms) on a busy machine
        self.threads = max(1, min(n, numba.config.NUMBA_NUM_THREADS))

    def warm_up(self) -> None:
        """Compile (or load from cache) the kernel now, on an empty window, not on the first event."""
        empty = Tape.empty()
        state = self.new_state(empty)
        self._kernel(*empty.kernel_columns(), 0, 0, self.params, self._rec, self._mk, state.states, state.bar,
                     state.outcome_px, state.payout, state.diverged, self._per_row, state.acc, state.holdings,
                     state.pending, state.fills, state.equity, state.sf, state.si, self._no_aux, self._scratch,
                     self._scratch_pool)

    def new_state(self, first_chunk: Tape) -> SimState:
        """A fresh state for a run whose first event is ``first_chunk``'s first."""
        return init_state(self.strategy, self.params, self.market, self.cfg, self.capacity, first_chunk)

    def step(self, chunk: Tape, state: SimState) -> None:
        """Run every event of ``chunk`` (a tape of its own) on ``state``, in place."""
        if chunk.n_events == 0:
            return
        if self.strategy.prepare is None:
            aux = self._no_aux
        elif self._aux_once and self._aux is not None:
            aux = self._aux
        else:
            aux = self._aux = np.ascontiguousarray(self.strategy.prepare(chunk, self.market, self.params),
                                                   dtype=np.float64)
        prev = numba.get_num_threads()
        numba.set_num_threads(self.threads)
        try:
            status = self._kernel(*chunk.kernel_columns(), 0, chunk.n_events, self.params, self._rec, self._mk,
                                  state.states, state.bar, state.outcome_px, state.payout, state.diverged,
                                  self._per_row, state.acc, state.holdings, state.pending, state.fills, state.equity,
                                  state.sf, state.si, aux, self._scratch, self._scratch_pool)
        finally:
            numba.set_num_threads(prev)
        raise_for_status(status, self.capacity, self.cfg)
        state.next_event = chunk.n_events

    def wrap(self, state: SimState) -> RunResult:
        """Summary, fills and equity frames of ``state`` (as `engine.sim.run` returns them)."""
        return wrap(self.params, self.market, self.cfg, state)

    def equity(self, state: SimState) -> np.ndarray:
        return final_equity(state, self.market, self.cfg)


@dataclass(frozen=True, slots=True)
class Step:
    """What one chunk did (deltas summed over parameter rows)."""

    n_events: int
    kernel_ns: int
    orders: int
    filled: int
    failures: dict[str, int]


class Runner:
    """Drive a `ChunkKernel` from chunks and keep the run's position and counters.

    Parameters
    ----------
    kernel : ChunkKernel
    state : SimState, optional
        A state to continue (from a checkpoint); a fresh one is made on the first chunk.
    n_events : int
        Events the state has already seen (the checkpoint's event index).
    last_slot : int, optional
        Slot of the last event the state has seen.
    """

    def __init__(self, kernel: ChunkKernel, state: SimState | None = None, *, n_events: int = 0,
                 last_slot: int | None = None) -> None:
        self.kernel = kernel
        self.state = state
        self.n_events = n_events
        self.last_slot = last_slot
        self._counters = self._totals()

    def _totals(self) -> np.ndarray:
        if self.state is None:
            return np.zeros(_COUNTER_COLS.size, dtype=np.float64)
        return self.state.acc[:, _COUNTER_COLS].sum(axis=0)

    def step(self, chunk: Tape) -> Step:
        """Run one chunk; return its counts."""
        if chunk.n_events == 0:
            return Step(0, 0, 0, 0, dict.fromkeys(FAILURE_REASONS, 0))
        if self.state is None:
            self.state = self.kernel.new_state(chunk)
        t0 = time.perf_counter_ns()
        self.kernel.step(chunk, self.state)
        kernel_ns = time.perf_counter_ns() - t0
        self.n_events += chunk.n_events
        self.last_slot = int(chunk.slot[-1])
        totals = self._totals()
        delta = (totals - self._counters).astype(np.int64)
        self._counters = totals
        return Step(chunk.n_events, kernel_ns, int(delta[0]), int(delta[1]),
                    {k: int(v) for k, v in zip(FAILURE_REASONS, delta[2:], strict=True)})

    @property
    def n_fills(self) -> np.ndarray:
        """Fill records per row so far."""
        if self.state is None:
            return np.zeros(self.kernel.params.shape[0], dtype=np.int64)
        return self.state.acc[:, ACC_N_FILLS].astype(np.int64)

    def equity(self) -> np.ndarray:
        if self.state is None:
            return np.full(self.kernel.params.shape[0], self.kernel.cfg.init_cash)
        return self.kernel.equity(self.state)

    def realized(self) -> np.ndarray:
        if self.state is None:
            return np.zeros(self.kernel.params.shape[0])
        return self.state.acc[:, ACC_REALIZED].copy()

    def result(self) -> RunResult:
        if self.state is None:
            msg = "the run has seen no events yet; nothing to summarise"
            raise ConfigError(msg)
        return self.kernel.wrap(self.state)
