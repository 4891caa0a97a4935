"""Figures of the overfitting controls: walk-forward IS vs OOS equity, and the CSCV logit distribution.

Same conventions as `research.plots`: Agg figures, never shown, times as UTC on the axes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from research.overfit import Pbo
from research.plots import _figure, _time_axis, utc_datetimes
from research.walkforward import WalkForward


def plot_walkforward(wf: WalkForward) -> Figure:
    """Plot the compounded OOS equity against the whole-span best row, and each window's IS and OOS return.

    Top: both curves start at 1.0 at the first test window; the gap between them is what
    hindsight was worth. Bottom: per window, the chosen row's training return, its test return
    and the median test return of all rows.
    """
    fig = _figure(10.0, 7.0)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 2])
    top.plot(utc_datetimes(wf.is_best_equity["ts_ns"]), wf.is_best_equity["equity"], color="#999999",
             label=f"in-sample best row {wf.is_best_row} (chosen with hindsight)")
    top.plot(utc_datetimes(wf.oos_equity["ts_ns"]), wf.oos_equity["equity"], color="#4C72B0", linewidth=1.6,
             label="walk-forward out-of-sample")
    for w in wf.windows:
        top.axvline(utc_datetimes(np.array([w.window.test_start_ns]))[0], color="#dddddd", linewidth=0.8, zorder=0)
    top.axhline(1.0, color="#444444", linewidth=0.6)
    top.set_ylabel("equity (1 = start of first test)")
    top.set_title(f"walk-forward: OOS {wf.oos_total_return:+.2%} vs in-sample best {_since_first_test(wf):+.2%}; "
                  f"PBO {wf.overfit.pbo.pbo:.2f}, DSR {_fmt(wf.overfit.deflated.dsr)}")
    top.legend(loc="best", fontsize=8)
    _time_axis(top)
    x = np.arange(len(wf.windows))
    bottom.bar(x - 0.27, [w.is_return for w in wf.windows], width=0.27, color="#999999",
               label="chosen row, training (IS)")
    bottom.bar(x, [w.oos_return for w in wf.windows], width=0.27, color="#4C72B0", label="chosen row, test (OOS)")
    bottom.bar(x + 0.27, [w.oos_median_return for w in wf.windows], width=0.27, color="#DD8452",
               label="median row, test")
    bottom.axhline(0.0, color="#444444", linewidth=0.6)
    bottom.set_xticks(x, [str(w.window.index) for w in wf.windows])
    bottom.set_xlabel("window")
    bottom.set_ylabel("return")
    bottom.yaxis.set_major_formatter(lambda v, _: f"{v:.1%}")
    bottom.legend(loc="best", fontsize=8)
    return fig


def plot_pbo_logits(pbo: Pbo) -> Figure:
    """Plot the distribution of the logits of the in-sample best row's out-of-sample rank over the CSCV splits.

    Mass left of 0 (the OOS median) is the probability of backtest overfitting.
    """
    fig = _figure(7.0, 3.5)
    ax = fig.subplots()
    ax.hist(pbo.logits, bins=min(40, max(5, pbo.n_splits // 20)), color="#4C72B0")
    ax.axvline(0.0, color="#C44E52", linewidth=1.2)
    ax.set_xlabel("logit of the OOS relative rank of the IS best row")
    ax.set_ylabel("splits")
    ax.set_title(f"CSCV: PBO {pbo.pbo:.2f} over {pbo.n_splits:,} splits of {pbo.n_blocks} blocks")
    return fig


def _since_first_test(wf: WalkForward) -> float:
    return float(wf.is_best_equity["equity"][-1]) - 1.0 if wf.is_best_equity.height else float("nan")


def _fmt(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.2f}"
