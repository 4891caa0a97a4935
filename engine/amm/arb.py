"""Optimal size of an arbitrage cycle: closed form for two constant-product pools, numeric otherwise.

A cycle starts and ends in the same token; its profit ``P(a) = out(a) - a`` is concave in the
input ``a`` (each hop's output is concave and increasing, and a composition of such maps is
too), so it has one maximum. For two constant-product pools the composition is the Moebius map
``out(a) = A a / (B + C a)`` with ``A = g1 g2 y1 y2``, ``B = x1 x2``, ``C = g1 (x2 + g2 y1)``
(``g = 1 - fee``, ``x`` the input and ``y`` the output reserve of each hop), so
``a* = (sqrt(A B) - B) / C`` and the cycle pays iff ``A > B``. For up to three hops of any pool
kind, ``cycle_optimal_nb`` brackets the maximum by doubling and then runs a golden-section search
on the rounded quotes,
after scanning powers of two for the bracket (rounding makes tiny sizes noisy).

Results are ``(size_raw, profit_raw)`` in base units of the start token, profit net of pool
fees (not of transaction fees); ``(0.0, 0.0)`` when no size pays, NaN when a pool row is invalid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.amm.cpmm import cpmm_out_nb
from engine.amm.quote import quote_nb

_INV_PHI = 0.6180339887498949
U64_MAX_RAW = 18446744073709551615.0


@njit(cache=True)
def cpmm_2pool_optimal_nb(reserve_in1_raw: float, reserve_out1_raw: float, fee_num1: float, fee_den1: float,
                          reserve_in2_raw: float, reserve_out2_raw: float, fee_num2: float,
                          fee_den2: float) -> tuple[float, float]:
    """Return ``(size_raw, profit_raw)`` of the best 2-pool constant-product cycle (closed form).

    Hop 1 swaps ``a`` on (in1 -> out1); hop 2 swaps its output on (in2 -> out2), where out2 is
    the start token. The size is floored to a base unit and the profit comes from the rounded
    kernels; ``(0, 0)`` when no cycle pays.
    """
    g1 = 1.0 - fee_num1 / fee_den1
    g2 = 1.0 - fee_num2 / fee_den2
    big_a = g1 * g2 * reserve_out1_raw * reserve_out2_raw
    big_b = reserve_in1_raw * reserve_in2_raw
    big_c = g1 * (reserve_in2_raw + g2 * reserve_out1_raw)
    if not (big_a > 0.0 and big_b > 0.0 and big_c > 0.0):
        return math.nan, math.nan
    if big_a <= big_b:
        return 0.0, 0.0
    size = np.floor((math.sqrt(big_a) * math.sqrt(big_b) - big_b) / big_c)
    size = min(size, U64_MAX_RAW)
    if size <= 0.0:
        return 0.0, 0.0
    mid = cpmm_out_nb(size, reserve_in1_raw, reserve_out1_raw, fee_num1, fee_den1)
    profit = cpmm_out_nb(mid, reserve_in2_raw, reserve_out2_raw, fee_num2, fee_den2) - size
    if not profit > 0.0:
        return 0.0, 0.0
    return size, profit


@njit(cache=True)
def cycle_profit_nb(amount_raw: float, states, pools, sides, tick_index, tick_liquidity_net) -> float:
    """Return ``out - amount_raw`` after routing ``amount_raw`` through the hops ``pools``/``sides``."""
    x = amount_raw
    for h in range(pools.shape[0]):
        row = states[pools[h]]
        x = quote_nb(int(row[0]), row, int(sides[h]), x, tick_index, tick_liquidity_net)
        if math.isnan(x):
            return math.nan
    return x - amount_raw


@njit(cache=True)
def cycle_optimal_nb(states, pools, sides, tick_index, tick_liquidity_net, max_in_raw: float) -> tuple[float, float]:
    """Return ``(size_raw, profit_raw)`` maximising the profit of a 1-3 hop cycle of any pool kinds.

    Parameters
    ----------
    states : ndarray
        Pool-state rows (``engine.amm.state``).
    pools, sides : ndarray
        Row index and ``Side`` of each hop, in order; the last hop's output token is the first
        hop's input token.
    tick_index, tick_liquidity_net : ndarray
        CLMM tick table.
    max_in_raw : float
        Largest input to consider (wallet balance); ``inf`` for none (capped at u64).

    Returns
    -------
    tuple of float
        Integer size and its profit net of pool fees; ``(0, 0)`` if no size pays; NaN if a
        row is invalid.
    """
    hi_cap = min(max_in_raw, U64_MAX_RAW)
    if not hi_cap >= 1.0:
        return 0.0, 0.0
    # bracket: the best power of two (rounding makes tiny sizes noisy, so scan them all)
    best_k, best_pk, size = -1, -math.inf, 1.0
    for k in range(65):
        if size > hi_cap:
            break
        p = cycle_profit_nb(size, states, pools, sides, tick_index, tick_liquidity_net)
        if k == 0 and math.isnan(p):
            return math.nan, math.nan
        if p > best_pk:
            best_k, best_pk = k, p
        size *= 2.0
    if best_k < 0:
        return 0.0, 0.0
    lo = max(1.0, 2.0 ** (best_k - 1))
    hi = min(hi_cap, 2.0 ** (best_k + 1))
    # golden-section search on [lo, hi]
    x1 = hi - _INV_PHI * (hi - lo)
    x2 = lo + _INV_PHI * (hi - lo)
    f1 = cycle_profit_nb(np.floor(x1), states, pools, sides, tick_index, tick_liquidity_net)
    f2 = cycle_profit_nb(np.floor(x2), states, pools, sides, tick_index, tick_liquidity_net)
    for _ in range(200):
        if hi - lo <= 1.0:
            break
        if f1 >= f2 or math.isnan(f2):
            hi, x2, f2 = x2, x1, f1
            x1 = hi - _INV_PHI * (hi - lo)
            f1 = cycle_profit_nb(np.floor(x1), states, pools, sides, tick_index, tick_liquidity_net)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + _INV_PHI * (hi - lo)
            f2 = cycle_profit_nb(np.floor(x2), states, pools, sides, tick_index, tick_liquidity_net)
    best_x, best_p = 0.0, 0.0
    cands = np.array([np.floor(lo), np.floor(hi), np.floor(x1), np.floor(x2), 1.0], dtype=np.float64)
    for k in range(cands.shape[0]):
        cand = cands[k]
        if cand >= 1.0 and cand <= hi_cap:
            p = cycle_profit_nb(cand, states, pools, sides, tick_index, tick_liquidity_net)
            if p > best_p:
                best_x, best_p = cand, p
    return best_x, best_p
