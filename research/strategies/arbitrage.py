"""Cross-pool arbitrage: 2-hop and triangular 3-hop cycles from cash back to cash, any pool kinds.

Candidate cycles are found once per run (`prepare`): every pair of pools that trade cash
against the same token (2 hops, both directions) and every triangle cash -> A -> B -> cash
over three pools (both directions). They are indexed per pool (pool -> cycles that contain
it) in the shared ``ctx.aux`` table, so an event evaluates only the cycles of the pool it
changed. A cycle is sized with the optimal-size functions of `engine.amm.arb` (the closed
form for two constant-product pools, the bracketed golden-section search otherwise) and
capped at ``max_size_raw`` and the cash held.

The decision is an expected value in lamports::

    ev = (1 - p_fail) * (profit - tip) - (base fee + priority fee)

with ``p_fail = fail_prob + SimConfig.compete_prob`` (capped at 1): a failed transaction still
pays its base and priority fees, a tip is paid only when the bundle lands. The best cycle of
the event is submitted as one atomic route when ``ev >= min_profit_lamports``, with
``min_out = size + profit * (1 - slippage_bps / 10,000)`` (never below the input), so a gap
that closed before landing fails with BELOW_MIN_OUT and costs only the fees. While an order
is in flight (``latency_slots`` after the decision) no new one is sent.

``pool_kinds`` is a bit mask of allowed `PoolKind` values (1 CPMM, 2 CLMM, 4 curve).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.amm.arb import cpmm_2pool_optimal_nb, cycle_optimal_nb
from engine.amm.state import COL_FEE_DEN, COL_FEE_NUM, COL_KIND, COL_RESERVE_BASE, COL_RESERVE_QUOTE, KIND_CPMM
from engine.layout import EventKind, Side
from engine.sim.api_nb import cash_nb, mid_price_nb, submit_route_nb
from engine.sim.records import ACC_N_PENDING
from engine.sim.strategy import Strategy

PARAMS_DT = np.dtype([
    ("min_profit_lamports", np.float64), ("max_size_raw", np.float64), ("cu_price_micro_lamports", np.float64),
    ("tip_lamports", np.float64), ("latency_slots", np.int64), ("slippage_bps", np.float64),
    ("fail_prob", np.float64), ("pool_kinds", np.int64), ("max_hops", np.int64),
], align=True)

DEFAULTS = {"min_profit_lamports": 0.0, "max_size_raw": 10e9, "cu_price_micro_lamports": 1_000.0,
            "tip_lamports": 0.0, "latency_slots": 1, "slippage_bps": 50.0, "fail_prob": 0.0, "pool_kinds": 7,
            "max_hops": 3}

# aux layout: row 0 header; cycle k at row 1 + k; pool p's [start, count] at PTR + p; cycle ids at LIST + j
AUX_W = 8
H_N_CYCLES, H_N_POOLS, H_PTR, H_LIST = 0, 1, 2, 3
# ctx.si layout: pools and sides of the hops being evaluated, then the slot until which we wait
SI_POOLS = 0
SI_SIDES = 3
SI_BUSY_UNTIL = 6
N_SI = 7


def find_cycles(market, allowed_kinds: int = 7, max_hops: int = 3) -> list[tuple[int, ...]]:
    """Return cash -> ... -> cash cycles as ``(n_hops, pool0, side0, pool1, side1, pool2, side2)``."""
    cash = market.cash_asset
    kinds = np.asarray(market.pool_kind)
    ok = [(allowed_kinds >> int(k)) & 1 == 1 for k in kinds]
    base, quote = np.asarray(market.pool_base), np.asarray(market.pool_quote)

    def side(p: int, a_in: int) -> int:
        return Side.BUY if quote[p] == a_in else Side.SELL

    def other(p: int, a: int) -> int:
        return int(base[p]) if quote[p] == a else int(quote[p])

    by_token: dict[int, list[int]] = {}  # token -> pools trading it against cash
    pair_pools: dict[tuple[int, int], list[int]] = {}  # (a, b) non-cash -> pools
    for p in range(market.n_pools):
        if not ok[p]:
            continue
        b, q = int(base[p]), int(quote[p])
        if cash in (b, q) and b != q:
            by_token.setdefault(b if q == cash else q, []).append(p)
        elif b != q:
            pair_pools.setdefault((min(b, q), max(b, q)), []).append(p)
    cycles: list[tuple[int, ...]] = []
    for token, pools in sorted(by_token.items()):
        for p1 in pools:
            for p2 in pools:
                if p1 != p2:
                    cycles.append((2, p1, side(p1, cash), p2, side(p2, token), -1, -1))
    if max_hops >= 3:
        for (a, b), mids in sorted(pair_pools.items()):
            for x, y in ((a, b), (b, a)):
                for p1 in by_token.get(x, []):
                    for pm in mids:
                        for p3 in by_token.get(y, []):
                            cycles.append((3, p1, side(p1, cash), pm, side(pm, x), p3, side(p3, other(pm, x))))
    return cycles


def prepare(tape, market, params: np.ndarray) -> np.ndarray:
    """Build the shared cycle table and its pool -> cycles index (see the module docstring)."""
    kinds = int(np.bitwise_or.reduce(params["pool_kinds"])) if params.size else 7
    cycles = find_cycles(market, kinds, int(params["max_hops"].max()) if params.size else 3)
    n_pools = market.n_pools
    members: list[list[int]] = [[] for _ in range(n_pools)]
    for k, c in enumerate(cycles):
        for h in range(c[0]):
            p = c[1 + 2 * h]
            if k not in members[p]:
                members[p].append(k)
    n_list = sum(len(m) for m in members)
    ptr = 1 + len(cycles)
    lst = ptr + n_pools
    aux = np.zeros((lst + n_list, AUX_W), dtype=np.float64)
    aux[0, [H_N_CYCLES, H_N_POOLS, H_PTR, H_LIST]] = (len(cycles), n_pools, ptr, lst)
    for k, c in enumerate(cycles):
        aux[1 + k, :7] = c
    j = 0
    for p, m in enumerate(members):
        aux[ptr + p, 0], aux[ptr + p, 1] = j, len(m)
        for k in m:
            aux[lst + j, 0] = k
            j += 1
    return aux


@njit(cache=True)
def _marginal_rate_nb(ctx, si, n_hops):
    """Output per unit input of a tiny trade through the hops (> 1 means the cycle can pay)."""
    rate = 1.0
    for h in range(n_hops):
        p = si[SI_POOLS + h]
        row = ctx.dyn.states[p]
        mid = mid_price_nb(ctx, p)
        if not mid > 0.0 or not row[COL_FEE_DEN] > 0.0:
            return math.nan
        g = 1.0 - row[COL_FEE_NUM] / row[COL_FEE_DEN]
        rate *= g / mid if si[SI_SIDES + h] == Side.BUY else g * mid
    return rate


@njit(cache=True)
def _best_size_nb(ctx, si, n_hops, max_in):
    """Optimal ``(size, profit)`` of the cycle in ``si`` (closed form for two CPMM pools)."""
    st = ctx.dyn.states
    p1, p2 = si[SI_POOLS], si[SI_POOLS + 1]
    if n_hops == 2 and st[p1, COL_KIND] == KIND_CPMM and st[p2, COL_KIND] == KIND_CPMM:
        r_in1 = st[p1, COL_RESERVE_QUOTE] if si[SI_SIDES] == Side.BUY else st[p1, COL_RESERVE_BASE]
        r_out1 = st[p1, COL_RESERVE_BASE] if si[SI_SIDES] == Side.BUY else st[p1, COL_RESERVE_QUOTE]
        r_in2 = st[p2, COL_RESERVE_QUOTE] if si[SI_SIDES + 1] == Side.BUY else st[p2, COL_RESERVE_BASE]
        r_out2 = st[p2, COL_RESERVE_BASE] if si[SI_SIDES + 1] == Side.BUY else st[p2, COL_RESERVE_QUOTE]
        size, profit = cpmm_2pool_optimal_nb(r_in1, r_out1, st[p1, COL_FEE_NUM], st[p1, COL_FEE_DEN], r_in2, r_out2,
                                             st[p2, COL_FEE_NUM], st[p2, COL_FEE_DEN])
        if size <= max_in or not size > 0.0:
            return size, profit
    return cycle_optimal_nb(st, si[SI_POOLS:SI_POOLS + n_hops], si[SI_SIDES:SI_SIDES + n_hops], ctx.mk.tick_index,
                            ctx.mk.tick_liq_net, max_in)


@njit(cache=True)
def _evaluate_nb(tp, i, p, ctx, pool):
    """Find the best cycle through ``pool`` and submit it when its expected value clears the bar."""
    aux, si, cfg = ctx.aux, ctx.si, ctx.cfg
    ptr = np.int64(aux[0, H_PTR])
    lst = np.int64(aux[0, H_LIST])
    start, count = np.int64(aux[ptr + pool, 0]), np.int64(aux[ptr + pool, 1])
    max_in = min(p["max_size_raw"], cash_nb(ctx))
    p_fail = min(1.0, p["fail_prob"] + cfg["compete_prob"])
    best_ev, best_k, best_size, best_profit = -math.inf, -1, 0.0, 0.0
    for j in range(start, start + count):
        k = np.int64(aux[lst + j, 0])
        c = aux[1 + k]
        n_hops = np.int64(c[0])
        if n_hops > p["max_hops"]:
            continue
        allowed = True
        cu = cfg["cu_overhead"]
        for h in range(n_hops):
            pp = np.int64(c[1 + 2 * h])
            kind = np.int64(ctx.dyn.states[pp, COL_KIND])
            if (p["pool_kinds"] >> kind) & 1 == 0:
                allowed = False
            si[SI_POOLS + h] = pp
            si[SI_SIDES + h] = np.int64(c[2 + 2 * h])
            cu += cfg["cu_per_hop"][kind]
        if not allowed:
            continue
        rate = _marginal_rate_nb(ctx, si, n_hops)
        if not rate > 1.0:
            continue
        size, profit = _best_size_nb(ctx, si, n_hops, max_in)
        if not (size > 0.0 and profit > 0.0):
            continue
        tip = max(p["tip_lamports"], cfg["min_tip_lamports"]) if p["tip_lamports"] > 0.0 else 0.0
        fees = cfg["base_fee_lamports"] + math.ceil(cu * p["cu_price_micro_lamports"] / 1e6)
        ev = (1.0 - p_fail) * (profit - tip) - fees
        if ev > best_ev:
            best_ev, best_k, best_size, best_profit = ev, k, size, profit
    if best_k < 0 or best_ev < p["min_profit_lamports"]:
        return None
    c = aux[1 + best_k]
    n_hops = np.int64(c[0])
    pools = (np.int64(c[1]), np.int64(c[3]) if n_hops > 1 else -1, np.int64(c[5]) if n_hops > 2 else -1)
    sides = (np.int64(c[2]), np.int64(c[4]) if n_hops > 1 else -1, np.int64(c[6]) if n_hops > 2 else -1)
    min_out = best_size + max(best_profit * (1.0 - p["slippage_bps"] / 1e4), 0.0)
    oid = submit_route_nb(tp, i, ctx, n_hops, pools, sides, best_size, min_out, p["cu_price_micro_lamports"],
                          p["tip_lamports"], best_profit, best_k)
    if oid >= 0:
        si[SI_BUSY_UNTIL] = tp.slot[i] + max(p["latency_slots"], 0)
    return None


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    """On a pool change, evaluate the cycles through that pool (none while an order is in flight)."""
    pool = tp.pool_id[i]
    if pool < 0 or pool >= ctx.dyn.states.shape[0] or ctx.aux.shape[0] == 0:
        return None
    if tp.slot[i] <= ctx.si[SI_BUSY_UNTIL] and ctx.acc[ACC_N_PENDING] > 0.0:  # wait for the last order
        return None
    _evaluate_nb(tp, i, p, ctx, pool)
    return None


def state_size(params: np.ndarray, market) -> tuple[int, int]:
    return 0, N_SI


def init_state(params: np.ndarray, market, sf: np.ndarray, si: np.ndarray) -> None:
    si[:, SI_BUSY_UNTIL] = -1


STRATEGY = Strategy(name="arbitrage", module=__name__, params_dtype=PARAMS_DT, defaults=DEFAULTS,
                    state_size=state_size, init_state=init_state, prepare=prepare,
                    events=(EventKind.POOL_STATE, EventKind.NEW_POOL, EventKind.LIQUIDITY))

