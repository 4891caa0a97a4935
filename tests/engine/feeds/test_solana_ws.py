"""Live websocket feed against loopback websocket + JSON-RPC servers with faults."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.feeds.rpc import RpcClient, RpcConfig
from engine.feeds.solana_ws import AccountWatch, FeedError, LiveFeedConfig, SolanaLiveFeed
from engine.layout import EventKind
from engine.schema import Tape
from engine.store.catalog import opened
from engine.store.lake import Lake
from tests.engine.feeds.loopback import (
    ACCOUNTS,
    FIXTURES,
    WATCHED,
    WHIRLPOOL,
    Chain,
    Faults,
    RpcServer,
    WsScript,
    WsServer,
    dead_url,
    expected_swaps,
    recorded_transactions,
    replicate,
)

if not FIXTURES.is_dir():
    pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES", allow_module_level=True)

DEAD_WS = dead_url().replace("http", "ws")
DOCS = replicate(recorded_transactions(), 120)
RPC = {"concurrency": 8, "max_rps": float("inf"), "timeout_ms": 500, "backoff_base_ms": 5, "backoff_max_ms": 50}
FEED = {"reconnect_base_ms": 10, "reconnect_max_ms": 50, "idle_timeout_ms": 2_000, "flush_ms": 30,
        "max_reconnects": 10, "max_slot_gap": 3}


def consume(lake: Lake, rpc_url: str, ws_urls: tuple[str, ...], *, want: int, limit_s: float = 15.0,
            **feed_kw) -> tuple[list[Tape], SolanaLiveFeed]:
    """Read chunks until ``want`` events arrived or ``limit_s`` passed (a bounded loop)."""

    async def go():
        chunks = []
        async with RpcClient(RpcConfig(endpoints=(rpc_url,), **RPC)) as rpc:
            with opened(lake) as con:
                feed = SolanaLiveFeed(LiveFeedConfig(ws_endpoints=ws_urls, **{**FEED, **feed_kw}), rpc=rpc,
                                      lake=lake, con=con)
                t0 = time.monotonic()
                async for chunk in feed:
                    chunks.append(chunk)
                    if sum(c.n_events for c in chunks) >= want or time.monotonic() - t0 > limit_s:
                        break
                return chunks, feed

    return asyncio.run(go())


def test_feed_survives_dead_endpoint_drops_duplicates_and_gaps_with_every_swap_once(tmp_path: Path) -> None:
    # Arrange: the first endpoint refuses; the second skips 10 slots, repeats 3 notifications and hangs up twice
    chain = Chain(DOCS)
    want = expected_swaps(DOCS)
    script = WsScript(skip=set(range(30, 40)), duplicate={5, 6, 50}, drop_after=[60, 90])
    lake = Lake(tmp_path)
    with RpcServer(chain, Faults(every_429=9, retry_after="0.1")) as rpc, WsServer(chain, script) as ws:
        # Act
        chunks, feed = consume(lake, rpc.url, (DEAD_WS, ws.url), want=len(want), mentions=(WATCHED,))
    # Assert
    df = lake.read("swaps")
    got = list(zip(df["signature"], df["ix"], df["amount_in_raw"], df["amount_out_raw"], strict=True))
    assert len(got) == len(set(got)) and set(got) == want
    assert sum(c.n_events for c in chunks) == len(want)  # nothing yielded twice
    assert all(c.is_sorted() for c in chunks)
    st = feed.stats
    assert st.duplicates >= 3 and st.gaps >= 1 and st.backfilled > 0
    assert st.reconnects >= 3 and st.errors["ConnectionRefusedError"] >= 1 and st.connects >= 3
    assert ws.subscriptions.count("logsSubscribe") == st.connects  # resubscribed on every connection


def test_account_updates_become_pool_states(tmp_path: Path) -> None:
    if not ACCOUNTS:
        pytest.skip("account fixtures not found")
    chain = Chain(DOCS[:3])
    script = WsScript(account_updates=[(WHIRLPOOL, 300_000_001)], n_subs=3)
    lake = Lake(tmp_path)
    with RpcServer(chain) as rpc, WsServer(chain, script) as ws:
        chunks, _ = consume(lake, rpc.url, (ws.url,), want=4, limit_s=5.0, mentions=(WATCHED,),
                            accounts=(AccountWatch(WHIRLPOOL, "whirlpool"),))
    tape = Tape.concat(chunks)
    states = tape.take(tape.kind == EventKind.POOL_STATE)
    assert states.n_events == 1 and states.slot[0] == 300_000_001
    stored = lake.read("pool_states")
    assert stored.height == 1 and stored["liquidity"][0] > 0 and stored["pool_kind"][0] == 1


def test_feed_gives_up_after_max_reconnects_when_every_endpoint_is_dead(tmp_path: Path) -> None:
    with RpcServer(Chain(DOCS[:1])) as rpc, pytest.raises(FeedError, match="gave up after 3"):
        consume(Lake(tmp_path), rpc.url, (DEAD_WS, dead_url().replace("http", "ws")), want=1, mentions=(WATCHED,),
                max_reconnects=2)


def test_live_config_checks_its_values() -> None:
    with pytest.raises(ValueError, match="ws://"):
        LiveFeedConfig(ws_endpoints=("http://x",), mentions=(WATCHED,))
    with pytest.raises(ValueError, match="nothing to watch"):
        LiveFeedConfig(ws_endpoints=("ws://x",))
    with pytest.raises(ValueError, match="base_mint"):
        AccountWatch("A" * 32, "pumpfun_curve")
