"""The run journal of a paper session: its recorded tape, checkpoints, and DuckDB tables.

Everything a session needs to be re-run as a backtest or resumed after ``kill -9``:

- ``<lake>/journal/<run_id>/tape/seg-<n>.parquet``: the events the kernel saw, in order, as
  consecutive segments (`Tape.to_arrow`, lossless), each written atomically (temp file, fsync,
  rename). Segment ``n`` holds the events that follow segment ``n - 1``; the global event
  index of a row is its position in their concatenation.
- ``<lake>/journal/<run_id>/checkpoints/ckpt-<event>.npz``: `SimState.save` after exactly
  ``event`` journaled events (always a segment boundary); the newest two are kept.
- DuckDB tables in the lake's catalog, written in one transaction per flush and keyed so that
  writing the same record twice changes nothing: ``paper_runs`` (one row per run: status,
  config, progress, headline numbers), ``paper_fills`` (run, row, fill index), ``paper_orders``
  (run, row, order id; pending orders are updated when they land), ``paper_equity`` (run, row,
  slot) and ``paper_summaries`` (run, row, events covered).

The catalog is opened per transaction, never held, so ``shoal runs`` and other commands can
use the lake while a session runs; a lock held by another process is waited for (bounded).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import ConfigError, LakeError
from engine.schema import Tape
from engine.store.atomic import sweep_temp_files, write_atomic
from engine.store.lake import Lake

__all__ = ["FILL_COLUMNS", "Journal", "Segment", "list_runs", "new_run_id"]

JOURNAL_DIR = "journal"
KEEP_CHECKPOINTS = 2
LOCK_WAIT_S = 60.0  # how long a transaction waits for another process's catalog lock

FILL_COLUMNS = (  # FILL_DT with its hop arrays spread out (engine.sim.runner.fills_frame)
    "order_id", "slot", "ts_ns", "decided_slot", "n_hops", "hop_kind", "status", "pool0", "pool1", "pool2",
    "side0", "side1", "side2", "asset_in", "asset_out", "amount_in_raw", "amount_out_raw", "min_out_raw",
    "fee_dex", "fee_base", "fee_priority", "tip", "realized_pnl", "expected_profit", "tag")
_FILL_SQL = {"order_id": "BIGINT", "slot": "BIGINT", "ts_ns": "BIGINT", "decided_slot": "BIGINT",
             "n_hops": "TINYINT", "hop_kind": "TINYINT", "status": "TINYINT", "pool0": "INTEGER", "pool1": "INTEGER",
             "pool2": "INTEGER", "side0": "TINYINT", "side1": "TINYINT", "side2": "TINYINT", "asset_in": "INTEGER",
             "asset_out": "INTEGER", "tag": "BIGINT"}

DDL = [
    """CREATE TABLE IF NOT EXISTS paper_runs (
        run_id VARCHAR PRIMARY KEY, status VARCHAR, strategy VARCHAR, created_ns BIGINT, updated_ns BIGINT,
        finished_ns BIGINT, host VARCHAR, pid BIGINT, config_json VARCHAR, first_slot BIGINT, last_slot BIGINT,
        n_events BIGINT, n_segments BIGINT, n_orders BIGINT, n_fills BIGINT, equity DOUBLE, realized_pnl DOUBLE,
        resumes BIGINT, error VARCHAR)""",
    "CREATE TABLE IF NOT EXISTS paper_fills (run_id VARCHAR, \"row\" INTEGER, fill_index BIGINT, "
    + ", ".join(f"{c} {_FILL_SQL.get(c, 'DOUBLE')}" for c in FILL_COLUMNS)
    + ", PRIMARY KEY (run_id, \"row\", fill_index))",
    """CREATE TABLE IF NOT EXISTS paper_orders (
        run_id VARCHAR, "row" INTEGER, order_id BIGINT, decided_slot BIGINT, land_slot BIGINT, n_hops TINYINT,
        pool0 INTEGER, side0 TINYINT, amount_in_raw DOUBLE, min_out_raw DOUBLE, state VARCHAR, status TINYINT,
        PRIMARY KEY (run_id, "row", order_id))""",
    """CREATE TABLE IF NOT EXISTS paper_equity (
        run_id VARCHAR, "row" INTEGER, slot BIGINT, ts_ns BIGINT, equity DOUBLE, PRIMARY KEY (run_id, "row", slot))""",
    """CREATE TABLE IF NOT EXISTS paper_summaries (
        run_id VARCHAR, "row" INTEGER, n_events BIGINT, slot BIGINT, summary_json VARCHAR,
        PRIMARY KEY (run_id, "row", n_events))""",
]

_SEG = re.compile(r"^seg-(\d{8})\.parquet$")
_CKPT = re.compile(r"^ckpt-(\d{14})\.npz$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def new_run_id() -> str:
    """A fresh run id: ``pp-<UTC time>-<6 hex>`` (sortable by start time)."""
    return f"pp-{datetime.now(tz=UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Segment:
    """One journaled tape segment: its file, the global index of its first event, its length."""

    path: Path
    index: int
    first_event: int
    n_events: int


@dataclass(frozen=True, slots=True)
class Commit:
    """What one flush writes to the catalog in one transaction (built by the session)."""

    fills: pl.DataFrame | None = None  # row, fill_index, FILL_COLUMNS
    orders: pl.DataFrame | None = None  # paper_orders columns without run_id
    equity: pl.DataFrame | None = None  # row, slot, ts_ns, equity
    summaries: pl.DataFrame | None = None  # row, n_events, slot, summary_json
    run: dict | None = None  # paper_runs columns to update


class Journal:
    """The journal of one run under a lake (see the module docstring).

    Parameters
    ----------
    lake : Lake
        Where the segments, checkpoints and catalog tables live.
    run_id : str
        Letters, digits, ``_``, ``.`` and ``-``.
    """

    def __init__(self, lake: Lake, run_id: str) -> None:
        if not _RUN_ID.match(run_id):
            msg = f"run id {run_id!r} must be letters, digits, '_', '.' or '-' (at most 100); e.g. paper-arb-1"
            raise ConfigError(msg)
        self.lake = lake
        self.run_id = run_id
        self.folder = lake.root / JOURNAL_DIR / run_id
        self.tape_dir = self.folder / "tape"
        self.ckpt_dir = self.folder / "checkpoints"
        self._segments: list[Segment] | None = None

    def __repr__(self) -> str:
        return f"Journal({str(self.lake.root)!r}, {self.run_id!r})"

    # -- catalog --------------------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the lake's catalog for one unit of work, waiting for another writer's lock."""
        with catalog(self.lake) as con:
            yield con

    def exists(self) -> bool:
        if not self.lake.catalog_path.exists():
            return False
        with self.connect() as con:
            return bool(con.execute("SELECT count(*) FROM paper_runs WHERE run_id = ?", [self.run_id]).fetchone()[0])

    @property
    def config_path(self) -> Path:
        return self.folder / "run.json"

    def create(self, config: dict, *, strategy: str) -> None:
        """Register a new run (status ``running``); refuse an id already in use.

        The config goes to ``run.json`` first (atomically): it alone is enough to resume, so a
        process killed before its catalog row was written can still be resumed.
        """
        if self.config_path.exists() or self.exists():
            msg = (f"run {self.run_id!r} already exists in {str(self.lake.root)!r}; "
                   f"resume it with `shoal paper --resume {self.run_id}` or choose another --run-id")
            raise ConfigError(msg)
        doc = json.dumps({**config, "strategy": strategy}, indent=2)
        write_atomic(self.config_path, lambda tmp: tmp.write_text(doc))
        self.ensure_row()

    def ensure_row(self) -> None:
        """Insert the run's catalog row from ``run.json`` when it is missing."""
        config = self.config()
        now = time.time_ns()
        with self.connect() as con:
            con.execute("INSERT OR IGNORE INTO paper_runs (run_id, status, strategy, created_ns, updated_ns, host, "
                        "pid, config_json, n_events, n_segments, n_orders, n_fills, resumes) "
                        "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)",
                        [self.run_id, config["strategy"], now, now, socket.gethostname(), os.getpid(),
                         json.dumps(config)]).fetchall()

    def config(self) -> dict:
        """The config the run was created with; a clear error for an unknown id."""
        if not self.config_path.exists():
            msg = (f"no paper run {self.run_id!r} in {str(self.lake.root)!r}"
                   + (f"; recent runs: {recent}" if (recent := _recent(self.lake)) else
                      "; list them with `shoal runs`"))
            raise ConfigError(msg)
        return json.loads(self.config_path.read_text())

    def run_row(self) -> dict:
        self.config()  # a clear error for an unknown id
        self.ensure_row()
        with self.connect() as con:
            return _frame(con, "SELECT * FROM paper_runs WHERE run_id = ?", [self.run_id]).row(0, named=True)

    def mark(self, status: str, *, error: str | None = None, resumed: bool = False) -> None:
        """Set the run's status (and this process as its owner)."""
        self.ensure_row()
        now = time.time_ns()
        with self.connect() as con:
            con.execute("UPDATE paper_runs SET status = ?, updated_ns = ?, host = ?, pid = ?, error = ?, "
                        "finished_ns = CASE WHEN ? IN ('completed', 'failed') THEN ? ELSE finished_ns END, "
                        "resumes = resumes + ? WHERE run_id = ?",
                        [status, now, socket.gethostname(), os.getpid(), error, status, now, int(resumed),
                         self.run_id]).fetchall()

    def commit(self, c: Commit) -> None:
        """Write one flush in one transaction; records already present are left as they are."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION").fetchall()
            try:
                if c.fills is not None and c.fills.height:
                    _insert(con, "paper_fills", c.fills, self.run_id, ignore=True)
                if c.orders is not None and c.orders.height:
                    _insert(con, "paper_orders", c.orders, self.run_id, ignore=False)
                if c.equity is not None and c.equity.height:
                    _insert(con, "paper_equity", c.equity, self.run_id, ignore=True)
                if c.summaries is not None and c.summaries.height:
                    _insert(con, "paper_summaries", c.summaries, self.run_id, ignore=True)
                if c.run:
                    sets = ", ".join(f"{k} = ?" for k in c.run)
                    con.execute(f"UPDATE paper_runs SET {sets}, updated_ns = ? WHERE run_id = ?",
                                [*c.run.values(), time.time_ns(), self.run_id]).fetchall()
                con.execute("COMMIT").fetchall()
            except BaseException:
                con.execute("ROLLBACK").fetchall()
                raise

    def fills(self) -> pl.DataFrame:
        """The journaled fills, in (row, fill index) order."""
        with self.connect() as con:
            return _frame(con, "SELECT * EXCLUDE (run_id) FROM paper_fills WHERE run_id = ? "
                          "ORDER BY \"row\", fill_index", [self.run_id])

    def fill_counts(self, n_rows: int) -> np.ndarray:
        """Fills journaled per row (what a resumed session need not write again)."""
        out = np.zeros(n_rows, dtype=np.int64)
        with self.connect() as con:
            for row, n in con.execute("SELECT \"row\", count(*) FROM paper_fills WHERE run_id = ? GROUP BY 1",
                                      [self.run_id]).fetchall():
                if 0 <= row < n_rows:
                    out[row] = n
        return out

    def table(self, name: str) -> pl.DataFrame:
        if name not in ("paper_orders", "paper_equity", "paper_summaries"):
            msg = f"unknown journal table {name!r}"
            raise ConfigError(msg)
        with self.connect() as con:
            return _frame(con, f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = ?", [self.run_id])

    # -- tape segments --------------------------------------------------------------------------

    def segments(self) -> list[Segment]:
        """The committed segments in order (their lengths read from Parquet footers once)."""
        if self._segments is None:
            sweep_temp_files(self.tape_dir)
            out: list[Segment] = []
            first = 0
            files = sorted(self.tape_dir.glob("seg-*.parquet")) if self.tape_dir.is_dir() else []
            for k, path in enumerate(files):
                m = _SEG.match(path.name)
                if m is None or int(m.group(1)) != k:
                    msg = (f"journal {str(self.tape_dir)!r} has a gap or a stray file at {path.name!r} "
                           f"(expected seg-{k:08d}.parquet); the tape after it cannot be trusted")
                    raise LakeError(msg)
                n = pq.read_metadata(path).num_rows
                out.append(Segment(path=path, index=k, first_event=first, n_events=n))
                first += n
            self._segments = out
        return list(self._segments)

    @property
    def n_events(self) -> int:
        segs = self.segments()
        return segs[-1].first_event + segs[-1].n_events if segs else 0

    def append_segment(self, tape: Tape) -> Segment:
        """Write the next segment atomically (fsync'd before this returns)."""
        segs = self.segments()
        k = len(segs)
        first = self.n_events
        table = tape.to_arrow()
        path = write_atomic(self.tape_dir / f"seg-{k:08d}.parquet",
                            lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        seg = Segment(path=path, index=k, first_event=first, n_events=tape.n_events)
        assert self._segments is not None
        self._segments.append(seg)
        return seg

    def read_tape(self, start_event: int = 0, stop_event: int | None = None) -> Tape:
        """Return journaled events [start_event, stop_event) as one tape."""
        return Tape.concat(list(self.iter_tapes(start_event, stop_event)), sort=False)

    def iter_tapes(self, start_event: int = 0, stop_event: int | None = None) -> Iterator[Tape]:
        """Yield the journaled events [start, stop) segment by segment (memory: one segment)."""
        stop_event = self.n_events if stop_event is None else stop_event
        for seg in self.segments():
            lo, hi = max(start_event, seg.first_event), min(stop_event, seg.first_event + seg.n_events)
            if lo >= hi:
                continue
            tape = Tape.from_arrow(pq.read_table(seg.path))
            yield tape if (lo, hi) == (seg.first_event, seg.first_event + seg.n_events) else \
                tape.slice(lo - seg.first_event, hi - seg.first_event)

    def last_slot(self) -> int | None:
        """Slot of the last journaled event (None before the first segment)."""
        return self._edge("slot", last=True)

    def last_seq(self) -> int:
        """``seq`` of the last journaled event (-1 before the first segment)."""
        seq = self._edge("seq", last=True)
        return -1 if seq is None else seq

    def first_slot(self) -> int | None:
        return self._edge("slot", last=False)

    def _edge(self, column: str, *, last: bool) -> int | None:
        segs = [s for s in self.segments() if s.n_events]
        if not segs:
            return None
        col = pq.read_table((segs[-1] if last else segs[0]).path, columns=[column]).column(column)
        return int(col[len(col) - 1 if last else 0].as_py())

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self, event: int, save: Callable[[Path], Path]) -> Path:
        """Write a checkpoint covering journaled events [0, event) via ``save(path)``; keep the newest two."""
        path = save(self.ckpt_dir / f"ckpt-{event:014d}.npz")
        for old in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            old[1].unlink(missing_ok=True)
        return path

    def checkpoints(self) -> list[tuple[int, Path]]:
        if not self.ckpt_dir.is_dir():
            return []
        sweep_temp_files(self.ckpt_dir)
        found = [(int(m.group(1)), p) for p in self.ckpt_dir.glob("ckpt-*.npz") if (m := _CKPT.match(p.name))]
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        """The newest checkpoint not beyond the journaled tape, or None."""
        n = self.n_events
        usable = [c for c in self.checkpoints() if c[0] <= n]
        return usable[-1] if usable else None


# ---------------------------------------------------------------------------------------------


@contextmanager
def catalog(lake: Lake, *, wait_s: float = LOCK_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the catalog read-write with the journal tables, retrying while another process holds it."""
    lake.root.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            con = duckdb.connect(str(lake.catalog_path))
            break
        except duckdb.IOException as e:
            if time.monotonic() > deadline:
                msg = (f"cannot open the catalog {str(lake.catalog_path)!r} within {wait_s:.0f} s: {e}. "
                       "Hint: another shoal process holds it; wait for it or use another --lake")
                raise LakeError(msg) from e
            time.sleep(delay)
            delay = min(0.2, delay * 2)
    try:
        for ddl in DDL:
            con.execute(ddl).fetchall()
        yield con
    finally:
        con.close()


def _frame(con: duckdb.DuckDBPyConnection, sql: str, args: list | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=args or None).to_arrow_table())


def _recent(lake: Lake) -> list[str]:
    folder = lake.root / JOURNAL_DIR
    if not folder.is_dir():
        return []
    runs = sorted((p for p in folder.iterdir() if (p / "run.json").exists()), key=lambda p: p.stat().st_mtime)
    return [p.name for p in runs[-5:]][::-1]


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame, run_id: str, *, ignore: bool) -> None:
    data = df.with_columns(pl.lit(run_id).alias("run_id")).to_arrow()
    con.register("_journal_rows", data)
    try:
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        verb = "INSERT OR IGNORE" if ignore else "INSERT OR REPLACE"
        con.execute(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM _journal_rows").fetchall()
    finally:
        con.unregister("_journal_rows")


def list_runs(lake: Lake) -> pl.DataFrame:
    """Every paper run of the lake, newest first; ``status`` says ``interrupted`` for a dead owner."""
    if not lake.catalog_path.exists():
        return pl.DataFrame()
    with catalog(lake) as con:
        df = _frame(con, "SELECT run_id, status, strategy, created_ns, updated_ns, host, pid, first_slot, last_slot, "
                    "n_events, n_orders, n_fills, equity, realized_pnl, resumes, error "
                    "FROM paper_runs ORDER BY created_ns DESC")
    if df.height == 0:
        return df
    here = socket.gethostname()
    status = [("interrupted" if s == "running" and h == here and not _alive(p) else s)
              for s, h, p in zip(df["status"], df["host"], df["pid"], strict=True)]
    return df.with_columns(pl.Series("status", status))


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is not running
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def arrow_of_fills(recs: np.ndarray, rows: np.ndarray, fill_index: np.ndarray) -> pl.DataFrame:
    """FILL_DT records (with their row and index in the row's buffer) as a `paper_fills` frame."""
    cols: dict[str, np.ndarray] = {"row": rows.astype(np.int32), "fill_index": fill_index.astype(np.int64)}
    for name in recs.dtype.names:
        col = recs[name]
        if col.ndim == 2:
            for h in range(col.shape[1]):
                cols[f"{name}{h}"] = np.ascontiguousarray(col[:, h])
        else:
            cols[name] = np.ascontiguousarray(col)
    return pl.from_arrow(pa.table(cols))
