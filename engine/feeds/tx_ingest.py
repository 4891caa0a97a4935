"""Parsed Solana transactions -> SWAP tape rows, registry rows and lake rows.

Every `engine.feeds.solana_tx.Swap` becomes one SWAP row:

* ``wallet_id``: the swap's owner, in the ``wallets`` registry;
* ``mint_id``: the **base** mint, in the ``tokens`` registry (both mints are registered);
* ``side``: seen from the owner and the base mint. The **quote** of a swap is USDC when one
  side is USDC, else WSOL (native SOL) when one side is SOL, else ``mint_in`` (so a swap
  between two other tokens is a BUY of ``mint_out``). ``BUY`` when the quote goes in,
  ``SELL`` when it comes out; a SOL -> USDC swap therefore SELLs SOL;
* ``pool_id``: the pool address the parser found, in the ``pools`` registry with its venue
  (``raydium_amm_v4`` ...), pool kind and base/quote mints. A swap the parser could not pin to
  one pool (a multi-hop route) is not dropped: it gets a synthetic pool key
  ``route:<base mint>/<quote mint>`` (venue ``route``), one per pair, so route trades of a
  pair share an id and never mix with a real pool;
* ``vals``: ``amount_in_raw`` and ``amount_out_raw``, integers in base units (what the owner
  gave and got, lamports for SOL);
* ``slot`` from the transaction, ``ts_ns`` from ``blockTime`` (seconds, converted here once);
* ``seq``: ``getTransaction`` does not say where in its block a transaction sat, so ``seq``
  orders a slot's swaps by a hash of the signature (26 bits of its bytes) and then the swap
  index: ``seq = h26(signature) * 16 + ix``, below 2**30 (pool states of a slot come after).
  It depends on nothing but the transaction, so a swap gets the same ``seq`` whichever batch
  (file, backfill page, live chunk) brings it; two transactions of one slot sharing 26 hash
  bits (about 1 in 10^4 for 100 tracked swaps in a slot) are told apart by probing to the
  next free ``seq`` within the batch;
* the lake key is ``(slot, signature, ix)`` with ``ix`` the swap's index within its
  transaction, so re-ingesting a transaction changes nothing.

A transaction without ``blockTime`` cannot be placed in a day partition: it is quarantined
(reason ``malformed``), as are documents the parser rejects. Failed transactions and
transactions without a swap land nothing and are counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from engine.feeds.programs import WSOL_MINT
from engine.feeds.solana_tx import ParsedTx, TxParseError, b58decode, parse_transaction
from engine.layout import N_VALS, SWAP_AMOUNT_IN, SWAP_AMOUNT_OUT, EventKind, PoolKind, Side
from engine.schema import Reason, Tape
from engine.store import registry
from engine.store.lake import IngestReport, Lake
from engine.store.landing import IdMaps, land

try:  # the parser's choice of JSON decoder, for whole files
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

__all__ = [
    "QUOTE_MINTS",
    "ROUTE_VENUE",
    "USDC_MINT",
    "SwapRows",
    "TxLandReport",
    "TxSink",
    "base_and_quote",
    "quarantine_document",
    "read_tx_file",
    "seq_of",
    "swap_rows",
]

USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
QUOTE_MINTS = (USDC_MINT, WSOL_MINT)  # preferred quote first
ROUTE_VENUE = "route"
NS_PER_S = 1_000_000_000
_MAX_PAYLOAD_CHARS = 1_000_000  # a quarantined document keeps at most this much of its text

# Liquidity venue (ParsedTx.dex names) -> swap math; Meteora DLMM bins fit none of the three.
VENUE_KIND: dict[str, PoolKind] = {
    "raydium_amm_v4": PoolKind.CPMM, "raydium_cpmm": PoolKind.CPMM, "pumpswap": PoolKind.CPMM,
    "raydium_clmm": PoolKind.CLMM, "orca_whirlpool": PoolKind.CLMM, "pumpfun": PoolKind.CURVE,
}


def base_and_quote(mint_in: str, mint_out: str) -> tuple[str, str, Side]:
    """Return ``(base, quote, side)`` of a swap from ``mint_in`` to ``mint_out`` (module rule)."""
    for q in QUOTE_MINTS:
        if mint_in == q:
            return mint_out, mint_in, Side.BUY
        if mint_out == q:
            return mint_in, mint_out, Side.SELL
    return mint_out, mint_in, Side.BUY


def seq_of(signature: str, ix: int) -> int:
    """Return the stable in-slot order key of swap ``ix`` of ``signature`` (see the module docstring)."""
    try:
        raw = b58decode(signature)
    except ValueError:  # not base58: still a stable function of the text
        raw = signature.encode()
    h = int.from_bytes(raw[:4].ljust(4, b"\0"), "big") >> 6
    return h * 16 + min(ix, 15)


@dataclass(slots=True)
class SwapRows:
    """Swaps of parsed transactions with their keys as strings, before registry ids exist."""

    slot: list[int] = field(default_factory=list)
    ts_ns: list[int] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    ix: list[int] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)
    base: list[str] = field(default_factory=list)
    quote: list[str] = field(default_factory=list)
    pool: list[str] = field(default_factory=list)
    venue: list[str] = field(default_factory=list)
    side: list[int] = field(default_factory=list)
    amount_in: list[int] = field(default_factory=list)
    amount_out: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.slot)


def swap_rows(txs: Iterable[ParsedTx]) -> SwapRows:
    """Flatten the swaps of successful transactions that have a ``blockTime`` into `SwapRows`."""
    rows = SwapRows()
    for tx in txs:
        if tx.status != "success" or tx.block_time is None:
            continue
        hop_of = {h.pool: h for h in tx.hops}
        for ix, s in enumerate(tx.swaps):
            base, quote, side = base_and_quote(s.mint_in, s.mint_out)
            if s.pool is None:
                pool, venue = f"route:{base}/{quote}", ROUTE_VENUE
            else:
                hop = hop_of.get(s.pool)
                pool, venue = s.pool, hop.dex if hop is not None else (tx.dex or "unknown")
            rows.slot.append(tx.slot)
            rows.ts_ns.append(tx.block_time * NS_PER_S)
            rows.signature.append(tx.signature)
            rows.ix.append(ix)
            rows.owner.append(s.owner)
            rows.base.append(base)
            rows.quote.append(quote)
            rows.pool.append(pool)
            rows.venue.append(venue)
            rows.side.append(int(side))
            rows.amount_in.append(s.amount_in)
            rows.amount_out.append(s.amount_out)
    return rows


def _registry_ids(con: duckdb.DuckDBPyConnection, rows: SwapRows,
                  now_ns: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, registry.SyncReport]]:
    """Upsert wallets, tokens and pools of ``rows`` (no delisting); return their registry ids."""
    reports = {}
    mints = list(dict.fromkeys([*rows.base, *rows.quote]))
    reports["tokens"] = registry.sync(con, "tokens", pl.DataFrame({"mint": mints}, schema={"mint": pl.String}),
                                      full=False, now_ns=now_ns)
    reports["wallets"] = registry.sync(con, "wallets", pl.DataFrame({"address": list(dict.fromkeys(rows.owner))},
                                                                    schema={"address": pl.String}),
                                       full=False, now_ns=now_ns)
    token_ids = dict(zip(mints, registry.ids_of(con, "tokens", mints).tolist(), strict=True))
    pools: dict[str, tuple[str, str, str]] = {}
    for p, v, b, q in zip(rows.pool, rows.venue, rows.base, rows.quote, strict=True):
        pools.setdefault(p, (v, b, q))
    pool_df = pl.DataFrame({
        "address": list(pools),
        "venue": [v for v, _, _ in pools.values()],
        "pool_kind": [VENUE_KIND.get(v) for v, _, _ in pools.values()],
        "base_mint_id": [token_ids[b] for _, b, _ in pools.values()],
        "quote_mint_id": [token_ids[q] for _, _, q in pools.values()],
    }, schema={"address": pl.String, "venue": pl.String, "pool_kind": pl.Int8, "base_mint_id": pl.Int32,
               "quote_mint_id": pl.Int32})
    # a null pool kind (routes, Meteora DLMM) must not erase one a pool decoder stored: sync those apart
    known = pool_df.filter(pl.col("pool_kind").is_not_null())
    unknown = pool_df.filter(pl.col("pool_kind").is_null()).drop("pool_kind")
    parts = [registry.sync(con, "pools", df, full=False, now_ns=now_ns) for df in (known, unknown) if df.height]
    reports["pools"] = registry.SyncReport("pools", *(sum(getattr(r, f) for r in parts) for f in (
        "new", "changed", "delisted", "relisted", "unchanged", "field_changes")))
    wallet_ids = registry.ids_of(con, "wallets", rows.owner)
    mint_ids = np.fromiter((token_ids[b] for b in rows.base), dtype=np.int32, count=len(rows))
    pool_ids = registry.ids_of(con, "pools", rows.pool)
    return pool_ids, wallet_ids, mint_ids, reports


def _unique_seq(slot: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Return ``seq`` with in-batch ``(slot, seq)`` collisions moved to the next free value."""
    seen: set[tuple[int, int]] = set()
    out = seq.copy()
    for i in range(seq.size):
        key = (int(slot[i]), int(out[i]))
        while key in seen:
            out[i] += 1
            key = (key[0], int(out[i]))
        seen.add(key)
    return out


def build_tape(con: duckdb.DuckDBPyConnection, rows: SwapRows, *, now_ns: int | None = None,
               ) -> tuple[Tape, np.ndarray, np.ndarray, dict[str, registry.SyncReport]]:
    """Register the keys of ``rows`` and return ``(tape, signature, ix, sync reports)``, sorted by ``(slot, seq)``."""
    n = len(rows)
    if n == 0:
        return Tape.empty(), np.zeros(0, dtype=object), np.zeros(0, dtype=np.int32), {}
    pool_ids, wallet_ids, mint_ids, reports = _registry_ids(con, rows, now_ns)
    slot = np.asarray(rows.slot, dtype=np.int64)
    seq = np.fromiter((seq_of(s, i) for s, i in zip(rows.signature, rows.ix, strict=True)), dtype=np.int64, count=n)
    order = np.lexsort((seq, slot))
    slot, seq = slot[order], _unique_seq(slot[order], seq[order])
    vals = np.zeros((n, N_VALS), dtype=np.float64)
    vals[:, SWAP_AMOUNT_IN] = np.asarray(rows.amount_in, dtype=np.float64)[order]
    vals[:, SWAP_AMOUNT_OUT] = np.asarray(rows.amount_out, dtype=np.float64)[order]
    tape = Tape.from_columns(
        slot=slot, seq=seq, ts_ns=np.asarray(rows.ts_ns, dtype=np.int64)[order],
        kind=np.full(n, EventKind.SWAP, dtype=np.int8), pool_id=pool_ids[order], wallet_id=wallet_ids[order],
        mint_id=mint_ids[order], side=np.asarray(rows.side, dtype=np.int8)[order], vals=vals)
    signature = np.asarray(rows.signature, dtype=object)[order]
    ix = np.asarray(rows.ix, dtype=np.int32)[order]
    return tape, signature, ix, reports


@dataclass(slots=True)
class TxLandReport:
    """What landing a batch of transactions did."""

    transactions: int = 0
    swaps: int = 0
    failed: int = 0
    no_swap: int = 0
    rejected: int = 0  # documents quarantined as malformed
    written: Counter = field(default_factory=Counter)
    already_present: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    registries: dict[str, dict[str, int]] = field(default_factory=dict)

    def add_ingest(self, rep: IngestReport) -> None:
        self.written.update(rep.written)
        self.already_present.update(rep.already_present)
        self.quarantined.update(rep.quarantined)

    def add_sync(self, reports: dict[str, registry.SyncReport]) -> None:
        for name, r in reports.items():
            acc = self.registries.setdefault(name, {"new": 0, "changed": 0})
            acc["new"] += r.new
            acc["changed"] += r.changed

    def merge(self, other: TxLandReport) -> None:
        for f in ("transactions", "swaps", "failed", "no_swap", "rejected"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.written.update(other.written)
        self.already_present.update(other.already_present)
        self.quarantined.update(other.quarantined)
        for name, r in other.registries.items():
            acc = self.registries.setdefault(name, {"new": 0, "changed": 0})
            acc["new"] += r["new"]
            acc["changed"] += r["changed"]

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict:
        return {"transactions": self.transactions, "swaps": self.swaps, "failed": self.failed,
                "no_swap": self.no_swap, "rejected": self.rejected, "written": dict(self.written),
                "already_present": dict(self.already_present), "quarantined": dict(self.quarantined),
                "n_quarantined": self.n_quarantined, "registries": self.registries}


def quarantine_document(lake: Lake, *, source: str, where: str, error: str, document: str | None) -> None:
    """Quarantine a transaction document that did not become rows (reason ``malformed``)."""
    text = None if document is None else document[:_MAX_PAYLOAD_CHARS]
    payload = json.dumps({"where": where, "error": error, "document": text}, separators=(",", ":"))
    lake.quarantine_payload(source=source, table="swaps", reason=Reason.MALFORMED, payload=payload)


class TxSink:
    """Land parsed transactions in a lake through its registries (one open catalog connection).

    Parameters
    ----------
    lake : Lake
        Where rows, registries and quarantine go.
    con : duckdb connection
        The lake's open catalog (`engine.store.catalog.opened`).
    source : str
        Feed name kept with quarantined rows (``tx-file``, ``rpc:wallet:<address>`` ...).
    """

    def __init__(self, lake: Lake, con: duckdb.DuckDBPyConnection, *, source: str) -> None:
        self.lake = lake
        self.con = con
        self.source = source

    def land(self, txs: Sequence[ParsedTx], *, now_ns: int | None = None) -> tuple[TxLandReport, Tape]:
        """Land the swaps of ``txs``; quarantine those without ``blockTime``; return the report and the tape."""
        seen: set[str] = set()
        txs = [t for t in txs if not (t.signature in seen or seen.add(t.signature))]  # first copy of each
        report = TxLandReport(transactions=len(txs))
        for tx in txs:
            if tx.status != "success":
                report.failed += 1
            elif not tx.swaps:
                report.no_swap += 1
            elif tx.block_time is None:
                report.rejected += 1
                quarantine_document(self.lake, source=self.source, where=tx.signature, document=tx.to_json(),
                                    error="blockTime is null: the swap cannot be dated; Hint: re-fetch from a "
                                          "node that records block times")
        rows = swap_rows(txs)
        report.swaps = len(rows)
        if not rows:
            return report, Tape.empty()
        tape, signature, ix, reports = build_tape(self.con, rows, now_ns=now_ns)
        report.add_sync(reports)
        report.add_ingest(land(self.lake, self.con, tape, source=self.source, maps=IdMaps(), signature=signature,
                               ix=ix))
        return report, tape

    def reject(self, err: TxParseError, document: str | None) -> None:
        """Quarantine one document the parser rejected."""
        quarantine_document(self.lake, source=self.source, where=err.where, error=err.reason, document=document)


def read_tx_file(path: Path) -> list[tuple[ParsedTx | TxParseError, str | None]]:
    """Parse one saved ``getTransaction`` file (an object or an array of them); never raises on bad data.

    Returns one ``(parsed or error, document text)`` pair per document; a file that is not JSON
    gives one error with the file's text (or the read error) and no document.
    """
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return [(TxParseError(f"cannot read the file ({e.strerror or e})", where=where), None)]
    try:
        doc = _loads(raw)
    except ValueError as e:
        text = raw.decode("utf-8", errors="replace")
        return [(TxParseError(f"not valid JSON ({e}); the file may be truncated", where=where), text)]
    docs = doc if isinstance(doc, list) else [doc]
    if not docs:
        return [(TxParseError("the file holds an empty JSON array: no transaction", where=where), "[]")]
    out: list[tuple[ParsedTx | TxParseError, str | None]] = []
    for i, item in enumerate(docs):
        at = f"{where}[{i}]" if isinstance(doc, list) else where
        try:
            out.append((parse_transaction(item, where=at), None))
        except TxParseError as e:
            out.append((e, json.dumps(item, separators=(",", ":"))))
    return out
