"""Statistics of runs and sweeps: returns and risk, trades, costs, fills, capture.

Pure functions over polars frames; one output row per parameter row (``row``). The input
frames are those of `engine.sim.runner.wrap` (this is the contract):

``equity`` (one row per equity sample)
    ``row`` int32, ``slot`` int64, ``ts_ns`` int64 (UNIX ns, UTC), ``equity`` float64 (cash units:
    lamports for SOL runs, quote units for bar runs).
``fills`` (one row per landed or cancelled order, `engine.sim.records.FILL_DT` flattened)
    ``row``, ``order_id``, ``slot``, ``ts_ns``, ``decided_slot``, ``n_hops``, ``hop_kind``, ``status``
    (int8 `FillStatus`), ``pool0..2``, ``side0..2``, ``asset_in``, ``asset_out``, ``amount_in_raw``,
    ``amount_out_raw``, ``min_out_raw``, ``fee_dex``, ``fee_base``, ``fee_priority``, ``tip`` (costs in
    cash units), ``realized_pnl`` (cash units, booked when units turn back into cash), ``expected_profit``,
    ``tag``.
``summary`` (one row per parameter row, computed in the kernel)
    ``row``, ``init_cash``, ``final_equity``, ``total_return``, ``max_drawdown``, ``n_orders``,
    ``n_filled``, ``n_below_min_out``, ``n_outbid``, ``n_honeypot``, ``n_no_liquidity``, ``n_no_funds``,
    ``fee_dex``, ``fee_base``, ``fee_priority``, ``tip``, ``realized_pnl``, ``trades``, ``wins``,
    ``gross_win``, ``gross_loss``, ``slots_in_market``, ``param_<name>`` ...; optional: ``n_cancelled``,
    ``span_slots`` (marked slots of the run, the denominator of exposure), ``opportunity``.

Conventions
-----------
- Returns are simple returns of the equity at the end of consecutive time buckets
  (`bucket_equity`). Annualisation assumes markets that never close: a year is 365 days,
  so ``periods_per_year = 365 d / bucket`` (8,760 for ``"1h"``).
- Sharpe = mean(r) / std(r) * sqrt(periods_per_year), with the sample standard deviation
  (ddof=1) and a risk-free rate of 0. Sortino = mean(r) / dd(r) * sqrt(periods_per_year) with the
  downside deviation dd(r) = sqrt(mean(min(r, 0)^2)) over all periods (target 0).
  A ratio whose deviation is 0 is NaN when the mean is 0 too (constant equity: no risk and no
  return, so the ratio is undefined, not 0) and +-inf otherwise; fewer than two returns give NaN.
- Annualised return is compounded: (1 + total) ** (periods_per_year / n_periods) - 1.
- Drawdown is 1 - equity / running peak (a positive fraction). Its duration is the longest
  peak-to-recovery span: from a peak to the first later sample at or above it, or to the last
  sample when equity never recovered (``max_drawdown_recovered`` is then False).
- A trade is a filled order that turns units back into cash (``asset_out`` is the cash asset),
  as the kernel counts it: its ``realized_pnl`` (net of the DEX fee, before base, priority and tip
  costs) is a win when > 0, else a loss. Profit factor = gross win / gross loss: inf when there is no
  loss, NaN when there are no trades or every trade broke even.
- Costs are on a closed-trade basis: net PnL = realized PnL - base - priority - tip, gross PnL =
  net PnL + all costs (= realized PnL + DEX fees), cost share = costs / gross PnL, NaN when the
  gross PnL is not positive (no profit for costs to take a share of).
- Fill and failure rates are per landed order (status other than CANCELLED: the order reached
  the chain and paid fees); cancelled orders are counted apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import polars as pl

from engine.sim.records import FillStatus

YEAR_NS = 365 * 86_400 * 10**9
COST_KINDS = ("fee_dex", "fee_base", "fee_priority", "tip")
FAILURES = tuple(s for s in FillStatus if s not in (FillStatus.FILLED, FillStatus.CANCELLED))
EVERY_CHOICES = ("1s", "1m", "5m", "15m", "1h", "4h", "1d", "1w")
MAX_BUCKETS = 20_000_000

_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3_600 * 10**9,
            "d": 86_400 * 10**9, "w": 7 * 86_400 * 10**9}
_EVERY_RE = re.compile(r"(\d+)(ns|us|ms|s|m|h|d|w)")
_NAN = float("nan")
_INF = float("inf")


def count_column(status: FillStatus) -> str:
    """Return the summary column counting fills of ``status`` (``n_outbid`` for OUTBID ...)."""
    return f"n_{status.name.lower()}"


MIN_ANNUALIZE_DAYS = 7  # shorter runs compound noise into absurd annual figures: report NaN


def every_ns(every: str) -> int:
    """Return the length of a bucket such as ``"1h"``, ``"15m"`` or ``"1h30m"``, in ns."""
    parts = _EVERY_RE.findall(every)
    if not parts or "".join(n + u for n, u in parts) != every or (total := sum(
            int(n) * _UNIT_NS[u] for n, u in parts)) <= 0:
        msg = (f"bucket length {every!r} is not a positive duration; "
               "Hint: use a number and a unit out of ns, us, ms, s, m, h, d, w, e.g. '1h' or '15m'")
        raise ValueError(msg)
    return total


def choose_every(equity: pl.DataFrame, *, min_buckets: int = 48) -> str:
    """Return the longest bucket of `EVERY_CHOICES` that cuts the curve's span into ``min_buckets`` or more."""
    if equity.is_empty():
        return "1h"
    span_ns = int(equity["ts_ns"].max()) - int(equity["ts_ns"].min())
    fitting = [e for e in EVERY_CHOICES if span_ns // every_ns(e) >= min_buckets]
    return fitting[-1] if fitting else EVERY_CHOICES[0]


def _empty_equity() -> pl.DataFrame:
    return pl.DataFrame(schema={"row": pl.Int32, "ts_ns": pl.Int64, "slot": pl.Int64, "equity": pl.Float64})


def bucket_equity(equity: pl.DataFrame, every: str = "1h") -> pl.DataFrame:
    """Return the last equity of each time bucket of each row, empty buckets forward-filled.

    Parameters
    ----------
    equity : pl.DataFrame
        ``row``, ``slot``, ``ts_ns`` (UNIX ns), ``equity`` (cash units).
    every : str
        Bucket length (``"1h"``, ``"15m"``, ...); buckets are aligned to the UNIX epoch.

    Returns
    -------
    pl.DataFrame
        ``row``, ``ts_ns`` (bucket start, ns), ``slot`` and ``equity`` of the bucket's last sample, one
        row per bucket from each row's first to its last sample, sorted by ``row, ts_ns``.
    """
    if equity.is_empty():
        return _empty_equity()
    step = every_ns(every)
    last = (equity.with_columns(bucket=(pl.col("ts_ns") // step) * step)
            .group_by("row", "bucket")
            .agg(pl.col("slot").sort_by("ts_ns", "slot").last(), pl.col("equity").sort_by("ts_ns", "slot").last()))
    spans = last.group_by("row").agg(first=pl.col("bucket").min(), last=pl.col("bucket").max())
    n_buckets = int(((spans["last"] - spans["first"]) // step + 1).sum())
    if n_buckets > MAX_BUCKETS:
        msg = (f"bucketing by {every!r} makes {n_buckets:,} buckets (more than {MAX_BUCKETS:,}); "
               "Hint: choose a longer bucket")
        raise ValueError(msg)
    grid = (spans.select("row", bucket=pl.int_ranges("first", pl.col("last") + step, step, dtype=pl.Int64))
            .explode("bucket"))
    return (grid.join(last, on=["row", "bucket"], how="left")
            .sort("row", "bucket")
            .with_columns(pl.col("slot", "equity").forward_fill().over("row"))
            .select(pl.col("row").cast(pl.Int32), pl.col("bucket").alias("ts_ns"), "slot", "equity"))


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den with the module's conventions for a zero or missing deviation."""
    return (pl.when(num.is_null() | den.is_null() | num.is_nan() | den.is_nan()).then(_NAN)
            .when(den > 0).then(num / den)
            .when(num == 0).then(_NAN)
            .otherwise(num.sign() * _INF))


def _per_row_value(value: float | pl.DataFrame, name: str, rows: pl.Series) -> pl.DataFrame:
    if isinstance(value, pl.DataFrame):
        return value.select(pl.col("row").cast(pl.Int32), pl.col(name).cast(pl.Float64))
    return pl.DataFrame({"row": rows.cast(pl.Int32), name: pl.Series([float(value)] * rows.len(), dtype=pl.Float64)})


def drawdown_stats(equity: pl.DataFrame) -> pl.DataFrame:
    """Return each row's maximum drawdown (fraction) and longest peak-to-recovery duration.

    Computed on the samples as given (not bucketed). Columns: ``row``, ``max_drawdown``,
    ``max_drawdown_duration_ns``, ``max_drawdown_duration_slots``, ``max_drawdown_recovered``.
    """
    if equity.is_empty():
        return pl.DataFrame(schema={"row": pl.Int32, "max_drawdown": pl.Float64, "max_drawdown_duration_ns": pl.Int64,
                                    "max_drawdown_duration_slots": pl.Int64, "max_drawdown_recovered": pl.Boolean})
    eq = (equity.sort("row", "ts_ns", "slot")
          .with_columns(peak=pl.col("equity").cum_max().over("row"))
          .with_columns(dd=pl.when(pl.col("peak") > 0).then(1.0 - pl.col("equity") / pl.col("peak")).otherwise(0.0),
                        episode=(pl.col("equity") >= pl.col("peak")).cum_sum().over("row")))
    episodes = (eq.group_by("row", "episode")
                .agg(t0=pl.col("ts_ns").first(), s0=pl.col("slot").first(), t1=pl.col("ts_ns").last(),
                     s1=pl.col("slot").last(), n=pl.len())
                .sort("row", "episode")
                .with_columns(next_t=pl.col("t0").shift(-1).over("row"), next_s=pl.col("s0").shift(-1).over("row"))
                .with_columns(
                    dur_ns=pl.when(pl.col("n") > 1).then(pl.coalesce("next_t", "t1") - pl.col("t0")).otherwise(0),
                    dur_slots=pl.when(pl.col("n") > 1).then(pl.coalesce("next_s", "s1") - pl.col("s0")).otherwise(0),
                    recovered=(pl.col("n") == 1) | pl.col("next_t").is_not_null()))
    longest = (episodes.sort("row", "dur_ns", "episode", descending=[False, True, False])
               .group_by("row", maintain_order=True).first()
               .select("row", max_drawdown_duration_ns=pl.col("dur_ns").cast(pl.Int64),
                       max_drawdown_duration_slots=pl.col("dur_slots").cast(pl.Int64),
                       max_drawdown_recovered="recovered"))
    depth = eq.group_by("row").agg(max_drawdown=pl.col("dd").max())
    return (depth.join(longest, on="row").sort("row")
            .select(pl.col("row").cast(pl.Int32), "max_drawdown", "max_drawdown_duration_ns",
                    "max_drawdown_duration_slots", "max_drawdown_recovered"))


def returns_stats(equity: pl.DataFrame, every: str = "1h", periods_per_year: float | None = None, *,
                  init_cash: float | pl.DataFrame | None = None) -> pl.DataFrame:
    """Return per-row return and risk statistics of time-bucketed equity (conventions: module docstring).

    Parameters
    ----------
    equity : pl.DataFrame
        ``row``, ``slot``, ``ts_ns`` (UNIX ns), ``equity`` (cash units).
    every : str
        Bucket length of the returns (``"1h"``, ``"1d"``, ...).
    periods_per_year : float, optional
        Buckets per year; default 365 days / ``every``.
    init_cash : float or pl.DataFrame, optional
        Equity before the first sample (a number, or a frame with ``row`` and ``init_cash``);
        when given, the first return is the first bucket's equity over it.

    Returns
    -------
    pl.DataFrame
        ``row``, ``n_periods``, ``total_return``, ``annualized_return``, ``volatility`` (annualised),
        ``sharpe``, ``sortino``, and the columns of `drawdown_stats`.
    """
    step = every_ns(every)
    per_year = YEAR_NS / step if periods_per_year is None else float(periods_per_year)
    buckets = bucket_equity(equity, every)
    if init_cash is not None and not buckets.is_empty():
        base = (buckets.group_by("row").agg(ts_ns=pl.col("ts_ns").min() - step, slot=pl.col("slot").min())
                .join(_per_row_value(init_cash, "init_cash", buckets["row"].unique()), on="row", how="left")
                .select("row", "ts_ns", "slot", equity="init_cash"))
        buckets = pl.concat([base, buckets], how="vertical_relaxed").sort("row", "ts_ns")
    r = buckets.with_columns(ret=pl.col("equity") / pl.col("equity").shift(1).over("row") - 1.0)
    r = r.with_columns(ret=pl.when(pl.col("equity").shift(1).over("row") > 0).then("ret"))
    sqrt_p = math.sqrt(per_year)
    stats = (r.group_by("row")
             .agg(n_periods=pl.col("ret").count().cast(pl.Int64),
                  first=pl.col("equity").first(), last=pl.col("equity").last(),
                  mean=pl.col("ret").mean(), std=pl.col("ret").std(ddof=1),
                  down=(pl.col("ret").clip(upper_bound=0.0) ** 2).mean().sqrt())
             .with_columns(total_return=pl.when(pl.col("first") > 0).then(pl.col("last") / pl.col("first") - 1.0)
                           .otherwise(_NAN))
             .with_columns(
                 annualized_return=pl.when(pl.col("n_periods") < per_year / 365.0 * MIN_ANNUALIZE_DAYS).then(_NAN)
                 .when(pl.col("total_return") <= -1.0).then(-1.0)
                 .otherwise((1.0 + pl.col("total_return")) ** (per_year / pl.col("n_periods")) - 1.0),
                 volatility=pl.col("std").fill_null(_NAN) * sqrt_p,
                 sharpe=_ratio(pl.col("mean"), pl.col("std")) * sqrt_p,
                 sortino=_ratio(pl.col("mean"), pl.col("down")) * sqrt_p)
             .select(pl.col("row").cast(pl.Int32), "n_periods", "total_return", "annualized_return", "volatility",
                     "sharpe", "sortino"))
    return stats.join(drawdown_stats(equity), on="row", how="left").sort("row")


def infer_cash_asset(fills: pl.DataFrame) -> int:
    """Return the cash asset id: what realising fills pay out, else what filled orders pay in, else 0."""
    filled = fills.filter(pl.col("status") == FillStatus.FILLED)
    realising = filled.filter(pl.col("realized_pnl") != 0.0)
    for col, frame in (("asset_out", realising), ("asset_in", filled)):
        if not frame.is_empty():
            return int(frame[col].mode().sort()[0])
    return 0


def _trade_ratios() -> list[pl.Expr]:
    """Ratios from ``trades``, ``wins``, ``gross_win``, ``gross_loss``, ``realized_pnl`` (fills or summary)."""
    losses = pl.col("trades") - pl.col("wins")
    return [
        pl.when(pl.col("trades") > 0).then(pl.col("wins") / pl.col("trades")).otherwise(_NAN).alias("win_rate"),
        pl.when(pl.col("gross_loss") > 0).then(pl.col("gross_win") / pl.col("gross_loss"))
        .when(pl.col("gross_win") > 0).then(_INF).otherwise(_NAN).alias("profit_factor"),
        pl.when(pl.col("wins") > 0).then(pl.col("gross_win") / pl.col("wins")).otherwise(_NAN).alias("avg_win"),
        pl.when(losses > 0).then(-pl.col("gross_loss") / losses).otherwise(_NAN).alias("avg_loss"),
        pl.when(pl.col("trades") > 0).then(pl.col("realized_pnl") / pl.col("trades")).otherwise(_NAN)
        .alias("expectancy"),
    ]


def _rows_frame(rows: Sequence[int] | pl.Series | None, *frames: pl.DataFrame) -> pl.DataFrame:
    if rows is None:
        present = [f["row"] for f in frames if not f.is_empty()]
        series = pl.concat(present).unique() if present else pl.Series([], dtype=pl.Int32)
    else:
        series = pl.Series(list(rows))
    return pl.DataFrame({"row": series.cast(pl.Int32)}).unique().sort("row")


def _slots_in_market(filled: pl.DataFrame, cash: int, ends: pl.DataFrame) -> pl.DataFrame:
    """Slots during which each row held a non-cash asset, from its filled orders' units."""
    keys = ["row", "slot", "seq"]
    f = filled.with_row_index("seq")
    legs = pl.concat([
        f.filter(pl.col("asset_out") != cash).select(*keys, asset="asset_out", d=pl.col("amount_out_raw")),
        f.filter(pl.col("asset_in") != cash).select(*keys, asset="asset_in", d=-pl.col("amount_in_raw")),
    ]).sort(keys)
    if legs.is_empty():
        return pl.DataFrame(schema={"row": pl.Int32, "slots_in_market": pl.Int64})
    by_asset = ["row", "asset"]
    legs = (legs.with_columns(pos=pl.col("d").cum_sum().over(by_asset),
                              tol=1e-9 + 1e-9 * pl.col("d").abs().cum_max().over(by_asset))
            .with_columns(open=(pl.col("pos") > pl.col("tol")).cast(pl.Int64))
            .with_columns(change=pl.col("open") - pl.col("open").shift(1, fill_value=0).over(by_asset))
            .sort(keys)
            .with_columns(n_open=pl.col("change").cum_sum().over("row"))
            .join(ends, on="row", how="left")
            .with_columns(next_slot=pl.col("slot").shift(-1).over("row"))
            .with_columns(held=pl.when(pl.col("n_open") > 0)
                          .then(pl.coalesce("next_slot", pl.max_horizontal("end_slot", "slot")) - pl.col("slot"))
                          .otherwise(0)))
    return legs.group_by("row").agg(slots_in_market=pl.col("held").sum().cast(pl.Int64))


def trade_stats(fills: pl.DataFrame, *, cash_asset: int | None = None, rows: Sequence[int] | None = None,
                span_slots: tuple[int, int] | None = None) -> pl.DataFrame:
    """Return per-row trade statistics from fills (conventions: module docstring).

    Parameters
    ----------
    fills : pl.DataFrame
        The fills frame (``row``, ``slot``, ``status``, ``asset_in``, ``asset_out``, ``amount_in_raw``,
        ``amount_out_raw``, ``realized_pnl`` are read).
    cash_asset : int, optional
        Id of the cash asset (``SimConfig.cash_asset``); inferred with `infer_cash_asset` when omitted.
    rows : sequence of int, optional
        Rows to report (rows without fills get zero trades); default the rows in ``fills``.
    span_slots : (int, int), optional
        First and last slot of the run, the denominator of ``exposure``; default each row's first
        and last fill.

    Returns
    -------
    pl.DataFrame
        ``row``, ``trades``, ``wins``, ``losses``, ``gross_win``, ``gross_loss`` (positive),
        ``realized_pnl``, ``win_rate``, ``profit_factor``, ``avg_win``, ``avg_loss`` (<= 0),
        ``expectancy`` (PnL per trade), ``slots_in_market``, ``exposure`` (fraction of the span).
    """
    out = _rows_frame(rows, fills)
    cash = infer_cash_asset(fills) if cash_asset is None else cash_asset
    filled = fills.filter(pl.col("status") == FillStatus.FILLED)
    pnl = pl.col("realized_pnl")
    closes = (filled.filter(pl.col("asset_out") == cash)
              .group_by("row")
              .agg(trades=pl.len().cast(pl.Int64), wins=(pnl > 0).sum().cast(pl.Int64),
                   gross_win=pnl.clip(lower_bound=0.0).sum(), gross_loss=(-pnl).clip(lower_bound=0.0).sum(),
                   realized_pnl=pnl.sum()))
    if span_slots is None:
        ends = fills.group_by("row").agg(start_slot=pl.col("slot").min(), end_slot=pl.col("slot").max())
    else:
        ends = out.with_columns(start_slot=pl.lit(span_slots[0], pl.Int64), end_slot=pl.lit(span_slots[1], pl.Int64))
    held = _slots_in_market(filled, cash, ends.select("row", "end_slot"))
    span = ends.select("row", span=pl.col("end_slot") - pl.col("start_slot"))
    return (out.join(closes.with_columns(pl.col("row").cast(pl.Int32)), on="row", how="left")
            .join(held.with_columns(pl.col("row").cast(pl.Int32)), on="row", how="left")
            .join(span.with_columns(pl.col("row").cast(pl.Int32)), on="row", how="left")
            .with_columns(pl.col("trades", "wins", "slots_in_market").fill_null(0),
                          pl.col("gross_win", "gross_loss", "realized_pnl").fill_null(0.0))
            .with_columns(*_trade_ratios(), losses=pl.col("trades") - pl.col("wins"),
                          exposure=pl.when(pl.col("span") > 0).then(pl.col("slots_in_market") / pl.col("span"))
                          .otherwise(_NAN))
            .select("row", "trades", "wins", "losses", "gross_win", "gross_loss", "realized_pnl", "win_rate",
                    "profit_factor", "avg_win", "avg_loss", "expectancy", "slots_in_market", "exposure"))


def _cost_ratios() -> list[pl.Expr]:
    """Net and gross PnL and cost shares from the cost columns and ``realized_pnl``."""
    total = pl.sum_horizontal(*COST_KINDS)
    net = pl.col("realized_pnl") - pl.col("fee_base") - pl.col("fee_priority") - pl.col("tip")
    gross = net + total
    share = [pl.when(gross > 0).then(pl.col(k) / gross).otherwise(_NAN).alias(f"{k}_share") for k in COST_KINDS]
    return [total.alias("total_costs"), net.alias("net_pnl"), gross.alias("gross_pnl"),
            pl.when(gross > 0).then(total / gross).otherwise(_NAN).alias("cost_share"), *share]


def cost_stats(frame: pl.DataFrame, *, rows: Sequence[int] | None = None) -> pl.DataFrame:
    """Return costs by kind, their total and their share of gross PnL, per row (cash units).

    ``frame`` is the fills frame or the summary (both carry ``row``, the cost columns and
    ``realized_pnl``, and give the same numbers). Columns: ``row``, ``fee_dex``, ``fee_base``,
    ``fee_priority``, ``tip``, ``realized_pnl``, ``total_costs``, ``net_pnl``, ``gross_pnl``,
    ``cost_share`` and ``<kind>_share``.
    """
    out = _rows_frame(rows, frame)
    sums = frame.group_by("row").agg(pl.col(*COST_KINDS, "realized_pnl").cast(pl.Float64).sum())
    return (out.join(sums.with_columns(pl.col("row").cast(pl.Int32)), on="row", how="left")
            .with_columns(pl.col(*COST_KINDS, "realized_pnl").fill_null(0.0))
            .with_columns(*_cost_ratios()))


def _fill_ratios() -> list[pl.Expr]:
    """Landed orders, fill rate and failure rates from the ``n_<status>`` counts (fills or summary)."""
    landed = pl.col("n_filled") + pl.sum_horizontal(*(count_column(s) for s in FAILURES))
    rate = [pl.when(landed > 0).then(pl.col(count_column(s)) / landed).otherwise(_NAN)
            .alias(f"fail_rate_{s.name.lower()}") for s in FAILURES]
    return [landed.alias("n_landed"),
            pl.when(landed > 0).then(pl.col("n_filled") / landed).otherwise(_NAN).alias("fill_rate"),
            pl.when(landed > 0).then(1.0 - pl.col("n_filled") / landed).otherwise(_NAN).alias("fail_rate"), *rate]


def fill_stats(fills: pl.DataFrame, *, rows: Sequence[int] | None = None) -> pl.DataFrame:
    """Return per-row order counts by status, the fill rate and the failure rate of each reason.

    Columns: ``row``, ``n_orders`` (fill records: landed or cancelled), ``n_<status>`` for each
    `FillStatus`, ``n_landed``, ``fill_rate``, ``fail_rate`` and ``fail_rate_<reason>`` (per landed
    order), ``latency_slots_mean`` (landing slot - decision slot, landed orders).
    """
    out = _rows_frame(rows, fills)
    names = ["n_orders", *(count_column(s) for s in FillStatus)]
    counts = fills.group_by("row").agg(
        pl.len().cast(pl.Int64).alias("n_orders"),
        *((pl.col("status") == s).sum().cast(pl.Int64).alias(count_column(s)) for s in FillStatus),
        (pl.col("slot") - pl.col("decided_slot")).filter(pl.col("status") != FillStatus.CANCELLED)
        .cast(pl.Float64).mean().alias("latency_slots_mean"))
    return (out.join(counts.with_columns(pl.col("row").cast(pl.Int32)), on="row", how="left")
            .with_columns(pl.col(*names).fill_null(0), pl.col("latency_slots_mean").fill_null(_NAN))
            .with_columns(*_fill_ratios()))


def capture_rate(realized: float | np.ndarray | pl.Series, opportunity: float | np.ndarray | pl.Series
                 ) -> float | np.ndarray | pl.Series:
    """Return realised PnL / opportunity available on the tape: NaN where the opportunity is not positive.

    Both in cash units and on the same basis (`run_stats` uses net PnL, so the strategy's
    opportunity should be net of per-transaction costs too). Above 1 means the strategy made more
    than the opportunity measure allows for (e.g. the measure ignores some routes).
    """
    r = np.asarray(realized.to_numpy() if isinstance(realized, pl.Series) else realized, dtype=np.float64)
    o = np.asarray(opportunity.to_numpy() if isinstance(opportunity, pl.Series) else opportunity, dtype=np.float64)
    r, o = np.broadcast_arrays(r, o)
    out = np.full(r.shape, np.nan)
    np.divide(r, o, out=out, where=o > 0)
    if isinstance(realized, pl.Series) or isinstance(opportunity, pl.Series):
        return pl.Series("capture_rate", out)
    return float(out) if out.ndim == 0 else out


def _span_slots(summary: pl.DataFrame, equity: pl.DataFrame | None) -> pl.DataFrame:
    if "span_slots" in summary.columns:
        return summary.select("row", span=pl.col("span_slots"))
    if equity is not None and not equity.is_empty():
        return equity.group_by("row").agg(span=pl.col("slot").max() - pl.col("slot").min())
    return summary.select("row", span=pl.lit(None, pl.Int64))


def run_stats(summary: pl.DataFrame, equity: pl.DataFrame | None = None, fills: pl.DataFrame | None = None, *,
              every: str | None = None, periods_per_year: float | None = None,
              opportunity: float | pl.DataFrame | None = None) -> pl.DataFrame:
    """Return one frame of statistics, one row per parameter row of ``summary``.

    Counts, costs, trades, exposure, total return and maximum drawdown come from the summary
    (the kernel computes them at every marked slot, so they need no curve and no fills). The
    equity curve, when given, adds annualised return, volatility, Sharpe, Sortino and drawdown
    duration (bucketed by ``every``, default `choose_every`); rows without a curve get NaN. The
    fills, when given, add the mean landing latency.

    Parameters
    ----------
    summary, equity, fills : pl.DataFrame
        The run's frames (module docstring).
    every : str, optional
        Bucket of the returns; default `choose_every` of the curve.
    periods_per_year : float, optional
        Default 365 days / ``every``.
    opportunity : float or pl.DataFrame, optional
        Opportunity on the tape (cash units; a number or ``row``, ``opportunity``) for ``capture_rate``;
        a summary column ``opportunity`` is used when this is omitted.

    Returns
    -------
    pl.DataFrame
        ``row``, the ``param_*`` columns, ``init_cash``, ``final_equity``, ``total_return``,
        ``max_drawdown`` then the columns of `returns_stats`, `trade_stats`, `cost_stats`,
        `fill_stats`, ``exposure``, ``latency_slots_mean`` and ``capture_rate``.
    """
    s = summary.with_columns(pl.col("row").cast(pl.Int32))
    for name in (count_column(FillStatus.CANCELLED), "n_pending"):
        if name not in s.columns:
            s = s.with_columns(pl.lit(0, pl.Int64).alias(name))
    params = [c for c in s.columns if c.startswith("param_")]
    base = s.select("row", *params, "init_cash", "final_equity", "total_return", "max_drawdown")
    trades = s.select("row", "trades", "wins", "gross_win", "gross_loss", "realized_pnl").with_columns(
        *_trade_ratios(), losses=pl.col("trades") - pl.col("wins"))
    costs = s.select("row", *COST_KINDS).join(s.select("row", "realized_pnl"), on="row").with_columns(*_cost_ratios())
    counts = s.select("row", "n_orders", *(count_column(st) for st in FillStatus), "n_pending").with_columns(
        *_fill_ratios())
    exposure = (s.select("row", "slots_in_market")
                .join(_span_slots(s, equity).with_columns(pl.col("row").cast(pl.Int32)), on="row", how="left")
                .select("row", "slots_in_market", exposure=pl.when(pl.col("span") > 0)
                        .then(pl.col("slots_in_market") / pl.col("span")).otherwise(_NAN)))
    out = (base.join(trades.drop("realized_pnl"), on="row", how="left")
           .join(costs, on="row", how="left").join(counts, on="row", how="left")
           .join(exposure, on="row", how="left"))
    if equity is not None and not equity.is_empty():
        curve = returns_stats(equity, every or choose_every(equity), periods_per_year,
                              init_cash=s.select("row", "init_cash"))
        curve = curve.drop("total_return", "max_drawdown")
        out = out.join(curve, on="row", how="left").with_columns(
            pl.col("annualized_return", "volatility", "sharpe", "sortino").fill_null(_NAN),
            pl.col("n_periods").fill_null(0))
    else:
        out = out.with_columns(n_periods=pl.lit(0, pl.Int64), annualized_return=_NAN, volatility=_NAN,
                               sharpe=_NAN, sortino=_NAN, max_drawdown_duration_ns=pl.lit(None, pl.Int64),
                               max_drawdown_duration_slots=pl.lit(None, pl.Int64),
                               max_drawdown_recovered=pl.lit(None, pl.Boolean))
    if fills is not None and not fills.is_empty():
        lat = fill_stats(fills).select("row", "latency_slots_mean")
        out = out.join(lat, on="row", how="left").with_columns(pl.col("latency_slots_mean").fill_null(_NAN))
    else:
        out = out.with_columns(latency_slots_mean=pl.lit(_NAN))
    if opportunity is None and "opportunity" in s.columns:
        opportunity = s.select("row", "opportunity")
    if opportunity is not None:
        opp = _per_row_value(opportunity, "opportunity", out["row"])
        out = out.join(opp, on="row", how="left")
        out = out.with_columns(capture_rate=capture_rate(out["net_pnl"], out["opportunity"].fill_null(_NAN)))
    return out.sort("row")


def sweep_stats(summary: pl.DataFrame, equity: pl.DataFrame | None = None, fills: pl.DataFrame | None = None, *,
                sort_by: str = "total_return", descending: bool = True, **kwargs: object) -> pl.DataFrame:
    """Return `run_stats` of a sweep ranked by ``sort_by`` (NaN and null last), with a ``rank`` column from 1."""
    stats = run_stats(summary, equity, fills, **kwargs)
    if sort_by not in stats.columns:
        msg = f"cannot rank a sweep by {sort_by!r}; Hint: use one of {stats.columns}"
        raise ValueError(msg)
    key = pl.col(sort_by).fill_nan(None) if stats.schema[sort_by].is_float() else pl.col(sort_by)
    ranked = stats.sort(key, descending=descending, nulls_last=True)
    return ranked.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
