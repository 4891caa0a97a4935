"""Exits shared by the position strategies (`copy_trade`, `sniper`): levels, trailing, maximum hold.

Both keep, in ``ctx.si[SI_EXIT_SENT + h]``, the slot an exit was sent for holding slot ``h``
(-1: none), so one position gets one exit order; their params have the fields ``take_profit``,
``stop_loss``, ``trailing_stop`` (fractions, NaN: off), ``max_hold_slots`` (0: off),
``cu_price_micro_lamports`` and ``tip_lamports``.
"""

from __future__ import annotations

import math

from numba import njit

from engine.layout import Side
from engine.sim.api_nb import mid_price_nb, submit_swap_nb

SI_EXIT_SENT = 1
N_EXIT_SLOTS = 64  # holding slots tracked (Capacity.max_holdings must not exceed it)
TAG_TP, TAG_SL, TAG_TRAIL, TAG_MAX_HOLD = 3, 4, 5, 6


@njit(cache=True)
def sell_all_nb(tp, i, p, ctx, pool, tag):
    """Sell every unit of ``pool``'s base token held (once per position)."""
    asset = ctx.mk.pool_base[pool]
    for h in range(ctx.holdings.shape[0]):
        if ctx.holdings[h]["asset"] == asset:
            if ctx.si[SI_EXIT_SENT + h] >= ctx.holdings[h]["entry_slot"]:
                return None  # an exit for this position is already on its way
            ctx.si[SI_EXIT_SENT + h] = tp.slot[i]
            submit_swap_nb(tp, i, ctx, pool, Side.SELL, ctx.holdings[h]["qty_raw"], 0.0, p["cu_price_micro_lamports"],
                           p["tip_lamports"], tag)
    return None


@njit(cache=True)
def check_exits_nb(tp, i, p, ctx, pool):
    """Take-profit, stop-loss, trailing stop and maximum hold of the token ``pool`` prices."""
    mk = ctx.mk
    if mk.pool_quote[pool] != ctx.cfg["cash_asset"]:
        return None
    asset = mk.pool_base[pool]
    for h in range(ctx.holdings.shape[0]):
        hd = ctx.holdings[h]
        if hd["asset"] != asset or not hd["qty_raw"] > 0.0:
            continue
        px = mid_price_nb(ctx, pool)
        if not px > 0.0:
            return None
        entry = hd["cost"] / hd["qty_raw"]
        if math.isnan(hd["peak_price"]) or px > hd["peak_price"]:
            hd["peak_price"] = px
        tag = 0
        if not math.isnan(p["stop_loss"]) and px <= entry * (1.0 - p["stop_loss"]):
            tag = TAG_SL
        elif not math.isnan(p["take_profit"]) and px >= entry * (1.0 + p["take_profit"]):
            tag = TAG_TP
        elif not math.isnan(p["trailing_stop"]) and px <= hd["peak_price"] * (1.0 - p["trailing_stop"]):
            tag = TAG_TRAIL
        elif p["max_hold_slots"] > 0 and tp.slot[i] - hd["entry_slot"] >= p["max_hold_slots"]:
            tag = TAG_MAX_HOLD
        if tag != 0:
            sell_all_nb(tp, i, p, ctx, pool, tag)
        return None
    return None
