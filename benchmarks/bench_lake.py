"""Lake write and filtered-read throughput, and a 5,000-token registry sync.

Goals (issue 3): write >= 2 M rows/s, filtered read >= 10 M rows/s, registry sync < 0.2 s.
"Filtered read rows/s" counts the rows of the days scanned (the work a query covers), as a
query engine reports scan speed; the rows returned are printed beside it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import environment, print_table, repeat, write_json
from engine.layout import EventKind
from engine.schema import Tape
from engine.store import registry
from engine.store.lake import Lake

DAY0_NS = 1_767_225_600 * 10**9


def swap_tape(n: int, days: int) -> Tape:
    rng = np.random.default_rng([3, n])
    slot = np.sort(rng.integers(0, 216_000 * days, n))
    vals = np.zeros((n, 5))
    vals[:, :2] = rng.integers(1, 10**12, (n, 2))
    return Tape.from_columns(slot=slot, seq=np.arange(n) % 100_000, ts_ns=DAY0_NS + slot * 400_000_000,
                             kind=np.full(n, EventKind.SWAP), pool_id=rng.integers(0, 200, n),
                             wallet_id=rng.integers(0, 10_000, n), mint_id=rng.integers(0, 100, n),
                             side=rng.integers(0, 2, n), vals=vals)


def bench_lake(n: int, days: int, repeats: int) -> list[dict]:
    tape = swap_tape(n, days)
    root = Path(tempfile.mkdtemp(prefix="shoal-bench-lake-"))
    try:
        def write() -> None:
            shutil.rmtree(root / "lake", ignore_errors=True)
            Lake(root).ingest(tape, source="bench")

        w = repeat(write, repeats)
        lake = Lake(root)
        day_rows = lake.scan("swaps", start_ts_ns=DAY0_NS + 86_400 * 10**9,
                             stop_ts_ns=DAY0_NS + 2 * 86_400 * 10**9).select(pl.len()).collect().item()
        got = {}

        def read() -> None:
            got["df"] = lake.read("swaps", start_ts_ns=DAY0_NS + 86_400 * 10**9,
                                  stop_ts_ns=DAY0_NS + 2 * 86_400 * 10**9, pool_ids=[7, 8, 9])

        r = repeat(read, repeats)
        reingest = repeat(lambda: lake.ingest(tape, source="bench"), max(1, repeats // 2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [
        {"metric": "lake write", "rows": n, "median_s": w["median_s"], "rows_per_s": n / w["median_s"],
         "goal_rows_per_s": 2e6},
        {"metric": "lake re-ingest (all present)", "rows": n, "median_s": reingest["median_s"],
         "rows_per_s": n / reingest["median_s"]},
        {"metric": "filtered read (1 day, 3 pools)", "rows": day_rows, "returned": got["df"].height,
         "median_s": r["median_s"], "rows_per_s": day_rows / r["median_s"], "goal_rows_per_s": 1e7},
    ]


def bench_registry(repeats: int) -> dict:
    n = 5_000
    base = pl.DataFrame({"mint": [f"Mint{i:07d}" for i in range(n)], "symbol": [f"T{i}" for i in range(n)],
                         "decimals": np.full(n, 6, dtype=np.int16), "freeze_authority": np.zeros(n, dtype=bool)})
    rng = np.random.default_rng(5)
    sym = base["symbol"].to_list()
    for i in rng.choice(n, n // 20, replace=False):
        sym[i] += "-v2"
    snapshot = pl.concat([base.with_columns(pl.Series("symbol", sym)),
                          base.head(n // 50).with_columns(pl.col("mint") + "-new")])
    times = []
    for _ in range(repeats):
        root = Path(tempfile.mkdtemp(prefix="shoal-bench-reg-"))
        con = duckdb.connect(str(root / "shoal.duckdb"))
        registry.sync(con, "tokens", base, now_ns=1)
        t = repeat(lambda c=con: registry.sync(c, "tokens", snapshot, now_ns=2), 1)
        times.append(t["median_s"])
        con.close()
        shutil.rmtree(root, ignore_errors=True)
    times.sort()
    return {"metric": "registry sync 5,000 tokens (5 % changed, 2 % new)", "rows": n,
            "median_s": times[len(times) // 2], "goal_s": 0.2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None, help="output path (default benchmarks/results/bench_lake.json)")
    args = ap.parse_args()
    rows = [*bench_lake(args.rows, args.days, args.repeat), bench_registry(args.repeat)]
    print_table(rows, ["metric", "rows", "returned", "median_s", "rows_per_s", "goal_rows_per_s", "goal_s"])
    write_json("bench_lake", {"bench": "lake", "results": rows, **environment()}, args.json)


if __name__ == "__main__":
    main()
