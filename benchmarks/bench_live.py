"""Live venue: intent-to-signed-transaction latency, and transactions per second through the loopback server.

* ``sign``: one order from intent to a signed version-0 transaction, RPC excluded (pool accounts
  and blockhash already read): exact-twin quote, guards, instructions, compile, ed25519 sign.
  Goal: p99 under 5 ms (a hand-written bot in this field targeted 50 ms to send).
* ``send``: pre-signed swap transactions pushed with ``sendTransaction`` through the LiteSVM
  JSON-RPC server on 127.0.0.1 (each one executed: LiteSVM segments plus the exact-twin swap),
  ``--concurrency`` in flight, one HTTP request each, through the venue's send path
  (`TxSender`, aiohttp); ``send_rpcclient`` sends a third through the read client
  (`RpcClient`, httpx) for comparison; ``send_batched`` sends the last third as JSON-RPC batches
  of 100, which leaves mostly the server's own work. Goal: at least 1,000/s.
* ``loop``: whole orders through `LiveVenue.submit` (read pool, simulate, send, confirm, fetch,
  parse; blockhash reused for a second, one status poll for every order in flight),
  ``--concurrency`` in flight: about 4 RPC calls per order.

The server runs in a forked process on the same machine (both share its CPUs); its per-transaction
work (LiteSVM execution, exact-twin settlement, JSON) bounds ``send``.
Run: ``.venv/bin/python benchmarks/bench_live.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import environment, print_table, write_json
from engine.exec.live.guards import Guards, SendMode
from engine.exec.live.journal import DecisionJournal
from engine.exec.live.sender import TxSender
from engine.exec.live.tx import assemble
from engine.exec.live.venue import LiveIntent, LiveVenue
from engine.feeds.rpc import RpcClient
from engine.layout import Side
from tests.engine.exec.live.world import AMM_POOL_ID, FAST, make_world, open_venue, rpc_config


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-sign", type=int, default=20_000, help="orders signed for the latency figures")
    p.add_argument("--n-send", type=int, default=3_000, help="transactions sent for the send rate")
    p.add_argument("--n-loop", type=int, default=1_000, help="whole orders through the venue")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--rpc-concurrency", type=int, default=8, help="the read client's connections in the loop")
    p.add_argument("--json", default=None, help="output path (default benchmarks/results/bench_live.json)")
    return p.parse_args()


def _pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6


async def bench_sign(world, tmp: Path, n: int) -> dict:
    async with RpcClient(rpc_config(world.server.url)) as rpc:
        journal = DecisionJournal(tmp / "sign.jsonl")
        venue = LiveVenue(rpc, world.wallet, world.routes, Guards(world.guard_cfg), journal, mode=SendMode.DRY_RUN,
                          cfg=FAST)
        route = world.routes[AMM_POOL_ID]
        accounts = await venue._pool_accounts(route, Side.BUY)
        blockhash, _ = await venue._blockhash()
        journal.close()
    guards = Guards(world.guard_cfg)
    lat = []
    for i in range(n):
        intent = LiveIntent(order_id=i, pool_id=AMM_POOL_ID, side=Side.BUY, amount_in_raw=10**7 + i,
                            slippage_bps=100, cu_price_micro_lamports=10_000)
        t0 = time.perf_counter_ns()
        built = venue.build(route, intent, accounts)
        programs = {str(ix.program_id) for ix in built.instructions}
        guards.check(mints=built.mints, programs=programs, slippage_bps=intent.slippage_bps,
                     notional_lamports=built.notional_lamports, ts_ns=time.time_ns())
        msg = assemble(world.wallet.pubkey, built.instructions, blockhash, cu_limit=intent.cu_limit,
                       cu_price_micro_lamports=intent.cu_price_micro_lamports)
        tx = world.wallet.sign(msg)
        base64.b64encode(bytes(tx))
        lat.append(time.perf_counter_ns() - t0)
    return {"bench": "live_sign", "n": n, "p50_ms": _pct(lat, 0.50), "p95_ms": _pct(lat, 0.95),
            "p99_ms": _pct(lat, 0.99), "max_ms": max(lat) / 1e6, "mean_ms": statistics.fmean(lat) / 1e6,
            "per_s": n / (sum(lat) / 1e9)}


async def bench_send(world, tmp: Path, n: int, concurrency: int, batch: int = 100) -> list[dict]:
    async with RpcClient(rpc_config(world.server.url, concurrency=concurrency)) as rpc:
        journal = DecisionJournal(tmp / "send.jsonl")
        venue = LiveVenue(rpc, world.wallet, world.routes, Guards(world.guard_cfg), journal,
                          mode=SendMode.LIVE, cfg=FAST)
        route = world.routes[AMM_POOL_ID]
        accounts = await venue._pool_accounts(route, Side.BUY)
        blockhash, _ = await venue._blockhash()
        raws = []
        for i in range(n):  # each a distinct swap (distinct amount: distinct signature)
            intent = LiveIntent(order_id=i, pool_id=AMM_POOL_ID, side=Side.BUY, amount_in_raw=10**6 + i,
                                slippage_bps=500)
            built = venue.build(route, intent, accounts)
            msg = assemble(world.wallet.pubkey, built.instructions, blockhash, cu_limit=200_000,
                           cu_price_micro_lamports=1)
            raws.append(base64.b64encode(bytes(world.wallet.sign(msg))).decode())
        sem = asyncio.Semaphore(concurrency)
        params = {"encoding": "base64", "skipPreflight": True, "maxRetries": 0}
        third = len(raws) // 3
        async with TxSender((world.server.url,), concurrency=concurrency) as sender:
            async def one(raw: str) -> None:
                async with sem:
                    await sender.send(raw)

            t0 = time.perf_counter()
            await asyncio.gather(*(one(r) for r in raws[:third]))
            dt = time.perf_counter() - t0

        async def one_rpc(raw: str) -> None:
            async with sem:
                await rpc.call("sendTransaction", [raw, params])

        t0 = time.perf_counter()
        await asyncio.gather(*(one_rpc(r) for r in raws[third:2 * third]))
        dt_rpc = time.perf_counter() - t0
        # the last third as JSON-RPC batches of `batch` sends: the server's own rate, HTTP mostly amortised
        batches = [raws[k:k + batch] for k in range(2 * third, len(raws), batch)]
        async with httpx.AsyncClient(timeout=60) as http:
            t1 = time.perf_counter()
            for group in batches:
                body = [{"jsonrpc": "2.0", "id": j, "method": "sendTransaction", "params": [r, params]}
                        for j, r in enumerate(group)]
                (await http.post(world.server.url, json=body)).raise_for_status()
            dt_batch = time.perf_counter() - t1
        journal.close()
        landed = 0
        sigs = [str(__import__("solders.transaction", fromlist=["x"]).VersionedTransaction.from_bytes(
            base64.b64decode(r)).signatures[0]) for r in raws]
        for k in range(0, len(sigs), 256):
            st = await rpc.call("getSignatureStatuses", [sigs[k:k + 256]])
            landed += sum(1 for x in st["value"] if x is not None and x["err"] is None)
    return [{"bench": "live_send", "n": third, "concurrency": concurrency, "seconds": dt, "per_s": third / dt,
             "landed": landed, "client": "TxSender (aiohttp)"},
            {"bench": "live_send_rpcclient", "n": third, "concurrency": concurrency, "seconds": dt_rpc,
             "per_s": third / dt_rpc, "landed": landed, "client": "RpcClient (httpx)"},
            {"bench": "live_send_batched", "n": len(raws) - 2 * third, "batch": batch, "seconds": dt_batch,
             "per_s": (len(raws) - 2 * third) / dt_batch, "landed": landed}]


async def bench_loop(world, tmp: Path, n: int, concurrency: int, rpc_concurrency: int) -> dict:
    async with open_venue(world, tmp, send_via=(world.server.url,), rpc_concurrency=rpc_concurrency) as venue:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with sem:
                r = await venue.submit(LiveIntent(order_id=10**6 + i, pool_id=AMM_POOL_ID, side=Side.BUY,
                                                  amount_in_raw=10**6 + i, slippage_bps=500))
                return r.outcome

        t0 = time.perf_counter()
        outcomes = await asyncio.gather(*(one(i) for i in range(n)))
        dt = time.perf_counter() - t0
        await venue.reconcile()
    filled = outcomes.count("filled")
    return {"bench": "live_loop", "n": n, "concurrency": concurrency, "rpc_concurrency": rpc_concurrency,
            "seconds": dt, "per_s": filled / dt, "landed": filled, "reconciled": True}


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_live_"))
    world = make_world(tmp, slot_ms=400.0, valid_blocks=150)  # mainnet timing: 400 ms slots, 150 blocks
    world.server.airdrop(world.wallet.pubkey, 10**15)
    world.server.start_process()  # its own process: client and server do not share an interpreter lock
    try:
        sign = asyncio.run(bench_sign(world, tmp, args.n_sign))
        send = asyncio.run(bench_send(world, tmp, args.n_send, args.concurrency))
        loop = asyncio.run(bench_loop(world, tmp, args.n_loop, args.concurrency, args.rpc_concurrency))
    finally:
        world.server.stop()
    rows = [sign, *send, loop]
    print_table(rows, ["bench", "n", "concurrency", "batch", "p50_ms", "p95_ms", "p99_ms", "max_ms", "per_s",
                       "landed", "client"])
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    write_json("bench_live", {"results": rows, "goals": {"sign_p99_ms": 5.0, "send_per_s": 1_000},
                              **environment()}, args.json)


if __name__ == "__main__":
    main()
