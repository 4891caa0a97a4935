"""Pool-kind dispatch for kernels: quote or apply an exact-in swap on a row of the state layout.

``quote_nb`` reads a row laid out as in ``engine.amm.state`` and calls the constant-product,
concentrated-liquidity or bonding-curve kernel; ``swap_nb`` does the same and writes the pool
state after the swap back into the row (for the kernel's ``counterfactual`` impact mode).

Sentinel: NaN output for an invalid row, side or amount (and the row is left unchanged).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.amm.clmm import clmm_swap_in_nb
from engine.amm.cpmm import cpmm_out_nb
from engine.amm.curve import curve_args_valid_nb, curve_sol_out_nb, curve_tokens_out_nb
from engine.amm.state import (
    COL_BASE_IS_A,
    COL_FEE_DEN,
    COL_FEE_NUM,
    COL_LIQUIDITY,
    COL_REAL_BASE,
    COL_REAL_QUOTE,
    COL_RESERVE_BASE,
    COL_RESERVE_QUOTE,
    COL_SQRT_PRICE,
    COL_TICK,
    COL_TICK_COUNT,
    COL_TICK_START,
    KIND_CLMM,
    KIND_CPMM,
    KIND_CURVE,
    SIDE_BUY,
    SIDE_SELL,
)


@njit(cache=True)
def _clmm_row_swap_nb(state_row, side, amount_raw, tick_index, tick_liquidity_net, compute_tick):
    a_to_b = (side == SIDE_SELL) == (state_row[COL_BASE_IS_A] == 1.0)
    return clmm_swap_in_nb(amount_raw, a_to_b, state_row[COL_SQRT_PRICE], state_row[COL_TICK],
                           state_row[COL_LIQUIDITY], state_row[COL_FEE_NUM], state_row[COL_FEE_DEN],
                           tick_index, tick_liquidity_net, int(state_row[COL_TICK_START]),
                           int(state_row[COL_TICK_COUNT]), math.nan, compute_tick)


@njit(cache=True)
def _curve_bps_nb(state_row) -> float:
    return state_row[COL_FEE_NUM] * 10_000.0 / state_row[COL_FEE_DEN]


@njit(cache=True)
def quote_nb(pool_kind: int, state_row, side: int, amount_raw: float, tick_index, tick_liquidity_net) -> float:
    """Return the output, in base units, of an exact-in swap of ``amount_raw`` on one pool row.

    Parameters
    ----------
    pool_kind : int
        ``PoolKind`` of the row (``state_row[COL_KIND]``).
    state_row : ndarray
        float64 row of the state layout (``engine.amm.state``).
    side : int
        ``Side.BUY`` (quote in, base out) or ``Side.SELL`` (base in, quote out).
    amount_raw : float
        Input including fees, base units.
    tick_index, tick_liquidity_net : ndarray
        The CLMM tick table (ignored for other kinds; pass empty arrays).

    Returns
    -------
    float
        Output amount; NaN for an invalid row, side or amount. A curve buy is capped at the
        real token reserves (``COL_REAL_BASE``).
    """
    if side != SIDE_BUY and side != SIDE_SELL:
        return math.nan
    if pool_kind == KIND_CPMM:
        if side == SIDE_BUY:
            return cpmm_out_nb(amount_raw, state_row[COL_RESERVE_QUOTE], state_row[COL_RESERVE_BASE],
                               state_row[COL_FEE_NUM], state_row[COL_FEE_DEN])
        return cpmm_out_nb(amount_raw, state_row[COL_RESERVE_BASE], state_row[COL_RESERVE_QUOTE],
                           state_row[COL_FEE_NUM], state_row[COL_FEE_DEN])
    if pool_kind == KIND_CURVE:
        bps = _curve_bps_nb(state_row)
        if side == SIDE_BUY:
            tokens = curve_tokens_out_nb(amount_raw, state_row[COL_RESERVE_QUOTE], state_row[COL_RESERVE_BASE], bps)
            return min(tokens, state_row[COL_REAL_BASE])
        return curve_sol_out_nb(amount_raw, state_row[COL_RESERVE_QUOTE], state_row[COL_RESERVE_BASE], bps)
    if pool_kind == KIND_CLMM:
        return _clmm_row_swap_nb(state_row, side, amount_raw, tick_index, tick_liquidity_net, False)[1]
    return math.nan


@njit(cache=True)
def swap_nb(state_row, side: int, amount_raw: float, tick_index, tick_liquidity_net) -> float:
    """Apply an exact-in swap to ``state_row`` in place and return its output, in base units.

    CPMM: the whole input (LP fee included) joins the input reserve. Curve: the lamports net of
    the fee enter the virtual and real SOL reserves (the fee leaves the curve). CLMM: the new
    sqrt price, tick and liquidity are written. NaN (row unchanged) for invalid input.
    """
    kind = int(state_row[0])
    out = quote_nb(kind, state_row, side, amount_raw, tick_index, tick_liquidity_net)
    if math.isnan(out):
        return out
    if kind == KIND_CPMM:
        if side == SIDE_BUY:
            state_row[COL_RESERVE_QUOTE] += amount_raw
            state_row[COL_RESERVE_BASE] -= out
        else:
            state_row[COL_RESERVE_BASE] += amount_raw
            state_row[COL_RESERVE_QUOTE] -= out
    elif kind == KIND_CURVE:
        vs, vt = state_row[COL_RESERVE_QUOTE], state_row[COL_RESERVE_BASE]
        if side == SIDE_BUY:
            if out <= 0.0:
                return 0.0
            sol_raw = np.floor(out * vs / (vt - out)) + 1.0  # lamports into the curve, fee excluded
            state_row[COL_RESERVE_QUOTE] = vs + sol_raw
            state_row[COL_RESERVE_BASE] = vt - out
            state_row[COL_REAL_BASE] -= out
            state_row[COL_REAL_QUOTE] += sol_raw
        else:
            gross_raw = np.floor(amount_raw * vs / (vt + amount_raw))
            state_row[COL_RESERVE_QUOTE] = vs - gross_raw
            state_row[COL_RESERVE_BASE] = vt + amount_raw
            state_row[COL_REAL_BASE] += amount_raw
            state_row[COL_REAL_QUOTE] -= gross_raw
    elif kind == KIND_CLMM:
        res = _clmm_row_swap_nb(state_row, side, amount_raw, tick_index, tick_liquidity_net, True)
        state_row[COL_SQRT_PRICE] = res[3]
        state_row[COL_TICK] = res[4]
        state_row[COL_LIQUIDITY] = res[5]
    return out


@njit(cache=True)
def curve_row_valid_nb(state_row) -> bool:
    """Return True when a curve row can be quoted."""
    return curve_args_valid_nb(0.0, state_row[COL_RESERVE_QUOTE], state_row[COL_RESERVE_BASE],
                               _curve_bps_nb(state_row))
