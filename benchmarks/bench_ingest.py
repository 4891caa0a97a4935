"""Ingest throughput: getTransaction JSON parsed into swaps per second, on one core.

Parses every real mainnet transaction in ``shared/fixtures/0xjeffro-tx-parser`` (raw bytes, so JSON decoding is
included) ``--passes`` times per repeat, pinned to one CPU, and reports the median and best of ``--repeat``
repeats, overall and per fixture kind (router/venue). It also splits the cost into JSON decoding alone and parsing
of already-decoded documents. Prints a table and writes ``benchmarks/results/bench_ingest.json``.
Goal (issue 8): at least 20,000 transactions per second. It then measures RPC backfill throughput
(`bench_backfill`) against a loopback JSON-RPC server at concurrency 1, 8 and 32.

    .venv/bin/python benchmarks/bench_ingest.py [--passes 200] [--repeat 5] [--backfill-txs 1000]
        [--concurrency 1 8 32] [--latency-ms 0 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_REPO))

from engine.feeds import solana_tx  # noqa: E402
from engine.feeds.solana_tx import parse_transaction, parse_transaction_bytes  # noqa: E402

GOAL_TX_PER_S = 20_000
DEFAULT_FIXTURES = Path(os.environ.get("SHOAL_FIXTURES", _REPO.parent / "shared" / "fixtures")) / "0xjeffro-tx-parser"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--passes", type=int, default=200, help="passes over all fixtures per timed repeat")
    p.add_argument("--repeat", type=int, default=5, help="timed repeats; median and best are reported")
    p.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="folder of getTransaction JSON files")
    p.add_argument("--backfill-txs", type=int, default=1000, help="transactions the loopback RPC server holds")
    p.add_argument("--backfill-repeat", type=int, default=3, help="timed backfills per row")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="RPC requests in flight")
    p.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0], help="added per RPC answer")
    p.add_argument("--json", type=Path, default=_REPO / "benchmarks" / "results" / "bench_ingest.json")
    return p.parse_args()


def load_fixtures(folder: Path) -> dict[str, list[bytes]]:
    """Return raw transaction documents grouped by kind ``router/venue`` (``direct``/``none`` when absent)."""
    if not folder.is_dir():
        msg = f"fixture folder {folder} was not found; Hint: pass --fixtures or set SHOAL_FIXTURES"
        raise SystemExit(msg)
    kinds: dict[str, list[bytes]] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "expected_values.json" or path.name.startswith("broken_"):
            continue
        raw = json.loads(path.read_bytes())[0]  # fixtures are one-element arrays: keep the object only
        tx = parse_transaction(raw)
        kind = f"{tx.router or 'direct'}/{tx.dex or 'none'}"
        kinds.setdefault(kind, []).append(json.dumps(raw).encode())
    return kinds


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def throughput(n_items: int, fn: Callable[[], object], repeat: int) -> dict[str, float]:
    """Run ``fn`` once to warm up, then ``repeat`` times; return items/s (median, best) and seconds."""
    fn()
    times_s = [timed(fn) for _ in range(repeat)]
    return {
        "n_items": n_items,
        "median_s": statistics.median(times_s),
        "best_s": min(times_s),
        "median_per_s": n_items / statistics.median(times_s),
        "best_per_s": n_items / min(times_s),
    }


def bench_parse(kinds: dict[str, list[bytes]], passes: int, repeat: int) -> list[dict[str, object]]:
    """Parse throughput (raw bytes -> ParsedTx), overall, split into JSON decode and parse, and per kind."""
    all_raw = [r for raws in kinds.values() for r in raws]
    docs = [solana_tx._loads(r) for r in all_raw]

    def parse_all(raws: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(passes):
                for r in raws:
                    parse_transaction_bytes(r)

        return run

    def loads_only() -> None:
        for _ in range(passes):
            for r in all_raw:
                solana_tx._loads(r)

    def dicts_only() -> None:
        for _ in range(passes):
            for d in docs:
                parse_transaction(d)

    n = passes * len(all_raw)
    rows: list[dict[str, object]] = [
        {"bench": "parse_tx", "kind": "all (bytes -> ParsedTx)", **throughput(n, parse_all(all_raw), repeat)},
        {"bench": "parse_tx", "kind": "  JSON decode only", **throughput(n, loads_only, repeat)},
        {"bench": "parse_tx", "kind": "  parse of decoded dicts", **throughput(n, dicts_only, repeat)},
    ]
    for kind, raws in sorted(kinds.items()):
        rows.append({"bench": "parse_tx", "kind": kind, **throughput(passes * len(raws), parse_all(raws), repeat)})
    return rows


def bench_backfill(args: argparse.Namespace) -> list[dict[str, object]]:
    """Backfill throughput (RPC pages -> parsed -> lake rows) against a loopback JSON-RPC server.

    The server (``tests/engine/feeds/loopback.py``) serves the real fixtures replicated under fresh
    signatures, ``--backfill-txs`` of them, in one thread of this process; it adds ``latency_ms``
    to every answer to stand in for the network. Each row is one full backfill into a fresh lake
    (listing, concurrent fetches, parsing, registry upserts, Parquet writes), timed end to end.
    """
    import asyncio
    import tempfile

    from engine.feeds.backfill import BackfillConfig, backfill
    from engine.feeds.rpc import RpcClient, RpcConfig
    from engine.store.catalog import opened
    from engine.store.lake import Lake
    from tests.engine.feeds.loopback import WATCHED, Chain, Faults, RpcServer, recorded_transactions, replicate

    docs = replicate(recorded_transactions(), args.backfill_txs)  # set up outside the timed part
    rows: list[dict[str, object]] = []
    for latency_ms in args.latency_ms:
        with RpcServer(Chain(docs), Faults(delay_s=latency_ms / 1000)) as server:
            for concurrency in args.concurrency:
                times_s, swaps = [], 0
                for _ in range(args.backfill_repeat):
                    with tempfile.TemporaryDirectory() as tmp:
                        lake = Lake(tmp)
                        cfg = RpcConfig(endpoints=(server.url,), concurrency=concurrency, max_rps=float("inf"),
                                        timeout_ms=30_000)

                        async def run(lake: Lake = lake, cfg: RpcConfig = cfg) -> int:
                            async with RpcClient(cfg) as rpc:
                                with opened(lake) as con:
                                    rep = await backfill(rpc, lake, con, BackfillConfig(address=WATCHED))
                            return rep.land.written.get("swaps", 0)

                        t0 = time.perf_counter()
                        swaps = asyncio.run(run())
                        times_s.append(time.perf_counter() - t0)
                n = len(docs)
                rows.append({"bench": "backfill", "kind": f"latency {latency_ms:g} ms, concurrency {concurrency}",
                             "latency_ms": latency_ms, "concurrency": concurrency, "n_items": n, "swaps": swaps,
                             "median_s": statistics.median(times_s), "best_s": min(times_s),
                             "median_per_s": n / statistics.median(times_s), "best_per_s": n / min(times_s)})
    return rows


def environment() -> dict[str, object]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "pinned_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "json_decoder": f"{solana_tx._loads.__module__}.{solana_tx._loads.__name__}",
        "commit": commit,
    }


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{'bench':<10} {'kind':<38} {'items':>9} {'median /s':>12} {'best /s':>12}")
    for r in rows:
        print(
            f"{r['bench']:<10} {r['kind']:<38} {r['n_items']:>9,} {r['median_per_s']:>12,.0f} {r['best_per_s']:>12,.0f}"
        )


def main() -> None:
    args = parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, as the goal is stated
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    kinds = load_fixtures(args.fixtures)  # set up outside the timed part
    rows = bench_parse(kinds, args.passes, args.repeat) + bench_backfill(args)
    print_table(rows)
    overall = rows[0]["median_per_s"]
    print("(backfill rows: transactions per second, end to end into a fresh lake; server in-process on the same core)")
    verdict = "meets" if overall >= GOAL_TX_PER_S else "misses"
    print(f"\nparse throughput {overall:,.0f} tx/s (median) {verdict} the goal of {GOAL_TX_PER_S:,} tx/s on one core")
    result = {
        "bench": "ingest",
        "n_fixtures": sum(len(v) for v in kinds.values()),
        "passes": args.passes,
        "repeat": args.repeat,
        "goal_tx_per_s": GOAL_TX_PER_S,
        "meets_goal": overall >= GOAL_TX_PER_S,
        "rows": rows,
        **environment(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
