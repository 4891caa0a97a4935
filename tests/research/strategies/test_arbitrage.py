"""Arbitrage on crafted tapes: known optimal profits from the exact integer twins, costs by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.amm.exact import cpmm_exact_in
from engine.layout import PoolKind, Side
from engine.sim import Market, SimConfig, run
from engine.sim.records import FillStatus
from research.strategies.arbitrage import STRATEGY, find_cycles
from tests.research.strategies.tapes import market, state, swap, tape

CPMM = (PoolKind.CPMM, 25.0, 10_000.0)
INIT = 100e9
CU_PRICE = 1_000.0


def _cfg(latency: int) -> SimConfig:
    return SimConfig(init_cash=INIT, latency_slots_min=latency, latency_slots_max=latency)


def _route_exact(a: int, hops: list[tuple[int, int]]) -> int:
    """Output of ``a`` through (reserve_in, reserve_out) CPMM hops at 25 bps, rounded as on chain."""
    for r_in, r_out in hops:
        a = cpmm_exact_in(a, r_in, r_out, 25, 10_000).amount_out
    return a


def _best_exact(hops: list[tuple[int, int]], hi: int) -> tuple[int, int]:
    """Integer ternary search of the concave profit, then a local scan: the oracle's optimum."""
    lo = 1
    while hi - lo > 50:
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if _route_exact(m1, hops) - m1 < _route_exact(m2, hops) - m2:
            lo = m1
        else:
            hi = m2
    return max(((_route_exact(a, hops) - a, a) for a in range(lo, hi + 1)), key=lambda t: t[0])[::-1]


def _fees(n_hops: int) -> float:
    return 5_000.0 + math.ceil((10_000 + 45_000 * n_hops) * CU_PRICE / 1e6)


TWO = market([(PoolKind.CPMM, 1, 0, 25.0, 10_000.0)] * 2, n_mints=2)
R0 = (1_000_000_000_000, 1_000_000_000_000)  # pool 0: 1e12 token, 1e12 lamports (price 1)
R1 = (1_000_000_000_000, 1_050_000_000_000)  # pool 1: the token is 5 % dearer


def test_two_pool_arbitrage_fills_the_known_optimal_profit():
    # Arrange: buy on pool 0, sell on pool 1; lands one slot later at an unrecorded swap
    t = tape([state(0, 0, *R0), state(0, 1, *R1), swap(1, 0, 9, 1, Side.BUY, 1.0, 1.0)])
    size, profit = _best_exact([(R0[1], R0[0]), (R1[0], R1[1])], 100_000_000_000)
    # Act
    res = run(t, STRATEGY, STRATEGY.params([{"max_size_raw": 1e11}]), market=TWO, cfg=_cfg(1))
    # Assert
    f = res.fills.row(0, named=True)
    assert res.fills.height == 1 and f["status"] == FillStatus.FILLED
    assert (f["pool0"], f["side0"], f["pool1"], f["side1"]) == (0, Side.BUY, 1, Side.SELL)
    assert f["amount_in_raw"] == pytest.approx(size, rel=1e-4)  # the profit is flat at the top
    assert f["amount_out_raw"] - f["amount_in_raw"] == pytest.approx(profit, abs=3.0)
    assert res.summary["cash"][0] == pytest.approx(INIT + profit - _fees(2), abs=3.0)


def test_two_pool_gap_closed_before_landing_pays_costs_and_no_profit():
    # Arrange: pool 1 returns to pool 0's price one slot before the order lands (latency 2)
    t = tape([state(0, 0, *R0), state(0, 1, *R1), state(1, 1, *R0), swap(2, 0, 9, 1, Side.BUY, 1.0, 1.0)])
    # Act
    res = run(t, STRATEGY, STRATEGY.params([{"max_size_raw": 1e11}]), market=TWO, cfg=_cfg(2))
    # Assert: one order, failed on min_out; base and priority fees paid, nothing else moved
    assert res.fills["status"].to_list() == [FillStatus.BELOW_MIN_OUT]
    assert res.summary["cash"][0] == INIT - _fees(2)
    assert res.summary["realized_pnl"][0] == 0.0


def test_min_profit_above_the_gap_submits_nothing():
    t = tape([state(0, 0, *R0), state(0, 1, *R1), swap(1, 0, 9, 1, Side.BUY, 1.0, 1.0)])
    res = run(t, STRATEGY, STRATEGY.params([{"max_size_raw": 1e11, "min_profit_lamports": 1e12}]), market=TWO,
              cfg=_cfg(1))
    assert res.summary["n_orders"][0] == 0


def test_triangular_cycle_fills_the_known_optimal_profit():
    # Arrange: SOL -> A (pool 0, A/SOL), A -> B (pool 1, A/B), B -> SOL (pool 2, B/SOL); A is cheap in B
    tri = market([(PoolKind.CPMM, 1, 0, *CPMM[1:]), (PoolKind.CPMM, 1, 2, *CPMM[1:]), (PoolKind.CPMM, 2, 0, *CPMM[1:])],
                 n_mints=3)
    ra, rab, rb = (10**12, 10**12), (10**12, 1_060_000_000_000), (10**12, 10**12)
    t = tape([state(0, 0, *ra), state(0, 1, *rab), state(0, 2, *rb), swap(1, 0, 9, 1, Side.BUY, 1.0, 1.0)])
    hops = [(ra[1], ra[0]), (rab[0], rab[1]), (rb[0], rb[1])]
    size, profit = _best_exact(hops, 10**11)
    # Act
    res = run(t, STRATEGY, STRATEGY.params([{"max_size_raw": 1e11}]), market=tri, cfg=_cfg(1))
    # Assert
    f = res.fills.row(0, named=True)
    assert (f["n_hops"], f["pool0"], f["pool1"], f["pool2"], f["status"]) == (3, 0, 1, 2, FillStatus.FILLED)
    assert f["amount_out_raw"] - f["amount_in_raw"] == pytest.approx(profit, rel=1e-6)
    assert f["amount_in_raw"] == pytest.approx(size, rel=2e-3)
    assert res.summary["cash"][0] == pytest.approx(INIT + profit - _fees(3), rel=1e-12, abs=profit * 1e-6)


def test_find_cycles_lists_both_directions_and_triangles():
    tri = market([(PoolKind.CPMM, 1, 0, *CPMM[1:]), (PoolKind.CPMM, 1, 2, *CPMM[1:]), (PoolKind.CPMM, 2, 0, *CPMM[1:]),
                  (PoolKind.CLMM, 1, 0, 500.0, 1e6)], n_mints=3)
    cycles = find_cycles(tri)
    assert sum(c[0] == 2 for c in cycles) == 2  # pools 0 and 3 both ways
    assert sum(c[0] == 3 for c in cycles) == 4  # via pool 0 or 3, both directions
    assert all(c[0] == 2 for c in find_cycles(tri, max_hops=2))
    assert find_cycles(tri, allowed_kinds=1 << PoolKind.CPMM) == [c for c in cycles if 3 not in c[1:6:2]]


def test_smoke_on_a_synthetic_market_finds_paying_cycles():
    from engine.feeds.synthetic import SyntheticConfig, generate_market

    syn, t = generate_market(SyntheticConfig(seed=3, days=0.02, n_tokens=3, launches_per_day=0.0))
    mkt = Market.from_registries(syn.pools, syn.tokens, n_markets=syn.markets.height)
    res = run(t, STRATEGY, STRATEGY.params(min_profit_lamports=[0.0, 1e7]), market=mkt,
              cfg=SimConfig(init_cash=100e9))
    s = res.summary
    assert s["n_orders"][0] > 0
    filled = res.fills.filter((res.fills["row"] == 0) & (res.fills["status"] == FillStatus.FILLED))
    assert filled.height > 0 and float(np.median(filled["expected_profit"].to_numpy())) > 0.0
    assert s["n_orders"][1] <= s["n_orders"][0]
