"""Figures of `research.plots` and the tear sheet of `research.report`: they render and are not blank."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from research.analytics import cost_stats, run_stats
from research.plots import plot_costs, plot_equity, plot_pnl_vs_latency, plot_sweep_heatmap, utc_datetimes
from research.report import cash_unit, write_report
from tests.research.test_analytics import FILLS, T0, curve, fills_frame, summary_frame

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def walk(n: int, *, row: int = 0, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng([row, seed])
    values = (1e10 * np.cumprod(1 + rng.normal(2e-4, 4e-3, n))).tolist()
    return curve(values, row=row, step_ns=90 * 10**9, slot0=1_000, slot_step=225)


def png_pixels(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_MAGIC)
    return mpimg.imread(io.BytesIO(png), format="png")


def assert_not_blank(png: bytes) -> None:
    assert png_pixels(png).var() > 0


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def embedded_images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in IMG_RE.findall(html)]


def assert_self_contained(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    assert 'src="' not in lowered.replace('src="data:image/png;base64,', "")


def sweep_summary() -> pl.DataFrame:
    rows = []
    for i, (a, b, lat) in enumerate((a, b, lat) for a in (0, 5, 10) for b in (1.0, 2.0) for lat in (1, 3)):
        rows.append({"row": i, "param_min_profit": a, "param_size": b, "param_latency_slots": lat,
                     "total_return": 0.01 * a - 0.02 * b * lat, "realized_pnl": 10.0 * a - 5 * lat})
    base = summary_frame(1).drop("row", "total_return", "realized_pnl", "param_a", "param_b")
    return pl.DataFrame(rows).with_columns(pl.col("row").cast(pl.Int32)).join(base, how="cross")


# --- figures -------------------------------------------------------------------------------------------------------

def test_utc_datetimes_converts_ns_at_the_edge() -> None:
    assert str(utc_datetimes(pl.Series([T0]))[0]) == "2026-01-01T00:00:00.000000000"


def test_plot_equity_draws_curve_markers_and_drawdown() -> None:
    # Arrange: fills of row 0 placed on the curve's time span
    eq = walk(60)
    fills = FILLS.with_columns(ts_ns=T0 + pl.col("slot") * 90 * 10**9)
    # Act
    fig = plot_equity(eq, fills, 0, unit="SOL", scale=1e-9)
    # Assert
    ax, ax_dd = fig.axes
    assert ax.get_ylabel() == "equity (SOL)"
    assert ax_dd.get_ylabel() == "drawdown (%)"
    assert "time (UTC)" in ax_dd.get_xlabel()
    labels = ax.get_legend_handles_labels()[1]
    assert any(lb.startswith("buy (2)") for lb in labels)
    assert any(lb.startswith("sell, win (1)") for lb in labels)
    assert any(lb.startswith("sell, loss (1)") for lb in labels)
    assert_not_blank(figure_png(fig))


def test_plot_equity_without_fills_and_with_constant_equity_renders() -> None:
    fig = plot_equity(curve([5.0] * 10), None, 0)
    assert_not_blank(figure_png(fig))
    fig = plot_equity(curve([5.0] * 10), FILLS.head(0), 0)
    assert_not_blank(figure_png(fig))


def test_plot_equity_of_missing_row_raises_with_hint() -> None:
    with pytest.raises(ValueError, match="no equity samples for row 7; Hint"):
        plot_equity(walk(5), None, 7)


def test_plot_costs_for_one_row_and_many_rows() -> None:
    one_row = plot_costs(cost_stats(FILLS, rows=[0]), unit="SOL")
    assert [t.get_text() for t in one_row.axes[0].get_yticklabels()] == ["DEX fee", "base fee", "priority fee", "tip"]
    assert_not_blank(figure_png(one_row))
    many = plot_costs(run_stats(sweep_summary()), max_rows=5)
    assert "5 most expensive of 12" in many.axes[0].get_title()
    assert_not_blank(figure_png(many))


def test_plot_costs_with_no_costs_still_renders() -> None:
    fig = plot_costs(cost_stats(FILLS.filter(pl.col("row") == 1)))
    assert_not_blank(figure_png(fig))


def test_plot_sweep_heatmap_pivots_and_annotates_cells() -> None:
    # Act
    fig = plot_sweep_heatmap(sweep_summary(), "min_profit", "param_size", "total_return", value_format="{:.1%}")
    # Assert: 3 x 2 cells, each the mean over latency (1 and 3): 0.01 a - 0.04 b
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    expected = sorted(f"{0.01 * a - 0.04 * b:.1%}" for a in (0, 5, 10) for b in (1.0, 2.0))
    assert texts == expected
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    assert "mean over latency_slots" in ax.get_title()
    assert ax.get_xlabel() == "min_profit"
    assert_not_blank(figure_png(fig))


def test_plot_sweep_heatmap_with_unknown_parameter_raises_with_hint() -> None:
    with pytest.raises(ValueError, match="Hint: parameters are"):
        plot_sweep_heatmap(sweep_summary(), "nope", "size", "total_return")


def test_plot_pnl_vs_latency_draws_points_and_means() -> None:
    fig = plot_pnl_vs_latency(run_stats(sweep_summary()), latency="param_latency_slots", pnl="net_pnl")
    ax = fig.axes[0]
    (mean_line,) = [ln for ln in ax.lines if ln.get_label() == "mean at each latency"]
    assert list(mean_line.get_xdata()) == [1.0, 3.0]
    assert_not_blank(figure_png(fig))


def test_figures_leave_no_pyplot_state() -> None:
    before = plt.get_fignums()
    plot_equity(walk(10), None, 0)
    plot_costs(cost_stats(FILLS))
    assert plt.get_fignums() == before


# --- report --------------------------------------------------------------------------------------------------------

def backtest_frames() -> dict:
    eq = walk(200)
    fills = FILLS.filter(pl.col("row") == 0).with_columns(ts_ns=T0 + (pl.col("slot") - 10) * 20 * 90 * 10**9,
                                                          slot=1_000 + (pl.col("slot") - 10) * 20 * 225)
    summary = summary_frame(1).with_columns(final_equity=pl.lit(eq["equity"][-1]))
    return {"summary": summary, "equity": eq, "fills": fills}


META = {"run_id": "bt-20260101-000000-abcdef", "kind": "backtest", "strategy": "arb", "created_ns": T0,
        "code_version": "d983a24 engine:1234", "seed": 11, "n_rows": 1,
        "sim": {"seed": 11, "cash_asset": 0, "latency": "uniform"},
        "data": {"source": "lake:/tmp/lake", "events": 2_000}}


def test_report_of_backtest_embeds_its_figures_and_writes_pngs(tmp_path: Path) -> None:
    # Act
    path = write_report(tmp_path / "out", title="arb backtest <1>", params=[{"a": 0, "b": 0.5}], meta=META,
                        **backtest_frames())
    # Assert: the HTML
    assert path == tmp_path / "out" / "report.html"
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "arb backtest &lt;1&gt;" in html
    for text in ("bt-20260101-000000-abcdef", "d983a24 engine:1234", "Parameters", "Costs", "Orders by status",
                 "sharpe", "profit_factor", "n_outbid", "fee_priority (SOL)", "2026-01-01 00:00:00 UTC"):
        assert text in html
    images = embedded_images(html)
    assert len(images) == 3  # equity, costs, PnL per trade versus latency
    for png in images:
        assert_not_blank(png)
    # Assert: the PNG files are the embedded images
    files = sorted(p.name for p in path.parent.glob("*.png"))
    assert files == ["costs.png", "equity.png", "pnl_vs_latency.png"]
    on_disk = [(path.parent / f).read_bytes() for f in files]
    assert all(len(b) > 0 for b in on_disk)
    assert sorted(on_disk) == sorted(images)


def test_report_of_sweep_without_curves_or_fills_has_heatmap(tmp_path: Path) -> None:
    summary = sweep_summary()
    path = write_report(tmp_path, title="sweep", summary=summary, equity=None, fills=None, params=None,
                        meta={"run_id": "sw-1", "kind": "sweep", "data": {"source": "bars:/x.csv"}})
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "ranked by total return" in html
    assert "quote units" in html
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["costs.png", "pnl_vs_latency.png", "sweep_heatmap.png"]
    for png in embedded_images(html):
        assert_not_blank(png)


def test_report_with_constant_equity_and_no_fills_renders(tmp_path: Path) -> None:
    # Arrange: a row that never traded
    summary = summary_frame(1).with_columns(pl.lit(0).alias(c) for c in ("trades", "wins", "n_orders", "n_filled",
                                                                          "n_outbid", "slots_in_market"))
    summary = summary.with_columns(pl.lit(0.0).alias(c) for c in ("fee_dex", "fee_base", "fee_priority", "tip",
                                                                   "realized_pnl", "gross_win", "gross_loss",
                                                                   "total_return", "max_drawdown"))
    # Act
    path = write_report(tmp_path, title="idle", summary=summary, equity=curve([100.0] * 30), fills=fills_frame([]))
    # Assert
    html = path.read_text(encoding="utf-8")
    assert len(embedded_images(html)) == 2  # equity and costs; no trades, so no latency figure
    for png in embedded_images(html):
        assert_not_blank(png)
    assert all((tmp_path / n).stat().st_size > 0 for n in ("equity.png", "costs.png"))


def test_cash_unit_follows_the_data_source() -> None:
    assert cash_unit({"data": {"source": "lake:/x"}}) == ("SOL", 1e-9)
    assert cash_unit({"data": {"source": "bars:/x.csv"}}) == ("quote units", 1.0)
    assert cash_unit(None) == ("cash units", 1.0)
    assert cash_unit({"cash_unit": "USDC", "cash_scale": 1e-6}) == ("USDC", 1e-6)


def test_report_rewritten_in_same_folder_drops_figures_it_no_longer_makes(tmp_path: Path) -> None:
    write_report(tmp_path, title="sweep", summary=sweep_summary())
    assert (tmp_path / "sweep_heatmap.png").exists()
    write_report(tmp_path, title="idle", summary=summary_frame(1))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["costs.png"]
