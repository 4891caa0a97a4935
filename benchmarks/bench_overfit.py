"""What the overfitting controls cost: CSCV and DSR per sweep size, equity sampling in a sweep, a walk-forward.

1. `sweep_overfit` (period returns, DSR, PBO over C(16, 8) = 12,870 splits) on ``--periods``
   equity samples per row, for each ``--rows`` size.
2. An ma_cross sweep of ``--sweep-rows`` rows over ``--bars`` minute bars, without and with the
   equity sampling a sweep now keeps (about 240 samples per row): wall time of each.
3. `walk_forward` of a 20-row ma_cross grid over six days of minute bars (train 2 d, test 1 d).

    python benchmarks/bench_overfit.py
    python benchmarks/bench_overfit.py --rows 100 1000 --sweep-rows 200 --bars 20000
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, print_table, repeat, write_json  # noqa: E402
from engine.sim import Capacity, Market, SimConfig, run  # noqa: E402
from research.data import Dataset  # noqa: E402
from research.overfit import sweep_equity_every, sweep_overfit  # noqa: E402
from research.strategies import get  # noqa: E402
from research.strategies._bars import bar_tape  # noqa: E402
from research.walkforward import DAY_NS, slice_dataset, walk_forward  # noqa: E402

MINUTE_NS = 60 * 10**9


def equity_frame(n_rows: int, n_periods: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Hourly equity samples of ``n_rows`` random-walk rows, and their summary (row, init_cash)."""
    rng = np.random.default_rng(seed)
    levels = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, (n_periods, n_rows)), axis=0)
    hour = 3_600 * 10**9
    equity = pl.DataFrame({"row": np.repeat(np.arange(n_rows, dtype=np.int32), n_periods),
                           "slot": np.tile(np.arange(n_periods, dtype=np.int64), n_rows),
                           "ts_ns": np.tile(np.arange(n_periods, dtype=np.int64) * hour, n_rows),
                           "equity": levels.T.ravel()})
    return equity, pl.DataFrame({"row": np.arange(n_rows, dtype=np.int32), "init_cash": np.full(n_rows, 100.0)})


def bars(n: int, seed: int = 1):
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 0.001, n)))
    ts = np.arange(n, dtype=np.int64) * MINUTE_NS
    return bar_tape(close, ts_ns=ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100, 1_000, 10_000])
    ap.add_argument("--periods", type=int, default=240)
    ap.add_argument("--sweep-rows", type=int, default=500)
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="Output path (default benchmarks/results/bench_overfit.json).")
    args = ap.parse_args()

    controls = []
    for n in args.rows:
        equity, summary = equity_frame(n, args.periods)
        t = repeat(lambda e=equity, s=summary: sweep_overfit(s, e, 0), args.repeats)
        controls.append({"rows": n, "periods": args.periods, "splits": 12_870, **t,
                         "row_splits_per_s": n * 12_870 / t["median_s"]})
    print_table(controls, ["rows", "periods", "splits", "median_s", "best_s", "row_splits_per_s"])

    ma = get("ma_cross")
    tape = bars(args.bars)
    k = int(np.ceil(np.sqrt(args.sweep_rows)))
    params = ma.params([{"fast": 2 + i, "slow": 2 + k + 2 * j} for i in range(k) for j in range(k)][:args.sweep_rows])
    cfg = SimConfig(init_cash=100.0)
    every = sweep_equity_every(tape.n_events)
    sampled = replace(cfg, equity_every_slots=every)
    run(tape, ma, params[:2], market=Market.for_bars(1), cfg=sampled, capacity=Capacity(max_fills=0))  # load/compile
    plain = repeat(lambda: run(tape, ma, params, market=Market.for_bars(1), cfg=cfg,
                               capacity=Capacity(max_fills=0)), args.repeats)
    with_eq = repeat(lambda: run(tape, ma, params, market=Market.for_bars(1), cfg=sampled,
                                 capacity=Capacity(max_fills=0)), args.repeats)
    sweep_rows = [{"equity": "off", "rows": params.shape[0], "bars": args.bars, **plain},
                  {"equity": f"every {every} bars", "rows": params.shape[0], "bars": args.bars, **with_eq}]
    print_table(sweep_rows, ["equity", "rows", "bars", "median_s", "best_s"])

    n = 6 * 1_440
    wf_tape = bars(n, seed=2)
    data = Dataset(tapes=lambda: iter([wf_tape]), market=Market.for_bars(1), source="bars:bench", n_events=n,
                   first_ts_ns=0, last_ts_ns=int(wf_tape.ts_ns[-1]), n_slots=n)
    grid = ma.params(fast=[2, 4, 8, 16], slow=[24, 48, 96, 192, 384])
    wf = repeat(lambda: walk_forward(data, lambda a, b: slice_dataset(data, a, b), ma, grid, cfg,
                                     train_ns=2 * DAY_NS, test_ns=DAY_NS), args.repeats)
    walk = [{"bars": n, "rows": grid.shape[0], "windows": 4, **wf}]
    print_table(walk, ["bars", "rows", "windows", "median_s", "best_s"])
    write_json("bench_overfit", {"environment": environment(), "overfit_controls": controls, "sweep_equity": sweep_rows,
                           "walkforward": walk}, args.json)


if __name__ == "__main__":
    main()
