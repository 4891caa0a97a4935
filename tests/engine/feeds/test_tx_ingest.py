"""Parsed transactions -> SWAP rows in the lake: ids through the registries, stable keys, quarantine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.feeds.programs import WSOL_MINT
from engine.feeds.solana_tx import parse_transaction
from engine.feeds.tx_ingest import USDC_MINT, TxSink, base_and_quote, read_tx_file, seq_of
from engine.layout import Side
from engine.store import registry
from engine.store.catalog import opened
from engine.store.lake import Lake
from tests.engine.feeds.loopback import FIXTURES, recorded_transactions

if not FIXTURES.is_dir():
    pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES", allow_module_level=True)

TXS = [parse_transaction(d) for d in recorded_transactions()]


def test_base_and_quote_prefers_usdc_then_sol_then_mint_in() -> None:
    assert base_and_quote(WSOL_MINT, "T") == ("T", WSOL_MINT, Side.BUY)
    assert base_and_quote("T", WSOL_MINT) == ("T", WSOL_MINT, Side.SELL)
    assert base_and_quote(WSOL_MINT, USDC_MINT) == (WSOL_MINT, USDC_MINT, Side.SELL)
    assert base_and_quote("A", "B") == ("B", "A", Side.BUY)


def test_seq_of_is_stable_below_2_30_and_orders_swaps_of_a_tx() -> None:
    sig = TXS[0].signature
    assert seq_of(sig, 0) == seq_of(sig, 0) and seq_of(sig, 1) == seq_of(sig, 0) + 1
    assert all(0 <= seq_of(t.signature, 15) < 2**30 for t in TXS)


def test_landing_all_fixtures_stores_every_swap_once_with_registry_ids(tmp_path: Path) -> None:
    # Arrange
    lake = Lake(tmp_path)
    expected = {(t.signature, ix): s for t in TXS for ix, s in enumerate(t.swaps)}
    # Act
    with opened(lake) as con:
        sink = TxSink(lake, con, source="test")
        first, _ = sink.land(TXS)
        again, _ = sink.land(TXS)
        wallets, tokens, pools = (registry.dictionary(con, r) for r in ("wallets", "tokens", "pools"))
    # Assert
    df = lake.read("swaps")
    assert first.written["swaps"] == len(expected) == df.height == 16
    assert again.written["swaps"] == 0 and again.already_present["swaps"] == len(expected)
    for row in df.iter_rows(named=True):
        s = expected[(row["signature"], row["ix"])]
        base, _, side = base_and_quote(s.mint_in, s.mint_out)
        assert (row["amount_in_raw"], row["amount_out_raw"]) == (s.amount_in, s.amount_out)
        assert wallets.decode(row["wallet_id"]) == s.owner
        assert tokens.decode(row["mint_id"]) == base and row["side"] == side
        pool = pools.decode(row["pool_id"])
        assert pool == s.pool if s.pool is not None else pool.startswith("route:")
    bundle_tx = next(t for t in TXS if t.signature.startswith("JBnrBbgqh9"))
    bundle = df.filter(df["signature"] == bundle_tx.signature)
    n = len(bundle_tx.swaps)
    assert n >= 3 and bundle["ix"].to_list() == list(range(n)) and bundle["wallet_id"].n_unique() == n


def test_transaction_without_block_time_is_quarantined_not_dropped(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    swap_tx = next(t for t in TXS if t.swaps)
    undated = dataclasses.replace(swap_tx, block_time=None)
    with opened(lake) as con:
        report, tape = TxSink(lake, con, source="test").land([undated])
    assert report.rejected == 1 and tape.n_events == 0
    q = lake.read("quarantine")
    assert q.height == 1 and q["reason"][0] == "malformed" and "blockTime" in q["row"][0]


def test_read_tx_file_reports_broken_and_truncated_files_without_raising(tmp_path: Path) -> None:
    good = FIXTURES / "pumpfun_buy_0.json"
    truncated = tmp_path / "cut.json"
    truncated.write_bytes(good.read_bytes()[:500])
    future = tmp_path / "v1.json"
    future.write_text(good.read_text().replace('"version": "legacy"', '"version": 1').replace(
        '"version":"legacy"', '"version":1') if '"version"' in good.read_text() else
        '[{"slot": 1, "version": 1, "transaction": {}, "meta": {}}]')
    (res_cut, doc_cut), = read_tx_file(truncated)
    (res_future, _), = read_tx_file(future)
    (res_ok, _), = read_tx_file(good)
    assert "not valid JSON" in str(res_cut) and doc_cut.startswith("[")
    assert "unknown transaction version" in str(res_future)
    assert res_ok.signature.startswith("4U8kyp")
