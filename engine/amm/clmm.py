"""Concentrated-liquidity swap kernels (Orca Whirlpool), float64.

Prices are ``sqrt_price = sqrt_price_x64 / 2**64`` (the square root of token B per token A, in
base units); liquidity is the pool's u128 ``liquidity`` as a float. Within one tick range an
exact-in step moves the price to ``L * s / (L + a * s)`` (input A) or ``s + a / L`` (input B)
with ``a`` the input after the fee; it stops at the next initialised tick, where the
liquidity changes by ``-net`` (a->b) or ``+net`` (b->a). Followed: ``orca-so/whirlpools`` commit
``630c0e01b74ad88eab69f8ed4cc2d3dc9a3d0bd5``, ``programs/whirlpool/src/math/swap_math.rs``
(``compute_swap``), ``math/token_math.rs``, ``math/tick_math.rs``, ``manager/swap_manager.rs``.
The exact integer twin is ``engine.amm.exact.clmm_exact_in``.

The outputs are computed in forms without cancellation (``out = L a s**2 / (L + a s)`` for input
A, ``a / (s s')`` for input B), so within one tick the relative error is a few ulps. Amounts to
reach a tick (``L (s - s_t) / (s s_t)``) lose ``ulp(s) / |s - s_t|`` to the float price, as
they must with a float state.

Sentinels: invalid input (NaN, amount < 0 or above u64, liquidity < 0, sqrt price outside the
Whirlpool range, fee >= 100 %) and an output above u64 (the program fails
the swap) return NaN in every field; kernels never raise.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MIN_TICK = -443636
MAX_TICK = 443636
MIN_SQRT_PRICE = 4295048016.0 / 18446744073709551616.0
MAX_SQRT_PRICE = 79226673515401279992447579055.0 / 18446744073709551616.0
LN_SQRT_BASE = 0.5 * math.log(1.0001)
SQRT_BASE = math.sqrt(1.0001)
# ln(sqrt(1.0001)) split so that tick * LN_SQRT_BASE_HI is exact for |tick| < 2**20 (32-bit mantissa);
# 1.0001 itself is not a float, and pow(1.0001, t / 2) would magnify its rounding by t (1e-11 at t = 9e4)
LN_SQRT_BASE_HI = 4.999750015599602e-05
LN_SQRT_BASE_LO = 1.0658145735523681e-14
U64_MAX_RAW = 18446744073709551615.0


@njit(cache=True)
def sqrt_price_at_tick_nb(tick: float) -> float:
    """Return ``1.0001 ** (tick / 2)``, the float sqrt price of a tick (relative error ~2 ulp)."""
    return math.exp(tick * LN_SQRT_BASE_HI) * (1.0 + tick * LN_SQRT_BASE_LO)


@njit(cache=True)
def tick_at_sqrt_price_nb(sqrt_price: float) -> float:
    """Return the largest tick whose sqrt price is at most ``sqrt_price`` (as a float)."""
    t = np.floor(math.log(sqrt_price) / LN_SQRT_BASE)
    p_t = sqrt_price_at_tick_nb(t)
    if p_t > sqrt_price:
        t -= 1.0
    elif p_t * SQRT_BASE <= sqrt_price:
        t += 1.0
    return max(min(t, MAX_TICK), MIN_TICK)


@njit(cache=True)
def clmm_step_in_nb(amount_remaining_raw: float, a_to_b: bool, sqrt_price: float, sqrt_price_target: float,
                    liquidity: float, fee_num: float, fee_den: float) -> tuple[float, float, float, float]:
    """Return ``(amount_in, amount_out, fee, next_sqrt_price)`` of one exact-in step towards a target.

    ``amount_in`` excludes the fee. Mirrors ``compute_swap``: the step either reaches the
    target (fee = ``ceil(in * f / (1 - f))``) or uses all of ``amount_remaining_raw``.
    """
    amount_calc = np.floor(amount_remaining_raw * (fee_den - fee_num) / fee_den)
    s, st, big_l = sqrt_price, sqrt_price_target, liquidity
    if a_to_b:
        max_in = np.ceil(big_l * (s - st) / (s * st))
        if max_in <= amount_calc:
            out = np.floor(big_l * (s - st))
            return max_in, out, np.ceil(max_in * fee_num / (fee_den - fee_num)), st
        denom = big_l + amount_calc * s
        nxt = big_l * s / denom
        out = np.floor(big_l * amount_calc * s * s / denom)
        return amount_calc, out, amount_remaining_raw - amount_calc, nxt
    max_in = np.ceil(big_l * (st - s))
    if max_in <= amount_calc:
        out = np.floor(big_l * (st - s) / (s * st))
        return max_in, out, np.ceil(max_in * fee_num / (fee_den - fee_num)), st
    nxt = s + amount_calc / big_l
    out = np.floor(amount_calc / (s * nxt))
    return amount_calc, out, amount_remaining_raw - amount_calc, nxt


@njit(cache=True)
def clmm_swap_in_nb(amount_in_raw: float, a_to_b: bool, sqrt_price: float, tick: float, liquidity: float,
                    fee_num: float, fee_den: float, tick_index, tick_liquidity_net, start: int, count: int,
                    sqrt_price_limit: float,
                    compute_tick: bool = True) -> tuple[float, float, float, float, float, float]:
    """Return ``(amount_in_used, amount_out, fee, sqrt_price, tick, liquidity)`` of an exact-in swap.

    Parameters
    ----------
    amount_in_raw : float
        Input including the fee, base units of A (``a_to_b``) or B.
    a_to_b : bool
        Direction; True sells token A.
    sqrt_price, tick, liquidity : float
        Pool state (``sqrt_price_x64 / 2**64``, current tick, active liquidity).
    fee_num, fee_den : float
        Fee rate (Whirlpool: ``fee_rate`` / 1,000,000).
    tick_index, tick_liquidity_net : ndarray
        Tick table (int32, float64); this pool's rows are ``[start, start + count)``, ascending.
    sqrt_price_limit : float
        Stop price; NaN means the Whirlpool minimum (a->b) or maximum (b->a).
    compute_tick : bool
        False skips computing the final tick (a log and an exp) when only amounts are needed;
        the returned tick is then the last crossed (or the starting) tick.

    Returns
    -------
    tuple of float
        ``amount_in_used`` (fee included; below the request when the limit is reached), output,
        fee, and the pool after the swap; all NaN for invalid input.
    """
    nan = math.nan
    if not (amount_in_raw >= 0.0 and amount_in_raw <= U64_MAX_RAW and liquidity >= 0.0
            and sqrt_price >= MIN_SQRT_PRICE and sqrt_price <= MAX_SQRT_PRICE
            and fee_den > 0.0 and fee_num >= 0.0 and fee_num < fee_den and tick == tick):
        return nan, nan, nan, nan, nan, nan
    limit = sqrt_price_limit
    if math.isnan(limit):
        limit = MIN_SQRT_PRICE if a_to_b else MAX_SQRT_PRICE
    # position of the next initialised tick: a->b the last <= tick, b->a the first > tick
    lo, hi = start, start + count
    while lo < hi:
        mid = (lo + hi) >> 1
        if tick_index[mid] <= tick:
            lo = mid + 1
        else:
            hi = mid
    j = lo - 1 if a_to_b else lo
    remaining, used_sum, out_sum, fee_sum = amount_in_raw, 0.0, 0.0, 0.0
    s, big_l, t = sqrt_price, liquidity, tick
    on_tick = True  # True while `t` is known exactly (start, or just after a crossing)
    while remaining > 0.0 and ((a_to_b and s > limit) or ((not a_to_b) and s < limit)):
        has_tick = j >= start and j < start + count
        if has_tick:
            next_tick = float(tick_index[j])
            next_tick_sp = sqrt_price_at_tick_nb(next_tick)
            target = max(next_tick_sp, limit) if a_to_b else min(next_tick_sp, limit)
        else:
            next_tick = nan
            next_tick_sp = nan
            target = limit
        a_in, a_out, fee, nxt = clmm_step_in_nb(remaining, a_to_b, s, target, big_l, fee_num, fee_den)
        remaining -= a_in + fee
        used_sum += a_in + fee  # summed, not amount - remaining: exact even when the amount is not
        out_sum += a_out
        fee_sum += fee
        if has_tick and nxt == next_tick_sp:
            if a_to_b:
                big_l -= tick_liquidity_net[j]
                j -= 1
            else:
                big_l += tick_liquidity_net[j]
                j += 1
            if big_l < 0.0:
                big_l = 0.0
            t = next_tick - 1.0 if a_to_b else next_tick
            on_tick = True
        elif nxt != s:
            on_tick = False
        elif a_in == 0.0 and fee == 0.0:
            break  # no progress possible (price at the limit)
        s = nxt
    if out_sum > U64_MAX_RAW:  # the program fails such a swap (TokenMaxExceeded)
        return nan, nan, nan, nan, nan, nan
    if not on_tick and compute_tick:
        t = tick_at_sqrt_price_nb(s)
    return used_sum, out_sum, fee_sum, s, t, big_l
