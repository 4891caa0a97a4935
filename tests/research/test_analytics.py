"""Statistics of `research.analytics` against hand computation on small frames."""

from __future__ import annotations

import math
import statistics

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from research.analytics import (
    bucket_equity,
    capture_rate,
    choose_every,
    cost_stats,
    drawdown_stats,
    every_ns,
    fill_stats,
    infer_cash_asset,
    returns_stats,
    run_stats,
    sweep_stats,
    trade_stats,
)

H = 3_600 * 10**9  # one hour in ns
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, on an hour boundary


def curve(values: list[float], *, row: int = 0, step_ns: int = H, t0: int = T0, slot0: int = 10,
          slot_step: int = 10) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({"row": pl.Series([row] * n, dtype=pl.Int32),
                         "slot": pl.Series([slot0 + i * slot_step for i in range(n)], dtype=pl.Int64),
                         "ts_ns": pl.Series([t0 + i * step_ns for i in range(n)], dtype=pl.Int64),
                         "equity": pl.Series(values, dtype=pl.Float64)})


def one(frame: pl.DataFrame, row: int = 0) -> dict:
    return frame.filter(pl.col("row") == row).row(0, named=True)


FILL_DEFAULTS = {"order_id": 0, "ts_ns": 0, "n_hops": 1, "hop_kind": 0, "pool0": 1, "pool1": -1, "pool2": -1,
                 "side0": 0, "side1": -1, "side2": -1, "min_out_raw": 0.0, "fee_dex": 0.0, "fee_base": 0.0,
                 "fee_priority": 0.0, "tip": 0.0, "realized_pnl": 0.0, "expected_profit": 0.0, "tag": 0}
FILL_SCHEMA = {"row": pl.Int32, "order_id": pl.Int64, "slot": pl.Int64, "ts_ns": pl.Int64, "decided_slot": pl.Int64,
               "n_hops": pl.Int8, "hop_kind": pl.Int8, "status": pl.Int8, "pool0": pl.Int32, "pool1": pl.Int32,
               "pool2": pl.Int32, "side0": pl.Int8, "side1": pl.Int8, "side2": pl.Int8, "asset_in": pl.Int32,
               "asset_out": pl.Int32, "amount_in_raw": pl.Float64, "amount_out_raw": pl.Float64,
               "min_out_raw": pl.Float64, "fee_dex": pl.Float64, "fee_base": pl.Float64, "fee_priority": pl.Float64,
               "tip": pl.Float64, "realized_pnl": pl.Float64, "expected_profit": pl.Float64, "tag": pl.Int64}


def fills_frame(records: list[dict]) -> pl.DataFrame:
    rows = [{**FILL_DEFAULTS, "order_id": i + 1, "ts_ns": T0 + r["slot"] * 400_000_000, **r}
            for i, r in enumerate(records)]
    return pl.DataFrame(rows, schema=FILL_SCHEMA) if rows else pl.DataFrame(schema=FILL_SCHEMA)


# Row 0 (cash asset 0): buy token 1, sell it at a gain of 30; an outbid attempt; buy token 2, sell at a loss
# of 20. Row 1: only a cancelled order.
FILLS = fills_frame([
    {"row": 0, "slot": 10, "decided_slot": 9, "status": 0, "asset_in": 0, "asset_out": 1, "amount_in_raw": 100.0,
     "amount_out_raw": 50.0, "fee_dex": 1.0, "fee_base": 5.0, "fee_priority": 2.0},
    {"row": 0, "slot": 15, "decided_slot": 13, "status": 0, "asset_in": 1, "asset_out": 0, "amount_in_raw": 50.0,
     "amount_out_raw": 130.0, "fee_dex": 1.0, "fee_base": 5.0, "fee_priority": 2.0, "tip": 10.0,
     "realized_pnl": 30.0},
    {"row": 0, "slot": 20, "decided_slot": 19, "status": 2, "asset_in": 0, "asset_out": 2, "amount_in_raw": 10.0,
     "fee_base": 5.0, "fee_priority": 2.0},
    {"row": 0, "slot": 30, "decided_slot": 29, "status": 0, "asset_in": 0, "asset_out": 2, "amount_in_raw": 100.0,
     "amount_out_raw": 20.0, "fee_dex": 1.0, "fee_base": 5.0, "fee_priority": 2.0},
    {"row": 0, "slot": 40, "decided_slot": 36, "status": 0, "asset_in": 2, "asset_out": 0, "amount_in_raw": 20.0,
     "amount_out_raw": 80.0, "fee_dex": 1.0, "fee_base": 5.0, "fee_priority": 2.0, "realized_pnl": -20.0},
    {"row": 1, "slot": 12, "decided_slot": 11, "status": 6, "asset_in": 0, "asset_out": 1, "amount_in_raw": 5.0},
])


# --- bucketing ---------------------------------------------------------------------------------------------------

def test_every_ns_parses_units_and_combinations() -> None:
    assert every_ns("1h") == H
    assert every_ns("15m") == 15 * 60 * 10**9
    assert every_ns("1h30m") == H + 30 * 60 * 10**9
    assert every_ns("250ms") == 250 * 10**6


@pytest.mark.parametrize("bad", ["", "h", "1x", "0h", "1 h", "-1h"])
def test_every_ns_with_bad_text_raises_with_hint(bad: str) -> None:
    with pytest.raises(ValueError, match="Hint"):
        every_ns(bad)


def test_bucket_equity_keeps_last_sample_and_forward_fills_gaps() -> None:
    # Arrange: two samples in hour 0, none in hour 1, one in hour 2
    eq = pl.DataFrame({"row": pl.Series([0, 0, 0], dtype=pl.Int32), "slot": [1, 2, 9],
                       "ts_ns": [T0 + 60 * 10**9, T0 + 1_800 * 10**9, T0 + 2 * H + 5],
                       "equity": [100.0, 101.0, 104.0]})
    # Act
    b = bucket_equity(eq, "1h")
    # Assert
    assert b["ts_ns"].to_list() == [T0, T0 + H, T0 + 2 * H]
    assert b["equity"].to_list() == [101.0, 101.0, 104.0]
    assert b["slot"].to_list() == [2, 2, 9]


def test_bucket_equity_of_empty_frame_is_empty_with_columns() -> None:
    b = bucket_equity(curve([]).head(0))
    assert b.is_empty()
    assert b.columns == ["row", "ts_ns", "slot", "equity"]


def test_choose_every_gives_at_least_48_buckets_when_possible() -> None:
    assert choose_every(curve([1.0] * 3, step_ns=24 * H)) == "1h"  # 2 days: 48 hours
    assert choose_every(curve([1.0] * 2, step_ns=100 * 86_400 * 10**9)) == "1d"


# --- returns ---------------------------------------------------------------------------------------------------

FIVE = [100.0, 110.0, 99.0, 121.0, 110.0]
FIVE_RETURNS = [10 / 100, -11 / 110, 22 / 99, -11 / 121]  # hand: +10 %, -10 %, +22.2 %, -9.09 %


def test_returns_stats_of_five_point_curve_match_hand_computation() -> None:
    # Arrange
    mean = (0.1 - 0.1 + 2 / 9 - 1 / 11) / 4  # = 13/396
    assert mean == pytest.approx(statistics.mean(FIVE_RETURNS))
    std = statistics.stdev(FIVE_RETURNS)  # sample std, ddof=1
    downside = math.sqrt(((-0.1) ** 2 + (-1 / 11) ** 2) / 4)  # min(r, 0)^2 averaged over all four periods
    # Act: 4 periods a "year", so annualising a 4-period run changes nothing
    s = one(returns_stats(curve(FIVE), "1h", periods_per_year=4))
    # Assert
    assert s["n_periods"] == 4
    assert s["total_return"] == pytest.approx(0.1)
    assert s["annualized_return"] == pytest.approx(0.1)
    assert s["volatility"] == pytest.approx(std * 2)
    assert s["sharpe"] == pytest.approx(13 / 396 / std * 2)
    assert s["sortino"] == pytest.approx(13 / 396 / downside * 2)
    assert s["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert s["max_drawdown_duration_ns"] == 2 * H  # peak 110 at 1h, recovered (121) at 3h
    assert s["max_drawdown_duration_slots"] == 20
    assert s["max_drawdown_recovered"] is True


def test_returns_stats_annualises_by_compounding_and_default_bucket_year() -> None:
    assert one(returns_stats(curve(FIVE), "1h", periods_per_year=8))["annualized_return"] == pytest.approx(
        1.1**2 - 1)
    default = one(returns_stats(curve(FIVE), "1h"))
    assert default["sharpe"] == pytest.approx(13 / 396 / statistics.stdev(FIVE_RETURNS) * math.sqrt(8_760))
    assert math.isnan(default["annualized_return"])  # 4 hours is under MIN_ANNUALIZE_DAYS: no annual figure
    long = one(returns_stats(curve(FIVE), "1h", periods_per_year=4 * 365 / 8))  # the same 4 periods as 8 days
    assert long["annualized_return"] == pytest.approx(1.1 ** (365 / 8) - 1, rel=1e-9)


def test_returns_stats_with_init_cash_starts_from_it() -> None:
    s = one(returns_stats(curve(FIVE), "1h", periods_per_year=5, init_cash=50.0))
    assert s["n_periods"] == 5  # 50 -> 100 is the first return
    assert s["total_return"] == pytest.approx(110 / 50 - 1)
    assert s["annualized_return"] == pytest.approx(110 / 50 - 1)


def test_unrecovered_drawdown_lasts_to_the_last_sample() -> None:
    d = one(drawdown_stats(curve([100.0, 90.0, 95.0, 80.0])))
    assert d["max_drawdown"] == pytest.approx(0.2)
    assert d["max_drawdown_duration_ns"] == 3 * H
    assert d["max_drawdown_duration_slots"] == 30
    assert d["max_drawdown_recovered"] is False


def test_constant_equity_has_nan_sharpe_and_sortino_and_no_drawdown() -> None:
    s = one(returns_stats(curve([5.0] * 4), "1h", periods_per_year=3))
    assert s["total_return"] == 0.0
    assert s["annualized_return"] == 0.0
    assert s["volatility"] == 0.0
    assert math.isnan(s["sharpe"])
    assert math.isnan(s["sortino"])
    assert s["max_drawdown"] == 0.0
    assert s["max_drawdown_duration_ns"] == 0


def test_single_bucket_has_no_returns_and_nan_ratios() -> None:
    s = one(returns_stats(curve([100.0, 90.0, 120.0], step_ns=60 * 10**9), "1h"))
    assert s["n_periods"] == 0
    assert s["total_return"] == 0.0  # one bucket: first and last bucket are the same
    assert math.isnan(s["annualized_return"])
    assert math.isnan(s["sharpe"])
    assert math.isnan(s["sortino"])
    assert s["max_drawdown"] == pytest.approx(0.1)  # drawdown uses the samples, not the buckets


def test_ratio_with_zero_deviation_and_positive_mean_is_infinite() -> None:
    s = one(returns_stats(curve([100.0, 110.0, 132.0]), "1h"))  # +10 %, +20 %: no downside
    assert math.isfinite(s["sharpe"])
    assert s["sortino"] == math.inf
    assert one(returns_stats(curve([100.0, 110.0, 121.0]), "1h"))["sharpe"] == math.inf  # +10 % twice


def test_rows_are_computed_independently() -> None:
    both = returns_stats(pl.concat([curve(FIVE, row=0), curve([100.0, 90.0, 95.0, 80.0], row=3)]), "1h",
                         periods_per_year=4)
    assert both["row"].to_list() == [0, 3]
    assert one(both, 0) == one(returns_stats(curve(FIVE), "1h", periods_per_year=4))
    assert one(both, 3) == one(returns_stats(curve([100.0, 90.0, 95.0, 80.0], row=3), "1h", periods_per_year=4), 3)


def brute_drawdown(values: list[float]) -> tuple[float, int]:
    """Oracle: deepest fall from any earlier sample, and the longest peak-to-recovery in samples."""
    depth = max((1 - values[j] / values[i] for i in range(len(values)) for j in range(i, len(values))), default=0.0)
    longest = 0
    for i, v in enumerate(values):
        if v < max(values[: i + 1]) or i + 1 >= len(values) or values[i + 1] >= v:
            continue  # not a peak followed by a fall
        j = next((k for k in range(i + 1, len(values)) if values[k] >= v), len(values) - 1)
        longest = max(longest, j - i)
    return max(depth, 0.0), longest


@given(st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_returns_stats_agree_with_brute_force_oracles(ints: list[int]) -> None:
    values = [float(v) for v in ints]
    s = one(returns_stats(curve(values), "1h", periods_per_year=1))
    depth, longest = brute_drawdown(values)
    assert s["max_drawdown"] == pytest.approx(depth, abs=1e-12)
    assert s["max_drawdown_duration_ns"] == longest * H
    assert s["max_drawdown_duration_slots"] == longest * 10
    r = np.array(values[1:]) / np.array(values[:-1]) - 1
    assert s["n_periods"] == r.size
    if r.size >= 2 and np.std(r) > 1e-12:
        assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1))


# --- trades, costs, fills ------------------------------------------------------------------------------------------

def test_trade_stats_on_hand_made_fills() -> None:
    t = trade_stats(FILLS, rows=[0, 1, 2], span_slots=(0, 100))
    r0 = one(t, 0)
    assert (r0["trades"], r0["wins"], r0["losses"]) == (2, 1, 1)  # the outbid order is no trade
    assert r0["win_rate"] == 0.5
    assert r0["profit_factor"] == pytest.approx(30 / 20)
    assert r0["avg_win"] == 30.0
    assert r0["avg_loss"] == -20.0
    assert r0["expectancy"] == 5.0
    assert r0["slots_in_market"] == (15 - 10) + (40 - 30)
    assert r0["exposure"] == pytest.approx(15 / 100)
    for row in (1, 2):  # only a cancelled order; no fills at all
        r = one(t, row)
        assert r["trades"] == 0
        assert math.isnan(r["win_rate"])
        assert math.isnan(r["profit_factor"])
        assert r["exposure"] == 0.0


def test_trade_stats_default_span_is_the_rows_fills() -> None:
    assert one(trade_stats(FILLS))["exposure"] == pytest.approx(15 / (40 - 10))


def test_profit_factor_is_inf_without_losses_and_nan_without_trades() -> None:
    wins_only = FILLS.filter(pl.col("realized_pnl") >= 0)
    assert one(trade_stats(wins_only, cash_asset=0))["profit_factor"] == math.inf
    assert math.isnan(one(trade_stats(FILLS.filter(pl.col("row") == 1), cash_asset=0), 1)["profit_factor"])


def test_position_left_open_counts_in_market_to_the_end_of_the_span() -> None:
    opened = FILLS.filter(pl.col("slot") <= 30)  # token 2 bought at slot 30 and never sold
    assert one(trade_stats(opened, span_slots=(0, 100)))["slots_in_market"] == 5 + (100 - 30)


def test_infer_cash_asset_reads_what_realising_fills_pay_out() -> None:
    assert infer_cash_asset(FILLS) == 0
    renamed = FILLS.with_columns(pl.col("asset_in").replace(0, 7), pl.col("asset_out").replace(0, 7))
    assert infer_cash_asset(renamed) == 7
    assert infer_cash_asset(FILLS.head(0)) == 0


def test_cost_stats_from_fills_match_hand_sums_and_summary() -> None:
    c = one(cost_stats(FILLS))
    assert (c["fee_dex"], c["fee_base"], c["fee_priority"], c["tip"]) == (4.0, 25.0, 10.0, 10.0)
    assert c["total_costs"] == 49.0
    assert c["net_pnl"] == 10.0 - 25.0 - 10.0 - 10.0  # realised PnL is already net of the DEX fee
    assert c["gross_pnl"] == -35.0 + 49.0
    assert c["cost_share"] == pytest.approx(49 / 14)
    assert c["tip_share"] == pytest.approx(10 / 14)
    summary_like = pl.DataFrame({"row": [0], "fee_dex": [4.0], "fee_base": [25.0], "fee_priority": [10.0],
                                 "tip": [10.0], "realized_pnl": [10.0]})
    assert one(cost_stats(summary_like)) == c


def test_cost_share_is_nan_when_gross_pnl_is_not_positive() -> None:
    losing = FILLS.with_columns(pl.col("realized_pnl") - 100.0)
    assert math.isnan(one(cost_stats(losing))["cost_share"])
    assert one(cost_stats(FILLS, rows=[0, 5]), 5)["total_costs"] == 0.0


def test_fill_stats_counts_statuses_and_rates_per_landed_order() -> None:
    f = fill_stats(FILLS, rows=[0, 1, 2])
    r0 = one(f, 0)
    assert (r0["n_orders"], r0["n_landed"], r0["n_filled"], r0["n_outbid"]) == (5, 5, 4, 1)
    assert r0["fill_rate"] == pytest.approx(4 / 5)
    assert r0["fail_rate_outbid"] == pytest.approx(1 / 5)
    assert r0["fail_rate_no_funds"] == 0.0
    assert r0["latency_slots_mean"] == pytest.approx((1 + 2 + 1 + 1 + 4) / 5)
    r1 = one(f, 1)
    assert (r1["n_orders"], r1["n_cancelled"], r1["n_landed"]) == (1, 1, 0)
    assert math.isnan(r1["fill_rate"])
    assert one(f, 2)["n_orders"] == 0


def test_capture_rate_is_a_ratio_with_nan_for_no_opportunity() -> None:
    assert capture_rate(3.0, 4.0) == 0.75
    assert math.isnan(capture_rate(3.0, 0.0))
    np.testing.assert_array_equal(capture_rate(np.array([1.0, 2.0]), np.array([-1.0, 8.0])), [np.nan, 0.25])
    s = capture_rate(pl.Series([1.0, 2.0]), pl.Series([2.0, 0.0]))
    assert isinstance(s, pl.Series)
    assert s[0] == 0.5
    assert math.isnan(s[1])


# --- run and sweep ----------------------------------------------------------------------------------------------

def summary_frame(n_rows: int = 2) -> pl.DataFrame:
    base = {"init_cash": 100.0, "final_equity": 110.0, "total_return": 0.1, "max_drawdown": 0.1, "n_orders": 5,
            "n_filled": 4, "n_below_min_out": 0, "n_outbid": 1, "n_honeypot": 0, "n_no_liquidity": 0,
            "n_no_funds": 0, "fee_dex": 4.0, "fee_base": 25.0, "fee_priority": 10.0, "tip": 10.0,
            "realized_pnl": 10.0, "trades": 2, "wins": 1, "gross_win": 30.0, "gross_loss": 20.0,
            "slots_in_market": 15, "span_slots": 60}
    rows = [{"row": i, **base, "total_return": 0.1 - 0.2 * i, "param_a": i, "param_b": 0.5} for i in range(n_rows)]
    return pl.DataFrame(rows).with_columns(pl.col("row").cast(pl.Int32))


def test_run_stats_joins_summary_curve_and_fills_per_row() -> None:
    # Arrange: a curve for row 0 only; row 1 has no fills and no curve
    summary = summary_frame()
    # Act
    s = run_stats(summary, curve(FIVE), FILLS.filter(pl.col("row") == 0), every="1h", periods_per_year=5,
                  opportunity=40.0)
    # Assert
    assert s["row"].to_list() == [0, 1]
    r0, r1 = one(s, 0), one(s, 1)
    assert r0["param_a"] == 0
    assert r0["total_return"] == 0.1  # the kernel's, from the summary
    assert r0["n_periods"] == 5  # init cash 100 is the base of the first return
    assert r0["annualized_return"] == pytest.approx(0.1)
    assert r0["max_drawdown_duration_ns"] == 2 * H
    assert r0["profit_factor"] == pytest.approx(1.5)
    assert r0["exposure"] == pytest.approx(15 / 60)
    assert r0["fill_rate"] == pytest.approx(0.8)
    assert r0["net_pnl"] == -35.0
    assert r0["capture_rate"] == pytest.approx(-35 / 40)
    assert r0["latency_slots_mean"] == pytest.approx(9 / 5)
    assert math.isnan(r1["sharpe"])
    assert r1["max_drawdown_duration_ns"] is None
    assert math.isnan(r1["latency_slots_mean"])


def test_run_stats_of_summary_alone_needs_no_curve_or_fills() -> None:
    s = run_stats(summary_frame(3))
    assert s.height == 3
    assert s["win_rate"].to_list() == [0.5, 0.5, 0.5]
    assert "capture_rate" not in s.columns


def test_sweep_stats_ranks_rows_best_first() -> None:
    s = sweep_stats(summary_frame(3))
    assert s["rank"].to_list() == [1, 2, 3]
    assert s["row"].to_list() == [0, 1, 2]
    assert sweep_stats(summary_frame(3), descending=False)["row"].to_list() == [2, 1, 0]
    with pytest.raises(ValueError, match="Hint"):
        sweep_stats(summary_frame(2), sort_by="nope")
