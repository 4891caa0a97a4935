"""Import exported files (CSV, Parquet, JSON) of DEX trades, OHLCV bars and prediction-market trades.

Each format has **fields**; a file's columns are matched to them by name, case-insensitively,
through a list of common aliases (`FIELDS`), or explicitly with ``--map column=field``.

| format     | event         | required fields                                        | optional          |
| ---------- | ------------- | ------------------------------------------------------ | ----------------- |
| ``trades`` | SWAP          | ts, pool, wallet, mint (base), side, amount_in/out     | slot, signature,  |
|            |               |                                                        | ix, quote_mint,   |
|            |               |                                                        | venue             |
| ``ohlcv``  | BAR           | ts, instrument, open, high, low, close, volume         | slot              |
| ``outcomes`` | OUTCOME_TRADE | ts, market, wallet, outcome, side, shares, price     | slot, signature,  |
|            |               |                                                        | ix                |

Values:

* ``ts``: a datetime, an ISO string (UTC unless it says otherwise) or UNIX epoch numbers in
  seconds, ms, us or ns (told apart by magnitude; a column named ``ts_ns`` is always ns).
* ``slot``: when absent, the nominal slot ``ts_ns // 400 ms`` stands in, so that ``(slot, seq)``
  keeps time order; such slots are not on-chain slots.
* ``side``: ``buy``/``sell`` (also ``b``/``s``, ``bid``/``ask``, ``long``/``short``), or the
  `engine.layout.Side` numbers 0 (buy) and 1 (sell), or booleans (true = buy, an ``is_buy`` column).
* ``outcome``: 0/1, ``no``/``yes`` or booleans (true = yes).
* amounts of trades are base units (integers); bars and outcome trades are floats.
* ``seq`` is the row's rank within its slot, in file order; rows without ``signature`` are
  keyed by ``(slot, ix = seq)``, bars by ``(instrument, ts)``: re-importing a file changes nothing.

Keys go to the registries: pools (with venue ``import`` unless given) for trades, pools with
venue ``instrument`` for bar instruments (their ``address`` is the instrument name), wallets,
tokens and markets. A row whose value cannot be read (a word where a number belongs, a missing
required value, an unknown side) is quarantined with reason ``malformed`` and the field named;
the rest go through the lake's validation (NaN, negative amounts, bad bars, duplicates), whose
rejects are quarantined with their reason.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.layout import N_VALS, SLOT_NS, EventKind
from engine.schema import TABLES, Reason, Tape
from engine.store import registry
from engine.store.lake import QUARANTINE_SCHEMA, Lake
from engine.store.landing import IdMaps, land

__all__ = ["FIELDS", "FORMATS", "ImportReport", "import_file", "parse_maps", "read_table"]

# field -> aliases (lower case), per format; the field's own name always matches.
_COMMON = {
    "ts": ("timestamp", "time", "datetime", "date", "block_time", "blocktime", "ts_ns", "unix_time", "created_at"),
    "slot": ("block", "block_slot"),
    "signature": ("sig", "tx", "tx_hash", "txid", "tx_id", "transaction", "transaction_hash", "hash"),
    "ix": ("index", "log_index", "instruction_index", "ix_index"),
    "wallet": ("trader", "maker", "owner", "account", "user", "taker", "address", "wallet_address", "signer"),
    "side": ("direction", "type", "trade_type", "is_buy", "action"),
}
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "trades": {
        **{k: _COMMON[k] for k in ("ts", "slot", "signature", "ix", "wallet", "side")},
        "pool": ("pool_address", "pair", "pair_address", "amm", "amm_id", "market", "pool_id"),
        "mint": ("base_mint", "token", "base_token", "token_address", "base", "token_mint"),
        "quote_mint": ("quote_token", "quote", "quote_address"),
        "amount_in": ("amount_in_raw", "in_amount", "amountin"),
        "amount_out": ("amount_out_raw", "out_amount", "amountout"),
        "venue": ("dex", "exchange", "source", "platform", "program"),
    },
    "ohlcv": {
        "ts": _COMMON["ts"], "slot": _COMMON["slot"],
        "instrument": ("symbol", "pair", "ticker", "market", "pool", "token", "asset"),
        "open": ("o",), "high": ("h",), "low": ("l",), "close": ("c",), "volume": ("v", "vol", "base_volume"),
    },
    "outcomes": {
        **{k: _COMMON[k] for k in ("ts", "slot", "signature", "ix", "wallet", "side")},
        "market": ("market_id", "condition_id", "question", "slug", "market_slug", "event"),
        "outcome": ("outcome_index", "outcome_id", "token_outcome", "answer"),
        "shares": ("size", "amount", "quantity", "qty", "share_amount"),
        "price": ("px", "avg_price", "fill_price"),
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "trades": ("ts", "pool", "wallet", "mint", "side", "amount_in", "amount_out"),
    "ohlcv": ("ts", "instrument", "open", "high", "low", "close", "volume"),
    "outcomes": ("ts", "market", "wallet", "outcome", "side", "shares", "price"),
}
FORMATS = tuple(FIELDS)
_SIDES = {"buy": 0, "b": 0, "bid": 0, "long": 0, "0": 0, "true": 0, "sell": 1, "s": 1, "ask": 1, "short": 1,
          "1": 1, "false": 1}
_OUTCOMES = {"0": 0, "no": 0, "false": 0, "n": 0, "1": 1, "yes": 1, "true": 1, "y": 1}


def parse_maps(items: list[str] | None, fmt: str) -> dict[str, str]:
    """Parse ``--map column=field`` items into ``{column: field}``, checking the fields exist."""
    out: dict[str, str] = {}
    for item in items or ():
        col, sep, fld = item.partition("=")
        if not sep or not col.strip() or not fld.strip():
            msg = f"--map {item!r} is not column=field; Hint: e.g. --map Trader=wallet"
            raise ConfigError(msg)
        fld = fld.strip().lower()
        if fld not in FIELDS[fmt]:
            msg = f"--map {item!r}: {fld!r} is not a field of format {fmt!r}; valid ones are {sorted(FIELDS[fmt])}"
            raise ConfigError(msg)
        out[col.strip()] = fld
    return out


def read_table(path: Path) -> pl.DataFrame:
    """Read a CSV, Parquet or JSON (array of objects, or one object per line) file as all-string columns."""
    suffix = path.suffix.lower()
    if not path.is_file():
        msg = f"no file at {str(path)!r}"
        raise ConfigError(msg)
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            df = pl.read_csv(path, infer_schema_length=0, separator="\t" if suffix == ".tsv" else ",",
                             truncate_ragged_lines=True)
        elif suffix in (".parquet", ".pq"):
            df = pl.read_parquet(path)
        elif suffix in (".json", ".ndjson", ".jsonl"):
            text = path.read_text()
            if text.lstrip().startswith("["):
                rows = json.loads(text)
                if not all(isinstance(r, dict) for r in rows):
                    msg = f"{path}: a JSON export must be an array of objects (one per row)"
                    raise ConfigError(msg)
                df = pl.DataFrame([{k: _text(v) for k, v in r.items()} for r in rows],
                                  infer_schema_length=None) if rows else pl.DataFrame()
            else:
                df = pl.read_ndjson(path, infer_schema_length=None)
        else:
            msg = f"{path}: unknown file type {suffix!r}; Hint: use .csv, .parquet or .json/.ndjson"
            raise ConfigError(msg)
    except (pl.exceptions.PolarsError, OSError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        first = str(e).splitlines()[0][:200] if str(e) else ""
        msg = f"cannot read {str(path)!r} ({type(e).__name__}: {first}); the file may be truncated"
        raise ConfigError(msg) from e
    return df.with_columns(_as_text(df, c) for c in df.columns)


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v)


def _as_text(df: pl.DataFrame, c: str) -> pl.Expr:
    dt = df.schema[c]
    if dt == pl.String:
        return pl.col(c)
    if dt.is_temporal():
        return pl.col(c).dt.epoch("ns").cast(pl.String).alias(c) if dt != pl.Date else \
            pl.col(c).cast(pl.Datetime("ns")).dt.epoch("ns").cast(pl.String).alias(c)
    if dt == pl.Boolean:
        return pl.when(pl.col(c)).then(pl.lit("true")).otherwise(pl.lit("false")).alias(c)
    return pl.col(c).cast(pl.String).alias(c)


def _match_columns(columns: list[str], fmt: str, maps: dict[str, str]) -> dict[str, str]:
    """Return ``{field: column}`` for the fields found."""
    lower = {c.lower(): c for c in columns}
    found: dict[str, str] = {}
    for col, fld in maps.items():
        real = lower.get(col.lower())
        if real is None:
            msg = f"--map names column {col!r}, which the file does not have; its columns are {columns}"
            raise ConfigError(msg)
        found[fld] = real
    taken = set(found.values())
    for fld, aliases in FIELDS[fmt].items():
        if fld in found:
            continue
        for name in (fld, *aliases):
            real = lower.get(name)
            if real is not None and real not in taken:
                found[fld] = real
                taken.add(real)
                break
    missing = [f for f in REQUIRED[fmt] if f not in found]
    if missing:
        msg = (f"format {fmt!r} needs fields {missing}, which no column matches; the columns are {columns}. "
               f"Hint: name them with --map COLUMN=FIELD (e.g. --map {columns[0] if columns else 'Col'}={missing[0]})")
        raise ConfigError(msg)
    return found


@dataclass(slots=True)
class ImportReport:
    """What one import did."""

    path: str
    format: str
    rows: int = 0
    malformed: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    written: Counter = field(default_factory=Counter)
    already_present: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "rows": self.rows, "columns": self.columns,
                "written": dict(self.written), "already_present": dict(self.already_present),
                "quarantined": dict(self.quarantined), "n_quarantined": sum(self.quarantined.values())}


def ts_ns_expr(col: pl.Expr, name: str) -> pl.Expr:
    """Text timestamps -> UNIX ns: ISO datetimes, or epoch numbers in s/ms/us/ns by magnitude
    (a column named ``ts_ns`` is always ns)."""
    s = col.str.strip_chars()
    num = s.cast(pl.Float64, strict=False)
    as_int = s.cast(pl.Int64, strict=False)
    if name.lower() == "ts_ns":
        from_num = pl.coalesce(as_int, num.cast(pl.Int64, strict=False))
    else:
        a = num.abs()
        scale = pl.when(a < 1e11).then(1e9).when(a < 1e14).then(1e6).when(a < 1e17).then(1e3).otherwise(1.0)
        exact = pl.when(a >= 1e17).then(as_int)  # ns stay exact
        from_num = pl.coalesce(exact, (num * scale).round(0).cast(pl.Int64, strict=False))
    from_text = s.str.to_datetime(strict=False, time_zone="UTC", time_unit="ns").dt.epoch("ns")
    return pl.when(num.is_not_null()).then(from_num).otherwise(from_text)


def _number(col: pl.Expr) -> pl.Expr:
    return col.str.strip_chars().cast(pl.Float64, strict=False)


def _lookup(col: pl.Expr, table: dict[str, int]) -> pl.Expr:
    return col.str.strip_chars().str.to_lowercase().replace_strict(table, default=None, return_dtype=pl.Int8)


def _parsed(df: pl.DataFrame, fmt: str, cols: dict[str, str]) -> tuple[pl.DataFrame, pl.Series]:
    """Return the typed frame and, per row, the first field that could not be read (null when fine)."""
    exprs: dict[str, pl.Expr] = {"ts_ns": ts_ns_expr(pl.col(cols["ts"]), cols["ts"])}
    if "slot" in cols:
        exprs["slot"] = _number(pl.col(cols["slot"])).cast(pl.Int64, strict=False)
    for f in ("signature", "pool", "wallet", "mint", "quote_mint", "venue", "instrument", "market"):
        if f in cols:
            exprs[f] = pl.col(cols[f]).str.strip_chars()
    if "ix" in cols:
        exprs["ix"] = _number(pl.col(cols["ix"])).cast(pl.Int32, strict=False)
    if "side" in cols:
        exprs["side"] = _lookup(pl.col(cols["side"]), _SIDES)
    if "outcome" in cols:
        exprs["outcome"] = _lookup(pl.col(cols["outcome"]), _OUTCOMES)
    for f in ("amount_in", "amount_out", "open", "high", "low", "close", "volume", "shares", "price"):
        if f in cols:
            exprs[f] = _number(pl.col(cols[f]))
    typed = df.select(**exprs)
    bad = pl.lit(None, dtype=pl.String)
    for f in reversed(list(exprs)):  # the first failing field wins
        src = cols["ts" if f == "ts_ns" else f]
        missing = pl.col(f).is_null() & (f in REQUIRED[fmt] or (f == "ts_ns"))
        unreadable = pl.col(f).is_null() & pl.col(f"__src_{f}").is_not_null() & (pl.col(f"__src_{f}") != "")
        reason = pl.when(unreadable).then(pl.lit(f"{src}: cannot read the value as {f}")) \
            .when(missing).then(pl.lit(f"{src}: required value {f} is missing"))
        if f in ("amount_in", "amount_out") and fmt == "trades":
            reason = reason.when(pl.col(f).is_not_null() & pl.col(f).is_finite() & (pl.col(f) != pl.col(f).round(0))) \
                .then(pl.lit(f"{src}: {f} must be base units (an integer)"))
        bad = reason.otherwise(bad)
    srcs = df.select(**{f"__src_{f}": pl.col(cols["ts" if f == "ts_ns" else f]).str.strip_chars() for f in exprs})
    problem = pl.concat([typed, srcs], how="horizontal").select(bad.alias("problem")).to_series()
    return typed, problem


def _seq_and_slot(typed: pl.DataFrame) -> pl.DataFrame:
    if "slot" not in typed.columns:
        typed = typed.with_columns((pl.col("ts_ns") // SLOT_NS).alias("slot"))
    return typed.with_row_index("_row").with_columns(
        (pl.col("_row").rank("ordinal").over("slot") - 1).cast(pl.Int32).alias("seq"))


def _sync(con: duckdb.DuckDBPyConnection, name: str, df: pl.DataFrame) -> dict[str, int]:
    df = df.unique(maintain_order=True)
    key = registry.REGISTRIES[name].key
    if df.height:
        registry.sync(con, name, df, full=False)
    keys = df[key].to_list()
    return dict(zip(keys, registry.ids_of(con, name, keys).tolist(), strict=True))


def _tape(con: duckdb.DuckDBPyConnection, fmt: str, t: pl.DataFrame) -> tuple[Tape, np.ndarray | None, np.ndarray]:
    n = t.height
    vals = np.zeros((n, N_VALS), dtype=np.float64)
    cols: dict[str, np.ndarray] = {"slot": t["slot"].to_numpy(), "seq": t["seq"].to_numpy(),
                                   "ts_ns": t["ts_ns"].to_numpy()}
    if fmt == "trades":
        mints = pl.concat([t["mint"], t["quote_mint"]]) if "quote_mint" in t.columns else t["mint"]
        tok = _sync(con, "tokens", pl.DataFrame({"mint": mints.drop_nulls()}))
        pools = t.select(address="pool", venue=pl.col("venue").fill_null("import") if "venue" in t.columns
                         else pl.lit("import"), base_mint_id=pl.col("mint").replace_strict(tok, return_dtype=pl.Int32))
        if "quote_mint" in t.columns:
            pools = pools.with_columns(quote_mint_id=t["quote_mint"].replace_strict(tok, default=None,
                                                                                  return_dtype=pl.Int32))
        pool = _sync(con, "pools", pools.unique(subset="address", keep="first", maintain_order=True))
        wal = _sync(con, "wallets", t.select(address="wallet"))
        cols |= {"kind": np.full(n, EventKind.SWAP), "pool_id": t["pool"].replace_strict(pool).to_numpy(),
                 "wallet_id": t["wallet"].replace_strict(wal).to_numpy(),
                 "mint_id": t["mint"].replace_strict(tok).to_numpy(), "side": t["side"].to_numpy()}
        vals[:, 0], vals[:, 1] = t["amount_in"].to_numpy(), t["amount_out"].to_numpy()
    elif fmt == "ohlcv":
        inst = _sync(con, "pools", t.select(address="instrument", venue=pl.lit("instrument")).unique(
            subset="address", keep="first", maintain_order=True))
        cols |= {"kind": np.full(n, EventKind.BAR), "pool_id": t["instrument"].replace_strict(inst).to_numpy()}
        for j, f in enumerate(("open", "high", "low", "close", "volume")):
            vals[:, j] = t[f].to_numpy()
    else:
        mkt = _sync(con, "markets", t.select(name="market"))
        wal = _sync(con, "wallets", t.select(address="wallet"))
        cols |= {"kind": np.full(n, EventKind.OUTCOME_TRADE), "pool_id": t["market"].replace_strict(mkt).to_numpy(),
                 "wallet_id": t["wallet"].replace_strict(wal).to_numpy(), "mint_id": t["outcome"].to_numpy(),
                 "side": t["side"].to_numpy()}
        vals[:, 0], vals[:, 1] = t["shares"].to_numpy(), t["price"].to_numpy()
    tape = Tape.from_columns(vals=vals, **cols)
    signature = None
    if "signature" in t.columns and t["signature"].null_count() < n:
        # a partly filled column keys its blank rows by "" (the lake cannot quarantine rows mixing text and null)
        signature = t["signature"].fill_null("").to_numpy()
    ix = t["ix"].fill_null(t["seq"]).to_numpy() if "ix" in t.columns else t["seq"].to_numpy()
    return tape, signature, ix


def import_file(lake: Lake, con: duckdb.DuckDBPyConnection, path: Path, fmt: str, *,
                maps: dict[str, str] | None = None, source: str | None = None) -> ImportReport:
    """Import one export file into the lake; bad rows are quarantined, the rest land (idempotently).

    Raises
    ------
    ConfigError
        Unknown format, unreadable file, or required fields that no column matches.
    """
    if fmt not in FIELDS:
        msg = f"unknown format {fmt!r}; valid ones are {list(FIELDS)}"
        raise ConfigError(msg)
    source = source or f"file:{path.name}"
    df = read_table(path)
    report = ImportReport(path=str(path), format=fmt, rows=df.height)
    cols = _match_columns(df.columns, fmt, maps or {})
    report.columns = {f: c for f, c in cols.items()}
    if df.height == 0:
        return report
    typed, problem = _parsed(df, fmt, cols)
    bad = problem.is_not_null()
    if bad.any():
        rows = df.filter(bad).with_columns(problem.filter(bad).alias("problem"))
        report.malformed = rows.height
        report.quarantined[Reason.MALFORMED.text] += rows.height
        lake.write_quarantine(pl.DataFrame({
            "ingested_ns": np.zeros(rows.height, dtype=np.int64) + _now_ns(), "source": [source] * rows.height,
            "table": [TABLES_BY_FORMAT[fmt]] * rows.height, "reason": [Reason.MALFORMED.text] * rows.height,
            "row": rows.select(pl.struct(pl.all()).struct.json_encode()).to_series()}, schema=QUARANTINE_SCHEMA))
    good = _seq_and_slot(typed.filter(~bad))
    if good.height == 0:
        return report
    good = good.sort(["slot", "seq"])
    tape, signature, ix = _tape(con, fmt, good)
    rep = land(lake, con, tape, source=source, maps=IdMaps(), signature=signature, ix=ix)
    report.written.update(rep.written)
    report.already_present.update(rep.already_present)
    report.quarantined.update(rep.quarantined)
    return report


TABLES_BY_FORMAT = {"trades": TABLES["swaps"].name, "ohlcv": TABLES["bars"].name,
                    "outcomes": TABLES["outcome_trades"].name}


def _now_ns() -> int:
    return time.time_ns()
