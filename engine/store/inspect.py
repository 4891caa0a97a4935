"""What is in a lake (`lake_info`) and whether it is sound (`lake_check`): plain dicts for the CLI."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.schema import TABLES, Reason, Tape
from engine.store import registry
from engine.store.lake import QUARANTINE, TABLES_DIR, Lake


def _iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def lake_info(lake: Lake, con: duckdb.DuckDBPyConnection) -> dict:
    """Return tables (rows, files, bytes, time and slot range, days), quarantine and registry counts."""
    tables = []
    for name in TABLES:
        files = lake.files(name)
        if not files:
            continue
        stats = pl.scan_parquet(files).select(
            pl.len().alias("rows"), pl.col("ts_ns").min().alias("t0"), pl.col("ts_ns").max().alias("t1"),
            pl.col("slot").min().alias("s0"), pl.col("slot").max().alias("s1")).collect().row(0, named=True)
        tables.append({
            "table": name, "rows": stats["rows"], "files": len(files),
            "bytes": sum(lake.storage.size(f) for f in files),
            "first_ts": _iso(stats["t0"]), "last_ts": _iso(stats["t1"]), "first_slot": stats["s0"],
            "last_slot": stats["s1"], "days": len(lake.days(name)),
        })
    q_files = lake.files(QUARANTINE)
    quarantine = pl.scan_parquet(q_files).select(pl.len()).collect().item() if q_files else 0
    by_reason = {}
    if q_files:
        counts = pl.scan_parquet(q_files).group_by("reason").len().sort("reason").collect()
        by_reason = dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))
    regs = {name: int(con.execute(f"SELECT count(*) FROM {spec.table}").fetchall()[0][0])
            for name, spec in registry.REGISTRIES.items()}
    return {"lake": lake.url, "catalog": str(lake.catalog_path), "tables": tables,
            "quarantine": quarantine, "quarantine_by_reason": by_reason, "registries": regs}


@dataclass(frozen=True, slots=True)
class Check:
    check: str
    table: str
    ok: bool
    count: int
    detail: str

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


def lake_check(lake: Lake, con: duckdb.DuckDBPyConnection) -> dict:
    """Validate every stored table; ``ok`` is False when any check fails.

    Checks: each file opens and has the table's schema; rows pass `Tape.validate` against the
    registry sizes; natural keys are unique across files. Leftover temp files from killed
    writers and quarantined rows are reported but do not fail the check (nothing visible is
    wrong, and quarantined rows are kept on purpose).
    """
    checks: list[Check] = []
    sizes = {n: int(con.execute(f"SELECT count(*) FROM {s.table}").fetchall()[0][0])
             for n, s in registry.REGISTRIES.items()}
    for name, spec in TABLES.items():
        files = lake.files(name)
        if not files:
            continue
        bad_files = []
        want = dict(spec.polars_schema())
        for f in files:
            file_name = posixpath.basename(str(f))
            try:
                with lake.storage.open(f) as fh:
                    pq.read_metadata(fh)
                    fh.seek(0)
                    got = dict(pl.read_parquet_schema(fh))
            except (OSError, pa.ArrowException, pl.exceptions.PolarsError) as e:
                bad_files.append(f"{file_name}: {e}")
                continue
            if got != want:
                bad_files.append(f"{file_name}: schema differs from {name}'s")
        checks.append(Check("files_readable", name, not bad_files, len(bad_files), "; ".join(bad_files[:3])))
        if bad_files:
            continue
        df = pl.read_parquet(files).sort(["slot", "seq"])
        tape = Tape.from_tables({name: df})
        reason = tape.validate(n_pools=sizes["pools"] or None, n_wallets=sizes["wallets"] or None,
                               n_mints=sizes["tokens"] or None, n_markets=sizes["markets"] or None)
        reason[reason == Reason.DUPLICATE_KEY] = 0  # same (slot, seq) across kinds is checked by the key below
        bad = reason != 0
        detail = ""
        if bad.any():
            codes, counts = np.unique(reason[bad], return_counts=True)
            detail = ", ".join(f"{Reason(int(c)).text}: {n}" for c, n in zip(codes, counts, strict=True))
        checks.append(Check("rows_valid", name, not bad.any(), int(bad.sum()), detail))
        key = list(spec.key)
        dups = df.height - df.select(key).unique().height
        detail = "" if dups == 0 else f"repeated natural key {tuple(key)}"
        checks.append(Check("keys_unique", name, dups == 0, dups, detail))
    leftovers = lake.storage.leftovers(TABLES_DIR)
    checks.append(Check("no_leftover_temp_files", "*", True, len(leftovers),
                        "temp files of killed writers (invisible to readers)" if leftovers else ""))
    q_files = lake.files(QUARANTINE)
    n_q = pl.scan_parquet(q_files).select(pl.len()).collect().item() if q_files else 0
    checks.append(Check("quarantine", QUARANTINE, True, n_q, "rows kept with their reason" if n_q else ""))
    return {"lake": lake.url, "ok": all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}
