"""`run`: a strategy over a tape for N parameter rows, in one call or resumable chunks.

Four phases, as vectorbt's ``Portfolio.from_orders``: resolve and check the inputs; prepare
the kernel's arrays (`SimState` holds every array that changes, so a run can stop after any
event and continue later, in this process or another); run the specialised kernel; wrap the
buffers into polars frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import polars as pl

from engine.amm.state import N_STATE_COLS
from engine.errors import ConfigError, ShoalError
from engine.schema import Tape
from engine.sim.config import SimConfig
from engine.sim.ledger_nb import equity_nb
from engine.sim.market import Market
from engine.sim.market_nb import MarketDyn
from engine.sim.records import (
    ACC_CASH,
    ACC_FEE_BASE,
    ACC_FEE_DEX,
    ACC_FEE_PRIORITY,
    ACC_FIRST_SLOT,
    ACC_GROSS_LOSS,
    ACC_GROSS_WIN,
    ACC_INIT_CASH,
    ACC_LAST_EQUITY,
    ACC_LAST_MARK_SLOT,
    ACC_MAX_DRAWDOWN,
    ACC_N_CANCELLED,
    ACC_N_EQUITY,
    ACC_N_FILLED,
    ACC_N_FILLS,
    ACC_N_HONEYPOT,
    ACC_N_MIN_OUT,
    ACC_N_NO_FUNDS,
    ACC_N_NO_LIQ,
    ACC_N_ORDERS,
    ACC_N_OUTBID,
    ACC_N_PENDING,
    ACC_N_WINS,
    ACC_NEXT_EQUITY_SLOT,
    ACC_PEAK_EQUITY,
    ACC_REALIZED,
    ACC_SLOTS_IN_MARKET,
    ACC_TIP,
    ACC_TRADE_COUNT,
    EQUITY_DT,
    FILL_DT,
    HOLDING_DT,
    MAX_HOPS,
    N_ACC,
    ORDER_DT,
    Status,
)
from engine.sim.specialize import specialize
from engine.sim.strategy import Strategy


class CapacityError(ShoalError):
    """A preallocated buffer filled up; the message names the setting to raise."""


class ReportedFillError(ShoalError):
    """An OWN_FILL event named an order that is not pending (external fills)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Capacity:
    """Sizes of the per-row buffers (they never grow: a full one stops the run with an error)."""

    max_fills: int = 4_096  # 0: keep no fills (sweeps), only the counts and summaries
    max_holdings: int = 16
    max_pending: int = 16
    max_equity: int = 0  # 0: sized from the tape and equity_every_slots


@dataclass(slots=True, eq=False)
class SimState:
    """Every array a run changes; save it, load it in another process, continue bit-identically."""

    next_event: int
    acc: np.ndarray
    holdings: np.ndarray
    pending: np.ndarray
    fills: np.ndarray
    equity: np.ndarray
    sf: np.ndarray
    si: np.ndarray
    states: np.ndarray
    bar: np.ndarray
    outcome_px: np.ndarray
    payout: np.ndarray
    diverged: np.ndarray

    def save(self, path: str | Path) -> Path:
        """Write the state to one ``.npz`` file (atomically).

        Record arrays are stored as raw bytes and viewed back through the kernel's own dtypes
        on load: NumPy's round trip drops the aligned-struct flag, and Numba then compiles
        another record layout.
        """
        from engine.store.atomic import write_atomic

        path = Path(path)
        arrays = {}
        for f in fields(self):
            if f.name == "next_event":
                continue
            a = getattr(self, f.name)
            arrays[f.name] = np.ascontiguousarray(a).view(np.uint8) if f.name in _RECORD_FIELDS else a
            if f.name in _RECORD_FIELDS:
                arrays[f"{f.name}__shape"] = np.array(a.shape, dtype=np.int64)
        arrays["next_event"] = np.array(self.next_event, dtype=np.int64)

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.savez(fh, **arrays)

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: str | Path) -> SimState:
        with np.load(path) as z:
            kw = {k: z[k] for k in z.files if not k.endswith("__shape")}
            for name, dtype in _RECORD_FIELDS.items():
                kw[name] = np.ascontiguousarray(kw[name]).view(dtype).reshape(tuple(z[f"{name}__shape"]))
        kw["next_event"] = int(kw["next_event"])
        return cls(**kw)

    def copy(self) -> SimState:
        return SimState(next_event=self.next_event, **{f.name: getattr(self, f.name).copy()
                                                       for f in fields(self) if f.name != "next_event"})

    def equals(self, other: SimState) -> bool:
        """Bit-identical, every array."""
        return self.next_event == other.next_event and all(
            getattr(self, f.name).tobytes() == getattr(other, f.name).tobytes()
            for f in fields(self) if f.name != "next_event")


_RECORD_FIELDS = {"holdings": HOLDING_DT, "pending": ORDER_DT, "fills": FILL_DT, "equity": EQUITY_DT}


@dataclass(frozen=True, slots=True, eq=False)
class RunResult:
    """What a run returns: per-row summary, fills, equity samples, and the state to continue."""

    summary: pl.DataFrame
    fills: pl.DataFrame
    equity: pl.DataFrame
    state: SimState


def init_state(strategy: Strategy, params: np.ndarray, market: Market, cfg: SimConfig, cap: Capacity,
               tape: Tape) -> SimState:
    """Allocate a fresh state for ``params`` rows (zeros, so unused slots compare bit-identically)."""
    n = params.shape[0]
    acc = np.zeros((n, N_ACC), dtype=np.float64)
    # a strategy parameter named init_cash sets each row's starting cash (a sweep may vary it)
    cash = params["init_cash"].astype(np.float64) if "init_cash" in (params.dtype.names or ()) else cfg.init_cash
    for col in (ACC_CASH, ACC_INIT_CASH, ACC_PEAK_EQUITY, ACC_LAST_EQUITY):
        acc[:, col] = cash
    first_slot = int(tape.slot[0]) if tape.n_events else 0
    acc[:, ACC_FIRST_SLOT] = first_slot
    acc[:, ACC_LAST_MARK_SLOT] = first_slot
    acc[:, ACC_NEXT_EQUITY_SLOT] = first_slot
    holdings = np.zeros((n, cap.max_holdings), dtype=HOLDING_DT)
    holdings["asset"] = -1
    max_equity = cap.max_equity
    if max_equity == 0 and cfg.equity_every_slots > 0 and tape.n_events:
        max_equity = int((tape.slot[-1] - tape.slot[0]) // cfg.equity_every_slots) + 2
    n_f, n_i = strategy.state_size(params, market)
    sf = np.zeros((n, n_f), dtype=np.float64)
    si = np.zeros((n, n_i), dtype=np.int64)
    if strategy.init_state is not None:
        strategy.init_state(params, market, sf, si)
    dyn = market.initial_dyn()
    copies = n if cfg.impact == "counterfactual" else 1
    return SimState(
        next_event=0, acc=acc, holdings=holdings, pending=np.zeros((n, cap.max_pending), dtype=ORDER_DT),
        fills=np.zeros((n, max(cap.max_fills, 1)), dtype=FILL_DT), equity=np.zeros((n, max_equity), dtype=EQUITY_DT),
        sf=sf, si=si,
        states=np.repeat(dyn.states[None], copies, axis=0), bar=np.repeat(dyn.bar[None], copies, axis=0),
        outcome_px=np.repeat(dyn.outcome_px[None], copies, axis=0),
        payout=np.repeat(dyn.payout[None], copies, axis=0), diverged=np.repeat(dyn.diverged[None], copies, axis=0))


def run(tape: Tape, strategy: Strategy, params: np.ndarray, *, market: Market, cfg: SimConfig | None = None,
        seed: int | None = None, chunk_events: int | None = None, equity_every: int | None = None,
        start: int | None = None, stop: int | None = None, state: SimState | None = None,
        capacity: Capacity | None = None, row_base: int = 0) -> RunResult:
    """Run ``strategy`` with every row of ``params`` over tape events [start, stop).

    Parameters
    ----------
    tape : Tape
        Events sorted by ``(slot, seq)``.
    strategy : Strategy
        Callbacks and params dtype.
    params : ndarray
        Structured array of ``strategy.params_dtype``; one row per parameter set.
    market : Market
        Pools and assets the tape's ids refer to.
    cfg : SimConfig, optional
        Fill and cost model (defaults: `SimConfig()`); ``seed`` and ``equity_every`` override
        its ``seed`` and ``equity_every_slots``.
    chunk_events : int, optional
        Run in chunks of this many events through the resumable loop (bit-identical to one call).
    start, stop : int, optional
        Event window; ``start`` defaults to where ``state`` stopped (0 for a new run).
    state : SimState, optional
        Continue this state (from an earlier call, or `SimState.load`).
    row_base : int
        Grid id of ``params[0]`` when ``params`` are a shard of a larger grid: row ``i`` draws
        its randomness as row ``row_base + i`` of the grid would, so shards run anywhere give
        the grid's results. The frames still number rows from 0.
    """
    cfg = cfg or SimConfig()  # 1. resolve and check
    if seed is not None or equity_every is not None:
        from dataclasses import replace

        cfg = replace(cfg, seed=cfg.seed if seed is None else seed,
                      equity_every_slots=cfg.equity_every_slots if equity_every is None else equity_every)
    cap = capacity or Capacity()
    params = _check_params(strategy, params)
    if cfg.cash_asset != market.cash_asset:
        from dataclasses import replace

        cfg = replace(cfg, cash_asset=market.cash_asset)
    state = init_state(strategy, params, market, cfg, cap, tape) if state is None else state
    start = state.next_event if start is None else start
    stop = tape.n_events if stop is None else stop
    if not 0 <= start <= stop <= tape.n_events:
        msg = f"event window [{start}, {stop}) is outside the tape of {tape.n_events:,} events"
        raise ConfigError(msg)
    if start != state.next_event:
        msg = (f"this state continues at event {state.next_event:,}, but start was {start:,}; "
               "pass start=None to continue where it stopped")
        raise ConfigError(msg)
    kernel = specialize(strategy.module, has_on_fill=strategy.has_on_fill, events=strategy.events).simulate_rows_nb
    cols = tape.kernel_columns()  # 2. prepare
    rec = np.array([cfg.to_record()])
    if cap.max_fills == 0:
        if strategy.has_on_fill:
            msg = (f"strategy {strategy.name!r} reacts to its fills, so it needs them kept; "
                   "set Capacity.max_fills > 0")
            raise ConfigError(msg)
        rec["keep_fills"] = 0
    rec["row_base"] = row_base
    mk = market.static()
    n = params.shape[0]
    scratch = np.zeros((n, MAX_HOPS, N_STATE_COLS), dtype=np.float64)
    scratch_pool = np.zeros((n, MAX_HOPS), dtype=np.int64)
    per_row = cfg.impact == "counterfactual"
    aux = np.zeros((0, 0), dtype=np.float64) if strategy.prepare is None else \
        np.ascontiguousarray(strategy.prepare(tape, market, params), dtype=np.float64)
    if aux.ndim != 2:
        msg = f"strategy {strategy.name!r} prepare() must return a 2-d float64 table, was shape {aux.shape}"
        raise ConfigError(msg)
    step = (stop - start) if not chunk_events else int(chunk_events)
    if step <= 0 and stop > start:
        msg = f"chunk_events must be >= 1, was {chunk_events}"
        raise ConfigError(msg)
    pos = start
    while pos < stop:  # 3. run
        end = min(stop, pos + step)
        status = kernel(*cols, pos, end, params, rec, mk, state.states, state.bar, state.outcome_px, state.payout,
                        state.diverged, per_row, state.acc, state.holdings, state.pending, state.fills, state.equity,
                        state.sf, state.si, aux, scratch, scratch_pool)
        raise_for_status(status, cap, cfg)
        pos = end
        state.next_event = end
    return wrap(params, market, cfg, state, keep_fills=cap.max_fills > 0)  # 4. wrap


def stream(tapes: Iterable[Tape], strategy: Strategy, params: np.ndarray, *, market: Market,
           cfg: SimConfig | None = None, state: SimState | None = None, capacity: Capacity | None = None,
           on_chunk: Callable[[int, SimState], None] | None = None, row_base: int = 0) -> RunResult:
    """Run consecutive tapes (a lake read day by day, a live feed) as one run.

    Each tape continues the state of the one before, so memory holds one chunk at a time;
    the result equals `run` over the concatenated tape, bit for bit. ``on_chunk(n_events,
    state)`` is called after each chunk (progress bars, checkpoints); ``row_base`` as in `run`.
    """
    cfg = cfg or SimConfig()
    result = None
    last_slot = None
    for tape in tapes:
        if tape.n_events == 0:
            continue
        if last_slot is not None and tape.slot[0] < last_slot:
            msg = (f"stream chunks must follow each other in time; a chunk starts at slot {int(tape.slot[0]):,} "
                   f"after one that ended at {last_slot:,}")
            raise ConfigError(msg)
        if state is not None:
            state.next_event = 0  # continue the same run on the next tape
        result = run(tape, strategy, params, market=market, cfg=cfg, state=state, capacity=capacity,
                     row_base=row_base)
        state = result.state
        last_slot = int(tape.slot[-1])
        if on_chunk is not None:
            on_chunk(tape.n_events, state)
    if result is None:
        msg = "the stream had no events; check the time range or the lake"
        raise ConfigError(msg)
    return result


def _check_params(strategy: Strategy, params: np.ndarray) -> np.ndarray:
    if params.dtype != strategy.params_dtype:
        msg = (f"params have dtype {params.dtype}, but strategy {strategy.name!r} takes {strategy.params_dtype}; "
               "Hint: build them with strategy.params(...)")
        raise ConfigError(msg)
    if params.ndim != 1 or params.shape[0] == 0:
        msg = f"params must be a non-empty 1-d array of rows, was shape {params.shape}"
        raise ConfigError(msg)
    return np.ascontiguousarray(params)


def raise_for_status(status: np.ndarray, cap: Capacity, cfg: SimConfig) -> None:
    """Turn kernel status codes into errors that say which setting to raise (or what was wrong)."""
    unknown = np.flatnonzero(status == Status.UNKNOWN_FILL)
    if unknown.size:
        msg = (f"an OWN_FILL event named an order that is not pending, in {unknown.size} of {status.size} parameter "
               f"rows (first: row {unknown[0]}): a fill reported twice, or for an order this run never decided. "
               "Hint: each order settles once; check the tape's OWN_FILL rows (vals[3] is the order id)")
        raise ReportedFillError(msg)
    for code, setting, value in ((Status.FILLS_FULL, "max_fills", cap.max_fills),
                                 (Status.ORDERS_FULL, "max_pending", cap.max_pending),
                                 (Status.HOLDINGS_FULL, "max_holdings", cap.max_holdings),
                                 (Status.EQUITY_FULL, "max_equity", cap.max_equity)):
        bad = np.flatnonzero(status == code)
        if bad.size:
            msg = (f"{Status(code).name.lower().replace('_', ' ')} in {bad.size} of {status.size} parameter rows "
                   f"(first: row {bad[0]}, {setting}={value:,}); raise Capacity.{setting} (shoal backtest: "
                   f"--{setting.replace('_', '-')}) or run a shorter window")
            raise CapacityError(msg)


def final_equity(state: SimState, market: Market, cfg: SimConfig) -> np.ndarray:
    """Mark every row at the state's current market (without changing the state)."""
    mk = market.static()
    out = np.empty(state.acc.shape[0])
    for row in range(state.acc.shape[0]):
        m = row if state.states.shape[0] > 1 else 0
        dyn = MarketDyn(state.states[m], state.bar[m], state.outcome_px[m], state.payout[m], state.diverged[m])
        out[row] = equity_nb(state.acc[row].copy(), state.holdings[row].copy(), market.cash_asset, mk, dyn,
                             cfg.share_value)
    return out


def wrap(params: np.ndarray, market: Market, cfg: SimConfig, state: SimState, *, keep_fills: bool = True) -> RunResult:
    """Build the summary, fills and equity frames from the state's buffers."""
    acc = state.acc
    eq = final_equity(state, market, cfg)
    init = acc[:, ACC_INIT_CASH]
    span_slots = np.maximum(acc[:, ACC_LAST_MARK_SLOT] - acc[:, ACC_FIRST_SLOT], 0).astype(np.int64)
    peak = np.maximum(acc[:, ACC_PEAK_EQUITY], eq)
    max_dd = np.maximum(acc[:, ACC_MAX_DRAWDOWN], np.where(peak > 0, 1.0 - eq / peak, 0.0))
    cols = {
        "row": np.arange(acc.shape[0], dtype=np.int32),
        "init_cash": init, "final_equity": eq, "total_return": eq / init - 1.0, "max_drawdown": max_dd,
        "realized_pnl": acc[:, ACC_REALIZED], "cash": acc[:, ACC_CASH],
        "n_orders": acc[:, ACC_N_ORDERS].astype(np.int64), "n_filled": acc[:, ACC_N_FILLED].astype(np.int64),
        "n_below_min_out": acc[:, ACC_N_MIN_OUT].astype(np.int64), "n_outbid": acc[:, ACC_N_OUTBID].astype(np.int64),
        "n_honeypot": acc[:, ACC_N_HONEYPOT].astype(np.int64), "n_no_liquidity": acc[:, ACC_N_NO_LIQ].astype(np.int64),
        "n_no_funds": acc[:, ACC_N_NO_FUNDS].astype(np.int64), "n_cancelled": acc[:, ACC_N_CANCELLED].astype(np.int64),
        "n_pending": acc[:, ACC_N_PENDING].astype(np.int64),
        "fee_dex": acc[:, ACC_FEE_DEX], "fee_base": acc[:, ACC_FEE_BASE], "fee_priority": acc[:, ACC_FEE_PRIORITY],
        "tip": acc[:, ACC_TIP], "trades": acc[:, ACC_TRADE_COUNT].astype(np.int64),
        "wins": acc[:, ACC_N_WINS].astype(np.int64), "gross_win": acc[:, ACC_GROSS_WIN],
        "gross_loss": acc[:, ACC_GROSS_LOSS], "slots_in_market": acc[:, ACC_SLOTS_IN_MARKET].astype(np.int64),
        "span_slots": span_slots,
    }
    for name in params.dtype.names:
        cols[f"param_{name}"] = params[name]
    summary = pl.DataFrame(cols)
    return RunResult(summary=summary, fills=fills_frame(state, kept=keep_fills), equity=equity_frame(state),
                     state=state)


def fills_frame(state: SimState, *, kept: bool = True) -> pl.DataFrame:
    """All rows' fills as one frame, in (row, creation) order; hop arrays become pool0..2, side0..2.

    ``kept=False`` (a run with ``Capacity.max_fills=0``) gives an empty frame of the same columns.
    """
    counts = state.acc[:, ACC_N_FILLS].astype(np.int64) if kept else np.zeros(state.acc.shape[0], dtype=np.int64)
    parts = [state.fills[r, : counts[r]] for r in range(counts.size)]
    recs = np.concatenate(parts) if parts else np.zeros(0, dtype=FILL_DT)
    rows = np.repeat(np.arange(counts.size, dtype=np.int32), counts)
    cols: dict[str, np.ndarray] = {"row": rows}
    for name in FILL_DT.names:
        col = recs[name]
        if col.ndim == 2:
            for h in range(col.shape[1]):
                cols[f"{name}{h}"] = np.ascontiguousarray(col[:, h])
        else:
            cols[name] = np.ascontiguousarray(col)
    return pl.DataFrame(cols)


def equity_frame(state: SimState) -> pl.DataFrame:
    counts = state.acc[:, ACC_N_EQUITY].astype(np.int64)
    parts = [state.equity[r, : counts[r]] for r in range(counts.size)]
    recs = np.concatenate(parts) if parts else np.zeros(0, dtype=EQUITY_DT)
    return pl.DataFrame({"row": np.repeat(np.arange(counts.size, dtype=np.int32), counts), "slot": recs["slot"],
                         "ts_ns": recs["ts_ns"], "equity": recs["equity"]})

