"""Sweep throughput on 1, 2 and 4 Dask worker processes against the local ``prange`` run; overhead per task.

One synthetic lake (``--days`` of a 3-token market, generated into a temporary folder unless
``--lake`` names one) and one ``--rows``-row grid of ``--strategy``. For each setup the sweep is
run ``--repeat`` times after a warm-up that loads the kernel in every process (compile or cache
load is not timed); throughput is parameter rows x events per second of wall time, as the user
waits for it: scheduling, every task's lake read and the gathering of summaries included.

- local: `research.backtest.run_dataset`, one process, Numba threads on every CPU.
- dask, N workers: ``--cluster local:N`` (N worker processes, cpus / N Numba threads each), the
  rows split into the default 4 tasks per worker.
- overhead per task: on 1 worker process with 1 Numba thread (so that the kernel's work is the
  same however the rows are split), (time with one task per row - time with one task) /
  (rows - 1): what each extra task adds (scheduling, reading the lake, shared tables, results).

    python benchmarks/bench_dask.py                        # ~0.5 day, 32 rows of arbitrage
    python benchmarks/bench_dask.py --days 0.1 --rows 8 --workers 1 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, print_table, repeat, write_json  # noqa: E402

GRIDS = {  # a grid of each on-chain strategy, cut to --rows rows
    "arbitrage": lambda k: {"min_profit_lamports": 2_000.0 * (k % 16), "max_hops": 2 + (k // 16) % 2},
    "sniper": lambda k: {"min_liquidity_lamports": 1e8 * (k % 16), "buy_lamports": 1e8 * (1 + k // 16)},
    "copy_trade": lambda k: {"delay_slots": k % 16, "size_lamports": 1e8 * (1 + k // 16)},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=0.5, help="days of synthetic market (about 160 k events a day)")
    ap.add_argument("--lake", type=Path, default=None, help="an existing lake instead of a generated one")
    ap.add_argument("--strategy", choices=sorted(GRIDS), default="arbitrage")
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        lake_root = args.lake or _generated(Path(tmp) / "lake", args.days)
        results = measure(lake_root, args)
    print_table(results, ["mode", "workers", "threads_per_worker", "tasks", "rows", "events", "best_s", "median_s",
                          "row_events_per_s", "vs_local", "overhead_per_task_s"])
    write_json("bench_dask", {"bench": "dask", "strategy": args.strategy, "results": results, **environment()},
               args.json)


def _generated(root: Path, days: float) -> Path:
    from engine.feeds.synthetic import SyntheticConfig
    from engine.store.lake import Lake
    from research.generate import generate_into_lake

    generate_into_lake(Lake(root), SyntheticConfig(seed=11, days=days, n_tokens=3), progress=False)
    return root


def measure(lake_root: Path, args: argparse.Namespace) -> list[dict]:
    from engine.sim import Capacity, SimConfig
    from engine.store.lake import Lake
    from research.backtest import run_dataset
    from research.data import from_lake
    from research.distributed import TASKS_PER_THREAD, connect, run_block, sweep_on_cluster, worker_events
    from research.strategies import get

    lake = Lake(lake_root)
    data = from_lake(lake)
    strategy = get(args.strategy)
    params = strategy.params([GRIDS[args.strategy](k) for k in range(args.rows)])
    cfg = SimConfig(seed=1, impact="counterfactual", latency="uniform", latency_slots_max=2, compete_prob=0.2)
    cap = Capacity(max_fills=0)
    events = worker_events(lake, None, None, None)
    row_events = args.rows * data.n_events
    base = {"rows": args.rows, "events": data.n_events}

    def local() -> object:
        return run_dataset(data, strategy, params, cfg, capacity=cap, progress=False)

    local()  # compile or cache load
    t = repeat(local, args.repeat)
    local_rate = row_events / t["best_s"]
    results = [{"mode": "local prange", "threads_per_worker": os.cpu_count(), **base, **t,
                "row_events_per_s": local_rate, "vs_local": 1.0}]
    for n in args.workers:
        with connect(f"local:{n}") as client:
            client.run(run_block, events, data.market, strategy, params, 0, 1, cfg, cap)  # every worker loads
            threads = next(iter(client.run(_numba_threads).values()))
            t = repeat(lambda: sweep_on_cluster(client, events, data.market, strategy, params, cfg, capacity=cap,
                                                progress=False), args.repeat)
        row = {"mode": "dask", "workers": n, "threads_per_worker": threads,
               "tasks": min(args.rows, TASKS_PER_THREAD * n), **base,
               **t, "row_events_per_s": row_events / t["best_s"], "vs_local": row_events / t["best_s"] / local_rate}
        if n == 1 and args.rows > 1:
            row["overhead_per_task_s"] = overhead_per_task(events, data.market, strategy, params, cfg, cap,
                                                           args.repeat)
        results.append(row)
        print(f"{n} worker(s): {row['row_events_per_s'] / 1e6:.2f} M row-events/s ({time.strftime('%H:%M:%S')})",
              flush=True)
    return results


def overhead_per_task(events, market, strategy, params, cfg, cap, n_repeat: int) -> float:
    """Seconds each extra task adds, on one worker process with one Numba thread."""
    from distributed import Client, LocalCluster

    from research.distributed import run_block, sweep_on_cluster

    rows = params.shape[0]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        client.run(run_block, events, market, strategy, params, 0, 1, cfg, cap)
        times = {n: repeat(lambda n=n: sweep_on_cluster(client, events, market, strategy, params, cfg, capacity=cap,
                                                        n_tasks=n, progress=False), n_repeat)["best_s"]
                 for n in (1, rows)}
    return (times[rows] - times[1]) / (rows - 1)


def _numba_threads() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


if __name__ == "__main__":  # Dask starts worker processes by spawning: they must not run main() again
    main()
