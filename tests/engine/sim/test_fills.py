"""Fills and costs on hand-made tapes, checked against the exact integer quoter and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.amm.exact import cpmm_exact_in
from engine.layout import PoolKind, Side
from engine.sim import Capacity, SimConfig, run
from engine.sim.records import FillStatus
from tests.engine.sim.scripted import SCRIPTED
from tests.engine.sim.tapes import JUNK, SOL, TOKEN, USDC, market, states

R_TOKEN, R_SOL = 5_000_000_000_000, 1_000_000_000_000  # reserves: 5e12 token units vs 1,000 SOL
CPMM = (PoolKind.CPMM, TOKEN, SOL, 25.0, 10_000.0)


def one_order(tape, mkt, cfg=None, **order):
    params = SCRIPTED.params([{"at_event": 0, **order}])
    return run(tape, SCRIPTED, params, market=mkt, cfg=cfg or SimConfig(init_cash=100e9))


def test_a_buy_fills_at_the_exact_quote_and_pays_each_cost_once() -> None:
    # Arrange: the pool state at slot 0; the order (latency 1 slot) lands at slot 1 on the same state
    tape = states([(0, 0, R_TOKEN, R_SOL), (1, 0, R_TOKEN, R_SOL), (2, 0, R_TOKEN, R_SOL)])
    cfg = SimConfig(init_cash=100e9, latency_slots_min=1, latency_slots_max=1, cu_overhead=10_000.0)
    # Act
    res = one_order(tape, market([CPMM]), cfg, side0=Side.BUY, amount_in_raw=1e9, cu_price=25_000.0, tip=50_000.0)
    # Assert
    (fill,) = res.fills.to_dicts()
    exact = cpmm_exact_in(1_000_000_000, R_SOL, R_TOKEN, 25, 10_000)
    assert fill["status"] == FillStatus.FILLED and fill["slot"] == 1_001
    assert abs(fill["amount_out_raw"] - exact.amount_out) <= 1e-12 * exact.amount_out
    cu_limit = 10_000 + 45_000  # overhead + one CPMM hop
    assert fill["fee_priority"] == math.ceil(cu_limit * 25_000 / 1e6) == 1_375
    assert fill["fee_base"] == 5_000 and fill["tip"] == 50_000
    s = res.summary.row(0, named=True)
    assert s["cash"] == 100e9 - 1e9 - 5_000 - 1_375 - 50_000
    # equity marks the tokens at the mid price of the pool after our (non-moving) trade
    r_token_after, r_sol_after = R_TOKEN, R_SOL
    assert s["final_equity"] == pytest.approx(s["cash"] + fill["amount_out_raw"] * r_sol_after / r_token_after,
                                              rel=1e-15)


def test_value_leaves_only_through_costs_and_trading_pnl() -> None:
    # Arrange: buy, then the price doubles, then sell everything through a second order
    tape = states([(0, 0, R_TOKEN, R_SOL), (2, 0, R_TOKEN, 2 * R_SOL), (4, 0, R_TOKEN, 2 * R_SOL),
                   (6, 0, R_TOKEN, 2 * R_SOL)])
    params = SCRIPTED.params([{"at_event": 0, "side0": Side.BUY, "amount_in_raw": 1e9, "cu_price": 1_000.0}])
    res = run(tape, SCRIPTED, params, market=market([CPMM]), cfg=SimConfig(init_cash=10e9))
    fill = res.fills.row(0, named=True)
    s = res.summary.row(0, named=True)
    # Assert: equity = initial cash - all costs + value of the tokens at the end mid (2x), exactly
    costs = s["fee_base"] + s["fee_priority"] + s["tip"]
    held_value = fill["amount_out_raw"] * (2 * R_SOL) / R_TOKEN
    assert s["final_equity"] == pytest.approx(10e9 - 1e9 - costs + held_value, rel=1e-15)
    assert s["realized_pnl"] == 0.0  # nothing turned back into cash yet


def test_an_order_below_min_out_pays_fees_and_nothing_else() -> None:
    tape = states([(0, 0, R_TOKEN, R_SOL), (1, 0, R_TOKEN, R_SOL)])
    res = one_order(tape, market([CPMM]), side0=Side.BUY, amount_in_raw=1e9, min_out_raw=6e9, cu_price=1e6,
                    tip=10_000.0)
    (fill,) = res.fills.to_dicts()
    s = res.summary.row(0, named=True)
    assert fill["status"] == FillStatus.BELOW_MIN_OUT and fill["tip"] == 0.0
    assert s["cash"] == 100e9 - 5_000 - 55_000  # base + priority (55,000 CU x 1e6 micro-lamports / 1e6)
    assert s["final_equity"] == s["cash"] and s["n_below_min_out"] == 1


def test_selling_a_honeypot_token_fails_pays_fees_and_keeps_the_tokens() -> None:
    # Arrange: buy the token at event 0, try to sell it all at event 4; the token cannot be sold
    tape = states([(s, 0, R_TOKEN, R_SOL) for s in range(0, 8)])
    params = SCRIPTED.params([{"at_event": 0, "side0": Side.BUY, "amount_in_raw": 1e9, "sell_at": 4}])
    normal = run(tape, SCRIPTED, params, market=market([CPMM]), cfg=SimConfig(init_cash=10e9))
    trapped = run(tape, SCRIPTED, params, market=market([CPMM], sell_blocked=(TOKEN,)), cfg=SimConfig(init_cash=10e9))
    # Assert
    assert normal.fills["status"].to_list() == [FillStatus.FILLED, FillStatus.FILLED]
    assert trapped.fills["status"].to_list() == [FillStatus.FILLED, FillStatus.HONEYPOT]
    s = trapped.summary.row(0, named=True)
    assert trapped.fills["amount_out_raw"][0] > 0  # the tokens are held...
    assert s["cash"] == 10e9 - 1e9 - 2 * 5_000  # both transactions paid their base fee
    assert s["final_equity"] == s["cash"]  # ...and worth nothing, since they cannot be sold
    assert normal.summary["realized_pnl"][0] < 0 and s["realized_pnl"] == 0.0


def test_a_three_hop_route_whose_second_hop_cannot_fill_fills_nothing() -> None:
    # Arrange: SOL -> TOKEN (pool 0), TOKEN -> USDC (pool 1, empty), USDC -> SOL (pool 2)
    pools = [CPMM, (PoolKind.CPMM, TOKEN, USDC, 25.0, 10_000.0), (PoolKind.CPMM, SOL, USDC, 25.0, 10_000.0)]
    tape = states([(0, 0, R_TOKEN, R_SOL), (0, 2, R_SOL, 150_000_000_000), (1, 0, R_TOKEN, R_SOL)])
    res = one_order(tape, market(pools), n_hops=3, pool0=0, side0=Side.BUY, pool1=1, side1=Side.SELL, pool2=2,
                    side2=Side.BUY, amount_in_raw=1e9)
    (fill,) = res.fills.to_dicts()
    s = res.summary.row(0, named=True)
    assert fill["status"] == FillStatus.NO_LIQUIDITY
    assert s["cash"] == 100e9 - 5_000 - 0  # no priority price set; nothing else moved
    assert s["final_equity"] == s["cash"]


def test_an_order_lands_against_the_state_at_landing_not_at_decision() -> None:
    # Arrange: a gap at slot 0 (token cheap: 2x the tokens per SOL), closed at slot 1
    tape = states([(0, 0, 2 * R_TOKEN, R_SOL), (1, 0, R_TOKEN, R_SOL), (2, 0, R_TOKEN, R_SOL), (3, 0, R_TOKEN, R_SOL)])
    late = SimConfig(init_cash=10e9, latency_slots_min=2, latency_slots_max=2)
    now = SimConfig(init_cash=10e9, latency_slots_min=0, latency_slots_max=0)
    # Act
    at_landing = one_order(tape, market([CPMM]), late, side0=Side.BUY, amount_in_raw=1e9).fills.row(0, named=True)
    at_once = one_order(tape, market([CPMM]), now, side0=Side.BUY, amount_in_raw=1e9).fills.row(0, named=True)
    # Assert: each got exactly what the pool held when it landed
    assert at_landing["slot"] == 1_002 and at_once["slot"] == 1_000
    assert at_landing["amount_out_raw"] == cpmm_exact_in(10**9, R_SOL, R_TOKEN, 25, 10_000).amount_out
    assert at_once["amount_out_raw"] == cpmm_exact_in(10**9, R_SOL, 2 * R_TOKEN, 25, 10_000).amount_out


def test_counterfactual_impact_makes_a_later_recorded_buyer_pay_more_by_the_exact_amount() -> None:
    # Arrange: we buy 10 SOL of token at slot 1; a recorded buyer spends 5 SOL at slot 3
    tape = states([(0, 0, R_TOKEN, R_SOL), (5, 0, R_TOKEN, R_SOL)], swaps=[(3, 0, Side.BUY, 5e9, 0.0)])
    cfg = SimConfig(init_cash=100e9, impact="counterfactual", latency_slots_min=1, latency_slots_max=1)
    res = one_order(tape, market([CPMM]), cfg, side0=Side.BUY, amount_in_raw=10e9)
    ours = res.fills.row(0, named=True)
    # Assert: the pool evolves by our swap, then by theirs re-applied on top (state rows ignored after)
    exact_ours = cpmm_exact_in(10 * 10**9, R_SOL, R_TOKEN, 25, 10_000).amount_out
    assert ours["amount_out_raw"] == exact_ours
    r_sol, r_tok = R_SOL + 10 * 10**9, R_TOKEN - exact_ours
    theirs = cpmm_exact_in(5 * 10**9, r_sol, r_tok, 25, 10_000).amount_out
    without_us = cpmm_exact_in(5 * 10**9, R_SOL, R_TOKEN, 25, 10_000).amount_out
    assert theirs < without_us
    final_mid = (r_sol + 5 * 10**9) / (r_tok - theirs)
    s = res.summary.row(0, named=True)
    assert s["final_equity"] == pytest.approx(s["cash"] + exact_ours * final_mid, rel=1e-12)


def test_a_full_fill_buffer_is_an_error_that_names_the_setting() -> None:
    tape = states([(s, 0, R_TOKEN, R_SOL) for s in range(10)])
    params = SCRIPTED.params([{"at_event": 0, "every": 1, "side0": Side.BUY, "amount_in_raw": 1e6}])
    with pytest.raises(Exception, match="max_fills"):
        run(tape, SCRIPTED, params, market=market([CPMM]), capacity=Capacity(max_fills=3))


def test_a_competitor_landing_first_fails_the_order_with_fees_paid() -> None:
    tape = states([(0, 0, R_TOKEN, R_SOL), (1, 0, R_TOKEN, R_SOL)])
    res = one_order(tape, market([CPMM]), SimConfig(init_cash=10e9, compete_prob=1.0), side0=Side.BUY,
                    amount_in_raw=1e9, tip=5_000.0)
    (fill,) = res.fills.to_dicts()
    assert fill["status"] == FillStatus.OUTBID and fill["tip"] == 0.0
    assert res.summary["cash"][0] == 10e9 - 5_000


@pytest.mark.parametrize("unused", [JUNK, USDC])
def test_buying_with_a_token_the_row_does_not_hold_is_no_funds(unused: int) -> None:
    pools = [(PoolKind.CPMM, SOL, unused, 25.0, 10_000.0)]
    tape = states([(0, 0, R_SOL, R_SOL), (1, 0, R_SOL, R_SOL)])
    res = one_order(tape, market(pools), side0=Side.BUY, amount_in_raw=1e6)
    assert res.fills["status"].to_list() == [FillStatus.NO_FUNDS]
    assert np.isclose(res.summary["final_equity"][0], 100e9 - 5_000)
