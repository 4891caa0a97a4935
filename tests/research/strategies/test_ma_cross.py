"""ma_cross on hand-made closes (vectorbt's rules by hand), and the fused sweep equal to the engine run."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sim import Capacity, Market, SimConfig, run
from research.strategies._bars import bar_tape
from research.strategies.ma_cross import STRATEGY, sweep

# fast = 1 (the close), slow = 2. Bar 2 crosses above (entry at 11); bar 3 has equal averages,
# which re-arms the machine, so bar 4 signals again (ignored: long); bar 5 crosses below (exit
# at 8); bar 6 crosses above (entry at 9) and the run ends long.
CLOSE = np.array([10.0, 9.0, 11.0, 11.0, 12.0, 8.0, 9.0])
FEES = 0.01


def _by_hand() -> float:
    units = 100.0 / (11.0 * (1 + FEES))
    cash = units * 8.0 * (1 - FEES)
    return cash / (9.0 * (1 + FEES)) * 9.0


def test_ma_cross_follows_vectorbt_rules_by_hand():
    params = STRATEGY.params([{"fast": 1, "slow": 2, "fees": FEES}])
    res = run(bar_tape(CLOSE), STRATEGY, params, market=Market.for_bars(1), cfg=SimConfig(init_cash=100.0))
    assert res.fills["slot"].to_list() == [2, 5, 6]
    assert res.summary["final_equity"][0] == pytest.approx(_by_hand(), rel=1e-14)


def test_ma_cross_fill_next_open_uses_the_next_bars_open():
    opens = CLOSE + 0.5
    params = STRATEGY.params([{"fast": 1, "slow": 2, "fill_next_open": 1}])
    res = run(bar_tape(CLOSE, open_=opens), STRATEGY, params, market=Market.for_bars(1),
              cfg=SimConfig(init_cash=100.0))
    assert res.fills["slot"].to_list() == [3, 6]  # the entry signalled at bar 6 never finds a next open
    assert res.summary["cash"][0] == pytest.approx(100.0 / opens[3] * opens[6])


def test_sweep_equals_the_engine_run_row_by_row():
    rng = np.random.default_rng([6, 1])
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 5_000)))
    close[1_000:1_003] = np.nan  # averages over a NaN are NaN, as vectorbt's
    fast, slow = np.repeat([2, 5, 9], 3), np.tile([10, 20, 50], 3)
    params = STRATEGY.params([{"fast": int(f), "slow": int(s), "fees": 0.001} for f, s in zip(fast, slow, strict=True)])
    res = run(bar_tape(close), STRATEGY, params, market=Market.for_bars(1),
              cfg=SimConfig(init_cash=100.0, mark_every_slots=1 << 40), capacity=Capacity(max_fills=0))
    table = sweep(close, fast, slow, fees=0.001)
    assert table["n_orders"].to_list() == res.summary["n_orders"].to_list()
    np.testing.assert_array_equal(table["final_equity"].to_numpy(), res.summary["final_equity"].to_numpy())


def test_sweep_refuses_fast_not_below_slow():
    with pytest.raises(ConfigError, match="fast < slow"):
        sweep(CLOSE, [3], [3])
