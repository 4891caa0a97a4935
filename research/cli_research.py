"""`shoal backtest`, `shoal sweep`, `shoal report`: run strategies over the lake or a bars file."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import polars as pl
import typer

from engine.errors import ConfigError
from engine.sim import Capacity, SimConfig
from engine.store.catalog import opened
from engine.store.lake import Lake, resolve_root
from research import runs
from research.backtest import equity_every, run_dataset
from research.cli_common import DebugOpt, JsonOpt, LakeOpt, command
from research.data import Dataset, from_bars_file, from_lake, parse_time
from research.output import console, print_json, table
from research.overfit import overfit_line, sweep_equity_every, sweep_overfit_doc
from research.params import build_params, parse_pairs, read_grid

if TYPE_CHECKING:
    from research.distributed import SweepFrames

StrategyOpt = Annotated[str, typer.Option("--strategy", "-s", help="Strategy name (see `shoal strategies`).")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="name=value; repeat for more.")]
SimOpt = Annotated[list[str] | None, typer.Option(
    "--sim", help="Fill/cost model setting name=value (SimConfig field, e.g. latency_slots_max=3, "
                  "impact=none; default impact=counterfactual); repeatable.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Start time (ISO, UTC), inclusive.")]
ToOpt = Annotated[str | None, typer.Option("--to", help="End time (ISO, UTC), exclusive.")]
BarsOpt = Annotated[Path | None, typer.Option("--bars", help="OHLCV CSV or Parquet file instead of the lake.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the fill model's random draws.")]
ChunkOpt = Annotated[int | None, typer.Option("--chunk-events", min=1, help="Events per kernel call.")]
FillsOpt = Annotated[int, typer.Option("--max-fills", min=1, help="Fill records kept (the run stops when full).")]

HEADLINE = ("total_return", "max_drawdown", "final_equity", "n_orders", "n_filled", "trades", "win_rate",
            "fee_dex", "fee_base", "fee_priority", "tip")


def _strategy(name: str):
    from research.strategies import get

    return get(name)


def _dataset(lake: Lake, bars: Path | None, start: str | None, stop: str | None) -> Dataset:
    if bars is not None:
        return from_bars_file(bars)
    return from_lake(lake, start_ts_ns=parse_time(start), stop_ts_ns=parse_time(stop))


def _sim(pairs: list[str] | None, seed: int, dataset: Dataset, params: np.ndarray) -> SimConfig:
    raw = {k: v[0] for k, v in parse_pairs(pairs, ranges=False).items()}
    # On recorded pools our own trades must move the price, or a backtest harvests the same
    # gap again on every event until the next recorded state: counterfactual unless told.
    cfg = SimConfig.from_mapping({"seed": seed, "impact": "counterfactual", **raw})
    if dataset.source.startswith("bars:") and "init_cash" not in raw:  # bar runs count cash in quote units
        init = float(params["init_cash"][0]) if "init_cash" in (params.dtype.names or ()) else 100.0
        cfg = replace(cfg, init_cash=init)
    return cfg


def grid_params(strat, grid: Path | None, param: list[str] | None, job: str) -> tuple[dict, np.ndarray]:
    """Axes and rows of ``--grid FILE`` and ``--param`` ranges (their product); ``job`` names the command."""
    axes = read_grid(grid) if grid is not None else {}
    axes |= parse_pairs(param, ranges=True)
    if not axes:
        msg = f"{job} needs parameter ranges: --param name=a:b:step (repeat for a product) or --grid FILE"
        raise ConfigError(msg)
    return axes, build_params(strat, axes)


def _headline(summary: pl.DataFrame) -> pl.DataFrame:
    return summary.with_columns(
        (pl.col("wins") / pl.when(pl.col("trades") > 0).then(pl.col("trades")).otherwise(None)).alias("win_rate"))


@command
def strategies(json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """List the strategies with their parameters and defaults."""
    from research.strategies import STRATEGIES

    doc = {name: {"module": s.module, "events": None if s.events is None else [int(k) for k in s.events],
                  "params": {k: _jsonable_value(v) for k, v in s.defaults.items()},
                  "doc": (_module_doc(s.module) or "").strip().splitlines()[0:1]}
           for name, s in STRATEGIES.items()}
    if json:
        print_json({"strategies": doc})
        return
    for name, d in doc.items():
        params = ", ".join(f"{k}={v}" for k, v in d["params"].items())
        console.print(f"[bold]{name}[/]  {' '.join(d['doc'])}\n  {params}")


def _module_doc(module: str) -> str | None:
    import importlib

    return importlib.import_module(module).__doc__


@command
def backtest(strategy: StrategyOpt, param: ParamOpt = None, sim: SimOpt = None, from_: FromOpt = None,
             to: ToOpt = None, bars: BarsOpt = None, seed: SeedOpt = 0, chunk_events: ChunkOpt = None,
             max_fills: FillsOpt = 200_000, lake: LakeOpt = None, json: JsonOpt = False,
             debug: DebugOpt = False) -> None:
    """Run one parameter set over the lake (or a bars file) and record the run."""
    strat = _strategy(strategy)
    target = Lake(resolve_root(lake))
    grid = parse_pairs(param, ranges=False)
    params = build_params(strat, grid)
    data = _dataset(target, bars, from_, to)
    cfg = replace(_sim(sim, seed, data, params), equity_every_slots=equity_every(data))
    cap = Capacity(max_equity=data.n_slots // cfg.equity_every_slots + 3, max_fills=max_fills)
    t0 = time.perf_counter()
    result = run_dataset(data, strat, params, cfg, chunk_events=chunk_events, capacity=cap, progress=not json)
    seconds = time.perf_counter() - t0
    summary = _headline(result.summary)
    target.root.mkdir(parents=True, exist_ok=True)
    with opened(target) as con:
        rec = runs.record(target, con, kind="backtest", strategy=strat.name, params=params, sim=cfg.to_dict(),
                          data=data.describe(), headline=_pick(summary.row(0, named=True)),
                          frames={"summary": summary, "fills": result.fills, "equity": result.equity})
    doc = {"run_id": rec.run_id, "strategy": strat.name, "params": rec.params[0], "data": data.describe(),
           "seconds": round(seconds, 3), "events_per_s": data.n_events / seconds if seconds else None,
           "summary": _jsonable(summary.row(0, named=True))}
    if json:
        print_json(doc)
        return
    console.print(table(f"backtest {strat.name} on {data.source} ({data.n_events:,} events, {seconds:.1f} s)",
                        ["metric", "value"], [(k, doc["summary"].get(k)) for k in HEADLINE]))
    console.print(f"run id: [bold]{rec.run_id}[/]  (report: shoal report {rec.run_id})")


@command
def sweep(strategy: StrategyOpt, param: Annotated[list[str] | None, typer.Option(
              "--param", "-p", help="name=a:b:step (inclusive when b is on the grid), name=v1,v2 or name=v.")] = None,
          grid: Annotated[Path | None, typer.Option("--grid", help="TOML file with a [grid] table.")] = None,
          sim: SimOpt = None, from_: FromOpt = None, to: ToOpt = None, bars: BarsOpt = None, seed: SeedOpt = 0,
          top: Annotated[int, typer.Option("--top", min=1, help="Rows to print.")] = 10,
          sort: Annotated[str, typer.Option("--sort", help="Summary column to rank rows by.")] = "total_return",
          cluster: Annotated[str | None, typer.Option(
              "--cluster", help="Run on Dask: tcp://HOST:PORT (a scheduler; workers read the lake by path or URL) "
                                "or local:N (N worker processes here).")] = None,
          tasks: Annotated[int | None, typer.Option(
              "--tasks", min=1, help="Tasks the rows are split into on a cluster (default 4 per worker).")] = None,
          lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Run every parameter combination in one vectorised kernel call (or across a Dask cluster); rank the rows."""
    strat = _strategy(strategy)
    if cluster is not None:
        from research.distributed import local_workers

        local_workers(cluster)  # a malformed spec fails now, not after the lake is read
    elif tasks is not None:
        msg = "--tasks splits the rows across a cluster; add --cluster tcp://HOST:PORT or --cluster local:N"
        raise ConfigError(msg)
    target = Lake(resolve_root(lake))
    axes, params = grid_params(strat, grid, param, "a sweep")
    data = _dataset(target, bars, from_, to)
    # equity sampled per row: the per-period returns behind the deflated Sharpe ratio and the PBO
    cfg = replace(_sim(sim, seed, data, params), equity_every_slots=sweep_equity_every(data.n_slots))
    cap = Capacity(max_fills=0, max_equity=data.n_slots // cfg.equity_every_slots + 3)
    label = f"sweep {params.shape[0]:,} rows"
    t0 = time.perf_counter()
    if cluster is None:
        frames = run_dataset(data, strat, params, cfg, capacity=cap, progress=not json, label=label)
        on = None
    else:
        frames, on = _sweep_on_cluster(cluster, tasks, target, bars, from_, to, data, strat, params, cfg, cap,
                                       not json, label)
    seconds = time.perf_counter() - t0
    summary = _headline(frames.summary)
    if sort not in summary.columns:
        msg = f"cannot sort by {sort!r}; summary columns are {summary.columns}"
        raise ConfigError(msg)
    ranked = summary.sort(sort, descending=True, nulls_last=True)
    overfit = sweep_overfit_doc(summary, frames.equity, int(ranked["row"][0]))
    with opened(target) as con:
        best = _pick(ranked.row(0, named=True))
        rec = runs.record(target, con, kind="sweep", strategy=strat.name, params=params, sim=cfg.to_dict(),
                          data=data.describe(), headline={"rows": params.shape[0], "best": best,
                                                          "dsr": overfit["dsr"], "pbo": overfit["pbo"]},
                          frames={"summary": summary, "equity": frames.equity})
    if json:
        print_json({"run_id": rec.run_id, "strategy": strat.name, "axes": axes, "rows": params.shape[0],
                    "seconds": round(seconds, 3), "row_events_per_s": data.n_events * params.shape[0] / seconds,
                    "cluster": on, "data": data.describe(), "overfit": overfit,
                    "summary": [_jsonable(r) for r in summary.iter_rows(named=True)]})
        return
    names = [f"param_{k}" for k in axes]
    cols = [*names, sort, "max_drawdown", "n_filled", "trades"]
    cols = list(dict.fromkeys(c for c in cols if c in ranked.columns))
    where = "" if on is None else f", {on['workers']} Dask workers, {on['tasks']} tasks"
    console.print(table(f"sweep {strat.name}: best {min(top, ranked.height)} of {params.shape[0]:,} rows "
                        f"({seconds:.1f} s, {data.n_events * params.shape[0] / seconds / 1e6:,.1f} M row-events/s"
                        f"{where})",
                        [c.removeprefix("param_") for c in cols], ranked.head(top).select(cols).rows()))
    console.print(overfit_line(overfit))
    console.print(f"run id: [bold]{rec.run_id}[/]  (report: shoal report {rec.run_id})")


def _sweep_on_cluster(spec: str, tasks: int | None, lake: Lake, bars: Path | None, start: str | None,
                      stop: str | None, data: Dataset, strat, params: np.ndarray, cfg: SimConfig, cap: Capacity,
                      progress: bool, label: str) -> tuple[SweepFrames, dict]:
    """Split the rows across the cluster ``spec`` names; workers read the events themselves."""
    from research.distributed import connect, gather_sweep, submit_sweep, worker_events

    events = worker_events(lake, bars, parse_time(start), parse_time(stop))
    with connect(spec) as client:
        sent = submit_sweep(client, events, data.market, strat, params, cfg, capacity=cap, n_tasks=tasks)
        frames = gather_sweep(sent, progress=progress, label=label)
        on = {"address": spec, "workers": len(client.nthreads()), "tasks": len(sent.blocks)}
    return frames, on


@command
def report(run_id: Annotated[str, typer.Argument(help="Run id from `shoal backtest` or `shoal sweep`.")],
           out: Annotated[Path | None, typer.Option("--out", help="Folder (default <lake>/reports/RUN).")] = None,
           lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Write the HTML tear sheet and PNG figures of a recorded run; print the path."""
    from research.report import write_report

    target = Lake(resolve_root(lake))
    with opened(target) as con:
        rec, frames = runs.load(target, con, run_id)
    folder = out or target.root / "reports" / run_id
    path = write_report(folder, title=f"{rec.strategy} {rec.kind} {rec.run_id}", summary=frames["summary"],
                        equity=frames.get("equity"), fills=frames.get("fills"), params=rec.params,
                        meta={**{k: v for k, v in rec.to_dict().items() if k != "params"}})
    if json:
        print_json({"run_id": run_id, "report": str(path), "figures": sorted(str(p) for p in folder.glob("*.png"))})
    else:
        console.print(f"report: {path}")


def _pick(row: dict) -> dict:
    return {k: _jsonable_value(row.get(k)) for k in HEADLINE if k in row}


def _jsonable(row: dict) -> dict:
    return {k: _jsonable_value(v) for k, v in row.items()}


def _jsonable_value(v: object) -> object:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v.tolist() if hasattr(v, "tolist") else v
