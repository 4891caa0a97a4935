"""File importers: CSV/Parquet/JSON exports of trades, bars and outcome trades into the lake."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from engine.feeds.importers import import_file, parse_maps
from engine.feeds.token_sync import read_token_list, sync_tokens
from engine.store import registry
from engine.store.catalog import opened
from engine.store.lake import Lake

T0 = 1_735_689_600  # 2025-01-01
TRADES = pl.DataFrame({
    "Timestamp": [f"2025-01-01T00:00:0{i}Z" for i in range(4)],
    "Pool": ["P1", "P1", "P2", "P2"], "Trader": ["W1", "W2", "W1", "W3"], "Token": ["M1", "M1", "M2", "M2"],
    "Side": ["buy", "SELL", "b", "s"], "Amount_In": ["100", "2000", "5", "7"], "Amount_Out": ["2000", "90", "7", "5"],
    "Tx": ["sA", "sB", "sC", "sD"],
})


def run(tmp_path: Path, path: Path, fmt: str, **kw) -> dict:
    lake = Lake(tmp_path / "lake")
    with opened(lake) as con:
        return import_file(lake, con, path, fmt, **kw).to_dict()


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json"])
def test_trades_round_trip_from_each_file_type_and_reimport_is_idempotent(tmp_path: Path, suffix: str) -> None:
    # Arrange
    path = tmp_path / f"trades.{suffix}"
    if suffix == "csv":
        TRADES.write_csv(path)
    elif suffix == "parquet":
        TRADES.write_parquet(path)
    else:
        path.write_text(json.dumps(TRADES.to_dicts()))
    # Act
    first = run(tmp_path, path, "trades")
    again = run(tmp_path, path, "trades")
    # Assert
    assert first["written"] == {"swaps": 4} and first["n_quarantined"] == 0
    assert again["written"] == {"swaps": 0} and again["already_present"] == {"swaps": 4}
    lake = Lake(tmp_path / "lake")
    df = lake.read("swaps")
    assert df["signature"].to_list() == ["sA", "sB", "sC", "sD"]
    assert df["side"].to_list() == [0, 1, 0, 1] and df["amount_in_raw"].to_list() == [100, 2000, 5, 7]
    assert df["ts_ns"].to_list() == [(T0 + i) * 10**9 for i in range(4)]
    with opened(lake) as con:
        pools, wallets = registry.dictionary(con, "pools"), registry.dictionary(con, "wallets")
    assert [pools.decode(i) for i in df["pool_id"]] == ["P1", "P1", "P2", "P2"]
    assert [wallets.decode(i) for i in df["wallet_id"]] == ["W1", "W2", "W1", "W3"]


def test_map_names_columns_the_aliases_do_not_know(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    TRADES.rename({"Trader": "Who", "Token": "Coin"}).write_csv(path)
    with pytest.raises(ValueError, match="--map"):
        run(tmp_path, path, "trades")
    out = run(tmp_path, path, "trades", maps=parse_maps(["who=wallet", "Coin=mint"], "trades"))
    assert out["written"] == {"swaps": 4} and out["columns"]["wallet"] == "Who"
    with pytest.raises(ValueError, match="valid ones"):
        parse_maps(["Who=trader_name"], "trades")


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_land(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ts,pool,wallet,mint,side,amount_in,amount_out\n"
                    f"{T0},P,W,M,buy,10,20\n"
                    f"{T0 + 1},P,W,M,sideways,10,20\n"
                    f"{T0 + 2},P,W,M,buy,ten,20\n"
                    f"{T0 + 3},P,,M,buy,10,20\n"
                    f"{T0 + 4},P,W,M,buy,-10,20\n"
                    f"{T0 + 5},P,W,M,sell,1.5,20\n"
                    f"{T0 * 1000 + 6000},P,W,M,sell,10,20\n")
    out = run(tmp_path, path, "trades")
    assert out["written"] == {"swaps": 2}
    assert out["quarantined"] == {"malformed": 4, "negative_amount": 1}
    rows = [json.loads(r) for r in Lake(tmp_path / "lake").read("quarantine")["row"]]
    problems = sorted(r.get("problem", "") for r in rows)
    assert any("side" in p for p in problems) and any("amount_in must be base units" in p for p in problems)
    assert any("required value wallet is missing" in p for p in problems)


def test_ohlcv_and_outcomes_import_with_validation(tmp_path: Path) -> None:
    bars = tmp_path / "bars.ndjson"
    bars.write_text("\n".join(json.dumps(r) for r in [
        {"symbol": "SOL/USDC", "time": T0, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10},
        {"symbol": "SOL/USDC", "time": T0 + 60, "o": 1, "h": 0.2, "l": 0.5, "c": 1.5, "v": 10}]))
    out = run(tmp_path, bars, "ohlcv")
    assert out["written"] == {"bars": 1} and out["quarantined"] == {"bad_bar": 1}
    trades = tmp_path / "pm.parquet"
    pl.DataFrame({"when": [T0, T0 + 1], "question": ["Q", "Q"], "user": ["A", "B"], "answer": ["yes", "no"],
                  "side": ["buy", "sell"], "size": [10.0, 5.0], "price": [0.4, 0.6]}).write_parquet(trades)
    out = run(tmp_path, trades, "outcomes", maps={"when": "ts"})
    assert out["written"] == {"outcome_trades": 2}
    df = Lake(tmp_path / "lake").read("outcome_trades")
    assert df["outcome"].to_list() == [1, 0] and df["price"].to_list() == [0.4, 0.6]


def test_truncated_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[{"ts": 1, "pool": "P"')
    with pytest.raises(ValueError, match="truncated"):
        run(tmp_path, path, "trades")


def test_token_sync_counts_new_changed_and_delisted_with_history(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    v1, v2 = tmp_path / "v1.json", tmp_path / "v2.csv"
    v1.write_text(json.dumps({"tokens": [{"address": "M1", "symbol": "ONE", "decimals": 6},
                                         {"address": "M2", "symbol": "TWO", "decimals": 9, "freezeAuthority": "X"}]}))
    v2.write_text("mint,symbol,decimals\nM1,ONE,6\nM3,THREE,2\nM2,TWO,8\n")
    with opened(lake) as con:
        first = sync_tokens(con, read_token_list(v1), full=True)
        second = sync_tokens(con, read_token_list(v2).filter(pl.col("mint") != "M2"), full=True)
        third = sync_tokens(con, read_token_list(v2), full=True)
        tokens = registry.read(con, "tokens")
        history = con.execute("SELECT count(*) FROM registry_history WHERE registry = 'tokens'").fetchall()[0][0]
    assert (first.new, first.changed, first.delisted) == (2, 0, 0)
    assert (second.new, second.delisted) == (1, 1)
    assert third.relisted == 1 and third.changed == 1
    assert tokens.filter(pl.col("mint") == "M2")["decimals"][0] == 8
    assert tokens.filter(pl.col("mint") == "M2")["freeze_authority"][0] is True
    assert history >= 3
