"""A paper session on the live Solana feed (loopback servers): journaled, and a backtest of its tape agrees."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.exec.paper import PaperConfig, PaperSession
from engine.exec.parity import parity
from engine.feeds.solana_tx import parse_transaction
from engine.feeds.tx_ingest import swap_rows
from engine.layout import Side
from engine.sim import SimConfig
from engine.store import registry
from engine.store.catalog import opened
from tests.engine.feeds.loopback import Chain, RpcServer, WsScript, WsServer
from tests.engine.feeds.test_solana_chunks import DOCS, lake_with_known_pools, spec_for
from tests.engine.sim.scripted import SCRIPTED


def test_a_paper_session_on_the_solana_feed_trades_the_market_pools_and_passes_parity(tmp_path: Path) -> None:
    # Arrange: a strategy that buys on a pool of the market; the swaps the feed will bring on the market's pools
    lake = lake_with_known_pools(tmp_path)
    with opened(lake) as con:
        pools = registry.read(con, "pools")
    known = set(pools["address"])
    want = sum(p in known for p in swap_rows([parse_transaction(d) for d in DOCS]).pool)
    pool = int(pools.filter(pools["venue"] == "pumpfun")["pool_id"][0])
    params = SCRIPTED.params([{"at_event": 1, "every": 5, "pool0": pool, "side0": int(Side.BUY),
                               "amount_in_raw": 1e8}])
    seen = [0]

    def stop_when_all_arrived(chunk, step, arrival, done) -> None:
        seen[0] += step.n_events
        if seen[0] >= want:
            asyncio.current_task().cancel()  # a live feed has no end: stop it as Ctrl-C would

    with RpcServer(Chain(DOCS)) as rpc, WsServer(Chain(DOCS), WsScript(interval_s=0.004)) as ws:
        session = PaperSession(lake, "pp-ws", SCRIPTED, params, cfg=SimConfig(seed=2),
                               feed_spec=spec_for(lake, rpc.url, ws.url),
                               paper=PaperConfig(flush_every_s=0.05, checkpoint_every_s=0.1),
                               strategy_ref="tests.engine.sim.scripted:SCRIPTED")
        # Act
        out = session.run(on_step=stop_when_all_arrived)
    # Assert
    assert out.status == "stopped" and out.n_events == want > 0
    assert out.feed["source"]["extra"]["outside_market"] > 0 and out.feed["guard"]["out_of_order"] == 0
    assert out.summary["n_orders"][0] > 0 and session.market.n_pools == pools.height
    report = parity(PaperSession.from_journal(lake, "pp-ws", lambda ref: SCRIPTED))
    assert report.differences == 0 and report.n_events == want and report.n_fills_journal > 0
