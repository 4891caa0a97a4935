"""Orders: submit with a drawn latency, land against the market at landing time, book the fill.

An order is an atomic route of 1 to 3 hops (one Solana transaction with several swap
instructions): every hop fills or none does. At landing, in this order: a competitor may land
first (OUTBID); the input must be in the ledger (NO_FUNDS); selling a blocked token fails
(HONEYPOT); each hop is quoted on the pool state as it is then (NO_LIQUIDITY when it cannot
be); the route's output must reach ``min_out`` (BELOW_MIN_OUT). A failed on-chain order still
pays its base and priority fees; a bundle tip is paid only when it lands (Jito semantics).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from engine.amm.quote import swap_nb
from engine.amm.state import COL_FEE_DEN, COL_FEE_NUM, COL_KIND, KIND_CURVE
from engine.layout import BAR_CLOSE, BAR_OPEN, Side
from engine.sim.ledger_nb import balance_nb, convert_nb
from engine.sim.market_nb import asset_of_instrument_nb, asset_of_outcome_nb, mark_price_nb
from engine.sim.records import (
    ACC_CASH,
    ACC_FEE_BASE,
    ACC_FEE_DEX,
    ACC_FEE_PRIORITY,
    ACC_N_CANCELLED,
    ACC_N_FILLED,
    ACC_N_FILLS,
    ACC_N_HONEYPOT,
    ACC_N_MIN_OUT,
    ACC_N_NO_FUNDS,
    ACC_N_NO_LIQ,
    ACC_N_ORDERS,
    ACC_N_OUTBID,
    ACC_N_PENDING,
    ACC_TIP,
    MAX_HOPS,
    FillStatus,
    HopKind,
    Impact,
    LatencyKind,
    Status,
)
from engine.sim.rng import DRAW_COMPETE, DRAW_LATENCY, DRAW_LATENCY_2, normal_nb, uniform_nb

Ctx = namedtuple("Ctx", [
    "cfg",  # CFG_DT record
    "mk", "dyn",  # MarketStatic, MarketDyn (this row's view)
    "acc",  # float64 [N_ACC] accumulators
    "holdings",  # HOLDING_DT [max_holdings]
    "pending",  # ORDER_DT [max_pending]
    "fills",  # FILL_DT [max_fills]
    "equity",  # EQUITY_DT [max_equity]
    "sf", "si",  # the strategy's own float64 and int64 state (per row)
    "aux",  # float64 2-d: the strategy's precomputed tables, shared by all rows
    "scratch",  # float64 [MAX_HOPS, N_STATE_COLS]: pool rows while a route is walked
    "scratch_pool",  # int64 [MAX_HOPS]
    "row",  # the row's id in its grid (cfg["row_base"] + index): its key in the random draws
])


@njit(cache=True)
def submit_nb(pending, acc, cfg, states, row, slot, ts_ns, hop_kind, n_hops, pools, sides, amount_in_raw,
              min_out_raw, cu_price_micro_lamports, tip_lamports, expected_profit, tag, fee_rate, at_next_open,
              price):
    """Queue an order decided now; return its order id, or -1 when the queue is full.

    Takes the few arrays it writes, not the row context: this function is too big to be
    inlined, and a call that carries the whole context costs more than the event loop itself
    (strategies call it through the small wrappers of `engine.sim.api_nb`).

    Parameters
    ----------
    hop_kind : int
        `HopKind`: AMM pools, a BAR instrument, or a prediction-market outcome.
    n_hops : int
        1 to 3 hops; ``pools[h]``/``sides[h]`` (tuples of 3) describe hop ``h``. For OUTCOME
        orders ``pools[0]`` is the market and ``pools[1]`` the outcome (0 or 1).
    amount_in_raw : float
        Input of the first hop, base units (cash units for BAR and OUTCOME buys).
    min_out_raw : float
        Smallest acceptable output of the last hop; 0 accepts anything.
    fee_rate : float
        Fee as a fraction of notional for BAR and OUTCOME orders (pools carry their own).
    at_next_open : bool
        BAR orders: fill at the next bar's open instead of this bar's close.
    price : float
        BAR orders: fill at this price instead (the kernel's own stop and take exits); NaN
        for the bar's close or open.
    """
    k = -1
    for j in range(pending.shape[0]):
        if pending[j]["active"] == 0:
            k = j
            break
    if k < 0:
        return -1
    oid = np.int64(acc[ACC_N_ORDERS])
    acc[ACC_N_ORDERS] += 1.0
    acc[ACC_N_PENDING] += 1.0
    o = pending[k]
    o["order_id"] = oid
    o["decided_slot"] = slot
    o["decided_ts_ns"] = ts_ns
    o["n_hops"] = n_hops
    o["hop_kind"] = hop_kind
    o["active"] = 1
    o["at_next_open"] = 1 if at_next_open else 0
    p0, p1, p2 = pools  # tuples may mix int types: unpack, never index with a variable
    s0, s1, s2 = sides
    o["pool"][0], o["pool"][1], o["pool"][2] = p0, p1, p2
    o["side"][0], o["side"][1], o["side"][2] = s0, s1, s2
    cu = cfg["cu_overhead"]
    for h in range(MAX_HOPS):
        if h >= n_hops:
            o["side"][h] = -1
            if hop_kind != HopKind.OUTCOME:  # an outcome order keeps its outcome in pool[1]
                o["pool"][h] = -1
        elif hop_kind == HopKind.POOL:
            cu += cfg["cu_per_hop"][int(states[o["pool"][h], COL_KIND])]
    o["amount_in_raw"] = amount_in_raw
    o["min_out_raw"] = min_out_raw
    o["cu_limit"] = cu
    o["cu_price_micro_lamports"] = cu_price_micro_lamports
    o["tip_lamports"] = max(tip_lamports, cfg["min_tip_lamports"]) if tip_lamports > 0.0 else 0.0
    o["expected_profit"] = expected_profit
    o["tag"] = tag
    o["fee_rate"] = fee_rate
    o["price"] = price
    if hop_kind != HopKind.POOL:  # off-chain venues in the simulation: no latency draw
        o["land_slot"] = slot
        o["land_ts_ns"] = ts_ns
        return oid
    seed = cfg["seed"]
    if cfg["latency_kind"] == LatencyKind.LOGNORMAL:
        lat_ms = cfg["latency_ms_median"] * math.exp(cfg["latency_ms_sigma"]
                                                     * normal_nb(seed, row, oid, DRAW_LATENCY, DRAW_LATENCY_2))
        o["land_slot"] = slot
        o["land_ts_ns"] = ts_ns + np.int64(lat_ms * 1e6)
    else:
        lat = cfg["latency_slots_min"]
        if cfg["latency_kind"] == LatencyKind.UNIFORM:
            span = cfg["latency_slots_max"] - cfg["latency_slots_min"] + 1
            lat += np.int64(uniform_nb(seed, row, oid, DRAW_LATENCY) * span)
        o["land_slot"] = slot + lat
        o["land_ts_ns"] = ts_ns
    return oid


@njit(cache=True)
def cancel_nb(pending, acc, order_id):
    """Cancel a pending order; return True when it was still pending."""
    for j in range(pending.shape[0]):
        o = pending[j]
        if o["active"] == 1 and o["order_id"] == order_id:
            o["active"] = 0
            acc[ACC_N_PENDING] -= 1.0
            acc[ACC_N_CANCELLED] += 1.0
            return True
    return False


@njit(cache=True)
def _due(o, slot, ts_ns, use_ms):
    if o["active"] == 0 or o["at_next_open"] == 1:
        return False
    if use_ms:
        return o["land_ts_ns"] <= ts_ns
    return o["land_slot"] <= slot


@njit(cache=True)
def land_due_nb(ctx, slot, ts_ns, bar_instrument):
    """Land every due order, oldest landing time first; return a `Status`.

    ``bar_instrument`` >= 0 means a new bar of that instrument is arriving: its orders
    waiting for the next open land now, at that bar's open (the caller passes the bar).
    """
    use_ms = ctx.cfg["use_ms"] == 1
    pending = ctx.pending
    while True:
        best = -1
        for j in range(pending.shape[0]):
            o = pending[j]
            due = _due(o, slot, ts_ns, use_ms)
            if (not due and bar_instrument >= 0 and o["active"] == 1 and o["at_next_open"] == 1
                    and o["pool"][0] == bar_instrument):
                due = True
            if not due:
                continue
            if best < 0 or (o["land_slot"], o["land_ts_ns"], o["order_id"]) < (
                    pending[best]["land_slot"], pending[best]["land_ts_ns"], pending[best]["order_id"]):
                best = j
        if best < 0:
            return Status.OK
        status = execute_nb(ctx, best, slot, ts_ns)
        if status != Status.OK:
            return status


@njit(cache=True)
def execute_nb(ctx, j, slot, ts_ns):
    """Land pending order ``j`` now, book it, record its fill; return a `Status`."""
    k = _begin_fill_nb(ctx, j, slot, ts_ns)
    if k < 0:
        return Status.FILLS_FULL
    o = ctx.pending[j]
    f = ctx.fills[k]
    if o["hop_kind"] == HopKind.POOL:
        ok = _execute_route_nb(ctx, o, f, slot, ts_ns)
    elif o["hop_kind"] == HopKind.BAR:
        ok = _execute_bar_nb(ctx, o, f, slot, ts_ns)
    else:
        ok = _execute_outcome_nb(ctx, o, f, slot, ts_ns)
    ctx.acc[ACC_N_FILLS] += 1.0
    _count_status(ctx.acc, f["status"])
    return Status.OK if ok else Status.HOLDINGS_FULL


@njit(cache=True)
def settle_reported_nb(ctx, order_id, slot, ts_ns, status, amount_in_raw, amount_out_raw, fee_lamports,
                       tip_lamports):
    """Book what a live venue reported for pending order ``order_id``; return a `Status`.

    The fill model is not consulted: the amounts, the network fee (base plus priority) and the
    tip are booked as reported, so the row's ledger follows the wallet. The priority part of the
    fee is the order's own (its compute-unit limit times price), capped at the fee; the rest is
    the base fee. The DEX fee is inside the reported amounts and is not split out (``fee_dex`` 0).
    A failure pays its fee and moves nothing else; ``FillStatus.CANCELLED`` (never landed) pays
    nothing. Returns ``Status.UNKNOWN_FILL`` when no pending order has that id (the loop looks at a
    report only while the row has orders pending: with none, there is nothing it could settle).
    """
    j = -1
    for q in range(ctx.pending.shape[0]):
        if ctx.pending[q]["active"] == 1 and ctx.pending[q]["order_id"] == order_id:
            j = q
            break
    if j < 0:
        return Status.UNKNOWN_FILL
    k = _begin_fill_nb(ctx, j, slot, ts_ns)
    if k < 0:
        return Status.FILLS_FULL
    o = ctx.pending[j]
    f = ctx.fills[k]
    acc = ctx.acc
    asset_in, asset_out = _order_assets_nb(ctx, o)
    f["asset_in"] = asset_in
    f["asset_out"] = asset_out
    f["status"] = status
    f["fee_dex"] = 0.0
    fee_prio = 0.0
    if status != FillStatus.CANCELLED:
        fee_prio = min(float(math.ceil(o["cu_limit"] * o["cu_price_micro_lamports"] / 1e6)), fee_lamports)
    f["fee_priority"] = fee_prio
    f["fee_base"] = fee_lamports - fee_prio
    f["tip"] = tip_lamports
    acc[ACC_CASH] -= fee_lamports + tip_lamports
    acc[ACC_FEE_BASE] += fee_lamports - fee_prio
    acc[ACC_FEE_PRIORITY] += fee_prio
    acc[ACC_TIP] += tip_lamports
    ok = True
    if status == FillStatus.FILLED:
        f["amount_in_raw"] = amount_in_raw
        f["amount_out_raw"] = amount_out_raw
        realized, ok = convert_nb(acc, ctx.holdings, ctx.cfg["cash_asset"], asset_in, amount_in_raw, asset_out,
                                  amount_out_raw, slot, ts_ns)
        f["realized_pnl"] = realized
    else:
        f["amount_out_raw"] = 0.0
        f["realized_pnl"] = 0.0
    acc[ACC_N_FILLS] += 1.0
    _count_status(acc, status)
    return Status.OK if ok else Status.HOLDINGS_FULL


@njit(cache=True)
def _order_assets_nb(ctx, o):
    """Return the assets an order gives and gets: its route's ends, or cash and a BAR/OUTCOME asset."""
    if o["hop_kind"] == HopKind.POOL:
        asset_in, _ = _hop_assets(ctx.mk, o["pool"][0], o["side"][0])
        _, asset_out = _hop_assets(ctx.mk, o["pool"][o["n_hops"] - 1], o["side"][o["n_hops"] - 1])
        return asset_in, asset_out
    if o["hop_kind"] == HopKind.BAR:
        asset = asset_of_instrument_nb(ctx.mk, o["pool"][0])
    else:
        asset = asset_of_outcome_nb(ctx.mk, o["pool"][0], o["pool"][1])
    cash = ctx.cfg["cash_asset"]
    return (cash, asset) if o["side"][0] == Side.BUY else (asset, cash)


@njit(cache=True)
def _begin_fill_nb(ctx, j, slot, ts_ns):
    """Take pending order ``j`` off the queue and start its fill record; return the record's index (-1: full)."""
    o = ctx.pending[j]
    o["active"] = 0
    ctx.acc[ACC_N_PENDING] -= 1.0
    n = np.int64(ctx.acc[ACC_N_FILLS])
    keep = ctx.cfg["keep_fills"] == 1
    if keep and n >= ctx.fills.shape[0]:
        return -1
    k = n if keep else 0  # a sweep that keeps no fills reuses one record
    f = ctx.fills[k]
    f["order_id"] = o["order_id"]
    f["slot"] = slot
    f["ts_ns"] = ts_ns
    f["decided_slot"] = o["decided_slot"]
    f["n_hops"] = o["n_hops"]
    f["hop_kind"] = o["hop_kind"]
    for h in range(MAX_HOPS):
        f["pool"][h] = o["pool"][h]
        f["side"][h] = o["side"][h]
    f["amount_in_raw"] = o["amount_in_raw"]
    f["min_out_raw"] = o["min_out_raw"]
    f["expected_profit"] = o["expected_profit"]
    f["tag"] = o["tag"]
    return k


@njit(cache=True)
def _count_status(acc, status):
    if status == FillStatus.FILLED:
        acc[ACC_N_FILLED] += 1.0
    elif status == FillStatus.BELOW_MIN_OUT:
        acc[ACC_N_MIN_OUT] += 1.0
    elif status == FillStatus.OUTBID:
        acc[ACC_N_OUTBID] += 1.0
    elif status == FillStatus.HONEYPOT:
        acc[ACC_N_HONEYPOT] += 1.0
    elif status == FillStatus.NO_LIQUIDITY:
        acc[ACC_N_NO_LIQ] += 1.0
    elif status == FillStatus.NO_FUNDS:
        acc[ACC_N_NO_FUNDS] += 1.0
    elif status == FillStatus.CANCELLED:  # only a venue reports these as fills (cancel_nb counts its own)
        acc[ACC_N_CANCELLED] += 1.0


@njit(cache=True)
def _hop_assets(mk, pool, side):
    if side == Side.BUY:
        return mk.pool_quote[pool], mk.pool_base[pool]
    return mk.pool_base[pool], mk.pool_quote[pool]


@njit(cache=True)
def _scratch_row(ctx, pool, used):
    """Return the index of ``pool``'s scratch row, copying it from the market on first use."""
    for s in range(used):
        if ctx.scratch_pool[s] == pool:
            return s, used
    ctx.scratch_pool[used] = pool
    ctx.scratch[used, :] = ctx.dyn.states[pool]
    return used, used + 1


@njit(cache=True)
def _execute_route_nb(ctx, o, f, slot, ts_ns):
    cfg, mk = ctx.cfg, ctx.mk
    cash = cfg["cash_asset"]
    n_hops = o["n_hops"]
    asset_in, _ = _hop_assets(mk, o["pool"][0], o["side"][0])
    _, asset_out = _hop_assets(mk, o["pool"][n_hops - 1], o["side"][n_hops - 1])
    f["asset_in"] = asset_in
    f["asset_out"] = asset_out
    fee_base = cfg["base_fee_lamports"]
    fee_prio = math.ceil(o["cu_limit"] * o["cu_price_micro_lamports"] / 1e6)
    status = FillStatus.FILLED
    amount = o["amount_in_raw"]
    fee_dex = 0.0
    used = 0
    p_compete = min(1.0, cfg["compete_prob"] + cfg["compete_prob_per_lamport"] * max(o["expected_profit"], 0.0))
    if p_compete > 0.0 and uniform_nb(cfg["seed"], ctx.row, o["order_id"], DRAW_COMPETE) < p_compete:
        status = FillStatus.OUTBID
    elif balance_nb(ctx.acc, ctx.holdings, asset_in, cash) < amount * (1.0 - 1e-12) or not amount > 0.0:
        status = FillStatus.NO_FUNDS
    else:
        for h in range(n_hops):
            pool, side = o["pool"][h], o["side"][h]
            a_in, a_out = _hop_assets(mk, pool, side)
            if mk.sell_blocked[a_in]:
                status = FillStatus.HONEYPOT
                break
            amount_net = amount * (1.0 - mk.transfer_fee_bps[a_in] / 1e4)
            s, used = _scratch_row(ctx, pool, used)
            row = ctx.scratch[s]
            fee_frac = row[COL_FEE_NUM] / row[COL_FEE_DEN] if row[COL_FEE_DEN] > 0.0 else 0.0
            out = swap_nb(row, side, amount_net, mk.tick_index, mk.tick_liq_net)
            if math.isnan(out) or not out > 0.0:
                status = FillStatus.NO_LIQUIDITY
                break
            if row[COL_KIND] == KIND_CURVE and side == Side.SELL:  # the curve's fee comes out of the SOL
                fee_dex += out / (1.0 - fee_frac) * fee_frac * mark_price_nb(a_out, cash, mk, ctx.dyn, 1.0)
            else:
                fee_dex += amount_net * fee_frac * mark_price_nb(a_in, cash, mk, ctx.dyn, 1.0)
            amount = out * (1.0 - mk.transfer_fee_bps[a_out] / 1e4)
        if status == FillStatus.FILLED and amount < o["min_out_raw"]:
            status = FillStatus.BELOW_MIN_OUT
    f["status"] = status
    f["fee_base"] = fee_base
    f["fee_priority"] = fee_prio
    ctx.acc[ACC_CASH] -= fee_base + fee_prio
    ctx.acc[ACC_FEE_BASE] += fee_base
    ctx.acc[ACC_FEE_PRIORITY] += fee_prio
    if status != FillStatus.FILLED:
        f["amount_out_raw"] = 0.0
        f["realized_pnl"] = 0.0
        return True
    tip = o["tip_lamports"]
    f["tip"] = tip
    f["fee_dex"] = fee_dex if not math.isnan(fee_dex) else 0.0
    f["amount_out_raw"] = amount
    ctx.acc[ACC_CASH] -= tip
    ctx.acc[ACC_TIP] += tip
    ctx.acc[ACC_FEE_DEX] += f["fee_dex"]
    realized, ok = convert_nb(ctx.acc, ctx.holdings, cash, asset_in, o["amount_in_raw"], asset_out, amount, slot,
                              ts_ns)
    f["realized_pnl"] = realized
    if cfg["impact"] == Impact.COUNTERFACTUAL:
        for s in range(used):
            p = ctx.scratch_pool[s]
            ctx.dyn.states[p, :] = ctx.scratch[s]
            ctx.dyn.diverged[p] = 1.0
    return ok


@njit(cache=True)
def _execute_bar_nb(ctx, o, f, slot, ts_ns):
    """Fill a BAR order at the bar's close (or next open, or its own price for kernel exits)."""
    instrument = o["pool"][0]
    price = o["price"]
    if math.isnan(price):
        price = ctx.dyn.bar[instrument, BAR_OPEN] if o["at_next_open"] == 1 else ctx.dyn.bar[instrument, BAR_CLOSE]
    return _fill_at_price_nb(ctx, o, f, asset_of_instrument_nb(ctx.mk, instrument), price, True, slot, ts_ns)


@njit(cache=True)
def _execute_outcome_nb(ctx, o, f, slot, ts_ns):
    """Fill a prediction-market order at the outcome's last traded price (none once resolved)."""
    market, outcome = o["pool"][0], o["pool"][1]
    p1 = ctx.dyn.outcome_px[market]
    price = ctx.cfg["share_value"] * (p1 if outcome == 1 else 1.0 - p1)
    open_market = math.isnan(ctx.dyn.payout[market])
    return _fill_at_price_nb(ctx, o, f, asset_of_outcome_nb(ctx.mk, market, outcome), price, open_market, slot,
                             ts_ns)


@njit(cache=True)
def _fill_at_price_nb(ctx, o, f, asset, price, tradable, slot, ts_ns):
    """Buy ``asset`` with cash or sell it for cash at ``price``, fee a fraction of notional.

    A buy spends ``amount_in_raw`` cash, fee included: ``units = cash / (price * (1 + fee))``
    (vectorbt's all-in buy); a sell receives ``units * price * (1 - fee)``.
    """
    cash = ctx.cfg["cash_asset"]
    fee = o["fee_rate"]
    buy = o["side"][0] == Side.BUY
    f["asset_in"] = cash if buy else asset
    f["asset_out"] = asset if buy else cash
    amount = o["amount_in_raw"]
    if not (price > 0.0) or not tradable or not amount > 0.0:
        f["status"] = FillStatus.NO_LIQUIDITY
        return True
    if balance_nb(ctx.acc, ctx.holdings, f["asset_in"], cash) < amount * (1.0 - 1e-12):
        f["status"] = FillStatus.NO_FUNDS
        return True
    if buy:
        out = amount / (price * (1.0 + fee))
        fee_paid = out * price * fee
    else:
        gross = amount * price
        fee_paid = gross * fee
        out = gross - fee_paid
    if out < o["min_out_raw"]:
        f["status"] = FillStatus.BELOW_MIN_OUT
        return True
    f["status"] = FillStatus.FILLED
    f["amount_out_raw"] = out
    f["fee_dex"] = fee_paid
    ctx.acc[ACC_FEE_DEX] += fee_paid
    realized, ok = convert_nb(ctx.acc, ctx.holdings, cash, f["asset_in"], amount, f["asset_out"], out, slot, ts_ns)
    f["realized_pnl"] = realized
    return ok
