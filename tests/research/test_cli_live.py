"""`shoal promote`, `shoal promotions` and `shoal live` as a user runs them, against a LiteSVM chain on 127.0.0.1.

The module builds one promotion chain through the real commands: a synthetic lake, a backtest
that holds the last part of it out, research -> paper, a paper run, paper -> live. The loopback
chain (`tests.engine.exec.live.litesvm_rpc`) holds every routable pool of the same synthetic
market at its registry address, so `shoal live` resolves routes, quotes, builds and simulates
real transactions; sends are counted by the server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from solders.keypair import Keypair

from engine.exec.live.builders import associated_token_address
from engine.exec.live.journal import iter_records
from engine.exec.live.routes import pool_listings
from engine.feeds.solana_tx import parse_transaction
from engine.feeds.synthetic import SyntheticConfig
from engine.feeds.synthetic_live import synthetic_market
from engine.store import registry
from engine.store.catalog import opened
from engine.store.lake import Lake
from tests.engine.exec.live.litesvm_rpc import LiteSvmRpc
from tests.engine.exec.live.world import add_listed_pools, write_keypair
from tests.engine.feeds.loopback import WATCHED, Chain, RpcServer, WsScript, WsServer
from tests.engine.feeds.test_solana_chunks import DOCS

ROOT = Path(__file__).resolve().parents[2]
MARKET = ["--days", "0.1", "--tokens", "3", "--market-seed", "1"]
SOL = 10**9


def shoal(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "SHOAL_LIVE"} | {"PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, env=full | (env or {}), input=stdin if stdin is not None else "")


def ok(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The promotion chain of sniper's default parameters, through the CLI."""
    lake = str(tmp_path_factory.mktemp("lake"))
    ok(shoal("generate", "--days", "0.1", "--tokens", "3", "--seed", "1", "--lake", lake, "--json"))
    bt = ok(shoal("backtest", "-s", "sniper", "--to", "2026-01-01T01:15", "--lake", lake, "--json"))
    to_paper = ok(shoal("promote", bt["run_id"], "--to", "paper", "--min-trades", "10", "--lake", lake, "--json"))
    paper = ok(shoal("paper", "-s", "sniper", *MARKET, "--speed", "max", "--run-id", "pp-1", "--lake", lake,
                     "--json"))
    to_live = ok(shoal("promote", "pp-1", "--to", "live", "--min-paper-days", "0.09", "--lake", lake, "--json"))
    return {"lake": lake, "backtest": bt, "to_paper": to_paper, "paper": paper, "to_live": to_live}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiteSvmRpc, Path, Keypair]]:
    """The loopback chain with the synthetic market's pools, and a funded wallet's keypair file."""
    _, gen = synthetic_market(SyntheticConfig(seed=1, days=0.1, n_tokens=3))
    srv = LiteSvmRpc(slot_ms=50)
    made = add_listed_pools(srv, pool_listings(gen.pools, gen.tokens))
    assert set(made) == {"raydium_amm_v4", "raydium_cpmm", "orca_whirlpool", "pumpfun"}
    kp = Keypair()
    srv.airdrop(kp.pubkey(), 100 * SOL)
    path = write_keypair(tmp_path / "id.json", kp)
    srv.start()
    yield srv, path, kp
    srv.stop()


def live(chain: dict, srv: LiteSvmRpc, keypair: Path, *extra: str, env: dict | None = None,
         stdin: str | None = None) -> subprocess.CompletedProcess:
    return shoal("live", "-s", "sniper", "--keypair", str(keypair), "--rpc", srv.url, *MARKET, "--speed", "max",
                 "--lake", chain["lake"], "--json", *extra, env=env, stdin=stdin)


def test_the_gates_pass_with_their_evidence_and_the_history_lists_them(chain: dict) -> None:
    to_paper, to_live = chain["to_paper"], chain["to_live"]
    assert to_paper["passed"] and to_live["passed"] and to_paper["identity"] == to_live["identity"]
    g = {x["name"]: x for x in to_paper["gates"]}
    assert list(g) == ["reproducible", "min_trades", "costs_included", "out_of_sample"]
    assert g["min_trades"]["evidence"]["n_filled"] == chain["backtest"]["summary"]["n_filled"] >= 10
    oos = g["out_of_sample"]["evidence"]
    assert oos["window"]["from"] == "2026-01-01T01:15:00+00:00" and oos["n_filled"] > 0 and oos["total_return"] >= 0
    assert g["costs_included"]["evidence"]["fees_paid_lamports"] > 0
    lg = {x["name"]: x for x in to_live["gates"]}
    assert lg["paper_stage"]["evidence"]["promotion_id"] == to_paper["promotion_id"]
    assert lg["parity"]["evidence"]["differences"] == 0 and lg["pnl_vs_backtest"]["evidence"]["gap"] == 0.0
    assert lg["pnl_vs_backtest"]["evidence"]["paper_pnl_lamports"] == pytest.approx(
        chain["paper"]["summary"]["final_equity"] - chain["paper"]["summary"]["init_cash"])
    assert lg["paper_days"]["evidence"]["events"] == chain["paper"]["events"]
    hist = ok(shoal("promotions", "--lake", chain["lake"], "--json"))["promotions"]
    assert [(p["promotion_id"], p["to"], p["passed"]) for p in hist][:2] == [
        (to_live["promotion_id"], "live", True), (to_paper["promotion_id"], "paper", True)]
    text = shoal("promotions", "--lake", chain["lake"])
    assert text.returncode == 0 and "out_of_sample" in text.stdout and "pnl_vs_backtest" in text.stdout


def test_refused_promotions_exit_1_and_say_which_gate(chain: dict) -> None:
    # a backtest over the whole lake leaves nothing held out; one without impact leaves costs out
    whole = ok(shoal("backtest", "-s", "sniper", "--sim", "impact=none", "--lake", chain["lake"], "--json"))
    r = shoal("promote", whole["run_id"], "--to", "paper", "--min-trades", "1", "--lake", chain["lake"], "--json")
    assert r.returncode == 1
    failed = {g["name"]: g["reason"] for g in json.loads(r.stdout)["gates"] if not g["passed"]}
    assert set(failed) == {"costs_included", "out_of_sample"}
    assert "impact=none" in failed["costs_included"] and "--to T" in failed["out_of_sample"]
    # a paper run of other parameters was never promoted to paper
    ok(shoal("paper", "-s", "sniper", "-p", "buy_lamports=3e8", "--days", "0.02", "--tokens", "3", "--speed", "max",
             "--run-id", "pp-other", "--lake", chain["lake"], "--json"))
    r = shoal("promote", "pp-other", "--to", "live", "--min-paper-days", "0.01", "--lake", chain["lake"])
    assert r.returncode == 1 and "paper_stage" in r.stdout and "refused" in r.stdout


def test_live_refuses_parameters_without_a_live_promotion_and_says_how_to_promote(chain: dict, server) -> None:
    srv, keypair, _ = server
    r = live(chain, srv, keypair, "-p", "buy_lamports=3e8")
    assert r.returncode == 2 and "no live promotion" in r.stderr and "shoal promote" in r.stderr
    assert sum(srv.calls.values()) == 0  # refused before a single RPC


def test_a_readable_keypair_is_refused_before_anything_else(chain: dict, server) -> None:
    srv, keypair, _ = server
    keypair.chmod(0o644)
    r = live(chain, srv, keypair, "-p", "buy_lamports=3e8")  # unpromoted too: the key file is checked first
    assert r.returncode == 2 and "chmod 600" in r.stderr and "promotion" not in r.stderr
    assert sum(srv.calls.values()) == 0


def test_live_dry_run_builds_and_simulates_every_routable_order_and_sends_nothing(chain: dict, server) -> None:
    # Act
    srv, keypair, kp = server
    doc = ok(live(chain, srv, keypair, "--run-id", "lv-dry"))
    # Assert
    assert (doc["mode"], doc["status"], doc["promotion_id"]) == ("dry_run", "completed",
                                                                chain["to_live"]["promotion_id"])
    assert doc["orders"] == chain["paper"]["summary"]["n_orders"]  # the same decisions as the paper run
    outcomes = {o["outcome"] for o in doc["orders_detail"]}
    assert outcomes == {"dry_run", "refused"} and doc["outcomes"]["dry_run"] >= 5
    assert srv.calls["sendTransaction"] == 0 and srv.landed == {}
    assert srv.calls["simulateTransaction"] >= doc["outcomes"]["dry_run"]
    reasons = [o["reason"] for o in doc["orders_detail"] if o["outcome"] == "refused"]
    assert any("'pumpswap'" in x for x in reasons)  # no route to that venue
    assert all(o["min_out_raw"] > 0 for o in doc["orders_detail"] if o["outcome"] == "dry_run")
    journal = list(iter_records(Path(doc["folder"]) / "decisions.jsonl"))
    assert sum(r["kind"] == "dry_run" for r in journal) == doc["outcomes"]["dry_run"]
    assert not any(r["kind"] == "send" for r in journal)
    con = duckdb.connect(str(Path(chain["lake"]) / "shoal.duckdb"), read_only=True)
    n = con.execute("SELECT count(*) FROM live_decisions WHERE run_id = 'lv-dry'").fetchone()[0]
    con.close()
    assert n == len(journal)
    session = json.loads((Path(doc["folder"]) / "session.json").read_text())
    assert session["wallet"] == str(kp.pubkey()) and session["mode"] == "dry_run" and doc["ledger"] is None
    assert json.dumps(list(bytes(kp))) not in (Path(doc["folder"]) / "session.json").read_text()


def test_live_sends_once_typed_confirmation_fills_on_chain_and_reconciles(chain: dict, server) -> None:
    srv, keypair, kp = server
    # a wrong confirmation is refused before anything is sent
    bad = live(chain, srv, keypair, "--live", "--run-id", "lv-no", stdin="yes\n")
    assert bad.returncode == 2 and "SHOAL_LIVE=1" in bad.stderr and "it was neither" in bad.stderr
    assert srv.calls["sendTransaction"] == 0
    # Act
    doc = ok(live(chain, srv, keypair, "--live", "--run-id", "lv-1", stdin=f"{kp.pubkey()}\n"))
    # Assert: every routable order landed once; the final reconciliation found the ledger equal to the chain
    assert (doc["mode"], doc["status"], doc["halted"]) == ("live", "completed", None)
    filled = [o for o in doc["orders_detail"] if o["outcome"] == "filled"]
    assert len(filled) >= 5 and len(srv.landed) == len(filled)
    assert {o["signature"] for o in filled} == set(srv.landed)
    assert all(o["amount_out_raw"] >= o["min_out_raw"] > 0 and o["fee_lamports"] >= 5_000 for o in filled)
    own = pl.read_parquet(Path(doc["folder"]) / "own_fills.parquet")
    assert own.height == len(filled) and set(own["signature"]) == set(srv.landed)
    # the kernel booked the chain's fills: its ledger is the wallet's (cash = every lamport it controls)
    sol = (srv.svm.get_balance(kp.pubkey()) or 0) + sum(
        (srv.svm.get_balance(associated_token_address(kp.pubkey(), m)) or 0) for m in doc["ledger"]["tokens"])
    assert doc["ledger"]["equal"] and doc["ledger"]["kernel_cash_lamports"] == sol < 100 * SOL
    assert {m: t["kernel"] for m, t in doc["ledger"]["tokens"].items()} == {
        m: srv.token_amount(associated_token_address(kp.pubkey(), m)) for m in doc["ledger"]["tokens"]}


def test_the_kill_switch_file_stops_every_order_and_each_refusal_is_journaled(chain: dict, server,
                                                                               tmp_path: Path) -> None:
    srv, keypair, _ = server
    kill = tmp_path / "STOP"
    kill.touch()
    doc = ok(live(chain, srv, keypair, "--kill-file", str(kill), "--run-id", "lv-kill"))
    assert doc["outcomes"] == {"refused": doc["orders"]} and doc["orders"] > 0
    assert all(str(kill) in o["reason"] for o in doc["orders_detail"] if "pumpswap" not in o["reason"])
    assert srv.calls["simulateTransaction"] == 0 and srv.calls["sendTransaction"] == 0
    blocked = [r for r in iter_records(Path(doc["folder"]) / "decisions.jsonl")
               if r["kind"] == "guard" and r["guard"] == "kill_switch" and r["allowed"] is False]
    assert len(blocked) == doc["orders"] - sum("pumpswap" in o["reason"] for o in doc["orders_detail"])


def test_live_on_the_solana_feed_trades_the_registry_market_and_records_what_the_feed_brings(
        chain: dict, server, tmp_path: Path) -> None:
    # Arrange: a copy of the promoted lake; the feed brings recorded mainnet swaps, on pools its registry lacks
    srv, keypair, _ = server
    lake = tmp_path / "lake"
    shutil.copytree(chain["lake"], lake)
    sigs = sorted(d["transaction"]["signatures"][0] for d in DOCS)
    want = sum(len(parse_transaction(d).swaps) for d in DOCS)
    with RpcServer(Chain(DOCS)) as rpc, WsServer(Chain(DOCS), WsScript(interval_s=0.004)) as ws:
        # Act: a dry run on the live feed until the feed has recorded every swap, then SIGTERM
        proc = subprocess.Popen([sys.executable, "-m", "research.cli", "live", "-s", "sniper", "--keypair",
                                 str(keypair), "--rpc", srv.url, "--ws", ws.url, "--feed-rpc", rpc.url, "--watch",
                                 WATCHED, "--run-id", "lv-ws", "--lake", str(lake), "--json"], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and _recorded(lake, sigs) < want:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    # Assert: stopped cleanly; nothing traded (every pool is outside the session's market), everything recorded
    assert proc.returncode == 0, stderr[-3000:]
    doc = json.loads(stdout)
    assert (doc["mode"], doc["status"], doc["events"], doc["orders"]) == ("dry_run", "stopped", 0, 0)
    assert _recorded(lake, sigs) == want
    feed = json.loads((Path(doc["folder"]) / "session.json").read_text())["feed"]
    listed = pool_listings(*_registries(chain["lake"]))
    assert (feed["kind"], feed["n_pools"], feed["mentions"]) == ("solana", len(listed), [WATCHED])


def _recorded(lake: Path, sigs: list[str]) -> int:
    files = sorted((lake / "lake" / "swaps").glob("*/*.parquet"))
    return pl.scan_parquet(files).filter(pl.col("signature").is_in(sigs)).collect().height if files else 0


def _registries(lake: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    with opened(Lake(lake)) as con:
        return registry.read(con, "pools"), registry.read(con, "tokens")
