"""Matplotlib figures of runs and sweeps: equity and drawdown, costs, sweep heatmaps, PnL versus latency.

Every function returns a `matplotlib.figure.Figure` built on the Agg canvas (no GUI, no global
pyplot state, never shown); save it with ``fig.savefig(path)``. Frames are those documented in
`research.analytics`. Times go on axes as UTC datetimes, converted from ``ts_ns`` here at the edge.
Amounts are plotted as ``value * scale`` and labelled with ``unit`` (e.g. ``scale=1e-9, unit="SOL"``
for lamports).
"""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.sim.records import FillStatus
from research.analytics import COST_KINDS, drawdown_stats, infer_cash_asset

COST_LABELS = {"fee_dex": "DEX fee", "fee_base": "base fee", "fee_priority": "priority fee", "tip": "tip"}
COST_COLORS = {"fee_dex": "#4C72B0", "fee_base": "#DD8452", "fee_priority": "#55A868", "tip": "#C44E52"}
MAX_ANNOTATED_CELLS = 400


def _figure(width: float = 10.0, height: float = 5.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def utc_datetimes(ts_ns: np.ndarray | pl.Series) -> np.ndarray:
    """Return UNIX ns as ``datetime64[ns]`` (UTC wall time, as matplotlib plots it)."""
    values = ts_ns.to_numpy() if isinstance(ts_ns, pl.Series) else np.asarray(ts_ns)
    return values.astype(np.int64).astype("datetime64[ns]")


def _time_axis(ax) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _param_column(frame: pl.DataFrame, name: str) -> str:
    for col in (name, f"param_{name}"):
        if col in frame.columns:
            return col
    params = [c.removeprefix("param_") for c in frame.columns if c.startswith("param_")]
    msg = f"no parameter column {name!r} in the frame; Hint: parameters are {params}"
    raise ValueError(msg)


def plot_equity(equity: pl.DataFrame, fills: pl.DataFrame | None, row: int, *, unit: str = "cash units",
                scale: float = 1.0, cash_asset: int | None = None, title: str | None = None) -> Figure:
    """Plot one row's equity curve with its trades, and its drawdown below.

    Filled orders are marked on the curve: buys (cash in) as up triangles, sells (cash out) as down
    triangles coloured by the sign of their realised PnL, cash-to-cash routes (arbitrage) as dots
    coloured likewise.

    Parameters
    ----------
    equity, fills : pl.DataFrame
        The run's frames (`research.analytics`); ``fills`` may be None or empty.
    row : int
        The parameter row to plot.
    unit, scale : str, float
        Label and multiplier of cash amounts (``"SOL"``, ``1e-9`` for lamports).
    cash_asset : int, optional
        Cash asset id; inferred from the fills when omitted.
    """
    curve = equity.filter(pl.col("row") == row).sort("ts_ns", "slot")
    if curve.is_empty():
        rows = sorted(set(equity["row"].to_list()))[:10]
        msg = f"no equity samples for row {row}; Hint: the equity frame has rows {rows}"
        raise ValueError(msg)
    t = utc_datetimes(curve["ts_ns"])
    y = curve["equity"].to_numpy() * scale
    peak = np.maximum.accumulate(y)
    dd = np.where(peak > 0, y / np.where(peak > 0, peak, 1.0) - 1.0, 0.0) * 100.0
    fig = _figure(10.0, 6.0)
    ax, ax_dd = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(t, y, color="#1f3b73", linewidth=1.4, label="equity")
    ax.axhline(y[0], color="0.6", linewidth=0.8, linestyle=":", label="start")
    if fills is not None and not fills.is_empty():
        _mark_fills(ax, curve, fills.filter(pl.col("row") == row), scale, cash_asset)
    stats = drawdown_stats(curve).row(0, named=True)
    total = y[-1] / y[0] - 1.0 if y[0] > 0 else math.nan
    ax.set_title(title or f"Row {row}: equity ({total:+.2%}) and drawdown (max {stats['max_drawdown']:.2%})")
    ax.set_ylabel(f"equity ({unit})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax_dd.fill_between(t, dd, 0.0, color="#C44E52", alpha=0.4, step="post", linewidth=0)
    ax_dd.plot(t, dd, color="#C44E52", linewidth=0.8, drawstyle="steps-post")
    ax_dd.set_ylabel("drawdown (%)")
    ax_dd.set_xlabel("time (UTC)")
    low = float(dd.min())
    ax_dd.set_ylim(low * 1.08, -low * 0.04) if low < 0 else ax_dd.set_ylim(-1.0, 0.1)
    ax_dd.grid(True, alpha=0.3)
    _time_axis(ax_dd)
    return fig


def _mark_fills(ax, curve: pl.DataFrame, fills: pl.DataFrame, scale: float, cash_asset: int | None) -> None:
    filled = fills.filter(pl.col("status") == FillStatus.FILLED)
    if filled.is_empty():
        return
    cash = infer_cash_asset(fills) if cash_asset is None else cash_asset
    t_curve = curve["ts_ns"].to_numpy().astype(np.float64)
    y_curve = curve["equity"].to_numpy() * scale

    def at(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ts = frame["ts_ns"].to_numpy()
        return utc_datetimes(ts), np.interp(ts.astype(np.float64), t_curve, y_curve)

    cash_in, cash_out = pl.col("asset_in") == cash, pl.col("asset_out") == cash
    groups = [
        (filled.filter(cash_in & ~cash_out), None, "^", "buy", "#2a9d8f"),
        (filled.filter(~cash_in & cash_out), "sell", "v", "sell", None),
        (filled.filter(cash_in & cash_out), "route", "o", "route", None),
    ]
    for frame, kind, marker, label, color in groups:
        if frame.is_empty():
            continue
        if kind is None:
            x, yy = at(frame)
            ax.scatter(x, yy, marker=marker, s=36, color=color, edgecolor="white", linewidth=0.5, zorder=3,
                       label=f"{label} ({frame.height:,})")
            continue
        for won, c, word in ((True, "#2a9d2f", "win"), (False, "#d62828", "loss")):
            part = frame.filter((pl.col("realized_pnl") > 0) == won)
            if part.is_empty():
                continue
            x, yy = at(part)
            ax.scatter(x, yy, marker=marker, s=36, color=c, edgecolor="white", linewidth=0.5, zorder=3,
                       label=f"{label}, {word} ({part.height:,})")


def plot_costs(costs: pl.DataFrame, *, unit: str = "cash units", scale: float = 1.0, max_rows: int = 20,
               title: str | None = None) -> Figure:
    """Plot costs by kind: one bar per kind for a single row, stacked bars per row for several.

    ``costs`` is the frame of `research.analytics.cost_stats` or `run_stats` (``row``, the cost
    columns, optionally ``gross_pnl`` and ``cost_share``). With more than ``max_rows`` rows the
    most expensive are shown.
    """
    if costs.is_empty():
        msg = "the cost frame has no rows; Hint: pass cost_stats(fills) or run_stats(summary)"
        raise ValueError(msg)
    fig = _figure(10.0, 5.0)
    ax = fig.subplots()
    if costs.height == 1:
        r = costs.row(0, named=True)
        values = [r[k] * scale for k in COST_KINDS]
        labels = [COST_LABELS[k] for k in COST_KINDS]
        bars = ax.barh(labels, values, color=[COST_COLORS[k] for k in COST_KINDS])
        ax.bar_label(bars, labels=[f"{v:,.4g}" for v in values], padding=3, fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel(f"cost ({unit})")
        ax.margins(x=0.15)
        total = sum(values)
        share = r.get("cost_share")
        share_text = f", {share:.1%} of gross PnL" if share is not None and not math.isnan(share) else ""
        ax.set_title(title or f"Costs of row {r['row']}: {total:,.4g} {unit}{share_text}")
        if total == 0:
            ax.text(0.5, 0.5, "no costs paid", transform=ax.transAxes, ha="center", va="center", color="0.4")
    else:
        frame = costs.with_columns(_total=pl.sum_horizontal(*COST_KINDS))
        shown = frame.sort("_total", descending=True).head(max_rows).sort("row")
        x = np.arange(shown.height)
        bottom = np.zeros(shown.height)
        for k in COST_KINDS:
            v = shown[k].to_numpy() * scale
            ax.bar(x, v, bottom=bottom, color=COST_COLORS[k], label=COST_LABELS[k])
            bottom += v
        ax.set_xticks(x, [str(r) for r in shown["row"].to_list()], rotation=90 if shown.height > 12 else 0)
        ax.set_xlabel("parameter row")
        ax.set_ylabel(f"cost ({unit})")
        ax.legend(loc="best", fontsize="small")
        which = f" (the {shown.height} most expensive of {costs.height})" if shown.height < costs.height else ""
        ax.set_title(title or f"Costs by kind per row{which}")
    ax.grid(True, axis="x" if costs.height == 1 else "y", alpha=0.3)
    return fig


def plot_sweep_heatmap(summary: pl.DataFrame, x_param: str, y_param: str, metric: str = "total_return", *,
                       agg: str = "mean", value_format: str = "{:.3g}", title: str | None = None) -> Figure:
    """Plot ``metric`` over a grid of two parameters, each cell annotated, with a colour bar.

    Parameters
    ----------
    summary : pl.DataFrame
        One row per parameter row with ``param_<name>`` columns and ``metric`` (a summary or
        `research.analytics.run_stats` frame).
    x_param, y_param : str
        Parameter names, with or without the ``param_`` prefix.
    metric : str
        Column to show.
    agg : {"mean", "median", "max", "min"}
        How rows that share an (x, y) cell (other parameters varied) are combined; NaN is ignored.
    value_format : str
        Format of the cell annotations (``"{:.1%}"`` for returns).
    """
    x_col, y_col = _param_column(summary, x_param), _param_column(summary, y_param)
    if metric not in summary.columns:
        msg = f"no metric column {metric!r}; Hint: columns are {summary.columns}"
        raise ValueError(msg)
    if agg not in ("mean", "median", "max", "min"):
        msg = f"agg must be 'mean', 'median', 'max' or 'min', was {agg!r}"
        raise ValueError(msg)
    value = pl.col(metric).cast(pl.Float64)
    value = pl.when(value.is_finite()).then(value)
    cells = summary.group_by(x_col, y_col).agg(getattr(value, agg)().alias("v"), n=pl.len())
    xs = sorted(cells[x_col].unique().to_list())
    ys = sorted(cells[y_col].unique().to_list())
    grid = np.full((len(ys), len(xs)), np.nan)
    xi, yi = {v: i for i, v in enumerate(xs)}, {v: i for i, v in enumerate(ys)}
    for xv, yv, v in cells.select(x_col, y_col, "v").iter_rows():
        grid[yi[yv], xi[xv]] = np.nan if v is None else v
    fig = _figure(max(7.5, min(14.0, 2.5 + 0.9 * len(xs))), max(4.5, min(12.0, 1.5 + 0.45 * len(ys))))
    ax = fig.subplots()
    finite = grid[np.isfinite(grid)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    cmap = mpl.colormaps["RdYlGn" if lo < 0.0 < hi else "viridis"].with_extremes(bad="0.85")
    norm = TwoSlopeNorm(vcenter=0.0, vmin=lo, vmax=hi) if lo < 0.0 < hi else None
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap, norm=norm,
                      vmin=None if norm else lo, vmax=None if norm else (hi if hi > lo else lo + 1.0))
    x_every, y_every = max(1, math.ceil(len(xs) / 25)), max(1, math.ceil(len(ys) / 25))  # at most 25 labels
    ax.set_xticks(np.arange(len(xs))[::x_every], [_tick(v) for v in xs[::x_every]], rotation=45 if len(xs) > 8 else 0)
    ax.set_yticks(np.arange(len(ys))[::y_every], [_tick(v) for v in ys[::y_every]])
    ax.set_xlabel(x_col.removeprefix("param_"))
    ax.set_ylabel(y_col.removeprefix("param_"))
    if grid.size <= MAX_ANNOTATED_CELLS:
        for (i, j), v in np.ndenumerate(grid):
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize="small", color="0.4")
                continue
            level = float(image.norm(v))
            dark = level < 0.2 or level > 0.8 if norm is not None else level < 0.45
            ax.text(j, i, value_format.format(v), ha="center", va="center", fontsize="small",
                    color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=metric)
    other = [c for c in summary.columns if c.startswith("param_") and c not in (x_col, y_col)
             and summary[c].n_unique() > 1]
    note = f"\n({agg} over {', '.join(c.removeprefix('param_') for c in other)})" if other else ""
    ax.set_title(title or f"{metric} by {x_col.removeprefix('param_')} and {y_col.removeprefix('param_')}{note}",
                 fontsize="medium")
    return fig


def _tick(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def plot_pnl_vs_latency(frame: pl.DataFrame, *, latency: str = "latency_slots", pnl: str = "net_pnl",
                        unit: str = "cash units", scale: float = 1.0, latency_label: str = "latency (slots)",
                        title: str | None = None) -> Figure:
    """Scatter PnL against latency, with the mean PnL at each latency joined by a line.

    ``frame`` holds a ``latency`` column and a ``pnl`` column (cash units): per row of a sweep
    over a latency parameter, or per trade with its landing latency.
    """
    for col in (latency, pnl):
        if col not in frame.columns:
            msg = f"no column {col!r} in the frame; Hint: columns are {frame.columns}"
            raise ValueError(msg)
    data = frame.select(x=pl.col(latency).cast(pl.Float64), y=pl.col(pnl).cast(pl.Float64) * scale).filter(
        pl.col("x").is_finite() & pl.col("y").is_finite())
    if data.is_empty():
        msg = f"no finite ({latency}, {pnl}) pairs to plot"
        raise ValueError(msg)
    fig = _figure(9.0, 5.0)
    ax = fig.subplots()
    ax.scatter(data["x"].to_numpy(), data["y"].to_numpy(), s=18, alpha=0.5, color="#4C72B0", label="points",
               edgecolor="none")
    means = data.group_by("x").agg(pl.col("y").mean(), n=pl.len()).sort("x")
    if means.height <= 100:
        ax.plot(means["x"].to_numpy(), means["y"].to_numpy(), color="#C44E52", marker="o", linewidth=1.5,
                label="mean at each latency")
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    if np.all(data["x"].to_numpy() == np.round(data["x"].to_numpy())):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(latency_label)
    ax.set_ylabel(f"{pnl.replace('_', ' ')} ({unit})")
    ax.set_title(title or f"{pnl.replace('_', ' ')} versus {latency_label}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return fig
