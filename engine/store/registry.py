"""Registries of tokens, pools, wallets and prediction markets: DuckDB tables with history.

A registry gives every public key a dense ``int32`` id for life (the tape stores ids, never
strings), remembers when each entry was first and last seen, flags new listings and
delistings, and writes one history row per changed field. A sync is a batch of upserts in one
transaction: the input is staged as an Arrow table, and set-based SQL finds what is new,
what changed and what disappeared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from engine.schema import IdDictionary


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    """One registry table: its id column, natural key and tracked fields (with SQL types)."""

    table: str
    id_col: str
    key: str
    fields: dict[str, str]


REGISTRIES: dict[str, RegistrySpec] = {
    s.table: s
    for s in (
        RegistrySpec("tokens", "token_id", "mint", {
            "symbol": "VARCHAR", "decimals": "SMALLINT", "mint_authority": "BOOLEAN",
            "freeze_authority": "BOOLEAN", "transfer_fee_bps": "INTEGER", "created_slot": "BIGINT",
            "sell_blocked": "BOOLEAN"}),
        RegistrySpec("pools", "pool_id", "address", {
            "pool_kind": "TINYINT", "venue": "VARCHAR", "base_mint_id": "INTEGER", "quote_mint_id": "INTEGER",
            "fee_num": "BIGINT", "fee_den": "BIGINT", "created_slot": "BIGINT"}),
        RegistrySpec("wallets", "wallet_id", "address", {"role": "VARCHAR"}),
        RegistrySpec("markets", "market_id", "name", {"resolve_slot": "BIGINT"}),
    )
}

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS registry_history (
    registry VARCHAR, id INTEGER, key VARCHAR, field VARCHAR,
    old_value VARCHAR, new_value VARCHAR, changed_ns BIGINT)
"""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one registry sync found."""

    registry: str
    new: int
    changed: int
    delisted: int
    relisted: int
    unchanged: int
    field_changes: int

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    """Execute one statement and drain its result (DuckDB keeps unfetched results open)."""
    return con.execute(sql).fetchall()


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the registry and history tables when missing."""
    for spec in REGISTRIES.values():
        cols = ", ".join(f"{name} {sql}" for name, sql in spec.fields.items())
        _run(con, f"""
            CREATE TABLE IF NOT EXISTS {spec.table} (
                {spec.id_col} INTEGER PRIMARY KEY, {spec.key} VARCHAR UNIQUE NOT NULL, {cols},
                first_seen_ns BIGINT, last_seen_ns BIGINT, listed BOOLEAN, delisted_ns BIGINT)""")
    _run(con, HISTORY_DDL)


def sync(con: duckdb.DuckDBPyConnection, registry: str, rows: pl.DataFrame, *, full: bool = True,
         now_ns: int | None = None) -> SyncReport:
    """Upsert ``rows`` into a registry in one transaction and record what changed.

    Parameters
    ----------
    con : duckdb connection
        The catalog; tables are created when missing.
    registry : str
        ``"tokens"``, ``"pools"``, ``"wallets"`` or ``"markets"``.
    rows : polars.DataFrame
        The key column and any of the tracked fields (missing fields keep their stored value,
        or NULL for new entries). An id column, if present, is ignored: the registry assigns ids.
    full : bool
        True when ``rows`` is a full snapshot: listed entries missing from it are delisted.
    now_ns : int, optional
        Time of the snapshot (UNIX ns); defaults to now.
    """
    spec = REGISTRIES.get(registry)
    if spec is None:
        msg = f"unknown registry {registry!r}; valid ones are {sorted(REGISTRIES)}"
        raise ValueError(msg)
    if spec.key not in rows.columns:
        msg = f"registry rows for {registry!r} need the key column {spec.key!r}; columns were {rows.columns}"
        raise ValueError(msg)
    now_ns = time.time_ns() if now_ns is None else now_ns
    fields = [f for f in spec.fields if f in rows.columns]
    staged = rows.select([spec.key, *fields]).unique(subset=spec.key, keep="last", maintain_order=True)
    create_tables(con)
    t, k, idc = spec.table, spec.key, spec.id_col
    con.begin()
    try:
        con.register("_incoming", staged.to_arrow())
        n_before = con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        changes = []
        for f in fields:
            changes.append(f"""
                SELECT '{t}' AS registry, cur.{idc} AS id, cur.{k} AS key, '{f}' AS field,
                       CAST(cur.{f} AS VARCHAR) AS old_value, CAST(inc.{f} AS VARCHAR) AS new_value,
                       {now_ns} AS changed_ns
                FROM _incoming inc JOIN {t} cur USING ({k})
                WHERE cur.{f} IS DISTINCT FROM CAST(inc.{f} AS {spec.fields[f]})""")
        field_changes = 0
        changed = 0
        if changes:
            _run(con, "CREATE OR REPLACE TEMP TABLE _changes AS " + " UNION ALL ".join(changes))
            field_changes, changed = con.execute("SELECT count(*), count(DISTINCT id) FROM _changes").fetchall()[0]
            _run(con, "INSERT INTO registry_history SELECT * FROM _changes")
            sets = ", ".join(f"{f} = CAST(inc.{f} AS {spec.fields[f]})" for f in fields)
            _run(con, f"UPDATE {t} SET {sets} FROM _incoming inc WHERE {t}.{k} = inc.{k}")
        relisted = con.execute(f"""
            SELECT count(*) FROM {t} JOIN _incoming USING ({k}) WHERE NOT {t}.listed""").fetchall()[0][0]
        if relisted:
            _run(con, f"""
                INSERT INTO registry_history SELECT '{t}', {idc}, {k}, 'listed', 'false', 'true', {now_ns}
                FROM {t} WHERE NOT listed AND {k} IN (SELECT {k} FROM _incoming)""")
        _run(con, f"""
            UPDATE {t} SET last_seen_ns = {now_ns}, listed = TRUE, delisted_ns = NULL
            WHERE {k} IN (SELECT {k} FROM _incoming)""")
        field_list = ", ".join(fields)
        casts = ", ".join(f"CAST(inc.{f} AS {spec.fields[f]})" for f in fields)
        _run(con, f"""
            INSERT INTO {t} ({idc}, {k}{', ' + field_list if fields else ''},
                             first_seen_ns, last_seen_ns, listed, delisted_ns)
            SELECT {n_before} + row_number() OVER () - 1, inc.{k}{', ' + casts if fields else ''},
                   {now_ns}, {now_ns}, TRUE, NULL
            FROM _incoming inc ANTI JOIN {t} cur USING ({k})""")
        new = con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] - n_before
        delisted = 0
        if full:
            delisted = con.execute(f"""
                SELECT count(*) FROM {t} WHERE listed AND {k} NOT IN (SELECT {k} FROM _incoming)""").fetchall()[0][0]
            if delisted:
                _run(con, f"""
                    INSERT INTO registry_history SELECT '{t}', {idc}, {k}, 'listed', 'true', 'false', {now_ns}
                    FROM {t} WHERE listed AND {k} NOT IN (SELECT {k} FROM _incoming)""")
                _run(con, f"""
                    UPDATE {t} SET listed = FALSE, delisted_ns = {now_ns}
                    WHERE listed AND {k} NOT IN (SELECT {k} FROM _incoming)""")
        con.unregister("_incoming")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    unchanged = staged.height - new - changed
    return SyncReport(registry=t, new=new, changed=changed, delisted=delisted, relisted=relisted,
                      unchanged=unchanged, field_changes=field_changes)


def ids_of(con: duckdb.DuckDBPyConnection, registry: str, keys: list[str]) -> np.ndarray:
    """Return the registry ids of ``keys`` in order (-1 for unknown keys)."""
    spec = REGISTRIES[registry]
    create_tables(con)
    con.register("_keys", pl.DataFrame({spec.key: keys, "_pos": np.arange(len(keys))}).to_arrow())
    try:
        got = con.execute(f"""
            SELECT coalesce(r.{spec.id_col}, -1) FROM _keys k LEFT JOIN {spec.table} r USING ({spec.key})
            ORDER BY k._pos""").fetchnumpy()
    finally:
        con.unregister("_keys")
    return next(iter(got.values())).astype(np.int32)


def dictionary(con: duckdb.DuckDBPyConnection, registry: str) -> IdDictionary:
    """Load a registry into an in-memory `IdDictionary` (ids are dense from 0)."""
    spec = REGISTRIES[registry]
    create_tables(con)
    keys = [r[0] for r in con.execute(f"SELECT {spec.key} FROM {spec.table} ORDER BY {spec.id_col}").fetchall()]
    return IdDictionary(keys)


def read(con: duckdb.DuckDBPyConnection, registry: str) -> pl.DataFrame:
    spec = REGISTRIES[registry]
    create_tables(con)
    return con.sql(f"SELECT * FROM {spec.table} ORDER BY {spec.id_col}").pl()
