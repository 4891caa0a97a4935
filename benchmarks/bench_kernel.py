"""Kernel throughput and sweep scaling (issue 5).

1. Events per second on one thread over a ~10 M-event synthetic tape: a strategy that listens
   to nothing (market state still updated), one called on every event, and a trading one.
2. Compile time cold (a fresh Numba cache, in a subprocess) and warm (cache load).
3. Sweep scaling at 1, 100, 1,000 and 10,000 rows on one tape, each size in its own process:
   wall time, row-events per second and peak RSS, to show memory grows with rows only by
   their ledgers and summaries.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, print_table, write_json  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import numpy as np
from engine.feeds.synthetic import SyntheticConfig, generate_market
from engine.schema import Tape
from engine.sim import Capacity, Market, SimConfig, run
from tests.engine.sim.scripted import SCRIPTED
from tests.engine.sim.toy_strategies import NOOP, NOOP_ALL

job = json.loads(sys.argv[1])
syn, tape = generate_market(SyntheticConfig(seed=7, days=job["days"], n_tokens=job["tokens"]))
market = Market.from_registries(syn.pools, syn.tokens, n_markets=syn.markets.height)
rss_tape = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
pool = int(syn.pools.filter((syn.pools["quote_mint_id"] == 0) & (syn.pools["base_mint_id"] >= 2))["pool_id"][0])
strategies = {"noop": NOOP, "noop_all": NOOP_ALL, "scripted": SCRIPTED}
strategy = strategies[job["strategy"]]
if job["strategy"] == "scripted":
    rows = [{"at_event": 10 + r % 97, "every": 5_000 + r, "pool0": pool, "side0": 0, "amount_in_raw": 1e8,
             "cu_price": 1e3, "sell_at": 10 + r % 97 + 2_500} for r in range(job["rows"])]
    params = SCRIPTED.params(rows)
else:
    params = strategy.params([{}] * job["rows"])
cfg = SimConfig(init_cash=1e12, latency="uniform", latency_slots_max=2, compete_prob=0.1)
cap = Capacity(max_fills=0) if job["rows"] > 1 else Capacity()
t0 = time.perf_counter()
run(tape.slice(0, 1_000), strategy, params[:1], market=market, cfg=cfg, capacity=cap)
compile_s = time.perf_counter() - t0
times = []
for _ in range(job["repeat"]):
    t0 = time.perf_counter()
    res = run(tape, strategy, params, market=market, cfg=cfg, capacity=cap)
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"n_events": tape.n_events, "rows": job["rows"], "compile_s": compile_s,
                  "best_s": times[0], "median_s": times[len(times) // 2],
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "rss_after_tape_bytes": rss_tape, "n_filled": int(res.summary["n_filled"].sum())}))
"""


def child(job: dict, *, threads: int, cache_dir: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": str(threads)}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
        env["SHOAL_KERNEL_DIR"] = cache_dir + "/kernels"
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=13.0, help="synthetic days for the throughput tape (~10 M events)")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--sweep-days", type=float, default=0.15, help="days for the sweep-scaling tape")
    ap.add_argument("--rows", default="1,100,1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for name in ("noop", "noop_all", "scripted"):
        r = child({"days": args.days, "tokens": args.tokens, "strategy": name, "rows": 1, "repeat": args.repeat},
                  threads=1)
        rows.append({"bench": f"throughput {name}", "threads": 1, "rows": 1, "n_events": r["n_events"],
                     "median_s": r["median_s"], "events_per_s": r["n_events"] / r["median_s"],
                     "compile_or_load_s": r["compile_s"], "peak_rss_mb": r["peak_rss_bytes"] / 2**20,
                     "goal": "100 M/s" if name == "noop" else ""})
    with tempfile.TemporaryDirectory(prefix="shoal-cold-") as cold:
        t0 = time.perf_counter()
        r = child({"days": 0.01, "tokens": 2, "strategy": "scripted", "rows": 1, "repeat": 1}, threads=1,
                  cache_dir=cold)
        rows.append({"bench": "compile cold (fresh cache)", "compile_or_load_s": r["compile_s"],
                     "process_s": time.perf_counter() - t0})
        r = child({"days": 0.01, "tokens": 2, "strategy": "scripted", "rows": 1, "repeat": 1}, threads=1,
                  cache_dir=cold)
        rows.append({"bench": "compile warm (cache load)", "compile_or_load_s": r["compile_s"]})
    threads = os.cpu_count() or 1
    for n_rows in (int(x) for x in args.rows.split(",")):
        r = child({"days": args.sweep_days, "tokens": args.tokens, "strategy": "scripted", "rows": n_rows,
                   "repeat": 1 if n_rows >= 1000 else args.repeat}, threads=threads)
        rows.append({"bench": "sweep scripted", "threads": threads, "rows": n_rows, "n_events": r["n_events"],
                     "median_s": r["median_s"], "row_events_per_s": r["n_events"] * n_rows / r["median_s"],
                     "peak_rss_mb": r["peak_rss_bytes"] / 2**20,
                     "rss_growth_per_row_kb": (r["peak_rss_bytes"] - r["rss_after_tape_bytes"]) / n_rows / 1024})
    print_table(rows, ["bench", "threads", "rows", "n_events", "median_s", "events_per_s", "row_events_per_s",
                       "compile_or_load_s", "peak_rss_mb", "rss_growth_per_row_kb", "goal"])
    write_json("bench_kernel", {"bench": "kernel", "results": rows, **environment()}, args.json)


if __name__ == "__main__":
    main()
