"""Synthetic market generator throughput: events per second on one core.

Times `generate_market` end to end (set-up, launch schedule, slot kernel, tape assembly) for a
configured market; the first call on a tiny market (Numba compile or cache load) is timed
apart. Prints a table and writes JSON (STYLE §2.9).

    .venv/bin/python benchmarks/bench_generate.py --days 1 --tokens 8 --repeat 5
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core: the generator has no prange anyway

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numba
import numpy as np

from engine.feeds.synthetic import SyntheticConfig, generate_market

GOAL_EVENTS_PER_S = 1_000_000


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=1.0, help="span of the market, days (default 1)")
    ap.add_argument("--tokens", type=int, default=8, help="listed tokens K (default 8)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "bench_generate.json"),
                    help="where to write the result (default benchmarks/results/bench_generate.json)")
    return ap.parse_args()


def environment() -> dict[str, object]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "machine": platform.machine(), "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "commit": commit}


def timed(cfg: SyntheticConfig) -> tuple[float, int]:
    t0 = time.perf_counter()
    _, tape = generate_market(cfg)
    return time.perf_counter() - t0, tape.n_events


def print_table(rows: list[dict[str, object]]) -> None:
    cols = ["bench", "days", "tokens", "n_events", "compile_s", "best_s", "median_s", "events_per_s_median",
            "events_per_s_best", "goal_met"]
    fmt = {"compile_s": "{:.3f}", "best_s": "{:.3f}", "median_s": "{:.3f}", "events_per_s_median": "{:,.0f}",
           "events_per_s_best": "{:,.0f}", "n_events": "{:,}"}
    cells = [[fmt.get(c, "{}").format(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def main() -> None:
    args = parse_args()
    cfg = SyntheticConfig(seed=args.seed, days=args.days, n_tokens=args.tokens)
    compile_s, _ = timed(SyntheticConfig(seed=args.seed, days=0.001, n_tokens=2))  # compile or cache load
    runs = [timed(cfg) for _ in range(args.repeat)]
    times_s = [t for t, _ in runs]
    n_events = runs[0][1]
    median_s = statistics.median(times_s)
    result = {
        "bench": "generate_synthetic", "days": args.days, "tokens": args.tokens, "seed": args.seed,
        "repeat": args.repeat, "n_events": n_events, "compile_s": compile_s, "best_s": min(times_s),
        "median_s": median_s, "events_per_s_median": n_events / median_s,
        "events_per_s_best": n_events / min(times_s), "goal_events_per_s": GOAL_EVENTS_PER_S,
        "goal_met": n_events / median_s >= GOAL_EVENTS_PER_S, **environment(),
    }
    print_table([result])
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
