"""The same moving-average crossover sweep in shoal and in vectorbt 1.x, side by side.

Each side runs in its own process on the same closes (a seeded random walk) and window grid:
wall time, peak RSS (``resource.getrusage`` in the child) and, per row, the largest absolute
difference in total return. shoal goes through its public API (`research.strategies.ma_cross.
sweep`: bars array in, table out), timed in-process after a warm-up (compile time apart).
vectorbt is used idiomatically: ``MA.run`` over the window grid, then ``Portfolio.from_signals``
on all columns at once; it runs from ``$SHOAL_VBT_PYTHON`` or the checkout's ``.venv-vbt``.
vectorbt needs about 60 bytes per bar-cell, so a size it cannot hold in this machine's
memory is reported as not run rather than swapping the machine to death.

    python benchmarks/bench_vs_vectorbt.py                 # the three sizes of issue 6
    python benchmarks/bench_vs_vectorbt.py --sizes 100000x10x10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, print_table, write_json  # noqa: E402

FEES = 0.001
VBT_BYTES_PER_CELL = 60

SHOAL_CHILD = r"""
import json, resource, sys, time
import numpy as np
job = json.loads(sys.argv[1])
close = np.load(job["close"])
fast, slow = np.load(job["fast"]), np.load(job["slow"])
t0 = time.perf_counter()
from research.strategies.ma_cross import sweep
sweep(close[:500], fast[:2], slow[:2], fees=job["fees"])  # compile or load from the cache
compile_s = time.perf_counter() - t0
times = []
for _ in range(job["repeat"]):
    t0 = time.perf_counter()
    table = sweep(close, fast, slow, fees=job["fees"])
    times.append(time.perf_counter() - t0)
np.save(job["out"], table["total_return"].to_numpy())
print(json.dumps({"compile_s": compile_s, "best_s": min(times), "median_s": sorted(times)[len(times) // 2],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "n_orders": int(table["n_orders"].sum())}))
"""

VBT_CHILD = r"""
import json, resource, sys, time
import numpy as np
job = json.loads(sys.argv[1])
import pandas as pd
import vectorbt as vbt
close = pd.Series(np.load(job["close"]))  # a Series is one column: it broadcasts against the grid
fast, slow = np.load(job["fast"]).tolist(), np.load(job["slow"]).tolist()
t0 = time.perf_counter()
w = vbt.MA.run(close[:500], window=[fast[0], slow[0]])  # compile vectorbt's kernels (cached on disk after)
compile_s = time.perf_counter() - t0
t0 = time.perf_counter()
fast_ma = vbt.MA.run(close, window=fast, short_name="fast")
slow_ma = vbt.MA.run(close, window=slow, short_name="slow")
entries = fast_ma.ma_crossed_above(slow_ma)
exits = fast_ma.ma_crossed_below(slow_ma)
pf = vbt.Portfolio.from_signals(close, entries, exits, fees=job["fees"], init_cash=100.0)
total_return = np.asarray(pf.total_return())
seconds = time.perf_counter() - t0
np.save(job["out"], total_return)
print(json.dumps({"compile_s": compile_s, "best_s": seconds, "median_s": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "n_orders": int(pf.orders.count().sum())}))
"""


def vbt_python() -> str | None:
    exe = os.environ.get("SHOAL_VBT_PYTHON") or str(ROOT / ".venv-vbt" / "bin" / "python")
    return exe if Path(exe).exists() else None


def child(exe: str, script: str, job: dict, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": str(threads)}
    out = subprocess.run([exe, "-c", script, json.dumps(job)], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def grid(n_fast: int, n_slow: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of ``n_fast`` fast windows (5, 7, ...) and ``n_slow`` slow ones (70, 80, ...)."""
    fast = 5 + 2 * np.arange(n_fast)
    slow = 70 + 10 * np.arange(n_slow)
    return np.repeat(fast, n_slow).astype(np.int64), np.tile(slow, n_fast).astype(np.int64)


def total_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", default=["100000x30x30", "1000000x10x10", "1000000x30x30"],
                    help="BARSxFASTxSLOW")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    vbt = vbt_python()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            n_bars, n_fast, n_slow = (int(x) for x in size.split("x"))
            rng = np.random.default_rng([6, n_bars])
            close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n_bars)))
            fast, slow = grid(n_fast, n_slow)
            paths = {k: str(Path(tmp) / f"{k}.npy") for k in ("close", "fast", "slow")}
            np.save(paths["close"], close)
            np.save(paths["fast"], fast)
            np.save(paths["slow"], slow)
            cells = n_bars * fast.size
            base = {"bars": n_bars, "pairs": int(fast.size), "bar_cells": cells}
            job = {**paths, "fees": FEES, "repeat": args.repeat, "out": str(Path(tmp) / "shoal.npy")}
            s = child(sys.executable, SHOAL_CHILD, job, args.threads)
            shoal_tr = np.load(job["out"])
            rows.append({**base, "side": "shoal", **s, "cells_per_s_per_thread": cells / s["median_s"] / args.threads})
            need = cells * VBT_BYTES_PER_CELL
            if vbt is None:
                rows.append({**base, "side": "vectorbt", "note": "not run: no vectorbt interpreter "
                             "(set SHOAL_VBT_PYTHON or create .venv-vbt)"})
                continue
            if need > 0.8 * total_memory_bytes():
                rows.append({**base, "side": "vectorbt", "note": f"not run: needs ~{need / 2**30:.0f} GiB "
                             f"({VBT_BYTES_PER_CELL} B per bar-cell), machine has "
                             f"{total_memory_bytes() / 2**30:.0f} GiB"})
                continue
            job_v = {**job, "out": str(Path(tmp) / "vbt.npy")}
            v = child(vbt, VBT_CHILD, job_v, args.threads)
            diff = float(np.max(np.abs(np.load(job_v["out"]) - shoal_tr)))
            per_thread = cells / v["median_s"] / args.threads
            rows.append({**base, "side": "vectorbt", **v, "cells_per_s_per_thread": per_thread,
                         "max_abs_diff_total_return": diff, "shoal_speedup": v["median_s"] / s["median_s"],
                         "same_orders": v["n_orders"] == s["n_orders"]})
    print_table(rows, ["bars", "pairs", "side", "compile_s", "median_s", "cells_per_s_per_thread", "peak_rss_mb",
                       "n_orders", "max_abs_diff_total_return", "shoal_speedup", "note"])
    write_json("bench_vs_vectorbt", {"bench": "vs_vectorbt", "fees": FEES, "threads": args.threads,
                                     "results": rows, **environment()}, args.json)


if __name__ == "__main__":
    main()
