"""The lake on real files: round trips, idempotent re-ingest, quarantine, pruning, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from engine.layout import EventKind, PoolKind, Side
from engine.schema import Tape
from engine.store.catalog import opened
from engine.store.lake import QUARANTINE, Lake, resolve_root

DAY0_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
SLOTS_PER_DAY = 216_000


def swaps_and_states(n: int, *, days: int = 1, seed: int = 0) -> Tape:
    """Swaps and pool states over ``days`` days, every value a whole base unit."""
    rng = np.random.default_rng([1, seed])
    slot = np.sort(rng.integers(0, SLOTS_PER_DAY * days, n))
    kind = rng.choice([EventKind.SWAP, EventKind.POOL_STATE], n)
    vals = np.zeros((n, 5))
    vals[:, 0] = rng.integers(1, 10**12, n)
    vals[:, 1] = rng.integers(1, 10**12, n)
    return Tape.from_columns(
        slot=slot, seq=np.arange(n) % 1000, ts_ns=DAY0_NS + slot * 400_000_000, kind=kind,
        pool_id=rng.integers(0, 20, n), wallet_id=np.where(kind == EventKind.SWAP, rng.integers(0, 50, n), -1),
        mint_id=rng.integers(0, 5, n), side=np.where(kind == EventKind.SWAP, rng.integers(0, 2, n), PoolKind.CPMM),
        vals=vals).sorted()


def test_ingest_then_read_tape_returns_the_same_events(tmp_path: Path) -> None:
    # Arrange
    tape = swaps_and_states(5_000, days=3)
    lake = Lake(tmp_path)
    # Act
    report = lake.ingest(tape, source="test")
    back = lake.read_tape()
    # Assert
    assert report.n_written == tape.n_events and report.n_quarantined == 0
    assert back.equals(tape)
    assert lake.days("swaps") == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert all(pq.read_metadata(f).row_group(0).column(0).compression == "ZSTD" for f in lake.files("swaps"))


def test_reingesting_the_same_rows_changes_nothing(tmp_path: Path) -> None:
    tape = swaps_and_states(3_000, days=2)
    bad = Tape.from_columns(slot=[5], seq=[0], ts_ns=[DAY0_NS], kind=[EventKind.SWAP], pool_id=[1], wallet_id=[1],
                            mint_id=[0], side=[0], vals=[[np.nan, 1, 0, 0, 0]])
    lake = Lake(tmp_path)
    lake.ingest(tape, source="test")
    lake.ingest(bad, source="test")
    files_before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet"))
    # Act
    again = lake.ingest(tape, source="test")
    again_bad = lake.ingest(bad, source="test")
    # Assert
    assert again.n_written == 0 and sum(again.already_present.values()) == tape.n_events
    assert again_bad.n_quarantined == 1  # reported again, but stored once
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")) == files_before
    assert lake.read(QUARANTINE).height == 1
    assert lake.read_tape().equals(tape)


def test_a_partly_new_batch_writes_only_the_new_rows(tmp_path: Path) -> None:
    tape = swaps_and_states(2_000)
    lake = Lake(tmp_path)
    lake.ingest(tape.slice(0, 1_200), source="test")
    report = lake.ingest(tape.slice(800, 2_000), source="test")
    assert report.n_written == 800 and sum(report.already_present.values()) == 400
    assert lake.read_tape().equals(tape)


def test_bad_rows_go_to_quarantine_with_their_reason_and_good_rows_land(tmp_path: Path) -> None:
    # Arrange: 4 good rows and one of each bad kind, in arrival order
    rows = [  # slot, kind, pool, wallet, vals0, vals1, signature
        (10, EventKind.SWAP, 1, 1, 100.0, 90.0, "sigA"),
        (11, EventKind.SWAP, 1, 1, np.nan, 90.0, "sigB"),  # NaN
        (12, EventKind.POOL_STATE, 1, -1, -5.0, 10.0, None),  # negative reserve
        (13, EventKind.SWAP, 77, 1, 100.0, 90.0, "sigC"),  # pool 77 unknown
        (14, EventKind.SWAP, 1, 1, 100.0, 90.0, "sigD"),
        (9, EventKind.SWAP, 1, 1, 100.0, 90.0, "sigE"),  # went back in time
        (15, EventKind.SWAP, 1, 1, 100.0, 90.0, "sigD"),  # same signature and ix, another slot: allowed key
        (15, EventKind.SWAP, 2, 1, 1.0, 1.0, "sigF"),
        (16, EventKind.SWAP, 2, 1, 1.0, 1.0, "sigF"),
    ]
    slot, kind, pool, wallet, v0, v1, sig = zip(*rows, strict=True)
    n = len(rows)
    vals = np.zeros((n, 5))
    vals[:, 0], vals[:, 1] = v0, v1
    tape = Tape.from_columns(slot=slot, seq=np.arange(n), ts_ns=DAY0_NS + np.asarray(slot) * 400_000_000, kind=kind,
                             pool_id=pool, wallet_id=wallet, mint_id=np.zeros(n), side=np.zeros(n), vals=vals)
    lake = Lake(tmp_path)
    # Act
    report = lake.ingest(tape, source="feed-x", signature=np.array(sig, dtype=object), ix=np.zeros(n),
                         n_pools=10, n_wallets=10, n_mints=10)
    # Assert
    assert dict(report.quarantined) == {"not_finite": 1, "negative_reserve": 1, "unknown_id": 1, "out_of_order": 1}
    q = lake.read(QUARANTINE)
    assert set(q["source"]) == {"feed-x"}
    assert sorted(q["reason"]) == ["negative_reserve", "not_finite", "out_of_order", "unknown_id"]
    nan_row = json.loads(q.filter(pl.col("reason") == "not_finite")["row"][0])
    assert nan_row["slot"] == 11 and nan_row["signature"] == "sigB"
    swaps = lake.read("swaps")
    assert swaps["signature"].to_list() == ["sigA", "sigD", "sigD", "sigF", "sigF"]


def test_duplicate_keys_within_one_batch_keep_the_first_and_quarantine_the_rest(tmp_path: Path) -> None:
    n = 3
    tape = Tape.from_columns(slot=[7, 7, 7], seq=[0, 1, 2], ts_ns=[DAY0_NS] * n, kind=[EventKind.SWAP] * n,
                             pool_id=[1] * n, wallet_id=[2] * n, mint_id=[0] * n, side=[Side.BUY] * n,
                             vals=[[10, 9, 0, 0, 0], [10, 9, 0, 0, 0], [11, 9, 0, 0, 0]])
    report = Lake(tmp_path).ingest(tape, source="s", signature=np.array(["x", "x", "y"], dtype=object), ix=[0, 0, 0])
    assert report.written == {"swaps": 2} and dict(report.quarantined) == {"duplicate_key": 1}


def test_reading_one_day_of_one_pool_opens_only_that_day(tmp_path: Path) -> None:
    # Arrange: three days; then make days 1 and 3 unreadable, so touching them would fail
    tape = swaps_and_states(9_000, days=3)
    lake = Lake(tmp_path)
    lake.ingest(tape, source="test")
    for day in ("2026-01-01", "2026-01-03"):
        for f in (tmp_path / "lake" / "swaps" / f"date={day}").glob("*.parquet"):
            f.write_bytes(b"not parquet")
    start = DAY0_NS + 86_400 * 10**9
    # Act
    got = lake.read("swaps", start_ts_ns=start, stop_ts_ns=start + 86_400 * 10**9, pool_ids=[3])
    # Assert
    want = np.flatnonzero((tape.kind == EventKind.SWAP) & (tape.pool_id == 3)
                          & (tape.ts_ns >= start) & (tape.ts_ns < start + 86_400 * 10**9))
    assert got.height == want.size > 0
    assert got["slot"].to_list() == tape.slot[want].tolist()


def test_duckdb_catalog_has_a_view_per_table(tmp_path: Path) -> None:
    tape = swaps_and_states(1_000, days=2)
    lake = Lake(tmp_path)
    lake.ingest(tape, source="test")
    with opened(lake) as con:
        n_swaps = con.execute("SELECT count(*) FROM swaps").fetchall()[0][0]
        days = con.execute("SELECT count(DISTINCT date) FROM pool_states").fetchall()[0][0]
    assert n_swaps == int((tape.kind == EventKind.SWAP).sum())
    assert days == 2


def test_lake_root_comes_from_flag_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_LAKE", "/tmp/env-lake")
    assert resolve_root("/tmp/flag") == Path("/tmp/flag")
    assert resolve_root(None) == Path("/tmp/env-lake")
    monkeypatch.delenv("SHOAL_LAKE")
    assert resolve_root(None) == Path("data")


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from engine.layout import EventKind
    from engine.schema import Tape
    from engine.store.lake import Lake

    lake = Lake(sys.argv[1])
    rng = np.random.default_rng(0)
    n = 200_000
    for batch in range(10_000):
        slot = batch * 1_000 + np.sort(rng.integers(0, 1_000, n))
        tape = Tape.from_columns(slot=slot, seq=np.arange(n), ts_ns=1_767_225_600 * 10**9 + slot * 400_000_000,
                                 kind=np.full(n, EventKind.SWAP), pool_id=rng.integers(0, 9, n),
                                 wallet_id=np.ones(n), mint_id=np.zeros(n), side=np.zeros(n),
                                 vals=np.column_stack([rng.integers(1, 10**9, (n, 2)), np.zeros((n, 3))]))
        report = lake.ingest(tape, source="writer")
        print(report.n_written, flush=True)
""")


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_a_readable_lake_and_loses_nothing_committed(tmp_path: Path) -> None:
    # Arrange: a real writer process, killed with SIGKILL after a few committed batches
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    lake_dir = tmp_path / "lake-root"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, str(script), str(lake_dir)], stdout=subprocess.PIPE, text=True, env=env)
    committed = 0
    for _ in range(3):
        committed += int(proc.stdout.readline())
    time.sleep(np.random.default_rng().uniform(0.05, 0.5))  # somewhere inside the next write
    # Act
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read().split()
    committed += sum(int(x) for x in rest)
    # Assert: every visible file is a whole Parquet file, and every reported batch is there
    lake = Lake(lake_dir)
    for f in lake.files("swaps"):
        pq.read_metadata(f)
    stored = lake.read("swaps")
    assert stored.height >= committed >= 600_000
    assert stored.select(["slot", "ix"]).is_unique().all()


def test_quarantined_rows_may_mix_signed_and_unsigned_rows(tmp_path: Path) -> None:
    tape = Tape.from_columns(slot=[1, 2], seq=[0, 0], ts_ns=[DAY0_NS, DAY0_NS], kind=[EventKind.SWAP] * 2,
                             pool_id=[0, 0], wallet_id=[0, 0], vals=[[np.nan, 0, 0, 0, 0], [-1.0, 0, 0, 0, 0]])
    report = Lake(tmp_path).ingest(tape, source="s", signature=np.array(["sigA", None], dtype=object), ix=[0, 0])
    q = Lake(tmp_path).read(QUARANTINE)
    assert report.n_quarantined == 2
    assert sorted(json.loads(r)["signature"] or "" for r in q["row"]) == ["", "sigA"]
