"""A loopback Solana JSON-RPC server whose ledger lives in LiteSVM, with fault injection.

Methods (single or JSON-RPC batch requests), in the real request and response shapes:
``getLatestBlockhash``, ``getBlockHeight``,
``getAccountInfo``, ``getMultipleAccounts``, ``getBalance``, ``getTokenAccountsByOwner``
(base64), ``simulateTransaction``, ``sendTransaction``, ``getSignatureStatuses`` and
``getTransaction`` (encoding json, version 0: ``meta`` with fee, pre/post balances, pre/post
token balances with owners, loaded addresses, logs, compute units).

**What runs where.** Everything but the DEX instruction is LiteSVM's: compute budget, System
transfers (tips, wrapping), SPL Token (SyncNative, CloseAccount, transfers), ATA creation,
fees. The Raydium AMM v4, Raydium CPMM, Orca Whirlpool and Pump.fun program binaries are not
available here, so the server **settles their swap instructions with the exact twins** of
``engine.amm.exact`` (`cpmm_exact_in`, `clmm_exact_in` over the tick arrays the instruction
names, `curve_buy_cost`, `curve_sell_proceeds`) and writes the resulting token amounts and
lamports (and a Whirlpool's new price, tick and liquidity) into LiteSVM's accounts, failing with
the program's custom error code when the output is below the minimum (AMM v4: 30, CPMM: 6005,
Whirlpool: 6036, Pump.fun: 6002 / 6003). The accounts a route is read from are written in their
programs' layouts: ``AmmInfo`` and its OpenBook market, CPMM ``PoolState`` and ``AmmConfig``, the
``Whirlpool`` and its fixed tick arrays, Pump.fun's ``Global`` and bonding curves. A
transaction with such an instruction runs as LiteSVM segments around the settled
swap (signatures verified by the server, then sigverify off for the segments); the fee is
what the chain charges (5,000 lamports per signature plus ``ceil(price * limit / 1e6)``), the
extra base fees of later segments are refunded, and a failure anywhere restores every account
of the transaction and charges the fee only, as the runtime does. The compute units reported
are LiteSVM's for the segments plus a fixed figure per swap (`DEX_UNITS`).

**Time.** Block height advances by one every ``slot_ms`` of wall time; a blockhash is valid
for ``valid_blocks`` heights after it was handed out (150 on mainnet). A transaction sent with
an unknown or expired blockhash is dropped (``skipPreflight`` semantics: the signature is
returned, nothing lands). Sending a signature that already landed does nothing (the chain's
duplicate check). A landed transaction is immediately ``confirmed``.

**Faults** (`Faults`): drop the next sends, hand out already-expired blockhashes, fail the next
simulations, answer the next requests with HTTP 503, and move a pool against the next swap (a
competitor lands first) so its ``min_out`` fails on chain.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTable
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from engine.amm.exact import (
    MAX_TICK,
    MIN_TICK,
    clmm_exact_in,
    cpmm_exact_in,
    curve_buy_cost,
    curve_sell_proceeds,
    sqrt_price_from_tick,
)
from engine.exec.live.builders import (
    PUMPFUN_GLOBAL,
    SERUM_PROGRAM,
    WHIRLPOOL_TICKS_PER_ARRAY,
    associated_token_address,
    pumpfun_bonding_curve_address,
    whirlpool_tick_array_address,
)
from engine.feeds.programs import (
    COMPUTE_BUDGET_PROGRAM,
    ORCA_WHIRLPOOL,
    PUMPFUN,
    RAYDIUM_AMM_V4,
    RAYDIUM_CPMM,
    TOKEN_PROGRAM,
    WSOL_MINT,
    anchor_discriminator,
)
from engine.feeds.solana_accounts import (
    DISC_BONDING_CURVE,
    DISC_POOL_STATE,
    DISC_WHIRLPOOL,
    DISC_WHIRLPOOL_TICK_ARRAY,
    decode_pumpfun_bonding_curve,
    decode_raydium_amm_v4,
    decode_raydium_cpmm,
    decode_whirlpool,
    decode_whirlpool_tick_array,
)

TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
DEX_UNITS = {RAYDIUM_AMM_V4: 30_000, RAYDIUM_CPMM: 40_000, PUMPFUN: 35_000, ORCA_WHIRLPOOL: 60_000}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BUY, _SELL = anchor_discriminator("buy"), anchor_discriminator("sell")
_CPMM_SWAP = anchor_discriminator("swap_base_input")
_WHIRLPOOL_SWAP = anchor_discriminator("swap")
_DISC_AMM_CONFIG = anchor_discriminator("AmmConfig", "account")
_DISC_GLOBAL = anchor_discriminator("Global", "account")


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


# --------------------------------------------------------------------------- account data


def mint_data(decimals: int, supply: int = 0) -> bytes:
    """SPL Token ``Mint`` (82 bytes): no mint authority, supply, decimals, initialised."""
    return struct.pack("<I32sQBBI32s", 0, bytes(32), supply, decimals, 1, 0, bytes(32))


def token_account_data(mint: Pubkey, owner: Pubkey, amount: int, *, native_rent: int | None = None) -> bytes:
    """SPL Token ``Account`` (165 bytes), initialised; WSOL accounts carry ``is_native`` = rent."""
    native = struct.pack("<IQ", 1, native_rent) if native_rent is not None else struct.pack("<IQ", 0, 0)
    return (bytes(mint) + bytes(owner) + struct.pack("<Q", amount) + struct.pack("<I32s", 0, bytes(32)) + b"\x01"
            + native + struct.pack("<Q", 0) + struct.pack("<I32s", 0, bytes(32)))


def amm_v4_data(*, coin_vault: Pubkey, pc_vault: Pubkey, coin_mint: Pubkey, pc_mint: Pubkey, open_orders: Pubkey,
                market: Pubkey, target_orders: Pubkey, fee_num: int = 25, fee_den: int = 10_000) -> bytes:
    """Raydium AMM v4 ``AmmInfo`` (752 bytes) with the fields `decode_raydium_amm_v4` reads."""
    data = bytearray(752)
    struct.pack_into("<16Q", data, 0, 6, 254, 0, 0, 6, 9, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0)  # status 6 = swap only
    struct.pack_into("<8Q", data, 128, 0, 0, 25, 10_000, 0, 0, fee_num, fee_den)
    for off, key in ((336, coin_vault), (368, pc_vault), (400, coin_mint), (432, pc_mint), (496, open_orders),
                     (528, market), (560, Pubkey.from_string(SERUM_PROGRAM)), (592, target_orders)):
        data[off:off + 32] = bytes(key)
    return bytes(data)


def openbook_market_data(market: Pubkey, nonce: int, *, coin_mint: Pubkey, pc_mint: Pubkey, coin_vault: Pubkey,
                         pc_vault: Pubkey, event_queue: Pubkey, bids: Pubkey, asks: Pubkey) -> bytes:
    """serum-dex ``MarketState`` between its ``serum`` head and ``padding`` tail (388 bytes)."""
    body = bytearray(376)
    struct.pack_into("<Q", body, 0, 3)  # Initialized | Market
    struct.pack_into("<Q", body, 40, nonce)
    for off, key in ((8, market), (48, coin_mint), (80, pc_mint), (112, coin_vault), (160, pc_vault),
                     (248, event_queue), (280, bids), (312, asks)):
        body[off:off + 32] = bytes(key)
    return b"serum" + bytes(body) + b"padding"


def cpmm_pool_data(*, amm_config: Pubkey, vault_0: Pubkey, vault_1: Pubkey, mint_0: Pubkey, mint_1: Pubkey,
                   observation: Pubkey, decimals: tuple[int, int] = (9, 6)) -> bytes:
    """Raydium CPMM ``PoolState`` (637 bytes), no fees owed."""
    data = bytearray(637)
    data[:8] = DISC_POOL_STATE
    token = bytes(TOKEN)
    for off, key in ((8, bytes(amm_config)), (72, bytes(vault_0)), (104, bytes(vault_1)), (168, bytes(mint_0)),
                     (200, bytes(mint_1)), (232, token), (264, token), (296, bytes(observation))):
        data[off:off + 32] = key
    struct.pack_into("<5B", data, 328, 255, 0, 9, *decimals)
    return bytes(data)


def whirlpool_data(*, tick_spacing: int, fee_rate: int, liquidity: int, sqrt_price_x64: int, tick: int,
                   mint_a: Pubkey, vault_a: Pubkey, mint_b: Pubkey, vault_b: Pubkey) -> bytes:
    """Orca ``Whirlpool`` (653 bytes) with the fields `decode_whirlpool` reads."""
    data = bytearray(653)
    data[:8] = DISC_WHIRLPOOL
    struct.pack_into("<BHBBHH", data, 40, 255, tick_spacing, tick_spacing & 0xFF, tick_spacing >> 8, fee_rate, 300)
    data[49:65] = liquidity.to_bytes(16, "little")
    data[65:81] = sqrt_price_x64.to_bytes(16, "little")
    struct.pack_into("<i", data, 81, tick)
    for off, key in ((101, mint_a), (133, vault_a), (181, mint_b), (213, vault_b)):
        data[off:off + 32] = bytes(key)
    return bytes(data)


def tick_array_data(whirlpool: Pubkey, start: int, ticks: dict[int, int]) -> bytes:
    """A fixed Orca ``TickArray`` (9,988 bytes); ``ticks`` maps slot offset 0..87 to ``liquidity_net``."""
    data = bytearray(9988)
    data[:8] = DISC_WHIRLPOOL_TICK_ARRAY
    struct.pack_into("<i", data, 8, start)
    for k, net in ticks.items():
        o = 12 + 113 * k
        data[o] = 1
        data[o + 1:o + 17] = net.to_bytes(16, "little", signed=True)
        data[o + 17:o + 33] = abs(net).to_bytes(16, "little")
    data[9956:9988] = bytes(whirlpool)
    return bytes(data)


def curve_data(vt: int, vs: int, rt: int, rs: int, supply: int, creator: Pubkey) -> bytes:
    return DISC_BONDING_CURVE + struct.pack("<5QB", vt, vs, rt, rs, supply, 0) + bytes(creator) + bytes(150 - 81)


def _program_address(market: Pubkey, nonce: int, program: Pubkey) -> Pubkey | None:
    """The vault signer ``create_program_address([market, nonce])``, or None when that nonce gives none."""
    try:
        return Pubkey.create_program_address([bytes(market), nonce.to_bytes(8, "little")], program)
    except Exception as e:  # solders raises PubkeyError, a class it does not export
        if type(e).__name__ != "PubkeyError":
            raise
        return None


class _DexError(Exception):
    def __init__(self, detail: Any) -> None:
        super().__init__(str(detail))
        self.detail = detail


class _SegmentError(Exception):
    def __init__(self, index: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.index = index
        self.detail = detail


def _err_json(err: Any) -> Any:
    """Turn a LiteSVM transaction error into the RPC's JSON form."""
    detail = getattr(err, "err", err)
    if hasattr(detail, "code"):
        return {"Custom": detail.code}
    return str(detail).split(".")[-1]


@dataclass
class Faults:
    """Faults to inject; each counter is used up one request at a time."""

    drop_sends: int = 0  # sendTransaction calls accepted but not landed
    stale_blockhashes: int = 0  # getLatestBlockhash answers already expired
    fail_simulations: int = 0
    http_503: int = 0  # requests answered with HTTP 503
    front_run_bps: int = 0  # before the next landed swap, a competitor moves the pool this much
    front_runs: int = 0


@dataclass
class Landed:
    signature: str
    slot: int
    err: Any
    doc: Callable[[], dict[str, Any]]


@dataclass
class Pool:
    """A pool the server knows how to settle: AMM v4 (two vaults) or a Pump.fun curve."""

    kind: str
    address: Pubkey
    base_mint: Pubkey
    vaults: tuple[Pubkey, ...] = ()
    fee_recipient: Pubkey | None = None
    fee_bps: int = 100
    creator_fee_bps: int = 0
    fee_round_up: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class LiteSvmRpc:
    """The loopback server; `start` returns its URL. Build the world with the ``add_*`` methods first."""

    def __init__(self, *, slot_ms: float = 20.0, valid_blocks: int = 150) -> None:
        self.svm = LiteSVM().with_sigverify(False).with_blockhash_check(False).with_transaction_history(0)
        self.slot_ms = slot_ms
        self.valid_blocks = valid_blocks
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self.sends: Counter[str] = Counter()  # sendTransaction per signature
        self.landed: dict[str, Landed] = {}
        self.pools: dict[str, Pool] = {}
        self._blockhashes: dict[str, int] = {}  # blockhash -> last valid block height
        self._hash_height = -1
        self._t0 = time.monotonic()
        self._seg = 0
        self._committing = False
        self._decimals: dict[Pubkey, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self.url = ""
        self.svm.set_account(Pubkey.from_string(WSOL_MINT), Account(1_461_600, mint_data(9), TOKEN, False))

    # ------------------------------------------------------------------ world

    def height(self) -> int:
        return int((time.monotonic() - self._t0) * 1000 / self.slot_ms)

    def slot(self) -> int:
        return 300_000_000 + self.height()

    def airdrop(self, owner: Pubkey, lamports: int) -> None:
        self.svm.set_account(owner, Account(lamports, b"", SYSTEM, False))

    def add_mint(self, decimals: int = 6, address: Pubkey | None = None) -> Pubkey:
        mint = address or Keypair().pubkey()
        self.svm.set_account(mint, Account(1_461_600, mint_data(decimals), TOKEN, False))
        return mint

    def set_token(self, address: Pubkey, mint: Pubkey, owner: Pubkey, amount: int) -> None:
        """Write a token account; a WSOL one is native: it holds its amount as lamports above rent."""
        if str(mint) == WSOL_MINT:
            data = token_account_data(mint, owner, amount, native_rent=2_039_280)
            self.svm.set_account(address, Account(2_039_280 + amount, data, TOKEN, False))
        else:
            self.svm.set_account(address, Account(2_039_280, token_account_data(mint, owner, amount), TOKEN, False))

    def give_tokens(self, owner: Pubkey, mint: Pubkey, amount: int) -> Pubkey:
        ata = associated_token_address(owner, mint)
        self.set_token(ata, mint, owner, amount)
        return ata

    def add_amm_v4_pool(self, base_mint: Pubkey, reserve_base: int, reserve_quote: int,
                        quote_mint: Pubkey | None = None, address: Pubkey | None = None) -> dict[str, str]:
        """Create an AMM v4 pool (coin = base, pc = quote, WSOL by default) and its market; return its route keys."""
        quote_mint = quote_mint or Pubkey.from_string(WSOL_MINT)
        amm = address or Keypair().pubkey()
        oo, market, target, bids, asks, events, m_coin, m_pc = (Keypair().pubkey() for _ in range(8))
        authority = Pubkey.from_string("5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1")
        coin_vault, pc_vault = Keypair().pubkey(), Keypair().pubkey()
        self.set_token(coin_vault, base_mint, authority, reserve_base)
        self.set_token(pc_vault, quote_mint, authority, reserve_quote)
        data = amm_v4_data(coin_vault=coin_vault, pc_vault=pc_vault, coin_mint=base_mint, pc_mint=quote_mint,
                           open_orders=oo, market=market, target_orders=target)
        self.svm.set_account(amm, Account(6_124_800, data, Pubkey.from_string(RAYDIUM_AMM_V4), False))
        serum = Pubkey.from_string(SERUM_PROGRAM)
        nonce, signer = next((n, a) for n in range(256) if (a := _program_address(market, n, serum)) is not None)
        self.svm.set_account(market, Account(3_591_360, openbook_market_data(
            market, nonce, coin_mint=base_mint, pc_mint=quote_mint, coin_vault=m_coin, pc_vault=m_pc,
            event_queue=events, bids=bids, asks=asks), serum, False))
        self.pools[str(amm)] = Pool("amm_v4", amm, base_mint, (coin_vault, pc_vault))
        return {"amm": str(amm), "open_orders": str(oo), "coin_vault": str(coin_vault), "pc_vault": str(pc_vault),
                "market": str(market), "bids": str(bids), "asks": str(asks), "event_queue": str(events),
                "market_coin_vault": str(m_coin), "market_pc_vault": str(m_pc), "market_vault_signer": str(signer),
                "target_orders": str(target)}

    def add_cpmm_pool(self, base_mint: Pubkey, reserve_base: int, reserve_quote: int, *,
                      quote_mint: Pubkey | None = None, address: Pubkey | None = None,
                      trade_fee_rate: int = 2_500) -> dict[str, str]:
        """Create a Raydium CPMM pool (token 0 = quote, WSOL by default) and its config; return its route keys."""
        quote_mint = quote_mint or Pubkey.from_string(WSOL_MINT)
        pool = address or Keypair().pubkey()
        config, observation, vault_0, vault_1 = (Keypair().pubkey() for _ in range(4))
        authority = Pubkey.from_string("GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL")
        self.set_token(vault_0, quote_mint, authority, reserve_quote)
        self.set_token(vault_1, base_mint, authority, reserve_base)
        cpmm = Pubkey.from_string(RAYDIUM_CPMM)
        self.svm.set_account(config, Account(2_000_000, _DISC_AMM_CONFIG + struct.pack("<BBHQ", 255, 0, 0,
                                                                                       trade_fee_rate) + bytes(216),
                                             cpmm, False))
        self.svm.set_account(pool, Account(5_324_400, cpmm_pool_data(amm_config=config, vault_0=vault_0,
                                                                     vault_1=vault_1, mint_0=quote_mint,
                                                                     mint_1=base_mint, observation=observation),
                                           cpmm, False))
        self.pools[str(pool)] = Pool("cpmm", pool, base_mint, (vault_0, vault_1), extra={"fee": trade_fee_rate})
        return {"pool_state": str(pool), "amm_config": str(config), "token_0_vault": str(vault_0),
                "token_1_vault": str(vault_1), "token_0_mint": str(quote_mint), "token_1_mint": str(base_mint),
                "observation_state": str(observation)}

    def add_whirlpool(self, mint_a: Pubkey, mint_b: Pubkey, *, reserve_a: int, reserve_b: int, tick: int,
                      liquidity: int, tick_spacing: int = 64, fee_rate: int = 3_000, width_arrays: int = 2,
                      address: Pubkey | None = None) -> dict[str, str]:
        """Create a Whirlpool at ``tick`` with one position of ``liquidity`` spanning ``width_arrays`` tick arrays
        on each side (its tick arrays written, the others absent); return its route keys."""
        pool = address or Keypair().pubkey()
        vault_a, vault_b = Keypair().pubkey(), Keypair().pubkey()
        self.set_token(vault_a, mint_a, pool, reserve_a)
        self.set_token(vault_b, mint_b, pool, reserve_b)
        program = Pubkey.from_string(ORCA_WHIRLPOOL)
        data = whirlpool_data(tick_spacing=tick_spacing, fee_rate=fee_rate, liquidity=liquidity,
                              sqrt_price_x64=sqrt_price_from_tick(tick), tick=tick, mint_a=mint_a, vault_a=vault_a,
                              mint_b=mint_b, vault_b=vault_b)
        self.svm.set_account(pool, Account(3_435_000, data, program, False))
        span = tick_spacing * WHIRLPOOL_TICKS_PER_ARRAY
        home = tick // span
        lower, upper = (home - width_arrays) * span, (home + width_arrays + 1) * span - tick_spacing
        for k in range(home - width_arrays, home + width_arrays + 1):
            start = k * span
            nets = {}
            if start == lower:
                nets[0] = liquidity
            if start <= upper < start + span:
                nets[(upper - start) // tick_spacing] = -liquidity
            self.svm.set_account(whirlpool_tick_array_address(pool, start),
                                 Account(70_407_360, tick_array_data(pool, start, nets), program, False))
        self.pools[str(pool)] = Pool("whirlpool", pool, mint_a, (vault_a, vault_b))
        return {"whirlpool": str(pool), "token_vault_a": str(vault_a), "token_vault_b": str(vault_b),
                "tick_spacing": tick_spacing}

    def add_pumpfun_global(self, fee_recipient: Pubkey) -> None:
        """Write Pump.fun's ``Global`` account: its fee recipient is a pubkey at byte 41."""
        data = _DISC_GLOBAL + b"\x01" + bytes(32) + bytes(fee_recipient) + bytes(100)
        self.svm.set_account(Pubkey.from_string(PUMPFUN_GLOBAL), Account(2_000_000, data, Pubkey.from_string(PUMPFUN),
                                                                         False))

    def add_pumpfun_curve(self, mint: Pubkey, *, vt: int, vs: int, rt: int, fee_recipient: Pubkey,
                          fee_bps: int = 100) -> Pubkey:
        """Create a Pump.fun curve (legacy layout, ``fee_bps`` rounded down) holding ``rt`` tokens."""
        curve = pumpfun_bonding_curve_address(mint)
        rent = self.svm.minimum_balance_for_rent_exemption(150)
        self.svm.set_account(curve, Account(rent, curve_data(vt, vs, rt, 0, 10**15, Keypair().pubkey()),
                                            Pubkey.from_string(PUMPFUN), False))
        abc = associated_token_address(curve, mint)
        self.set_token(abc, mint, curve, rt)
        self.airdrop(fee_recipient, 10**9)
        self.add_pumpfun_global(fee_recipient)
        self.pools[str(curve)] = Pool("pumpfun", curve, mint, (abc,), fee_recipient, fee_bps, extra={"rent": rent})
        return curve

    def token_amount(self, address: Pubkey) -> int:
        acc = self.svm.get_account(address)
        return 0 if acc is None or len(acc.data) < 72 else struct.unpack_from("<Q", bytes(acc.data), 64)[0]

    # ------------------------------------------------------------------ serving

    def start(self) -> str:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self.url

    def start_process(self) -> str:
        """Serve from a forked child process (its own interpreter lock); for benchmarks. Stop with `stop`.

        The parent's copy of the ledger is stale from then on: ask the server over RPC.
        """
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()

        def serve() -> None:
            child.send(self.start())
            child.recv()  # blocks until the parent closes the pipe or the process is terminated

        self._process = ctx.Process(target=serve, daemon=True)
        self._process.start()
        self.url = parent.recv()
        self._pipe = parent
        return self.url

    def stop(self) -> None:
        if getattr(self, "_process", None) is not None:
            self._process.terminate()
            self._process.join(5)
            self._process = None
            return
        if self._loop is None:
            return

        async def close() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                status, payload = self.handle(body)
                writer.write(f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: "
                             f"{len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def handle(self, body: bytes) -> tuple[str, bytes]:
        """Answer one JSON-RPC request (also callable without HTTP)."""
        with self._lock:
            if self.faults.http_503 > 0:
                self.faults.http_503 -= 1
                self.calls["http_503"] += 1
                return "503 Service Unavailable", b"busy"
            req = json.loads(body)
            doc = [self._one(r) for r in req] if isinstance(req, list) else self._one(req)  # JSON-RPC batch
            return "200 OK", json.dumps(doc).encode()

    def _one(self, req: dict[str, Any]) -> dict[str, Any]:
        method, params = req["method"], req.get("params") or []
        self.calls[method] += 1
        fn = getattr(self, "_rpc_" + method, None)
        if fn is None:
            return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "Method not found"}}
        return {"jsonrpc": "2.0", "id": req["id"], "result": fn(*params)}

    def _ctx(self, value: Any) -> dict[str, Any]:
        return {"context": {"slot": self.slot()}, "value": value}

    # ------------------------------------------------------------------ methods

    def _rpc_getLatestBlockhash(self, _cfg: dict | None = None) -> dict:
        h = self.height()
        if h != self._hash_height:
            self.svm.expire_blockhash()
            self._hash_height = h
        blockhash = str(self.svm.latest_blockhash())
        if self.faults.stale_blockhashes > 0:
            self.faults.stale_blockhashes -= 1
            self.svm.expire_blockhash()
            blockhash = str(self.svm.latest_blockhash())
            self._blockhashes[blockhash] = h - 1
            self._hash_height = -1
        else:
            self._blockhashes.setdefault(blockhash, h + self.valid_blocks)
        return self._ctx({"blockhash": blockhash, "lastValidBlockHeight": self._blockhashes[blockhash]})

    def _rpc_getBlockHeight(self, _cfg: dict | None = None) -> int:
        return self.height()

    def _account_json(self, address: str) -> dict | None:
        acc = self.svm.get_account(Pubkey.from_string(address))
        if acc is None or (acc.lamports == 0 and not acc.data):
            return None
        return {"data": [base64.b64encode(bytes(acc.data)).decode(), "base64"], "executable": acc.executable,
                "lamports": acc.lamports, "owner": str(acc.owner), "rentEpoch": 0, "space": len(acc.data)}

    def _rpc_getAccountInfo(self, address: str, _cfg: dict | None = None) -> dict:
        return self._ctx(self._account_json(address))

    def _rpc_getMultipleAccounts(self, addresses: list[str], _cfg: dict | None = None) -> dict:
        return self._ctx([self._account_json(a) for a in addresses])

    def _rpc_getBalance(self, address: str, _cfg: dict | None = None) -> dict:
        return self._ctx(self.svm.get_balance(Pubkey.from_string(address)) or 0)

    def _rpc_getTokenAccountsByOwner(self, owner: str, filt: dict, _cfg: dict | None = None) -> dict:
        program = Pubkey.from_string(filt.get("programId", TOKEN_PROGRAM))
        out = []
        for key, acc in self.svm.get_program_accounts(program):
            data = bytes(acc.data)
            if len(data) == 165 and str(Pubkey.from_bytes(data[32:64])) == owner and acc.lamports > 0:
                out.append({"pubkey": str(key), "account": self._account_json(str(key))})
        return self._ctx(out)

    def _rpc_simulateTransaction(self, raw: str, _cfg: dict | None = None) -> dict:
        if self.faults.fail_simulations > 0:
            self.faults.fail_simulations -= 1
            return self._ctx({"err": {"InstructionError": [2, {"Custom": 1}]}, "logs": ["injected failure"],
                              "unitsConsumed": 1_000, "accounts": None, "returnData": None})
        tx = VersionedTransaction.from_bytes(base64.b64decode(raw))
        if not all(tx.verify_with_results()):
            return self._ctx({"err": "SignatureFailure", "logs": [], "unitsConsumed": 0})
        result = self._execute(tx, commit=False)
        return self._ctx({"err": result["err"], "logs": result["logs"], "unitsConsumed": result["units"],
                          "accounts": None, "returnData": None})

    def _rpc_sendTransaction(self, raw: str, _cfg: dict | None = None) -> str:
        tx = VersionedTransaction.from_bytes(base64.b64decode(raw))
        sig = str(tx.signatures[0])
        self.sends[sig] += 1
        if sig in self.landed:
            return sig  # the chain's duplicate check: it cannot land twice
        if self.faults.drop_sends > 0:
            self.faults.drop_sends -= 1
            return sig
        last_valid = self._blockhashes.get(str(tx.message.recent_blockhash))
        if last_valid is None or self.height() > last_valid or not all(tx.verify_with_results()):
            return sig  # dropped by the leader: expired or unknown blockhash, bad signature
        result = self._execute(tx, commit=True)
        if result["landed"]:
            self.landed[sig] = Landed(sig, self.slot(), result["err"], result["doc"])
        return sig

    def _rpc_getSignatureStatuses(self, sigs: list[str], _cfg: dict | None = None) -> dict:
        out = []
        for s in sigs:
            landed = self.landed.get(s)
            if landed is None:
                out.append(None)
            else:
                status = {"Ok": None} if landed.err is None else {"Err": landed.err}
                out.append({"slot": landed.slot, "confirmations": None, "err": landed.err, "status": status,
                            "confirmationStatus": "confirmed"})
        return self._ctx(out)

    def _rpc_getTransaction(self, sig: str, _cfg: dict | None = None) -> dict | None:
        landed = self.landed.get(sig)
        return None if landed is None else landed.doc()

    # ------------------------------------------------------------------ execution

    def _keys(self, tx: VersionedTransaction) -> tuple[list[Pubkey], list[Pubkey], list[Pubkey], list[dict]]:
        msg = tx.message
        static = list(msg.account_keys)
        w, r, lookups = [], [], []
        for lk in getattr(msg, "address_table_lookups", []) or []:
            table = AddressLookupTable.deserialize(bytes(self.svm.get_account(lk.account_key).data))
            w += [table.addresses[i] for i in bytes(lk.writable_indexes)]
            r += [table.addresses[i] for i in bytes(lk.readonly_indexes)]
            lookups.append({"accountKey": str(lk.account_key), "writableIndexes": list(bytes(lk.writable_indexes)),
                            "readonlyIndexes": list(bytes(lk.readonly_indexes))})
        return static, w, r, lookups

    def _token_balances(self, keys: list[Pubkey], accounts: list[Account | None]) -> list[dict]:
        out = []
        for i, acc in enumerate(accounts):
            if acc is None or acc.owner != TOKEN or len(acc.data) != 165 or acc.lamports == 0:
                continue
            data = bytes(acc.data)
            mint = Pubkey.from_bytes(data[:32])
            decimals = self._decimals.get(mint)
            if decimals is None:
                mint_acc = self.svm.get_account(mint)
                decimals = self._decimals[mint] = bytes(mint_acc.data)[44] if mint_acc is not None else 0
            amount = struct.unpack_from("<Q", data, 64)[0]
            out.append({"accountIndex": i, "mint": str(mint), "owner": str(Pubkey.from_bytes(data[32:64])),
                        "programId": TOKEN_PROGRAM,
                        "uiTokenAmount": {"amount": str(amount), "decimals": decimals,
                                          "uiAmount": amount / 10**decimals,
                                          "uiAmountString": str(amount / 10**decimals)}})
        return out

    def _execute(self, tx: VersionedTransaction, *, commit: bool) -> dict[str, Any]:
        """Run ``tx``: LiteSVM segments around exact-twin swaps; restore everything unless ``commit``."""
        msg = tx.message
        self._committing = commit  # a competitor lands between our simulation and our transaction
        static, w, r, lookups = self._keys(tx)
        keys = static + w + r
        h = msg.header
        n_sig = h.num_required_signatures
        n_static = len(static)

        def writable(i: int) -> bool:
            if i < n_sig:
                return i < n_sig - h.num_readonly_signed_accounts
            if i < n_static:
                return i < n_static - h.num_readonly_unsigned_accounts
            return i < n_static + len(w)

        ixs = []
        limit, price, n_other = None, 0, 0
        for cix in msg.instructions:
            program = keys[cix.program_id_index]
            data = bytes(cix.data)
            metas = [AccountMeta(keys[a], a < n_sig, writable(a)) for a in bytes(cix.accounts)]
            ixs.append(Instruction(program, data, metas))
            if str(program) == COMPUTE_BUDGET_PROGRAM and data[:1] == b"\x02":
                limit = struct.unpack_from("<I", data, 1)[0]
            elif str(program) == COMPUTE_BUDGET_PROGRAM and data[:1] == b"\x03":
                price = struct.unpack_from("<Q", data, 1)[0]
            elif str(program) != COMPUTE_BUDGET_PROGRAM:
                n_other += 1
        limit = limit if limit is not None else min(1_400_000, 200_000 * n_other)
        fee = 5_000 * n_sig - (-(price * limit) // 1_000_000)
        payer = keys[0]
        if (self.svm.get_balance(payer) or 0) < fee:
            return {"landed": False, "err": "InsufficientFundsForFee", "logs": [], "units": 0, "doc": None}
        before = [self.svm.get_account(k) for k in keys]
        pre_bal = [a.lamports if a is not None else 0 for a in before]
        pre_tok = self._token_balances(keys, before)
        err, logs, units, charged = None, [], 0, 0
        try:
            segment: list[tuple[int, Instruction]] = []
            for i, ix in enumerate([*ixs, None]):
                if ix is None or str(ix.program_id) in DEX_UNITS:
                    if segment:
                        f, u, seg_logs = self._run_segment(payer, segment)
                        charged, units, logs = charged + f, units + u, logs + seg_logs
                        segment = []
                    if ix is not None:
                        logs.append(f"Program {ix.program_id} invoke [1] (settled by the exact twin)")
                        self._settle(i, ix)
                        units += DEX_UNITS[str(ix.program_id)]
                else:
                    segment.append((i, ix))
        except (_SegmentError, _DexError) as e:
            index = getattr(e, "index", None)
            err = {"InstructionError": [index, e.detail]} if index is not None else e.detail
            logs.append(f"failed: {e.detail}")
        if err is not None or not commit:
            for k, acc in zip(keys, before, strict=True):
                self.svm.set_account(k, acc if acc is not None else Account(0, b"", SYSTEM, False))
            if err is not None and commit:
                self._add_lamports(payer, -fee)
        else:
            self._add_lamports(payer, charged - fee)
        doc = None
        if commit:  # the getTransaction document is written when asked for; balances are taken now
            after = [self.svm.get_account(k) for k in keys]
            post_bal = [a.lamports if a is not None else 0 for a in after]
            post_tok = self._token_balances(keys, after)
            slot = self.slot()

            def doc() -> dict[str, Any]:
                return self._document(tx, slot, static, w, r, lookups, err, fee, pre_bal, post_bal, pre_tok,
                                      post_tok, logs, units)

        return {"landed": True, "err": err, "logs": logs, "units": units, "doc": doc}

    def _document(self, tx: VersionedTransaction, slot: int, static: list[Pubkey], w: list[Pubkey],
                  r: list[Pubkey], lookups: list[dict], err: Any, fee: int, pre_bal: list[int], post_bal: list[int],
                  pre_tok: list[dict], post_tok: list[dict], logs: list[str], units: int) -> dict[str, Any]:
        msg, h = tx.message, tx.message.header
        return {"slot": slot, "blockTime": int(time.time()), "version": 0,
                "transaction": {"signatures": [str(s) for s in tx.signatures],
                                "message": {"accountKeys": [str(k) for k in static],
                                            "header": {"numRequiredSignatures": h.num_required_signatures,
                                                       "numReadonlySignedAccounts": h.num_readonly_signed_accounts,
                                                       "numReadonlyUnsignedAccounts": h.num_readonly_unsigned_accounts},
                                            "recentBlockhash": str(msg.recent_blockhash),
                                            "instructions": [{"programIdIndex": c.program_id_index,
                                                              "accounts": list(bytes(c.accounts)),
                                                              "data": b58encode(bytes(c.data)), "stackHeight": None}
                                                             for c in msg.instructions],
                                            "addressTableLookups": lookups}},
                "meta": {"err": err, "status": {"Ok": None} if err is None else {"Err": err}, "fee": fee,
                         "preBalances": pre_bal, "postBalances": post_bal, "preTokenBalances": pre_tok,
                         "postTokenBalances": post_tok, "innerInstructions": [], "logMessages": logs, "rewards": [],
                         "loadedAddresses": {"writable": [str(k) for k in w], "readonly": [str(k) for k in r]},
                         "computeUnitsConsumed": units}}

    def _run_segment(self, payer: Pubkey, segment: list[tuple[int, Instruction]]) -> tuple[int, int, list[str]]:
        self._seg += 1
        message = Message.new_with_blockhash([ix for _, ix in segment], payer, self.svm.latest_blockhash())
        fake = hashlib.sha512(bytes(message) + self._seg.to_bytes(8, "little")).digest()
        result = self.svm.send_transaction(VersionedTransaction.populate(message, [Signature(fake)]))
        if hasattr(result, "err"):
            e = result.err()
            index = segment[getattr(e, "index", 0)][0]
            raise _SegmentError(index, _err_json(e))
        return result.fee(), result.compute_units_consumed(), list(result.logs())

    def _add_lamports(self, key: Pubkey, delta: int) -> None:
        acc = self.svm.get_account(key)
        self.svm.set_account(key, Account(acc.lamports + delta, bytes(acc.data), acc.owner, acc.executable))

    def _set_amount(self, key: Pubkey, amount: int) -> None:
        acc = self.svm.get_account(key)
        data = bytearray(acc.data)
        struct.pack_into("<Q", data, 64, amount)
        self.svm.set_account(key, Account(acc.lamports, bytes(data), acc.owner, acc.executable))

    def _move_tokens(self, index: int, src: Pubkey, dst: Pubkey, amount: int) -> None:
        have = self.token_amount(src)
        acc = self.svm.get_account(dst)
        if acc is None or acc.owner != TOKEN or len(acc.data) != 165:
            raise _SegmentError(index, {"Custom": 3012})  # AccountNotInitialized
        if have < amount:
            raise _SegmentError(index, {"Custom": 1})  # SPL Token: insufficient funds
        self._set_amount(src, have - amount)
        self._set_amount(dst, self.token_amount(dst) + amount)
        if bytes(acc.data)[:32] == bytes(Pubkey.from_string(WSOL_MINT)):  # native: the lamports move too
            self._add_lamports(src, -amount)
            self._add_lamports(dst, amount)

    def _settle(self, index: int, ix: Instruction) -> None:
        """Apply one DEX swap with the exact twin, as the program would (errors by their codes)."""
        program, data, a = str(ix.program_id), bytes(ix.data), [m.pubkey for m in ix.accounts]
        try:
            if program == RAYDIUM_AMM_V4 and data[0] == 9:
                self._settle_amm_v4(index, a, *struct.unpack_from("<QQ", data, 1))
            elif program == RAYDIUM_CPMM and data[:8] == _CPMM_SWAP:
                self._settle_cpmm(index, a, *struct.unpack_from("<QQ", data, 8))
            elif program == ORCA_WHIRLPOOL and data[:8] == _WHIRLPOOL_SWAP:
                amount, threshold = struct.unpack_from("<QQ", data, 8)
                self._settle_whirlpool(index, a, amount, threshold, int.from_bytes(data[24:40], "little"),
                                       bool(data[41]))
            elif program == PUMPFUN and data[:8] in (_BUY, _SELL):
                self._settle_pump(index, a, data[:8] == _BUY, *struct.unpack_from("<QQ", data, 8))
            else:
                raise _SegmentError(index, "InvalidInstructionData")
        except _DexError as e:
            raise _SegmentError(index, e.detail) from None

    def _front_run(self, pool: Pool, vault_in: Pubkey, vault_out: Pubkey) -> None:
        if self.faults.front_runs > 0 and self._committing:
            self.faults.front_runs -= 1
            r_in, r_out = self.token_amount(vault_in), self.token_amount(vault_out)
            amount = r_in * self.faults.front_run_bps // 10_000
            out = cpmm_exact_in(amount, r_in, r_out, 25, 10_000).amount_out
            self._set_amount(vault_in, r_in + amount)
            self._set_amount(vault_out, r_out - out)

    def _settle_amm_v4(self, index: int, a: list[Pubkey], amount_in: int, min_out: int) -> None:
        pool = self.pools[str(a[1])]
        info = decode_raydium_amm_v4(bytes(self.svm.get_account(pool.address).data))
        src, dst, owner = a[-3], a[-2], a[-1]
        src_mint = Pubkey.from_bytes(bytes(self.svm.get_account(src).data)[:32])
        coin_vault, pc_vault = pool.vaults
        vault_in, vault_out = (coin_vault, pc_vault) if str(src_mint) == info.coin_vault_mint else (pc_vault,
                                                                                                   coin_vault)
        self._front_run(pool, vault_in, vault_out)
        out = cpmm_exact_in(amount_in, self.token_amount(vault_in), self.token_amount(vault_out),
                            info.swap_fee_numerator, info.swap_fee_denominator).amount_out
        if out < min_out:
            raise _DexError({"Custom": 30})  # ExceededSlippage
        if str(Pubkey.from_bytes(bytes(self.svm.get_account(src).data)[32:64])) != str(owner):
            raise _DexError({"Custom": 4})  # OwnerMismatch
        self._move_tokens(index, src, vault_in, amount_in)
        self._move_tokens(index, vault_out, dst, out)

    def _settle_cpmm(self, index: int, a: list[Pubkey], amount_in: int, min_out: int) -> None:
        pool = self.pools[str(a[3])]
        state = decode_raydium_cpmm(bytes(self.svm.get_account(pool.address).data))
        src, dst, vault_in, vault_out = a[4], a[5], a[6], a[7]
        r0, r1 = state.reserves(self.token_amount(Pubkey.from_string(state.token_0_vault)),
                                self.token_amount(Pubkey.from_string(state.token_1_vault)))
        r_in, r_out = (r0, r1) if str(vault_in) == state.token_0_vault else (r1, r0)
        out = cpmm_exact_in(amount_in, r_in, r_out, pool.extra["fee"], 1_000_000).amount_out
        if out < min_out:
            raise _DexError({"Custom": 6005})  # ExceededSlippage
        self._move_tokens(index, src, vault_in, amount_in)
        self._move_tokens(index, vault_out, dst, out)

    def _settle_whirlpool(self, index: int, a: list[Pubkey], amount: int, threshold: int, limit: int,
                          a_to_b: bool) -> None:
        pool = self.pools[str(a[2])]
        acc = self.svm.get_account(pool.address)
        w = decode_whirlpool(bytes(acc.data))
        span = w.tick_spacing * WHIRLPOOL_TICKS_PER_ARRAY
        ticks: list[tuple[int, int]] = []
        for key in dict.fromkeys(a[7:10]):  # the walk is bounded by the arrays named (the last may repeat)
            arr = decode_whirlpool_tick_array(bytes(self.svm.get_account(key).data))
            ticks += [(t.tick_index(arr.start_tick_index, w.tick_spacing), t.liquidity_net) for t in arr.initialized()]
            ticks += [(max(arr.start_tick_index, MIN_TICK), 0), (min(arr.start_tick_index + span, MAX_TICK), 0)]
        q = clmm_exact_in(amount, a_to_b, w.sqrt_price_x64, w.tick_current_index, w.liquidity, w.fee_rate, ticks,
                          sqrt_price_limit_x64=limit)
        if q.amount_out < threshold:
            raise _DexError({"Custom": 6036})  # AmountOutBelowMinimum
        owner_a, vault_a, owner_b, vault_b = a[3], a[4], a[5], a[6]
        src, vin, vout, dst = (owner_a, vault_a, vault_b, owner_b) if a_to_b else (owner_b, vault_b, vault_a, owner_a)
        self._move_tokens(index, src, vin, q.amount_in)
        self._move_tokens(index, vout, dst, q.amount_out)
        data = bytearray(acc.data)
        data[49:65] = q.liquidity.to_bytes(16, "little")
        data[65:81] = q.sqrt_price_x64.to_bytes(16, "little")
        struct.pack_into("<i", data, 81, q.tick)
        self.svm.set_account(pool.address, Account(acc.lamports, bytes(data), acc.owner, False))

    def _settle_pump(self, index: int, a: list[Pubkey], buy: bool, amount: int, limit: int) -> None:
        pool = self.pools[str(a[3])]
        c = decode_pumpfun_bonding_curve(bytes(self.svm.get_account(pool.address).data))
        user, user_ata, abc = a[6], a[5], a[4]
        kw = {"creator_fee_bps": pool.creator_fee_bps, "fee_round_up": pool.fee_round_up}
        if buy:
            cost = curve_buy_cost(amount, c.virtual_sol_reserves, c.virtual_token_reserves, pool.fee_bps, **kw)
            total = cost.sol_amount + cost.fee
            if total > limit:
                raise _DexError({"Custom": 6002})  # TooMuchSolRequired
            if (self.svm.get_balance(user) or 0) < total:
                raise _DexError("InsufficientFunds")
            self._move_tokens(index, abc, user_ata, amount)
            self._add_lamports(user, -total)
            self._add_lamports(pool.address, cost.sol_amount)
            self._add_lamports(pool.fee_recipient, cost.fee)
            vt, vs = c.virtual_token_reserves - amount, c.virtual_sol_reserves + cost.sol_amount
            rt, rs = c.real_token_reserves - amount, c.real_sol_reserves + cost.sol_amount
        else:
            p = curve_sell_proceeds(amount, c.virtual_sol_reserves, c.virtual_token_reserves, pool.fee_bps, **kw)
            if p.sol_amount - p.fee < limit:
                raise _DexError({"Custom": 6003})  # TooLittleSolReceived
            self._move_tokens(index, user_ata, abc, amount)
            self._add_lamports(pool.address, -p.sol_amount)
            self._add_lamports(user, p.sol_amount - p.fee)
            self._add_lamports(pool.fee_recipient, p.fee)
            vt, vs = c.virtual_token_reserves + amount, c.virtual_sol_reserves - p.sol_amount
            rt, rs = c.real_token_reserves + amount, c.real_sol_reserves - p.sol_amount
        acc = self.svm.get_account(pool.address)
        data = bytearray(acc.data)
        struct.pack_into("<4Q", data, 8, vt, vs, rt, rs)
        self.svm.set_account(pool.address, Account(acc.lamports, bytes(data), acc.owner, False))
