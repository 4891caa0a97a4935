"""Throughput of each strategy of issue 6, and a 1,000-row sweep's time and peak memory.

1. Events per second, one row, one thread: the on-chain strategies over a synthetic tape of
   about ``--events`` events (`SyntheticConfig`, days chosen to reach it), the bar strategies
   over a random-walk BAR tape of the same length.
2. A ``--rows``-row sweep of each strategy (a grid over its main parameters, fills not kept)
   over a shorter tape: wall time, row-events per second and peak RSS.

Each measurement runs in its own process (peak RSS from ``resource.getrusage``); compile or
cache-load time is reported apart.

    python benchmarks/bench_strategies.py                    # ~10 M events, 1,000 rows
    python benchmarks/bench_strategies.py --events 1000000 --rows 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, print_table, write_json  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import numpy as np
from engine.sim import Capacity, Market, SimConfig, run
from research.strategies import get
from research.strategies._bars import bar_tape

job = json.loads(sys.argv[1])
s = get(job["strategy"])
t0 = time.perf_counter()
if s.name in ("ma_cross", "breakout"):
    rng = np.random.default_rng([6, job["events"]])
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, job["events"])))
    tape = bar_tape(close, high=close * 1.002, low=close * 0.998)
    market = Market.for_bars(1)
    cfg = SimConfig(init_cash=100.0, mark_every_slots=1 << 40)
else:
    from engine.feeds.synthetic import SyntheticConfig, generate_market
    syn, tape = generate_market(SyntheticConfig(seed=7, days=job["days"], n_tokens=8, launches_per_day=96.0))
    market = Market.from_registries(syn.pools, syn.tokens, n_markets=syn.markets.height)
    cfg = SimConfig(init_cash=1e12, latency="uniform", latency_slots_max=2)
    leaders = syn.truth.leaders["wallet_id"].to_list()[:8]
gen_s = time.perf_counter() - t0
rows = job["rows"]
if s.name == "ma_cross":
    side = max(1, int(round(rows ** 0.5)))
    grid = [{"fast": 2 + k, "slow": 40 + 5 * j} for k in range(side) for j in range(side)][:rows]
elif s.name == "breakout":
    grid = [{"window": 5 + k % 40, "exit_window": 3 + k // 40} for k in range(rows)]
elif s.name == "arbitrage":
    grid = [{"min_profit_lamports": 1e4 * (k % 50), "max_size_raw": 1e9 * (1 + k // 50)} for k in range(rows)]
elif s.name == "copy_trade":
    grid = [{"leaders": (leaders + [-1] * 8)[:8], "delay_slots": k % 20, "size_lamports": 1e8 * (1 + k // 20)}
            for k in range(rows)]
else:
    grid = [{"min_liquidity_lamports": 1e8 * (k % 50), "buy_lamports": 1e8 * (1 + k // 50)} for k in range(rows)]
params = s.params(grid)
cap = Capacity(max_fills=0)  # fills counted in the summary, records not kept: throughput, not storage
t0 = time.perf_counter()
run(tape.slice(0, 2_000), s, params[:1], market=market, cfg=cfg, capacity=cap)
compile_s = time.perf_counter() - t0
times = []
for _ in range(job["repeat"]):
    t0 = time.perf_counter()
    res = run(tape, s, params, market=market, cfg=cfg, capacity=cap)
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"n_events": tape.n_events, "rows": rows, "compile_s": compile_s, "generate_s": gen_s,
                  "best_s": times[0], "median_s": times[len(times) // 2],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "n_orders": int(res.summary["n_orders"].sum())}))
"""

NAMES = ("arbitrage", "copy_trade", "sniper", "ma_cross", "breakout")
EVENTS_PER_DAY = 1_000_000  # synthetic market with 8 tokens and 96 launches a day, about


def child(job: dict, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events of the throughput tape")
    ap.add_argument("--sweep-events", type=int, default=1_000_000, help="events of the sweep tape")
    ap.add_argument("--rows", type=int, default=1_000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--strategies", nargs="*", default=list(NAMES))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = []
    for name in args.strategies:
        job = {"strategy": name, "events": args.events, "days": args.events / EVENTS_PER_DAY, "rows": 1,
               "repeat": args.repeat}
        r = child(job, 1)
        results.append({"bench": "throughput", "strategy": name, "threads": 1, **r,
                        "events_per_s": r["n_events"] / r["median_s"]})
        job = {**job, "events": args.sweep_events, "days": args.sweep_events / EVENTS_PER_DAY, "rows": args.rows,
               "repeat": 1}
        r = child(job, args.threads)
        results.append({"bench": "sweep", "strategy": name, "threads": args.threads, **r,
                        "row_events_per_s": r["n_events"] * r["rows"] / r["median_s"]})
    print_table(results, ["bench", "strategy", "threads", "rows", "n_events", "compile_s", "median_s", "events_per_s",
                          "row_events_per_s", "peak_rss_mb", "n_orders"])
    write_json("bench_strategies", {"bench": "strategies", "results": results, **environment()}, args.json)


if __name__ == "__main__":
    main()
