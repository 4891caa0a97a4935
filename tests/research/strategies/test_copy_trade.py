"""Copy-trade on crafted tapes: a mirrored round trip with a known PnL, sizes, outcome trades."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.amm.exact import cpmm_exact_in
from engine.layout import EventKind, PoolKind, Side
from engine.sim import Market, SimConfig, run
from engine.sim.records import FillStatus
from research.strategies.copy_trade import STRATEGY, position_size_nb
from tests.research.strategies.tapes import market, state, swap, tape

LEADER = 7
MKT = market([(PoolKind.CPMM, 1, 0, 25.0, 10_000.0)], n_mints=2)
CFG = SimConfig(init_cash=100e9, latency_slots_min=1, latency_slots_max=1)
FEE = 5_000.0 + math.ceil((10_000 + 45_000) * 1_000.0 / 1e6)  # base + priority, one hop


def _round_trip_tape():
    r0, r1, r2, r5 = (10**12, 10**12), (99 * 10**10, 101 * 10**10), (98 * 10**10, 102 * 10**10), (95 * 10**10,
                                                                                                105 * 10**10)
    t = tape([state(0, 0, *r0), swap(0, 0, LEADER, 1, Side.BUY, 1e10, 9.9e9), state(1, 0, *r1), state(2, 0, *r2),
              state(3, 0, *r2), swap(5, 0, LEADER, 1, Side.SELL, 9.9e9, 1e10), state(5, 0, *r5), state(6, 0, *r5),
              state(7, 0, *r5), state(8, 0, *r5)])
    return t, r2, r5


def test_copy_trade_round_trip_after_delay_has_the_hand_computed_pnl():
    # Arrange: the leader buys at slot 0 and sells at slot 5; we mirror 2 slots later, land 1 slot after that
    t, r2, r5 = _round_trip_tape()
    params = STRATEGY.params([{"leaders": [LEADER, -1, -1, -1, -1, -1, -1, -1], "delay_slots": 2,
                               "size_lamports": 1e9}])
    tokens = cpmm_exact_in(10**9, r2[1], r2[0], 25, 10_000).amount_out  # buy at slot 2's state, lands at 3
    back = cpmm_exact_in(tokens, r5[0], r5[1], 25, 10_000).amount_out  # sell: due at 7, lands at 8
    # Act
    res = run(t, STRATEGY, params, market=MKT, cfg=CFG)
    # Assert
    fills = res.fills
    assert fills["status"].to_list() == [FillStatus.FILLED, FillStatus.FILLED]
    assert fills["slot"].to_list() == [1_003, 1_008] and fills["decided_slot"].to_list() == [1_002, 1_007]
    assert fills["amount_out_raw"][0] == pytest.approx(tokens, abs=2.0)
    assert fills["amount_out_raw"][1] == pytest.approx(back, abs=2.0)
    assert res.summary["realized_pnl"][0] == pytest.approx(back - 10**9, abs=2.0)
    assert res.summary["cash"][0] == pytest.approx(100e9 + back - 10**9 - 2 * FEE, abs=2.0)


def test_risk_based_size_is_risk_over_price_risk_capped():
    # Arrange: 100 SOL cash, 1 % at risk
    p = STRATEGY.params([{"size_mode": 2, "risk_frac": 0.01, "stop_loss": 0.05, "max_position_lamports": 15e9},
                         {"size_mode": 2, "risk_frac": 0.01, "stop_loss": 0.05, "max_position_lamports": 50e9},
                         {"size_mode": 2, "risk_frac": 0.01, "stop_loss": 0.0002, "max_position_lamports": 2e12}])
    # Act / Assert: units = 1e9 / max(price * sl, price * 0.001), spent = units * price
    assert position_size_nb(p[0], 100e9, 2.0, 0.0) == 15e9  # 20 SOL capped at 15
    assert position_size_nb(p[1], 100e9, 2.0, 0.0) == pytest.approx(20e9, rel=1e-12)
    assert position_size_nb(p[2], 100e9, 2.0, 0.0) == pytest.approx(1e12, rel=1e-12)  # floor of 0.1 % price risk


def test_risk_based_size_reaches_the_order():
    t, _, _ = _round_trip_tape()
    params = STRATEGY.params([{"leaders": [LEADER, -1, -1, -1, -1, -1, -1, -1], "size_mode": 2, "risk_frac": 0.01,
                               "stop_loss": 0.25, "max_position_lamports": 1e12, "max_slippage_bps": 1e4}])
    res = run(t, STRATEGY, params, market=MKT, cfg=CFG)
    assert res.fills["amount_in_raw"][0] == pytest.approx(100e9 * 0.01 / 0.25, rel=1e-12)


def test_high_expected_slippage_skips_the_mirror():
    t, _, _ = _round_trip_tape()
    params = STRATEGY.params([{"leaders": [LEADER, -1, -1, -1, -1, -1, -1, -1], "size_lamports": 50e9,
                               "max_position_lamports": 50e9, "max_slippage_bps": 100.0}])
    res = run(t, STRATEGY, params, market=MKT, cfg=CFG)
    assert res.summary["n_orders"][0] == 0  # 50 SOL into a 1,000 SOL pool moves it ~5 %


def test_stop_loss_exits_before_the_leader():
    r0, down = (10**12, 10**12), (12 * 10**11, 8 * 10**11)
    t = tape([state(0, 0, *r0), swap(0, 0, LEADER, 1, Side.BUY, 1e10, 9.9e9), state(1, 0, *r0), state(2, 0, *down),
              state(3, 0, *down)])
    params = STRATEGY.params([{"leaders": [LEADER, -1, -1, -1, -1, -1, -1, -1], "stop_loss": 0.1}])
    res = run(t, STRATEGY, params, market=MKT, cfg=CFG)
    assert res.fills["tag"].to_list() == [1, 4]  # buy, stop-loss


def test_outcome_leader_buy_is_mirrored_and_resolution_pays_one():
    # Arrange: market 0, the leader buys outcome 1 at 0.4; it resolves to 1
    mkt = market([], n_mints=1, n_markets=1)
    t = tape([(0, EventKind.OUTCOME_TRADE, 0, LEADER, 1, Side.BUY, 0, (100.0, 0.4)),
              (1, EventKind.OUTCOME_TRADE, 0, 3, 1, Side.BUY, 0, (5.0, 0.5)),
              (2, EventKind.RESOLUTION, 0, -1, -1, -1, 0, (1.0,))])
    params = STRATEGY.params([{"leaders": [LEADER, -1, -1, -1, -1, -1, -1, -1], "size_mode": 1, "size_ratio": 0.5,
                               "delay_slots": 1, "max_position_lamports": 1e9, "max_token_exposure_lamports": 1e9}])
    # Act: mirrored at slot 1 at that trade's price 0.5, with half the leader's 40 cash
    res = run(t, STRATEGY, params, market=mkt, cfg=SimConfig(init_cash=100.0))
    # Assert: 20 cash buys 40 shares that pay 1 each
    assert res.fills["amount_in_raw"][0] == pytest.approx(20.0)
    assert res.fills["amount_out_raw"][0] == pytest.approx(40.0)
    assert res.summary["final_equity"][0] == pytest.approx(120.0)


def test_smoke_edge_leaders_beat_no_edge_leaders_on_average():
    from engine.feeds.synthetic import SyntheticConfig, generate_market

    diffs = []
    for seed in (1, 2, 3):
        syn, t = generate_market(SyntheticConfig(seed=seed, days=0.1, n_tokens=3, launches_per_day=0.0,
                                                 n_prediction_markets=0, leader_trades_per_hour=20.0))
        mkt = Market.from_registries(syn.pools, syn.tokens)
        lead = syn.truth.leaders
        edge = lead.filter(lead["edge"])["wallet_id"].to_list()[:8]
        noedge = lead.filter(~lead["edge"])["wallet_id"].to_list()[:8]
        rows = [{"leaders": (ids + [-1] * 8)[:8], "take_profit": 0.02, "stop_loss": 0.02, "max_hold_slots": 1_500,
                 "size_lamports": 1e9} for ids in (edge, noedge)]
        res = run(t, STRATEGY, STRATEGY.params(rows), market=mkt, cfg=SimConfig(init_cash=100e9))
        r = res.summary["final_equity"].to_numpy()
        assert res.summary["n_orders"].min() > 0
        diffs.append(r[0] - r[1])
    assert np.mean(diffs) > 0.0
