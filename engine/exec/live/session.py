"""A live session: the paper runner's loop, with every order the strategy decides sent to the live venue.

Per feed chunk the kernel runs (`engine.exec.runner.Runner`, the backtest kernel with its own
fill model as a shadow ledger); each order it decided since the last chunk becomes a
`LiveIntent` (`OrderTap`) and goes to `LiveVenue.submit` as a task of its own, so the feed never
waits for a confirmation. Orders on one pool go in decision order (a lock per pool): a sell
follows the buy it closes. The venue's guards, dry run, simulation, signing, confirmation and
reconciliation apply to each (see `engine.exec.live.venue`).

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
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

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
from engine.feeds.rpc import RpcClient, RpcConfig, RpcError
from engine.layout import Side
from engine.schema import Reason, Tape
from engine.sim.config import SimConfig
from engine.sim.market import Market
from engine.sim.records import ACC_N_FILLS, ACC_N_ORDERS, FillStatus, HopKind
from engine.sim.runner import Capacity, SimState
from engine.sim.strategy import Strategy
from engine.store.lake import QUARANTINE_SCHEMA, Lake

__all__ = ["LIVE_DIR", "LiveOutcome", "LiveSession", "OrderTap", "SessionConfig"]

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
        if not (self.reconcile_every_s > 0 and self.stall_timeout_s > 0):
            msg = f"reconcile_every_s and stall_timeout_s must be > 0, were {self.reconcile_every_s} and " \
                  f"{self.stall_timeout_s}"
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

    def take(self, state: SimState) -> list[tuple[LiveIntent | None, str]]:
        """New orders: ``(intent, "")``, or ``(None, reason)`` for one the venue cannot send."""
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
        out = []
        for oid in range(self.next_order, n_orders):
            if oid not in found:  # decided and cancelled within the chunk: nothing was asked of the venue
                continue
            n_hops, hop_kind, pool, side, amount, priority_lamports, tip = found[oid]
            if int(hop_kind) != HopKind.POOL or int(n_hops) != 1:
                out.append((None, f"order {oid}: {int(n_hops)}-hop {HopKind(int(hop_kind)).name} order; the live "
                                  "venue sends one pool swap per transaction"))
                continue
            price = int(float(priority_lamports) * 1e6 // self.session.cu_limit)
            out.append((LiveIntent(order_id=oid, pool_id=int(pool), side=Side(int(side)),
                                   amount_in_raw=round(float(amount)), slippage_bps=self.session.slippage_bps,
                                   cu_limit=self.session.cu_limit, cu_price_micro_lamports=price,
                                   tip_lamports=round(float(tip))), ""))
        self.next_order = n_orders
        return out


class LiveSession:
    """One live (or dry-run) session of one parameter set; `run` it to the end of its feed.

    Parameters
    ----------
    lake : Lake
        Where the session's folder and catalog rows go (and a replay's events come from).
    run_id : str
    strategy, params, cfg
        The strategy, its one parameter row and the shadow kernel's fill model.
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
        kernel = ChunkKernel(self.strategy, self.params, market=self.market, cfg=self.cfg,
                             capacity=Capacity(max_fills=self.session.max_fills, max_pending=self.session.max_pending,
                                               max_holdings=self.session.max_holdings, max_equity=0))
        kernel.warm_up()
        runner = Runner(kernel)
        tap = OrderTap(self.session)
        journal = DecisionJournal(self.folder / "decisions.jsonl")
        results: list[LiveResult] = []
        unsendable = 0
        status = "completed"
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
                async for chunk in guard:
                    arrival = time.perf_counter_ns()
                    step = runner.step(chunk)
                    metrics.events.inc(step.n_events)
                    metrics.chunks.inc()
                    metrics.latency.observe((time.perf_counter_ns() - arrival) / 1e9, step.n_events)
                    metrics.last_slot.set(runner.last_slot or 0)
                    if not step.orders:
                        continue
                    metrics.orders.inc(step.orders)
                    for intent, refusal in tap.take(runner.state):
                        if intent is None:
                            journal.write("refused", guard="route", allowed=False, reason=refusal)
                            venue.metrics.events["refused"] += 1
                            unsendable += 1
                            continue
                        task = asyncio.create_task(self._order(venue, resolver, pool_locks, intent, metrics))
                        tasks.add(task)
                        task.add_done_callback(lambda t: (tasks.discard(t), results.append(t.result())))
            except (KeyboardInterrupt, asyncio.CancelledError):
                status = "stopped"
            finally:
                if tasks:  # sent orders confirm whatever happens to the feed
                    await asyncio.gather(*list(tasks), return_exceptions=True)
                stop.set()
                if reconciler is not None:
                    await reconciler
                metrics.up.set(0)
                if venue.ledger is not None and venue.halted is None:
                    try:
                        await venue.reconcile()
                    except ReconcileError:
                        pass  # venue.halted says why; the journal has it
                if kill_server is not None:
                    await kill_server.stop()
                if metrics_server is not None:
                    metrics_server.stop()
                journal.close()
        if venue.halted is not None:
            status = "halted"
        load_into_catalog(self.folder / "decisions.jsonl", self.lake, run_id=self.run_id)
        self._write_own_fills(results)
        outcomes = Counter(r.outcome for r in results)
        if unsendable:
            outcomes["refused"] += unsendable
        return LiveOutcome(run_id=self.run_id, mode=self.mode.value, status=status, n_events=runner.n_events,
                           n_orders=int(runner.state.acc[0, ACC_N_ORDERS]) if runner.state is not None else 0,
                           outcomes=dict(outcomes), halted=venue.halted,
                           folder=str(self.folder), seconds=time.perf_counter() - t0, kill_url=self.kill_url,
                           metrics_url=self.metrics_url, results=sorted(results, key=lambda r: r.order_id))

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


def _params_row(params: np.ndarray) -> dict:
    return {k: params[0][k].tolist() for k in params.dtype.names}
