"""`shoal walkforward`: re-optimise on rolling training windows, judge each choice on the window after."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from engine.errors import ConfigError
from engine.store.atomic import write_atomic
from engine.store.lake import Lake, resolve_root
from research.analytics import every_ns
from research.cli_common import DebugOpt, JsonOpt, LakeOpt, command
from research.cli_research import (
    BarsOpt,
    FromOpt,
    SeedOpt,
    SimOpt,
    StrategyOpt,
    ToOpt,
    _dataset,
    _sim,
    _strategy,
    grid_params,
)
from research.data import Dataset, from_lake
from research.output import console, err_console, print_json, table
from research.walkforward import WalkForward, make_windows, slice_dataset, walk_forward

DurationOpt = Annotated[str, typer.Option(help="Duration: a number and a unit (m, h, d, w), e.g. 2d or 12h.")]


@command
def walkforward(strategy: StrategyOpt, param: Annotated[list[str] | None, typer.Option(
                    "--param", "-p", help="name=a:b:step, name=v1,v2 or name=v (as in `shoal sweep`).")] = None,
                grid: Annotated[Path | None, typer.Option("--grid", help="TOML file with a [grid] table.")] = None,
                train: DurationOpt = "2d", test: DurationOpt = "1d",
                step: Annotated[str | None, typer.Option(help="Move between windows (default: --test).")] = None,
                metric: Annotated[str, typer.Option(
                    help="Statistic to choose the best training row by, higher is better (total_return, sharpe, "
                         "sortino, profit_factor ...).")] = "total_return",
                sim: SimOpt = None, from_: FromOpt = None, to: ToOpt = None, bars: BarsOpt = None, seed: SeedOpt = 0,
                out: Annotated[Path | None, typer.Option(
                    "--out", help="Folder for walkforward.png and .json (default <lake>/reports/wf-...).")] = None,
                lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Choose the best row on each training window, run it on the next window, report IS vs OOS, PBO and DSR."""
    train_ns, test_ns = every_ns(train), every_ns(test)
    step_ns = test_ns if step is None else every_ns(step)
    strat = _strategy(strategy)
    target = Lake(resolve_root(lake))
    axes, params = grid_params(strat, grid, param, "a walk-forward")
    if params.shape[0] < 2:
        msg = "a walk-forward chooses among parameter rows, but the grid has 1 row; give at least one range"
        raise ConfigError(msg)
    data = _dataset(target, bars, from_, to)
    cfg = _sim(sim, seed, data, params)
    n_windows = len(make_windows(data.first_ts_ns, data.last_ts_ns, train_ns=train_ns, test_ns=test_ns,
                                 step_ns=step_ns))
    t0 = time.perf_counter()
    with Progress(TextColumn(f"[bold]walk-forward {params.shape[0]:,} rows"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("windows"), console=err_console, disable=json, transient=True) as bar:
        task = bar.add_task("windows", total=n_windows + 1)
        wf = walk_forward(data, _loader(target, data, bars), strat, params, cfg, train_ns=train_ns,
                          test_ns=test_ns, step_ns=step_ns, metric=metric, on_window=lambda _: bar.advance(task))
    seconds = time.perf_counter() - t0
    folder = out or target.root / "reports" / f"wf-{datetime.now(tz=UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    doc = {"strategy": strat.name, "axes": axes, "rows": int(params.shape[0]), "data": data.describe(),
           "train": train, "test": test, "step": step or test, "seconds": round(seconds, 3), **wf.to_dict()}
    doc["figure"] = str(_write(folder, wf, doc))
    if json:
        print_json(doc)
        return
    _print(doc, wf, [k for k, v in axes.items() if len(v) > 1])


def _loader(lake: Lake, data: Dataset, bars: Path | None):
    """Read a window from the lake by time (only its days), or slice the bars file already in memory."""
    if bars is not None:
        return lambda start_ns, stop_ns: slice_dataset(data, start_ns, stop_ns)
    return lambda start_ns, stop_ns: from_lake(lake, start_ts_ns=start_ns, stop_ts_ns=stop_ns)


def _write(folder: Path, wf: WalkForward, doc: dict) -> Path:
    """Save the figure and the JSON document next to it; return the figure's path."""
    import io
    import json as jsonlib

    from research.overfit_plots import plot_walkforward

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    plot_walkforward(wf).savefig(buf, format="png", dpi=100)
    path = folder / "walkforward.png"
    write_atomic(path, lambda tmp: tmp.write_bytes(buf.getvalue()))
    text = jsonlib.dumps({**doc, "figure": str(path)}, indent=2, default=str)
    write_atomic(folder / "walkforward.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def _print(doc: dict, wf: WalkForward, varying: list[str]) -> None:
    by_metric = doc["metric"] != "total_return"
    rows = [(w["index"], w["test_from"][:16].replace("T", " "), " ".join(f"{k}={w['params'][k]}" for k in varying),
             *([w["metric_value"]] if by_metric else []), _pct(w["is_return"]), _pct(w["is_median_return"]),
             _pct(w["oos_return"]), _pct(w["oos_median_return"]), f"{w['oos_rank']:.2f}") for w in doc["windows"]]
    console.print(table(f"walk-forward {doc['strategy']}: {doc['rows']:,} rows, train {doc['train']}, test "
                        f"{doc['test']}, step {doc['step']}, chosen by {doc['metric']} ({doc['seconds']:.1f} s)",
                        ["#", "test from (UTC)", "chosen", *([doc["metric"]] if by_metric else []), "IS", "IS med",
                         "OOS", "OOS med", "OOS rank"], rows))
    o = doc["overfit"]
    best = " ".join(f"{k}={doc['is_best']['params'][k]}" for k in varying)
    console.print(f"out of sample, compounded: [bold]{_pct(doc['oos_total_return'])}[/] "
                  f"({_pct(doc['oos_return_per_day'])} a day; in sample {_pct(doc['is_return_per_day'])} a day)")
    console.print(f"in-sample best row over the whole span: {best} {_pct(doc['is_best']['total_return'])}; "
                  f"deflated Sharpe ratio [bold]{_num(doc['dsr'])}[/] "
                  f"(Sharpe {_num(o['deflated_sharpe']['sharpe'])} per period vs "
                  f"{_num(o['deflated_sharpe']['expected_max_sharpe'])} expected from the best of "
                  f"{o['deflated_sharpe']['n_trials']:,} lucky trials)")
    console.print(f"probability of backtest overfitting (CSCV, {o['cscv']['n_splits']:,} splits): "
                  f"[bold]{wf.overfit.pbo.pbo:.2f}[/]")
    console.print(f"figure: {doc['figure']}")


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.2%}"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
