"""What a strategy's callbacks call: submit orders, read balances, prices and quotes.

Callbacks receive ``(tp, i, p, ctx)``: the tape view, the event index, the row's params record
and the row's `engine.sim.orders_nb.Ctx`. These helpers keep strategies short and keep them
from touching buffers directly. They are small on purpose: Numba inlines them, so the row
context never crosses a real call (a call carrying it costs ~150 ns, more than an event).
"""

from __future__ import annotations

import math

from numba import njit

from engine.amm.quote import quote_nb
from engine.sim.ledger_nb import balance_nb, find_holding_nb
from engine.sim.market_nb import asset_of_instrument_nb, mark_price_nb, pool_mid_nb
from engine.sim.orders_nb import cancel_nb, submit_nb
from engine.sim.records import ACC_N_EXIT_LEVELS, HopKind


@njit(cache=True, inline="always")
def _submit_nb(tp, i, ctx, hop_kind, n_hops, pools, sides, amount, min_out, cu_price, tip, expected_profit, tag,
               fee_rate, at_next_open):
    return submit_nb(ctx.pending, ctx.acc, ctx.cfg, ctx.dyn.states, ctx.row, tp.slot[i], tp.ts_ns[i], hop_kind,
                     n_hops, pools, sides, amount, min_out, cu_price, tip, expected_profit, tag, fee_rate,
                     at_next_open, math.nan)


@njit(cache=True, inline="always")
def submit_swap_nb(tp, i, ctx, pool, side, amount_in_raw, min_out_raw, cu_price_micro_lamports, tip_lamports,
                   tag):
    """Queue a one-hop swap decided at event ``i``; return its order id (-1: queue full)."""
    return _submit_nb(tp, i, ctx, HopKind.POOL, 1, (pool, -1, -1), (side, -1, -1), amount_in_raw, min_out_raw,
                      cu_price_micro_lamports, tip_lamports, 0.0, tag, 0.0, False)


@njit(cache=True, inline="always")
def submit_route_nb(tp, i, ctx, n_hops, pools, sides, amount_in_raw, min_out_raw, cu_price_micro_lamports,
                    tip_lamports, expected_profit, tag):
    """Queue an atomic route of 1-3 hops (``pools``/``sides`` are 3-tuples); return its order id."""
    return _submit_nb(tp, i, ctx, HopKind.POOL, n_hops, pools, sides, amount_in_raw, min_out_raw,
                      cu_price_micro_lamports, tip_lamports, expected_profit, tag, 0.0, False)


@njit(cache=True, inline="always")
def submit_bar_nb(tp, i, ctx, instrument, side, amount, fee_rate, at_next_open, tag):
    """Queue a BAR order: a buy spends ``amount`` cash (fees included), a sell sells ``amount`` units."""
    return _submit_nb(tp, i, ctx, HopKind.BAR, 1, (instrument, -1, -1), (side, -1, -1), amount, 0.0, 0.0, 0.0, 0.0,
                      tag, fee_rate, at_next_open)


@njit(cache=True, inline="always")
def submit_outcome_nb(tp, i, ctx, market, outcome, side, amount, min_out, fee_rate, tag):
    """Queue a prediction-market order on ``outcome`` (0/1) of ``market`` at the last traded price."""
    return _submit_nb(tp, i, ctx, HopKind.OUTCOME, 1, (market, outcome, -1), (side, -1, -1), amount, min_out, 0.0,
                      0.0, 0.0, tag, fee_rate, False)


@njit(cache=True, inline="always")
def cancel_order_nb(ctx, order_id):
    """Cancel a pending order; return True when it was still pending (never with external fills: it may be sent)."""
    if ctx.cfg["external_fills"] == 1:
        return False
    return cancel_nb(ctx.pending, ctx.acc, order_id)


@njit(cache=True, inline="always")
def cash_nb(ctx):
    """Cash of the row, in cash-asset base units."""
    return balance_nb(ctx.acc, ctx.holdings, ctx.cfg["cash_asset"], ctx.cfg["cash_asset"])


@njit(cache=True, inline="always")
def holding_nb(ctx, asset):
    """Units held of ``asset`` (cash for the cash asset)."""
    return balance_nb(ctx.acc, ctx.holdings, asset, ctx.cfg["cash_asset"])


@njit(cache=True, inline="always")
def instrument_holding_nb(ctx, instrument):
    return holding_nb(ctx, asset_of_instrument_nb(ctx.mk, instrument))


@njit(cache=True, inline="always")
def set_exit_levels_nb(ctx, asset, stop_price, take_price, fee_rate):
    """Give a held asset kernel-side stop-loss and take-profit levels (NaN: none)."""
    h = find_holding_nb(ctx.holdings, asset)
    if h < 0:
        return False
    ctx.holdings[h]["stop_price"] = stop_price
    ctx.holdings[h]["take_price"] = take_price
    ctx.holdings[h]["exit_fee_rate"] = fee_rate
    ctx.acc[ACC_N_EXIT_LEVELS] = 1.0  # the loop now watches bars for exits
    return True


@njit(cache=True, inline="always")
def mid_price_nb(ctx, pool):
    """Mid price of a pool: quote base units per base base unit (NaN when empty)."""
    return pool_mid_nb(ctx.dyn.states, pool)


@njit(cache=True, inline="always")
def mark_nb(ctx, asset):
    """Value of one base unit of ``asset`` in cash units (NaN when unknown)."""
    return mark_price_nb(asset, ctx.cfg["cash_asset"], ctx.mk, ctx.dyn, ctx.cfg["share_value"])


@njit(cache=True, inline="always")
def quote_pool_nb(ctx, pool, side, amount_in_raw):
    """Output of an exact-in swap on ``pool`` as it is now (NaN when it cannot be quoted)."""
    st = ctx.dyn.states[pool]
    return quote_nb(int(st[0]), st, side, amount_in_raw, ctx.mk.tick_index, ctx.mk.tick_liq_net)
