"""`shoal ingest ...` as a user runs it: real subprocesses, a loopback RPC server for backfills."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.feeds.solana_tx import parse_transaction_bytes
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

ROOT = Path(__file__).resolve().parents[2]
if not FIXTURES.is_dir():
    pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES", allow_module_level=True)
TX_FILES = sorted(p for p in FIXTURES.glob("*.json") if p.name != "expected_values.json")


def shoal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=120)


def test_ingest_tx_json_matches_the_parser_quarantines_broken_files_and_reruns_idempotently(tmp_path: Path) -> None:
    # Act
    out = shoal("ingest", "tx", *map(str, TX_FILES), "--lake", str(tmp_path), "--json")
    again = shoal("ingest", "tx", *map(str, TX_FILES), "--lake", str(tmp_path), "--json")
    # Assert
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    good = [p for p in TX_FILES if not p.name.startswith("broken_")]
    assert len(doc["transactions"]) == len(good) == 17
    for path, rec in zip(good, doc["transactions"], strict=True):
        assert rec == parse_transaction_bytes(path.read_bytes()).to_json_dict()
        assert set(rec) == {"signature", "slot", "status", "dex", "swaps"}
        for s in rec["swaps"]:
            assert set(s) == {"owner", "mint_in", "amount_in", "mint_out", "amount_out", "pool"}
            assert type(s["amount_in"]) is int and type(s["amount_out"]) is int
    sol = next(r for r in doc["transactions"] if r["signature"].startswith("4U8kyp"))
    assert sol["swaps"][0]["mint_in"] == "So11111111111111111111111111111111111111112"
    assert sol["swaps"][0]["amount_in"] == 3070000000
    assert {e["file"] for e in doc["errors"]} == {str(FIXTURES / "broken_data_0.json"),
                                                  str(FIXTURES / "broken_data_1.json")}
    assert doc["landed"]["written"] == {"swaps": 16} and doc["landed"]["quarantined"] == {"malformed": 2}
    redo = json.loads(again.stdout)["landed"]
    assert redo["written"] == {"swaps": 0} and redo["already_present"] == {"swaps": 16}
    lake = Lake(tmp_path)
    assert lake.read("swaps").height == 16 and lake.read("quarantine").height == 2  # nothing doubled


def test_ingest_tx_table_output_and_missing_file(tmp_path: Path) -> None:
    out = shoal("ingest", "tx", str(FIXTURES / "pumpfun_buy_0.json"), str(tmp_path / "nope.json"),
                "--lake", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "pumpfun" in out.stdout and "quarantined: 1 {'malformed': 1}" in out.stdout


def test_ingest_wallet_backfills_through_faults_then_resumes(tmp_path: Path) -> None:
    docs = replicate(recorded_transactions(), 120)
    chain = Chain(docs[:80])
    with RpcServer(chain, Faults(every_429=5, retry_after="0.1", every_drop=9)) as flaky:
        args = ["--rpc", dead_url(), "--rpc", flaky.url, "--since", "2024-12-31", "--page-limit", "30",
                "--concurrency", "8", "--rps", "1000", "--timeout-ms", "500", "--lake", str(tmp_path), "--json"]
        first = shoal("ingest", "wallet", WATCHED, *args)
        assert first.returncode == 0, first.stderr
        chain.add(docs[80:])
        second = shoal("ingest", "wallet", WATCHED, *args)
        assert second.returncode == 0, second.stderr
        table = shoal("ingest", "pool", WATCHED, *args[:-1])
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["listed"] == 80 and b["listed"] == 40 and b["cursor"]["newest_slot"] == docs[-1]["slot"]
    assert a["rpc"]["rate_limited"] > 0
    df = Lake(tmp_path).read("swaps")
    got = list(zip(df["signature"], df["ix"], df["amount_in_raw"], df["amount_out_raw"], strict=True))
    assert len(got) == len(set(got)) and set(got) == expected_swaps(docs)
    assert table.returncode == 0 and "cursor" in table.stdout


def test_ingest_wallet_without_endpoint_says_what_to_do(tmp_path: Path) -> None:
    out = shoal("ingest", "wallet", WATCHED, "--lake", str(tmp_path))
    assert out.returncode == 2 and "--rpc" in out.stderr and "Traceback" not in out.stderr


def test_ingest_file_and_tokens_commands(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("time,pool,who,mint,side,amount_in,amount_out\n1735689600,P,W,M,buy,1,2\n1735689601,P,W,M,up,1,2\n")
    out = shoal("ingest", "file", str(csv), "--format", "trades", "--map", "who=wallet", "--lake", str(tmp_path),
                "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["written"] == {"swaps": 1} and doc["quarantined"] == {"malformed": 1}
    bad = shoal("ingest", "file", str(csv), "--format", "candles", "--lake", str(tmp_path))
    assert bad.returncode == 2 and "trades" in bad.stderr
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps([{"mint": "M", "symbol": "EM", "decimals": 6}, {"mint": "N", "symbol": "EN"}]))
    out = shoal("ingest", "tokens", "--file", str(tokens), "--full", "--lake", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["new"], doc["changed"], doc["delisted"]) == (1, 1, 0)  # M known from the trade: symbol set
    shutil.rmtree(tmp_path / "lake", ignore_errors=True)
