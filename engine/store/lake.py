"""The lake: one partitioned Parquet table per event kind, written atomically, read with pruning.

Layout: ``<root>/lake/<table>/date=YYYY-MM-DD/part-<first slot>-<id>.parquet`` (zstd), plus
``<root>/lake/quarantine/`` for rows that failed validation. The root is a folder or an
object-store URL (``s3://bucket/prefix``); either way a file appears whole or not at all
(`engine.store.storage`), so readers never see half a file. Re-ingesting rows whose natural
key is already stored changes nothing.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from engine.layout import N_VALS
from engine.schema import TABLE_OF_KIND, TABLES, Reason, Tape
from engine.store.catalog_sync import CATALOG_FILE, pull
from engine.store.storage import ObjectStorage, is_url, local_path, open_storage

QUARANTINE = "quarantine"
QUARANTINE_SCHEMA = pl.Schema({
    "ingested_ns": pl.Int64, "source": pl.String, "table": pl.String, "reason": pl.String, "row": pl.String,
})
DEFAULT_LAKE = "data"
TABLES_DIR = "lake"


@dataclass(slots=True)
class IngestReport:
    """What one ingest did, per table: rows written, already present, quarantined (by reason)."""

    source: str
    written: dict[str, int] = field(default_factory=dict)
    already_present: dict[str, int] = field(default_factory=dict)
    quarantined: Counter = field(default_factory=Counter)
    files: int = 0

    @property
    def n_written(self) -> int:
        return sum(self.written.values())

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict:
        return {"source": self.source, "written": dict(self.written), "already_present": dict(self.already_present),
                "quarantined": dict(self.quarantined), "n_written": self.n_written,
                "n_quarantined": self.n_quarantined, "files": self.files}


def resolve_root(path: str | os.PathLike | None) -> Path | str:
    """Return the lake root: ``path``, else ``$SHOAL_LAKE``, else ``data/``; a URL stays a string."""
    root = os.fspath(path) if path is not None else os.environ.get("SHOAL_LAKE") or DEFAULT_LAKE
    return root if is_url(root) else local_path(root)


def day_of(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 10**9, tz=UTC).strftime("%Y-%m-%d")


class Lake:
    """Partitioned Parquet tables under one root folder or object-store URL.

    Parameters
    ----------
    root : path or URL
        The lake root; Parquet goes to ``root/lake``. A folder also holds the DuckDB catalog
        (``root/shoal.duckdb``), runs and reports; a URL (``s3://bucket/prefix``) keeps them in
        a local folder, `root`, and a copy of the catalog at ``<url>/shoal.duckdb``.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.storage = open_storage(root)
        self.url = self.storage.url  # where the tables are: a folder path or a URL
        self.root = self.storage.local_root  # local folder of the catalog, runs and reports
        self._catalog_pulled = False

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    @property
    def catalog_path(self) -> Path:
        """The local DuckDB catalog; a remote lake's is first brought up to date from its bucket (once)."""
        path = self.root / CATALOG_FILE
        if isinstance(self.storage, ObjectStorage) and not self._catalog_pulled:
            pull(self.storage, path)
            self._catalog_pulled = True
        return path

    def exists(self) -> bool:
        """True when the root folder, or any object under the URL, exists."""
        return self.storage.exists()

    # -- writing --------------------------------------------------------------------------------

    def ingest(self, tape: Tape, *, source: str, signature: np.ndarray | None = None, ix: np.ndarray | None = None,
               n_pools: int | None = None, n_wallets: int | None = None, n_mints: int | None = None,
               n_markets: int | None = None) -> IngestReport:
        """Validate ``tape``, quarantine bad rows, skip rows already stored, write the rest.

        Rows are checked in the order given (a slot that goes backwards within this batch is
        quarantined, not re-sorted), so pass a source's events in arrival order.

        Parameters
        ----------
        tape : Tape
            Events from one source.
        source : str
            Feed name, kept with quarantined rows.
        signature, ix : ndarray, optional
            Transaction signature and instruction index per row (natural keys of swaps,
            liquidity, outcome trades and own fills).
        n_pools, n_wallets, n_mints, n_markets : int, optional
            Registry sizes; ids at or beyond them are quarantined as unknown.
        """
        report = IngestReport(source=source)
        reason = tape.validate(n_pools=n_pools, n_wallets=n_wallets, n_mints=n_mints, n_markets=n_markets)
        bad = np.flatnonzero(reason != 0)
        quarantine = [_quarantine_rows(tape, bad, reason[bad], signature, source)] if bad.size else []
        for r, n in zip(*np.unique(reason[bad], return_counts=True), strict=True):
            report.quarantined[Reason(int(r)).text] += int(n)
        good = np.flatnonzero(reason == 0)
        kept, sig, ixs = tape, signature, ix
        if bad.size or not tape.is_sorted():
            order = good[np.lexsort((tape.seq[good], tape.slot[good]))]
            kept = tape.take(order)
            sig = None if signature is None else np.asarray(signature, dtype=object)[order]
            ixs = None if ix is None else np.asarray(ix)[order]
        for name, df in kept.to_tables(signature=sig, ix=ixs).items():
            df, dups = _split_duplicate_keys(df, TABLES[name].key)
            if dups.height:
                report.quarantined[Reason.DUPLICATE_KEY.text] += dups.height
                quarantine.append(_quarantine_frame(dups, name, Reason.DUPLICATE_KEY, source))
            written, present, files = self._write_new_rows(name, df)
            report.written[name] = written
            report.already_present[name] = present
            report.files += files
        if quarantine:
            self.write_quarantine(pl.concat(quarantine))
        return report

    def write_quarantine(self, rows: pl.DataFrame) -> None:
        """Append rows of `QUARANTINE_SCHEMA` not already quarantined (one file per call, by ingest day).

        A row quarantined again for the same reason from the same source is not stored twice,
        so re-ingesting a bad batch leaves the quarantine as it was.
        """
        rows = rows.select(QUARANTINE_SCHEMA.names()).cast(dict(QUARANTINE_SCHEMA))
        key = ["source", "table", "reason", "row"]
        existing = self.files(QUARANTINE)
        if existing and rows.height:
            rows = rows.join(pl.scan_parquet(existing).select(key).collect(), on=key, how="anti", nulls_equal=True)
        if rows.height == 0:
            return
        day = day_of(int(rows["ingested_ns"][0]))
        path = f"{TABLES_DIR}/{QUARANTINE}/date={day}/part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        self.storage.write(path, lambda out: rows.write_parquet(out, compression="zstd"))

    def quarantine_payload(self, *, source: str, table: str, reason: Reason | str, payload: str) -> None:
        """Quarantine input that never became a row (a malformed file, an unparsable message)."""
        text = reason.text if isinstance(reason, Reason) else reason
        self.write_quarantine(pl.DataFrame({"ingested_ns": [time.time_ns()], "source": [source], "table": [table],
                                            "reason": [text], "row": [payload]}, schema=QUARANTINE_SCHEMA))

    def _write_new_rows(self, name: str, df: pl.DataFrame) -> tuple[int, int, int]:
        key = list(TABLES[name].key)
        df = df.with_columns(_date_expr())
        written = present = files = 0
        for (day,), part in df.partition_by("date", as_dict=True, maintain_order=True).items():
            part = part.drop("date")
            existing = self.files(name, day, day)
            if existing:
                stored = pl.scan_parquet(existing).select(key).collect()
                new = part.join(stored, on=key, how="anti", nulls_equal=True)
                present += part.height - new.height
                part = new
            if part.height == 0:
                continue
            first_slot = int(part["slot"][0])
            path = f"{TABLES_DIR}/{name}/date={day}/part-{first_slot:012d}-{uuid.uuid4().hex[:8]}.parquet"
            self.storage.write(path, lambda out, p=part: p.write_parquet(out, compression="zstd", statistics=True))
            written += part.height
            files += 1
        return written, present, files

    # -- reading --------------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        """Return the tables that have at least one file, in `TABLES` order, then quarantine."""
        return [n for n in [*TABLES, QUARANTINE] if self.storage.has_files(f"{TABLES_DIR}/{n}")]

    def files(self, table: str, first_day: str | None = None, last_day: str | None = None) -> list[Path] | list[str]:
        """Return the committed Parquet files of ``table`` whose day lies in [first_day, last_day].

        Paths for a local lake, URLs for a remote one; polars reads both.
        """
        return self.storage.files(f"{TABLES_DIR}/{table}", first_day, last_day)

    def scan(self, table: str, *, start_ts_ns: int | None = None, stop_ts_ns: int | None = None) -> pl.LazyFrame:
        """Return a lazy scan of ``table`` limited to the days that [start, stop) touches.

        Partition pruning happens here (only those days' files are opened); filters on
        columns added by the caller are pushed into the Parquet reader by polars.
        """
        first = None if start_ts_ns is None else day_of(start_ts_ns)
        last = None if stop_ts_ns is None else day_of(max(stop_ts_ns - 1, 0))
        files = self.files(table, first, last)
        schema = QUARANTINE_SCHEMA if table == QUARANTINE else TABLES[table].polars_schema()
        if not files:
            return pl.LazyFrame(schema=schema)
        lf = pl.scan_parquet(files, schema=schema)
        if table != QUARANTINE:
            if start_ts_ns is not None:
                lf = lf.filter(pl.col("ts_ns") >= start_ts_ns)
            if stop_ts_ns is not None:
                lf = lf.filter(pl.col("ts_ns") < stop_ts_ns)
        return lf

    def read(self, table: str, *, start_ts_ns: int | None = None, stop_ts_ns: int | None = None,
             pool_ids: list[int] | None = None, wallet_ids: list[int] | None = None,
             mint_ids: list[int] | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """Read one table filtered by time range and ids, sorted by ``(slot, seq)``."""
        lf = self.scan(table, start_ts_ns=start_ts_ns, stop_ts_ns=stop_ts_ns)
        names = lf.collect_schema().names()
        for col, ids in (("pool_id", pool_ids), ("instrument_id", pool_ids), ("market_id", pool_ids),
                         ("wallet_id", wallet_ids), ("mint_id", mint_ids)):
            if ids is not None and col in names:
                lf = lf.filter(pl.col(col).is_in(ids))
        if table != QUARANTINE:
            lf = lf.sort(["slot", "seq"])
        if columns is not None:
            lf = lf.select(columns)
        return lf.collect()

    def read_tape(self, *, start_ts_ns: int | None = None, stop_ts_ns: int | None = None,
                  tables: list[str] | None = None, pool_ids: list[int] | None = None,
                  wallet_ids: list[int] | None = None, mint_ids: list[int] | None = None) -> Tape:
        """Read the event tables (all, or ``tables``) into one tape sorted by ``(slot, seq)``."""
        names = [n for n in (tables or list(TABLES)) if n in TABLES]
        frames = {n: self.read(n, start_ts_ns=start_ts_ns, stop_ts_ns=stop_ts_ns, pool_ids=pool_ids,
                               wallet_ids=wallet_ids, mint_ids=mint_ids) for n in names}
        return Tape.from_tables(frames)

    def iter_tapes(self, *, start_ts_ns: int | None = None, stop_ts_ns: int | None = None,
                   tables: list[str] | None = None) -> Iterator[Tape]:
        """Yield the event tables one UTC day at a time, each day as a sorted tape.

        For runs over more data than memory holds: `engine.sim.stream` continues its state
        from one day to the next, with the same result as one run over everything.
        """
        names = [n for n in (tables or list(TABLES)) if n in TABLES]
        days = sorted({d for n in names for d in self.days(n)})
        for day in days:
            t0 = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 10**9
            lo = t0 if start_ts_ns is None else max(t0, start_ts_ns)
            hi = t0 + 86_400 * 10**9 if stop_ts_ns is None else min(t0 + 86_400 * 10**9, stop_ts_ns)
            if lo < hi:
                yield self.read_tape(start_ts_ns=lo, stop_ts_ns=hi, tables=names)

    def days(self, table: str) -> list[str]:
        return self.storage.days(f"{TABLES_DIR}/{table}")


def _date_expr() -> pl.Expr:
    return pl.from_epoch(pl.col("ts_ns"), time_unit="ns").dt.strftime("%Y-%m-%d").alias("date")


def _split_duplicate_keys(df: pl.DataFrame, key: tuple[str, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each key; return (kept, later duplicates)."""
    hashes = df.select(pl.struct(list(key)).hash()).to_series()
    if hashes.n_unique() == df.height:  # distinct hashes prove distinct keys; collisions take the exact path
        return df, df.clear()
    first = pl.struct(list(key)).is_first_distinct()
    mask = df.select(first).to_series()
    if mask.all():
        return df, df.clear()
    return df.filter(mask), df.filter(~mask)


def _quarantine_rows(tape: Tape, rows: np.ndarray, reasons: np.ndarray, signature: np.ndarray | None,
                     source: str) -> pl.DataFrame:
    sub = tape.take(rows)
    data = {c: a for c, a in sub.columns().items()}
    data |= {f"v{j}": sub.vals[:, j] for j in range(N_VALS)}
    df = pl.DataFrame(data)
    if signature is not None:  # strings and None mixed: build the column with its type
        sig = np.asarray(signature, dtype=object)[rows]
        df = df.with_columns(pl.Series("signature", list(sig), dtype=pl.String))
    table = [TABLE_OF_KIND[int(k)].name if int(k) in TABLE_OF_KIND else "unknown" for k in sub.kind]
    return pl.DataFrame({
        "ingested_ns": np.full(rows.size, time.time_ns(), dtype=np.int64),
        "source": [source] * rows.size,
        "table": table,
        "reason": [Reason(int(r)).text for r in reasons],
        "row": df.select(pl.struct(pl.all()).struct.json_encode()).to_series(),
    }, schema=QUARANTINE_SCHEMA)


def _quarantine_frame(df: pl.DataFrame, table: str, reason: Reason, source: str) -> pl.DataFrame:
    return pl.DataFrame({
        "ingested_ns": np.full(df.height, time.time_ns(), dtype=np.int64),
        "source": [source] * df.height,
        "table": [table] * df.height,
        "reason": [reason.text] * df.height,
        "row": df.select(pl.struct(pl.all()).struct.json_encode()).to_series(),
    }, schema=QUARANTINE_SCHEMA)

