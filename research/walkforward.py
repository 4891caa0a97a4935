"""Walk-forward analysis: choose the best row on each training window, judge it only on the window after.

A sweep's best row is chosen with hindsight; walk-forward takes the hindsight away. The
data's span is cut into rolling windows, training ``[s, s + train)`` then testing
``[s + train, s + train + test)``, with ``s`` moving by ``step``. On each window every row runs
over the training slice and the best one by ``metric`` is chosen; then every row continues
into the test slice (indicators warm, positions carried over, as if it had been running). A
row's out-of-sample (OOS) return is its equity at the end of the test slice over its equity at
the end of training. The chosen rows' OOS returns compound into one curve: what a researcher
who re-optimised every ``step`` would have earned. The other rows' OOS returns say whether the
choice was worth anything: a chosen row that ranks at random out of sample was luck. One
sweep over the whole span gives the in-sample (IS) best row, its deflated Sharpe ratio and the
probability of backtest overfitting (`research.overfit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.schema import Tape
from engine.sim import Capacity, RunResult, SimConfig, Strategy, stream
from research.analytics import run_stats
from research.backtest import run_dataset
from research.data import Dataset
from research.overfit import OverfitReport, sweep_equity_every, sweep_overfit
from research.runs import params_rows

Loader = Callable[[int, int], Dataset]  # the dataset's events in [start_ns, stop_ns)

DAY_NS = 86_400 * 10**9
WINDOW_PERIODS = 500  # equity samples per window run: enough for a Sharpe metric and a smooth OOS curve


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: train on ``[train_start_ns, test_start_ns)``, test up to ``test_stop_ns``."""

    index: int
    train_start_ns: int
    test_start_ns: int
    test_stop_ns: int


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What one window chose and earned (returns are simple returns over the window)."""

    window: Window
    row: int
    params: dict
    metric_value: float
    is_return: float
    is_median_return: float
    oos_return: float
    oos_median_return: float
    oos_rank: float  # the chosen row's OOS return rank among all rows, in (0, 1]: 1 is the best
    oos_equity: pl.DataFrame  # ts_ns, equity relative to the equity at the end of training

    def to_dict(self) -> dict:
        w = self.window
        return {"index": w.index, "train_from": _iso(w.train_start_ns), "test_from": _iso(w.test_start_ns),
                "test_to": _iso(w.test_stop_ns), "row": self.row, "params": self.params,
                "metric_value": _finite_or_none(self.metric_value), "is_return": self.is_return,
                "is_median_return": self.is_median_return, "oos_return": self.oos_return,
                "oos_median_return": self.oos_median_return, "oos_rank": self.oos_rank}


@dataclass(frozen=True, slots=True)
class WalkForward:
    """The walk-forward windows, the compounded OOS curve, and the whole-span sweep it is compared with."""

    metric: str
    train_ns: int
    test_ns: int
    step_ns: int
    windows: list[WindowResult]
    oos_equity: pl.DataFrame  # ts_ns, equity (1.0 at the first test start)
    is_best_row: int
    is_best_params: dict
    is_best_return: float
    is_best_equity: pl.DataFrame  # ts_ns, equity of the whole-span best row (1.0 at the first test start)
    overfit: OverfitReport

    @property
    def oos_total_return(self) -> float:
        return float(np.prod([1.0 + w.oos_return for w in self.windows]) - 1.0)

    @property
    def is_return_per_day(self) -> float:
        """Geometric mean daily return of the chosen rows on their training windows."""
        return _per_day([w.is_return for w in self.windows], [w.window.test_start_ns - w.window.train_start_ns
                                                              for w in self.windows])

    @property
    def oos_return_per_day(self) -> float:
        """Geometric mean daily return of the chosen rows on their test windows."""
        return _per_day([w.oos_return for w in self.windows], [w.window.test_stop_ns - w.window.test_start_ns
                                                               for w in self.windows])

    def to_dict(self) -> dict:
        return {"metric": self.metric, "train_ns": self.train_ns, "test_ns": self.test_ns, "step_ns": self.step_ns,
                "windows": [w.to_dict() for w in self.windows], "oos_total_return": self.oos_total_return,
                "is_return_per_day": self.is_return_per_day, "oos_return_per_day": self.oos_return_per_day,
                "is_best": {"row": self.is_best_row, "params": self.is_best_params,
                            "total_return": self.is_best_return},
                "pbo": self.overfit.pbo.pbo, "dsr": _finite_or_none(self.overfit.deflated.dsr),
                "overfit": self.overfit.to_dict()}


def make_windows(first_ts_ns: int, last_ts_ns: int, *, train_ns: int, test_ns: int, step_ns: int) -> list[Window]:
    """Cut the span ``[first_ts_ns, last_ts_ns]`` into rolling train/test windows.

    A window is kept while its test slice starts inside the span; the last test slice is cut
    at the span's end. ``step_ns`` must be at least ``test_ns`` so that no day is tested twice.
    """
    if train_ns <= 0 or test_ns <= 0:
        msg = f"train and test lengths must be positive, was train={train_ns} ns, test={test_ns} ns"
        raise ConfigError(msg)
    if step_ns < test_ns:
        msg = (f"the step ({step_ns / DAY_NS:g} d) is shorter than the test window ({test_ns / DAY_NS:g} d): "
               "test windows would overlap and count the same days twice; Hint: use --step >= --test")
        raise ConfigError(msg)
    end = last_ts_ns + 1
    out = []
    start = first_ts_ns
    while start + train_ns < end:
        out.append(Window(index=len(out), train_start_ns=start, test_start_ns=start + train_ns,
                          test_stop_ns=min(start + train_ns + test_ns, end)))
        start += step_ns
    if not out:
        msg = (f"the data spans {(end - first_ts_ns) / DAY_NS:.3g} d, too short for a {train_ns / DAY_NS:g} d "
               "training window and a test window after it; Hint: shorten --train or load more data")
        raise ConfigError(msg)
    return out


def slice_dataset(dataset: Dataset, start_ns: int, stop_ns: int) -> Dataset:
    """Return the events of ``dataset`` with ``start_ns <= ts_ns < stop_ns`` (in-memory sources such as bar files)."""
    def tapes() -> Iterator[Tape]:
        for tape in dataset.tapes():
            lo, hi = np.searchsorted(tape.ts_ns, [start_ns, stop_ns], side="left")
            if hi > lo:
                yield tape.slice(int(lo), int(hi))

    parts = list(tapes())
    n = sum(t.n_events for t in parts)
    if n == 0:
        msg = f"no events in [{start_ns}, {stop_ns}) ns of {dataset.source}"
        raise ConfigError(msg)
    return Dataset(tapes=tapes, market=dataset.market, source=dataset.source, n_events=n,
                   first_ts_ns=int(parts[0].ts_ns[0]), last_ts_ns=int(parts[-1].ts_ns[-1]),
                   n_slots=int(parts[-1].slot[-1] - parts[0].slot[0]) + 1)


def walk_forward(data: Dataset, load: Loader, strategy: Strategy, params: np.ndarray, cfg: SimConfig, *,
                 train_ns: int, test_ns: int, step_ns: int | None = None, metric: str = "total_return",
                 on_window: Callable[[WindowResult], None] | None = None) -> WalkForward:
    """Run the walk-forward analysis of ``params`` (one row per parameter set) over ``data``.

    Parameters
    ----------
    data : Dataset
        The whole span.
    load : callable
        ``load(start_ns, stop_ns)`` returns the dataset's events in that range.
    strategy, params, cfg : Strategy, ndarray, SimConfig
        What to run and the fill model; equity sampling is set here.
    train_ns, test_ns, step_ns : int
        Window lengths in ns; ``step_ns`` defaults to ``test_ns`` (back-to-back test windows).
    metric : str
        Column of `research.analytics.run_stats` to choose the best training row by (higher is better).
    on_window : callable, optional
        Called with each window's result as it completes (progress).
    """
    step_ns = test_ns if step_ns is None else step_ns
    windows = make_windows(data.first_ts_ns, data.last_ts_ns, train_ns=train_ns, test_ns=test_ns, step_ns=step_ns)
    results = []
    for w in windows:
        results.append(_run_window(w, load, strategy, params, cfg, metric))
        if on_window is not None:
            on_window(results[-1])
    whole = _sampled_run(data, strategy, params, cfg, sweep_equity_every(data.n_slots))
    best, _ = best_row(whole, metric)
    start = windows[0].test_start_ns
    return WalkForward(metric=metric, train_ns=train_ns, test_ns=test_ns, step_ns=step_ns, windows=results,
                       oos_equity=_chain(results), is_best_row=best,
                       is_best_params=params_rows(params[best:best + 1])[0],
                       is_best_return=float(whole.summary["total_return"][best]),
                       is_best_equity=_rebased(whole.equity.filter(pl.col("row") == best), start),
                       overfit=sweep_overfit(whole.summary, whole.equity, best))


def _run_window(w: Window, load: Loader, strategy: Strategy, params: np.ndarray, cfg: SimConfig,
                metric: str) -> WindowResult:
    """Run every row through training, choose by ``metric``, continue every row through the test slice."""
    data = load(w.train_start_ns, w.test_stop_ns)
    every = max(1, data.n_slots // WINDOW_PERIODS)
    run_cfg = replace(cfg, equity_every_slots=every)
    cap = Capacity(max_fills=0, max_equity=data.n_slots // every + 3)
    trained = stream(_before(data.tapes(), w.test_start_ns), strategy, params, market=data.market, cfg=run_cfg,
                     capacity=cap)
    row, value = best_row(trained, metric)
    at_test = trained.summary["final_equity"].to_numpy()
    train_returns = trained.summary["total_return"].to_numpy()
    tested = stream(_from(data.tapes(), w.test_start_ns), strategy, params, market=data.market, cfg=run_cfg,
                    capacity=cap, state=trained.state)
    with np.errstate(divide="ignore", invalid="ignore"):  # a row with nothing left at the test start earns 0
        oos = np.where(at_test > 0, tested.summary["final_equity"].to_numpy() / at_test - 1.0, 0.0)
    curve = (tested.equity.filter((pl.col("row") == row) & (pl.col("ts_ns") >= w.test_start_ns))
             .select("ts_ns", equity=pl.col("equity") / at_test[row]))
    curve = pl.concat([pl.DataFrame({"ts_ns": [w.test_start_ns], "equity": [1.0]}), curve,
                       pl.DataFrame({"ts_ns": [w.test_stop_ns], "equity": [1.0 + oos[row]]})])
    return WindowResult(window=w, row=row, params=params_rows(params[row:row + 1])[0], metric_value=value,
                        is_return=float(train_returns[row]), is_median_return=float(np.median(train_returns)),
                        oos_return=float(oos[row]), oos_median_return=float(np.median(oos)),
                        oos_rank=float((np.sum(oos < oos[row]) + (np.sum(oos == oos[row]) + 1) / 2) / oos.size),
                        oos_equity=curve)


def best_row(result: RunResult, metric: str) -> tuple[int, float]:
    """Return the row with the highest ``metric`` (`research.analytics.run_stats` column; NaN last) and its value."""
    stats = run_stats(result.summary, result.equity)
    if metric not in stats.columns:
        msg = f"cannot choose rows by {metric!r}; Hint: use one of {stats.columns}"
        raise ConfigError(msg)
    key = pl.col(metric).fill_nan(None) if stats.schema[metric].is_float() else pl.col(metric)
    top = stats.sort(key, descending=True, nulls_last=True).row(0, named=True)
    return int(top["row"]), float(top[metric])


def _sampled_run(data: Dataset, strategy: Strategy, params: np.ndarray, cfg: SimConfig, every: int) -> RunResult:
    """Run every row over ``data`` keeping an equity sample every ``every`` slots and no fills."""
    return run_dataset(data, strategy, params, replace(cfg, equity_every_slots=every),
                       capacity=Capacity(max_fills=0, max_equity=data.n_slots // every + 3), progress=False)


def _before(tapes: Iterator[Tape], ts_ns: int) -> Iterator[Tape]:
    for t in tapes:
        k = int(np.searchsorted(t.ts_ns, ts_ns, side="left"))
        if k:
            yield t.slice(0, k)
        if k < t.n_events:
            return


def _from(tapes: Iterator[Tape], ts_ns: int) -> Iterator[Tape]:
    for t in tapes:
        k = int(np.searchsorted(t.ts_ns, ts_ns, side="left"))
        if k < t.n_events:
            yield t.slice(k, t.n_events)


def _chain(results: list[WindowResult]) -> pl.DataFrame:
    """Compound the windows' OOS curves into one curve starting at 1.0."""
    parts, level = [], 1.0
    for r in results:
        parts.append(r.oos_equity.with_columns(pl.col("equity") * level))
        level *= 1.0 + r.oos_return
    return pl.concat(parts)


def _rebased(equity: pl.DataFrame, start_ns: int) -> pl.DataFrame:
    """The curve from ``start_ns`` on, divided by its last value before ``start_ns`` (or its first after)."""
    before = equity.filter(pl.col("ts_ns") <= start_ns)
    base = float(before["equity"][-1]) if before.height else float(equity["equity"][0])
    return equity.filter(pl.col("ts_ns") >= start_ns).select("ts_ns", equity=pl.col("equity") / base)


def _per_day(returns: list[float], lengths_ns: list[int]) -> float:
    growth = float(np.sum(np.log1p(returns)))
    return float(np.expm1(growth * DAY_NS / sum(lengths_ns)))


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def _finite_or_none(v: float) -> float | None:
    return v if np.isfinite(v) else None
