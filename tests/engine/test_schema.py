"""The tape: construction, conversions, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.layout import N_VALS, EventKind, PoolKind, Side
from engine.schema import TABLES, IdDictionary, Reason, Tape, TapeError


def make_tape(rows: list[tuple]) -> Tape:
    """rows: (slot, seq, kind, pool_id, wallet_id, mint_id, side, vals)."""
    slot, seq, kind, pool, wallet, mint, side, vals = zip(*rows, strict=True)
    return Tape.from_columns(slot=slot, seq=seq, ts_ns=np.asarray(slot) * 400_000_000, kind=kind, pool_id=pool,
                             wallet_id=wallet, mint_id=mint, side=side,
                             vals=np.array([list(v) + [0.0] * (N_VALS - len(v)) for v in vals]))


# One row of every kind, with only the values that kind stores (others are zero).
ALL_KINDS = [
    (10, 0, EventKind.POOL_STATE, 0, -1, 2, PoolKind.CPMM, (1e9, 5e12, 0, 0)),
    (10, 1, EventKind.POOL_STATE, 1, -1, 2, PoolKind.CURVE, (1.073e15, 3e10, 7.93e14, 1e9)),
    (10, 2, EventKind.POOL_STATE, 2, -1, 2, PoolKind.CLMM, (5.5e12, 0.0123456789, -4321.0)),
    (11, 0, EventKind.SWAP, 0, 7, 2, Side.BUY, (1_000_000, 987_654)),
    (11, 1, EventKind.NEW_POOL, 3, 8, 4, PoolKind.CURVE, (1.073e15, 3e10, 0.0, 0.25, 0.0)),
    (12, 0, EventKind.LIQUIDITY, 3, 8, 4, -1, (-5e14, -2e10)),
    (12, 1, EventKind.BAR, 9, -1, -1, -1, (1.0, 1.5, 0.5, 1.25, 1000.0)),
    (12, 2, EventKind.OUTCOME_TRADE, 0, 7, 1, Side.SELL, (100.0, 0.63)),
    (13, 0, EventKind.RESOLUTION, 0, -1, -1, -1, (1.0,)),
    (13, 1, EventKind.OWN_FILL, 0, 5, 2, Side.SELL, (5_000, 4_900, 10_000)),
]


def test_every_kind_round_trips_through_its_stored_table() -> None:
    # Arrange
    tape = make_tape(ALL_KINDS)
    # Act
    tables = tape.to_tables()
    back = Tape.from_tables(tables)
    # Assert
    assert set(tables) == {s.name for s in TABLES.values()}
    assert back.equals(tape)
    assert tables["pool_states"]["reserve_base_raw"].to_list() == [1_000_000_000, 1_073_000_000_000_000, None]
    assert tables["pool_states"]["tick"].to_list() == [None, None, -4321]
    assert tables["swaps"]["amount_in_raw"].dtype.is_integer()


def test_arrow_and_polars_round_trips_are_lossless() -> None:
    tape = make_tape(ALL_KINDS)
    assert Tape.from_arrow(tape.to_arrow()).equals(tape)
    assert Tape.from_polars(tape.to_polars()).equals(tape)


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 2**40), st.integers(0, 2**40)), max_size=50))
def test_swap_amounts_round_trip_exactly(rows: list[tuple[int, int, int]]) -> None:
    rows = sorted(rows)
    tape = Tape.from_columns(slot=[r[0] for r in rows], seq=np.arange(len(rows)), ts_ns=[r[0] for r in rows],
                             kind=np.full(len(rows), EventKind.SWAP), pool_id=np.zeros(len(rows)),
                             wallet_id=np.zeros(len(rows)), mint_id=np.zeros(len(rows)), side=np.zeros(len(rows)),
                             vals=np.array([[r[1], r[2], 0, 0, 0] for r in rows], dtype=np.float64).reshape(-1, 5))
    back = Tape.from_tables(tape.to_tables())
    assert back.equals(tape)


@pytest.mark.parametrize(("row", "reason"), [
    ((20, 0, EventKind.SWAP, 0, 1, 2, 0, (np.nan, 5.0)), Reason.NOT_FINITE),
    ((20, 0, EventKind.SWAP, 0, 1, 2, 0, (np.inf, 5.0)), Reason.NOT_FINITE),
    ((20, 0, EventKind.POOL_STATE, 0, -1, 2, PoolKind.CPMM, (-1.0, 5.0)), Reason.NEGATIVE_RESERVE),
    ((20, 0, EventKind.POOL_STATE, 0, -1, 2, PoolKind.CLMM, (1e6, 0.0, 3.0)), Reason.NEGATIVE_RESERVE),
    ((20, 0, EventKind.SWAP, 0, 1, 2, 0, (-10.0, 5.0)), Reason.NEGATIVE_AMOUNT),
    ((20, 0, EventKind.SWAP, -1, 1, 2, 0, (10.0, 5.0)), Reason.UNKNOWN_ID),
    ((20, 0, EventKind.SWAP, 0, -1, 2, 0, (10.0, 5.0)), Reason.UNKNOWN_ID),
    ((20, 0, EventKind.SWAP, 99, 1, 2, 0, (10.0, 5.0)), Reason.UNKNOWN_ID),  # beyond n_pools below
    ((20, 0, EventKind.BAR, 3, -1, -1, -1, (1.0, 0.5, 0.8, 0.9, 1.0)), Reason.BAD_BAR),
    ((20, 0, 42, 0, 1, 2, 0, (1.0,)), Reason.UNKNOWN_KIND),
])
def test_validate_names_each_kind_of_bad_row(row: tuple, reason: Reason) -> None:
    # Arrange: a good row first, the bad row after it
    good = (10, 0, EventKind.SWAP, 0, 1, 2, 0, (10.0, 5.0))
    tape = make_tape([good, row])
    # Act
    got = tape.validate(n_pools=10, n_wallets=10, n_mints=10)
    # Assert
    assert got.tolist() == [Reason.OK, reason]


def test_validate_flags_rows_that_go_back_in_time_and_duplicates() -> None:
    swap = (EventKind.SWAP, 0, 1, 2, 0, (10.0, 5.0))
    tape = make_tape([(10, 0, *swap), (12, 0, *swap), (11, 0, *swap), (12, 0, *swap), (12, 0, *swap)])
    # (11, 0) follows (12, 0): backwards; (12, 0) after (11, 0) is fine; (12, 0) again: duplicate
    assert tape.validate().tolist() == [0, 0, Reason.OUT_OF_ORDER, 0, Reason.DUPLICATE_KEY]


def test_from_columns_rejects_mismatched_lengths_and_unknown_columns() -> None:
    with pytest.raises(TapeError, match="shape"):
        Tape.from_columns(slot=[1, 2], seq=[0], ts_ns=[0, 0], kind=[1, 1])
    with pytest.raises(TapeError, match="unknown tape columns"):
        Tape.from_columns(slot=[1], seq=[0], ts_ns=[0], kind=[1], price=[3.0])
    with pytest.raises(TapeError, match="required"):
        Tape.from_columns(slot=[1], seq=[0], ts_ns=[0])


def test_concat_sorts_and_slice_shares_memory() -> None:
    a = make_tape(ALL_KINDS[5:])
    b = make_tape(ALL_KINDS[:5])
    both = Tape.concat([a, b])
    assert both.equals(make_tape(ALL_KINDS))
    part = both.slice(2, 5)
    assert part.n_events == 3 and np.shares_memory(part.slot, both.slot)


def test_content_hash_changes_with_any_value() -> None:
    tape = make_tape(ALL_KINDS)
    changed = tape.take(np.arange(tape.n_events))
    changed.vals[3, 1] += 1.0
    assert tape.content_hash() == make_tape(ALL_KINDS).content_hash()
    assert tape.content_hash() != changed.content_hash()


def test_id_dictionary_assigns_dense_ids_in_first_seen_order() -> None:
    d = IdDictionary(["So11111111111111111111111111111111111111112"])
    ids = d.encode_many(["A", "B", "A", "So11111111111111111111111111111111111111112"])
    assert ids.tolist() == [1, 2, 1, 0] and ids.dtype == np.int32
    assert d.decode(2) == "B" and d.lookup("C") == -1 and len(d) == 3
    with pytest.raises(KeyError, match="not in this dictionary"):
        d.decode(7)
