"""A live session: the paper runner's loop, with every order the strategy decides sent to the live venue.

Per feed chunk the kernel runs (`engine.exec.runner.Runner`, the backtest kernel); each order it
decided since the last chunk becomes a `LiveIntent` (`OrderTap`) and goes to `LiveVenue.submit`
as a task of its own, so the feed never waits for a confirmation. Orders on one pool go in
decision order (a lock per pool): a sell follows the buy it closes. The venue's guards, dry run,
simulation, signing, confirmation and reconciliation apply to each (see `engine.exec.live.venue`).

**Whose fills.** Sending (``SendMode.LIVE``), the kernel runs with external fills
(``SimConfig.fills = "external"``) and starts from the wallet's SOL (`WalletBalances.sol_value`):
an order stays pending until its result comes back, as an ``OWN_FILL`` row (`own_fill_row`)
placed into the next feed chunk before its first event of a new slot (`insert_reports`). Fills,
failures with their fees, and orders that never left (refused, expired: ``CANCELLED``, nothing
paid) settle there, so the kernel's ledger is the wallet's, and the strategy's ``on_fill`` sees
real fills. In dry run nothing comes back: the kernel's own fill model keeps a shadow ledger.

**Journal.** Every chunk the kernel ran, ``OWN_FILL`` rows included, is journaled as tape
segments of the run's journal (`engine.store.journal.Journal`: ``<lake>/journal/<run_id>/tape/``)
every ``journal_every_s`` and at the end: running that tape through the kernel again gives the
session's ledger bit for bit.

**Kernel reconciliation** (sending only): when no order is in flight and every result is booked
(at most every ``reconcile_every_s``, and at the end), the kernel's cash must equal the wallet's
SOL value (native lamports plus the lamports of its token accounts: rent a new token account
took is still the wallet's) and each token holding the change of that mint's balance since the
start; a difference halts trading (``halted`` names each amount). The venue's own ledger is
reconciled as before.

What an order sends: the first hop's pool, side and input amount (integer base units), the
session's slippage bound and compute-unit limit, and the strategy's priority fee in lamports
kept as it decided it (price = lamports * 1e6 / limit). Multi-hop routes and bar or
prediction-market orders are refused and journaled: the venue builds one swap per transaction.

The session writes ``<lake>/live/<run_id>/``: ``session.json`` (strategy, parameters, feed,
mode, wallet public key, guard limits), ``decisions.jsonl`` (every guard decision, simulation,
send and outcome; copied into the catalog table ``live_decisions`` at the end) and
``own_fills.parquet`` (the ``OWN_FILL`` rows: each landed order's amounts, fee and signature).
The kill switch is a file (``kill_switch_path``) and, with ``kill_port``, ``POST /kill`` on
127.0.0.1; metrics (``metrics_port``) are served as the paper session serves them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
from solders.pubkey import Pubkey

from engine.errors import ConfigError
from engine.exec.live.guards import GuardConfig, Guards, KillSwitch, KillSwitchServer, SendMode, WalletKey
from engine.exec.live.journal import DecisionJournal, load_into_catalog
from engine.exec.live.metrics import LiveMetrics
from engine.exec.live.routes import PoolListing, RouteError, RouteResolver
from engine.exec.live.sender import TxSender
from engine.exec.live.tx import BPS
from engine.exec.live.venue import LiveConfig, LiveIntent, LiveResult, LiveVenue, ReconcileError
from engine.exec.metrics import MetricsServer
from engine.exec.paper import build_feed
from engine.exec.runner import ChunkKernel, Runner
from engine.feeds.guard import FeedGuard
from engine.feeds.programs import TOKEN_PROGRAM, WSOL_MINT
from engine.feeds.rpc import RpcClient, RpcConfig, RpcError
from engine.layout import (
    FILL_AMOUNT_IN,
    FILL_AMOUNT_OUT,
    FILL_FEE_LAMPORTS,
    FILL_ORDER_ID,
    FILL_TIP_LAMPORTS,
    N_VALS,
    EventKind,
    Side,
)
from engine.schema import Reason, Tape
from engine.sim.config import SimConfig
from engine.sim.market import Market
from engine.sim.records import ACC_CASH, ACC_N_FILLS, ACC_N_ORDERS, FillStatus, HopKind
from engine.sim.runner import Capacity, SimState
from engine.sim.strategy import Strategy
from engine.store.journal import Journal
from engine.store.lake import QUARANTINE_SCHEMA, Lake

__all__ = ["LIVE_DIR", "LiveOutcome", "LiveSession", "OrderTap", "OwnFill", "SessionConfig", "WalletBalances",
           "compare_ledger", "insert_reports", "own_fill_row", "wallet_balances"]

LIVE_DIR = "live"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """How a live session turns decisions into orders and watches itself.

    Parameters
    ----------
    slippage_bps : int
        Slippage bound of every order (the guards cap it).
    cu_limit : int
        Compute-unit limit of every transaction (simulation refuses an order that needs more).
    reconcile_every_s : float
        Seconds between reconciliations of the ledger with the chain.
    journal_every_s : float
        Seconds between tape segments of the journal.
    stall_timeout_s : float
        Seconds of feed silence that count as a stall.
    kill_port, metrics_port : int, optional
        Serve ``/kill`` and ``/metrics`` + ``/health`` on 127.0.0.1 (0: any free port).
    max_fills, max_pending, max_holdings : int
        Buffers of the shadow kernel.
    """

    slippage_bps: int = 100
    cu_limit: int = 200_000
    reconcile_every_s: float = 60.0
    journal_every_s: float = 1.0
    stall_timeout_s: float = 10.0
    kill_port: int | None = None
    metrics_port: int | None = None
    max_fills: int = 65_536
    max_pending: int = 64
    max_holdings: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.slippage_bps < BPS or not 0 < self.cu_limit <= 1_400_000:
            msg = (f"need 0 <= slippage_bps < 10,000 and 0 < cu_limit <= 1,400,000; were {self.slippage_bps} and "
                   f"{self.cu_limit}")
            raise ConfigError(msg)
        if not (self.reconcile_every_s > 0 and self.stall_timeout_s > 0 and self.journal_every_s > 0):
            msg = (f"reconcile_every_s, journal_every_s and stall_timeout_s must be > 0, were "
                   f"{self.reconcile_every_s}, {self.journal_every_s} and {self.stall_timeout_s}")
            raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class LiveOutcome:
    """How a live session ended and what became of its orders."""

    run_id: str
    mode: str
    status: str  # completed, stopped, halted
    n_events: int
    n_orders: int
    outcomes: dict[str, int]
    halted: str | None
    folder: str
    seconds: float
    kill_url: str | None = None
    metrics_url: str | None = None
    results: list[LiveResult] = field(default_factory=list)
    ledger: dict | None = None  # the last kernel-vs-chain reconciliation (sending only)


class OrderTap:
    """The orders parameter row 0 decided since the last look, as `LiveIntent`s (each once).

    Order ids count up from 0 per row. A new order is either still pending (``state.pending``)
    or already landed in the shadow kernel (``state.fills``, when it was decided and landed in
    one chunk); both hold its pool, side and amount.
    """

    def __init__(self, session: SessionConfig) -> None:
        self.session = session
        self.next_order = 0
        self.next_fill = 0

    def take(self, state: SimState) -> tuple[list[LiveIntent], list[LiveResult]]:
        """New orders: intents for the venue, and a ``refused`` result for each one it cannot send."""
        n_orders = int(state.acc[0, ACC_N_ORDERS])
        n_fills = int(state.acc[0, ACC_N_FILLS])
        found: dict[int, tuple] = {}
        pend = state.pending[0]
        for rec in pend[(pend["active"] == 1) & (pend["order_id"] >= self.next_order)]:
            fee = -(-float(rec["cu_limit"]) * float(rec["cu_price_micro_lamports"]) // 1e6)
            found[int(rec["order_id"])] = (rec["n_hops"], rec["hop_kind"], rec["pool"][0], rec["side"][0],
                                           rec["amount_in_raw"], fee, rec["tip_lamports"])
        for rec in state.fills[0, self.next_fill:n_fills]:
            oid = int(rec["order_id"])
            if oid >= self.next_order:
                found.setdefault(oid, (rec["n_hops"], rec["hop_kind"], rec["pool"][0], rec["side"][0],
                                       rec["amount_in_raw"], rec["fee_priority"], rec["tip"]))
        self.next_fill = n_fills
        intents, refused = [], []
        for oid in range(self.next_order, n_orders):
            if oid not in found:  # decided and cancelled within the chunk: nothing was asked of the venue
                continue
            n_hops, hop_kind, pool, side, amount, priority_lamports, tip = found[oid]
            if int(hop_kind) != HopKind.POOL or int(n_hops) != 1:
                refused.append(LiveResult(order_id=oid, pool_id=int(pool), side=Side(int(side)), outcome="refused",
                                          fill_status=FillStatus.CANCELLED,
                                          reason=f"order {oid}: {int(n_hops)}-hop {HopKind(int(hop_kind)).name} "
                                                 "order; the live venue sends one pool swap per transaction"))
                continue
            price = int(float(priority_lamports) * 1e6 // self.session.cu_limit)
            intents.append(LiveIntent(order_id=oid, pool_id=int(pool), side=Side(int(side)),
                                      amount_in_raw=round(float(amount)), slippage_bps=self.session.slippage_bps,
                                      cu_limit=self.session.cu_limit, cu_price_micro_lamports=price,
                                      tip_lamports=round(float(tip))))
        self.next_order = n_orders
        return intents, refused


@dataclass(frozen=True, slots=True)
class OwnFill:
    """One ``OWN_FILL`` row for the kernel (see `engine.layout`): what became of one order."""

    order_id: int
    pool_id: int
    mint_id: int
    side: int
    status: int
    amount_in_raw: int
    amount_out_raw: int
    fee_lamports: int
    tip_lamports: int


def own_fill_row(result: LiveResult, market: Market) -> OwnFill | None:
    """The ``OWN_FILL`` row of an order's result, in the kernel's terms; None when it is not known (``unknown``).

    The transaction parser counts SOL a signer paid as a tip into the swap's SOL leg
    (`engine.feeds.solana_tx`), so a filled buy of a SOL-quoted pool reports the tip in its
    input and a sell takes it off its output; the row gives the swap's own amounts and the tip
    apart, as the kernel books them. A tip is paid only when the transaction succeeds (a failed
    one is rolled back but its fee); an order that never landed pays nothing.
    """
    if result.outcome == "unknown":
        return None
    filled = result.fill_status == FillStatus.FILLED
    tip = result.tip_lamports if filled else 0
    amount_in, amount_out = result.amount_in_raw, result.amount_out_raw
    if tip and int(market.pool_quote[result.pool_id]) == market.cash_asset:
        if result.side == Side.BUY:
            amount_in -= tip
        else:
            amount_out += tip
    landed = result.signature is not None and result.slot >= 0
    return OwnFill(order_id=result.order_id, pool_id=result.pool_id, mint_id=int(market.pool_base[result.pool_id]),
                   side=int(result.side), status=int(result.fill_status), amount_in_raw=amount_in if filled else 0,
                   amount_out_raw=amount_out if filled else 0, fee_lamports=result.fee_lamports if landed else 0,
                   tip_lamports=tip)


def _reports_tape(rows: list[OwnFill], *, slot: int, ts_ns: int, seq0: int) -> Tape:
    n = len(rows)
    vals = np.zeros((n, N_VALS), dtype=np.float64)
    for col, name in ((FILL_AMOUNT_IN, "amount_in_raw"), (FILL_AMOUNT_OUT, "amount_out_raw"),
                      (FILL_FEE_LAMPORTS, "fee_lamports"), (FILL_ORDER_ID, "order_id"),
                      (FILL_TIP_LAMPORTS, "tip_lamports")):
        vals[:, col] = [getattr(r, name) for r in rows]
    return Tape.from_columns(slot=np.full(n, slot), seq=seq0 + np.arange(n), ts_ns=np.full(n, ts_ns),
                             kind=np.full(n, EventKind.OWN_FILL), pool_id=[r.pool_id for r in rows],
                             mint_id=[r.mint_id for r in rows], side=[r.side for r in rows],
                             flags=[r.status for r in rows], vals=vals)


def insert_reports(chunk: Tape, rows: list[OwnFill], last_slot: int | None) -> tuple[Tape, list[OwnFill]]:
    """Put ``rows`` into ``chunk`` just before its first event of a slot after ``last_slot``; return the rest.

    They take that event's slot and time, and ``seq`` values just below its own, so the chunk stays
    sorted by ``(slot, seq)`` and nothing the kernel already ran is revisited. A chunk that only
    continues ``last_slot`` takes none: the rows wait for the next one.
    """
    if not rows or chunk.n_events == 0:
        return chunk, rows
    j = 0 if last_slot is None else int(np.searchsorted(chunk.slot, last_slot, side="right"))
    if j == chunk.n_events:
        return chunk, rows
    reports = _reports_tape(rows, slot=int(chunk.slot[j]), ts_ns=int(chunk.ts_ns[j]),
                            seq0=min(int(chunk.seq[j]), 0) - len(rows))
    return Tape.concat([chunk.slice(0, j), reports, chunk.slice(j, chunk.n_events)], sort=False), []


@dataclass(frozen=True, slots=True)
class WalletBalances:
    """The wallet as the chain has it: native lamports, the lamports of its token accounts, raw tokens per mint."""

    lamports: int
    account_lamports: int  # rent of its token accounts, and wrapped SOL
    tokens: dict[str, int]

    @property
    def sol_value(self) -> int:
        """Every lamport the wallet controls: what the kernel's cash follows."""
        return self.lamports + self.account_lamports


async def wallet_balances(rpc: RpcClient, owner: str, *, commitment: str) -> WalletBalances:
    """Read `WalletBalances` (``getBalance`` and ``getTokenAccountsByOwner``)."""
    bal, accounts = await asyncio.gather(
        rpc.call("getBalance", [owner, {"commitment": commitment}]),
        rpc.call("getTokenAccountsByOwner", [owner, {"programId": TOKEN_PROGRAM},
                                             {"encoding": "base64", "commitment": commitment}]))
    tokens: dict[str, int] = {}
    rent = 0
    for acc in accounts["value"]:
        rent += int(acc["account"]["lamports"])
        data = base64.b64decode(acc["account"]["data"][0])
        mint = str(Pubkey.from_bytes(data[:32]))
        tokens[mint] = tokens.get(mint, 0) + int.from_bytes(data[64:72], "little")
    return WalletBalances(int(bal["value"]), rent, {m: v for m, v in tokens.items() if v})


def compare_ledger(state: SimState, mints: dict[int, str], start: WalletBalances,
                   now: WalletBalances) -> tuple[dict, list[str]]:
    """Compare parameter row 0's ledger with the chain; return a report and the differences (none: equal).

    Cash must equal the wallet's SOL value; a holding of a token, the change of that mint's balance
    since ``start`` (wrapped SOL counts as SOL, in the lamports of its account).
    """
    cash = round(float(state.acc[0, ACC_CASH]))
    diffs = []
    if cash != now.sol_value:
        diffs.append(f"SOL: kernel {cash:,} lamports, chain {now.sol_value:,} ({now.lamports:,} native + "
                     f"{now.account_lamports:,} in token accounts)")
    held = {}
    for rec in state.holdings[0]:
        if rec["asset"] >= 0:
            name = mints.get(int(rec["asset"]), f"asset {int(rec['asset'])}")
            held[name] = held.get(name, 0) + round(float(rec["qty_raw"]))
    tokens = {}
    for mint in sorted((set(now.tokens) | set(start.tokens) | set(held)) - {WSOL_MINT}):
        kernel, chain = held.get(mint, 0), now.tokens.get(mint, 0) - start.tokens.get(mint, 0)
        if kernel or chain:
            tokens[mint] = {"kernel": kernel, "chain": chain}
        if kernel != chain:
            diffs.append(f"mint {mint}: kernel {kernel:,}, chain change {chain:,}")
    report = {"equal": not diffs, "kernel_cash_lamports": cash, "chain_sol_lamports": now.sol_value,
              "chain_native_lamports": now.lamports, "tokens": tokens}
    return report, diffs


class LiveSession:
    """One live (or dry-run) session of one parameter set; `run` it to the end of its feed.

    Parameters
    ----------
    lake : Lake
        Where the session's folder and catalog rows go (and a replay's events come from).
    run_id : str
    strategy, params, cfg
        The strategy, its one parameter row and the kernel's fill and cost model (in dry run its
        fills are a shadow ledger; sending, the venue reports fills and the kernel's cash starts
        from the wallet's SOL).
    feed_spec : dict
        As for a paper session (`engine.exec.paper.build_feed`).
    market : Market
    listings : dict of int to PoolListing
        The registry's pools, for routing.
    wallet : WalletKey
        Checked by `load_wallet` before anything else.
    rpc : RpcConfig
    guards : GuardConfig
    venue : LiveConfig
    mode : SendMode
    session : SessionConfig
    meta : dict
        Recorded in ``session.json`` (the promotion that allows the run).
    """

    def __init__(self, lake: Lake, run_id: str, strategy: Strategy, params: np.ndarray, *, cfg: SimConfig,
                 feed_spec: dict, market: Market, listings: dict[int, PoolListing], wallet: WalletKey,
                 rpc: RpcConfig, guards: GuardConfig, venue: LiveConfig, mode: SendMode,
                 session: SessionConfig | None = None, meta: dict | None = None) -> None:
        if params.shape != (1,):
            msg = f"a live session trades one parameter set, was given {params.shape[0]} rows"
            raise ConfigError(msg)
        self.lake = lake
        self.run_id = run_id
        self.strategy = strategy
        self.params = params
        self.cfg = cfg
        self.feed_spec = feed_spec
        self.market = market
        self.listings = listings
        self.wallet = wallet
        self.rpc_cfg = rpc
        self.guard_cfg = guards
        self.venue_cfg = venue
        self.mode = mode
        self.session = session or SessionConfig()
        self.meta = meta or {}
        self.folder = lake.root / LIVE_DIR / run_id
        self.kill_switch = KillSwitch(guards.kill_switch_path)
        self.kill_url: str | None = None
        self.metrics_url: str | None = None
        self.runner: Runner | None = None  # the kernel and its state, once `run` has started it

    def config(self) -> dict:
        """What ``session.json`` records (public data only)."""
        guards = asdict(self.guard_cfg)
        guards["allowed_mints"] = sorted(guards["allowed_mints"])
        guards["allowed_programs"] = sorted(guards["allowed_programs"])
        return {"run_id": self.run_id, "strategy": self.strategy.name, "params": _params_row(self.params),
                "sim": self.cfg.to_dict(), "feed": self.feed_spec, "mode": self.mode.value,
                "wallet": str(self.wallet.pubkey), "guards": guards, "venue": asdict(self.venue_cfg),
                "session": asdict(self.session), **self.meta}

    def run(self, *, on_ready: Callable[[LiveSession], None] | None = None) -> LiveOutcome:
        """Run to the end of the feed (SIGINT stops it: orders in flight still confirm); blocking."""
        return asyncio.run(self.arun(on_ready=on_ready))

    async def arun(self, *, on_ready: Callable[[LiveSession], None] | None = None) -> LiveOutcome:
        t0 = time.perf_counter()
        if (self.folder / "session.json").exists():
            msg = f"live run {self.run_id!r} already exists in {str(self.lake.root)!r}; choose another --run-id"
            raise ConfigError(msg)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "session.json").write_text(json.dumps(self.config(), indent=2, default=str))
        sending = self.mode is SendMode.LIVE
        tap = OrderTap(self.session)
        journal = DecisionJournal(self.folder / "decisions.jsonl")
        tape = _TapeJournal(Journal(self.lake, self.run_id), self.session.journal_every_s)
        results: list[LiveResult] = []
        reports: list[OwnFill] = []  # results the kernel has not booked yet (sending only)
        runner: Runner | None = None
        start: WalletBalances | None = None
        ledger: dict | None = None
        status = "completed"

        def done(result: LiveResult) -> None:
            results.append(result)
            row = own_fill_row(result, self.market) if sending else None
            if row is not None:
                reports.append(row)

        async with RpcClient(self.rpc_cfg) as rpc, TxSender(self.rpc_cfg.endpoints) as sender:
            venue = LiveVenue(rpc, self.wallet, {}, Guards(self.guard_cfg, self.kill_switch), journal,
                              mode=self.mode, cfg=self.venue_cfg, sender=sender)
            resolver = RouteResolver(rpc, self.listings, commitment=self.venue_cfg.commitment)
            metrics = LiveMetrics(self.run_id, self.strategy.name, venue.metrics,
                                  halted=lambda: venue.halted is not None,
                                  killed=lambda: self.kill_switch.reason() is not None)
            kill_server = metrics_server = reconciler = None
            stop = asyncio.Event()
            tasks: set[asyncio.Task] = set()
            pool_locks: dict[int, asyncio.Lock] = {}
            try:
                await venue.start()
                if sending:
                    start = await wallet_balances(rpc, venue.owner, commitment=self.venue_cfg.commitment)
                runner = self.runner = Runner(self._kernel(start, journal))
                if self.session.kill_port is not None:
                    kill_server = KillSwitchServer(self.kill_switch, port=self.session.kill_port)
                    self.kill_url = f"http://127.0.0.1:{await kill_server.start()}/kill"
                if self.session.metrics_port is not None:
                    metrics_server = MetricsServer(metrics, self.session.metrics_port).start()
                    self.metrics_url = metrics_server.url
                reconciler = asyncio.create_task(venue.run_reconciler(self.session.reconcile_every_s, stop))
                guard = FeedGuard(build_feed(self.feed_spec, self.lake), stall_timeout_s=self.session.stall_timeout_s,
                                  on_quarantine=self._quarantine)
                metrics.health_status = "ok"
                metrics.up.set(1)
                if on_ready is not None:
                    on_ready(self)
                last_check = time.monotonic()
                async for chunk in guard:
                    arrival = time.perf_counter_ns()
                    chunk, reports[:] = insert_reports(chunk, reports, runner.last_slot)
                    step = runner.step(chunk)
                    tape.add(chunk)
                    metrics.events.inc(step.n_events)
                    metrics.chunks.inc()
                    metrics.latency.observe((time.perf_counter_ns() - arrival) / 1e9, step.n_events)
                    metrics.last_slot.set(runner.last_slot or 0)
                    if sending and not tasks and not reports and \
                            time.monotonic() - last_check >= self.session.reconcile_every_s:
                        ledger = await self._reconcile_kernel(rpc, venue, runner, start, journal) or ledger
                        last_check = time.monotonic()
                    if not step.orders:
                        continue
                    metrics.orders.inc(step.orders)
                    intents, refused = tap.take(runner.state)
                    for result in refused:
                        journal.write("refused", order_id=result.order_id, guard="route", allowed=False,
                                      reason=result.reason)
                        venue.metrics.events["refused"] += 1
                        done(result)
                    for intent in intents:
                        task = asyncio.create_task(self._order(venue, resolver, pool_locks, intent, metrics))
                        tasks.add(task)
                        task.add_done_callback(lambda t: (tasks.discard(t), done(t.result())))
            except (KeyboardInterrupt, asyncio.CancelledError):
                status = "stopped"
            finally:
                if tasks:  # sent orders confirm whatever happens to the feed
                    await asyncio.gather(*list(tasks), return_exceptions=True)
                if reports and runner is not None and runner.state is not None:  # results after the last chunk
                    tail = _reports_tape(reports, slot=runner.last_slot + 1, ts_ns=tape.last_ts_ns, seq0=0)
                    runner.step(tail)
                    tape.add(tail)
                    reports.clear()
                tape.flush()
                stop.set()
                if reconciler is not None:
                    await reconciler
                metrics.up.set(0)
                if venue.ledger is not None and venue.halted is None:
                    try:
                        await venue.reconcile()
                    except ReconcileError:
                        pass  # venue.halted says why; the journal has it
                if start is not None and runner is not None and runner.state is not None:
                    ledger = await self._reconcile_kernel(rpc, venue, runner, start, journal) or ledger
                if kill_server is not None:
                    await kill_server.stop()
                if metrics_server is not None:
                    metrics_server.stop()
                journal.close()
        if venue.halted is not None:
            status = "halted"
        load_into_catalog(self.folder / "decisions.jsonl", self.lake, run_id=self.run_id)
        self._write_own_fills(results)
        return LiveOutcome(run_id=self.run_id, mode=self.mode.value, status=status, n_events=runner.n_events,
                           n_orders=int(runner.state.acc[0, ACC_N_ORDERS]) if runner.state is not None else 0,
                           outcomes=dict(Counter(r.outcome for r in results)), halted=venue.halted,
                           folder=str(self.folder), seconds=time.perf_counter() - t0, kill_url=self.kill_url,
                           metrics_url=self.metrics_url, results=sorted(results, key=lambda r: r.order_id),
                           ledger=ledger)

    def _kernel(self, start: WalletBalances | None, journal: DecisionJournal) -> ChunkKernel:
        """The session's kernel: the configured fill model in dry run; sending, external fills from the wallet's SOL."""
        cfg = self.cfg
        if start is not None:
            if start.sol_value <= 0:
                msg = f"the wallet {self.wallet.pubkey} holds no SOL; fund it before trading"
                raise ConfigError(msg)
            if "init_cash" in (self.params.dtype.names or ()):
                msg = (f"strategy {self.strategy.name!r} takes its starting cash from its init_cash parameter; a live "
                       "kernel starts from the wallet's SOL, so it cannot trade this strategy live")
                raise ConfigError(msg)
            cfg = replace(self.cfg, fills="external", init_cash=float(start.sol_value))
            journal.write("kernel", reason="fills reported by the venue; cash is the wallet's SOL",
                          init_cash_lamports=start.sol_value, native_lamports=start.lamports, tokens=start.tokens)
        kernel = ChunkKernel(self.strategy, self.params, market=self.market, cfg=cfg,
                             capacity=Capacity(max_fills=self.session.max_fills, max_pending=self.session.max_pending,
                                               max_holdings=self.session.max_holdings, max_equity=0))
        kernel.warm_up()
        return kernel

    async def _reconcile_kernel(self, rpc: RpcClient, venue: LiveVenue, runner: Runner, start: WalletBalances,
                                journal: DecisionJournal) -> dict | None:
        """Compare the kernel's ledger with the chain (`compare_ledger`); halt trading on a difference."""
        try:
            now = await wallet_balances(rpc, venue.owner, commitment=self.venue_cfg.commitment)
        except RpcError as e:
            journal.write("reconcile", guard="kernel_ledger", reason=f"balances could not be read: {e}")
            return None
        report, diffs = compare_ledger(runner.state, self._mints(), start, now)
        if diffs:
            reason = "the kernel's ledger differs from the chain, trading stopped: " + "; ".join(diffs)
            venue.halted = venue.halted or reason
            journal.write("reconcile", guard="kernel_ledger", allowed=False, reason=reason)
        else:
            journal.write("reconcile", guard="kernel_ledger", allowed=True, reason="kernel ledger equals chain",
                          kernel_cash_lamports=report["kernel_cash_lamports"])
        return report

    def _mints(self) -> dict[int, str]:
        """Asset id -> mint, for the tokens of the market's pools."""
        out = {}
        for pid, listing in self.listings.items():
            if pid < self.market.n_pools:
                out[int(self.market.pool_base[pid])] = listing.base_mint
                out[int(self.market.pool_quote[pid])] = listing.quote_mint
        return out

    async def _order(self, venue: LiveVenue, resolver: RouteResolver, locks: dict[int, asyncio.Lock],
                     intent: LiveIntent, metrics: LiveMetrics) -> LiveResult:
        async with locks.setdefault(intent.pool_id, asyncio.Lock()):
            if intent.pool_id not in venue.routes:
                try:
                    venue.routes[intent.pool_id] = await resolver.route(intent.pool_id)
                except (RouteError, RpcError) as e:  # not routable, or its accounts could not be read now
                    venue.journal.write("refused", order_id=intent.order_id, guard="route", allowed=False,
                                        reason=str(e))
                    venue.metrics.events["refused"] += 1
                    return LiveResult(order_id=intent.order_id, pool_id=intent.pool_id, side=intent.side,
                                      outcome="refused", fill_status=FillStatus.CANCELLED, reason=f"no route: {e}")
            result = await venue.submit(intent)
        if result.sign_latency_ns:
            metrics.sign_latency.observe(result.sign_latency_ns / 1e9)
        return result

    def _quarantine(self, rows: Tape, reasons: np.ndarray) -> None:
        """Feed events the guard dropped (duplicates, late events) go to the lake's quarantine."""
        n = rows.n_events
        self.lake.write_quarantine(pl.DataFrame({
            "ingested_ns": np.full(n, time.time_ns(), dtype=np.int64), "source": [f"live:{self.run_id}"] * n,
            "table": ["tape"] * n, "reason": [Reason(int(r)).text for r in reasons],
            "row": [json.dumps(r, default=float) for r in rows.to_polars().iter_rows(named=True)]},
            schema=QUARANTINE_SCHEMA))

    def _write_own_fills(self, results: list[LiveResult]) -> None:
        rows = [r for r in results if r.signature is not None and r.slot >= 0]
        df = pl.DataFrame({
            "order_id": [r.order_id for r in rows], "slot": [r.slot for r in rows], "ts_ns": [r.ts_ns for r in rows],
            "pool_id": [r.pool_id for r in rows], "side": [int(r.side) for r in rows],
            "status": [int(r.fill_status) for r in rows], "amount_in_raw": [r.amount_in_raw for r in rows],
            "amount_out_raw": [r.amount_out_raw for r in rows],
            "fee_lamports": [r.fee_lamports + r.tip_lamports for r in rows], "signature": [r.signature for r in rows]},
            schema={"order_id": pl.Int64, "slot": pl.Int64, "ts_ns": pl.Int64, "pool_id": pl.Int32, "side": pl.Int8,
                    "status": pl.Int8, "amount_in_raw": pl.Int64, "amount_out_raw": pl.Int64,
                    "fee_lamports": pl.Int64, "signature": pl.String})
        df.write_parquet(Path(self.folder) / "own_fills.parquet")


class _TapeJournal:
    """The chunks the kernel ran, written as the run journal's tape segments every ``every_s`` and at the end."""

    def __init__(self, journal: Journal, every_s: float) -> None:
        self.journal = journal
        self.every_s = every_s
        self.pending: list[Tape] = []
        self.last_flush = time.monotonic()
        self.last_ts_ns = 0

    def add(self, chunk: Tape) -> None:
        self.pending.append(chunk)
        self.last_ts_ns = int(chunk.ts_ns[-1])
        if time.monotonic() - self.last_flush >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.journal.append_segment(Tape.concat(self.pending, sort=False))
            self.pending = []
        self.last_flush = time.monotonic()


def _params_row(params: np.ndarray) -> dict:
    return {k: params[0][k].tolist() for k in params.dtype.names}
