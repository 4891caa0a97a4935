"""Registries in a real DuckDB file: ids for life, change detection, history, delistings."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from engine.store import registry


def token_rows(n: int, prefix: str = "Mint") -> pl.DataFrame:
    return pl.DataFrame({
        "mint": [f"{prefix}{i:07d}" for i in range(n)],
        "symbol": [f"T{i}" for i in range(n)],
        "decimals": np.full(n, 6, dtype=np.int16),
        "mint_authority": np.zeros(n, dtype=bool),
        "freeze_authority": np.zeros(n, dtype=bool),
        "transfer_fee_bps": np.zeros(n, dtype=np.int32),
        "created_slot": np.arange(n, dtype=np.int64),
    })


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(tmp_path / "shoal.duckdb"))
    yield c
    c.close()


def test_sync_of_5000_tokens_detects_exactly_the_changed_and_new_ones(con: duckdb.DuckDBPyConnection) -> None:
    # Arrange: 5,000 tokens, then a snapshot with 5 % changed (one field each, of varied kinds) and 2 % new
    base = token_rows(5_000)
    registry.sync(con, "tokens", base, now_ns=1)
    rng = np.random.default_rng(7)
    changed = np.sort(rng.choice(5_000, 250, replace=False))
    fields = ["symbol", "freeze_authority", "transfer_fee_bps", "decimals"]
    snap = base.to_dict(as_series=False)
    for j, i in enumerate(changed):
        f = fields[j % len(fields)]
        snap[f][i] = {"symbol": "RENAMED", "freeze_authority": True, "transfer_fee_bps": 500, "decimals": 9}[f]
    snapshot = pl.concat([pl.DataFrame(snap, schema=base.schema), token_rows(100, prefix="New")])
    # Act
    report = registry.sync(con, "tokens", snapshot, now_ns=2)
    # Assert
    assert (report.new, report.changed, report.field_changes, report.delisted) == (100, 250, 250, 0)
    assert report.unchanged == 5_000 - 250
    hist = con.sql("SELECT id, field, old_value, new_value FROM registry_history ORDER BY id").pl()
    assert hist["id"].to_list() == changed.tolist()  # each change exactly once
    assert hist.filter(pl.col("field") == "freeze_authority")["new_value"].unique().to_list() == ["true"]
    stored = registry.read(con, "tokens")
    assert stored.filter(pl.col("mint").str.starts_with("New"))["token_id"].to_list() == list(range(5_000, 5_100))
    assert stored.filter(pl.col("token_id") < 5_000)["first_seen_ns"].unique().to_list() == [1]
    assert stored["last_seen_ns"].unique().to_list() == [2]


def test_a_second_identical_sync_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    rows = token_rows(300)
    registry.sync(con, "tokens", rows, now_ns=1)
    report = registry.sync(con, "tokens", rows, now_ns=2)
    assert (report.new, report.changed, report.delisted, report.unchanged) == (0, 0, 0, 300)
    assert con.execute("SELECT count(*) FROM registry_history").fetchall()[0][0] == 0


def test_missing_entries_of_a_full_snapshot_are_delisted_then_relisted(con: duckdb.DuckDBPyConnection) -> None:
    rows = token_rows(10)
    registry.sync(con, "tokens", rows, now_ns=1)
    report = registry.sync(con, "tokens", rows.head(8), now_ns=2)
    assert report.delisted == 2
    listed = registry.read(con, "tokens").select("mint", "listed", "delisted_ns")
    assert listed.filter(~pl.col("listed"))["mint"].to_list() == ["Mint0000008", "Mint0000009"]
    back = registry.sync(con, "tokens", rows, now_ns=3)
    assert back.relisted == 2 and back.delisted == 0
    assert registry.read(con, "tokens")["listed"].all()
    events = con.execute("SELECT key, old_value, new_value FROM registry_history WHERE field = 'listed' "
                         "ORDER BY changed_ns, key").fetchall()
    assert events == [("Mint0000008", "true", "false"), ("Mint0000009", "true", "false"),
                      ("Mint0000008", "false", "true"), ("Mint0000009", "false", "true")]


def test_partial_sync_never_delists_and_ids_never_move(con: duckdb.DuckDBPyConnection) -> None:
    registry.sync(con, "wallets", pl.DataFrame({"address": ["a", "b", "c"], "role": ["x"] * 3}), full=False)
    registry.sync(con, "wallets", pl.DataFrame({"address": ["d", "b"], "role": ["y", "x"]}), full=False)
    assert registry.ids_of(con, "wallets", ["a", "b", "c", "d", "zzz"]).tolist() == [0, 1, 2, 3, -1]
    assert registry.read(con, "wallets")["listed"].all()
    assert registry.dictionary(con, "wallets").keys() == ["a", "b", "c", "d"]


def test_sync_rejects_unknown_registries_and_rows_without_their_key(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="unknown registry 'coins'"):
        registry.sync(con, "coins", token_rows(1))
    with pytest.raises(ValueError, match="key column 'mint'"):
        registry.sync(con, "tokens", pl.DataFrame({"symbol": ["x"]}))
