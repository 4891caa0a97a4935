"""Backtests and sweeps on record: a catalog row per run plus its frames as Parquet files.

``<lake>/runs/<run_id>/{summary,fills,equity}.parquet`` hold the frames (written atomically);
the DuckDB table ``backtests`` holds what identifies the run: strategy, parameters, the
simulation settings, the data it ran on, seed, code version and headline numbers.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from engine import ENGINE_HASH
from engine.errors import ConfigError
from engine.store.atomic import write_atomic
from engine.store.lake import Lake

DDL = """
CREATE TABLE IF NOT EXISTS backtests (
    run_id VARCHAR PRIMARY KEY, kind VARCHAR, strategy VARCHAR, created_ns BIGINT, code_version VARCHAR,
    seed BIGINT, n_rows BIGINT, params_json VARCHAR, sim_json VARCHAR, data_json VARCHAR, headline_json VARCHAR)
"""
FRAMES = ("summary", "fills", "equity")


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    kind: str
    strategy: str
    created_ns: int
    code_version: str
    seed: int
    n_rows: int
    params: list[dict]
    sim: dict
    data: dict
    headline: dict

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


def code_version() -> str:
    """The git commit of the checkout (with ``+dirty`` for uncommitted changes) and the engine hash."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty=+dirty"], capture_output=True, text=True,
                             cwd=root, check=False, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return f"{out or 'unknown'} engine:{ENGINE_HASH}"


def new_run_id(kind: str) -> str:
    stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S")
    return f"{'bt' if kind == 'backtest' else 'sw'}-{stamp}-{uuid.uuid4().hex[:6]}"


def params_rows(params: np.ndarray) -> list[dict]:
    return [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in zip(params.dtype.names, row, strict=True)}
            for row in params]


def record(lake: Lake, con: duckdb.DuckDBPyConnection, *, kind: str, strategy: str, params: np.ndarray, sim: dict,
           data: dict, frames: dict[str, pl.DataFrame], headline: dict, run_id: str | None = None) -> RunRecord:
    """Write a run's frames and its catalog row; return the record."""
    run_id = run_id or new_run_id(kind)
    folder = lake.root / "runs" / run_id
    for name, df in frames.items():
        write_atomic(folder / f"{name}.parquet", lambda tmp, d=df: d.write_parquet(tmp, compression="zstd"))
    rec = RunRecord(run_id=run_id, kind=kind, strategy=strategy, created_ns=time.time_ns(),
                    code_version=code_version(), seed=int(sim.get("seed", 0)), n_rows=int(params.shape[0]),
                    params=params_rows(params) if params.shape[0] <= 100 else params_rows(params[:100]), sim=sim,
                    data=data, headline=headline)
    con.execute(DDL).fetchall()
    con.execute("INSERT INTO backtests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [rec.run_id, rec.kind, rec.strategy, rec.created_ns, rec.code_version, rec.seed, rec.n_rows,
                 json.dumps(rec.params), json.dumps(rec.sim), json.dumps(rec.data),
                 json.dumps(rec.headline, default=float)]).fetchall()
    return rec


def load(lake: Lake, con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[RunRecord, dict[str, pl.DataFrame]]:
    """Return a recorded run and its frames; a clear error when the id is unknown."""
    con.execute(DDL).fetchall()
    rows = con.execute("SELECT * FROM backtests WHERE run_id = ?", [run_id]).fetchall()
    if not rows:
        recent = [r[0] for r in con.execute(
            "SELECT run_id FROM backtests ORDER BY created_ns DESC LIMIT 5").fetchall()]
        msg = f"no run {run_id!r} in {str(lake.root)!r}" + (f"; recent runs: {recent}" if recent else "")
        raise ConfigError(msg)
    r = rows[0]
    rec = RunRecord(run_id=r[0], kind=r[1], strategy=r[2], created_ns=r[3], code_version=r[4], seed=r[5],
                    n_rows=r[6], params=json.loads(r[7]), sim=json.loads(r[8]), data=json.loads(r[9]),
                    headline=json.loads(r[10]))
    folder = lake.root / "runs" / run_id
    frames = {n: pl.read_parquet(folder / f"{n}.parquet") for n in FRAMES if (folder / f"{n}.parquet").exists()}
    return rec, frames
