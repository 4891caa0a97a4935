"""The steps of the event loop around a strategy's callback, shared by every strategy.

Per event ``i`` of one parameter row, the loop (generated per strategy by
`engine.sim.specialize`) runs: `before_event_nb` (mark the last slot, land due orders, fire
bar stops, apply the event to the market, settle resolutions), the strategy's ``on_event``,
then `after_event_nb` (land orders decided with zero latency). Everything a step needs is in
its arguments, so a run split into chunks at any event gives bit-identical results.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from engine.layout import BAR_HIGH, BAR_LOW, BAR_OPEN, RESOLUTION_PAYOUT, EventKind, Side
from engine.sim.ledger_nb import convert_nb, equity_nb, in_market_nb
from engine.sim.market_nb import apply_event_nb, asset_of_instrument_nb, asset_of_outcome_nb
from engine.sim.orders_nb import execute_nb, land_due_nb, submit_nb
from engine.sim.records import (
    ACC_LAST_EQUITY,
    ACC_LAST_MARK_SLOT,
    ACC_LAST_SLOT,
    ACC_LAST_TS,
    ACC_MAX_DRAWDOWN,
    ACC_N_EQUITY,
    ACC_N_FILLS,
    ACC_NEXT_EQUITY_SLOT,
    ACC_PEAK_EQUITY,
    ACC_SLOTS_IN_MARKET,
    HopKind,
    Impact,
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
    last_mark = acc[ACC_LAST_MARK_SLOT]
    if slot - last_mark < cfg["mark_every_slots"]:
        return Status.OK
    eq = equity_nb(acc, ctx.holdings, cfg["cash_asset"], ctx.mk, ctx.dyn, cfg["share_value"])
    if in_market_nb(ctx.holdings):
        acc[ACC_SLOTS_IN_MARKET] += slot - last_mark
    acc[ACC_LAST_MARK_SLOT] = slot
    acc[ACC_LAST_EQUITY] = eq
    if eq > acc[ACC_PEAK_EQUITY]:
        acc[ACC_PEAK_EQUITY] = eq
    if acc[ACC_PEAK_EQUITY] > 0.0:
        dd = 1.0 - eq / acc[ACC_PEAK_EQUITY]
        if dd > acc[ACC_MAX_DRAWDOWN]:
            acc[ACC_MAX_DRAWDOWN] = dd
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


@njit(cache=True)
def before_event_nb(tp, i, ctx):
    """Run the engine's part before the strategy sees event ``i``; return a `Status`."""
    slot, ts = tp.slot[i], tp.ts_ns[i]
    acc = ctx.acc
    if slot != acc[ACC_LAST_SLOT]:
        status = mark_nb(ctx, slot, ts)
        if status != Status.OK:
            return status
        acc[ACC_LAST_SLOT] = slot
    acc[ACC_LAST_TS] = ts
    kind = tp.kind[i]
    bar_instrument = tp.pool_id[i] if kind == EventKind.BAR else -1
    if bar_instrument >= 0:  # orders waiting for this bar's open fill at it
        ctx.dyn.bar[bar_instrument, BAR_OPEN] = tp.vals[i, BAR_OPEN]
    status = land_due_nb(ctx, slot, ts, bar_instrument)
    if status != Status.OK:
        return status
    cf = ctx.cfg["impact"] == Impact.COUNTERFACTUAL
    apply_event_nb(kind, tp.pool_id[i], tp.mint_id[i], tp.side[i], tp.vals[i], ctx.mk, ctx.dyn, cf,
                   ctx.mk.tick_index, ctx.mk.tick_liq_net)
    if bar_instrument >= 0:
        status = _bar_exits_nb(ctx, tp, i, bar_instrument)
    elif kind == EventKind.RESOLUTION:
        status = _settle_nb(ctx, tp.pool_id[i], tp.vals[i, RESOLUTION_PAYOUT], slot, ts)
    return status


@njit(cache=True)
def after_event_nb(tp, i, ctx):
    """Land orders decided at this event with zero latency (and BAR orders at this close)."""
    return land_due_nb(ctx, tp.slot[i], tp.ts_ns[i], -1)


@njit(cache=True)
def _bar_exits_nb(ctx, tp, i, instrument):
    """Fire stop-loss and take-profit levels of a held instrument inside its new bar.

    Rules: a bar that opens beyond a level fills at the open (a gap); otherwise a level the
    bar's range touches fills at the level. When one bar touches both, the stop-loss fires
    first: the bar's path is unknown, and assuming the worse case is the honest choice.
    """
    asset = asset_of_instrument_nb(ctx.mk, instrument)
    holdings = ctx.holdings
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
        oid = submit_nb(ctx, tp.slot[i], tp.ts_ns[i], HopKind.BAR, 1, (instrument, -1, -1), (Side.SELL, -1, -1),
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


@njit(cache=True)
def n_fills_nb(ctx):
    return np.int64(ctx.acc[ACC_N_FILLS])
