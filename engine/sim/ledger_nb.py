"""One parameter row's books: cash, holdings at average cost, realised PnL, costs, equity.

Cash and costs live in the row's accumulator vector (`engine.sim.records.ACC_*`); holdings in
a fixed-capacity `HOLDING_DT` array (asset -1 marks a free slot). Value leaves a row only
through costs and trading PnL, which the conservation tests check.
"""

from __future__ import annotations

import math

from numba import njit

from engine.sim.market_nb import mark_price_nb
from engine.sim.records import (
    ACC_CASH,
    ACC_GROSS_LOSS,
    ACC_GROSS_WIN,
    ACC_N_HELD,
    ACC_N_WINS,
    ACC_REALIZED,
    ACC_TRADE_COUNT,
)

DUST = 1e-9  # a holding below this many base units is closed


@njit(cache=True)
def find_holding_nb(holdings, asset):
    for h in range(holdings.shape[0]):
        if holdings[h]["asset"] == asset:
            return h
    return -1


@njit(cache=True)
def balance_nb(acc, holdings, asset, cash_asset):
    """Return what the row holds of ``asset`` (cash for the cash asset), in base units."""
    if asset == cash_asset:
        return acc[ACC_CASH]
    h = find_holding_nb(holdings, asset)
    return 0.0 if h < 0 else holdings[h]["qty_raw"]


@njit(cache=True)
def convert_nb(acc, holdings, cash_asset, asset_in, amount_in, asset_out, amount_out, slot, ts_ns):
    """Book one conversion of ``amount_in`` of ``asset_in`` into ``amount_out`` of ``asset_out``.

    Cost basis moves with the units at average cost; PnL is realised when units turn back into
    cash. Return ``(realised_pnl, ok)``; ``ok`` is False when no holding slot was free.
    """
    cost_in = 0.0
    if asset_in == cash_asset:
        acc[ACC_CASH] -= amount_in
        cost_in = amount_in
    else:
        h = find_holding_nb(holdings, asset_in)
        if h >= 0:
            qty = holdings[h]["qty_raw"]
            frac = min(amount_in / qty, 1.0) if qty > 0.0 else 1.0
            cost_in = holdings[h]["cost"] * frac
            holdings[h]["qty_raw"] = qty - amount_in
            holdings[h]["cost"] -= cost_in
            if holdings[h]["qty_raw"] <= DUST:
                acc[ACC_N_HELD] -= 1.0
                holdings[h]["asset"] = -1
                holdings[h]["qty_raw"] = 0.0
                holdings[h]["cost"] = 0.0
    realized = 0.0
    if asset_out == cash_asset:
        acc[ACC_CASH] += amount_out
        realized = amount_out - cost_in
        acc[ACC_REALIZED] += realized
        acc[ACC_TRADE_COUNT] += 1.0
        if realized > 0.0:
            acc[ACC_N_WINS] += 1.0
            acc[ACC_GROSS_WIN] += realized
        else:
            acc[ACC_GROSS_LOSS] -= realized
        return realized, True
    h = find_holding_nb(holdings, asset_out)
    if h < 0:
        h = find_holding_nb(holdings, -1)
        if h < 0:
            return realized, False
        acc[ACC_N_HELD] += 1.0
        holdings[h]["asset"] = asset_out
        holdings[h]["qty_raw"] = 0.0
        holdings[h]["cost"] = 0.0
        holdings[h]["entry_slot"] = slot
        holdings[h]["entry_ts_ns"] = ts_ns
        holdings[h]["peak_price"] = math.nan
        holdings[h]["stop_price"] = math.nan
        holdings[h]["take_price"] = math.nan
        holdings[h]["last_price"] = math.nan
        holdings[h]["exit_fee_rate"] = 0.0
    holdings[h]["qty_raw"] += amount_out
    holdings[h]["cost"] += cost_in
    return realized, True


@njit(cache=True)
def equity_nb(acc, holdings, cash_asset, mk, dyn, share_value):
    """Return cash plus holdings at mark (a holding with no mark keeps its last known price).

    A token that cannot be sold (a honeypot) is worth nothing to its holder, whatever its pool says.
    """
    total = acc[ACC_CASH]
    for h in range(holdings.shape[0]):
        a = holdings[h]["asset"]
        if a < 0 or mk.sell_blocked[a]:
            continue
        px = mark_price_nb(a, cash_asset, mk, dyn, share_value)
        if math.isnan(px):
            px = holdings[h]["last_price"]
        else:
            holdings[h]["last_price"] = px
        if not math.isnan(px):
            total += holdings[h]["qty_raw"] * px
    return total


