"""The live decision journal: one JSON line per guard decision, simulation, send and outcome.

Lines are appended and flushed before the action they describe (a ``send`` line is on disk
before ``sendTransaction`` is called), so after a crash the journal says which signatures may
have landed; ``fsync=True`` also forces them to the device. `load_into_catalog` copies a
journal into the lake's DuckDB catalog (table ``live_decisions``) for queries.

The journal never holds key material: records carry public keys, signatures and reasons only,
and `DecisionJournal.write` refuses any field named like a secret.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import ShoalError

__all__ = ["DecisionJournal", "iter_records", "load_into_catalog"]

_FORBIDDEN = ("secret", "keypair", "private")
_COLUMNS = ("ts_ns", "kind", "order_id", "guard", "allowed", "reason", "signature", "detail")


class DecisionJournal:
    """Append-only JSON-lines journal of live decisions.

    Parameters
    ----------
    path : path
        The journal file; created with its parent folder, appended to when it exists.
    fsync : bool
        Force every line to the device (slower; off by default: a flush reaches the OS).
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        self._fsync = fsync
        self.n_records = 0

    def write(self, kind: str, *, order_id: int | None = None, guard: str | None = None,
              allowed: bool | None = None, reason: str | None = None, signature: str | None = None,
              **detail: Any) -> None:
        """Append one record and flush it."""
        for key in detail:
            if any(word in key.lower() for word in _FORBIDDEN):
                msg = f"journal field {key!r} looks like key material; the journal holds public data only"
                raise ShoalError(msg)
        rec = {"ts_ns": time.time_ns(), "kind": kind, "order_id": order_id, "guard": guard, "allowed": allowed,
               "reason": reason, "signature": signature, "detail": detail or None}
        self._fh.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())
        self.n_records += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> DecisionJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the records of a journal file; a torn last line (a crash mid-write) is skipped."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def load_into_catalog(path: str | os.PathLike, lake: Any, *, run_id: str) -> int:
    """Copy a journal into the catalog table ``live_decisions`` of ``lake``; return the rows added."""
    from engine.store.catalog import opened

    rows = [(run_id, *(json.dumps(r[c]) if c == "detail" and r[c] is not None else r[c] for c in _COLUMNS))
            for r in iter_records(path)]
    with opened(lake) as con:
        con.execute("CREATE TABLE IF NOT EXISTS live_decisions (run_id VARCHAR, ts_ns BIGINT, kind VARCHAR, "
                    "order_id BIGINT, guard VARCHAR, allowed BOOLEAN, reason VARCHAR, signature VARCHAR, "
                    "detail VARCHAR)")
        if rows:
            con.executemany("INSERT INTO live_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)
