"""Live Solana feed over websockets: notifications in, `Tape` chunks out (``async for chunk in feed``).

`SolanaLiveFeed` subscribes, on one websocket, to

* ``logsSubscribe`` with ``mentions`` for each watched address (wallets, pools, programs): each
  notification names a transaction signature, which is fetched over JSON-RPC
  (`engine.feeds.rpc.RpcClient`), parsed and turned into SWAP rows (`engine.feeds.tx_ingest`);
* ``accountSubscribe`` for each watched pool account (Orca Whirlpool, Raydium CLMM, Pump.fun
  bonding curve, whose state is self-contained): each update is decoded
  (`engine.feeds.solana_accounts`) into one POOL_STATE row;
* ``slotSubscribe`` (``track_slots``): the slot clock used to notice gaps.

**Reconnects and failover.** A dropped connection, a failed handshake or ``idle_timeout_ms``
without any message closes the socket; the feed waits an exponential backoff with full jitter
(``reconnect_base_ms * 2**k``, capped) and connects to the **next** endpoint, round-robin, then
subscribes again. ``max_reconnects`` bounds consecutive failures (None = forever).

**Gaps.** When the slot clock jumps by more than ``max_slot_gap`` slots, and after every
reconnect, the feed lists each watched address's signatures back to the last slot it had seen
(``getSignaturesForAddress``, paged) and queues those it has not seen: notifications lost in
the gap are recovered over RPC. A gap backfill that fails is retried at the next gap or
reconnect from the same slot.

**Duplicates.** A signature is processed once: repeated notifications, and signatures both
announced and backfilled, are dropped (the last ``seen_capacity`` signatures are remembered;
the lake's key catches anything older).

**Chunks.** Queued signatures are fetched concurrently in batches of up to ``chunk_max_txs``
(waiting at most ``flush_ms`` to fill one); a chunk is one `Tape` sorted by ``(slot, seq)``
with registry ids (`TxSink`). With ``record=True`` each chunk is also landed in the lake
(idempotently). A transaction recovered by a gap backfill is older than the chunk before it:
chunks are sorted within themselves, not across; ``stats.late_events`` counts such rows.
Account updates carry no block time: their ``ts_ns`` is the time of receipt.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import polars as pl

from engine.errors import ConfigError, ShoalError
from engine.feeds import solana_accounts as accounts
from engine.feeds.backfill import fetch_transactions, list_signatures
from engine.feeds.rpc import RpcClient, RpcError, host_of
from engine.feeds.solana_tx import TxParseError, parse_transaction
from engine.feeds.tx_ingest import TxSink, build_tape, quarantine_document, swap_rows
from engine.layout import N_VALS, EventKind
from engine.schema import Tape
from engine.store import registry
from engine.store.lake import Lake
from engine.store.landing import IdMaps, land

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    _loads = json.loads

__all__ = ["AccountWatch", "FeedError", "LiveFeedConfig", "LiveStats", "SolanaLiveFeed"]

RECONNECT_STREAM = 0x57533031  # "WS01": stream id of reconnect jitter draws
POOL_STATE_SEQ0 = 2**30  # pool states sort after a slot's swaps (whose seq is below 2**30)
DECODERS = {
    "whirlpool": (accounts.decode_whirlpool, "orca_whirlpool"),
    "raydium_clmm": (accounts.decode_raydium_clmm_pool, "raydium_clmm"),
    "pumpfun_curve": (accounts.decode_pumpfun_bonding_curve, "pumpfun"),
}


class FeedError(ShoalError):
    """The live feed gave up (out of reconnects) or was configured wrongly."""


@dataclass(frozen=True, slots=True)
class AccountWatch:
    """A pool account to follow: its address, its decoder and, for Pump.fun curves, the token mint."""

    address: str
    decoder: str
    base_mint: str | None = None

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            msg = f"unknown account decoder {self.decoder!r}; valid ones are {sorted(DECODERS)}"
            raise ConfigError(msg)
        if self.decoder == "pumpfun_curve" and self.base_mint is None:
            msg = f"a pumpfun_curve watch ({self.address}) needs base_mint: the curve account does not store it"
            raise ConfigError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveFeedConfig:
    """What to watch and how to stay connected.

    Parameters
    ----------
    ws_endpoints : tuple of str
        ``ws://`` or ``wss://`` URLs, failed over round-robin (kept out of ``repr``).
    mentions : tuple of str
        Addresses for ``logsSubscribe``.
    accounts : tuple of AccountWatch
        Pool accounts for ``accountSubscribe``.
    commitment : str
        ``confirmed`` (default) or ``finalized``.
    track_slots : bool
        Subscribe to the slot clock to detect gaps.
    max_slot_gap : int
        A slot jump larger than this triggers a gap backfill (skipped leader slots make small
        jumps normal).
    reconnect_base_ms, reconnect_max_ms : int
        Backoff before reconnect attempt ``k``: uniform in ``[0, min(max, base * 2**k)]`` ms.
    max_reconnects : int or None
        Consecutive failed connections before `FeedError`; None retries forever.
    idle_timeout_ms : int
        Reconnect when no message arrives for this long.
    chunk_max_txs, flush_ms : int
        Most transactions per chunk; longest wait to fill one, in ms.
    seen_capacity : int
        Signatures remembered for duplicate dropping.
    seed : int
        Seed of the reconnect jitter.
    """

    ws_endpoints: tuple[str, ...] = field(repr=False)
    mentions: tuple[str, ...] = ()
    accounts: tuple[AccountWatch, ...] = ()
    commitment: str = "confirmed"
    track_slots: bool = True
    max_slot_gap: int = 16
    reconnect_base_ms: int = 200
    reconnect_max_ms: int = 10_000
    max_reconnects: int | None = None
    idle_timeout_ms: int = 30_000
    chunk_max_txs: int = 256
    flush_ms: int = 200
    seen_capacity: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("ws_endpoints", "mentions", "accounts"):
            v = getattr(self, name)
            object.__setattr__(self, name, (v,) if isinstance(v, str) else tuple(v))
        if not self.ws_endpoints:
            msg = "no websocket endpoint was given; Hint: pass --ws URL (repeat it to fail over)"
            raise ConfigError(msg)
        bad = [host_of(u) for u in self.ws_endpoints if not u.startswith(("ws://", "wss://"))]
        if bad:
            msg = f"websocket endpoints must start with ws:// or wss://, were {bad}"
            raise ConfigError(msg)
        if not self.mentions and not self.accounts:
            msg = "nothing to watch: give at least one address (mentions) or pool account (accounts)"
            raise ConfigError(msg)
        if self.commitment not in ("confirmed", "finalized"):
            msg = f"commitment must be 'confirmed' or 'finalized', was {self.commitment!r}"
            raise ConfigError(msg)
        if self.max_slot_gap < 1 or self.chunk_max_txs < 1 or self.flush_ms < 0 or self.seen_capacity < 1:
            msg = (f"need max_slot_gap >= 1, chunk_max_txs >= 1, flush_ms >= 0, seen_capacity >= 1; were "
                   f"{self.max_slot_gap}, {self.chunk_max_txs}, {self.flush_ms}, {self.seen_capacity}")
            raise ConfigError(msg)
        if self.max_reconnects is not None and self.max_reconnects < 0:
            msg = f"max_reconnects must be >= 0 or None, was {self.max_reconnects}"
            raise ConfigError(msg)


@dataclass(slots=True)
class LiveStats:
    """Counters of one feed."""

    connects: int = 0
    reconnects: int = 0
    failovers: int = 0
    notifications: int = 0
    duplicates: int = 0
    failed_txs: int = 0
    gaps: int = 0
    gap_backfills_failed: int = 0
    backfilled: int = 0
    not_found: int = 0
    rejected: int = 0
    chunks: int = 0
    events: int = 0
    late_events: int = 0
    errors: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {f: (dict(getattr(self, f)) if f == "errors" else getattr(self, f)) for f in self.__slots__}


class SolanaLiveFeed:
    """An async iterator of `Tape` chunks from Solana websocket notifications (see the module docstring).

    Parameters
    ----------
    cfg : LiveFeedConfig
    rpc : RpcClient
        An open client, for transactions and gap backfills.
    lake : Lake
        Owner of the registries (ids) and, with ``record``, where chunks land.
    con : duckdb connection
        The lake's open catalog.
    record : bool
        Land every chunk in the lake as it is yielded.
    """

    def __init__(self, cfg: LiveFeedConfig, *, rpc: RpcClient, lake: Lake, con: duckdb.DuckDBPyConnection,
                 record: bool = True) -> None:
        self.cfg = cfg
        self.rpc = rpc
        self.lake = lake
        self.con = con
        self.record = record
        self.stats = LiveStats()
        self.sink = TxSink(lake, con, source="ws:" + ",".join(cfg.mentions or [a.address for a in cfg.accounts]))
        self._rng = np.random.default_rng([RECONNECT_STREAM, cfg.seed])
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._last_slot: int | None = None
        self._gap_from: int | None = None  # a gap backfill still owed, from this slot
        self._max_yielded_slot = -1
        self._endpoint = 0

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._chunks()

    # -- notifications ---------------------------------------------------------------------------

    def _remember(self, sig: str) -> bool:
        """Return True the first time ``sig`` is seen."""
        if sig in self._seen:
            self._seen.move_to_end(sig)
            return False
        self._seen[sig] = None
        if len(self._seen) > self.cfg.seen_capacity:
            self._seen.popitem(last=False)
        return True

    def _backoff_s(self, attempt: int) -> float:
        cap = min(self.cfg.reconnect_max_ms, self.cfg.reconnect_base_ms * 2.0**attempt) / 1000
        return float(self._rng.uniform(0.0, cap))

    async def _ws_loop(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, WebSocketException

        failures = 0
        urls = self.cfg.ws_endpoints
        while True:
            url = urls[self._endpoint]
            try:
                async with connect(url, open_timeout=self.cfg.idle_timeout_ms / 1000, max_size=2**24,
                                   ping_interval=20, ping_timeout=20) as ws:
                    self.stats.connects += 1
                    subs = await self._subscribe(ws)
                    failures = 0
                    if self._last_slot is not None:  # a reconnect: recover what was announced meanwhile
                        self._gap_from = self._last_slot if self._gap_from is None else self._gap_from
                    await self._settle_gap()
                    while True:
                        raw = await asyncio.wait_for(ws.recv(), self.cfg.idle_timeout_ms / 1000)
                        await self._on_message(_loads(raw), subs)
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as e:
                self.stats.errors[type(e).__name__] += 1
            failures += 1
            self.stats.reconnects += 1
            if self.cfg.max_reconnects is not None and failures > self.cfg.max_reconnects:
                msg = (f"websocket feed gave up after {failures} failed connections over {len(urls)} endpoint(s) "
                       f"(last {host_of(url)}); Hint: check the endpoints or add another with --ws")
                raise FeedError(msg)
            if len(urls) > 1:
                self._endpoint = (self._endpoint + 1) % len(urls)
                self.stats.failovers += 1
            await asyncio.sleep(self._backoff_s(failures - 1))

    async def _subscribe(self, ws: Any) -> dict[int, tuple[str, str | None]]:
        """Send every subscription, wait for each answer; return subscription id -> (kind, address)."""
        requests: dict[int, tuple[str, str | None]] = {}
        n = 0
        for address in self.cfg.mentions:
            n += 1
            requests[n] = ("logs", address)
            await ws.send(_json({"jsonrpc": "2.0", "id": n, "method": "logsSubscribe",
                                 "params": [{"mentions": [address]}, {"commitment": self.cfg.commitment}]}))
        for watch in self.cfg.accounts:
            n += 1
            requests[n] = ("account", watch.address)
            await ws.send(_json({"jsonrpc": "2.0", "id": n, "method": "accountSubscribe",
                                 "params": [watch.address, {"encoding": "base64", "commitment": self.cfg.commitment}]}))
        if self.cfg.track_slots:
            n += 1
            requests[n] = ("slot", None)
            await ws.send(_json({"jsonrpc": "2.0", "id": n, "method": "slotSubscribe"}))
        subs: dict[int, tuple[str, str | None]] = {}
        early: list[dict] = []
        while len(subs) < len(requests):
            msg = _loads(await asyncio.wait_for(ws.recv(), self.cfg.idle_timeout_ms / 1000))
            if "id" in msg and msg["id"] in requests:
                if msg.get("error") is not None:
                    text = f"subscription refused by the node: {msg['error']}"
                    raise FeedError(text)
                subs[msg["result"]] = requests[msg["id"]]
            else:
                early.append(msg)  # a notification racing the last answer
        for msg in early:
            await self._on_message(msg, subs)
        return subs

    async def _on_message(self, msg: dict, subs: dict[int, tuple[str, str | None]]) -> None:
        method = msg.get("method")
        params = msg.get("params") or {}
        result = params.get("result") or {}
        if method == "slotNotification":
            slot = int(result["slot"])
            if self._last_slot is not None and slot - self._last_slot > self.cfg.max_slot_gap:
                self.stats.gaps += 1
                self._gap_from = self._last_slot if self._gap_from is None else min(self._gap_from, self._last_slot)
                self._advance(slot)
                await self._settle_gap()
            else:
                self._advance(slot)
        elif method == "logsNotification":
            self.stats.notifications += 1
            slot = int(result["context"]["slot"])
            value = result["value"]
            self._advance(slot)
            if value.get("err") is not None:
                self.stats.failed_txs += 1
                return
            if self._remember(value["signature"]):
                self._queue.put_nowait(("tx", value["signature"], slot))
            else:
                self.stats.duplicates += 1
        elif method == "accountNotification":
            self.stats.notifications += 1
            kind, address = subs.get(params.get("subscription"), ("?", None))
            if kind == "account":
                self._queue.put_nowait(("account", address, int(result["context"]["slot"]), result["value"]))

    def _advance(self, slot: int) -> None:
        self._last_slot = slot if self._last_slot is None else max(self._last_slot, slot)

    async def _settle_gap(self) -> None:
        """List the watched addresses' signatures since the owed gap slot and queue the unseen ones."""
        if self._gap_from is None or not self.cfg.mentions:
            self._gap_from = None
            return
        try:
            for address in self.cfg.mentions:
                entries, _ = await list_signatures(self.rpc, address, since_ns=0, min_slot=self._gap_from,
                                                   commitment=self.cfg.commitment, max_pages=100)
                for e in reversed(entries):
                    if e.get("err") is None and self._remember(e["signature"]):
                        self.stats.backfilled += 1
                        self._queue.put_nowait(("tx", e["signature"], int(e.get("slot") or 0)))
        except (RpcError, TxParseError) as e:
            self.stats.gap_backfills_failed += 1
            self.stats.errors[type(e).__name__] += 1
            return  # keep _gap_from: retried at the next gap or reconnect
        self._gap_from = None

    # -- chunks -----------------------------------------------------------------------------------

    async def _next_items(self, ws_task: asyncio.Task) -> list[tuple]:
        getter = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait({getter, ws_task}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            ws_task.result()  # raises the feed's error
            msg = "websocket loop ended"
            raise FeedError(msg)
        items = [getter.result()]
        deadline = time.monotonic() + self.cfg.flush_ms / 1000
        while len(items) < self.cfg.chunk_max_txs:
            left = deadline - time.monotonic()
            if self._queue.empty() and left <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), max(left, 0.0)) if self._queue.empty()
                             else self._queue.get_nowait())
            except TimeoutError:
                break
        return items

    async def _chunks(self) -> AsyncIterator[Tape]:
        ws_task = asyncio.create_task(self._ws_loop())
        try:
            while True:
                items = await self._next_items(ws_task)
                tape = await self._tape_of(items)
                if tape.n_events == 0:
                    continue
                self.stats.chunks += 1
                self.stats.events += tape.n_events
                self.stats.late_events += int(np.count_nonzero(tape.slot < self._max_yielded_slot))
                self._max_yielded_slot = max(self._max_yielded_slot, int(tape.slot[-1]))
                yield tape
        finally:
            ws_task.cancel()
            await asyncio.gather(ws_task, return_exceptions=True)

    async def _tape_of(self, items: list[tuple]) -> Tape:
        sigs = [it[1] for it in items if it[0] == "tx"]
        parts: list[Tape] = []
        if sigs:
            got = await fetch_transactions(self.rpc, sigs, commitment=self.cfg.commitment)
            txs = []
            for sig, doc in got:
                if doc is None:
                    self.stats.not_found += 1
                    quarantine_document(self.lake, source=self.sink.source, where=sig, document=None,
                                        error="getTransaction returned null on every try after a notification")
                    continue
                try:
                    txs.append(parse_transaction(doc, where=sig))
                except TxParseError as e:
                    self.stats.rejected += 1
                    self.sink.reject(e, None)
            if self.record:
                _, tape = await asyncio.to_thread(self.sink.land, txs)
            else:
                tape, _, _, _ = await asyncio.to_thread(build_tape, self.con, swap_rows(txs))
            parts.append(tape)
        states = [it for it in items if it[0] == "account"]
        if states:
            parts.append(await asyncio.to_thread(self._pool_states, states))
        return Tape.concat(parts)

    def _pool_states(self, items: list[tuple]) -> Tape:
        watches = {w.address: w for w in self.cfg.accounts}
        recs, slots = [], []
        for _, address, slot, value in items:
            watch = watches[address]
            decode, _ = DECODERS[watch.decoder]
            try:
                rec = accounts.pool_state(address, decode(accounts.account_bytes(value)))
            except (accounts.AccountDecodeError, ValueError, KeyError, TypeError) as e:
                self.stats.rejected += 1
                self.lake.quarantine_payload(source=self.sink.source, table="pool_states", reason="malformed",
                                             payload=_json({"account": address, "slot": slot, "error": str(e)}))
                continue
            recs.append((rec, watch))
            slots.append(slot)
        if not recs:
            return Tape.empty()
        mints = list(dict.fromkeys(m for rec, w in recs for m in (rec.base_mint or w.base_mint, rec.quote_mint)))
        registry.sync(self.con, "tokens", pl.DataFrame({"mint": mints}), full=False)
        mint_ids = dict(zip(mints, registry.ids_of(self.con, "tokens", mints).tolist(), strict=True))
        pools = pl.DataFrame({
            "address": [rec.pool for rec, _ in recs], "pool_kind": [int(rec.kind) for rec, _ in recs],
            "venue": [DECODERS[w.decoder][1] for _, w in recs],
            "base_mint_id": [mint_ids[rec.base_mint or w.base_mint] for rec, w in recs],
            "quote_mint_id": [mint_ids[rec.quote_mint] for rec, _ in recs],
        }, schema={"address": pl.String, "pool_kind": pl.Int8, "venue": pl.String, "base_mint_id": pl.Int32,
                   "quote_mint_id": pl.Int32})
        registry.sync(self.con, "pools", pools, full=False)
        pool_ids = registry.ids_of(self.con, "pools", pools["address"].to_list())
        n = len(recs)
        vals = np.array([rec.to_vals() for rec, _ in recs], dtype=np.float64).reshape(n, N_VALS)
        vals = np.where(np.isnan(vals), 0.0, vals)  # unset reserves are 0 in the layout
        tape = Tape.from_columns(
            slot=np.asarray(slots, dtype=np.int64), seq=POOL_STATE_SEQ0 + pool_ids.astype(np.int64),
            ts_ns=np.full(n, time.time_ns(), dtype=np.int64), kind=np.full(n, EventKind.POOL_STATE, dtype=np.int8),
            pool_id=pool_ids, mint_id=pools["base_mint_id"].to_numpy(),
            side=np.array([int(rec.kind) for rec, _ in recs], dtype=np.int8), vals=vals).sorted()
        if self.record:
            land(self.lake, self.con, tape, source=self.sink.source, maps=IdMaps())
        return tape


def _json(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))
