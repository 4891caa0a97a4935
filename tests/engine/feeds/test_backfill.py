"""RPC backfill against a loopback JSON-RPC server serving recorded real transactions, with faults."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.feeds.backfill import BackfillConfig, backfill, parse_since, read_cursor
from engine.feeds.rpc import RpcClient, RpcConfig, RpcError
from engine.store.catalog import opened
from engine.store.lake import Lake
from tests.engine.feeds.loopback import (
    FIXTURES,
    WATCHED,
    Chain,
    Faults,
    RpcServer,
    dead_url,
    expected_swaps,
    recorded_transactions,
    replicate,
)

if not FIXTURES.is_dir():
    pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES", allow_module_level=True)

DOCS = replicate(recorded_transactions(), 240)


def fast_cfg(*urls: str, **kw) -> RpcConfig:
    base = {"concurrency": 8, "max_rps": float("inf"), "timeout_ms": 300, "backoff_base_ms": 5, "backoff_max_ms": 100,
            "max_attempts": 12}
    return RpcConfig(endpoints=urls, **{**base, **kw})


def run_backfill(lake: Lake, cfg: RpcConfig, **kw) -> object:
    async def go():
        async with RpcClient(cfg) as rpc:
            with opened(lake) as con:
                return await backfill(rpc, lake, con, BackfillConfig(address=WATCHED, **kw))

    return asyncio.run(go())


def stored_swaps(lake: Lake) -> list[tuple]:
    df = lake.read("swaps")
    return list(zip(df["signature"], df["ix"], df["amount_in_raw"], df["amount_out_raw"], strict=True))


def test_backfill_through_every_fault_lands_every_swap_exactly_once(tmp_path: Path) -> None:
    # Arrange: one dead endpoint, one that times out, rate-limits, drops, 503s and garbles; one healthy
    chain = Chain(DOCS)
    faults = Faults(every_429=7, retry_after="0.2", every_timeout=11, slow_s=0.6, every_drop=13, every_500=17,
                    every_garbage=19, null_first={DOCS[3]["transaction"]["signatures"][0]})
    with RpcServer(chain, faults) as flaky, RpcServer(chain) as healthy:
        # Act
        report = run_backfill(Lake(tmp_path), fast_cfg(dead_url(), flaky.url, healthy.url), page_limit=50,
                              batch_txs=64)
    # Assert
    got = stored_swaps(Lake(tmp_path))
    assert len(got) == len(set(got)) and set(got) == expected_swaps(DOCS)
    assert report.listed == len(DOCS) and report.pages == 5 and report.not_found == 0
    rpc = report.rpc
    assert rpc["rate_limited"] > 0 and rpc["timeouts"] > 0 and rpc["errors"]["transport"] > 0
    assert rpc["errors"]["http_503"] > 0 and rpc["errors"]["bad_json"] > 0 and rpc["failovers"] > 0
    assert Lake(tmp_path).read("quarantine").height == 0


def test_backfill_resumes_from_its_cursor_and_fetches_only_new_transactions(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    chain = Chain(DOCS[:150])
    with RpcServer(chain) as server:
        run_backfill(lake, fast_cfg(server.url), page_limit=40)
        with opened(lake) as con:
            cursor = read_cursor(con, WATCHED)
        assert cursor.newest_signature == DOCS[149]["transaction"]["signatures"][0]
        fetched_before = server.methods["getTransaction"]
        chain.add(DOCS[150:])  # new blocks arrive
        report = run_backfill(lake, fast_cfg(server.url), page_limit=40)
        assert server.methods["getTransaction"] - fetched_before == len(DOCS) - 150
    assert report.listed == len(DOCS) - 150
    got = stored_swaps(lake)
    assert len(got) == len(set(got)) and set(got) == expected_swaps(DOCS)


def test_backfill_killed_midway_resumes_without_loss_or_double(tmp_path: Path) -> None:
    # Arrange: the only endpoint starts failing for good after 100 requests
    lake = Lake(tmp_path)
    chain = Chain(DOCS)
    with RpcServer(chain) as server:
        original = server._answer
        budget = {"n": 100}

        def answer(req: dict) -> dict:
            budget["n"] -= 1
            if budget["n"] < 0:
                return {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": -32005, "message": "node is behind"}}
            return original(req)

        server._answer = answer
        # Act 1: the run fails after some batches
        with pytest.raises(RpcError, match="getTransaction failed after 3 attempts"):
            run_backfill(lake, fast_cfg(server.url, max_attempts=3), page_limit=100, batch_txs=32)
        partial = len(stored_swaps(lake))
        with opened(lake) as con:
            cursor = read_cursor(con, WATCHED)
        # Act 2: the node recovers; the next run continues from the cursor
        server._answer = original
        before = server.methods.get("getTransaction", 0)
        run_backfill(lake, fast_cfg(server.url), page_limit=100, batch_txs=32)
        refetched = server.methods["getTransaction"] - before
    # Assert
    assert 0 < partial < len(expected_swaps(DOCS)) and cursor is not None
    got = stored_swaps(lake)
    assert len(got) == len(set(got)) and set(got) == expected_swaps(DOCS)
    assert refetched <= len(DOCS) - 32  # the landed batches were not fetched again


def test_rate_limited_endpoint_rests_for_its_retry_after(tmp_path: Path) -> None:
    chain = Chain(DOCS[:5])
    with RpcServer(chain, Faults(every_429=2, retry_after="1")) as server:
        async def go() -> tuple[float, int]:
            async with RpcClient(fast_cfg(server.url)) as rpc:
                t0 = time.monotonic()
                await rpc.call("getSlot")  # request 1: fine
                await rpc.call("getSlot")  # request 2: 429, Retry-After 1 s; request 3 must wait for it
                return time.monotonic() - t0, rpc.stats.rate_limited

        elapsed, limited = asyncio.run(go())
    assert limited == 1 and elapsed >= 0.95


def test_non_retryable_rpc_error_raises_at_once() -> None:
    with RpcServer(Chain(DOCS[:1])) as server:
        async def go() -> None:
            async with RpcClient(fast_cfg(server.url)) as rpc:
                await rpc.call("noSuchMethod")

        with pytest.raises(RpcError, match="-32601"):
            asyncio.run(go())
        assert server.n_requests == 1


def test_transaction_no_endpoint_has_is_quarantined(tmp_path: Path) -> None:
    docs = DOCS[:10]
    chain = Chain(docs)
    missing = docs[4]["transaction"]["signatures"][0]
    del chain.docs[missing]
    with RpcServer(chain) as server:
        report = run_backfill(Lake(tmp_path), fast_cfg(server.url))
    assert report.not_found == 1
    q = Lake(tmp_path).read("quarantine")
    assert q.height == 1 and missing in q["row"][0]


def test_parse_since_reads_dates_ages_and_epoch_seconds() -> None:
    now = 1_700_000_000 * 10**9
    assert parse_since("2024-01-01") == 1_704_067_200 * 10**9
    assert parse_since("2024-01-01T00:00:00Z") == 1_704_067_200 * 10**9
    assert parse_since("7d", now_ns=now) == now - 7 * 86_400 * 10**9
    assert parse_since("1704067200") == 1_704_067_200 * 10**9
    with pytest.raises(ValueError, match="Hint"):
        parse_since("yesterday-ish")


def test_rpc_config_rejects_bad_values_and_hides_urls() -> None:
    cfg = RpcConfig(endpoints=("https://rpc.example/?api-key=SECRET",))
    assert "SECRET" not in repr(cfg)
    with pytest.raises(ValueError, match="--rpc"):
        RpcConfig(endpoints=())
    with pytest.raises(ValueError, match="concurrency"):
        RpcConfig(endpoints=("http://x",), concurrency=0)
