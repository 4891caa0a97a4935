"""Quotes per second per core for each pool kind, float kernels in a jitted loop vs the exact twins.

Run: ``.venv/bin/python benchmarks/bench_amm.py [--n 2000000] [--n-exact 20000] [--repeat 7] [--json PATH]``.
Prints a table and writes JSON (default ``benchmarks/results/bench_amm.json``). Inputs are fixed
(seeded), built outside the timed part; compile (or cache load) time is reported apart; each
row reports the best and median of ``--repeat`` runs on one thread (``prange`` is not used).
Goals (issue 4): constant product >= 100 M/s, CLMM within one tick >= 30 M/s, curve >= 100 M/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit

from engine.amm import state as S
from engine.amm.clmm import clmm_swap_in_nb
from engine.amm.cpmm import cpmm_out_nb
from engine.amm.curve import curve_sol_out_nb, curve_tokens_out_nb
from engine.amm.exact import clmm_exact_in, cpmm_exact_in, curve_sell_proceeds, sqrt_price_from_tick
from engine.amm.quote import quote_nb

GOALS = {"cpmm_out_nb": 100e6, "clmm_swap_in_nb (one tick)": 30e6, "curve_sol_out_nb": 100e6,
         "curve_tokens_out_nb": 100e6}


@njit(cache=True)
def loop_cpmm_nb(a, r_in, r_out):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += cpmm_out_nb(a[i], r_in[i], r_out[i], 25.0, 10_000.0)
    return acc


@njit(cache=True)
def loop_curve_sell_nb(a, vs, vt):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += curve_sol_out_nb(a[i], vs[i], vt[i], 100.0)
    return acc


@njit(cache=True)
def loop_curve_buy_nb(a, vs, vt):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += curve_tokens_out_nb(a[i], vs[i], vt[i], 100.0)
    return acc


@njit(cache=True)
def loop_clmm_nb(a, sp, liq, a_to_b, tick_index, tick_net):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += clmm_swap_in_nb(a[i], a_to_b[i], sp[i], 0.0, liq[i], 3000.0, 1e6, tick_index, tick_net, 0,
                               tick_index.shape[0], np.nan, False)[1]
    return acc


@njit(cache=True)
def loop_quote_nb(a, rows, sides, states, tick_index, tick_net):
    acc = 0.0
    for i in range(a.shape[0]):
        row = states[rows[i]]
        acc += quote_nb(int(row[0]), row, sides[i], a[i], tick_index, tick_net)
    return acc


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def environment() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(), "commit": commit}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2_000_000, help="quotes per kernel run")
    ap.add_argument("--n-exact", type=int, default=20_000, help="quotes per exact-twin run")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "bench_amm.json"))
    args = ap.parse_args()

    rng = np.random.default_rng([4, 20240601])
    n = args.n
    a = np.floor(10.0 ** rng.uniform(3, 12, n))
    r_in = np.floor(10.0 ** rng.uniform(12, 16, n))
    r_out = np.floor(10.0 ** rng.uniform(12, 16, n))
    vs = np.floor(rng.uniform(30e9, 115e9, n))
    vt = np.floor(30e9 * 1.073e15 / vs)
    sol = np.floor(10.0 ** rng.uniform(5, 10, n))
    tick_index = np.array([-20_000, 20_000], dtype=np.int32)
    tick_net = np.array([1e18, -1e18])
    liq = np.full(n, 1e18)
    sp = 1.0 + rng.uniform(-1e-3, 1e-3, n)
    a_small = np.floor(10.0 ** rng.uniform(3, 9, n))  # stays within the tick range
    a_to_b = rng.integers(0, 2, n).astype(np.bool_)
    states = S.empty_states(3)
    S.set_cpmm(states, 0, reserve_base_raw=4e12, reserve_quote_raw=1e12)
    S.set_curve(states, 1, virtual_token_raw=8e14, virtual_sol_raw=4e10, real_token_raw=5e14)
    S.set_clmm(states, 2, sqrt_price_x64=1 << 64, tick=0, liquidity=10**18, fee_rate=3000, base_is_a=True,
               tick_start=0, tick_count=2)
    rows = rng.integers(0, 3, n).astype(np.int64)
    sides = rng.integers(0, 2, n).astype(np.int64)

    cases = [
        ("cpmm_out_nb", loop_cpmm_nb, (a, r_in, r_out)),
        ("curve_sol_out_nb", loop_curve_sell_nb, (a, vs, vt)),
        ("curve_tokens_out_nb", loop_curve_buy_nb, (sol, vs, vt)),
        ("clmm_swap_in_nb (one tick)", loop_clmm_nb, (a_small, sp, liq, a_to_b, tick_index, tick_net)),
        ("quote_nb (mixed kinds)", loop_quote_nb, (a_small, rows, sides, states, tick_index, tick_net)),
    ]
    results = []
    for name, fn, fargs in cases:
        compile_s = timed(fn, *(x[:10] if isinstance(x, np.ndarray) and x.shape[0] == n else x for x in fargs))
        times = [timed(fn, *fargs) for _ in range(args.repeat)]
        results.append({"bench": name, "kind": "kernel", "n": n, "compile_s": compile_s, "best_s": min(times),
                        "median_s": statistics.median(times), "quotes_per_s": n / statistics.median(times),
                        "goal_per_s": GOALS.get(name)})

    m = args.n_exact
    ai, rii, roi = (x[:m].astype(np.int64).tolist() for x in (a, r_in, r_out))
    vsi, vti = vs[:m].astype(np.int64).tolist(), vt[:m].astype(np.int64).tolist()
    sp0 = sqrt_price_from_tick(0) + 12345
    ticks = [(-20_000, 10**18), (20_000, -(10**18))]
    asm = a_small[:m].astype(np.int64).tolist()
    dirs = a_to_b[:m].tolist()
    exact_cases = [
        ("cpmm_exact_in", lambda: [cpmm_exact_in(x, y, z, 25, 10_000) for x, y, z in zip(ai, rii, roi, strict=True)]),
        ("curve_sell_proceeds", lambda: [curve_sell_proceeds(x, y, z) for x, y, z in zip(ai, vsi, vti, strict=True)]),
        ("clmm_exact_in (one tick)",
         lambda: [clmm_exact_in(x, d, sp0, 0, 10**18, 3000, ticks) for x, d in zip(asm, dirs, strict=True)]),
    ]
    for name, fn in exact_cases:
        times = [timed(fn) for _ in range(max(1, args.repeat // 2))]
        results.append({"bench": name, "kind": "exact", "n": m, "compile_s": 0.0, "best_s": min(times),
                        "median_s": statistics.median(times), "quotes_per_s": m / statistics.median(times),
                        "goal_per_s": None})

    print(f"{'bench':32} {'kind':7} {'n':>10} {'compile s':>10} {'median s':>10} {'quotes/s':>14} {'goal':>8}")
    for r in results:
        goal = "" if r["goal_per_s"] is None else ("ok" if r["quotes_per_s"] >= r["goal_per_s"] else "MISSED")
        print(f"{r['bench']:32} {r['kind']:7} {r['n']:>10,} {r['compile_s']:>10.3f} {r['median_s']:>10.4f} "
              f"{r['quotes_per_s']:>14,.0f} {goal:>8}")
    out = {"bench": "amm", "repeat": args.repeat, "results": results, **environment()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
