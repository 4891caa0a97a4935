"""What a backtest runs over: a tape stream and its market, from the lake or from a bars file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.feeds.importers import read_table, ts_ns_expr
from engine.layout import EventKind
from engine.schema import Tape
from engine.sim import Market
from engine.store import registry
from engine.store.catalog import opened
from engine.store.lake import Lake

TIME_NAMES = ("time", "timestamp", "date", "datetime", "ts", "ts_ns", "open_time", "t")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A re-iterable stream of tapes plus the market their ids refer to."""

    tapes: Callable[[], Iterator[Tape]]
    market: Market
    source: str
    n_events: int
    first_ts_ns: int
    last_ts_ns: int
    n_slots: int

    def describe(self) -> dict:
        return {"source": self.source, "events": self.n_events, "from": _iso(self.first_ts_ns),
                "to": _iso(self.last_ts_ns)}


def parse_time(text: str | None) -> int | None:
    """ISO date or datetime (UTC unless it says otherwise) -> UNIX ns."""
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as e:
        msg = f"times are ISO dates or datetimes like 2026-01-01 or 2026-01-01T12:00, was {text!r}"
        raise ConfigError(msg) from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1e9)


def from_lake(lake: Lake, *, start_ts_ns: int | None = None, stop_ts_ns: int | None = None) -> Dataset:
    """The lake's events in [start, stop), one day at a time, and the market of its registries."""
    if not lake.catalog_path.exists():
        msg = (f"no lake at {str(lake.root)!r}. Hint: create one with `shoal generate --lake {lake.root}` "
               "or point --lake at an existing lake")
        raise ConfigError(msg)
    with opened(lake) as con:
        tokens = registry.read(con, "tokens")
        pools = registry.read(con, "pools")
        n_markets = registry.read(con, "markets").height
    if pools.height == 0:
        msg = f"the lake {str(lake.root)!r} has no pools registered; ingest or generate data first"
        raise ConfigError(msg)
    market = Market.from_registries(pools, tokens, n_markets=n_markets)
    n, t0, t1, s0, s1 = _count(lake, start_ts_ns, stop_ts_ns)
    if n == 0:
        msg = "no events in that time range of the lake; check --from/--to against `shoal lake info`"
        raise ConfigError(msg)
    return Dataset(tapes=lambda: lake.iter_tapes(start_ts_ns=start_ts_ns, stop_ts_ns=stop_ts_ns), market=market,
                   source=f"lake:{lake.url}", n_events=n, first_ts_ns=t0, last_ts_ns=t1, n_slots=s1 - s0 + 1)


def from_bars_file(path: Path) -> Dataset:
    """An OHLCV CSV or Parquet file as BAR events of instrument 0.

    Columns are matched case-insensitively: a time column (``time``, ``timestamp``, ``date``
    ...; ISO text or epoch s/ms/us/ns), ``open``, ``high``, ``low``, ``close`` and ``volume``
    (volume may be absent: 0). Rows are sorted by time; the bar index is the slot.
    """
    df = read_table(path)
    lower = {c.lower(): c for c in df.columns}
    time_col = next((lower[n] for n in TIME_NAMES if n in lower), None)
    missing = [c for c in ("open", "high", "low", "close") if c not in lower]
    if time_col is None or missing:
        msg = (f"{str(path)!r} needs a time column ({', '.join(TIME_NAMES)}) and open, high, low, close; "
               f"its columns are {df.columns}")
        raise ConfigError(msg)
    cols = {c: pl.col(lower[c]).str.strip_chars().cast(pl.Float64, strict=False)
            for c in ("open", "high", "low", "close")}
    cols["volume"] = (pl.col(lower["volume"]).str.strip_chars().cast(pl.Float64, strict=False) if "volume" in lower
                      else pl.lit(0.0))
    bars = df.select(ts_ns=ts_ns_expr(pl.col(time_col), time_col), **cols).sort("ts_ns")
    bad = bars.filter(pl.any_horizontal(pl.all().is_null()))
    if bad.height:
        msg = f"{bad.height} rows of {str(path)!r} have an unreadable time or price; first: {bad.row(0, named=True)}"
        raise ConfigError(msg)
    n = bars.height
    vals = bars.select("open", "high", "low", "close", "volume").to_numpy().astype(np.float64)
    tape = Tape.from_columns(slot=np.arange(n), seq=np.zeros(n), ts_ns=bars["ts_ns"].to_numpy(),
                             kind=np.full(n, EventKind.BAR), pool_id=np.zeros(n), vals=vals)
    reasons = tape.validate()
    if reasons.any():
        k = int(np.flatnonzero(reasons)[0])
        msg = f"bar {k} of {str(path)!r} is inconsistent (high < low, or open/close outside them): {vals[k].tolist()}"
        raise ConfigError(msg)
    return Dataset(tapes=lambda: iter([tape]), market=Market.for_bars(1), source=f"bars:{path}", n_events=n,
                   first_ts_ns=int(tape.ts_ns[0]) if n else 0, last_ts_ns=int(tape.ts_ns[-1]) if n else 0,
                   n_slots=n)


def _count(lake: Lake, start: int | None, stop: int | None) -> tuple[int, int, int, int, int]:
    """Events, first and last time, first and last slot of the lake's event tables in [start, stop)."""
    total, t0, t1, s0, s1 = 0, None, None, None, None
    for name in lake.table_names():
        if name == "quarantine":
            continue
        row = lake.scan(name, start_ts_ns=start, stop_ts_ns=stop).select(
            pl.len().alias("n"), pl.col("ts_ns").min().alias("t0"), pl.col("ts_ns").max().alias("t1"),
            pl.col("slot").min().alias("s0"), pl.col("slot").max().alias("s1")).collect().row(0)
        total += row[0]
        if row[0]:
            t0, t1 = (row[1] if t0 is None else min(t0, row[1])), (row[2] if t1 is None else max(t1, row[2]))
            s0, s1 = (row[3] if s0 is None else min(s0, row[3])), (row[4] if s1 is None else max(s1, row[4]))
    return total, t0 or 0, t1 or 0, s0 or 0, s1 or 0


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="seconds")
