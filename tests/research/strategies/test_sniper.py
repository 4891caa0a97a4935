"""Sniper on crafted tapes: filters, a honeypot caught and one missed, a rug exit."""

from __future__ import annotations

import math

import pytest

from engine.amm.exact import cpmm_exact_in
from engine.layout import RISK_FREEZE_AUTHORITY, EventKind, PoolKind, Side
from engine.sim import Market, SimConfig, run
from engine.sim.records import FillStatus
from research.strategies.sniper import STRATEGY
from tests.research.strategies.tapes import market, state, swap, tape

INIT = 100e9
BUY = 0.5e9
FEE = 5_000.0 + math.ceil((10_000 + 45_000) * 100_000.0 / 1e6)  # base + priority of one CPMM hop
CFG = SimConfig(init_cash=INIT, latency_slots_min=1, latency_slots_max=1)
# tokens: 1 honeypot with freeze authority, 2 honeypot with clean-looking facts, 3 a rug
MKT = market([(PoolKind.CPMM, a, 0, 25.0, 10_000.0) for a in (1, 2, 3)], n_mints=4, sell_blocked=(1, 2))
R = (10**15, 20 * 10**9)  # 1e15 token units against 20 SOL


def new_pool(dt: int, pool: int, mint: int, flags: int = 0, lp_burned: float = 1.0, top: float = 0.1) -> tuple:
    return (dt, EventKind.NEW_POOL, pool, 5, mint, PoolKind.CPMM, flags, (*R, lp_burned, top, 0.0))


def test_filters_reject_the_honeypot_with_freeze_authority():
    t = tape([new_pool(0, 0, 1, flags=RISK_FREEZE_AUTHORITY), state(1, 0, *R)])
    res = run(t, STRATEGY, STRATEGY.params([{}]), market=MKT, cfg=CFG)
    assert res.summary["n_orders"][0] == 0
    res_off = run(t, STRATEGY, STRATEGY.params([{"require_no_freeze": 0}]), market=MKT, cfg=CFG)
    assert res_off.summary["n_orders"][0] == 1  # the filter, not something else, kept it out


def test_other_filters_reject_thin_or_concentrated_pools():
    t = tape([new_pool(0, 0, 1, lp_burned=0.2, top=0.5), state(1, 0, *R)])
    assert run(t, STRATEGY, STRATEGY.params([{"min_lp_burned": 0.5}]), market=MKT, cfg=CFG).summary["n_orders"][0] == 0
    assert run(t, STRATEGY, STRATEGY.params([{"max_top_holder": 0.3}]), market=MKT, cfg=CFG).summary["n_orders"][0] == 0
    assert run(t, STRATEGY, STRATEGY.params([{"min_liquidity_lamports": 30e9}]), market=MKT,
               cfg=CFG).summary["n_orders"][0] == 0


def test_missed_honeypot_loses_the_buy_and_the_fees():
    # Arrange: clean-looking facts; the price halves, the stop-loss sell fails on chain
    down = (R[0] * 2, R[1] // 2)
    t = tape([new_pool(0, 1, 2), state(1, 1, *R), state(2, 1, *down), state(3, 1, *down)])
    tokens = cpmm_exact_in(int(BUY), R[1], R[0], 25, 10_000).amount_out
    # Act
    res = run(t, STRATEGY, STRATEGY.params([{"stop_loss": 0.3}]), market=MKT, cfg=CFG)
    # Assert: bought, the exit failed as a honeypot, cash is down by the buy and two fees
    assert res.fills["status"].to_list() == [FillStatus.FILLED, FillStatus.HONEYPOT]
    assert res.fills["amount_out_raw"][0] == pytest.approx(tokens, abs=2.0)
    assert res.summary["cash"][0] == INIT - BUY - 2 * FEE
    assert res.summary["n_honeypot"][0] == 1
    # the tokens it is stuck with are worth nothing: equity is the cash left
    assert res.summary["final_equity"][0] == res.summary["cash"][0]


def test_rug_pull_triggers_the_emergency_exit_into_what_is_left():
    # Arrange: the creator pulls 90 % of both reserves at slot 2
    t = tape([new_pool(0, 2, 3), state(1, 2, *R), (2, EventKind.LIQUIDITY, 2, 5, 3, -1, 0, (-0.9e15, -18e9)),
              swap(3, 2, 9, 3, Side.BUY, 1.0, 1.0)])
    tokens = cpmm_exact_in(int(BUY), R[1], R[0], 25, 10_000).amount_out
    left = (R[0] - 9 * 10**14, R[1] - 18 * 10**9)
    back = cpmm_exact_in(tokens, left[0], left[1], 25, 10_000).amount_out
    # Act
    res = run(t, STRATEGY, STRATEGY.params([{}]), market=MKT, cfg=CFG)
    # Assert
    f = res.fills
    assert f["tag"].to_list() == [1, 7] and f["status"].to_list() == [FillStatus.FILLED, FillStatus.FILLED]
    assert f["amount_out_raw"][1] == pytest.approx(back, abs=2.0)
    assert res.summary["cash"][0] == pytest.approx(INIT - BUY + back - 2 * FEE, abs=2.0)


def test_smoke_filters_reject_most_honeypots_on_a_synthetic_market():
    from engine.feeds.synthetic import SyntheticConfig, generate_market

    syn, t = generate_market(SyntheticConfig(seed=5, days=0.5, n_tokens=2, launches_per_day=96.0))
    mkt = Market.from_registries(syn.pools, syn.tokens, n_markets=syn.markets.height)
    truth = syn.truth.tokens
    honey = set(truth.filter(truth["honeypot"])["token_id"].to_list())
    assert len(honey) >= 3
    rows = [{"min_liquidity_lamports": 0.0}, {"min_liquidity_lamports": 0.0, "require_no_freeze": 0,
                                              "require_mint_revoked": 0, "max_transfer_fee_bps": 1e4}]
    res = run(t, STRATEGY, STRATEGY.params(rows), market=mkt, cfg=SimConfig(init_cash=100e9))
    buys = res.fills.filter(res.fills["tag"] == 1)
    bought = {r: {int(mkt.pool_base[p]) for p in buys.filter(buys["row"] == r)["pool0"].to_list()} for r in (0, 1)}
    assert len(bought[1] & honey) > 0  # with the filters off it buys honeypots
    assert len(bought[0] & honey) <= len(honey) // 2  # with them on it rejects most
