"""The Solana websocket feed as a paper/live feed: whole slots, on the pools of the session's market.

`SolanaChunkFeed` is the `engine.feeds.base.Feed` a paper or live session reads (feed kind
``"solana"`` in `engine.exec.paper.build_feed`). It opens its own JSON-RPC client and lake catalog
and runs `engine.feeds.solana_ws.SolanaLiveFeed` (reconnects, failover, duplicate signatures,
gap backfill; every swap and pool state it parses is landed in the lake), then shapes its output
for the kernel:

* **Whole slots.** The websocket feed yields batches of transactions, and a slot's transactions
  can straddle two batches; their ``seq`` (a hash of the signature) is not in arrival order, so
  the guard in front of the kernel would drop the second part as late. The events of the newest
  slot are therefore held back until a later slot arrives, or until the feed has been quiet for
  ``hold_ms`` (then they are released, and anything of that slot still to come is late).
* **The session's market only.** A session's `Market` is the lake's registry when it started
  (``n_pools`` pools, ``n_tokens`` tokens, pinned in the spec so a resume or a parity run rebuilds
  the same market). The kernel's arrays have exactly that many pools, so an event on a pool
  first seen on the feed cannot be traded: it is recorded in the lake like every other event,
  left out of the chunk, and counted (``stats.extra["outside_market"]``, and per pool in
  `SolanaChunkFeed.outside_pools`). Start a new session to trade those pools.

The catalog connection is held while the feed runs (the websocket feed registers ids as it
goes), so other processes cannot open the lake's catalog meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from engine.feeds.base import FeedStats
from engine.feeds.rpc import RpcClient, RpcConfig
from engine.feeds.solana_ws import AccountWatch, LiveFeedConfig, SolanaLiveFeed
from engine.schema import Tape
from engine.store.catalog import opened
from engine.store.lake import Lake

__all__ = ["MAX_DEFAULT_WATCH", "SolanaChunkFeed", "SolanaFeedSpec", "solana_feed_spec"]

MAX_DEFAULT_WATCH = 100  # pools followed when no address is named: each is one subscription
# pool accounts whose state is self-contained, by registry venue: their updates become POOL_STATE rows
_ACCOUNT_DECODERS = {"orca_whirlpool": "whirlpool", "raydium_clmm": "raydium_clmm", "pumpfun": "pumpfun_curve"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SolanaFeedSpec:
    """A ``{"kind": "solana", ...}`` feed spec, checked.

    Parameters
    ----------
    ws, rpc : tuple of str
        Websocket and JSON-RPC endpoints (failed over in turn; kept out of ``repr``).
    mentions : tuple of str
        Addresses whose transactions are followed (``logsSubscribe``).
    accounts : tuple of AccountWatch
        Pool accounts whose state is followed (``accountSubscribe``).
    n_pools, n_tokens : int
        Size of the registries the session's market was built from.
    hold_ms : int
        Longest wait for the rest of the newest slot once the feed is quiet.
    feed_options, rpc_options : dict
        Further `LiveFeedConfig` and `RpcConfig` settings (timeouts, backoff, rate).
    """

    ws: tuple[str, ...] = ()
    rpc: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    accounts: tuple[AccountWatch, ...] = ()
    n_pools: int = 0
    n_tokens: int = 0
    hold_ms: int = 1_000
    feed_options: dict | None = None
    rpc_options: dict | None = None

    @classmethod
    def from_spec(cls, spec: dict) -> SolanaFeedSpec:
        known = {"kind", "speed", "max_chunk_slots", *cls.__slots__}
        unknown = sorted(set(spec) - known)
        if unknown:
            msg = f"unknown settings {unknown} in a solana feed spec; valid ones are {sorted(known - {'kind'})}"
            raise ConfigError(msg)
        out = cls(ws=tuple(spec.get("ws", ())), rpc=tuple(spec.get("rpc", ())),
                  mentions=tuple(spec.get("mentions", ())),
                  accounts=tuple(AccountWatch(*a) for a in spec.get("accounts", ())), n_pools=int(spec["n_pools"]),
                  n_tokens=int(spec["n_tokens"]), hold_ms=int(spec.get("hold_ms", 1_000)),
                  feed_options=spec.get("feed_options"), rpc_options=spec.get("rpc_options"))
        out.feed_config()  # the endpoint and watch checks, now rather than on the first chunk
        out.rpc_config()
        if out.n_pools < 0 or out.n_tokens < 1 or out.hold_ms < 0:
            msg = (f"a solana feed needs n_pools >= 0, n_tokens >= 1 and hold_ms >= 0; were {out.n_pools}, "
                   f"{out.n_tokens} and {out.hold_ms}")
            raise ConfigError(msg)
        return out

    def feed_config(self) -> LiveFeedConfig:
        return LiveFeedConfig(ws_endpoints=self.ws, mentions=self.mentions, accounts=self.accounts,
                              **(self.feed_options or {}))

    def rpc_config(self) -> RpcConfig:
        return RpcConfig(endpoints=self.rpc, **(self.rpc_options or {}))


def solana_feed_spec(lake: Lake, *, ws: list[str], rpc: list[str], watch: list[str] | None = None) -> dict:
    """The ``"solana"`` feed spec of a session starting now on ``lake``'s registry.

    It pins the registry's size (the session's market) and follows ``watch`` addresses, by
    default every pool of the registry (at most `MAX_DEFAULT_WATCH`); pools whose account holds
    their whole state (Orca Whirlpool, Raydium CLMM, Pump.fun curves) are followed as accounts too.
    Constant-product pools get no POOL_STATE rows from the feed (their reserves sit in vault
    accounts): a strategy sees their swaps only.
    """
    from engine.store import registry

    with opened(lake) as con:
        pools, tokens = registry.read(con, "pools"), registry.read(con, "tokens")
    if pools.height == 0:
        msg = (f"the lake {str(lake.root)!r} has no pools registered, so a session on the Solana feed would have "
               "nothing to trade; Hint: backfill the pools first (`shoal ingest pool ADDRESS`)")
        raise ConfigError(msg)
    if not watch and pools.height > MAX_DEFAULT_WATCH:
        msg = (f"the registry has {pools.height:,} pools, too many to follow one subscription each; Hint: name the "
               "addresses to follow with --watch (pools, wallets or programs)")
        raise ConfigError(msg)
    mints = dict(zip(tokens["token_id"].to_list(), tokens["mint"].to_list(), strict=True))
    accounts = [[r["address"], _ACCOUNT_DECODERS[r["venue"]], mints[r["base_mint_id"]]]
                for r in pools.iter_rows(named=True) if r["venue"] in _ACCOUNT_DECODERS]
    spec = {"kind": "solana", "ws": list(ws), "rpc": list(rpc), "mentions": list(watch or pools["address"]),
            "accounts": accounts, "n_pools": pools.height, "n_tokens": tokens.height}
    SolanaFeedSpec.from_spec(spec)  # refuse a bad endpoint now
    return spec


class SolanaChunkFeed:
    """Chunks of whole slots from the Solana websocket feed, on the market's pools (see the module docstring).

    Parameters
    ----------
    spec : SolanaFeedSpec
    lake : Lake
        Where the feed registers ids and lands what it parses.
    """

    def __init__(self, spec: SolanaFeedSpec, lake: Lake) -> None:
        self.spec = spec
        self.lake = lake
        self.stats = FeedStats()
        self.outside_pools: Counter[int] = Counter()
        self.source: SolanaLiveFeed | None = None  # the websocket feed, while running (its own counters)

    def __aiter__(self) -> AsyncIterator[Tape]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Tape]:
        hold_s = self.spec.hold_ms / 1000
        async with RpcClient(self.spec.rpc_config()) as rpc:
            with opened(self.lake) as con:
                self.source = SolanaLiveFeed(self.spec.feed_config(), rpc=rpc, lake=self.lake, con=con)
                it = aiter(self.source)
                held = Tape.empty()
                pending: asyncio.Future | None = None
                try:
                    while True:
                        if pending is None:
                            pending = asyncio.ensure_future(anext(it))
                        done, _ = await asyncio.wait({pending}, timeout=hold_s if held.n_events else None)
                        if not done:  # quiet: the newest slot is as complete as it will be
                            ready, held = held, Tape.empty()
                        else:
                            task, pending = pending, None
                            try:
                                tape = task.result()
                            except StopAsyncIteration:
                                if held.n_events:
                                    yield self._count(held)
                                return
                            ready, held = _split_newest_slot(Tape.concat([held, self._in_market(tape)]))
                        if ready.n_events:
                            yield self._count(ready)
                finally:
                    if pending is not None:
                        pending.cancel()
                        await asyncio.gather(pending, return_exceptions=True)

    def _in_market(self, tape: Tape) -> Tape:
        """The events on pools and tokens of the session's market; count the others (already in the lake)."""
        inside = (tape.pool_id < self.spec.n_pools) & (tape.mint_id < self.spec.n_tokens)
        if inside.all():
            return tape
        outside = tape.pool_id[~inside]
        self.outside_pools.update(outside.tolist())
        self.stats.extra["outside_market"] = self.stats.extra.get("outside_market", 0) + int(outside.size)
        return tape.take(np.flatnonzero(inside))

    def _count(self, tape: Tape) -> Tape:
        self.stats.chunks += 1
        self.stats.events += tape.n_events
        self.stats.head_slot = max(self.stats.head_slot, int(tape.slot[-1]))
        return tape


def _split_newest_slot(tape: Tape) -> tuple[Tape, Tape]:
    """Return the events before the tape's newest slot, and those of that slot."""
    if tape.n_events == 0:
        return tape, tape
    first_newest = int(np.searchsorted(tape.slot, tape.slot[-1], side="left"))
    return tape.slice(0, first_newest), tape.slice(first_newest, tape.n_events)
