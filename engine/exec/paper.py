"""A paper session: feed -> guard -> kernel (the strategy's own fill model) -> journal.

One `PaperSession` owns a run id. Per chunk it runs the kernel (`engine.exec.runner`),
measures decision latency (chunk arrival to kernel done, i.e. to order intent) and updates
the metrics; every ``flush_every_s`` it hands the writer thread the chunks since the last
flush (one tape segment), then one catalog transaction with the new fills, orders, equity
and the run's progress; every ``checkpoint_every_s`` a copy of the kernel state follows
(it covers exactly the events of the segments before it). The writer does these in order,
so on disk a checkpoint never covers events the tape lacks, and the catalog never holds a
fill from an event the tape lacks.

Resume (after ``kill -9`` at any point): load the newest checkpoint, run the journaled
segments after it through the kernel (chunk invariance makes this exact), skip the fills
the catalog already has, and continue the feed after the last journaled slot. Events the
kernel ran but the journal had not written yet are simply run again: nothing they did was
recorded, so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from engine.errors import ConfigError, ShoalError
from engine.exec.metrics import MetricsServer, PaperMetrics
from engine.exec.runner import ChunkKernel, Runner, Step
from engine.feeds.base import MAX_SPEED, Feed
from engine.feeds.guard import FeedGuard
from engine.schema import Reason, Tape
from engine.sim.config import SimConfig
from engine.sim.market import Market
from engine.sim.runner import Capacity, SimState
from engine.sim.strategy import Strategy
from engine.store.journal import Commit, Journal, arrow_of_fills
from engine.store.lake import QUARANTINE_SCHEMA, Lake

__all__ = ["PaperConfig", "PaperOutcome", "PaperSession", "build_feed", "build_market", "feed_span"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperConfig:
    """How a session journals, checkpoints and watches its feed.

    Parameters
    ----------
    flush_every_s : float
        Wall seconds between journal flushes (a tape segment plus one catalog transaction).
    flush_every_events : int
        Flush sooner when this many events wait (bounds memory when the feed runs at max speed).
    checkpoint_every_s : float
        Wall seconds between kernel-state checkpoints (resume replays at most this much).
    stall_timeout_s : float
        Seconds without a chunk that count as a feed stall.
    give_up_after_s : float, optional
        End the run after a stall this long (None: wait for ever).
    max_fills, max_pending, max_holdings : int
        Kernel buffers per parameter row (a paper run keeps every fill in its state).
    metrics_port : int, optional
        Serve ``/metrics`` and ``/health`` on 127.0.0.1 at this port (0: any free port).
    """

    flush_every_s: float = 1.0
    flush_every_events: int = 100_000
    checkpoint_every_s: float = 30.0
    stall_timeout_s: float = 10.0
    give_up_after_s: float | None = None
    max_fills: int = 65_536
    max_pending: int = 64
    max_holdings: int = 64
    metrics_port: int | None = None

    def __post_init__(self) -> None:
        for name in ("flush_every_s", "checkpoint_every_s", "stall_timeout_s"):
            v = getattr(self, name)
            if not v > 0:
                msg = f"{name} must be > 0 seconds, was {v!r}"
                raise ConfigError(msg)
        if self.checkpoint_every_s < self.flush_every_s:
            msg = (f"checkpoint_every_s ({self.checkpoint_every_s}) must be >= flush_every_s "
                   f"({self.flush_every_s}): a checkpoint is taken at a flush")
            raise ConfigError(msg)
        if self.flush_every_events < 1:
            msg = f"flush_every_events must be >= 1, was {self.flush_every_events!r}"
            raise ConfigError(msg)
        if self.max_fills < 1 or self.max_pending < 1 or self.max_holdings < 1:
            msg = "max_fills, max_pending and max_holdings must be >= 1"
            raise ConfigError(msg)

    def capacity(self) -> Capacity:
        return Capacity(max_fills=self.max_fills, max_pending=self.max_pending, max_holdings=self.max_holdings,
                        max_equity=0)


@dataclass(frozen=True, slots=True)
class PaperOutcome:
    """How a session ended."""

    run_id: str
    status: str  # completed, stopped (SIGINT/SIGTERM: resumable), failed
    n_events: int
    last_slot: int | None
    summary: pl.DataFrame | None
    seconds: float
    resumed_from_event: int | None
    replayed_events: int
    latency_s: dict[str, float] = field(default_factory=dict)
    feed: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Feeds and markets from a journaled spec.

FEED_KINDS = ("synthetic", "replay", "solana")


def build_market(spec: dict, lake: Lake) -> Market:
    """The `Market` a feed spec's events refer to (every pool it will meet, known up front)."""
    if spec["kind"] == "synthetic":
        from engine.feeds.synthetic import SyntheticConfig
        from engine.feeds.synthetic_live import synthetic_market

        return synthetic_market(SyntheticConfig.from_mapping(spec["synthetic"]))[0]
    if spec["kind"] in ("replay", "solana"):
        from engine.store import registry
        from engine.store.catalog import opened

        with opened(lake) as con:
            tokens, pools = registry.read(con, "tokens"), registry.read(con, "pools")
            n_markets = registry.read(con, "markets").height
        if spec["kind"] == "solana":  # the registry as it was when the session started (it grows as the feed runs)
            from engine.feeds.solana_chunks import SolanaFeedSpec

            pinned = SolanaFeedSpec.from_spec(spec)
            pools = pools.filter(pools["pool_id"] < pinned.n_pools)
            tokens = tokens.filter(tokens["token_id"] < pinned.n_tokens)
            n_markets = 0  # the websocket feed carries no prediction markets
        if pools.height == 0:
            msg = f"the lake {str(lake.root)!r} has no pools registered; ingest or generate data first"
            raise ConfigError(msg)
        return Market.from_registries(pools, tokens, n_markets=n_markets)
    msg = f"unknown feed kind {spec['kind']!r}; valid ones are {FEED_KINDS}"
    raise ConfigError(msg)


def _speed(spec: dict) -> float:
    return MAX_SPEED if spec["speed"] == "max" else float(spec["speed"])


def build_feed(spec: dict, lake: Lake, *, start_slot: int | None = None) -> Feed:
    """The feed of a spec, starting at ``start_slot`` (resume) or at its beginning."""
    chunk = int(spec.get("max_chunk_slots", 150))
    if spec["kind"] == "synthetic":
        from engine.feeds.synthetic import SyntheticConfig
        from engine.feeds.synthetic_live import SyntheticLiveFeed

        return SyntheticLiveFeed(SyntheticConfig.from_mapping(spec["synthetic"]), speed=_speed(spec),
                                 start_slot=start_slot, max_chunk_slots=chunk)
    if spec["kind"] == "replay":
        from engine.feeds.replay import LakeReplayFeed

        return LakeReplayFeed(lake, start_ts_ns=spec.get("start_ts_ns"), stop_ts_ns=spec.get("stop_ts_ns"),
                              speed=_speed(spec), start_slot=start_slot, max_chunk_slots=chunk)
    if spec["kind"] == "solana":  # live: it starts now, whatever the start slot (the guard drops anything older)
        from engine.feeds.solana_chunks import SolanaChunkFeed, SolanaFeedSpec

        return SolanaChunkFeed(SolanaFeedSpec.from_spec(spec), lake)
    msg = f"unknown feed kind {spec['kind']!r}; valid ones are {FEED_KINDS}"
    raise ConfigError(msg)


def feed_span(spec: dict, lake: Lake) -> tuple[int, int] | None:
    """First slot and last slot (inclusive) the feed of a spec covers (for progress); None for a live feed."""
    if spec["kind"] == "solana":
        return None
    if spec["kind"] == "synthetic":
        from engine.feeds.synthetic import SyntheticConfig

        cfg = SyntheticConfig.from_mapping(spec["synthetic"])
        return cfg.start_slot, cfg.start_slot + cfg.n_slots - 1
    from engine.feeds.replay import lake_span

    _, _, _, s0, s1 = lake_span(lake, spec.get("start_ts_ns"), spec.get("stop_ts_ns"))
    return s0, s1


# ---------------------------------------------------------------------------------------------
# The writer thread.


class _Writer:
    """Journal writes in order, off the decision path; the first error stops the session."""

    def __init__(self, journal: Journal, metrics: PaperMetrics | None, log: _Log) -> None:
        self.journal = journal
        self.metrics = metrics
        self.log = log
        self.queue: queue.Queue = queue.Queue(maxsize=8)  # backpressure: a slow disk slows the session
        self.error: BaseException | None = None
        self.n_segments = len(journal.segments())
        self._thread = threading.Thread(target=self._loop, name="shoal-journal", daemon=True)
        self._thread.start()

    def put(self, kind: str, payload: object) -> None:
        if self.error is not None:
            msg = f"the journal writer failed: {self.error}"
            raise ShoalError(msg) from self.error
        if kind == "segment":
            self.n_segments += 1
        self.queue.put((kind, payload))

    def close(self) -> None:
        self.queue.put(None)
        self._thread.join()
        if self.error is not None:
            msg = f"the journal writer failed: {self.error}"
            raise ShoalError(msg) from self.error

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # drain; the session raises on its next put
            kind, payload = item
            try:
                if kind == "segment":
                    self.journal.append_segment(payload)
                elif kind == "commit":
                    self.journal.commit(payload)
                    if self.metrics is not None:
                        self.metrics.journal_flushes.inc()
                elif kind == "checkpoint":
                    event, state = payload
                    path = self.journal.save_checkpoint(event, state.save)
                    if self.metrics is not None:
                        self.metrics.checkpoints.inc()
                    self.log.write("checkpoint", event=event, path=str(path))
                elif kind == "quarantine":
                    self.journal.lake.write_quarantine(payload)
            except BaseException as e:
                self.error = e
                self.log.write("journal_error", error=repr(e))
            finally:
                if self.metrics is not None:
                    self.metrics.journal_queue.set(self.queue.qsize())


class _Log:
    """Structured log: one JSON object per line in the run's ``paper.log``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("a", buffering=1)
        self._lock = threading.Lock()

    def write(self, what: str, **fields: object) -> None:
        line = json.dumps({"ts_ns": time.time_ns(), "pid": os.getpid(), "event": what, **fields}, default=str)
        with self._lock:
            self._fh.write(line + "\n")

    def close(self) -> None:
        self._fh.close()


# ---------------------------------------------------------------------------------------------
# The session.


def params_rows(params: np.ndarray) -> list[dict]:
    """Params rows as JSON-ready dicts (sub-array fields, such as a list of leader wallets, as lists)."""
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v.item() if hasattr(v, "item") else v)
             for k, v in zip(params.dtype.names, row, strict=True)} for row in params]


class PaperSession:
    """One paper run: create it (or resume it), then `run` it to the end of its feed.

    Parameters
    ----------
    lake : Lake
        Where the journal goes (and, for a replay, where the events come from).
    run_id : str
    strategy : Strategy
    params : ndarray
        Rows of ``strategy.params_dtype`` (usually one).
    cfg : SimConfig
        The fill and cost model (the paper venue).
    feed_spec : dict
        ``{"kind": "synthetic", "synthetic": {SyntheticConfig fields}, "speed": float | "max"}`` or
        ``{"kind": "replay", "start_ts_ns": ..., "stop_ts_ns": ..., "speed": ...}`` or ``{"kind":
        "solana", ...}`` (`engine.feeds.solana_chunks.SolanaFeedSpec`); journaled, so a resume
        rebuilds the same feed.
    paper : PaperConfig
    strategy_ref : str, optional
        How to find the strategy again on resume (a registry name or ``module:ATTR``).
    """

    def __init__(self, lake: Lake, run_id: str, strategy: Strategy, params: np.ndarray, *, cfg: SimConfig,
                 feed_spec: dict, paper: PaperConfig | None = None, strategy_ref: str | None = None,
                 market: Market | None = None) -> None:
        self.lake = lake
        self.journal = Journal(lake, run_id)
        self.run_id = run_id
        self.strategy = strategy
        self.params = params
        self.cfg = cfg if cfg.equity_every_slots == 0 else SimConfig.from_mapping({**cfg.to_dict(),
                                                                                    "equity_every_slots": 0})
        self.feed_spec = feed_spec
        self.paper = paper or PaperConfig()
        self.strategy_ref = strategy_ref or strategy.name
        self._market = market
        self.metrics: PaperMetrics | None = None
        self.server: MetricsServer | None = None
        self._keep_server = False  # tests keep /metrics up after the run to read it

    # -- config -----------------------------------------------------------------------------

    def config(self) -> dict:
        """What the journal keeps to rebuild this session (strategy, params, fill model, feed)."""
        paper = asdict(self.paper)
        paper.pop("metrics_port")
        return {"run_id": self.run_id, "strategy": self.strategy.name, "strategy_ref": self.strategy_ref,
                "params": params_rows(self.params), "sim": self.cfg.to_dict(), "feed": self.feed_spec,
                "paper": paper}

    @classmethod
    def from_journal(cls, lake: Lake, run_id: str, resolve: Callable[[str], Strategy], *,
                     metrics_port: int | None = None, market: Market | None = None) -> PaperSession:
        """Rebuild a session from its journaled config; ``resolve`` finds the strategy by its ref."""
        config = Journal(lake, run_id).config()
        strategy = resolve(config["strategy_ref"])
        sim = dict(config["sim"])
        sim["cu_per_hop"] = tuple(sim["cu_per_hop"])
        paper = PaperConfig(**config["paper"], metrics_port=metrics_port)
        return cls(lake, run_id, strategy, strategy.params(config["params"]), cfg=SimConfig(**sim),
                   feed_spec=config["feed"], paper=paper, strategy_ref=config["strategy_ref"], market=market)

    @property
    def market(self) -> Market:
        if self._market is None:
            self._market = build_market(self.feed_spec, self.lake)
        return self._market

    # -- running ----------------------------------------------------------------------------

    def run(self, *, resume: bool = False, on_progress: Callable[[int, int], None] | None = None,
            on_step: Callable[[Tape, Step, int, int], None] | None = None,
            on_ready: Callable[[PaperSession], None] | None = None,
            feed_factory: Callable[[int | None], Feed] | None = None) -> PaperOutcome:
        """Run (or resume) the session to the end of its feed; blocking.

        ``on_progress(last_slot, n_events)`` after each chunk; ``on_step(chunk, step,
        arrival_ns, done_ns)`` for measurements; ``on_ready(session)`` once the metrics
        server listens and the feed is about to start. ``feed_factory(start_slot)`` replaces
        the spec's feed (tests, benchmarks); the spec still says which market it trades.
        """
        return asyncio.run(self.arun(resume=resume, on_progress=on_progress, on_step=on_step, on_ready=on_ready,
                                     feed_factory=feed_factory))

    async def arun(self, *, resume: bool = False, on_progress: Callable[[int, int], None] | None = None,
                   on_step: Callable[[Tape, Step, int, int], None] | None = None,
                   on_ready: Callable[[PaperSession], None] | None = None,
                   feed_factory: Callable[[int | None], Feed] | None = None) -> PaperOutcome:
        t_start = time.perf_counter()
        j = self.journal
        if resume:
            if not j.config_path.exists():
                msg = (f"no paper run {self.run_id!r} to resume in {str(self.lake.root)!r}; "
                       "list them with `shoal runs`")
                raise ConfigError(msg)
        else:
            j.create(self.config(), strategy=self.strategy.name)
        log = _Log(j.folder / "paper.log")
        metrics = self.metrics = PaperMetrics(self.run_id, self.strategy.name)
        kernel = ChunkKernel(self.strategy, self.params, market=self.market, cfg=self.cfg,
                             capacity=self.paper.capacity())
        kernel.warm_up()
        runner, flushed, resumed_from, replayed = self._restore(kernel, log) if resume else \
            (Runner(kernel), np.zeros(self.params.shape[0], dtype=np.int64), None, 0)
        if resume:
            j.mark("running", resumed=True)
        metrics.replayed.inc(replayed)
        last_key = None
        if runner.last_slot is not None:
            last_key = (runner.last_slot, j.last_seq())
        start_slot = None if runner.last_slot is None else runner.last_slot + 1
        feed = build_feed(self.feed_spec, self.lake, start_slot=start_slot) if feed_factory is None else \
            feed_factory(start_slot)
        writer = _Writer(j, metrics, log)

        def quarantine(rows: Tape, reasons: np.ndarray) -> None:
            metrics.quarantined.inc(rows.n_events)
            writer.put("quarantine", _quarantine_frame(rows, reasons, f"paper:{self.run_id}"))
            log.write("quarantine", n=rows.n_events, reasons={Reason(int(r)).text: int(n) for r, n in
                                                              zip(*np.unique(reasons, return_counts=True),
                                                                  strict=True)})

        guard = FeedGuard(feed, stall_timeout_s=self.paper.stall_timeout_s,
                          give_up_after_s=self.paper.give_up_after_s, on_quarantine=quarantine,
                          on_stall=lambda s: log.write("stall", quiet_s=round(s, 3)), last_key=last_key)
        if self.paper.metrics_port is not None:
            self.server = MetricsServer(metrics, self.paper.metrics_port,
                                        before_scrape=lambda: self._refresh(metrics, guard, runner, writer)).start()
            log.write("metrics", url=self.server.url)
        state = _FlushState(flushed=flushed, last_flush=time.monotonic(), last_ckpt=time.monotonic(),
                            first_slot=j.first_slot() if resume else None)
        log.write("start" if not resume else "resume", run_id=self.run_id, strategy=self.strategy.name,
                  start_slot=start_slot, resumed_from_event=resumed_from, replayed=replayed)
        metrics.set_rows(runner.equity(), runner.realized())
        metrics.health_status = "ok"
        metrics.up.set(1)
        if on_ready is not None:
            on_ready(self)
        lat_hist = np.zeros(len(_LAT_EDGES_NS) + 1, dtype=np.int64)
        status, error = "completed", None
        try:
            async for chunk in guard:
                arrival = time.perf_counter_ns()
                step = runner.step(chunk)
                done = time.perf_counter_ns()
                lat_ns = done - arrival
                lat_hist[np.searchsorted(_LAT_EDGES_NS, lat_ns)] += step.n_events
                self._count(metrics, step, lat_ns, arrival, guard, runner)
                state.pending.append(chunk)
                if state.first_slot is None:
                    state.first_slot = int(chunk.slot[0])
                state.last_ts_ns = int(chunk.ts_ns[-1])
                if on_step is not None:
                    on_step(chunk, step, arrival, done)
                if on_progress is not None:
                    on_progress(runner.last_slot, runner.n_events)
                state.n_pending += chunk.n_events
                now = time.monotonic()
                if now - state.last_flush >= self.paper.flush_every_s or \
                        state.n_pending >= self.paper.flush_every_events:
                    due = now - state.last_ckpt >= self.paper.checkpoint_every_s
                    self._flush(runner, writer, state, checkpoint=due)
                    self._refresh(metrics, guard, runner, writer)
        except (KeyboardInterrupt, asyncio.CancelledError):
            status = "stopped"
        except BaseException as e:
            status, error = "failed", e
        metrics.up.set(0)
        self._refresh(metrics, guard, runner, writer)
        try:
            if status != "failed":
                self._flush(runner, writer, state, checkpoint=True, final=True)
            writer.close()
        except BaseException as e:
            if error is None:
                status, error = "failed", e
        metrics.health_status = "done" if status == "completed" else status
        try:
            j.mark(status, error=None if error is None else repr(error))
        finally:
            log.write("end", status=status, n_events=runner.n_events, last_slot=runner.last_slot,
                      error=None if error is None else repr(error))
            log.close()
            if self.server is not None and not self._keep_server:
                self.server.stop()
        if error is not None:
            raise error
        summary = runner.result().summary if runner.state is not None else None
        return PaperOutcome(run_id=self.run_id, status=status, n_events=runner.n_events, last_slot=runner.last_slot,
                            summary=summary, seconds=time.perf_counter() - t_start, resumed_from_event=resumed_from,
                            replayed_events=replayed, latency_s=_quantiles(lat_hist),
                            feed={"source": feed.stats.to_dict(), "guard": guard.stats.to_dict()})

    def _restore(self, kernel: ChunkKernel, log: _Log) -> tuple[Runner, np.ndarray, int, int]:
        """Checkpoint + journaled tape after it -> the runner where the journal ends."""
        j = self.journal
        ckpt = j.latest_checkpoint()
        state, n0 = (None, 0) if ckpt is None else (SimState.load(ckpt[1]), ckpt[0])
        runner = Runner(kernel, state, n_events=n0)
        replayed = 0
        for tape in j.iter_tapes(n0):
            runner.step(tape)
            replayed += tape.n_events
        if runner.last_slot is None and n0 > 0:
            runner.last_slot = j.last_slot()
        flushed = j.fill_counts(self.params.shape[0])
        log.write("restored", checkpoint_event=n0, replayed=replayed, journaled_events=j.n_events,
                  fills_in_catalog=flushed.tolist())
        return runner, flushed, n0, replayed

    # -- per chunk, per flush ---------------------------------------------------------------

    def _count(self, m: PaperMetrics, step: Step, lat_ns: int, arrival: int, guard: FeedGuard,
               runner: Runner) -> None:
        m.events.inc(step.n_events)
        m.chunks.inc()
        m.latency.observe(lat_ns / 1e9, step.n_events)
        if step.orders:
            m.orders.inc(step.orders)
        if step.filled:
            m.fills.labels("filled").inc(step.filled)
        for reason, n in step.failures.items():
            if n:
                m.fills.labels(reason).inc(n)
                m.failures.labels(reason).inc(n)
        src = guard.source_stats  # feeds without a schedule (the websocket feed's LiveStats) report no lag
        due_ns, head = getattr(src, "due_ns", 0), getattr(src, "head_slot", -1)
        m.lag_s.set(max(0.0, (arrival - due_ns) / 1e9) if due_ns else 0.0)
        m.lag_slots.set(max(0, head - (runner.last_slot or head)))
        m.last_slot.set(runner.last_slot or 0)

    def _refresh(self, m: PaperMetrics, guard: FeedGuard, runner: Runner, writer: _Writer) -> None:
        g = guard.stats
        for kind, value in (("duplicate", g.duplicates), ("out_of_order", g.out_of_order), ("stall", g.stalls)):
            child = m.anomalies.labels(kind)
            gap = value - child._value.get()
            if gap > 0:
                child.inc(gap)
        m.stalled.set(1 if g.stalled else 0)
        if m.health_status in ("ok", "stalled"):
            m.health_status = "stalled" if g.stalled else "ok"
        m.health_extra.update(last_slot=runner.last_slot, n_events=runner.n_events,
                              lag_s=m.lag_s._value.get(), journal_queue=writer.queue.qsize())
        m.journal_queue.set(writer.queue.qsize())

    def _flush(self, runner: Runner, writer: _Writer, fs: _FlushState, *, checkpoint: bool,
               final: bool = False) -> None:
        if fs.pending:
            writer.put("segment", Tape.concat(fs.pending, sort=False))
            fs.pending = []
            fs.n_pending = 0
        st = runner.state
        now = time.monotonic()
        fs.last_flush = now
        if st is None:
            return
        n_fills = runner.n_fills
        fills = _new_fills(st, fs.flushed, n_fills)
        fs.flushed = n_fills.copy()
        eq = runner.equity()
        realized = runner.realized()
        if self.metrics is not None:
            self.metrics.set_rows(eq, realized)
        slot = runner.last_slot
        ts_ns = int(fs.last_ts_ns) if fs.last_ts_ns is not None else 0
        rows = np.arange(eq.size, dtype=np.int32)
        equity = pl.DataFrame({"row": rows, "slot": np.full(eq.size, slot, dtype=np.int64),
                               "ts_ns": np.full(eq.size, ts_ns, dtype=np.int64), "equity": eq})
        run = {"last_slot": slot, "n_events": runner.n_events, "n_segments": writer.n_segments,
               "n_orders": int(runner._counters[0]), "n_fills": int(n_fills.sum()), "equity": float(eq[0]),
               "realized_pnl": float(realized[0])}
        if fs.first_slot is not None:
            run["first_slot"] = fs.first_slot
        summaries = None
        if checkpoint or final:
            summary = runner.result().summary
            summaries = pl.DataFrame({
                "row": rows, "n_events": np.full(eq.size, runner.n_events, dtype=np.int64),
                "slot": np.full(eq.size, slot, dtype=np.int64),
                "summary_json": [json.dumps(r, default=float) for r in summary.iter_rows(named=True)]})
        writer.put("commit", Commit(fills=fills, orders=_orders(st, fills), equity=equity, summaries=summaries,
                                    run=run))
        if checkpoint:
            writer.put("checkpoint", (runner.n_events, st.copy()))
            fs.last_ckpt = now


_LAT_EDGES_NS = np.array([int(x) for x in np.logspace(3, 9, 121)], dtype=np.int64)  # 1 us .. 1 s, 5 % steps


def _quantiles(hist: np.ndarray) -> dict[str, float]:
    total = int(hist.sum())
    if total == 0:
        return {}
    cum = np.cumsum(hist)
    out = {}
    for q in (0.5, 0.95, 0.99):
        k = int(np.searchsorted(cum, q * total))
        out[f"p{round(q * 100)}"] = float(_LAT_EDGES_NS[min(k, _LAT_EDGES_NS.size - 1)]) / 1e9
    return out


@dataclass(slots=True)
class _FlushState:
    flushed: np.ndarray
    last_flush: float
    last_ckpt: float
    pending: list[Tape] = field(default_factory=list)
    n_pending: int = 0
    first_slot: int | None = None
    last_ts_ns: int | None = None


def _new_fills(st: SimState, lo: np.ndarray, hi: np.ndarray) -> pl.DataFrame | None:
    parts, rows, idx = [], [], []
    for r in range(hi.size):
        if hi[r] > lo[r]:
            parts.append(st.fills[r, lo[r]:hi[r]].copy())
            rows.append(np.full(hi[r] - lo[r], r, dtype=np.int32))
            idx.append(np.arange(lo[r], hi[r], dtype=np.int64))
    if not parts:
        return None
    return arrow_of_fills(np.concatenate(parts), np.concatenate(rows), np.concatenate(idx))


def _orders(st: SimState, fills: pl.DataFrame | None) -> pl.DataFrame:
    """Orders still pending (state 'pending') and those the new fills landed (state 'landed')."""
    rows_p, recs_p = [], []
    for r in range(st.pending.shape[0]):
        act = st.pending[r]["active"] == 1
        if act.any():
            recs_p.append(st.pending[r][act])
            rows_p.append(np.full(int(act.sum()), r, dtype=np.int32))
    frames = []
    if recs_p:
        p = np.concatenate(recs_p)
        frames.append(pl.DataFrame({
            "row": np.concatenate(rows_p), "order_id": p["order_id"], "decided_slot": p["decided_slot"],
            "land_slot": p["land_slot"], "n_hops": p["n_hops"], "pool0": p["pool"][:, 0], "side0": p["side"][:, 0],
            "amount_in_raw": p["amount_in_raw"], "min_out_raw": p["min_out_raw"],
            "state": ["pending"] * p.shape[0], "status": np.full(p.shape[0], -1, dtype=np.int8)}))
    if fills is not None and fills.height:
        frames.append(fills.select(
            "row", "order_id", "decided_slot", pl.col("slot").alias("land_slot"), "n_hops", "pool0", "side0",
            "amount_in_raw", "min_out_raw", pl.lit("landed").alias("state"), "status"))
    if not frames:
        return pl.DataFrame()
    schema = {"row": pl.Int32, "order_id": pl.Int64, "decided_slot": pl.Int64, "land_slot": pl.Int64,
              "n_hops": pl.Int8, "pool0": pl.Int32, "side0": pl.Int8, "amount_in_raw": pl.Float64,
              "min_out_raw": pl.Float64, "state": pl.String, "status": pl.Int8}
    out = pl.concat([f.cast(schema) for f in frames])
    # a fill and its pending twin in one flush: the landed record wins
    return out.unique(subset=["row", "order_id"], keep="last", maintain_order=True)


def _quarantine_frame(rows: Tape, reasons: np.ndarray, source: str) -> pl.DataFrame:
    now = time.time_ns()
    payload = rows.to_polars()
    return pl.DataFrame({
        "ingested_ns": np.full(rows.n_events, now, dtype=np.int64), "source": [source] * rows.n_events,
        "table": ["tape"] * rows.n_events, "reason": [Reason(int(r)).text for r in reasons],
        "row": [json.dumps(r, default=float) for r in payload.iter_rows(named=True)]}, schema=QUARANTINE_SCHEMA)

