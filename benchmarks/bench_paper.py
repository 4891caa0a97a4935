"""Paper trading (issue 7): decision latency, the highest sustained rate, memory over 3 days, load scenarios.

A real `PaperSession` runs each case (feed -> guard -> kernel -> journal writer thread ->
DuckDB), with a real strategy (``--strategy``, default copy_trade: called on every swap).
(arbitrage's prepare() builds its cycle table once per chunk until `Strategy` can say that it
reads only the market; with small chunks that dominates its latency.)

1. Decision latency (chunk arrival to kernel done = order intent, per event) at a sustained
   10,000 events/s, from a feed that releases a pre-generated 100+-pool tape at a fixed
   event rate; then rising rates, to find the highest one it keeps up with (lag behind the
   feed's schedule under 100 ms over the second half of the run).
2. Peak memory over a 3-day synthetic market (100+ pools) replayed at max speed, sampled from
   /proc every chunk: the peak, and the growth after warm-up (10 % of the run).
3. Load like a production bot's: 10, 50, 100 and 200 concurrent pools at x2000 real time, and
   a spike from 0 to 100 pools (the market's first slot lists every pool at once) after 2 s of
   silence.

    python benchmarks/bench_paper.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, print_table, write_json  # noqa: E402
from engine.exec.paper import PaperConfig, PaperSession  # noqa: E402
from engine.feeds.base import FeedStats  # noqa: E402
from engine.feeds.synthetic import SyntheticConfig, SyntheticMarket  # noqa: E402
from engine.feeds.synthetic_live import SyntheticLiveFeed, synthetic_market  # noqa: E402
from engine.schema import Tape  # noqa: E402
from engine.sim import SimConfig  # noqa: E402
from engine.store.lake import Lake  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class RateFeed:
    """Release a tape's events at ``rate`` events/s (all events due at each wake-up, at most ``max_chunk``)."""

    def __init__(self, tape: Tape, rate: float, *, max_chunk: int = 10_000, idle_s: float = 0.0) -> None:
        self.tape, self.rate, self.max_chunk, self.idle_s = tape, rate, max_chunk, idle_s
        self.stats = FeedStats()

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Tape]:
        await asyncio.sleep(self.idle_s)
        t0 = time.perf_counter_ns()
        pos, n = 0, self.tape.n_events
        while pos < n:
            if math.isinf(self.rate):
                due_ns, upto = t0, min(n, pos + self.max_chunk)
                await asyncio.sleep(0)
            else:
                due_ns = t0 + int(pos / self.rate * 1e9)
                await asyncio.sleep(max((due_ns - time.perf_counter_ns()) / 1e9, 0.0))
                now = time.perf_counter_ns()
                upto = min(n, pos + self.max_chunk, max(pos + 1, int((now - t0) / 1e9 * self.rate) + 1))
            self.stats.due_ns = due_ns
            self.stats.head_slot = int(self.tape.slot[upto - 1])
            yield self.tape.slice(pos, upto)
            pos = upto


def bench_params(strategy, spec: dict) -> np.ndarray:
    """Defaults, except that copy_trade follows the synthetic market's leader wallets (edge ones first)."""
    if strategy.name != "copy_trade":
        return strategy.params([{}])
    syn = SyntheticConfig.from_mapping(spec["synthetic"])
    first = syn.n_noise_traders + syn.n_arbitrageurs
    n = min(8, syn.n_leaders_edge + syn.n_leaders_noedge)
    leaders = [first + k for k in range(n)] + [-1] * (8 - n)
    return strategy.params([{"leaders": leaders}])


def run_case(strategy, spec: dict, market, feed_factory, *, label: str) -> dict:
    """Run one session; return per-event latency quantiles, lag, throughput and memory."""
    lat, sizes, lags, rss, span = [], [], [], [], []
    feed_ref: list = []

    def factory(start_slot):
        feed = feed_factory(start_slot)
        feed_ref.append(feed)
        return feed

    def on_step(chunk, step, arrival, done):
        lat.append(done - arrival)
        span.append((arrival, done))
        sizes.append(step.n_events)
        due = feed_ref[0].stats.due_ns
        lags.append(max(0, arrival - due) if due else 0)
        rss.append(rss_bytes())

    with tempfile.TemporaryDirectory() as tmp:
        s = PaperSession(Lake(tmp), "bench", strategy, bench_params(strategy, spec), cfg=SimConfig(seed=1),
                         feed_spec=spec,
                         paper=PaperConfig(flush_every_s=1.0, checkpoint_every_s=30.0, stall_timeout_s=30.0),
                         strategy_ref=strategy.name, market=market)
        t0 = time.perf_counter()
        out = s.run(feed_factory=factory, on_step=on_step)
        wall = time.perf_counter() - t0
    lat_ns, w = np.array(lat, dtype=np.float64), np.array(sizes)
    per_event = np.repeat(lat_ns, w) / 1e3 if w.sum() else np.zeros(1)
    half = len(lags) // 2
    rss_a = np.array(rss) if rss else np.zeros(1)
    warm = rss_a[len(rss_a) // 10:] if rss_a.size > 10 else rss_a
    busy_s = (span[-1][1] - span[0][0]) / 1e9 if span else math.nan  # first arrival to last decision
    return {"case": label, "pools": market.n_pools, "events": out.n_events, "wall_s": round(wall, 2),
            "events_per_s": out.n_events / busy_s if busy_s else math.nan,
            "p50_us": float(np.percentile(per_event, 50)), "p95_us": float(np.percentile(per_event, 95)),
            "p99_us": float(np.percentile(per_event, 99)), "max_us": float(per_event.max()),
            "lag_max_ms": float(max(lags) / 1e6) if lags else 0.0,
            "lag_2nd_half_max_ms": float(max(lags[half:]) / 1e6) if lags[half:] else 0.0,
            "rss_peak_mb": float(rss_a.max() / 2**20), "rss_after_warmup_mb": float(warm[0] / 2**20),
            "rss_end_mb": float(rss_a[-1] / 2**20), "chunks": len(lat), "fills": int(out.summary["n_filled"][0])
            if out.summary is not None else 0}


def memory_case(strat, days: float) -> dict:
    """A multi-day synthetic market (100+ pools) at max speed; RSS sampled every chunk."""
    syn = SyntheticConfig(seed=7, days=days, n_tokens=16)
    market, gen = synthetic_market(syn)
    del gen
    spec = {"kind": "synthetic", "synthetic": asdict(syn), "speed": "max"}
    mem = run_case(strat, spec, market, lambda s: SyntheticLiveFeed(syn, speed=math.inf, start_slot=s),
                   label=f"{days:g}-day market, max speed")
    mem["rss_growth_after_warmup_mb"] = mem["rss_end_mb"] - mem["rss_after_warmup_mb"]
    return mem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategy", default="copy_trade")
    ap.add_argument("--quick", action="store_true", help="shorter cases (1 day instead of 3, fewer rates)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--memory-days", type=float, default=None, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    from research.strategies import get

    strat = get(args.strategy)
    if args.memory_days is not None:
        print(json.dumps(memory_case(strat, args.memory_days)))
        return
    rows: list[dict] = []

    # 1. latency at 10k events/s and the highest sustained rate, over a pre-generated 100+-pool tape
    syn = SyntheticConfig(seed=5, days=0.5, n_tokens=16)
    market, _ = synthetic_market(syn)
    tape = SyntheticMarket(syn).generate()
    spec = {"kind": "synthetic", "synthetic": asdict(syn), "speed": "max"}
    for rate in ([10_000, 100_000, 1_000_000] if args.quick else [10_000, 30_000, 100_000, 300_000, 1_000_000]):
        n = min(tape.n_events, int(rate * (3 if rate <= 100_000 else 1.5)))
        row = run_case(strat, spec, market, lambda _s, r=rate, k=n: RateFeed(tape.slice(0, k), r),
                       label=f"rate {rate:,}/s")
        row["target_per_s"] = rate
        row["kept_up"] = row["lag_2nd_half_max_ms"] < 100.0
        rows.append(row)
        print(f"{row['case']}: p50 {row['p50_us']:.0f} us, p99 {row['p99_us']:.0f} us, "
              f"lag(2nd half) {row['lag_2nd_half_max_ms']:.1f} ms", flush=True)
    kept = [r["target_per_s"] for r in rows if r["kept_up"]]
    best = max(kept) if kept else 0
    unpaced = run_case(strat, spec, market, lambda _s: RateFeed(tape, math.inf), label="max (unpaced)")
    rows.append(unpaced)

    # 2. memory over a 3-day market at max speed, in a fresh process (nothing else in its heap)
    days = 1.0 if args.quick else 3.0
    child = subprocess.run([sys.executable, __file__, "--strategy", args.strategy, "--memory-days", str(days)],
                           capture_output=True, text=True, check=True)
    mem = json.loads(child.stdout.strip().splitlines()[-1])

    # 3. load scenarios: concurrent pools at x2000, and a spike from 0 to 100 pools
    load = []
    for tokens, label in ((1, "10 pools"), (8, "50 pools"), (17, "100 pools"), (35, "200 pools")):
        cfg = SyntheticConfig(seed=9, days=0.1, n_tokens=tokens, launches_per_day=0.0)
        m, _ = synthetic_market(cfg)
        sp = {"kind": "synthetic", "synthetic": asdict(cfg), "speed": 2000.0}
        r = run_case(strat, sp, m, lambda s, c=cfg: SyntheticLiveFeed(c, speed=2000.0, start_slot=s),
                     label=f"{label} x2000")
        load.append(r)
    cfg = SyntheticConfig(seed=9, days=0.05, n_tokens=17, launches_per_day=0.0)
    m, _ = synthetic_market(cfg)
    spike_tape = SyntheticMarket(cfg).generate()
    slots = spike_tape.slot
    per_s = spike_tape.n_events / ((slots[-1] - slots[0] + 1) * 0.4 / 2000.0)
    spike = run_case(strat, {"kind": "synthetic", "synthetic": asdict(cfg), "speed": 2000.0}, m,
                     lambda _s: RateFeed(spike_tape, per_s, idle_s=2.0), label="spike 0 -> 100 pools")
    load.append(spike)

    cols = ["case", "pools", "events", "events_per_s", "p50_us", "p95_us", "p99_us", "max_us", "lag_max_ms",
            "rss_peak_mb"]
    print("\n== decision latency and sustained rate")
    print_table(rows, [*cols[:3], "target_per_s", *cols[3:], "kept_up"])
    print(f"highest sustained rate: {best:,} events/s (unpaced: {unpaced['events_per_s']:,.0f} events/s)")
    print("\n== memory over a multi-day run")
    print_table([mem], ["case", "pools", "events", "wall_s", "events_per_s", "rss_peak_mb", "rss_after_warmup_mb",
                        "rss_end_mb", "rss_growth_after_warmup_mb", "fills"])
    print("\n== load scenarios")
    print_table(load, cols)
    doc = {"bench": "paper", "strategy": strat.name, "rates": rows, "highest_sustained_per_s": best,
           "memory": mem, "load": load, **environment()}
    write_json("bench_paper", doc, args.json)


if __name__ == "__main__":
    main()
