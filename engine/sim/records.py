"""Record dtypes and status codes of the simulation kernel (NumPy only, usable in kernels).

Buffers are preallocated with `np.zeros` by the Python API and filled by kernels in creation
order; a full buffer returns a status, it never grows, drops or overwrites.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

MAX_HOPS = 3


class FillStatus(IntEnum):
    """Outcome of one order at landing. Add at the end; never renumber (stored in journals)."""

    FILLED = 0
    BELOW_MIN_OUT = 1  # landed, output < min_out; base and priority fees still paid
    OUTBID = 2  # a competitor landed first; fees paid
    HONEYPOT = 3  # a hop sells a token that cannot be sold; fees paid
    NO_LIQUIDITY = 4  # a hop could not be quoted (empty or missing pool); fees paid
    NO_FUNDS = 5  # the input was not in the ledger at landing; fees paid
    CANCELLED = 6  # cancelled before landing; nothing paid


class Status(IntEnum):
    """Per-row status a kernel returns; the wrapper turns non-OK into an error with numbers."""

    OK = 0
    FILLS_FULL = 1
    ORDERS_FULL = 2  # the pending queue was full when the strategy submitted
    HOLDINGS_FULL = 3
    EQUITY_FULL = 4
    UNKNOWN_FILL = 5  # an OWN_FILL event named an order that is not pending (settled already, or never decided)


class Impact(IntEnum):
    NONE = 0  # our trades do not move recorded pools
    COUNTERFACTUAL = 1  # our trades move reserves; later recorded swaps re-apply by input amount


class LatencyKind(IntEnum):
    FIXED = 0
    UNIFORM = 1
    LOGNORMAL = 2


class HopKind(IntEnum):
    """What a hop trades against."""

    POOL = 0  # an AMM pool of the market state
    BAR = 1  # an instrument of BAR events, at a price with percentage fees
    OUTCOME = 2  # a prediction-market outcome, at the last traded price


ORDER_DT = np.dtype([
    ("order_id", np.int64), ("decided_slot", np.int64), ("decided_ts_ns", np.int64),
    ("land_slot", np.int64), ("land_ts_ns", np.int64),
    ("n_hops", np.int8), ("hop_kind", np.int8), ("active", np.int8), ("at_next_open", np.int8),
    ("pool", np.int32, (MAX_HOPS,)), ("side", np.int8, (MAX_HOPS,)),
    ("amount_in_raw", np.float64), ("min_out_raw", np.float64),
    ("cu_limit", np.float64), ("cu_price_micro_lamports", np.float64), ("tip_lamports", np.float64),
    ("fee_rate", np.float64), ("price", np.float64), ("expected_profit", np.float64), ("tag", np.int64),
], align=True)

FILL_DT = np.dtype([
    ("order_id", np.int64), ("slot", np.int64), ("ts_ns", np.int64), ("decided_slot", np.int64),
    ("n_hops", np.int8), ("hop_kind", np.int8), ("status", np.int8),
    ("pool", np.int32, (MAX_HOPS,)), ("side", np.int8, (MAX_HOPS,)),
    ("asset_in", np.int32), ("asset_out", np.int32),
    ("amount_in_raw", np.float64), ("amount_out_raw", np.float64), ("min_out_raw", np.float64),
    ("fee_dex", np.float64), ("fee_base", np.float64), ("fee_priority", np.float64), ("tip", np.float64),
    ("realized_pnl", np.float64), ("expected_profit", np.float64), ("tag", np.int64),
], align=True)

HOLDING_DT = np.dtype([
    ("asset", np.int32), ("qty_raw", np.float64), ("cost", np.float64),
    ("entry_slot", np.int64), ("entry_ts_ns", np.int64), ("peak_price", np.float64),
    ("stop_price", np.float64), ("take_price", np.float64), ("last_price", np.float64),
    ("exit_fee_rate", np.float64),
], align=True)

EQUITY_DT = np.dtype([("slot", np.int64), ("ts_ns", np.int64), ("equity", np.float64)], align=True)

# Per-row accumulators: one float64 vector, indexed by these names (stable: stored in state files).
(ACC_CASH, ACC_REALIZED, ACC_FEE_DEX, ACC_FEE_BASE, ACC_FEE_PRIORITY, ACC_TIP, ACC_N_ORDERS, ACC_N_FILLED,
 ACC_N_MIN_OUT, ACC_N_OUTBID, ACC_N_HONEYPOT, ACC_N_NO_LIQ, ACC_N_NO_FUNDS, ACC_N_CANCELLED, ACC_PEAK_EQUITY,
 ACC_MAX_DRAWDOWN, ACC_LAST_EQUITY, ACC_SLOTS_IN_MARKET, ACC_FIRST_SLOT, ACC_LAST_MARK_SLOT, ACC_NEXT_EQUITY_SLOT,
 ACC_N_EQUITY, ACC_N_FILLS, ACC_N_PENDING, ACC_STATUS, ACC_INIT_CASH, ACC_TRADE_COUNT, ACC_N_WINS,
 ACC_GROSS_WIN, ACC_GROSS_LOSS, ACC_LAST_TS, ACC_N_EXIT_LEVELS, ACC_N_HELD) = range(33)
N_ACC = 33

FILLS_STATUS_COUNTER = {  # FillStatus -> accumulator
    FillStatus.FILLED: ACC_N_FILLED, FillStatus.BELOW_MIN_OUT: ACC_N_MIN_OUT, FillStatus.OUTBID: ACC_N_OUTBID,
    FillStatus.HONEYPOT: ACC_N_HONEYPOT, FillStatus.NO_LIQUIDITY: ACC_N_NO_LIQ, FillStatus.NO_FUNDS: ACC_N_NO_FUNDS,
    FillStatus.CANCELLED: ACC_N_CANCELLED,
}
