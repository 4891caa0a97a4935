"""Land a feed's output in the lake: sync its registries, map its ids, ingest its tape.

A feed (the synthetic market, an importer, the transaction parser) numbers its tokens,
pools, wallets and markets from 0 on its own. The lake's registries own the ids for good, so
landing first upserts the feed's registry rows, then rewrites the tape's ids to the
registry's before the tape is validated and written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from engine.layout import EventKind
from engine.schema import Tape
from engine.store import registry
from engine.store.lake import IngestReport, Lake

_POOL_KINDS = [EventKind.POOL_STATE, EventKind.SWAP, EventKind.NEW_POOL, EventKind.LIQUIDITY, EventKind.OWN_FILL]
_MARKET_KINDS = [EventKind.OUTCOME_TRADE, EventKind.RESOLUTION]


@dataclass(slots=True)
class IdMaps:
    """Feed-local id -> registry id, one array per registry (index = local id)."""

    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pools: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    wallets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    markets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))


@dataclass(frozen=True, slots=True)
class Registries:
    """A feed's registry rows, each with its local id column (``token_id``, ``pool_id`` ...)."""

    tokens: pl.DataFrame | None = None
    pools: pl.DataFrame | None = None
    wallets: pl.DataFrame | None = None
    markets: pl.DataFrame | None = None


def sync_registries(con: duckdb.DuckDBPyConnection, regs: Registries, *, now_ns: int | None = None,
                    ) -> tuple[IdMaps, dict[str, registry.SyncReport]]:
    """Upsert a feed's registries (not full snapshots: nothing is delisted) and map its ids."""
    maps, reports = IdMaps(), {}
    if regs.tokens is not None:
        reports["tokens"] = registry.sync(con, "tokens", regs.tokens, full=False, now_ns=now_ns)
        maps.tokens = _local_to_registry(con, "tokens", regs.tokens, "token_id")
    if regs.pools is not None:
        pools = regs.pools
        if maps.tokens.size:
            pools = pools.with_columns(
                pl.col(c).map_batches(lambda s: pl.Series(_apply(maps.tokens, s.to_numpy())), return_dtype=pl.Int32)
                for c in ("base_mint_id", "quote_mint_id") if c in pools.columns)
        reports["pools"] = registry.sync(con, "pools", pools, full=False, now_ns=now_ns)
        maps.pools = _local_to_registry(con, "pools", pools, "pool_id")
    if regs.wallets is not None:
        reports["wallets"] = registry.sync(con, "wallets", regs.wallets, full=False, now_ns=now_ns)
        maps.wallets = _local_to_registry(con, "wallets", regs.wallets, "wallet_id")
    if regs.markets is not None:
        reports["markets"] = registry.sync(con, "markets", regs.markets, full=False, now_ns=now_ns)
        maps.markets = _local_to_registry(con, "markets", regs.markets, "market_id")
    return maps, reports


def remap(tape: Tape, maps: IdMaps) -> Tape:
    """Return ``tape`` with feed-local ids replaced by registry ids (the kind says which registry)."""
    cols = tape.columns()
    kind = tape.kind
    pool = cols["pool_id"].copy()
    at_pool = np.isin(kind, _POOL_KINDS)
    at_market = np.isin(kind, _MARKET_KINDS)
    if maps.pools.size:
        pool[at_pool] = _apply(maps.pools, pool[at_pool])
    if maps.markets.size:
        pool[at_market] = _apply(maps.markets, pool[at_market])
    wallet = _apply(maps.wallets, cols["wallet_id"]) if maps.wallets.size else cols["wallet_id"]
    mint = cols["mint_id"].copy()
    at_mint = kind != EventKind.OUTCOME_TRADE  # there mint_id is the outcome (0/1), not a token
    if maps.tokens.size:
        mint[at_mint] = _apply(maps.tokens, mint[at_mint])
    cols |= {"pool_id": pool, "wallet_id": wallet, "mint_id": mint}
    return Tape(vals=tape.vals, **cols)


def land(lake: Lake, con: duckdb.DuckDBPyConnection, tape: Tape, *, source: str, maps: IdMaps,
         signature: np.ndarray | None = None, ix: np.ndarray | None = None) -> IngestReport:
    """Map ``tape`` to registry ids and ingest it; unknown ids are quarantined, not guessed."""
    sizes = {name: registry_size(con, name) for name in ("pools", "wallets", "tokens", "markets")}
    return lake.ingest(remap(tape, maps), source=source, signature=signature, ix=ix, n_pools=sizes["pools"],
                       n_wallets=sizes["wallets"], n_mints=sizes["tokens"], n_markets=sizes["markets"])


def registry_size(con: duckdb.DuckDBPyConnection, name: str) -> int:
    spec = registry.REGISTRIES[name]
    return int(con.execute(f"SELECT count(*) FROM {spec.table}").fetchall()[0][0])


def _local_to_registry(con: duckdb.DuckDBPyConnection, name: str, rows: pl.DataFrame, id_col: str) -> np.ndarray:
    """Array indexed by local id giving the registry id (-1 for local ids not in ``rows``)."""
    key = registry.REGISTRIES[name].key
    local = rows[id_col].to_numpy().astype(np.int64)
    out = np.full(int(local.max()) + 1 if local.size else 0, -1, dtype=np.int32)
    out[local] = registry.ids_of(con, name, rows[key].to_list())
    return out


def _apply(mapping: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Map ids through ``mapping``; -1 stays -1 and out-of-range ids become -2 (quarantined as unknown)."""
    ids = np.asarray(ids)
    out = np.full(ids.shape, -2, dtype=np.int32)
    out[ids == -1] = -1
    ok = (ids >= 0) & (ids < mapping.size)
    out[ok] = mapping[ids[ok]]
    return out
