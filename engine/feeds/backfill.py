"""Backfill one address's swaps over JSON-RPC: list its signatures, fetch, parse and land them.

``getSignaturesForAddress`` pages backwards in time (newest first, ``before`` = last signature
of the previous page, ``until`` = where to stop). A run first **lists** every signature of its
range, cheap at 1,000 per page, then **fetches** the transactions oldest first, in batches
fetched concurrently (the `RpcClient` bounds, rate-limits, retries and fails over) and landed
through the registries (`engine.feeds.tx_ingest.TxSink`).

**Resume.** The DuckDB table ``backfill_cursors`` keeps, per address, the newest signature
whose transaction and every older one back to ``covered_since_ns`` are in the lake. Because
batches land oldest first, the cursor moves forward after each batch, so a run killed at any
point resumes where it stopped: the next run lists only signatures newer than the cursor
(``until``), plus, when ``--since`` reaches further back than ever before, the older range
(``before`` = the oldest signature listed so far). A batch landed twice changes nothing (the
lake's key is ``(slot, signature, ix)``).

Transactions that failed on chain (``err`` set in the listing) are not fetched: they hold no
swap. A transaction no endpoint returns (``null`` on every try) and a document the parser
rejects are quarantined (reason ``malformed``) with the signature, never dropped silently.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from engine.errors import ConfigError
from engine.feeds.rpc import RpcClient
from engine.feeds.solana_tx import ParsedTx, TxParseError, parse_transaction
from engine.feeds.tx_ingest import NS_PER_S, TxLandReport, TxSink, quarantine_document
from engine.store.lake import Lake

__all__ = [
    "CURSORS_DDL",
    "BackfillConfig",
    "BackfillReport",
    "Cursor",
    "backfill",
    "fetch_transactions",
    "list_signatures",
    "parse_since",
    "read_cursor",
]

CURSORS_DDL = """
CREATE TABLE IF NOT EXISTS backfill_cursors (
    address VARCHAR PRIMARY KEY, kind VARCHAR, newest_signature VARCHAR, newest_slot BIGINT,
    oldest_signature VARCHAR, oldest_slot BIGINT, covered_since_ns BIGINT, updated_ns BIGINT)
"""
GET_TX_OPTS = {"encoding": "json", "maxSupportedTransactionVersion": 0}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, *, now_ns: int | None = None) -> int:
    """Return UNIX ns for ``text``: ISO date or datetime (UTC if no zone), UNIX seconds, or an age (``7d``, ``12h``)."""
    text = text.strip()
    now_ns = time.time_ns() if now_ns is None else now_ns
    m = _RELATIVE.match(text)
    if m:
        return now_ns - int(float(m.group(1)) * _UNIT_S[m.group(2)] * NS_PER_S)
    if re.fullmatch(r"\d{9,11}", text):
        return int(text) * NS_PER_S
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = (f"--since {text!r} is not a time; Hint: use an ISO date (2025-01-31), a datetime "
               "(2025-01-31T12:00Z), UNIX seconds, or an age such as 7d, 12h, 30m")
        raise ConfigError(msg) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS_PER_S


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillConfig:
    """One backfill.

    Parameters
    ----------
    address : str
        Wallet or pool address (base58).
    kind : str
        ``"wallet"`` or ``"pool"``: recorded with the cursor and the quarantine source.
    since_ns : int
        Oldest block time to reach, UNIX ns.
    page_limit : int
        Signatures per ``getSignaturesForAddress`` page (the RPC allows at most 1,000).
    batch_txs : int
        Transactions fetched concurrently and landed together.
    max_pages : int
        Upper bound on pages listed in one run (a loop bound, not a normal stop).
    commitment : str
        ``finalized`` (default) or ``confirmed``.
    """

    address: str
    kind: str = "wallet"
    since_ns: int = 0
    page_limit: int = 1000
    batch_txs: int = 256
    max_pages: int = 10_000
    commitment: str = "finalized"

    def __post_init__(self) -> None:
        if not 32 <= len(self.address) <= 44:
            msg = f"address {self.address!r} is not a base58 public key (32-44 characters)"
            raise ConfigError(msg)
        if self.kind not in ("wallet", "pool"):
            msg = f"kind must be 'wallet' or 'pool', was {self.kind!r}"
            raise ConfigError(msg)
        if not 1 <= self.page_limit <= 1000:
            msg = f"page_limit must be in [1, 1000], was {self.page_limit}"
            raise ConfigError(msg)
        if self.batch_txs < 1 or self.max_pages < 1:
            msg = f"batch_txs and max_pages must be >= 1, were {self.batch_txs} and {self.max_pages}"
            raise ConfigError(msg)
        if self.commitment not in ("finalized", "confirmed"):
            msg = f"commitment must be 'finalized' or 'confirmed', was {self.commitment!r}"
            raise ConfigError(msg)

    @property
    def source(self) -> str:
        return f"rpc:{self.kind}:{self.address}"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Everything from ``newest_signature`` back to ``covered_since_ns`` is in the lake."""

    address: str
    kind: str
    newest_signature: str | None
    newest_slot: int | None
    oldest_signature: str | None
    oldest_slot: int | None
    covered_since_ns: int | None

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


def read_cursor(con: duckdb.DuckDBPyConnection, address: str) -> Cursor | None:
    con.execute(CURSORS_DDL).fetchall()
    row = con.execute("SELECT address, kind, newest_signature, newest_slot, oldest_signature, oldest_slot, "
                      "covered_since_ns FROM backfill_cursors WHERE address = ?", [address]).fetchall()
    return Cursor(*row[0]) if row else None


def _write_cursor(con: duckdb.DuckDBPyConnection, c: Cursor) -> None:
    con.execute(CURSORS_DDL).fetchall()
    con.execute("INSERT OR REPLACE INTO backfill_cursors VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [c.address, c.kind, c.newest_signature, c.newest_slot, c.oldest_signature, c.oldest_slot,
                 c.covered_since_ns, time.time_ns()]).fetchall()


@dataclass(slots=True)
class BackfillReport:
    """What one backfill did."""

    address: str
    kind: str
    pages: int = 0
    listed: int = 0
    failed_skipped: int = 0
    fetched: int = 0
    not_found: int = 0
    rejected: int = 0
    batches: int = 0
    land: TxLandReport = field(default_factory=TxLandReport)
    cursor: Cursor | None = None
    seconds: float = 0.0
    rpc: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"address": self.address, "kind": self.kind, "pages": self.pages, "listed": self.listed,
                "failed_skipped": self.failed_skipped, "fetched": self.fetched, "not_found": self.not_found,
                "rejected": self.rejected, "batches": self.batches, "land": self.land.to_dict(),
                "cursor": None if self.cursor is None else self.cursor.to_dict(), "seconds": round(self.seconds, 3),
                "rpc": self.rpc}


async def list_signatures(rpc: RpcClient, address: str, *, since_ns: int, before: str | None = None,
                          until: str | None = None, min_slot: int = 0, page_limit: int = 1000,
                          max_pages: int = 10_000, commitment: str = "finalized") -> tuple[list[dict], int]:
    """Return ``(entries newest first, pages read)`` of ``getSignaturesForAddress`` back to ``since_ns``,
    ``min_slot`` or ``until``, whichever comes first.

    An entry without ``blockTime`` is kept (it cannot be judged older than ``since``).
    """
    out: list[dict] = []
    pages = 0
    since_s = since_ns // NS_PER_S
    while pages < max_pages:
        opts: dict = {"limit": page_limit, "commitment": commitment}
        if before is not None:
            opts["before"] = before
        if until is not None:
            opts["until"] = until
        page = await rpc.call("getSignaturesForAddress", [address, opts])
        pages += 1
        if not isinstance(page, list):
            msg = f"getSignaturesForAddress returned {type(page).__name__}, not a list"
            raise TxParseError(msg, where=f"signatures of {address}")
        for e in page:
            bt = e.get("blockTime")
            if (bt is not None and bt < since_s) or e.get("slot", min_slot) < min_slot:
                return out, pages
            out.append(e)
        if len(page) < page_limit:
            break
        before = page[-1]["signature"]
    return out, pages


async def fetch_transactions(rpc: RpcClient, signatures: list[str], *, commitment: str = "finalized",
                             ) -> list[tuple[str, dict | None]]:
    """Fetch ``getTransaction`` results concurrently (the client bounds them); ``None`` = found nowhere."""
    opts = {**GET_TX_OPTS, "commitment": commitment}

    async def one(sig: str) -> tuple[str, dict | None]:
        return sig, await rpc.call_until_found("getTransaction", [sig, opts])

    try:
        async with asyncio.TaskGroup() as tg:  # the first failure cancels the rest
            tasks = [tg.create_task(one(s)) for s in signatures]
    except ExceptionGroup as eg:  # report the first cause, not a group
        first = eg.exceptions[0]
        while isinstance(first, ExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


def _parse_batch(sink: TxSink, got: list[tuple[str, dict | None]], report: BackfillReport) -> list[ParsedTx]:
    txs = []
    for sig, doc in got:
        if doc is None:
            report.not_found += 1
            quarantine_document(sink.lake, source=sink.source, where=sig, document=None,
                                error="getTransaction returned null on every try: no endpoint has this transaction; "
                                      "Hint: use an archive RPC node for old transactions")
            continue
        try:
            txs.append(parse_transaction(doc, where=sig))
        except TxParseError as e:
            report.rejected += 1
            sink.reject(e, None if doc is None else _dump(doc))
    return txs


def _dump(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))


async def backfill(rpc: RpcClient, lake: Lake, con: duckdb.DuckDBPyConnection, cfg: BackfillConfig, *,
                   progress: Callable[[int, int], None] | None = None) -> BackfillReport:
    """Backfill ``cfg.address`` into ``lake`` from ``cfg.since_ns`` to now, resuming from its cursor.

    Parameters
    ----------
    progress : callable, optional
        Called as ``progress(done, total)`` in transactions after each landed batch.
    """
    t0 = time.perf_counter()
    report = BackfillReport(address=cfg.address, kind=cfg.kind)
    sink = TxSink(lake, con, source=cfg.source)
    cur = read_cursor(con, cfg.address)
    if cur is None or cur.covered_since_ns is None:
        cur = Cursor(cfg.address, cfg.kind, None, None, None, None, None)
    list_kw = {"page_limit": cfg.page_limit, "max_pages": cfg.max_pages, "commitment": cfg.commitment}
    ranges: list[tuple[str, list[dict]]] = []
    if cur.covered_since_ns is not None and cfg.since_ns < cur.covered_since_ns and cur.oldest_signature is not None:
        older, pages = await list_signatures(rpc, cfg.address, since_ns=cfg.since_ns, before=cur.oldest_signature,
                                             **list_kw)
        report.pages += pages
        ranges.append(("older", older))
    newer, pages = await list_signatures(rpc, cfg.address, since_ns=cfg.since_ns if cur.newest_signature is None
                                         else 0, until=cur.newest_signature, **list_kw)
    report.pages += pages
    ranges.append(("newer", newer))
    total = sum(len(r) for _, r in ranges)
    report.listed = total
    done = 0
    for which, entries in ranges:
        entries = entries[::-1]  # oldest first: the cursor can move after every batch
        ok = [e for e in entries if e.get("err") is None]
        report.failed_skipped += len(entries) - len(ok)
        done += len(entries) - len(ok)
        batches = [ok[i:i + cfg.batch_txs] for i in range(0, len(ok), cfg.batch_txs)]
        pending = asyncio.create_task(fetch_transactions(rpc, [e["signature"] for e in batches[0]],
                                                         commitment=cfg.commitment)) if batches else None
        for k, batch in enumerate(batches):
            got = await pending
            pending = asyncio.create_task(fetch_transactions(rpc, [e["signature"] for e in batches[k + 1]],
                                                             commitment=cfg.commitment)) \
                if k + 1 < len(batches) else None  # fetch the next batch while this one lands
            try:
                report.fetched += len(got)
                txs = _parse_batch(sink, got, report)
                land_report, _ = await asyncio.to_thread(sink.land, txs)
            except BaseException:
                if pending is not None:
                    pending.cancel()
                raise
            report.land.merge(land_report)
            report.batches += 1
            done += len(batch)
            if which == "newer":
                last = batch[-1]
                oldest = cur.oldest_signature or entries[0]["signature"]
                oldest_slot = cur.oldest_slot if cur.oldest_slot is not None else entries[0].get("slot")
                cur = Cursor(cfg.address, cfg.kind, last["signature"], last.get("slot"), oldest, oldest_slot,
                             cur.covered_since_ns if cur.covered_since_ns is not None else cfg.since_ns)
                _write_cursor(con, cur)
            if progress is not None:
                progress(done, total)
        if which == "older":
            first = entries[0] if entries else None
            cur = Cursor(cfg.address, cfg.kind, cur.newest_signature, cur.newest_slot,
                         first["signature"] if first else cur.oldest_signature,
                         first.get("slot") if first else cur.oldest_slot, cfg.since_ns)
            _write_cursor(con, cur)
        elif entries and not ok:  # only failed transactions: the range is covered all the same
            last = entries[-1]
            cur = Cursor(cfg.address, cfg.kind, last["signature"], last.get("slot"),
                         cur.oldest_signature or entries[0]["signature"],
                         cur.oldest_slot if cur.oldest_slot is not None else entries[0].get("slot"),
                         cur.covered_since_ns if cur.covered_since_ns is not None else cfg.since_ns)
            _write_cursor(con, cur)
        elif not entries and cur.covered_since_ns is None:
            cur = Cursor(cfg.address, cfg.kind, None, None, None, None, None)  # nothing yet: list again next time
    if progress is not None:
        progress(total, total)
    report.land.rejected += report.rejected + report.not_found
    if report.rejected + report.not_found:
        report.land.quarantined["malformed"] += report.rejected + report.not_found
    report.cursor = read_cursor(con, cfg.address)
    report.seconds = time.perf_counter() - t0
    report.rpc = rpc.stats.to_dict()
    return report
