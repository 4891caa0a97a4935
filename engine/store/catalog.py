"""The DuckDB catalog: views over the lake's Parquet plus native registry and journal tables.

The catalog is always a local file. For a lake on object storage the views read the objects
through the lake's fsspec filesystem, registered with each connection, and the file is
published next to the objects after a session that changed it (`engine.store.catalog_sync`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from engine.errors import LakeError
from engine.store.catalog_sync import push
from engine.store.lake import QUARANTINE, TABLES_DIR, Lake
from engine.store.registry import create_tables
from engine.store.storage import ObjectStorage


def connect(lake: Lake, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the lake's catalog, creating it and its tables when missing, with fresh views.

    Views are checked on every open: their Parquet paths are absolute, so a lake moved to
    another folder still works after the next open.
    """
    lake.root.mkdir(parents=True, exist_ok=True)
    path = lake.catalog_path
    if read_only and not path.exists():
        read_only = False  # nothing to protect yet: create it
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        msg = (f"cannot open the catalog {str(path)!r}: {e}. "
               "Hint: another shoal process may be writing to this lake; wait for it or use another --lake")
        raise LakeError(msg) from e
    lake.storage.attach(con)
    if not read_only:
        create_tables(con)
        refresh_views(con, lake)
    return con


@contextmanager
def opened(lake: Lake, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the catalog for one unit of work; a remote lake's catalog is published when it changed.

    It is published even when the work failed: objects already stored may use registry ids
    that only this catalog holds.
    """
    con = connect(lake, read_only=read_only)
    try:
        yield con
    finally:
        con.close()
        if not read_only and isinstance(lake.storage, ObjectStorage):
            push(lake.storage, lake.catalog_path)


def refresh_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> dict[str, str]:
    """Create one view per lake table that has files, unless it already reads the right files.

    A view left as it was leaves the catalog file unchanged, so a remote lake's catalog is
    not published again after a session that only read. Return the tables whose view could
    not be made, with DuckDB's reason (a damaged file, say); those tables stay readable file
    by file, and `shoal lake check` names the file.
    """
    names = lake.table_names()
    current = dict(con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
    failed = {}
    for name in names:
        pattern = lake.storage.uri(f"{TABLES_DIR}/{name}/*/*.parquet").replace("'", "''")
        if f"read_parquet('{pattern}'" in current.get(name, ""):
            continue
        try:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM "
                        f"read_parquet('{pattern}', hive_partitioning = true)").fetchall()
        except duckdb.Error as e:
            failed[name] = str(e).splitlines()[0]
    if QUARANTINE not in names and "read_parquet" in current.get(QUARANTINE, "read_parquet"):  # none, or stale
        con.execute(f"CREATE OR REPLACE VIEW {QUARANTINE} AS SELECT NULL::BIGINT AS ingested_ns, "
                    "NULL::VARCHAR AS source, NULL::VARCHAR AS \"table\", NULL::VARCHAR AS reason, "
                    "NULL::VARCHAR AS row WHERE false").fetchall()
    return failed
