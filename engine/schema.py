"""The event tape, the stored tables it maps to, and the id dictionaries.

A `Tape` is the one format every stage shares: generator, importers, parsers, lake, paper
journal and kernel. It is a struct of NumPy arrays of one length sorted by ``(slot, seq)``;
`engine.layout` says what each column means per event kind.

In the lake a tape is stored as one table per event kind (``swaps``, ``pool_states`` ...) with
named columns and integer base units, so that people and DuckDB can read it; `Tape.to_tables`
and `Tape.from_tables` convert both ways without loss.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import polars as pl
import pyarrow as pa

from engine.layout import INT_COLUMNS, N_VALS, EventKind, PoolKind
from engine.validate_nb import validate_rows_nb

__all__ = [
    "TABLES",
    "EventKind",
    "IdDictionary",
    "PoolKind",
    "Reason",
    "TableSpec",
    "Tape",
    "TapeError",
]


class TapeError(ValueError):
    """A tape was built from columns that do not fit together."""


class Reason(IntEnum):
    """Why a row was quarantined. Stored as text in the quarantine table; add, never renumber."""

    OK = 0
    NOT_FINITE = 1  # NaN or infinite value
    NEGATIVE_RESERVE = 2
    NEGATIVE_AMOUNT = 3
    UNKNOWN_ID = 4  # an id the registries do not know, or -1 where one is required
    OUT_OF_ORDER = 5  # slot (or slot, seq) went backwards within a source
    DUPLICATE_KEY = 6  # the same natural key twice in one batch
    BAD_BAR = 7  # high below low, or open/close outside [low, high]
    UNKNOWN_KIND = 8
    MALFORMED = 9  # could not be parsed at all (importers, transaction parser)
    TOO_LARGE = 10  # an integer amount that does not fit the stored column

    @property
    def text(self) -> str:
        return self.name.lower()


# ---------------------------------------------------------------------------------------------
# Stored tables: one per event kind.


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How one event kind is stored.

    Parameters
    ----------
    name : str
        Table name in the lake and the DuckDB catalog.
    kind : EventKind
        The tape rows this table holds.
    ints : dict[str, str]
        Stored column -> tape integer column it comes from.
    vals : dict[str, int]
        Stored column -> index into ``Tape.vals``.
    int_vals : tuple[str, ...]
        The ``vals`` columns stored as integers (base units); the others stay float64.
    key : tuple[str, ...]
        The natural key: re-ingesting a row with an existing key changes nothing. Transaction
        rows are keyed by ``(slot, signature, ix)``; a transaction has one slot, and the slot
        keeps signature-less (synthetic) rows apart.
    """

    name: str
    kind: EventKind
    ints: dict[str, str]
    vals: dict[str, int]
    int_vals: tuple[str, ...]
    key: tuple[str, ...]
    extra: dict[str, pa.DataType] = field(default_factory=dict)

    def arrow_schema(self) -> pa.Schema:
        """Return the stored schema: time columns, ids, extra columns, then values."""
        fields = [pa.field(c, _arrow(INT_COLUMNS[c])) for c in ("slot", "seq", "ts_ns")]
        fields += [pa.field(c, _arrow(INT_COLUMNS[src])) for c, src in self.ints.items()]
        fields += [pa.field(c, t) for c, t in self.extra.items()]
        fields += [pa.field(c, pa.int64() if c in self.int_vals else pa.float64()) for c in self.vals]
        return pa.schema(fields)

    def polars_schema(self) -> pl.Schema:
        return pl.Schema(pl.from_arrow(self.arrow_schema().empty_table()).schema)


def _arrow(dtype: np.dtype) -> pa.DataType:
    return pa.from_numpy_dtype(dtype)


_SIG = {"signature": pa.string(), "ix": pa.int32()}

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "pool_states", EventKind.POOL_STATE,
            ints={"pool_id": "pool_id", "mint_id": "mint_id", "pool_kind": "side"},
            vals={"reserve_base_raw": 0, "reserve_quote_raw": 1, "real_base_raw": 2, "real_quote_raw": 3},
            int_vals=("reserve_base_raw", "reserve_quote_raw", "real_base_raw", "real_quote_raw"),
            key=("slot", "pool_id"),
            # concentrated-liquidity rows store these instead (null elsewhere, and the above null for them)
            extra={"liquidity": pa.float64(), "sqrt_price": pa.float64(), "tick": pa.int32()},
        ),
        TableSpec(
            "swaps", EventKind.SWAP,
            ints={"pool_id": "pool_id", "wallet_id": "wallet_id", "mint_id": "mint_id", "side": "side"},
            vals={"amount_in_raw": 0, "amount_out_raw": 1},
            int_vals=("amount_in_raw", "amount_out_raw"),
            key=("slot", "signature", "ix"), extra=_SIG,
        ),
        TableSpec(
            "new_pools", EventKind.NEW_POOL,
            ints={"pool_id": "pool_id", "wallet_id": "wallet_id", "mint_id": "mint_id", "pool_kind": "side",
                  "risk_flags": "flags"},
            vals={"reserve_base_raw": 0, "reserve_quote_raw": 1, "lp_burned_share": 2, "top_holder_share": 3,
                  "transfer_fee_bps": 4},
            int_vals=("reserve_base_raw", "reserve_quote_raw"),
            key=("pool_id",),
        ),
        TableSpec(
            "liquidity", EventKind.LIQUIDITY,
            ints={"pool_id": "pool_id", "wallet_id": "wallet_id", "mint_id": "mint_id"},
            vals={"delta_base_raw": 0, "delta_quote_raw": 1},
            int_vals=("delta_base_raw", "delta_quote_raw"),
            key=("slot", "signature", "ix"), extra=_SIG,
        ),
        TableSpec(
            "bars", EventKind.BAR,
            ints={"instrument_id": "pool_id"},
            vals={"open": 0, "high": 1, "low": 2, "close": 3, "volume": 4},
            int_vals=(),
            key=("instrument_id", "ts_ns"),
        ),
        TableSpec(
            "outcome_trades", EventKind.OUTCOME_TRADE,
            ints={"market_id": "pool_id", "wallet_id": "wallet_id", "outcome": "mint_id", "side": "side"},
            vals={"shares": 0, "price": 1},
            int_vals=(),
            key=("slot", "signature", "ix"), extra=_SIG,
        ),
        TableSpec(
            "resolutions", EventKind.RESOLUTION,
            ints={"market_id": "pool_id"},
            vals={"payout": 0},
            int_vals=(),
            key=("market_id",),
        ),
        TableSpec(
            "own_fills", EventKind.OWN_FILL,
            ints={"pool_id": "pool_id", "wallet_id": "wallet_id", "mint_id": "mint_id", "side": "side",
                  "status": "flags"},
            vals={"amount_in_raw": 0, "amount_out_raw": 1, "fee_lamports": 2, "order_id": 3, "tip_lamports": 4},
            int_vals=("amount_in_raw", "amount_out_raw", "fee_lamports", "order_id", "tip_lamports"),
            key=("slot", "signature", "ix"), extra=_SIG,
        ),
    )
}
TABLE_OF_KIND: dict[int, TableSpec] = {int(s.kind): s for s in TABLES.values()}
_INT_COLS_BY_KIND = np.zeros((len(EventKind), N_VALS), dtype=np.bool_)
for _spec in TABLES.values():
    for _col, _j in _spec.vals.items():
        _INT_COLS_BY_KIND[_spec.kind, _j] = _col in _spec.int_vals

_I64_LIMIT = 2.0**63


# ---------------------------------------------------------------------------------------------
# The tape.


@dataclass(frozen=True, slots=True, eq=False)
class Tape:
    """Columnar event log sorted by ``(slot, seq)``; see `engine.layout` for the columns.

    Build one with `Tape.from_columns`, which checks lengths and casts dtypes; the
    constructor trusts its arguments (kernels and slices use it).
    """

    slot: np.ndarray
    seq: np.ndarray
    ts_ns: np.ndarray
    kind: np.ndarray
    pool_id: np.ndarray
    wallet_id: np.ndarray
    mint_id: np.ndarray
    side: np.ndarray
    flags: np.ndarray
    vals: np.ndarray  # (n, N_VALS) float64, C order

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_columns(cls, *, vals: np.ndarray | None = None, **cols: np.ndarray) -> Tape:
        """Build a tape from integer columns and ``vals``; missing id columns default to -1.

        Parameters
        ----------
        vals : ndarray, shape (n, 5), optional
            Per-kind values; zeros when omitted.
        **cols : ndarray
            ``slot``, ``seq``, ``ts_ns`` and ``kind`` are required; the others default to -1
            (ids, side) or 0 (flags).
        """
        unknown = set(cols) - set(INT_COLUMNS)
        if unknown:
            msg = f"unknown tape columns {sorted(unknown)}; valid ones are {[*INT_COLUMNS, 'vals']}"
            raise TapeError(msg)
        missing = [c for c in ("slot", "seq", "ts_ns", "kind") if c not in cols]
        if missing:
            msg = f"tape columns {missing} are required and were missing"
            raise TapeError(msg)
        n = len(cols["slot"])
        out: dict[str, np.ndarray] = {}
        for name, dtype in INT_COLUMNS.items():
            if name in cols:
                arr = np.ascontiguousarray(cols[name], dtype=dtype)
                if arr.shape != (n,):
                    msg = f"tape column {name!r} has shape {arr.shape}, expected ({n},) like 'slot'"
                    raise TapeError(msg)
            else:
                arr = np.full(n, 0 if name == "flags" else -1, dtype=dtype)
            out[name] = arr
        if vals is None:
            vals = np.zeros((n, N_VALS), dtype=np.float64)
        vals = np.ascontiguousarray(vals, dtype=np.float64)
        if vals.shape != (n, N_VALS):
            msg = f"tape 'vals' has shape {vals.shape}, expected ({n}, {N_VALS})"
            raise TapeError(msg)
        return cls(vals=vals, **out)

    @classmethod
    def empty(cls) -> Tape:
        return cls.from_columns(**{c: np.zeros(0, dtype=d) for c, d in INT_COLUMNS.items()})

    @classmethod
    def concat(cls, tapes: list[Tape], *, sort: bool = True) -> Tape:
        """Concatenate tapes; by default re-sort by ``(slot, seq)`` (stable)."""
        if not tapes:
            return cls.empty()
        cols = {c: np.concatenate([getattr(t, c) for t in tapes]) for c in INT_COLUMNS}
        tape = cls(vals=np.concatenate([t.vals for t in tapes]), **cols)
        return tape.sorted() if sort else tape

    # -- shape ----------------------------------------------------------------------------------

    @property
    def n_events(self) -> int:
        return int(self.slot.shape[0])

    def __len__(self) -> int:
        return self.n_events

    def columns(self) -> dict[str, np.ndarray]:
        """Return the integer columns by name (without ``vals``)."""
        return {c: getattr(self, c) for c in INT_COLUMNS}

    def take(self, index: np.ndarray) -> Tape:
        """Return the rows at ``index`` (integer positions or a boolean mask), in that order."""
        return Tape(vals=self.vals[index], **{c: a[index] for c, a in self.columns().items()})

    def slice(self, start: int, stop: int) -> Tape:
        """Return events ``[start, stop)`` as views (no copy)."""
        return Tape(vals=self.vals[start:stop], **{c: a[start:stop] for c, a in self.columns().items()})

    def sorted(self) -> Tape:
        """Return the tape sorted by ``(slot, seq)``, stable for ties."""
        if self.is_sorted():
            return self
        return self.take(np.lexsort((self.seq, self.slot)))

    def is_sorted(self) -> bool:
        if self.n_events < 2:
            return True
        ds = np.diff(self.slot)
        return bool(np.all((ds > 0) | ((ds == 0) & (np.diff(self.seq) >= 0))))

    def kernel_columns(self) -> tuple[np.ndarray, ...]:
        """Return the arrays a kernel takes, in `engine.layout.INT_COLUMNS` order, then ``vals``."""
        return (*self.columns().values(), self.vals)

    # -- checks ---------------------------------------------------------------------------------

    def validate(self, *, n_pools: int | None = None, n_wallets: int | None = None,
                 n_mints: int | None = None, n_markets: int | None = None) -> np.ndarray:
        """Return one `Reason` code per row (``Reason.OK`` = 0 for good rows).

        Checks, first problem wins: unknown kinds, non-finite values, negative reserves and
        amounts, inconsistent bars, ids below -1 or missing where the kind needs them or beyond
        the registry sizes given, rows whose ``(slot, seq)`` goes backwards (out of order) or
        repeats (duplicate), and integer-stored values beyond int64.
        """
        reason = np.zeros(self.n_events, dtype=np.int8)
        validate_rows_nb(self.slot, self.seq, self.kind, self.pool_id, self.wallet_id, self.mint_id, self.side,
                         self.vals, -1 if n_pools is None else n_pools, -1 if n_wallets is None else n_wallets,
                         -1 if n_mints is None else n_mints, -1 if n_markets is None else n_markets,
                         _INT_COLS_BY_KIND, reason)
        return reason

    # -- conversions ----------------------------------------------------------------------------

    def to_arrow(self) -> pa.Table:
        """Return the tape as one Arrow table (``v0`` .. ``v4`` for ``vals``), lossless."""
        arrays = {c: pa.array(a) for c, a in self.columns().items()}
        arrays |= {f"v{j}": pa.array(self.vals[:, j]) for j in range(N_VALS)}
        return pa.table(arrays)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Tape:
        cols = {c: table.column(c).to_numpy() for c in INT_COLUMNS}
        vals = np.column_stack([table.column(f"v{j}").to_numpy() for j in range(N_VALS)]) if table.num_rows \
            else np.zeros((0, N_VALS))
        return cls.from_columns(vals=vals, **cols)

    def to_polars(self) -> pl.DataFrame:
        return pl.from_arrow(self.to_arrow())

    @classmethod
    def from_polars(cls, df: pl.DataFrame) -> Tape:
        return cls.from_arrow(df.to_arrow())

    def to_tables(self, *, signature: np.ndarray | None = None,
                  ix: np.ndarray | None = None) -> dict[str, pl.DataFrame]:
        """Split the tape into its stored tables (only kinds present), integers in base units.

        Parameters
        ----------
        signature, ix : ndarray, optional
            Transaction signature and instruction index per row, for the tables keyed by them.
            Rows with no transaction (synthetic or replayed) get a null signature and
            ``ix = seq``, so ``(slot, signature, ix)`` still keys them uniquely.
        """
        out: dict[str, pl.DataFrame] = {}
        for spec in TABLES.values():
            is_kind = self.kind == spec.kind
            if not is_kind.any():
                continue
            rows = slice(None) if is_kind.all() else np.flatnonzero(is_kind)  # a view when the tape is one kind
            out[spec.name] = _table_of(self, spec, rows, signature, ix)
        return out

    @classmethod
    def from_tables(cls, tables: dict[str, pl.DataFrame]) -> Tape:
        """Merge stored tables back into one sorted tape (extra columns are ignored)."""
        parts = []
        for name, df in tables.items():
            if df.height == 0:
                continue
            spec = TABLES[name]
            n = df.height
            cols = {c: df[c].to_numpy() for c in ("slot", "seq", "ts_ns")}
            cols |= {src: df[c].to_numpy() for c, src in spec.ints.items()}
            cols["kind"] = np.full(n, spec.kind, dtype=np.int8)
            vals = np.zeros((n, N_VALS), dtype=np.float64)
            for c, j in spec.vals.items():
                vals[:, j] = df[c].cast(pl.Float64).fill_null(0.0).to_numpy()
            if spec.kind == EventKind.POOL_STATE:
                clmm = cols["side"] == PoolKind.CLMM
                for j, c in enumerate(("liquidity", "sqrt_price", "tick")):
                    vals[clmm, j] = df[c].cast(pl.Float64).to_numpy()[clmm]
            parts.append(cls.from_columns(vals=vals, **cols))
        return cls.concat(parts)

    def content_hash(self) -> str:
        """Return a SHA-256 over every column's bytes: equal tapes, equal hashes."""
        h = hashlib.sha256()
        for arr in (*self.columns().values(), self.vals):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def equals(self, other: Tape) -> bool:
        """Return True when every column is bit-identical (NaN payloads included)."""
        return all(np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
                   for a, b in zip(self.kernel_columns(), other.kernel_columns(), strict=True))


def _table_of(tape: Tape, spec: TableSpec, rows: np.ndarray | slice, signature: np.ndarray | None,
              ix: np.ndarray | None) -> pl.DataFrame:
    data: dict[str, object] = {c: getattr(tape, c)[rows] for c in ("slot", "seq", "ts_ns")}
    n_rows = data["slot"].shape[0]
    data |= {c: getattr(tape, src)[rows] for c, src in spec.ints.items()}
    if "signature" in spec.extra:
        if signature is None:
            data["signature"] = pl.repeat(None, n_rows, dtype=pl.String, eager=True)
            data["ix"] = data["seq"]
        else:
            data["signature"] = np.asarray(signature, dtype=object)[rows]
            data["ix"] = np.zeros(n_rows, dtype=np.int32) if ix is None else np.asarray(ix, dtype=np.int32)[rows]
    clmm = None
    if spec.kind == EventKind.POOL_STATE:
        clmm = tape.side[rows] == PoolKind.CLMM
        v = tape.vals[rows]
        data["liquidity"] = np.where(clmm, v[:, 0], np.nan)
        data["sqrt_price"] = np.where(clmm, v[:, 1], np.nan)
        data["tick"] = np.where(clmm, v[:, 2], 0).astype(np.int32)
    for c, j in spec.vals.items():
        col = np.where(clmm, 0.0, tape.vals[rows, j]) if clmm is not None else tape.vals[rows, j]
        if c in spec.int_vals:
            if (np.abs(col) >= _I64_LIMIT).any():
                msg = f"column {c!r} of {spec.name} has a value beyond int64; quarantine such rows before storing"
                raise TapeError(msg)
            col = col.astype(np.int64)
        data[c] = col
    df = pl.DataFrame(data, schema=spec.polars_schema())
    if clmm is not None:  # make the unused side of each row null, not a made-up zero
        is_clmm = pl.Series(clmm)
        df = df.with_columns(
            *[pl.when(is_clmm).then(None).otherwise(pl.col(c)).alias(c) for c in spec.vals],
            *[pl.when(is_clmm).then(pl.col(c)).otherwise(None).alias(c) for c in ("liquidity", "sqrt_price", "tick")],
        )
    return df


# ---------------------------------------------------------------------------------------------
# Id dictionaries: strings never enter a kernel.


class IdDictionary:
    """Bidirectional map between keys (base58 pubkeys, symbols) and dense ``int32`` ids.

    Ids are assigned in first-seen order starting at 0 and never reused, so a tape built
    today keeps its meaning tomorrow; the registries persist them in DuckDB.
    """

    __slots__ = ("_ids", "_keys")

    def __init__(self, keys: list[str] | None = None) -> None:
        self._keys: list[str] = []
        self._ids: dict[str, int] = {}
        for k in keys or ():
            self.encode(k)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._ids

    def encode(self, key: str) -> int:
        """Return the id of ``key``, assigning the next one when it is new."""
        found = self._ids.get(key)
        if found is not None:
            return found
        new = len(self._keys)
        if new > np.iinfo(np.int32).max:
            msg = "id dictionary is full (2**31 keys); shard the registry"
            raise OverflowError(msg)
        self._ids[key] = new
        self._keys.append(key)
        return new

    def encode_many(self, keys: list[str]) -> np.ndarray:
        return np.fromiter((self.encode(k) for k in keys), dtype=np.int32, count=len(keys))

    def lookup(self, key: str) -> int:
        """Return the id of a known key, or -1 (never assigns)."""
        return self._ids.get(key, -1)

    def decode(self, id_: int) -> str:
        if not 0 <= id_ < len(self._keys):
            msg = f"id {id_} is not in this dictionary of {len(self._keys)} keys"
            raise KeyError(msg)
        return self._keys[id_]

    def keys(self) -> list[str]:
        return list(self._keys)
