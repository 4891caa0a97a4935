"""Market state in arrays, updated by tape events, and mark prices for the ledger.

Assets are numbered in one space so one ledger holds them all: token mints ``[0, n_mints)``,
then BAR instruments, then two outcome tokens per prediction market (see `asset_of_*`).

`MarketStatic` holds what never changes during a run (which tokens a pool trades, CLMM
ticks, which mark pool prices a token, which tokens cannot be sold); `MarketDyn` holds what
events change (pool states in the `engine.amm.state` layout, last bars, outcome prices,
resolutions). In impact mode ``none`` one `MarketDyn` serves every parameter row; in
``counterfactual`` each row has its own, since our trades move it.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from engine.amm.quote import swap_nb
from engine.amm.state import (
    COL_BASE_IS_A,
    COL_KIND,
    COL_LIQUIDITY,
    COL_REAL_BASE,
    COL_REAL_QUOTE,
    COL_RESERVE_BASE,
    COL_RESERVE_QUOTE,
    COL_SQRT_PRICE,
    COL_TICK,
    KIND_CLMM,
    KIND_CPMM,
    KIND_CURVE,
)
from engine.layout import (
    BAR_CLOSE,
    LIQ_DELTA_BASE,
    LIQ_DELTA_QUOTE,
    NEW_RESERVE_BASE,
    NEW_RESERVE_QUOTE,
    OUTCOME_PRICE,
    RESOLUTION_PAYOUT,
    STATE_LIQUIDITY,
    STATE_REAL_BASE,
    STATE_REAL_QUOTE,
    STATE_RESERVE_BASE,
    STATE_RESERVE_QUOTE,
    STATE_SQRT_PRICE,
    STATE_TICK,
    SWAP_AMOUNT_IN,
    EventKind,
)

MarketStatic = namedtuple("MarketStatic", [
    "pool_base", "pool_quote",  # int32 [n_pools]: asset ids of each pool's base and quote token
    "tick_index", "tick_liq_net",  # the CLMM tick table of engine.amm.state
    "mark_pool",  # int32 [n_assets]: pool that prices a token (-1: none)
    "sell_blocked",  # bool [n_assets]: selling fails (a honeypot's freeze or transfer block)
    "transfer_fee_bps",  # float64 [n_assets]: token-2022 transfer fee taken on every transfer
    "n_mints", "n_instruments", "n_markets",
])
MarketDyn = namedtuple("MarketDyn", [
    "states",  # float64 [n_pools, N_STATE_COLS]
    "bar",  # float64 [n_instruments, 5]: last open, high, low, close, volume
    "outcome_px",  # float64 [n_markets]: last traded price of outcome 1
    "payout",  # float64 [n_markets]: resolved payout of outcome 1 (NaN until resolved)
    "diverged",  # float64 [n_pools]: 1.0 once our trades moved this pool (counterfactual mode)
])


@njit(cache=True)
def asset_of_instrument_nb(mk, instrument):
    return mk.n_mints + instrument


@njit(cache=True)
def asset_of_outcome_nb(mk, market, outcome):
    return mk.n_mints + mk.n_instruments + 2 * market + outcome


@njit(cache=True, inline="always")
def set_pool_state_nb(st, diverged, pool, vals, i, counterfactual):
    """Write a POOL_STATE row into the pool's state; the loop calls this on its hot path.

    Small on purpose (no calls), so it compiles into the loop: most events of a tape are
    pool states, and a real call per event would cost more than the update.
    """
    if pool >= 0 and pool < st.shape[0] and not (counterfactual and diverged[pool] != 0.0):
        if st[pool, COL_KIND] == KIND_CLMM:
            st[pool, COL_LIQUIDITY] = vals[i, STATE_LIQUIDITY]
            st[pool, COL_SQRT_PRICE] = vals[i, STATE_SQRT_PRICE]
            st[pool, COL_TICK] = vals[i, STATE_TICK]
        else:
            st[pool, COL_RESERVE_BASE] = vals[i, STATE_RESERVE_BASE]
            st[pool, COL_RESERVE_QUOTE] = vals[i, STATE_RESERVE_QUOTE]
            st[pool, COL_REAL_BASE] = vals[i, STATE_REAL_BASE]
            st[pool, COL_REAL_QUOTE] = vals[i, STATE_REAL_QUOTE]


@njit(cache=True)
def apply_event_nb(kind, pool, mint, side, vals, i, st, bar, outcome_px, payout, diverged, tick_index,
                   tick_liq_net, counterfactual):
    """Update the market (`MarketDyn` arrays ``st``, ``bar`` ...) with tape event ``i``.

    Takes plain arrays, indexes them by (row, column) and never takes a row view. The loop
    handles the two commonest cases itself (pool states; recorded swaps when our trades do
    not move pools, which change nothing) and calls this for the rest.
    """
    if kind == EventKind.POOL_STATE:
        set_pool_state_nb(st, diverged, pool, vals, i, counterfactual)
    elif kind == EventKind.SWAP:
        if counterfactual and pool >= 0 and diverged[pool] != 0.0:
            reapply_swap_nb(st, pool, side, vals[i, SWAP_AMOUNT_IN], tick_index, tick_liq_net)
    elif kind == EventKind.NEW_POOL:
        if pool >= 0 and pool < st.shape[0]:
            st[pool, COL_RESERVE_BASE] = vals[i, NEW_RESERVE_BASE]
            st[pool, COL_RESERVE_QUOTE] = vals[i, NEW_RESERVE_QUOTE]
            if st[pool, COL_KIND] == KIND_CURVE and st[pool, COL_REAL_BASE] == 0.0:
                st[pool, COL_REAL_BASE] = vals[i, NEW_RESERVE_BASE]  # until a state row says how much is real
    elif kind == EventKind.LIQUIDITY:
        if pool >= 0 and pool < st.shape[0] and st[pool, COL_KIND] != KIND_CLMM:
            st[pool, COL_RESERVE_BASE] = max(st[pool, COL_RESERVE_BASE] + vals[i, LIQ_DELTA_BASE], 0.0)
            st[pool, COL_RESERVE_QUOTE] = max(st[pool, COL_RESERVE_QUOTE] + vals[i, LIQ_DELTA_QUOTE], 0.0)
    elif kind == EventKind.BAR:
        if pool >= 0 and pool < bar.shape[0]:
            for j in range(5):
                bar[pool, j] = vals[i, j]
    elif kind == EventKind.OUTCOME_TRADE:
        if pool >= 0 and pool < outcome_px.shape[0]:
            px = vals[i, OUTCOME_PRICE]
            outcome_px[pool] = px if mint == 1 else 1.0 - px
    elif kind == EventKind.RESOLUTION:
        if pool >= 0 and pool < payout.shape[0]:
            payout[pool] = vals[i, RESOLUTION_PAYOUT]


@njit(cache=True)
def reapply_swap_nb(st, pool, side, amount_in_raw, tick_index, tick_liq_net):
    """Re-apply a recorded swap by its input amount on a pool our trades have moved."""
    swap_nb(st[pool], side, amount_in_raw, tick_index, tick_liq_net)


@njit(cache=True)
def pool_mid_nb(states, pool):
    """Return a pool's mid price in quote base units per base base unit (NaN when empty)."""
    k = states[pool, COL_KIND]
    if k == KIND_CPMM or k == KIND_CURVE:
        if states[pool, COL_RESERVE_BASE] <= 0.0 or states[pool, COL_RESERVE_QUOTE] <= 0.0:
            return math.nan
        return states[pool, COL_RESERVE_QUOTE] / states[pool, COL_RESERVE_BASE]
    if k == KIND_CLMM:
        sp = states[pool, COL_SQRT_PRICE]
        if not sp > 0.0:
            return math.nan
        p = sp * sp  # token B per token A
        return p if states[pool, COL_BASE_IS_A] == 1.0 else 1.0 / p
    return math.nan


@njit(cache=True)
def mark_price_nb(asset, cash_asset, mk, dyn, share_value):
    """Return the value of one base unit of ``asset`` in cash units (NaN when unknown)."""
    if asset == cash_asset:
        return 1.0
    if asset < mk.n_mints:
        p = mk.mark_pool[asset]
        if p < 0:
            return math.nan
        px = pool_mid_nb(dyn.states, p)
        if mk.pool_base[p] != asset:  # the mark pool quotes the other way round
            px = 1.0 / px
            q = mk.pool_base[p]
        else:
            q = mk.pool_quote[p]
        if q == cash_asset:
            return px
        p2 = mk.mark_pool[q]
        if p2 < 0:
            return math.nan
        px2 = pool_mid_nb(dyn.states, p2)
        if mk.pool_base[p2] != q:
            px2 = 1.0 / px2
        return px * px2
    a = asset - mk.n_mints
    if a < mk.n_instruments:
        return dyn.bar[a, BAR_CLOSE]
    a -= mk.n_instruments
    market = a // 2
    outcome = a % 2
    if market >= mk.n_markets:
        return math.nan
    p1 = dyn.payout[market] if not math.isnan(dyn.payout[market]) else dyn.outcome_px[market]
    return share_value * (p1 if outcome == 1 else 1.0 - p1)


def new_dyn(n_pools: int, n_state_cols: int, n_instruments: int, n_markets: int) -> MarketDyn:
    """Return an empty dynamic market (prices unknown: NaN)."""
    return MarketDyn(states=np.zeros((n_pools, n_state_cols), dtype=np.float64),
                     bar=np.full((n_instruments, 5), np.nan, dtype=np.float64),
                     outcome_px=np.full(n_markets, np.nan, dtype=np.float64),
                     payout=np.full(n_markets, np.nan, dtype=np.float64),
                     diverged=np.zeros(n_pools, dtype=np.float64))


@njit(cache=True)
def copy_dyn_nb(src, dst):
    """Copy every array of one `MarketDyn` into another of the same shapes."""
    dst.states[:] = src.states
    dst.bar[:] = src.bar
    dst.outcome_px[:] = src.outcome_px
    dst.payout[:] = src.payout
    dst.diverged[:] = src.diverged
