"""Lake write, re-ingest and filtered read on object storage beside the same work on a local folder.

Without ``--url`` the bucket lives on a moto server started here on 127.0.0.1: a pure-Python
S3 stand-in, so its numbers bound shoal's own overhead (one PUT per file, one LIST per table
scan, ranged GETs) rather than predict a real store. Point ``--url`` at a real bucket (with the
usual AWS_* variables) to measure that store instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_lake import DAY0_NS, swap_tape
from benchmarks.common import environment, print_table, repeat, write_json
from engine.store.lake import Lake

DAY_NS = 86_400 * 10**9


@contextmanager
def moto_bucket() -> Iterator[str]:
    """A fresh bucket on a moto server on 127.0.0.1; yield its URL (the AWS_* variables point at it)."""
    from tests.moto_s3 import new_bucket, s3_server

    with s3_server() as env:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield f"s3://{new_bucket(env)}/bench"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def bench_root(where: str, root: str, n: int, days: int, repeats: int) -> list[dict]:
    tape = swap_tape(n, days)
    roots = iter(f"{root}/{i}" if "://" in root else str(Path(root) / str(i)) for i in range(repeats))
    w = repeat(lambda: Lake(next(roots)).ingest(tape, source="bench"), repeats)
    lake = Lake(f"{root}/{repeats - 1}" if "://" in root else Path(root) / str(repeats - 1))
    reingest = repeat(lambda: lake.ingest(tape, source="bench"), max(1, repeats // 2))
    window = {"start_ts_ns": DAY0_NS + DAY_NS, "stop_ts_ns": DAY0_NS + 2 * DAY_NS}
    day_rows = lake.scan("swaps", **window).collect().height
    r = repeat(lambda: lake.read("swaps", **window, pool_ids=[7, 8, 9]), repeats)
    full = repeat(lambda: lake.read_tape(), max(1, repeats // 2))
    return [
        {"where": where, "metric": "write", "rows": n, "median_s": w["median_s"], "rows_per_s": n / w["median_s"]},
        {"where": where, "metric": "re-ingest (all present)", "rows": n, "median_s": reingest["median_s"],
         "rows_per_s": n / reingest["median_s"]},
        {"where": where, "metric": "filtered read (1 day, 3 pools)", "rows": day_rows, "median_s": r["median_s"],
         "rows_per_s": day_rows / r["median_s"]},
        {"where": where, "metric": "read whole tape", "rows": n, "median_s": full["median_s"],
         "rows_per_s": n / full["median_s"]},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--url", default=None, help="s3://bucket/prefix of a real store (default: a local moto server)")
    ap.add_argument("--json", default=None, help="output path (default benchmarks/results/bench_lake_s3.json)")
    args = ap.parse_args()
    local = tempfile.mkdtemp(prefix="shoal-bench-s3-")
    try:
        rows = bench_root("local folder", local, args.rows, args.days, args.repeat)
        if args.url:
            rows += bench_root("s3 " + args.url, f"{args.url.rstrip('/')}/{uuid.uuid4().hex[:8]}", args.rows,
                               args.days, args.repeat)
        else:
            with moto_bucket() as url:
                rows += bench_root("s3 (moto, 127.0.0.1)", url, args.rows, args.days, args.repeat)
    finally:
        shutil.rmtree(local, ignore_errors=True)
    print_table(rows, ["where", "metric", "rows", "median_s", "rows_per_s"])
    write_json("bench_lake_s3", {"bench": "lake_s3", "moto": args.url is None, "results": rows, **environment()},
               args.json)


if __name__ == "__main__":
    main()
