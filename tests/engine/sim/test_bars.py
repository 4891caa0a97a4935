"""Bar mode: fills at the close or the next open, percentage fees, and in-bar stop rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.layout import EventKind
from engine.schema import Tape
from engine.sim import Market, SimConfig, run
from engine.sim.loop_nb import TAG_STOP_LOSS, TAG_TAKE_PROFIT
from engine.sim.records import FillStatus
from tests.engine.sim.bar_script import BAR_SCRIPT

# open, high, low, close
BARS = [(10.0, 10.5, 9.5, 10.0), (10.2, 11.0, 10.0, 10.8), (10.8, 12.0, 10.6, 11.5), (11.4, 11.6, 11.0, 11.2),
        (11.0, 11.3, 10.1, 10.5), (10.4, 10.6, 9.0, 9.2)]


def bar_tape(bars: list[tuple[float, float, float, float]]) -> Tape:
    n = len(bars)
    vals = np.array([[o, h, lo, c, 1_000.0] for o, h, lo, c in bars])
    return Tape.from_columns(slot=np.arange(n), seq=np.zeros(n), ts_ns=np.arange(n) * 60 * 10**9,
                             kind=np.full(n, EventKind.BAR), pool_id=np.zeros(n), vals=vals)


def go(bars=BARS, **p):
    return run(bar_tape(bars), BAR_SCRIPT, BAR_SCRIPT.params([p]), market=Market.for_bars(1),
               cfg=SimConfig(init_cash=100.0))


def test_all_cash_buy_at_the_close_and_sell_at_a_later_close_with_fees_both_sides() -> None:
    res = go(buy_at=1, sell_at=3, fee=0.001)
    buy, sell = res.fills.to_dicts()
    units = 100.0 / (10.8 * 1.001)
    assert buy["amount_out_raw"] == pytest.approx(units, rel=1e-15)
    assert buy["fee_dex"] == pytest.approx(units * 10.8 * 0.001, rel=1e-12)
    assert sell["amount_out_raw"] == pytest.approx(units * 11.2 * (1 - 0.001), rel=1e-15)
    assert res.summary["final_equity"][0] == pytest.approx(units * 11.2 * 0.999, rel=1e-15)


def test_next_open_fills_at_the_following_bar_open() -> None:
    res = go(buy_at=1, sell_at=3, next_open=True)
    buy, sell = res.fills.to_dicts()
    assert (buy["slot"], sell["slot"]) == (2, 4)
    assert buy["amount_out_raw"] == pytest.approx(100.0 / 10.8, rel=1e-15)  # bar 2 opens at 10.8
    assert sell["amount_out_raw"] == pytest.approx(100.0 / 10.8 * 11.0, rel=1e-15)  # bar 4 opens at 11.0


def test_a_stop_loss_fills_at_its_level_inside_the_bar() -> None:
    # entry close 10.8 at bar 1; stop 5 % below = 10.26; bar 4 trades down to 10.1 from an open of 11.0
    res = go(buy_at=1, stop_frac=0.05, take_frac=0.50)
    _, stop = res.fills.to_dicts()
    assert stop["tag"] == TAG_STOP_LOSS and stop["slot"] == 4
    assert stop["amount_out_raw"] == pytest.approx(100.0 / 10.8 * 10.8 * 0.95, rel=1e-12)


def test_a_bar_that_opens_beyond_the_stop_fills_at_the_open() -> None:
    bars = [*BARS[:2], (9.0, 9.2, 8.8, 9.1)]  # gap down through the 10.26 stop
    res = go(bars, buy_at=1, stop_frac=0.05, take_frac=0.50)
    assert res.fills["amount_out_raw"][1] == pytest.approx(100.0 / 10.8 * 9.0, rel=1e-12)


def test_when_one_bar_touches_both_levels_the_stop_loss_fires_first() -> None:
    bars = [*BARS[:2], (10.8, 12.0, 10.0, 11.0)]  # touches take (11.34) and stop (10.26)
    res = go(bars, buy_at=1, stop_frac=0.05, take_frac=0.05)
    assert res.fills["tag"].to_list()[1] == TAG_STOP_LOSS


def test_a_take_profit_fills_at_its_level() -> None:
    res = go(buy_at=1, stop_frac=0.5, take_frac=0.05)
    take = res.fills.row(1, named=True)
    assert take["tag"] == TAG_TAKE_PROFIT and take["slot"] == 2
    assert take["amount_out_raw"] == pytest.approx(100.0 / 10.8 * 10.8 * 1.05, rel=1e-12)
    assert res.fills["status"].to_list() == [FillStatus.FILLED, FillStatus.FILLED]
    assert not math.isnan(res.summary["final_equity"][0])
