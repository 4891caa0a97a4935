"""Breakout on hand-made bars: entries, exits and the equity computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.sim import Market, SimConfig, run
from research.strategies._bars import bar_tape
from research.strategies.breakout import STRATEGY

#                  0     1     2     3     4     5     6     7
HIGH = np.array([10.0, 11.0, 10.5, 12.0, 13.0, 12.5, 11.0, 10.0])
LOW = np.array([9.0, 10.0, 9.5, 10.5, 12.0, 11.0, 9.0, 8.0])
CLOSE = np.array([9.5, 10.5, 10.0, 11.5, 12.5, 11.5, 9.5, 9.0])


def test_breakout_enters_above_the_channel_and_exits_below_it():
    # Arrange: window 3 -> bar 3 closes 11.5 > max(10, 11, 10.5) = 11; exit_window 2 -> bar 6 closes
    # 9.5 < min(12, 11) = 11. Fees 1 %.
    tape = bar_tape(CLOSE, high=HIGH, low=LOW)
    params = STRATEGY.params([{"window": 3, "exit_window": 2, "fees": 0.01}])
    units = 100.0 / (11.5 * 1.01)
    cash = units * 9.5 * (1 - 0.01)
    # Act
    res = run(tape, STRATEGY, params, market=Market.for_bars(1), cfg=SimConfig(init_cash=100.0))
    # Assert
    assert res.fills["slot"].to_list() == [3, 6]
    assert res.summary["final_equity"][0] == pytest.approx(cash, rel=1e-12)


def test_breakout_stop_loss_exits_at_the_close():
    tape = bar_tape(CLOSE, high=HIGH, low=LOW)
    params = STRATEGY.params([{"window": 3, "exit_window": 5, "stop_loss": 0.05}])
    res = run(tape, STRATEGY, params, market=Market.for_bars(1), cfg=SimConfig(init_cash=100.0))
    # bar 5 closes 11.5 (not 5 % below 11.5); bar 6 closes 9.5 <= 10.925: the stop, tag 4
    assert res.fills["slot"].to_list() == [3, 6] and res.fills["tag"].to_list() == [1, 4]
