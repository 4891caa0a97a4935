"""Pool-state array layout read by ``quote_nb``: one float64 row per pool, plus a CLMM tick table.

This module imports only NumPy, so kernels can use its constants. The kernel's market state is
a ``(n_pools, N_STATE_COLS)`` float64 array ``states`` indexed by pool id, and two flat arrays
for the ticks of every concentrated-liquidity pool:

| column            | CPMM (Raydium AMM v4/CPMM)    | CLMM (Orca Whirlpool)          | CURVE (Pump.fun)        |
| ----------------- | ----------------------------- | ------------------------------ | ----------------------- |
| COL_KIND          | PoolKind.CPMM (0)             | PoolKind.CLMM (1)              | PoolKind.CURVE (2)      |
| COL_RESERVE_BASE  | base reserve the program uses | -                              | virtual token reserves  |
| COL_RESERVE_QUOTE | quote reserve                 | -                              | virtual SOL reserves    |
| COL_FEE_NUM       | fee numerator (25)            | fee_rate (millionths)          | total fee bps (100)     |
| COL_FEE_DEN       | fee denominator (10,000)      | 1,000,000                      | 10,000                  |
| COL_LIQUIDITY     | -                             | active liquidity               | -                       |
| COL_SQRT_PRICE    | -                             | sqrt_price_x64 / 2**64         | -                       |
| COL_TICK          | -                             | current tick                   | -                       |
| COL_BASE_IS_A     | -                             | 1.0 if base is token A         | -                       |
| COL_TICK_START    | -                             | first row in the tick table    | -                       |
| COL_TICK_COUNT    | -                             | number of its ticks            | -                       |
| COL_REAL_BASE     | -                             | -                              | real tokens (buy cap)   |
| COL_REAL_QUOTE    | -                             | -                              | real SOL reserves       |

The CLMM sqrt price is the square root of token B per token A in base units.
Unused cells are 0. Amounts are base units (``*_raw``). The tick table is ``tick_index``
(int32) and ``tick_liquidity_net`` (float64); rows ``[start, start + count)`` belong to one
pool, sorted by tick index ascending, and hold its initialised ticks (add tick-array edges with
net 0 to mimic the program's stepping exactly). Sides follow ``engine.layout.Side``: BUY =
quote in, base out; SELL = base in, quote out. For CLMM, SELL is a->b when the base is token A.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COL_KIND = 0
COL_RESERVE_BASE = 1
COL_RESERVE_QUOTE = 2
COL_FEE_NUM = 3
COL_FEE_DEN = 4
COL_LIQUIDITY = 5
COL_SQRT_PRICE = 6
COL_TICK = 7
COL_BASE_IS_A = 8
COL_TICK_START = 9
COL_TICK_COUNT = 10
COL_REAL_BASE = 11
COL_REAL_QUOTE = 12
N_STATE_COLS = 13

KIND_CPMM = 0  # == PoolKind.CPMM
KIND_CLMM = 1  # == PoolKind.CLMM
KIND_CURVE = 2  # == PoolKind.CURVE

SIDE_BUY = 0  # == Side.BUY: quote in, base out
SIDE_SELL = 1  # == Side.SELL: base in, quote out

Q64_FLOAT = 18446744073709551616.0


def empty_states(n_pools: int) -> np.ndarray:
    """Return a zeroed ``(n_pools, N_STATE_COLS)`` float64 state array."""
    return np.zeros((n_pools, N_STATE_COLS), dtype=np.float64)


def set_cpmm(states: np.ndarray, pool_id: int, *, reserve_base_raw: float, reserve_quote_raw: float,
             fee_num: float = 25.0, fee_den: float = 10_000.0) -> None:
    """Write a constant-product pool into row ``pool_id``."""
    row = states[pool_id]
    row[:] = 0.0
    row[COL_KIND] = KIND_CPMM
    row[COL_RESERVE_BASE] = reserve_base_raw
    row[COL_RESERVE_QUOTE] = reserve_quote_raw
    row[COL_FEE_NUM] = fee_num
    row[COL_FEE_DEN] = fee_den


def set_curve(states: np.ndarray, pool_id: int, *, virtual_token_raw: float, virtual_sol_raw: float,
              real_token_raw: float, real_sol_raw: float = 0.0, fee_bps: float = 100.0) -> None:
    """Write a Pump.fun bonding curve into row ``pool_id`` (base = the token, quote = SOL)."""
    row = states[pool_id]
    row[:] = 0.0
    row[COL_KIND] = KIND_CURVE
    row[COL_RESERVE_BASE] = virtual_token_raw
    row[COL_RESERVE_QUOTE] = virtual_sol_raw
    row[COL_FEE_NUM] = fee_bps
    row[COL_FEE_DEN] = 10_000.0
    row[COL_REAL_BASE] = real_token_raw
    row[COL_REAL_QUOTE] = real_sol_raw


def set_clmm(states: np.ndarray, pool_id: int, *, sqrt_price_x64: int, tick: int, liquidity: int,
             fee_rate: int, base_is_a: bool, tick_start: int, tick_count: int) -> None:
    """Write a Whirlpool into row ``pool_id``; its ticks sit at ``[tick_start, tick_start + tick_count)``."""
    row = states[pool_id]
    row[:] = 0.0
    row[COL_KIND] = KIND_CLMM
    row[COL_FEE_NUM] = fee_rate
    row[COL_FEE_DEN] = 1_000_000.0
    row[COL_LIQUIDITY] = float(liquidity)
    row[COL_SQRT_PRICE] = sqrt_price_x64 / Q64_FLOAT
    row[COL_TICK] = tick
    row[COL_BASE_IS_A] = 1.0 if base_is_a else 0.0
    row[COL_TICK_START] = tick_start
    row[COL_TICK_COUNT] = tick_count


def build_tick_table(per_pool: Sequence[Sequence[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(tick_index, tick_liquidity_net, starts)`` for lists of ``(tick, liquidity_net)`` per pool.

    Each pool's ticks are sorted; ``starts[i]`` is the first row of pool list ``i`` and
    ``len(per_pool[i])`` its count.
    """
    starts = np.zeros(len(per_pool), dtype=np.int64)
    idx: list[int] = []
    net: list[float] = []
    for i, ticks in enumerate(per_pool):
        starts[i] = len(idx)
        for t, n in sorted(ticks):
            idx.append(t)
            net.append(float(n))
    return np.asarray(idx, dtype=np.int32), np.asarray(net, dtype=np.float64), starts
