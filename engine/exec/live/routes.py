"""Live routes read from the chain: a pool of the registry -> every account its swap names.

The registry knows a pool by its address, venue and mints; a swap instruction names a dozen
accounts more. `RouteResolver` reads them from the pool's own account (and, for Raydium AMM v4,
its OpenBook market) the first time the strategy trades the pool, and keeps the route:

* ``raydium_amm_v4``: ``AmmInfo`` gives the vaults, open orders, target orders and market; the
  market (serum-dex ``MarketState``, after the 5-byte ``serum`` head: own address at 13, vault
  signer nonce at 45, coin vault at 117, pc vault at 165, event queue at 253, bids at 285, asks
  at 317) gives the rest; the vault signer is ``create_program_address([market, nonce])``.
* ``raydium_cpmm``: ``PoolState`` gives the config, vaults, mints, token programs and observation;
  the config's ``trade_fee_rate`` (u64 at byte 12 of ``AmmConfig``) prices the quote.
* ``orca_whirlpool``: ``Whirlpool`` gives the vaults and the tick spacing (tick arrays are chosen
  per order).
* ``pumpfun``: the pool address is the bonding curve; the fee recipient is read from the
  program's ``Global`` account (pubkey at byte 41).

A pool that cannot be routed (another venue, an account that is not what the registry says)
raises `RouteError` with the reason; the live session journals it as the order's refusal.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from dataclasses import dataclass

import polars as pl
from solders.pubkey import Pubkey

from engine.errors import ShoalError
from engine.exec.live.builders import ASSOCIATED_TOKEN_PROGRAM, PUMPFUN_GLOBAL, AmmV4Keys, CpmmKeys, WhirlpoolKeys
from engine.exec.live.venue import PoolRoute, Venue
from engine.feeds.programs import (
    COMPUTE_BUDGET_PROGRAM,
    ORCA_WHIRLPOOL,
    PUMPFUN,
    RAYDIUM_AMM_V4,
    RAYDIUM_CPMM,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
)
from engine.feeds.rpc import RpcClient
from engine.feeds.solana_accounts import (
    AccountDecodeError,
    decode_raydium_amm_v4,
    decode_raydium_cpmm,
    decode_whirlpool,
)

__all__ = ["ROUTED_PROGRAMS", "PoolListing", "RouteError", "RouteResolver", "pool_listings"]

SERUM_HEAD = b"serum"
# Every program a routed transaction invokes: the venues, and compute budget, System (wrap, tip),
# SPL Token (sync, close) and the associated-token-account program. The default program allow-list.
ROUTED_PROGRAMS = frozenset({RAYDIUM_AMM_V4, RAYDIUM_CPMM, ORCA_WHIRLPOOL, PUMPFUN, COMPUTE_BUDGET_PROGRAM,
                             SYSTEM_PROGRAM, TOKEN_PROGRAM, ASSOCIATED_TOKEN_PROGRAM})
_VENUES = {"raydium_amm_v4": Venue.RAYDIUM_AMM_V4, "raydium_cpmm": Venue.RAYDIUM_CPMM,
           "orca_whirlpool": Venue.ORCA_WHIRLPOOL, "pumpfun": Venue.PUMPFUN}


class RouteError(ShoalError):
    """A pool cannot be traded live; the message says why."""


@dataclass(frozen=True, slots=True)
class PoolListing:
    """What the registry says of one pool: its address, venue and mints (base, quote)."""

    pool_id: int
    address: str
    venue: str
    base_mint: str
    quote_mint: str


def pool_listings(pools: pl.DataFrame, tokens: pl.DataFrame) -> dict[int, PoolListing]:
    """Pool id -> `PoolListing`, from the ``pools`` and ``tokens`` registries."""
    mints = dict(zip(tokens["token_id"].to_list(), tokens["mint"].to_list(), strict=True))
    return {int(r["pool_id"]): PoolListing(int(r["pool_id"]), r["address"], r["venue"], mints[r["base_mint_id"]],
                                           mints[r["quote_mint_id"]])
            for r in pools.select("pool_id", "address", "venue", "base_mint_id", "quote_mint_id").iter_rows(named=True)}


class RouteResolver:
    """Build and keep the `PoolRoute` of each pool the first time it is asked for."""

    def __init__(self, rpc: RpcClient, listings: dict[int, PoolListing], *, commitment: str = "confirmed") -> None:
        self.rpc = rpc
        self.listings = listings
        self.commitment = commitment
        self._routes: dict[int, PoolRoute] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def route(self, pool_id: int) -> PoolRoute:
        """The route of ``pool_id`` (read from the chain once)."""
        if pool_id in self._routes:
            return self._routes[pool_id]
        async with self._locks.setdefault(pool_id, asyncio.Lock()):
            if pool_id not in self._routes:
                self._routes[pool_id] = await self._resolve(pool_id)
        return self._routes[pool_id]

    async def _resolve(self, pool_id: int) -> PoolRoute:
        listing = self.listings.get(pool_id)
        if listing is None:
            msg = f"pool id {pool_id} is not in the registry"
            raise RouteError(msg)
        venue = _VENUES.get(listing.venue)
        if venue is None:
            msg = (f"pool {listing.address} (id {pool_id}) is on {listing.venue!r}; live orders are routed to "
                   f"{sorted(_VENUES)}")
            raise RouteError(msg)
        common = {"pool_id": pool_id, "venue": venue, "base_mint": listing.base_mint, "quote_mint": listing.quote_mint}
        try:
            if venue is Venue.PUMPFUN:
                glob = await self._data(PUMPFUN_GLOBAL)
                return PoolRoute(**common, pump_fee_recipient=str(Pubkey.from_bytes(glob[41:73])))
            data = await self._data(listing.address)
            if venue is Venue.RAYDIUM_AMM_V4:
                return PoolRoute(**common, amm_v4=await self._amm_v4(listing.address, data))
            if venue is Venue.RAYDIUM_CPMM:
                pool = decode_raydium_cpmm(data)
                config = await self._data(pool.amm_config)
                keys = CpmmKeys(pool_state=listing.address, amm_config=pool.amm_config,
                                token_0_vault=pool.token_0_vault, token_1_vault=pool.token_1_vault,
                                token_0_mint=pool.token_0_mint, token_1_mint=pool.token_1_mint,
                                observation_state=pool.observation_key, token_0_program=pool.token_0_program,
                                token_1_program=pool.token_1_program)
                return PoolRoute(**common, cpmm=keys, cpmm_trade_fee_rate=struct.unpack_from("<Q", config, 12)[0])
            pool = decode_whirlpool(data)
            return PoolRoute(**common, whirlpool=WhirlpoolKeys(whirlpool=listing.address,
                                                               token_vault_a=pool.token_vault_a,
                                                               token_vault_b=pool.token_vault_b,
                                                               tick_spacing=pool.tick_spacing))
        except (AccountDecodeError, struct.error, ValueError) as e:
            msg = f"pool {listing.address} (id {pool_id}, {listing.venue}) could not be read: {e}"
            raise RouteError(msg) from e

    async def _amm_v4(self, address: str, data: bytes) -> AmmV4Keys:
        info = decode_raydium_amm_v4(data)
        market = await self._data(info.market)
        if market[:5] != SERUM_HEAD or len(market) < 349:
            msg = f"market {info.market} of AMM v4 pool {address} is not an OpenBook/Serum market account"
            raise RouteError(msg)

        def key(offset: int) -> str:
            return str(Pubkey.from_bytes(market[offset:offset + 32]))

        nonce = struct.unpack_from("<Q", market, 45)[0]
        seeds = [bytes(Pubkey.from_string(info.market)), nonce.to_bytes(8, "little")]
        try:
            signer = Pubkey.create_program_address(seeds, Pubkey.from_string(info.market_program))
        except Exception as e:  # solders raises PubkeyError, a class it does not export
            if type(e).__name__ != "PubkeyError":
                raise
            msg = f"market {info.market} of AMM v4 pool {address}: its vault signer nonce {nonce} gives no address"
            raise RouteError(msg) from e
        return AmmV4Keys(amm=address, open_orders=info.open_orders, coin_vault=info.coin_vault,
                         pc_vault=info.pc_vault, market=info.market, bids=key(285), asks=key(317),
                         event_queue=key(253), market_coin_vault=key(117), market_pc_vault=key(165),
                         market_vault_signer=str(signer), target_orders=info.target_orders,
                         market_program=info.market_program)

    async def _data(self, address: str) -> bytes:
        r = await self.rpc.call("getAccountInfo", [address, {"encoding": "base64", "commitment": self.commitment}])
        if r["value"] is None:
            msg = f"account {address} does not exist on chain"
            raise RouteError(msg)
        return base64.b64decode(r["value"]["data"][0])
