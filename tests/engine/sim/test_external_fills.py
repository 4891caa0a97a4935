"""External fills (live trading): orders wait for the venue's OWN_FILL report and are booked exactly as reported."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.feeds.synthetic import SyntheticConfig, generate_market
from engine.layout import N_VALS, EventKind, PoolKind, Side
from engine.schema import Tape
from engine.sim import Market, SimConfig, run
from engine.sim.api_nb import cancel_order_nb
from engine.sim.orders_nb import Ctx
from engine.sim.records import ACC_FEE_DEX, ACC_N_PENDING, FillStatus
from engine.sim.runner import ReportedFillError
from research.strategies import get
from tests.engine.sim.bar_script import BAR_SCRIPT
from tests.engine.sim.scripted import SCRIPTED
from tests.engine.sim.tapes import TOKEN, market, states

R_TOKEN, R_SOL = 5_000_000_000_000, 1_000_000_000_000
CPMM = (PoolKind.CPMM, TOKEN, 0, 25.0, 10_000.0)
EXTERNAL = SimConfig(init_cash=100e9, fills="external")


def own_fills(rows: list[tuple]) -> Tape:
    """rows: (slot, seq, pool, side, status, amount_in, amount_out, fee_lamports, order_id, tip_lamports)."""
    vals = np.zeros((len(rows), N_VALS))
    vals[:, :5] = [r[5:10] for r in rows]
    return Tape.from_columns(slot=[r[0] for r in rows], seq=[r[1] for r in rows],
                             ts_ns=[r[0] * 400_000_000 for r in rows], kind=np.full(len(rows), EventKind.OWN_FILL),
                             pool_id=[r[2] for r in rows], mint_id=np.full(len(rows), TOKEN),
                             side=[r[3] for r in rows], flags=[r[4] for r in rows], vals=vals)


def with_fills(tape: Tape, rows: list[tuple]) -> Tape:
    return Tape.concat([tape, own_fills(rows)])


def scripted(tape: Tape, cfg: SimConfig = EXTERNAL, **order):
    params = SCRIPTED.params([{"at_event": 0, "side0": Side.BUY, "amount_in_raw": 1e9, "cu_price": 25_000.0,
                               **order}])
    return run(tape, SCRIPTED, params, market=market([CPMM]), cfg=cfg)


STATES = states([(s, 0, R_TOKEN, R_SOL) for s in range(8)])  # slots 1,000 .. 1,007, one pool state each


def test_an_order_stays_pending_until_its_own_fill_and_is_booked_exactly_as_reported() -> None:
    # Arrange: the buy is decided at slot 1,000; the venue reports it at slot 1,004: less in than asked, a fee and a tip
    tape = with_fills(STATES, [(1_004, 1, 0, Side.BUY, FillStatus.FILLED, 0.99e9, 4.9e9, 9_000.0, 0, 1_000.0)])
    at = int(np.flatnonzero(tape.kind == EventKind.OWN_FILL)[0])
    # Act
    before = scripted(tape.slice(0, at))
    after = scripted(tape)
    # Assert: nothing landed by the model (latency 1 would have filled it at slot 1,001)
    assert before.fills.height == 0 and before.summary["n_pending"][0] == 1 and before.summary["cash"][0] == 100e9
    (fill,) = after.fills.to_dicts()
    priority = math.ceil((10_000 + 45_000) * 25_000 / 1e6)  # the order's own: CU limit x price
    assert (fill["order_id"], fill["slot"], fill["status"]) == (0, 1_004, FillStatus.FILLED)
    assert (fill["amount_in_raw"], fill["amount_out_raw"], fill["tip"]) == (0.99e9, 4.9e9, 1_000.0)
    assert (fill["fee_priority"], fill["fee_base"], fill["fee_dex"]) == (priority, 9_000.0 - priority, 0.0)
    assert (fill["asset_in"], fill["asset_out"]) == (0, TOKEN)
    s = after.summary.row(0, named=True)
    assert s["cash"] == 100e9 - 0.99e9 - 9_000 - 1_000 and s["n_filled"] == 1 and s["n_pending"] == 0
    assert s["final_equity"] == pytest.approx(s["cash"] + 4.9e9 * R_SOL / R_TOKEN, rel=1e-15)


def test_a_failed_order_pays_its_fee_and_leaves_the_position_as_it_was() -> None:
    # Arrange: the buy fills; the sell of everything (event 5) fails on chain with its slippage error
    tape = with_fills(STATES, [(1_002, 1, 0, Side.BUY, FillStatus.FILLED, 1e9, 4.9e9, 7_000.0, 0, 0.0),
                               (1_006, 1, 0, Side.SELL, FillStatus.BELOW_MIN_OUT, 0.0, 0.0, 6_000.0, 1, 0.0)])
    # Act
    res = scripted(tape, sell_at=5)
    # Assert
    buy, sell = res.fills.to_dicts()
    assert buy["status"] == FillStatus.FILLED and buy["amount_out_raw"] == 4.9e9
    assert sell["status"] == FillStatus.BELOW_MIN_OUT and sell["amount_in_raw"] == 4.9e9  # what it tried to sell
    assert sell["amount_out_raw"] == 0.0 and sell["fee_base"] + sell["fee_priority"] == 6_000.0
    s = res.summary.row(0, named=True)
    assert s["cash"] == 100e9 - 1e9 - 7_000 - 6_000 and s["n_below_min_out"] == 1 and s["realized_pnl"] == 0.0
    assert s["final_equity"] == pytest.approx(s["cash"] + 4.9e9 * R_SOL / R_TOKEN, rel=1e-15)  # still held


def test_an_order_the_venue_never_sent_is_cancelled_at_no_cost() -> None:
    tape = with_fills(STATES, [(1_003, 1, 0, Side.BUY, FillStatus.CANCELLED, 0.0, 0.0, 0.0, 0, 0.0)])
    res = scripted(tape)
    (fill,) = res.fills.to_dicts()
    s = res.summary.row(0, named=True)
    assert fill["status"] == FillStatus.CANCELLED and fill["fee_base"] + fill["fee_priority"] + fill["tip"] == 0.0
    assert (s["cash"], s["n_cancelled"], s["n_pending"], s["n_filled"]) == (100e9, 1, 0, 0)


@pytest.mark.parametrize("order_id", [0, 70])  # reported twice; never decided
def test_a_report_for_an_order_that_is_not_pending_is_an_error(order_id: int) -> None:
    # an order is decided at every event, so others are pending when the bad report comes
    tape = with_fills(STATES, [(1_002, 1, 0, Side.BUY, FillStatus.FILLED, 1e9, 4.9e9, 7_000.0, 0, 0.0),
                               (1_004, 1, 0, Side.BUY, FillStatus.FILLED, 1e9, 4.9e9, 7_000.0, order_id, 0.0)])
    with pytest.raises(ReportedFillError, match="not pending"):
        scripted(tape, every=1, amount_in_raw=1e8)


def test_the_fill_model_ignores_own_fill_rows() -> None:
    # an OWN_FILL row after the last decision: a model run books only its own fills, as without the row
    tape = with_fills(STATES, [(1_007, 1, 0, Side.BUY, FillStatus.FILLED, 1e9, 4.9e9, 7_000.0, 0, 0.0)])
    model = SimConfig(init_cash=100e9)
    with_row, without = scripted(tape, model), scripted(STATES, model)
    assert with_row.fills.equals(without.fills) and with_row.fills.height == 1
    assert with_row.summary.equals(without.summary)


def test_on_fill_runs_for_a_reported_fill() -> None:
    # Arrange: bar_script buys at bar 1 and sets exit levels in on_fill (priced from vals[i, 3] of the event it
    # is called on: here the OWN_FILL row, whose vals[3] is the order id 0, so both levels are 0.0)
    n = 3
    bars = Tape.from_columns(slot=np.arange(n), seq=np.zeros(n), ts_ns=np.arange(n) * 60 * 10**9,
                             kind=np.full(n, EventKind.BAR), pool_id=np.zeros(n),
                             vals=np.tile([10.0, 10.5, 9.5, 10.0, 1_000.0], (n, 1)))
    report = Tape.from_columns(slot=[2], seq=[1], ts_ns=[2 * 60 * 10**9], kind=[EventKind.OWN_FILL], pool_id=[0],
                               side=[Side.BUY], flags=[FillStatus.FILLED], vals=[[100.0, 9.5, 0.0, 0.0, 0.0]])
    params = BAR_SCRIPT.params([{"buy_at": 1, "stop_frac": 0.1, "take_frac": 0.1}])
    cfg = SimConfig(init_cash=100.0, fills="external")
    # Act
    waiting = run(bars, BAR_SCRIPT, params, market=Market.for_bars(1), cfg=cfg)
    settled = run(Tape.concat([bars, report]), BAR_SCRIPT, params, market=Market.for_bars(1), cfg=cfg)
    # Assert
    assert waiting.state.acc[0, ACC_N_PENDING] == 1.0 and not (waiting.state.holdings[0]["asset"] == 1).any()
    held = settled.state.holdings[0][settled.state.holdings[0]["asset"] == 1]  # the instrument's asset
    assert held["qty_raw"][0] == 9.5 and (held["stop_price"][0], held["take_price"][0]) == (0.0, 0.0)


def test_a_pending_order_cannot_be_cancelled_with_external_fills() -> None:
    tape = STATES.slice(0, 1)
    res = scripted(tape)  # one order pending
    for cfg, cancelled in ((EXTERNAL, False), (SimConfig(init_cash=100e9), True)):
        st_ = res.state.copy()
        ctx = Ctx(cfg.to_record(), None, None, st_.acc[0], st_.holdings[0], st_.pending[0], st_.fills[0],
                  st_.equity[0], st_.sf[0], st_.si[0], np.zeros((0, 0)), np.zeros((3, 1)), np.zeros(3, np.int64), 0)
        assert cancel_order_nb(ctx, 0) is cancelled
        assert st_.acc[0, ACC_N_PENDING] == (0.0 if cancelled else 1.0)


# ---------------------------------------------------------------------------------------------
# Oracle: a venue that reports exactly what the fill model did reproduces the model's ledger.

SNIPER = get("sniper")
SYN, MODEL_TAPE = generate_market(SyntheticConfig(seed=3, days=0.05, n_tokens=3))
SYN_MARKET = Market.from_registries(SYN.pools, SYN.tokens, n_markets=SYN.markets.height)
SNIPER_PARAMS = SNIPER.params([{}])
MODEL_CFG = SimConfig(seed=5, latency="uniform", latency_slots_min=1, latency_slots_max=3, compete_prob=0.2)
MODEL = run(MODEL_TAPE, SNIPER, SNIPER_PARAMS, market=SYN_MARKET, cfg=MODEL_CFG)


def reports_of(fills: pl.DataFrame, tape: Tape) -> Tape:
    """Each model fill as the OWN_FILL row a venue would send, just before the event it landed at."""
    rows = []
    for (slot,), group in fills.group_by(["slot"], maintain_order=True):
        for k, f in enumerate(group.iter_rows(named=True)):
            filled = f["status"] == FillStatus.FILLED
            rows.append((slot, k - group.height, f["pool0"], f["side0"], f["status"],
                         f["amount_in_raw"] if filled else 0.0, f["amount_out_raw"],
                         f["fee_base"] + f["fee_priority"], f["order_id"], f["tip"], f["ts_ns"]))
    vals = np.zeros((len(rows), N_VALS))
    vals[:, :5] = [r[5:10] for r in rows]
    report = Tape.from_columns(slot=[r[0] for r in rows], seq=[r[1] for r in rows], ts_ns=[r[10] for r in rows],
                               kind=np.full(len(rows), EventKind.OWN_FILL), pool_id=[r[2] for r in rows],
                               side=[r[3] for r in rows], flags=[r[4] for r in rows], vals=vals)
    return Tape.concat([tape, report])


LIVE_TAPE = reports_of(MODEL.fills, MODEL_TAPE)
LIVE = run(LIVE_TAPE, SNIPER, SNIPER_PARAMS, market=SYN_MARKET, cfg=SimConfig(**{**MODEL_CFG.to_dict(),
                                                                                    "fills": "external"}))


def test_reports_of_what_the_model_did_reproduce_the_model_ledger() -> None:
    # Assert: the sniper traded and failed for several reasons; every fill and the whole ledger agree
    assert MODEL.fills.height >= 10 and MODEL.fills["status"].n_unique() >= 2
    assert LIVE.fills.drop("fee_dex").equals(MODEL.fills.drop("fee_dex"))  # the DEX fee is inside venue amounts
    acc_live, acc_model = LIVE.state.acc.copy(), MODEL.state.acc.copy()
    acc_live[:, ACC_FEE_DEX] = acc_model[:, ACC_FEE_DEX] = 0.0
    assert acc_live.tobytes() == acc_model.tobytes()
    assert LIVE.state.holdings.tobytes() == MODEL.state.holdings.tobytes()
    assert LIVE.state.si.tobytes() == MODEL.state.si.tobytes()


@settings(max_examples=20)
@given(cuts=st.lists(st.integers(1, LIVE_TAPE.n_events - 1), max_size=5, unique=True))
def test_external_fills_in_chunks_are_bit_identical_to_one_run(cuts: list[int]) -> None:
    bounds, state = [0, *sorted(cuts), LIVE_TAPE.n_events], None
    cfg = SimConfig(**{**MODEL_CFG.to_dict(), "fills": "external"})
    for start, stop in itertools.pairwise(bounds):
        state = run(LIVE_TAPE, SNIPER, SNIPER_PARAMS, market=SYN_MARKET, cfg=cfg, start=start, stop=stop,
                    state=state).state
    assert state.equals(LIVE.state)


def test_fills_must_be_model_or_external() -> None:
    with pytest.raises(ValueError, match="'model' or 'external'"):
        SimConfig(fills="venue")
