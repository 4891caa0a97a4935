"""The DuckDB catalog: views over the lake's Parquet plus native registry and journal tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from engine.errors import LakeError
from engine.store.lake import QUARANTINE, Lake
from engine.store.registry import create_tables


def connect(lake: Lake, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the lake's catalog, creating it and its tables when missing, with fresh views.

    Views are re-created on every open: their Parquet paths are absolute, so a lake moved
    to another folder still works after the next open.
    """
    lake.root.mkdir(parents=True, exist_ok=True)
    if read_only and not lake.catalog_path.exists():
        read_only = False  # nothing to protect yet: create it
    try:
        con = duckdb.connect(str(lake.catalog_path), read_only=read_only)
    except duckdb.IOException as e:
        msg = (f"cannot open the catalog {str(lake.catalog_path)!r}: {e}. "
               "Hint: another shoal process may be writing to this lake; wait for it or use another --lake")
        raise LakeError(msg) from e
    if not read_only:
        create_tables(con)
        refresh_views(con, lake)
    return con


@contextmanager
def opened(lake: Lake, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(lake, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def refresh_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> dict[str, str]:
    """Create or replace one view per lake table that has files.

    Return the tables whose view could not be made, with DuckDB's reason (a damaged file,
    say); those tables stay readable file by file, and `shoal lake check` names the file.
    """
    names = lake.table_names()
    failed = {}
    for name in names:
        pattern = str(lake.tables_dir / name / "*" / "*.parquet").replace("'", "''")
        try:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM "
                        f"read_parquet('{pattern}', hive_partitioning = true)").fetchall()
        except duckdb.Error as e:
            failed[name] = str(e).splitlines()[0]
    if QUARANTINE not in names:
        con.execute(f"CREATE OR REPLACE VIEW {QUARANTINE} AS SELECT NULL::BIGINT AS ingested_ns, "
                    "NULL::VARCHAR AS source, NULL::VARCHAR AS \"table\", NULL::VARCHAR AS reason, "
                    "NULL::VARCHAR AS row WHERE false").fetchall()
    return failed
