"""Optimal arbitrage size: closed form and numeric maximiser vs brute-force grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.amm import state as S
from engine.amm.arb import cpmm_2pool_optimal_nb, cycle_optimal_nb, cycle_profit_nb
from engine.amm.exact import cpmm_exact_in, sqrt_price_from_tick
from engine.layout import Side

EMPTY_I = np.zeros(0, dtype=np.int32)
EMPTY_F = np.zeros(0, dtype=np.float64)


def grid_best(profit, hi: float, n: int = 4000) -> tuple[float, float]:
    """Brute force: the best of a log grid then a fine linear grid around it."""
    xs = np.unique(np.floor(np.geomspace(1.0, hi, n)))
    ps = np.array([profit(x) for x in xs])
    k = int(np.argmax(ps))
    lo, up = xs[max(k - 1, 0)], xs[min(k + 1, len(xs) - 1)]
    fine = np.unique(np.floor(np.linspace(lo, up, n)))
    pf = np.array([profit(x) for x in fine])
    j = int(np.argmax(pf))
    return (fine[j], pf[j]) if pf[j] > ps[k] else (xs[k], ps[k])


@settings(deadline=None, max_examples=40)
@given(x1=st.integers(10**9, 10**15), price=st.floats(0.01, 100.0), edge=st.floats(-0.02, 0.05),
       depth=st.floats(0.1, 10.0))
def test_cpmm_2pool_closed_form_matches_a_grid_search(x1, price, edge, depth):
    # pool 1: x1 of token Q in, y1 of token B out; pool 2 prices B (1 + edge) higher
    y1 = int(x1 * price)
    x2, y2 = int(y1 * depth), int(x1 * depth * (1 + edge))
    size, profit = cpmm_2pool_optimal_nb(float(x1), float(y1), 25.0, 1e4, float(x2), float(y2), 25.0, 1e4)

    def exact_profit(a: float) -> float:
        mid = cpmm_exact_in(int(a), x1, y1, 25, 10_000).amount_out
        return cpmm_exact_in(mid, x2, y2, 25, 10_000).amount_out - int(a)

    _, best_p = grid_best(exact_profit, float(min(x1, x2)))
    if best_p <= 0:
        assert (size, profit) == (0.0, 0.0)
    else:
        assert profit > 0
        assert exact_profit(size) == pytest.approx(profit, abs=2)  # kernel profit == exact profit at that size
        # the closed form optimises the unrounded map; each floor/ceil (fee and output of each hop) moves the
        # profit by < 1 unit of its token, i.e. < 1 + 2 y2/x2 (1 + y1/x1) units of the start token
        noise = 2.0 + 2.0 * y2 / x2 * (1.0 + y1 / x1)
        assert profit >= best_p - max(noise, 1e-6 * best_p)  # at least the grid's best, up to that noise


def test_cpmm_2pool_with_equal_prices_returns_zero():
    assert cpmm_2pool_optimal_nb(1e12, 5e12, 25.0, 1e4, 5e12, 1e12, 25.0, 1e4) == (0.0, 0.0)
    # a price gap smaller than the two fees does not pay either
    assert cpmm_2pool_optimal_nb(1e12, 5e12, 25.0, 1e4, 5e12, 1.004e12, 25.0, 1e4) == (0.0, 0.0)


def test_cpmm_2pool_with_bad_reserves_returns_nan():
    assert all(math.isnan(v) for v in cpmm_2pool_optimal_nb(0.0, 5e12, 25.0, 1e4, 5e12, 1e12, 25.0, 1e4))


def three_kind_market(edge: float):
    """SOL -> TOKEN on a curve, TOKEN -> USDC on a CLMM (token = A), USDC -> SOL on a CPMM mispriced by `edge`."""
    states = S.empty_states(3)
    vs, vt = 40 * 10**9, 8 * 10**14  # curve: 5e-5 SOL per token
    S.set_curve(states, 0, virtual_token_raw=float(vt), virtual_sol_raw=float(vs), real_token_raw=5e14, fee_bps=100.0)
    tick = -40_000  # CLMM price B per A = 1.0001**-40000 ~ 0.0183 USDC-units per token unit
    ticks = [(tick - 5000, 10**13), (tick + 5000, -(10**13))]
    tick_index, tick_net, _ = S.build_tick_table([ticks])
    S.set_clmm(states, 1, sqrt_price_x64=sqrt_price_from_tick(tick) + 1, tick=tick, liquidity=10**13, fee_rate=3000,
               base_is_a=True, tick_start=0, tick_count=2)
    usdc_per_token = 1.0001**tick
    sol_per_usdc = (vs / vt) / usdc_per_token * (1 + edge)  # the CPMM pays `edge` more SOL per USDC than fair
    S.set_cpmm(states, 2, reserve_base_raw=1e13, reserve_quote_raw=1e13 * sol_per_usdc, fee_num=25.0, fee_den=1e4)
    pools = np.array([0, 1, 2], dtype=np.int64)
    sides = np.array([Side.BUY, Side.SELL, Side.SELL], dtype=np.int8)  # buy token, sell token for USDC, sell USDC
    return states, pools, sides, tick_index, tick_net


@pytest.mark.parametrize("edge", [0.03, 0.08, 0.2])
def test_cycle_optimal_nb_mixed_kinds_matches_a_grid_search(edge):
    states, pools, sides, ti, tn = three_kind_market(edge)
    size, profit = cycle_optimal_nb(states, pools, sides, ti, tn, math.inf)

    def f(a: float) -> float:
        return cycle_profit_nb(a, states, pools, sides, ti, tn)

    _, best_p = grid_best(f, 1e13)
    assert best_p > 0
    assert profit == pytest.approx(f(size))
    assert profit >= best_p * (1 - 1e-6) - 2


def test_cycle_optimal_nb_returns_zero_when_no_cycle_pays():
    states, pools, sides, ti, tn = three_kind_market(-0.01)  # the CPMM pays less than fair: no profit after fees
    assert cycle_optimal_nb(states, pools, sides, ti, tn, math.inf) == (0.0, 0.0)
    states, pools, sides, ti, tn = three_kind_market(0.005)  # mispriced by less than the three fees
    assert cycle_optimal_nb(states, pools, sides, ti, tn, math.inf) == (0.0, 0.0)


def test_cycle_optimal_nb_respects_max_in():
    states, pools, sides, ti, tn = three_kind_market(0.2)
    size, _ = cycle_optimal_nb(states, pools, sides, ti, tn, 1e8)
    assert 1.0 <= size <= 1e8


def test_cycle_optimal_nb_two_cpmm_hops_agrees_with_the_closed_form():
    states = S.empty_states(2)
    S.set_cpmm(states, 0, reserve_base_raw=5e12, reserve_quote_raw=1e12)
    S.set_cpmm(states, 1, reserve_base_raw=4.9e12, reserve_quote_raw=1.02e12)
    pools, sides = np.array([0, 1]), np.array([Side.BUY, Side.SELL])
    size, profit = cycle_optimal_nb(states, pools, sides, EMPTY_I, EMPTY_F, math.inf)
    cf_size, cf_profit = cpmm_2pool_optimal_nb(1e12, 5e12, 25.0, 1e4, 4.9e12, 1.02e12, 25.0, 1e4)
    assert profit == pytest.approx(cf_profit, abs=2)
    assert size == pytest.approx(cf_size, rel=1e-3)  # the profit is flat at the top: sizes differ more than profits
