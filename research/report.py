"""The tear sheet of a run or sweep: one self-contained HTML file plus its figures as PNG files.

``report.html`` embeds every figure as a base64 PNG and styles itself inline: no scripts, no
network references, so it can be mailed or archived as one file. The PNGs sit next to it.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from engine.errors import ConfigError
from engine.sim.records import FillStatus
from engine.store.atomic import write_atomic
from research.analytics import COST_KINDS, FAILURES, count_column, every_ns, infer_cash_asset, run_stats, sweep_stats
from research.overfit import OverfitReport, sweep_overfit
from research.overfit_plots import plot_pbo_logits
from research.plots import plot_costs, plot_equity, plot_pnl_vs_latency, plot_sweep_heatmap

MAX_TABLE_ROWS = 50
FIGURES = ("equity.png", "costs.png", "sweep_heatmap.png", "pnl_vs_latency.png", "pbo_logits.png")
LAMPORTS_PER_SOL = 1e9

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1d1d1f; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.sub, p.note { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #e2e2e2; padding: 0.25em 0.6em; }
th { background: #f4f5f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
.grid { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.85em; }
"""

PERCENT = {"total_return", "annualized_return", "volatility", "max_drawdown", "win_rate", "exposure", "fill_rate",
           "fail_rate", "cost_share", "capture_rate", *(f"{k}_share" for k in COST_KINDS),
           *(f"fail_rate_{s.name.lower()}" for s in FAILURES)}
CASH = {"init_cash", "final_equity", "realized_pnl", "net_pnl", "gross_pnl", "total_costs", "gross_win", "gross_loss",
        "avg_win", "avg_loss", "expectancy", "opportunity", *COST_KINDS}
DURATION_NS = {"max_drawdown_duration_ns"}

HEADLINE_GROUPS = {
    "Returns and risk": ("init_cash", "final_equity", "net_pnl", "total_return", "annualized_return", "volatility",
                         "sharpe", "sortino", "max_drawdown", "max_drawdown_duration_ns",
                         "max_drawdown_duration_slots", "max_drawdown_recovered", "n_periods"),
    "Trades": ("trades", "wins", "losses", "win_rate", "profit_factor", "avg_win", "avg_loss", "expectancy",
               "slots_in_market", "exposure", "capture_rate"),
}
SWEEP_COLUMNS = ("total_return", "max_drawdown", "sharpe", "trades", "win_rate", "profit_factor", "net_pnl",
                 "total_costs", "fill_rate")
COST_COLUMNS = ("row", *COST_KINDS, "total_costs", "gross_pnl", "net_pnl", "cost_share")
FILL_COLUMNS = ("row", "n_orders", "n_landed", *(count_column(s) for s in FillStatus), "fill_rate",
                *(f"fail_rate_{s.name.lower()}" for s in FAILURES), "latency_slots_mean")


def cash_unit(meta: Mapping | None) -> tuple[str, float]:
    """Return the label and multiplier of cash amounts: SOL for lake runs (lamports), quote units for bar runs.

    ``meta["cash_unit"]`` and ``meta["cash_scale"]`` override the guess.
    """
    meta = meta or {}
    if "cash_unit" in meta:
        return str(meta["cash_unit"]), float(meta.get("cash_scale", 1.0))
    data = meta.get("data")
    source = str(data.get("source", "")) if isinstance(data, Mapping) else ""
    if source.startswith("bars:"):
        return "quote units", 1.0
    if source.startswith("lake:"):
        return "SOL", 1.0 / LAMPORTS_PER_SOL
    return "cash units", 1.0


def write_report(out_dir: str | Path, *, title: str, summary: pl.DataFrame, equity: pl.DataFrame | None = None,
                 fills: pl.DataFrame | None = None, params: Sequence[Mapping] | pl.DataFrame | None = None,
                 meta: Mapping | None = None) -> Path:
    """Write ``report.html`` and its PNG figures into ``out_dir``; return the HTML path.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if needed); existing figures of the same names are replaced.
    title : str
        Heading of the tear sheet.
    summary, equity, fills : pl.DataFrame
        The run's frames (`research.analytics`); a sweep may have no equity and no fills.
    params : sequence of mappings or pl.DataFrame, optional
        Parameter sets, one per row; default the ``param_*`` columns of ``summary``.
    meta : mapping, optional
        Run metadata shown as is (run id, seed, code version, data, simulation settings ...);
        ``meta["sim"]["cash_asset"]`` says which asset is cash, ``meta["data"]["source"]`` the unit.

    Returns
    -------
    Path
        The path of ``report.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    unit, scale = cash_unit(meta)
    sim = meta.get("sim")
    cash_asset = sim.get("cash_asset") if isinstance(sim, Mapping) else None
    equity = equity if equity is not None and not equity.is_empty() else None
    fills = fills if fills is not None and not fills.is_empty() else None
    if cash_asset is None and fills is not None:
        cash_asset = infer_cash_asset(fills)
    stats = run_stats(summary, equity, fills)
    ranked = sweep_stats(summary, equity, fills) if stats.height > 1 else stats
    overfit = _overfit(summary, equity, ranked) if stats.height > 1 else None

    figures = _figures(out, stats, ranked, equity, fills, unit=unit, scale=scale, cash_asset=cash_asset,
                       overfit=overfit)
    parts = [f"<h1>{_e(title)}</h1>", _subtitle(meta, stats, unit)]
    parts += _headline_section(stats, ranked, unit, scale)
    parts += _overfit_section(overfit)
    parts += _figure_section(figures)
    parts += _params_section(params, summary)
    parts += _table_section("Costs", ranked, COST_COLUMNS, unit, scale,
                            "Costs by kind. Gross PnL = net PnL + costs, on closed trades; "
                            "cost share is costs / gross PnL (blank when gross PnL is not positive).")
    parts += _table_section("Orders by status", ranked, FILL_COLUMNS, unit, scale,
                            "Fill and failure rates are per landed order (cancelled orders never landed).")
    parts += _meta_section(meta)
    doc = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(parts)
           + "\n</body>\n</html>\n")
    path = out / "report.html"
    write_atomic(path, lambda tmp: tmp.write_text(doc, encoding="utf-8"))
    return path


def _figures(out: Path, stats: pl.DataFrame, ranked: pl.DataFrame, equity: pl.DataFrame | None,
             fills: pl.DataFrame | None, *, unit: str, scale: float, cash_asset: int | None,
             overfit: OverfitReport | str | None = None) -> list[tuple[str, str, bytes]]:
    """Draw, save and return ``(file name, caption, PNG bytes)`` of each figure the data allow."""
    made: list[tuple[str, Figure, str]] = []
    if equity is not None:
        with_curve = ranked.filter(pl.col("row").is_in(equity["row"].unique().implode()))
        if not with_curve.is_empty():
            row = int(with_curve["row"][0])
            which = "" if stats.height == 1 else f" (row {row}, the best by total return)"
            made.append(("equity.png", plot_equity(equity, fills, row, unit=unit, scale=scale, cash_asset=cash_asset),
                         f"Equity curve with filled orders and drawdown{which}."))
    made.append(("costs.png", plot_costs(stats, unit=unit, scale=scale), "Costs by kind."))
    varying = sorted((c for c in stats.columns if c.startswith("param_") and stats[c].n_unique() > 1),
                     key=lambda c: -stats[c].n_unique())
    if len(varying) >= 2:
        made.append(("sweep_heatmap.png", plot_sweep_heatmap(stats, varying[0], varying[1], "total_return",
                                                                value_format="{:.2%}"),
                     f"Total return over {varying[0].removeprefix('param_')} and "
                     f"{varying[1].removeprefix('param_')}."))
    latency = _latency_frame(stats, fills, cash_asset)
    if latency is not None:
        frame, col, pnl, label = latency
        made.append(("pnl_vs_latency.png", plot_pnl_vs_latency(frame, latency=col, pnl=pnl, unit=unit, scale=scale,
                                                               latency_label=label),
                     "PnL versus latency: " + ("one point per parameter row." if pnl == "net_pnl"
                                                else "one point per closing trade (landing latency of its order).")))
    if isinstance(overfit, OverfitReport):
        made.append(("pbo_logits.png", plot_pbo_logits(overfit.pbo),
                     "Where the in-sample best row ranks out of sample, over every CSCV split (left of 0: below the "
                     "median, counted in the PBO)."))
    for stale in set(FIGURES) - {name for name, _, _ in made}:  # left by an earlier report in this folder
        (out / stale).unlink(missing_ok=True)
    saved = []
    for name, fig, caption in made:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        png = buf.getvalue()
        write_atomic(out / name, lambda tmp, b=png: tmp.write_bytes(b))
        saved.append((name, caption, png))
    return saved


def _latency_frame(stats: pl.DataFrame, fills: pl.DataFrame | None, cash_asset: int | None
                   ) -> tuple[pl.DataFrame, str, str, str] | None:
    """Per-row PnL over a swept latency parameter, else per-trade PnL over landing latency, else None."""
    for col in stats.columns:
        if col.startswith("param_") and "latency" in col and stats[col].n_unique() > 1:
            return stats, col, "net_pnl", col.removeprefix("param_").replace("_", " ")
    if fills is None:
        return None
    cash = infer_cash_asset(fills) if cash_asset is None else cash_asset
    trades = (fills.filter((pl.col("status") == FillStatus.FILLED) & (pl.col("asset_out") == cash))
              .select(latency_slots=pl.col("slot") - pl.col("decided_slot"), realized_pnl="realized_pnl"))
    if trades.is_empty():
        return None
    return trades, "latency_slots", "realized_pnl", "landing latency (slots)"


def _subtitle(meta: Mapping, stats: pl.DataFrame, unit: str) -> str:
    bits = [f"{stats.height:,} parameter row{'s' if stats.height != 1 else ''}", f"cash in {unit}"]
    for key in ("run_id", "strategy", "kind", "seed", "code_version"):
        if meta.get(key) is not None:
            bits.append(f"{key.replace('_', ' ')}: {meta[key]}")
    return f'<p class="sub">{_e(" · ".join(str(b) for b in bits))}</p>'


def _headline_section(stats: pl.DataFrame, ranked: pl.DataFrame, unit: str, scale: float) -> list[str]:
    if stats.height == 1:
        row = stats.row(0, named=True)
        tables = []
        for group, cols in HEADLINE_GROUPS.items():
            rows = [(_label(c, unit), _format(c, row[c], scale)) for c in cols if c in row]
            tables.append(f"<div><h3>{_e(group)}</h3>{_html_table(['statistic', 'value'], rows)}</div>")
        return ["<h2>Summary</h2>", f'<div class="grid">{"".join(tables)}</div>',
                '<p class="note">Total return and maximum drawdown are marked at every slot by the kernel; '
                "annualised return, volatility, Sharpe and Sortino use time-bucketed equity (risk-free rate 0, "
                "365-day year). Sharpe and Sortino are blank (NaN) when equity never moved.</p>"]
    params = [c for c in ranked.columns if c.startswith("param_")]
    cols = ["rank", "row", *params, *(c for c in SWEEP_COLUMNS if c in ranked.columns)]
    return ["<h2>Summary</h2>",
            f'<p class="note">Rows ranked by total return; the first {min(MAX_TABLE_ROWS, ranked.height)} of '
            f"{ranked.height:,}.</p>",
            _frame_table(ranked, cols, unit, scale)]


def _overfit(summary: pl.DataFrame, equity: pl.DataFrame | None, ranked: pl.DataFrame) -> OverfitReport | str:
    """The sweep's overfitting controls for its top-ranked row, or why they cannot be computed."""
    if equity is None:
        return "this sweep kept no equity curve (recorded before sweeps sampled equity); run it again"
    try:
        return sweep_overfit(summary, equity, int(ranked["row"][0]))
    except ConfigError as e:
        return str(e)


def _overfit_section(overfit: OverfitReport | str | None) -> list[str]:
    if overfit is None:
        return []
    head = ["<h2>How much of the best row is luck</h2>"]
    if isinstance(overfit, str):
        return [*head, f'<p class="note">Not computed: {_e(overfit)}</p>']
    d, p = overfit.deflated, overfit.pbo
    period = _duration(every_ns(overfit.every))
    rows = [("best row (rank 1)", _plain(overfit.best_row)),
            ("deflated Sharpe ratio", _plain(d.dsr)),
            (f"Sharpe ratio of the best row (per {period})", _plain(d.sharpe)),
            (f"Sharpe ratio expected from the best of {d.n_trials:,} skill-less trials", _plain(d.expected_max_sharpe)),
            ("standard deviation of the trials' Sharpe ratios", _plain(d.sharpe_std)),
            ("returns (periods of " + period + ")", _plain(d.n_periods)),
            ("skewness, kurtosis of the best row's returns", f"{_plain(d.skew)}, {_plain(d.kurtosis)}"),
            ("probability of backtest overfitting (PBO)", _plain(p.pbo)),
            ("CSCV blocks, splits", f"{p.n_blocks}, {p.n_splits:,}")]
    note = ("The deflated Sharpe ratio is the probability that the best row's true Sharpe ratio beats what the best "
            "of this many trials would show by luck alone (Bailey and López de Prado, 2014); near 1 is evidence of "
            "skill. The PBO is the share of ways to split the span into halves in which the row that was best on "
            "one half ranks at or below the median on the other (combinatorially symmetric cross-validation, "
            "Bailey, Borwein, López de Prado and Zhu, 2015); near 0 means the best row's lead holds out of sample, "
            "near 0.5 or above means choosing it was luck. Every row counts as a trial, so correlated rows make "
            "the deflation conservative.")
    return [*head, _html_table(["statistic", "value"], rows), f'<p class="note">{_e(note)}</p>']


def _figure_section(figures: list[tuple[str, str, bytes]]) -> list[str]:
    parts = ["<h2>Figures</h2>"]
    for name, caption, png in figures:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
                     f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>")
    return parts


def _params_section(params: Sequence[Mapping] | pl.DataFrame | None, summary: pl.DataFrame) -> list[str]:
    if isinstance(params, pl.DataFrame):
        frame = params
    elif params:
        frame = pl.DataFrame([dict(p) for p in params], infer_schema_length=None)
    else:
        cols = [c for c in summary.columns if c.startswith("param_")]
        frame = summary.select("row", *cols).rename({c: c.removeprefix("param_") for c in cols})
    if frame.is_empty() or frame.width == 0:
        return ["<h2>Parameters</h2>", '<p class="note">No parameters recorded.</p>']
    if frame.height == 1:
        rows = [(k, _format(k, v, 1.0)) for k, v in frame.row(0, named=True).items()]
        return ["<h2>Parameters</h2>", _html_table(["parameter", "value"], rows)]
    return ["<h2>Parameters</h2>", _frame_table(frame, frame.columns, "", 1.0)]


def _table_section(heading: str, frame: pl.DataFrame, columns: Sequence[str], unit: str, scale: float,
                   note: str) -> list[str]:
    cols = [c for c in columns if c in frame.columns]
    return [f"<h2>{_e(heading)}</h2>", f'<p class="note">{_e(note)}</p>', _frame_table(frame, cols, unit, scale)]


def _meta_section(meta: Mapping) -> list[str]:
    if not meta:
        return []
    rows = []
    for key, value in meta.items():
        if key == "created_ns" and isinstance(value, int):
            value = datetime.fromtimestamp(value / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(value, Mapping):
            value = "; ".join(f"{k}={_plain(v)}" for k, v in value.items())
        rows.append((key, _plain(value)))
    return ["<h2>Run</h2>", _html_table(["field", "value"], rows)]


def _frame_table(frame: pl.DataFrame, columns: Sequence[str], unit: str, scale: float) -> str:
    shown = frame.head(MAX_TABLE_ROWS)
    rows = [[_format(c, v, scale) for c, v in zip(columns, r, strict=True)] for r in shown.select(columns).rows()]
    table = _html_table([_label(c, unit) for c in columns], rows)
    if frame.height > MAX_TABLE_ROWS:
        table += f'<p class="note">{frame.height - MAX_TABLE_ROWS:,} more rows not shown.</p>'
    return table


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(text: str) -> str:
    numeric = text[:1].isdigit() or (text[:1] in "-+" and text[1:2].isdigit()) or text in ("inf", "-inf")
    return f'<td class="num">{_e(text)}</td>' if numeric else f"<td>{_e(text)}</td>"


def _label(col: str, unit: str) -> str:
    name = col.removeprefix("param_")
    if col in CASH and unit:
        return f"{name} ({unit})"
    if col in PERCENT:
        return f"{name} (%)"
    if col in DURATION_NS:
        return name.removesuffix("_ns")
    return name


def _format(col: str, value: object, scale: float) -> str:
    """Format one value of column ``col``: percent, cash in the display unit, a duration, or a plain number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if col in PERCENT and isinstance(value, int | float):
        return f"{value * 100:,.2f}" if abs(value) < 1e4 else f"{value * 100:.3g}"
    if col in CASH and isinstance(value, int | float):
        return _number(value * scale)
    if col in DURATION_NS and isinstance(value, int):
        return _duration(value)
    return _plain(value)


def _number(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:,.6g}" if abs(v) >= 1e-4 else f"{v:.3e}"


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 10**12 else str(value)
    if isinstance(value, float):
        return _number(value) if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return "" if value is None else str(value)


def _duration(ns: int) -> str:
    """Return a duration in ns as ``"2d 3h"``, ``"3h 20m"``, ``"4m 10s"`` or ``"12.5 s"``."""
    s = ns / 1e9
    if s < 60:
        return f"{s:.3g} s"
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    parts, left = [], round(s)
    for name, size in units:
        if left >= size or parts:
            parts.append(f"{left // size}{name}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
