"""The steps of the event loop around a strategy's callback, shared by every strategy.

The loop itself is generated per strategy by `engine.sim.specialize` (see its template for
the order of steps); these are the steps it calls when an event needs them. Cheap checks
(anything pending? any exit levels? a new slot to mark?) sit in the loop itself, so an event
that needs nothing costs a few array reads: passing the row context to a function on every
event would cost more than the event. Everything a step needs is in its arguments, so a run
split into chunks at any event gives bit-identical results.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from engine.layout import (
    BAR_HIGH,
    BAR_LOW,
    BAR_OPEN,
    FILL_AMOUNT_IN,
    FILL_AMOUNT_OUT,
    FILL_FEE_LAMPORTS,
    FILL_ORDER_ID,
    FILL_TIP_LAMPORTS,
    RESOLUTION_PAYOUT,
    EventKind,
    Side,
)
from engine.sim.ledger_nb import convert_nb, equity_nb
from engine.sim.market_nb import asset_of_instrument_nb, asset_of_outcome_nb
from engine.sim.orders_nb import execute_nb, land_due_nb, settle_reported_nb, submit_nb
from engine.sim.records import (
    ACC_CASH,
    ACC_LAST_EQUITY,
    ACC_LAST_MARK_SLOT,
    ACC_MAX_DRAWDOWN,
    ACC_N_EQUITY,
    ACC_N_EXIT_LEVELS,
    ACC_N_HELD,
    ACC_NEXT_EQUITY_SLOT,
    ACC_PEAK_EQUITY,
    ACC_SLOTS_IN_MARKET,
    HopKind,
    Status,
)

TapeView = namedtuple("TapeView", ["slot", "seq", "ts_ns", "kind", "pool_id", "wallet_id", "mint_id", "side",
                                   "flags", "vals"])

TAG_STOP_LOSS = -2  # tags of exits the kernel fires itself
TAG_TAKE_PROFIT = -3


@njit(cache=True)
def mark_nb(ctx, slot, ts_ns):
    """Mark equity at a slot boundary: drawdown, time in market, the sampled equity curve."""
    cfg, acc = ctx.cfg, ctx.acc
    if acc[ACC_N_HELD] > 0.0:
        eq = equity_nb(acc, ctx.holdings, cfg["cash_asset"], ctx.mk, ctx.dyn, cfg["share_value"])
        acc[ACC_SLOTS_IN_MARKET] += slot - acc[ACC_LAST_MARK_SLOT]
    else:
        eq = acc[ACC_CASH]
    track_drawdown_nb(acc, eq, slot)
    every = cfg["equity_every_slots"]
    if every > 0 and slot >= acc[ACC_NEXT_EQUITY_SLOT]:
        n = np.int64(acc[ACC_N_EQUITY])
        if n >= ctx.equity.shape[0]:
            return Status.EQUITY_FULL
        ctx.equity[n]["slot"] = slot
        ctx.equity[n]["ts_ns"] = ts_ns
        ctx.equity[n]["equity"] = eq
        acc[ACC_N_EQUITY] = n + 1
        acc[ACC_NEXT_EQUITY_SLOT] = slot - slot % every + every
    return Status.OK


@njit(cache=True, inline="always")
def track_drawdown_nb(acc, eq, slot):
    """Record a mark of equity ``eq`` at ``slot``: peak, maximum drawdown, last mark."""
    acc[ACC_LAST_MARK_SLOT] = slot
    acc[ACC_LAST_EQUITY] = eq
    if eq > acc[ACC_PEAK_EQUITY]:
        acc[ACC_PEAK_EQUITY] = eq
    if acc[ACC_PEAK_EQUITY] > 0.0:
        dd = 1.0 - eq / acc[ACC_PEAK_EQUITY]
        if dd > acc[ACC_MAX_DRAWDOWN]:
            acc[ACC_MAX_DRAWDOWN] = dd


@njit(cache=True)
def land_and_settle_nb(tp, i, ctx, bar_instrument, before_event):
    """Land due orders before event ``i`` (BAR orders waiting for this bar's open fill at it).

    With external fills nothing comes due by time: an OWN_FILL event settles the order it names,
    once, before the event (``before_event``; the loop calls this again after the strategy).
    """
    if ctx.cfg["external_fills"] == 1:
        if before_event and tp.kind[i] == EventKind.OWN_FILL:
            return own_fill_nb(tp, i, ctx)
        return Status.OK
    if bar_instrument >= 0:
        ctx.dyn.bar[bar_instrument, BAR_OPEN] = tp.vals[i, BAR_OPEN]
    return land_due_nb(ctx, tp.slot[i], tp.ts_ns[i], bar_instrument)


@njit(cache=True)
def own_fill_nb(tp, i, ctx):
    """Settle the order OWN_FILL event ``i`` names with what the venue reported."""
    return settle_reported_nb(ctx, np.int64(tp.vals[i, FILL_ORDER_ID]), tp.slot[i], tp.ts_ns[i], tp.flags[i],
                              tp.vals[i, FILL_AMOUNT_IN], tp.vals[i, FILL_AMOUNT_OUT], tp.vals[i, FILL_FEE_LAMPORTS],
                              tp.vals[i, FILL_TIP_LAMPORTS])


@njit(cache=True)
def after_market_nb(tp, i, ctx, kind):
    """Engine work after the market took event ``i``: bar stop exits and market resolutions."""
    if kind == EventKind.BAR:
        if ctx.acc[ACC_N_EXIT_LEVELS] > 0.0:
            return _bar_exits_nb(ctx, tp, i, tp.pool_id[i])
    elif kind == EventKind.RESOLUTION:
        return _settle_nb(ctx, tp.pool_id[i], tp.vals[i, RESOLUTION_PAYOUT], tp.slot[i], tp.ts_ns[i])
    return Status.OK


@njit(cache=True)
def _bar_exits_nb(ctx, tp, i, instrument):
    """Fire stop-loss and take-profit levels of a held instrument inside its new bar.

    Rules: a bar that opens beyond a level fills at the open (a gap); otherwise a level the
    bar's range touches fills at the level. When one bar touches both, the stop-loss fires
    first: the bar's path is unknown, and assuming the worse case is the honest choice.
    """
    asset = asset_of_instrument_nb(ctx.mk, instrument)
    holdings = ctx.holdings
    with_levels = 0
    for h in range(holdings.shape[0]):
        if holdings[h]["asset"] >= 0 and not (math.isnan(holdings[h]["stop_price"])
                                              and math.isnan(holdings[h]["take_price"])):
            with_levels += 1
    if with_levels == 0:
        ctx.acc[ACC_N_EXIT_LEVELS] = 0.0  # nothing to watch until a strategy sets levels again
        return Status.OK
    for h in range(holdings.shape[0]):
        if holdings[h]["asset"] != asset:
            continue
        stop, take = holdings[h]["stop_price"], holdings[h]["take_price"]
        if math.isnan(stop) and math.isnan(take):
            return Status.OK
        o, hi, lo = tp.vals[i, BAR_OPEN], tp.vals[i, BAR_HIGH], tp.vals[i, BAR_LOW]
        price = math.nan
        tag = 0
        if not math.isnan(stop) and o <= stop:
            price, tag = o, TAG_STOP_LOSS
        elif not math.isnan(take) and o >= take:
            price, tag = o, TAG_TAKE_PROFIT
        elif not math.isnan(stop) and lo <= stop:
            price, tag = stop, TAG_STOP_LOSS
        elif not math.isnan(take) and hi >= take:
            price, tag = take, TAG_TAKE_PROFIT
        if math.isnan(price):
            return Status.OK
        oid = submit_nb(ctx.pending, ctx.acc, ctx.cfg, ctx.dyn.states, ctx.row, tp.slot[i], tp.ts_ns[i], HopKind.BAR,
                        1, (instrument, -1, -1), (Side.SELL, -1, -1),
                        holdings[h]["qty_raw"], 0.0, 0.0, 0.0, 0.0, tag, holdings[h]["exit_fee_rate"], False, price)
        if oid < 0:
            return Status.ORDERS_FULL
        for j in range(ctx.pending.shape[0]):
            if ctx.pending[j]["active"] == 1 and ctx.pending[j]["order_id"] == oid:
                return execute_nb(ctx, j, tp.slot[i], tp.ts_ns[i])
        return Status.OK
    return Status.OK


@njit(cache=True)
def _settle_nb(ctx, market, payout, slot, ts_ns):
    """Pay out both outcome tokens of a resolved market into cash."""
    cash = ctx.cfg["cash_asset"]
    for outcome in range(2):
        asset = asset_of_outcome_nb(ctx.mk, market, outcome)
        for h in range(ctx.holdings.shape[0]):
            if ctx.holdings[h]["asset"] == asset:
                qty = ctx.holdings[h]["qty_raw"]
                value = qty * ctx.cfg["share_value"] * (payout if outcome == 1 else 1.0 - payout)
                _, ok = convert_nb(ctx.acc, ctx.holdings, cash, asset, qty, cash, value, slot, ts_ns)
                if not ok:
                    return Status.HOLDINGS_FULL
    return Status.OK

