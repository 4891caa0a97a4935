"""A small live world for tests and the benchmark: LiteSVM server, wallet file, pools, routes, venue."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from engine.exec.live.builders import AmmV4Keys, CpmmKeys, PumpfunEra, WhirlpoolKeys
from engine.exec.live.guards import GuardConfig, Guards, KillSwitch, SendMode, WalletKey, load_wallet
from engine.exec.live.journal import DecisionJournal
from engine.exec.live.sender import TxSender
from engine.exec.live.venue import LiveConfig, LiveVenue, PoolRoute, Venue
from engine.feeds.programs import (
    COMPUTE_BUDGET_PROGRAM,
    ORCA_WHIRLPOOL,
    PUMPFUN,
    RAYDIUM_AMM_V4,
    RAYDIUM_CPMM,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    WSOL_MINT,
)
from engine.feeds.rpc import RpcClient, RpcConfig
from tests.engine.exec.live.litesvm_rpc import LiteSvmRpc

ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
AMM_POOL_ID, PUMP_POOL_ID, CPMM_POOL_ID, WHIRLPOOL_ID = 0, 1, 2, 3
WHIRLPOOL_TICK = -69_078  # 1e-3 lamports per token unit: 1e9 tokens (6 dp) per 1,000 SOL
WALLET_LAMPORTS = 50 * 10**9


def write_keypair(path: Path, keypair: Keypair, mode: int = 0o600) -> Path:
    """Write a throwaway keypair in the Solana CLI format (never committed)."""
    path.write_text(json.dumps(list(bytes(keypair))))
    os.chmod(path, mode)
    return path


@dataclass
class World:
    server: LiteSvmRpc
    wallet: WalletKey
    keypair_path: Path
    token: Pubkey
    pump_token: Pubkey
    routes: dict[int, PoolRoute]
    guard_cfg: GuardConfig


def make_world(tmp: Path, *, slot_ms: float = 5.0, valid_blocks: int = 300, token_balance: int = 0) -> World:
    server = LiteSvmRpc(slot_ms=slot_ms, valid_blocks=valid_blocks)
    kp = Keypair()
    path = write_keypair(tmp / "id.json", kp)
    wallet = load_wallet(path)
    server.airdrop(kp.pubkey(), WALLET_LAMPORTS)
    token = server.add_mint(6)
    amm = server.add_amm_v4_pool(token, 10**15, 10**12)  # 1e9 tokens (6 dp) against 1,000 SOL
    if token_balance:
        server.give_tokens(kp.pubkey(), token, token_balance)
    pump_token = server.add_mint(6)
    fee_recipient = Keypair().pubkey()
    server.add_pumpfun_curve(pump_token, vt=1_073_000_000_000_000, vs=30_000_000_000, rt=793_100_000_000_000,
                             fee_recipient=fee_recipient, fee_bps=100)
    cpmm = server.add_cpmm_pool(token, 10**15, 10**12)
    whirl = server.add_whirlpool(token, Pubkey.from_string(WSOL_MINT), reserve_a=10**15, reserve_b=10**12,
                                 tick=WHIRLPOOL_TICK, liquidity=3 * 10**13)
    routes = {
        AMM_POOL_ID: PoolRoute(pool_id=AMM_POOL_ID, venue=Venue.RAYDIUM_AMM_V4, base_mint=str(token),
                               amm_v4=AmmV4Keys(**amm)),
        PUMP_POOL_ID: PoolRoute(pool_id=PUMP_POOL_ID, venue=Venue.PUMPFUN, base_mint=str(pump_token),
                                pump_fee_recipient=str(fee_recipient), pump_era=PumpfunEra.LEGACY, pump_fee_bps=100,
                                pump_creator_fee_bps=0, pump_fee_round_up=False),
        CPMM_POOL_ID: PoolRoute(pool_id=CPMM_POOL_ID, venue=Venue.RAYDIUM_CPMM, base_mint=str(token),
                                cpmm=CpmmKeys(**cpmm)),
        WHIRLPOOL_ID: PoolRoute(pool_id=WHIRLPOOL_ID, venue=Venue.ORCA_WHIRLPOOL, base_mint=str(token),
                                whirlpool=WhirlpoolKeys(**whirl)),
    }
    guard_cfg = GuardConfig(max_order_notional_lamports=20 * 10**9, max_day_notional_lamports=10**12,
                            max_slippage_bps=500, allowed_mints=frozenset({str(token), str(pump_token)}),
                            allowed_programs=frozenset({RAYDIUM_AMM_V4, RAYDIUM_CPMM, ORCA_WHIRLPOOL, PUMPFUN,
                                                        COMPUTE_BUDGET_PROGRAM, SYSTEM_PROGRAM, TOKEN_PROGRAM,
                                                        ATA_PROGRAM}),
                            kill_switch_path=str(tmp / "KILL"))
    return World(server, wallet, path, token, pump_token, routes, guard_cfg)


def rpc_config(url: str, **kw: object) -> RpcConfig:
    base = {"endpoints": (url,), "max_rps": float("inf"), "concurrency": 64, "timeout_ms": 3_000,
            "max_attempts": 6, "backoff_base_ms": 1, "backoff_max_ms": 5}
    return RpcConfig(**{**base, **kw})


FAST = LiveConfig(poll_interval_ms=3, resend_interval_ms=25, max_confirm_ms=10_000)


@contextlib.asynccontextmanager
async def open_venue(world: World, tmp: Path, *, mode: SendMode = SendMode.LIVE, cfg: LiveConfig = FAST,
                     guard_cfg: GuardConfig | None = None, kill: KillSwitch | None = None,
                     ledger: object = None, send_via: tuple[str, ...] | None = None,
                     rpc_concurrency: int = 64) -> AsyncIterator[LiveVenue]:
    """The world's venue; ``send_via`` sends through a `TxSender` to those URLs (default: the read client)."""
    async with contextlib.AsyncExitStack() as stack:
        rpc = await stack.enter_async_context(RpcClient(rpc_config(world.server.url, concurrency=rpc_concurrency)))
        sender = None if send_via is None else await stack.enter_async_context(TxSender(send_via, timeout_ms=1_000))
        guards = Guards(guard_cfg or world.guard_cfg, kill)
        journal = stack.enter_context(DecisionJournal(tmp / "journal.jsonl"))
        venue = LiveVenue(rpc, world.wallet, world.routes, guards, journal, mode=mode, cfg=cfg, ledger=ledger,
                          sender=sender)
        await venue.start()
        yield venue


def add_listed_pools(server: LiteSvmRpc, listings: dict) -> dict[str, int]:
    """Put every routable pool of a registry on the loopback chain at its listed address (mints first).

    Reserves are a fixed 1e9 tokens (6 dp) against 1,000 SOL (or 1e6 USDC); a Pump.fun pool is
    a curve at its mint's PDA. Return how many pools of each venue were created.
    """
    made: dict[str, int] = {}
    known: set[str] = {WSOL_MINT}
    for listing in listings.values():
        for mint in (listing.base_mint, listing.quote_mint):
            if mint not in known:
                server.add_mint(6, Pubkey.from_string(mint))
                known.add(mint)
        base, quote = Pubkey.from_string(listing.base_mint), Pubkey.from_string(listing.quote_mint)
        address = Pubkey.from_string(listing.address)
        if listing.venue == "raydium_amm_v4":
            server.add_amm_v4_pool(base, 10**15, 10**12, quote, address=address)
        elif listing.venue == "raydium_cpmm":
            server.add_cpmm_pool(base, 10**15, 10**12, quote_mint=quote, address=address)
        elif listing.venue == "orca_whirlpool":
            server.add_whirlpool(base, quote, reserve_a=10**15, reserve_b=10**12, tick=WHIRLPOOL_TICK,
                                 liquidity=3 * 10**13, address=address)
        elif listing.venue == "pumpfun":
            server.add_pumpfun_curve(base, vt=1_073_000_000_000_000, vs=30_000_000_000, rt=793_100_000_000_000,
                                     fee_recipient=Keypair().pubkey())
        else:
            continue
        made[listing.venue] = made.get(listing.venue, 0) + 1
    return made
