"""`shoal paper --ws` as a user runs it: the live Solana feed (loopback servers), stopped with SIGTERM, then parity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from engine.feeds.solana_tx import parse_transaction
from engine.feeds.tx_ingest import swap_rows
from engine.store import registry
from engine.store.catalog import opened
from tests.engine.exec.helpers import SCRIPTED_REF
from tests.engine.feeds.loopback import FIXTURES, WATCHED, Chain, RpcServer, WsScript, WsServer
from tests.engine.feeds.test_solana_chunks import DOCS, lake_with_known_pools

if not FIXTURES.is_dir():
    pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def shoal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, env=ENV)


def journaled_events(lake: Path, run_id: str) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (lake / "journal" / run_id / "tape").glob("seg-*.parquet"))


def test_paper_on_the_solana_feed_journals_the_market_pools_swaps_and_its_parity_holds(tmp_path: Path) -> None:
    # Arrange: a lake whose registry knows some of the pools the feed will bring
    lake = lake_with_known_pools(tmp_path / "lake")
    with opened(lake) as con:
        pools = registry.read(con, "pools")
    want = sum(p in set(pools["address"]) for p in swap_rows([parse_transaction(d) for d in DOCS]).pool)
    pool = int(pools.filter(pools["venue"] == "pumpfun")["pool_id"][0])
    with RpcServer(Chain(DOCS)) as rpc, WsServer(Chain(DOCS), WsScript(interval_s=0.004)) as ws:
        # Act: run until every swap on the market's pools is journaled, then stop it as a service manager would
        proc = subprocess.Popen([sys.executable, "-m", "research.cli", "paper", "-s", SCRIPTED_REF, "-p",
                                 f"pool0={pool}", "-p", "at_event=1", "-p", "every=5", "-p", "amount_in_raw=1e8",
                                 "--ws", ws.url, "--rpc", rpc.url, "--watch", WATCHED, "--flush-every", "0.1",
                                 "--checkpoint-every", "0.2", "--run-id", "pp-ws", "--lake", str(lake.root),
                                 "--json"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 120
        while journaled_events(lake.root, "pp-ws") < want and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    parity = shoal("parity", "pp-ws", "--lake", str(lake.root), "--json")
    # Assert
    assert proc.returncode == 0, stderr[-3000:]
    doc = json.loads(stdout)
    assert (doc["status"], doc["events"], doc["pools"]) == ("stopped", want, pools.height)
    assert doc["outside_market"] > 0 and doc["feed"]["out_of_order"] == 0 and doc["summary"]["n_orders"] > 0
    assert parity.returncode == 0, parity.stderr[-2000:]
    assert json.loads(parity.stdout)["differences"] == 0 and json.loads(parity.stdout)["events"] == want


def test_paper_ws_needs_an_rpc_endpoint_and_no_replay_window(tmp_path: Path) -> None:
    lake = str(lake_with_known_pools(tmp_path / "lake").root)
    no_rpc = shoal("paper", "-s", SCRIPTED_REF, "--ws", "ws://127.0.0.1:1/", "--lake", lake)
    replay = shoal("paper", "-s", SCRIPTED_REF, "--ws", "ws://127.0.0.1:1/", "--rpc", "http://127.0.0.1:1/",
                   "--replay", "--lake", lake)
    assert no_rpc.returncode == 2 and "--rpc" in no_rpc.stderr
    assert replay.returncode == 2 and "drop --replay" in replay.stderr
