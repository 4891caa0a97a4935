"""The Solana websocket feed as a paper/live feed, against the loopback websocket and JSON-RPC servers."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import polars as pl
import pytest

from engine.errors import ConfigError
from engine.exec.paper import build_feed, build_market
from engine.feeds.guard import FeedGuard
from engine.feeds.solana_chunks import SolanaChunkFeed, solana_feed_spec
from engine.feeds.solana_tx import parse_transaction
from engine.feeds.tx_ingest import TxSink
from engine.schema import Tape
from engine.store import registry
from engine.store.catalog import opened
from engine.store.lake import Lake
from tests.engine.feeds.loopback import (
    FIXTURES,
    WATCHED,
    Chain,
    RpcServer,
    WsScript,
    WsServer,
    recorded_transactions,
    replicate,
)

if not FIXTURES.is_dir():
    pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES", allow_module_level=True)

# backfilled before the session: their pools (three Pump.fun curves, two Raydium AMM v4) are the session's market
KNOWN = [recorded_transactions()[i] for i in (1, 2, 4, 9, 11)]
POOL_TERMS = {"pumpfun": (2, 100, 10_000), "raydium_amm_v4": (0, 25, 10_000)}  # kind, fee num, fee den by venue
PER_SLOT = 3


def docs(n: int) -> list[dict]:
    """``n`` copies of the recorded transactions, three to a slot (a slot's swaps may straddle two batches)."""
    out = replicate(recorded_transactions(), n)
    for k, d in enumerate(out):
        d["slot"] = 300_000_000 + k // PER_SLOT
    return out


DOCS = docs(51)
RPC = {"concurrency": 8, "max_rps": float("inf"), "timeout_ms": 1_000, "backoff_base_ms": 5, "backoff_max_ms": 50}
FEED = {"reconnect_base_ms": 10, "reconnect_max_ms": 50, "idle_timeout_ms": 3_000, "flush_ms": 2, "max_reconnects": 5,
        "chunk_max_txs": 2}  # batches of two transactions: slots of three straddle them


def lake_with_known_pools(root: Path) -> Lake:
    """The known transactions landed, and their pools' kind and fee filled in (as their accounts would say)."""
    lake = Lake(root)
    with opened(lake) as con:
        TxSink(lake, con, source="backfill").land([parse_transaction(d) for d in KNOWN])
        pools = registry.read(con, "pools")
        terms = [POOL_TERMS[v] for v in pools["venue"]]
        registry.sync(con, "pools", pl.DataFrame({
            "address": pools["address"], "pool_kind": [t[0] for t in terms], "fee_num": [t[1] for t in terms],
            "fee_den": [t[2] for t in terms]}, schema={"address": pl.String, "pool_kind": pl.Int8,
                                                      "fee_num": pl.Int64, "fee_den": pl.Int64}), full=False)
    return lake


def spec_for(lake: Lake, rpc_url: str, ws_url: str) -> dict:
    spec = solana_feed_spec(lake, ws=[ws_url], rpc=[rpc_url], watch=[WATCHED])
    return {**spec, "hold_ms": 300, "feed_options": FEED, "rpc_options": RPC}


def consume(spec: dict, lake: Lake, want: int, limit_s: float = 20.0) -> tuple[list[Tape], FeedGuard]:
    """Chunks through the guard until ``want`` swaps were either yielded or left outside the market."""

    async def go() -> tuple[list[Tape], FeedGuard]:
        feed = build_feed(spec, lake)
        guard = FeedGuard(feed, stall_timeout_s=5.0)
        chunks: list[Tape] = []
        t0 = time.monotonic()
        async for chunk in guard:
            chunks.append(chunk)
            if feed.stats.events + feed.stats.extra.get("outside_market", 0) >= want or \
                    time.monotonic() - t0 > limit_s:
                break
        return chunks, guard

    return asyncio.run(go())


def test_chunks_are_whole_slots_in_order_and_pools_outside_the_market_are_recorded_not_yielded(
        tmp_path: Path) -> None:
    # Arrange: the market is what the backfill registered; the feed announces copies of every recorded swap
    lake = lake_with_known_pools(tmp_path)
    want = sum(len(parse_transaction(d).swaps) for d in DOCS)
    with RpcServer(Chain(DOCS)) as rpc, WsServer(Chain(DOCS), WsScript(interval_s=0.004)) as ws:
        spec = spec_for(lake, rpc.url, ws.url)
        # Act
        chunks, guard = consume(spec, lake, want)
    # Assert: every swap is accounted for once, in whole slots, nothing dropped as late or repeated
    feed = guard.feed
    assert isinstance(feed, SolanaChunkFeed)
    outside = feed.stats.extra["outside_market"]
    assert feed.stats.events + outside == want and outside > 0 and feed.stats.events > 0
    assert sum(c.n_events for c in chunks) == feed.stats.events
    assert all(c.is_sorted() for c in chunks)
    assert all(b.slot[0] > a.slot[-1] for a, b in itertools.pairwise(chunks))
    assert guard.stats.out_of_order == 0 and guard.stats.duplicates == 0
    assert all((c.pool_id < spec["n_pools"]).all() for c in chunks)
    assert min(feed.outside_pools) >= spec["n_pools"] and sum(feed.outside_pools.values()) == outside
    # the feed landed everything in the lake, pools it met first included; the session's market stays pinned
    sigs = {d["transaction"]["signatures"][0] for d in DOCS}
    stored = lake.read("swaps").filter(pl.col("signature").is_in(sorted(sigs)))
    assert stored.height == want and (stored["pool_id"] >= spec["n_pools"]).sum() == outside
    with opened(lake) as con:
        assert registry.read(con, "pools").height > spec["n_pools"]
    assert build_market(spec, lake).n_pools == spec["n_pools"]


def test_the_spec_follows_the_registry_pools_and_their_self_contained_accounts(tmp_path: Path) -> None:
    lake = lake_with_known_pools(tmp_path)
    spec = solana_feed_spec(lake, ws=["ws://127.0.0.1:1/"], rpc=["http://127.0.0.1:1/"])
    with opened(lake) as con:
        pools, tokens = registry.read(con, "pools"), registry.read(con, "tokens")
    assert (spec["n_pools"], spec["n_tokens"]) == (pools.height, tokens.height)
    assert spec["mentions"] == pools["address"].to_list()
    curves = pools.filter(pools["venue"] == "pumpfun")
    assert curves.height > 0 and [a[0] for a in spec["accounts"]] == curves["address"].to_list()
    assert {a[1] for a in spec["accounts"]} == {"pumpfun_curve"} and all(a[2] for a in spec["accounts"])


def test_the_spec_refuses_an_empty_registry_and_bad_endpoints(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no pools registered"):
        solana_feed_spec(Lake(tmp_path / "empty"), ws=["ws://127.0.0.1:1/"], rpc=["http://127.0.0.1:1/"])
    lake = lake_with_known_pools(tmp_path / "lake")
    with pytest.raises(ConfigError, match="ws://"):
        solana_feed_spec(lake, ws=["http://127.0.0.1:1/"], rpc=["http://127.0.0.1:1/"])
    with pytest.raises(ConfigError, match="unknown settings"):
        build_feed({**solana_feed_spec(lake, ws=["ws://h/"], rpc=["http://h/"]), "wss": []}, lake)
