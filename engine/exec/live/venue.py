"""The live venue: order intent -> signed versioned transaction -> simulate -> send -> confirm -> OWN_FILL.

One order goes through these steps (`LiveVenue.submit`); every step is journaled:

1. **Resolve** the kernel's intent (an ``ORDER_DT`` row: pool id, side, amount) against the
   `PoolRoute` of its pool, and read the pool's accounts (``getMultipleAccounts``; a Whirlpool's
   tick arrays in a second read, once its current tick is known) and a blockhash
   (``getLatestBlockhash``, reused for ``blockhash_max_age_ms``: it stays valid for 150 blocks).
2. **Quote** with the exact twins (`engine.exec.live.tx`): ``min_out`` (or a Pump.fun buy's
   ``max_sol_cost``) is the exact output bounded by the order's slippage.
3. **Guards** (`engine.exec.live.guards`): kill switch, program and mint allow-lists, maximum
   slippage, per-order and per-day notional. The first refusal ends the order, nothing sent.
4. **Build and sign** a version-0 transaction: compute budget, ATA creation (idempotent),
   wrapping SOL when SOL goes in, the swap, closing the WSOL account, the tip.
5. **Simulate** (``simulateTransaction``); refuse when it fails or uses more compute units
   than the limit. In dry run (the default) the order stops here: built, simulated, journaled.
6. **Send** (``sendTransaction``, ``skipPreflight``, ``maxRetries=0``), after the ``send``
   journal line is on disk, and **confirm** (`engine.exec.live.confirm.Confirmer`: one poll loop
   for every order in flight, re-sending the same signed bytes on schedule until the signature
   lands or its blockhash expires; an expired order is reported, never rebuilt).
7. **Fetch** the confirmed transaction (``getTransaction``, json, version 0) and parse it with
   `engine.feeds.solana_tx.parse_transaction`: our wallet's swap gives the fill; a failed
   transaction gives a failure with its reason and the fee paid. The wallet's balance changes
   in that transaction (lamports, and tokens per mint) update the `Ledger`.

**Reconciliation** (`LiveVenue.reconcile`, on `LiveVenue.start` and then periodically):
``getBalance`` and ``getTokenAccountsByOwner`` must equal the ledger, lamport for lamport and
unit for unit per mint; otherwise the venue halts (no new orders) and the reason names each
mint, the ledger's and the chain's amounts. Reconciling waits for orders in flight to finish.

Results map onto the kernel as ``OWN_FILL`` tape rows (`LiveResult.own_fill_row`): a fill is
``FillStatus.FILLED``; an on-chain slippage failure ``BELOW_MIN_OUT``; insufficient funds
``NO_FUNDS``; another on-chain failure ``NO_LIQUIDITY`` (the error is in ``reason``); an order
refused, dry-run or expired ``CANCELLED`` (nothing paid).

Raydium AMM v4, Raydium CPMM, Orca Whirlpool and Pump.fun curves are routed. A Whirlpool swap
names the three tick arrays from the one holding the current tick; its quote walks their
initialised ticks with `engine.amm.exact.clmm_exact_in` and stops at the far edge of the last
array that exists (the program cannot go further): an order that would need more is refused.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
from solders.address_lookup_table_account import AddressLookupTable, AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from engine.amm.exact import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK,
    MIN_SQRT_PRICE_X64,
    MIN_TICK,
    clmm_exact_in,
    sqrt_price_from_tick,
)
from engine.errors import ShoalError
from engine.exec.live.builders import (
    WHIRLPOOL_TICKS_PER_ARRAY,
    AmmV4Keys,
    CpmmKeys,
    PumpfunEra,
    WhirlpoolKeys,
    associated_token_address,
    close_account,
    create_ata_idempotent,
    orca_whirlpool_swap,
    pk,
    pumpfun_bonding_curve_address,
    pumpfun_buy,
    pumpfun_keys,
    pumpfun_sell,
    raydium_amm_v4_swap_base_in,
    raydium_cpmm_swap_base_input,
    whirlpool_tick_array_address,
    whirlpool_tick_array_starts,
    wrap_sol,
)
from engine.exec.live.confirm import Confirmation, Confirmer
from engine.exec.live.guards import GuardDecision, GuardMetrics, Guards, SendMode, WalletKey
from engine.exec.live.journal import DecisionJournal
from engine.exec.live.sender import TxSender
from engine.exec.live.tx import (
    SwapQuote,
    assemble,
    cpmm_quote,
    curve_buy_quote,
    curve_sell_quote,
    min_out_with_slippage,
)
from engine.feeds.programs import TOKEN_PROGRAM, WSOL_MINT
from engine.feeds.rpc import RpcClient, RpcError
from engine.feeds.solana_accounts import (
    decode_pumpfun_bonding_curve,
    decode_raydium_amm_v4,
    decode_raydium_cpmm,
    decode_whirlpool,
    decode_whirlpool_tick_array,
)
from engine.feeds.solana_tx import TxParseError, parse_transaction
from engine.layout import EventKind, Side
from engine.sim.records import FillStatus

__all__ = [
    "Ledger",
    "LiveConfig",
    "LiveIntent",
    "LiveResult",
    "LiveVenue",
    "PoolRoute",
    "ReconcileError",
    "Venue",
    "ledger_deltas",
]

# Custom error codes the DEX programs return when the output is below the minimum (or a buy
# costs more than its ceiling): Raydium AMM v4 AmmError::ExceededSlippage = 30 (program/src/error.rs);
# Raydium CPMM ErrorCode::ExceededSlippage = 6005 (programs/cp-swap/src/error.rs); Pump.fun
# TooMuchSolRequired = 6002, TooLittleSolReceived = 6003 (idl/pump.json errors); Orca Whirlpool
# AmountOutBelowMinimum = 6036 (programs/whirlpool/src/errors.rs).
SLIPPAGE_ERROR_CODES = frozenset({30, 6002, 6003, 6005, 6036})


class Venue(IntEnum):
    RAYDIUM_AMM_V4 = 0
    RAYDIUM_CPMM = 1
    PUMPFUN = 2
    ORCA_WHIRLPOOL = 3


class ReconcileError(ShoalError):
    """The chain's balances differ from the ledger; trading stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolRoute:
    """How to trade one pool of the registry live.

    ``base_mint`` is what a BUY receives and a SELL gives; ``quote_mint`` the other side (WSOL
    for SOL pairs: SOL is wrapped and unwrapped around the swap). Exactly one of ``amm_v4``,
    ``cpmm``, ``whirlpool`` or the Pump.fun fields applies, by ``venue``.
    """

    pool_id: int
    venue: Venue
    base_mint: str
    quote_mint: str = WSOL_MINT
    amm_v4: AmmV4Keys | None = None
    cpmm: CpmmKeys | None = None
    cpmm_trade_fee_rate: int = 2_500  # millionths (AmmConfig.trade_fee_rate)
    whirlpool: WhirlpoolKeys | None = None
    pump_fee_recipient: str | None = None
    pump_era: PumpfunEra = PumpfunEra.FEE_CONFIG
    pump_fee_bps: int = 95
    pump_creator_fee_bps: int = 5
    pump_fee_round_up: bool = True
    lookup_tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveIntent:
    """One order intent, in exact integers: sell ``amount_in_raw`` of one side of ``pool_id``'s pair."""

    order_id: int
    pool_id: int
    side: Side
    amount_in_raw: int
    slippage_bps: int
    cu_limit: int = 200_000
    cu_price_micro_lamports: int = 0
    tip_lamports: int = 0

    @classmethod
    def from_order(cls, order: np.void, *, slippage_bps: int) -> LiveIntent:
        """Convert one kernel ``ORDER_DT`` record (first hop) into an intent."""
        return cls(order_id=int(order["order_id"]), pool_id=int(order["pool"][0]), side=Side(int(order["side"][0])),
                   amount_in_raw=int(order["amount_in_raw"]), slippage_bps=slippage_bps,
                   cu_limit=int(order["cu_limit"]), cu_price_micro_lamports=int(order["cu_price_micro_lamports"]),
                   tip_lamports=int(order["tip_lamports"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConfig:
    """Timing and defaults of the live venue.

    Parameters
    ----------
    poll_interval_ms : int
        Between two ``getSignatureStatuses`` calls.
    resend_interval_ms : int
        Between two sends of the same signed transaction (Solana's guide: ~2 s).
    max_confirm_ms : int
        Upper bound on one order's confirmation, in case block heights stop advancing.
    blockhash_max_age_ms : int
        Reuse a fetched blockhash for orders decided within this long (it is valid for ~60 s).
    tip_account : str, optional
        Where ``tip_lamports`` go (a block engine's tip account).
    commitment : str
        Commitment for blockhashes, statuses and fetches.
    """

    poll_interval_ms: int = 400
    resend_interval_ms: int = 2_000
    max_confirm_ms: int = 90_000
    blockhash_max_age_ms: int = 1_000
    tip_account: str | None = None
    commitment: str = "confirmed"
    fetch_tries: int = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveResult:
    """What became of one order; ``fill_status`` is what the kernel's ledger records."""

    order_id: int
    pool_id: int
    side: Side
    outcome: str  # filled | failed | refused | dry_run | expired | unknown
    fill_status: FillStatus
    reason: str
    signature: str | None = None
    slot: int = -1
    ts_ns: int = 0
    amount_in_raw: int = 0
    amount_out_raw: int = 0
    min_out_raw: int = 0
    fee_lamports: int = 0
    tip_lamports: int = 0
    units_consumed: int = 0
    sign_latency_ns: int = 0

    def own_fill_row(self, *, wallet_id: int, mint_id: int) -> dict[str, Any]:
        """Return the ``OWN_FILL`` tape row: integer columns by name and ``vals`` (in, out, fee lamports)."""
        return {"slot": self.slot, "seq": 0, "ts_ns": self.ts_ns, "kind": int(EventKind.OWN_FILL),
                "pool_id": self.pool_id, "wallet_id": wallet_id, "mint_id": mint_id, "side": int(self.side),
                "flags": int(self.fill_status),
                "vals": [float(self.amount_in_raw), float(self.amount_out_raw),
                         float(self.fee_lamports + self.tip_lamports), 0.0, 0.0]}


@dataclass(slots=True)
class Ledger:
    """The wallet as the venue believes it is: native lamports and raw token amounts per mint."""

    lamports: int = 0
    tokens: dict[str, int] = field(default_factory=dict)

    def apply(self, lamports_delta: int, token_deltas: Mapping[str, int]) -> None:
        self.lamports += lamports_delta
        for mint, d in token_deltas.items():
            v = self.tokens.get(mint, 0) + d
            if v:
                self.tokens[mint] = v
            else:
                self.tokens.pop(mint, None)


def ledger_deltas(doc: Mapping[str, Any], owner: str) -> tuple[int, dict[str, int]]:
    """Return ``owner``'s native lamport change and token change per mint in one getTransaction result.

    Lamports include the fee, rent put into new accounts and rent back from closed ones; tokens
    sum every account ``owner`` owns (WSOL included), absent on one side counting as 0.
    """
    msg, meta = doc["transaction"]["message"], doc["meta"]
    keys = list(msg["accountKeys"])
    loaded = meta.get("loadedAddresses") or {}
    keys += loaded.get("writable", []) + loaded.get("readonly", [])
    lamports = 0
    if owner in keys:
        i = keys.index(owner)
        lamports = meta["postBalances"][i] - meta["preBalances"][i]
    tokens: dict[str, int] = {}
    for sign, entries in ((-1, meta.get("preTokenBalances") or ()), (1, meta.get("postTokenBalances") or ())):
        for e in entries:
            if e.get("owner") == owner:
                tokens[e["mint"]] = tokens.get(e["mint"], 0) + sign * int(e["uiTokenAmount"]["amount"])
    return lamports, {m: d for m, d in tokens.items() if d}


def _account_data(value: Mapping[str, Any] | None, what: str) -> bytes:
    if value is None:
        msg = f"{what} does not exist on chain; Hint: check the pool route"
        raise ShoalError(msg)
    return base64.b64decode(value["data"][0])


def _token_amount(data: bytes) -> int:
    return struct.unpack_from("<Q", data, 64)[0]


@dataclass(slots=True)
class _Built:
    instructions: list[Instruction]
    mints: tuple[str, ...]
    min_out: int
    expected_out: int
    notional_lamports: int


class LiveVenue:
    """Send the kernel's orders to Solana, one `submit` per intent (many may run at once).

    Parameters
    ----------
    rpc : RpcClient
        An open client (``async with RpcClient(cfg) as rpc``).
    wallet : WalletKey
        From `load_wallet`: the file was checked before anything else.
    routes : mapping of int to PoolRoute
        Pool id -> how to trade it.
    guards : Guards
    journal : DecisionJournal
    mode : SendMode
        From `resolve_send_mode`; DRY_RUN sends nothing.
    cfg : LiveConfig
    ledger : Ledger, optional
        What the kernel believes the wallet holds; None adopts the chain's balances at `start`.
    sender : TxSender, optional
        An open send path to every endpoint at once; default: ``sendTransaction`` through ``rpc``.
    """

    def __init__(self, rpc: RpcClient, wallet: WalletKey, routes: Mapping[int, PoolRoute], guards: Guards,
                 journal: DecisionJournal, *, mode: SendMode, cfg: LiveConfig | None = None,
                 ledger: Ledger | None = None, metrics: GuardMetrics | None = None,
                 clock_ns: Callable[[], int] = time.time_ns, sender: TxSender | None = None) -> None:
        self.rpc = rpc
        self.wallet = wallet
        self.owner = str(wallet.pubkey)
        self.routes = dict(routes)
        self.guards = guards
        self.journal = journal
        self.mode = mode
        self.cfg = cfg if cfg is not None else LiveConfig()
        self.ledger = ledger
        self.metrics = metrics if metrics is not None else GuardMetrics()
        self.clock_ns = clock_ns
        self.halted: str | None = None
        self.sent_orders: set[int] = set()
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._open = asyncio.Event()
        self._open.set()
        self._alts: dict[str, AddressLookupTableAccount] = {}
        self._hash: tuple[float, Hash, int] | None = None  # (fetched at, blockhash, last valid block height)
        self._hash_lock = asyncio.Lock()
        self.confirmer = Confirmer(rpc, poll_interval_ms=self.cfg.poll_interval_ms,
                                   resend_interval_ms=self.cfg.resend_interval_ms,
                                   max_confirm_ms=self.cfg.max_confirm_ms, commitment=self.cfg.commitment,
                                   send=None if sender is None else sender.send, on_event=self._on_confirm_event)

    # ------------------------------------------------------------------ start and reconciliation

    async def start(self) -> None:
        """Reconcile the ledger with the chain before the first order (adopt the chain's when no ledger)."""
        self.journal.write("start", mode=self.mode.value, wallet=self.owner)
        if self.ledger is None:
            lamports, tokens = await self.chain_balances()
            self.ledger = Ledger(lamports, tokens)
            self.journal.write("reconcile", allowed=True, reason="ledger adopted from chain", lamports=lamports,
                               tokens=tokens)
            return
        await self.reconcile()

    async def chain_balances(self) -> tuple[int, dict[str, int]]:
        """Return the wallet's lamports and raw token amounts per mint, as the chain has them."""
        bal, accounts = await asyncio.gather(
            self.rpc.call("getBalance", [self.owner, {"commitment": self.cfg.commitment}]),
            self.rpc.call("getTokenAccountsByOwner", [self.owner, {"programId": TOKEN_PROGRAM},
                                                      {"encoding": "base64", "commitment": self.cfg.commitment}]))
        tokens: dict[str, int] = {}
        for acc in accounts["value"]:
            data = base64.b64decode(acc["account"]["data"][0])
            mint = str(Pubkey.from_bytes(data[:32]))
            tokens[mint] = tokens.get(mint, 0) + _token_amount(data)
        return bal["value"], {m: v for m, v in tokens.items() if v}

    async def reconcile(self) -> None:
        """Compare the chain with the ledger (orders paused until those in flight finish); halt on a mismatch.

        Raises
        ------
        ReconcileError
            With each differing item: lamports or mint, ledger amount, chain amount.
        """
        self._open.clear()
        try:
            await self._quiet.wait()
            lamports, tokens = await self.chain_balances()
        finally:
            self._open.set()
        assert self.ledger is not None
        diffs = []
        if lamports != self.ledger.lamports:
            diffs.append(f"SOL lamports: ledger {self.ledger.lamports:,}, chain {lamports:,}")
        for mint in sorted(set(tokens) | set(self.ledger.tokens)):
            a, b = self.ledger.tokens.get(mint, 0), tokens.get(mint, 0)
            if a != b:
                diffs.append(f"mint {mint}: ledger {a:,}, chain {b:,}")
        self.metrics.events["reconcile_ok" if not diffs else "reconcile_mismatch"] += 1
        if diffs:
            reason = "reconciliation mismatch, trading stopped: " + "; ".join(diffs)
            self.halted = reason
            self.journal.write("reconcile", guard="reconcile", allowed=False, reason=reason)
            raise ReconcileError(reason + ". Hint: find the transaction that moved these balances "
                                 "(getSignaturesForAddress) and restart with a corrected ledger")
        self.journal.write("reconcile", guard="reconcile", allowed=True, reason="ledger equals chain")

    async def run_reconciler(self, interval_s: float, stop: asyncio.Event) -> None:
        """Reconcile every ``interval_s`` seconds until ``stop`` is set or a mismatch halts trading."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                try:
                    await self.reconcile()
                except ReconcileError:
                    return

    # ------------------------------------------------------------------ one order

    def _refuse(self, intent: LiveIntent, outcome: str, reason: str, **kw: Any) -> LiveResult:
        self.metrics.events[outcome] += 1
        return LiveResult(order_id=intent.order_id, pool_id=intent.pool_id, side=intent.side, outcome=outcome,
                          fill_status=FillStatus.CANCELLED, reason=reason, ts_ns=self.clock_ns(), **kw)

    async def submit(self, intent: LiveIntent) -> LiveResult:
        """Take one order through guards, build, simulate, send, confirm and fetch; never raises for the order."""
        await self._open.wait()
        self._in_flight += 1
        self._quiet.clear()
        try:
            return await self._submit(intent)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._quiet.set()

    async def _submit(self, intent: LiveIntent) -> LiveResult:
        oid = intent.order_id
        if self.halted is not None:
            self.journal.write("refused", order_id=oid, guard="halted", allowed=False, reason=self.halted)
            return self._refuse(intent, "refused", self.halted)
        if oid in self.sent_orders:
            reason = f"order {oid} was already sent; an order is sent once"
            self.journal.write("refused", order_id=oid, guard="duplicate_order", allowed=False, reason=reason)
            return self._refuse(intent, "refused", reason)
        kill = self.guards.kill_reason()  # before any RPC: the kill switch stops new orders at once
        if kill is not None:
            self._journal_guard(oid, "kill_switch", False, kill)
            return self._refuse(intent, "refused", kill)
        route = self.routes.get(intent.pool_id)
        if route is None:
            reason = f"no live route for pool id {intent.pool_id}; Hint: add a PoolRoute for it"
            self.journal.write("refused", order_id=oid, guard="route", allowed=False, reason=reason)
            return self._refuse(intent, "refused", reason)
        t0 = time.perf_counter_ns()
        try:
            accounts, (blockhash, last_valid) = await asyncio.gather(self._pool_accounts(route, intent.side),
                                                                     self._blockhash())
            t0 = time.perf_counter_ns()  # the latency below excludes the RPC reads
            built = self.build(route, intent, accounts)
        except (RpcError, ShoalError, ValueError) as e:
            self.journal.write("refused", order_id=oid, guard="build", allowed=False, reason=str(e))
            return self._refuse(intent, "refused", f"could not build the order: {e}")
        programs = {str(ix.program_id) for ix in built.instructions} | {
            "ComputeBudget111111111111111111111111111111"}
        if intent.tip_lamports > 0:
            programs.add("11111111111111111111111111111111")
        decisions = self.guards.check(mints=built.mints, programs=programs, slippage_bps=intent.slippage_bps,
                                      notional_lamports=built.notional_lamports, ts_ns=self.clock_ns())
        for d in decisions:
            self._journal_guard(oid, d.guard, d.allowed, d.reason)
        if not decisions[-1].allowed:
            return self._refuse(intent, "refused", f"{decisions[-1].guard}: {decisions[-1].reason}")
        tables = await self._lookup_tables(route) if route.lookup_tables else []
        tip_account = pk(self.cfg.tip_account) if self.cfg.tip_account is not None else None
        message = assemble(self.wallet.pubkey, built.instructions, blockhash, cu_limit=intent.cu_limit,
                           cu_price_micro_lamports=intent.cu_price_micro_lamports, tip_account=tip_account,
                           tip_lamports=intent.tip_lamports, lookup_tables=tables)
        tx = self.wallet.sign(message)
        sign_ns = time.perf_counter_ns() - t0
        signature = str(tx.signatures[0])
        raw = base64.b64encode(bytes(tx)).decode()
        common = {"signature": signature, "min_out_raw": built.min_out, "sign_latency_ns": sign_ns}

        # simulate
        try:
            sim = await self.rpc.call("simulateTransaction", [raw, {"encoding": "base64", "sigVerify": True,
                                                                     "commitment": self.cfg.commitment}])
        except RpcError as e:
            self._journal_guard(oid, "simulation", False, f"simulateTransaction failed: {e}", signature=signature)
            return self._refuse(intent, "refused", f"simulation: {e}", **common)
        value = sim["value"]
        units = int(value.get("unitsConsumed") or 0)
        if value.get("err") is not None:
            reason = f"simulation failed: {value['err']}"
            self._journal_guard(oid, "simulation", False, reason, signature=signature, logs=value.get("logs"))
            return self._refuse(intent, "refused", reason, units_consumed=units, **common)
        if units > intent.cu_limit:
            reason = f"simulation used {units:,} compute units, above the limit {intent.cu_limit:,}"
            self._journal_guard(oid, "compute_limit", False, reason, signature=signature)
            return self._refuse(intent, "refused", reason, units_consumed=units, **common)
        self._journal_guard(oid, "simulation", True, f"ok, {units:,} compute units", signature=signature)
        if self.mode is SendMode.DRY_RUN:
            self.journal.write("dry_run", order_id=oid, signature=signature, min_out_raw=built.min_out,
                               expected_out_raw=built.expected_out, notional_lamports=built.notional_lamports,
                               tx_bytes=len(bytes(tx)))
            return self._refuse(intent, "dry_run", "dry run: built and simulated, not sent", units_consumed=units,
                                **common)

        # send and confirm
        self.guards.commit(built.notional_lamports)
        self.sent_orders.add(oid)
        self.journal.write("send", order_id=oid, signature=signature, last_valid_block_height=last_valid,
                           min_out_raw=built.min_out)
        self.metrics.events["sent"] += 1
        status = await self.confirmer.confirm(oid, raw, signature, last_valid)
        if status is Confirmation.EXPIRED:
            self._hash = None  # that blockhash is dead: the next order fetches a new one
            self.journal.write("expired", order_id=oid, signature=signature,
                               reason="blockhash expired before the transaction landed")
            return self._refuse(intent, "expired", "not landed before its blockhash expired; nothing paid",
                                units_consumed=units, **common)
        if status is Confirmation.UNKNOWN:
            reason = (f"could not learn whether {signature} landed (RPC unavailable); trading stopped until a "
                      "reconciliation")
            self.halted = reason
            self.journal.write("unknown", order_id=oid, signature=signature, reason=reason)
            return self._refuse(intent, "unknown", reason, **common)
        return await self._settle(intent, route, signature, built, units, sign_ns)

    def _journal_guard(self, oid: int, guard: str, allowed: bool, reason: str, **detail: Any) -> None:
        self.metrics.count(GuardDecision(allowed, guard, reason))
        self.journal.write("guard", order_id=oid, guard=guard, allowed=allowed, reason=reason, **detail)

    def _on_confirm_event(self, kind: str, oid: int, signature: str, **detail: Any) -> None:
        self.metrics.events["resent" if kind == "resend" else kind] += 1
        self.journal.write(kind, order_id=oid, signature=signature, **detail)

    async def _blockhash(self) -> tuple[Hash, int]:
        """A recent blockhash and its last valid block height, fetched at most every ``blockhash_max_age_ms``."""
        async with self._hash_lock:  # orders arriving together share one fetch
            now = time.monotonic()
            if self._hash is None or now - self._hash[0] > self.cfg.blockhash_max_age_ms / 1000:
                r = await self.rpc.call("getLatestBlockhash", [{"commitment": self.cfg.commitment}])
                self._hash = (now, Hash.from_string(r["value"]["blockhash"]), int(r["value"]["lastValidBlockHeight"]))
            return self._hash[1], self._hash[2]

    async def _lookup_tables(self, route: PoolRoute) -> list[AddressLookupTableAccount]:
        out = []
        for key in route.lookup_tables:
            if key not in self._alts:
                r = await self.rpc.call("getAccountInfo", [key, {"encoding": "base64"}])
                table = AddressLookupTable.deserialize(_account_data(r["value"], f"lookup table {key}"))
                self._alts[key] = AddressLookupTableAccount(pk(key), list(table.addresses))
            out.append(self._alts[key])
        return out

    async def _pool_accounts(self, route: PoolRoute, side: Side) -> list[bytes | None]:
        """The pool's account data; for a Whirlpool, the pool then its three tick arrays (None where absent)."""
        if route.venue is Venue.RAYDIUM_AMM_V4:
            keys = [route.amm_v4.amm, route.amm_v4.coin_vault, route.amm_v4.pc_vault]
        elif route.venue is Venue.RAYDIUM_CPMM:
            keys = [route.cpmm.pool_state, route.cpmm.token_0_vault, route.cpmm.token_1_vault]
        elif route.venue is Venue.ORCA_WHIRLPOOL:
            keys = [route.whirlpool.whirlpool]
        else:
            keys = [str(pumpfun_bonding_curve_address(route.base_mint))]
        out: list[bytes | None] = [_account_data(v, f"account {k}") for k, v in zip(keys, await self._accounts(keys),
                                                                                    strict=True)]
        if route.venue is Venue.ORCA_WHIRLPOOL:
            pool = decode_whirlpool(out[0])
            mint_in = route.quote_mint if side == Side.BUY else route.base_mint
            a_to_b = mint_in == pool.token_mint_a
            arrays = _tick_array_keys(route.whirlpool, pool.tick_current_index, a_to_b)
            out += [None if v is None else base64.b64decode(v["data"][0]) for v in await self._accounts(arrays)]
        return out

    async def _accounts(self, keys: list[str]) -> list[dict | None]:
        r = await self.rpc.call("getMultipleAccounts",
                                [keys, {"encoding": "base64", "commitment": self.cfg.commitment}])
        return r["value"]

    # ------------------------------------------------------------------ building (no I/O)

    def build(self, route: PoolRoute, intent: LiveIntent, accounts: Sequence[bytes]) -> _Built:
        """Return the instructions, ``min_out`` and notional of one order from its pool's account data."""
        owner = self.wallet.pubkey
        buy = intent.side == Side.BUY
        mint_in, mint_out = (route.quote_mint, route.base_mint) if buy else (route.base_mint, route.quote_mint)
        if route.venue is Venue.PUMPFUN:
            curve = decode_pumpfun_bonding_curve(accounts[0])
            if curve.complete:
                msg = f"the Pump.fun curve of {route.base_mint} is complete (migrated); trade the AMM pool"
                raise ShoalError(msg)
            creator = curve.creator if route.pump_era != PumpfunEra.LEGACY else None
            keys = pumpfun_keys(route.base_mint, owner, route.pump_fee_recipient, era=route.pump_era,
                                creator=creator)
            fee = {"fee_bps": route.pump_fee_bps, "creator_fee_bps": route.pump_creator_fee_bps,
                   "fee_round_up": route.pump_fee_round_up}
            if buy:
                q = curve_buy_quote(intent.amount_in_raw, curve.virtual_sol_reserves, curve.virtual_token_reserves,
                                    intent.slippage_bps, real_token=curve.real_token_reserves, **fee)
                ixs = [create_ata_idempotent(owner, owner, route.base_mint),
                       pumpfun_buy(keys, q.token_amount, q.max_sol_cost)]
                return _Built(ixs, (route.base_mint,), q.token_amount, q.token_amount, q.max_sol_cost)
            q = curve_sell_quote(intent.amount_in_raw, curve.virtual_sol_reserves, curve.virtual_token_reserves,
                                 intent.slippage_bps, **fee)
            return _Built([pumpfun_sell(keys, intent.amount_in_raw, q.min_out)], (route.base_mint,), q.min_out,
                          q.expected_out, q.expected_out)

        if route.venue is Venue.ORCA_WHIRLPOOL:
            swap, q = _whirlpool_swap(route, intent, accounts, owner, mint_in)
        elif route.venue is Venue.RAYDIUM_AMM_V4:
            vault_a, vault_b = _token_amount(accounts[1]), _token_amount(accounts[2])
            info = decode_raydium_amm_v4(accounts[0])
            coin, pc = info.reserves(vault_a, vault_b)
            in_is_coin = mint_in == info.coin_vault_mint
            if not in_is_coin and mint_in != info.pc_vault_mint:
                msg = f"mint {mint_in} is neither side of AMM v4 pool {route.amm_v4.amm}"
                raise ShoalError(msg)
            r_in, r_out = (coin, pc) if in_is_coin else (pc, coin)
            q = cpmm_quote(intent.amount_in_raw, r_in, r_out, info.swap_fee_numerator, info.swap_fee_denominator,
                           intent.slippage_bps)
            swap = raydium_amm_v4_swap_base_in(route.amm_v4, associated_token_address(owner, mint_in),
                                               associated_token_address(owner, mint_out), owner,
                                               intent.amount_in_raw, q.min_out)
        else:
            pool = decode_raydium_cpmm(accounts[0])
            r0, r1 = pool.reserves(_token_amount(accounts[1]), _token_amount(accounts[2]))
            zero_for_one = mint_in == pool.token_0_mint
            r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
            q = cpmm_quote(intent.amount_in_raw, r_in, r_out, route.cpmm_trade_fee_rate, 1_000_000,
                           intent.slippage_bps)
            swap = raydium_cpmm_swap_base_input(route.cpmm, owner, associated_token_address(owner, mint_in),
                                                associated_token_address(owner, mint_out),
                                                zero_for_one=zero_for_one, amount_in=intent.amount_in_raw,
                                                min_out=q.min_out)
        ixs: list[Instruction] = []
        if mint_in == WSOL_MINT:
            ixs += wrap_sol(owner, intent.amount_in_raw)
        ixs += [create_ata_idempotent(owner, owner, mint_out), swap]
        if WSOL_MINT in (mint_in, mint_out):
            ixs.append(close_account(associated_token_address(owner, WSOL_MINT), owner, owner))
        notional = intent.amount_in_raw if mint_in == WSOL_MINT else q.expected_out if mint_out == WSOL_MINT else 0
        return _Built(ixs, tuple(m for m in (mint_in, mint_out) if m != WSOL_MINT), q.min_out, q.expected_out,
                      notional)

    # ------------------------------------------------------------------ settlement

    async def _settle(self, intent: LiveIntent, route: PoolRoute, signature: str, built: _Built, units: int,
                      sign_ns: int) -> LiveResult:
        params = [signature, {"encoding": "json", "maxSupportedTransactionVersion": 0,
                              "commitment": self.cfg.commitment}]
        try:
            doc = await self.rpc.call_until_found("getTransaction", params, tries=self.cfg.fetch_tries)
        except RpcError as e:
            doc, err = None, str(e)
        else:
            err = "the node returned null"
        if doc is None:
            reason = f"{signature} confirmed but its transaction could not be fetched ({err}); trading stopped"
            self.halted = reason
            self.journal.write("unknown", order_id=intent.order_id, signature=signature, reason=reason)
            return self._refuse(intent, "unknown", reason, signature=signature)
        try:
            parsed = parse_transaction(doc, where=signature)
        except TxParseError as e:
            reason = f"the confirmed transaction could not be parsed: {e}; trading stopped"
            self.halted = reason
            self.journal.write("unknown", order_id=intent.order_id, signature=signature, reason=reason)
            return self._refuse(intent, "unknown", reason, signature=signature)
        lamports, tokens = ledger_deltas(doc, self.owner)
        if self.ledger is not None:
            self.ledger.apply(lamports, tokens)
        ts_ns = parsed.block_time * 10**9 if parsed.block_time is not None else self.clock_ns()
        base = {"order_id": intent.order_id, "pool_id": intent.pool_id, "side": intent.side,
                "signature": signature, "slot": parsed.slot, "ts_ns": ts_ns, "min_out_raw": built.min_out,
                "fee_lamports": parsed.fee_lamports, "tip_lamports": intent.tip_lamports, "units_consumed": units,
                "sign_latency_ns": sign_ns}
        if parsed.status != "success":
            meta_err = doc["meta"]["err"]
            status = _failure_status(meta_err)
            reason = f"transaction failed on chain: {meta_err}; fee {parsed.fee_lamports:,} lamports paid"
            self.metrics.events["failed"] += 1
            self.journal.write("failed", order_id=intent.order_id, signature=signature, reason=reason,
                               fill_status=status.name, fee_lamports=parsed.fee_lamports)
            return LiveResult(outcome="failed", fill_status=status, reason=reason, **base)
        swap = next((s for s in parsed.swaps if s.owner == self.owner), None)
        if swap is None:
            reason = "the transaction landed but shows no swap for our wallet"
            self.metrics.events["failed"] += 1
            self.journal.write("failed", order_id=intent.order_id, signature=signature, reason=reason)
            return LiveResult(outcome="failed", fill_status=FillStatus.NO_LIQUIDITY, reason=reason, **base)
        self.metrics.events["filled"] += 1
        self.journal.write("filled", order_id=intent.order_id, signature=signature, slot=parsed.slot,
                           amount_in_raw=swap.amount_in, amount_out_raw=swap.amount_out,
                           fee_lamports=parsed.fee_lamports, mint_in=swap.mint_in, mint_out=swap.mint_out)
        return LiveResult(outcome="filled", fill_status=FillStatus.FILLED, reason="filled",
                          amount_in_raw=swap.amount_in, amount_out_raw=swap.amount_out, **base)


def _tick_array_keys(keys: WhirlpoolKeys, tick_current: int, a_to_b: bool) -> list[str]:
    return [str(whirlpool_tick_array_address(keys.whirlpool, start))
            for start in whirlpool_tick_array_starts(tick_current, keys.tick_spacing, a_to_b)]


def _whirlpool_swap(route: PoolRoute, intent: LiveIntent, accounts: Sequence[bytes | None], owner: Pubkey,
                    mint_in: str) -> tuple[Instruction, SwapQuote]:
    """Quote an exact-in Whirlpool swap over the tick arrays that exist and build its instruction.

    The quote (and the instruction's price limit) stops at the far edge of the last array in the
    sequence that exists; an amount that would need more is refused rather than left to fail.
    """
    keys = route.whirlpool
    pool = decode_whirlpool(accounts[0])
    a_to_b = mint_in == pool.token_mint_a
    if not a_to_b and mint_in != pool.token_mint_b:
        msg = f"mint {mint_in} is neither side of Whirlpool {keys.whirlpool}"
        raise ShoalError(msg)
    names = _tick_array_keys(keys, pool.tick_current_index, a_to_b)
    present = [k for k, data in zip(names, accounts[1:], strict=True) if data is not None]
    if not present or accounts[1] is None:
        msg = (f"the tick array holding Whirlpool {keys.whirlpool}'s current tick {pool.tick_current_index} does not "
               "exist; nothing can be swapped there")
        raise ShoalError(msg)
    n_present = next((i for i, data in enumerate(accounts[1:]) if data is None), 3)
    span = keys.tick_spacing * WHIRLPOOL_TICKS_PER_ARRAY
    ticks: list[tuple[int, int]] = []
    starts = []
    for data in accounts[1:1 + n_present]:
        arr = decode_whirlpool_tick_array(data)
        starts.append(arr.start_tick_index)
        ticks += [(t.tick_index(arr.start_tick_index, keys.tick_spacing), t.liquidity_net) for t in arr.initialized()]
        ticks += [(max(arr.start_tick_index, MIN_TICK), 0),  # the program stops at each array's edges
                  (min(arr.start_tick_index + span, MAX_TICK), 0)]
    edge = max(starts[-1], MIN_TICK) if a_to_b else min(starts[-1] + span, MAX_TICK)
    limit = max(sqrt_price_from_tick(edge), MIN_SQRT_PRICE_X64) if a_to_b else \
        min(sqrt_price_from_tick(edge), MAX_SQRT_PRICE_X64)
    quote = clmm_exact_in(intent.amount_in_raw, a_to_b, pool.sqrt_price_x64, pool.tick_current_index,
                          pool.liquidity, pool.fee_rate, ticks, sqrt_price_limit_x64=limit)
    if quote.amount_in < intent.amount_in_raw:
        msg = (f"{intent.amount_in_raw:,} in would walk past the {n_present} tick array(s) of Whirlpool "
               f"{keys.whirlpool} (only {quote.amount_in:,} fit); Hint: trade less at once")
        raise ShoalError(msg)
    min_out = min_out_with_slippage(quote.amount_out, intent.slippage_bps)
    arrays = [*present, *[present[-1]] * (3 - len(present))]  # the SDK repeats the last one
    ix = orca_whirlpool_swap(keys, owner, associated_token_address(owner, pool.token_mint_a),
                             associated_token_address(owner, pool.token_mint_b), arrays, amount=intent.amount_in_raw,
                             other_amount_threshold=min_out, sqrt_price_limit_x64=limit,
                             amount_specified_is_input=True, a_to_b=a_to_b)
    return ix, SwapQuote(intent.amount_in_raw, quote.amount_out, min_out)


def _failure_status(err: Any) -> FillStatus:
    """Map a transaction error to the kernel's status (slippage, funds, anything else)."""
    if isinstance(err, dict) and "InstructionError" in err:
        detail = err["InstructionError"][1]
        if isinstance(detail, dict) and detail.get("Custom") in SLIPPAGE_ERROR_CODES:
            return FillStatus.BELOW_MIN_OUT
        if detail == "InsufficientFunds" or (isinstance(detail, dict) and detail.get("Custom") == 1):
            return FillStatus.NO_FUNDS  # SPL Token error 1: insufficient funds
    if err == "InsufficientFundsForFee" or err == "InsufficientFundsForRent":
        return FillStatus.NO_FUNDS
    return FillStatus.NO_LIQUIDITY
