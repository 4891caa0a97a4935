"""Stage gates: a strategy and parameter set moves research -> paper -> live only through them.

What is promoted is an **identity**: the strategy, one row of its parameters (every field,
defaults included) and the code version (the engine's source hash and the source hash of the
strategy's package), hashed together. Change a parameter or a line of code and it is a new
identity that starts again in research.

**research -> paper** (`promote_to_paper`, from a ``shoal backtest`` run):

- ``reproducible``: the recorded backtest, re-run now on the same window, gives the same
  headline numbers (same data, same code);
- ``min_trades``: at least ``min_trades`` orders filled;
- ``costs_included``: base fee per signature charged, our trades move the pools
  (``impact=counterfactual``), and fees were actually paid;
- ``out_of_sample``: the lake's events after the backtest's window (held out from it), at least
  ``min_oos_fraction`` of its span, re-run with the same parameters and fill model, fill at
  least one order and return at least ``min_oos_return`` net of costs.

**paper -> live** (`promote_to_live`, from a ``shoal paper`` run of an identity promoted to paper):

- ``paper_stage``: the identity passed research -> paper;
- ``paper_days``: the journaled tape spans at least ``min_paper_days`` days of market time;
- ``parity``: the journaled tape re-run as a backtest gives 0 differences (`engine.exec.parity`);
- ``pnl_vs_backtest``: PnL of the paper run within ``max_pnl_gap`` (1 %) of a backtest of the same
  market window built independently of the journal (the lake for a replay, the generator for a
  synthetic market);
- ``quarantine``: no quarantined row from the paper run's period whose reason was not explained
  (``explained={reason: note}``, recorded with the evidence);
- ``drawdown``: the paper run's maximum drawdown at most ``max_drawdown``.

Every attempt, passed or refused, is a row of the catalog table ``promotions`` with the evidence
of each gate; the latest passed promotion of an identity is its stage.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import math
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq

from engine import ENGINE_HASH, source_hash
from engine.errors import ConfigError, ShoalError
from engine.schema import Tape
from engine.sim import Capacity, SimConfig, Strategy, stream
from engine.store.catalog import opened
from engine.store.lake import QUARANTINE, Lake

__all__ = [
    "STAGES",
    "Gate",
    "Identity",
    "LiveGates",
    "PaperGates",
    "Promotion",
    "PromotionError",
    "finite",
    "history",
    "identity_of",
    "promote_to_live",
    "promote_to_paper",
    "require_live",
]

STAGES = ("research", "paper", "live")
NS_PER_DAY = 86_400 * 10**9

DDL = """
CREATE TABLE IF NOT EXISTS promotions (
    promotion_id VARCHAR PRIMARY KEY, created_ns BIGINT, identity VARCHAR, strategy VARCHAR, params_json VARCHAR,
    code_version VARCHAR, from_stage VARCHAR, to_stage VARCHAR, run_id VARCHAR, passed BOOLEAN, gates_json VARCHAR)
"""


class PromotionError(ShoalError):
    """A strategy cannot be promoted or run at a stage; the message says which gate and how to get there."""


# ---------------------------------------------------------------------------------------------
# Identity


@dataclass(frozen=True, slots=True)
class Identity:
    """A strategy, one full parameter row and the code version; ``key`` hashes the three."""

    strategy: str
    params: dict
    code_version: str

    @property
    def key(self) -> str:
        doc = json.dumps({"strategy": self.strategy, "params": self.params, "code": self.code_version},
                         sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


def code_version(strategy: Strategy) -> str:
    """``engine:<hash of engine/> strategy:<hash of the strategy's package folder>``."""
    spec = importlib.util.find_spec(strategy.module)
    if spec is None or spec.origin is None:
        msg = f"cannot find the source of strategy module {strategy.module!r}"
        raise ConfigError(msg)
    return f"engine:{ENGINE_HASH} strategy:{source_hash(Path(spec.origin).parent)}"


def identity_of(strategy: Strategy, params: np.ndarray) -> Identity:
    """The identity of the one row of ``params`` (refused when there are several)."""
    if params.shape != (1,):
        msg = (f"a promotion is for one parameter set; {params.shape[0]} rows were given. "
               "Hint: pass single values to --param (no ranges or lists)")
        raise PromotionError(msg)
    row = {name: params[0][name].tolist() for name in params.dtype.names}
    return Identity(strategy.name, row, code_version(strategy))


# ---------------------------------------------------------------------------------------------
# Gates and promotions


@dataclass(frozen=True, slots=True)
class Gate:
    """One gate's outcome: a sentence saying why, and the numbers behind it."""

    name: str
    passed: bool
    reason: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "reason": self.reason, "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Promotion:
    """One promotion attempt of an identity from one stage to the next, with its gates."""

    promotion_id: str
    created_ns: int
    identity: Identity
    from_stage: str
    to_stage: str
    run_id: str
    gates: tuple[Gate, ...]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict:
        return {"promotion_id": self.promotion_id, "created": _iso(self.created_ns), "identity": self.identity.key,
                "strategy": self.identity.strategy, "params": finite(self.identity.params),
                "code_version": self.identity.code_version, "from": self.from_stage, "to": self.to_stage,
                "run_id": self.run_id, "passed": self.passed, "gates": [g.to_dict() for g in self.gates]}


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperGates:
    """Thresholds of research -> paper.

    Parameters
    ----------
    min_trades : int
        Orders the backtest must have filled.
    min_oos_fraction : float
        Held-out span needed, as a fraction of the backtest's span.
    min_oos_return : float
        Smallest out-of-sample total return (net of every cost), e.g. 0.0: must not lose.
    """

    min_trades: int = 20
    min_oos_fraction: float = 0.25
    min_oos_return: float = 0.0

    def __post_init__(self) -> None:
        if self.min_trades < 1 or not 0.0 < self.min_oos_fraction <= 10.0 or not math.isfinite(self.min_oos_return):
            msg = (f"need min_trades >= 1, 0 < min_oos_fraction <= 10 and a finite min_oos_return; were "
                   f"{self.min_trades}, {self.min_oos_fraction}, {self.min_oos_return}")
            raise ConfigError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveGates:
    """Thresholds of paper -> live.

    Parameters
    ----------
    min_paper_days : float
        Market time the paper run must span, days.
    max_pnl_gap : float
        Largest ``|paper PnL - backtest PnL| / |backtest PnL|`` (0.01: 1 %).
    max_drawdown : float
        Largest maximum drawdown of the paper run, a fraction of peak equity.
    explained : dict of str to str
        Quarantine reasons (``duplicate_key``, ``out_of_order`` ...) accepted, each with a note.
    """

    min_paper_days: float = 2.0
    max_pnl_gap: float = 0.01
    max_drawdown: float = 0.2
    explained: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.min_paper_days >= 0 and self.max_pnl_gap >= 0 and 0 <= self.max_drawdown <= 1):
            msg = (f"need min_paper_days >= 0, max_pnl_gap >= 0 and 0 <= max_drawdown <= 1; were "
                   f"{self.min_paper_days}, {self.max_pnl_gap}, {self.max_drawdown}")
            raise ConfigError(msg)


# ---------------------------------------------------------------------------------------------
# research -> paper


def promote_to_paper(lake: Lake, run_id: str, gates: PaperGates, resolve) -> Promotion:
    """Check a recorded backtest against the research -> paper gates; record and return the attempt.

    ``resolve(name)`` returns the `Strategy` registered under the run's strategy name.
    """
    from research import runs

    with opened(lake) as con:
        rec, _ = runs.load(lake, con, run_id)
    if rec.kind != "backtest":
        msg = (f"run {run_id!r} is a {rec.kind}; promote one parameter set: re-run the row you chose with "
               "`shoal backtest` and promote that run")
        raise PromotionError(msg)
    if not rec.data.get("source", "").startswith("lake:"):
        msg = (f"run {run_id!r} ran on {rec.data.get('source')!r}; only backtests over the lake's pools can go "
               "live. Hint: backtest on the lake (no --bars)")
        raise PromotionError(msg)
    strategy = resolve(rec.strategy)
    params = strategy.params(rec.params)
    identity = identity_of(strategy, params)
    cfg = _sim_config(rec.sim)
    start_ns, stop_ns = _window(rec.data)
    checks = [_reproduced(lake, strategy, params, cfg, rec.headline, start_ns, stop_ns),
              _min_trades(rec.headline, gates.min_trades),
              _costs_included(cfg, rec.headline),
              _out_of_sample(lake, strategy, params, cfg, start_ns, stop_ns, gates)]
    return _record(lake, identity, "research", "paper", run_id, tuple(checks))


def _sim_config(raw: dict) -> SimConfig:
    sim = dict(raw)
    sim["cu_per_hop"] = tuple(sim["cu_per_hop"])
    return SimConfig(**sim)


def _window(data: dict) -> tuple[int, int]:
    """[first event's second, one second after the last event's second) of a recorded backtest."""
    first = datetime.fromisoformat(data["from"])
    last = datetime.fromisoformat(data["to"])
    return int(first.timestamp()) * 10**9, (int(last.timestamp()) + 1) * 10**9


def _run_lake(lake: Lake, strategy: Strategy, params: np.ndarray, cfg: SimConfig, start_ns: int,
              stop_ns: int) -> tuple[dict, dict]:
    """Backtest the lake's [start, stop) as `shoal backtest` does; return its summary row and data span."""
    from research.backtest import equity_every, run_dataset
    from research.data import from_lake

    data = from_lake(lake, start_ts_ns=start_ns, stop_ts_ns=stop_ns)
    cfg = replace(cfg, equity_every_slots=equity_every(data))
    cap = Capacity(max_equity=data.n_slots // cfg.equity_every_slots + 3, max_fills=200_000)
    result = run_dataset(data, strategy, params, cfg, capacity=cap, progress=False)
    span = {"events": data.n_events, "from": _iso(data.first_ts_ns), "to": _iso(data.last_ts_ns),
            "days": (data.last_ts_ns - data.first_ts_ns) / NS_PER_DAY}
    row = result.summary.row(0, named=True)
    row["win_rate"] = row["wins"] / row["trades"] if row["trades"] > 0 else None  # as `shoal backtest` adds it
    return row, span


def _reproduced(lake: Lake, strategy: Strategy, params: np.ndarray, cfg: SimConfig, headline: dict, start_ns: int,
                stop_ns: int) -> Gate:
    try:
        now, span = _run_lake(lake, strategy, params, cfg, start_ns, stop_ns)
    except ConfigError as e:
        return Gate("reproducible", False, f"the backtest's window cannot be re-run: {e}")
    diffs = {k: {"recorded": v, "now": _num(now.get(k))} for k, v in headline.items() if v != _num(now.get(k))}
    if diffs:
        return Gate("reproducible", False, f"a re-run of the window differs in {sorted(diffs)}: the lake or the code "
                    "changed since; Hint: run the backtest again and promote the new run", {"differences": diffs})
    return Gate("reproducible", True, f"re-run of {span['events']:,} events gives the recorded headline",
                {"window": span, "final_equity": _num(now["final_equity"])})


def _min_trades(headline: dict, need: int) -> Gate:
    n = int(headline.get("n_filled") or 0)
    return Gate("min_trades", n >= need, f"{n:,} orders filled, {need:,} needed", {"n_filled": n, "min": need})


def _costs_included(cfg: SimConfig, headline: dict) -> Gate:
    fees = sum(float(headline.get(k) or 0.0) for k in ("fee_dex", "fee_base", "fee_priority", "tip"))
    ev = {"base_fee_lamports": cfg.base_fee_lamports, "impact": cfg.impact, "compete_prob": cfg.compete_prob,
          "latency": cfg.latency, "fees_paid_lamports": fees, "n_orders": headline.get("n_orders")}
    problems = []
    if not cfg.base_fee_lamports > 0:
        problems.append("no base fee per signature (--sim base_fee_lamports=0)")
    if cfg.impact != "counterfactual":
        problems.append("our trades do not move the pools (--sim impact=none)")
    if int(headline.get("n_orders") or 0) > 0 and not fees > 0:
        problems.append("orders were sent but no fee was paid")
    if problems:
        return Gate("costs_included", False, "; ".join(problems), ev)
    return Gate("costs_included", True, f"fees, impact and base fee charged ({fees:,.0f} lamports paid)", ev)


def _out_of_sample(lake: Lake, strategy: Strategy, params: np.ndarray, cfg: SimConfig, start_ns: int, stop_ns: int,
                   gates: PaperGates) -> Gate:
    try:
        oos, span = _run_lake(lake, strategy, params, cfg, stop_ns, None)
    except ConfigError:
        return Gate("out_of_sample", False, f"the lake holds no events after the backtest's window (from "
                    f"{_iso(stop_ns)}); Hint: backtest with --to T to hold out the rest of the lake")
    in_days = (stop_ns - start_ns) / NS_PER_DAY
    fraction = span["days"] / in_days if in_days > 0 else math.inf
    ret, filled = _num(oos["total_return"]), int(oos["n_filled"])
    ev = {"window": span, "fraction_of_backtest": fraction, "total_return": ret, "n_filled": filled,
          "max_drawdown": _num(oos["max_drawdown"]), "min_fraction": gates.min_oos_fraction,
          "min_return": gates.min_oos_return}
    if fraction < gates.min_oos_fraction:
        return Gate("out_of_sample", False, f"held-out data spans {fraction:.0%} of the backtest's span, "
                    f"{gates.min_oos_fraction:.0%} needed", ev)
    if filled == 0:
        return Gate("out_of_sample", False, "no order filled in the held-out data", ev)
    ok = ret is not None and ret >= gates.min_oos_return
    return Gate("out_of_sample", ok, f"held-out return {_pct(ret)} over {span['days']:.3g} days ({filled:,} fills), "
                f"at least {_pct(gates.min_oos_return)} needed", ev)


# ---------------------------------------------------------------------------------------------
# paper -> live


def promote_to_live(lake: Lake, run_id: str, gates: LiveGates, resolve) -> Promotion:
    """Check a paper run against the paper -> live gates; record and return the attempt.

    ``resolve(ref)`` returns the `Strategy` of the run's journaled strategy reference.
    """
    from engine.exec.paper import PaperSession
    from engine.store.journal import list_runs

    session = PaperSession.from_journal(lake, run_id, resolve)
    identity = identity_of(session.strategy, session.params)
    runs = list_runs(lake).filter(pl.col("run_id") == run_id)
    row = runs.row(0, named=True) if runs.height else {"status": "unknown", "created_ns": None, "updated_ns": None}
    if row["status"] not in ("completed", "stopped"):
        msg = (f"paper run {run_id!r} is {row['status']}; promote a completed or stopped run "
               f"(resume it with `shoal paper --resume {run_id}`)")
        raise PromotionError(msg)
    span = _tape_span(session)
    summary = _paper_summary(session)
    checks = [_paper_stage(lake, identity),
              _paper_days(span, gates.min_paper_days),
              _parity(session),
              _pnl_vs_backtest(session, span, summary, gates.max_pnl_gap),
              _quarantine(lake, run_id, row, gates.explained),
              _drawdown(summary, gates.max_drawdown)]
    return _record(lake, identity, "paper", "live", run_id, tuple(checks))


def _tape_span(session) -> dict:
    """First and last slot and time of the journaled tape (read from its slot and time columns only)."""
    segs = [s for s in session.journal.segments() if s.n_events]
    if not segs:
        return {"events": 0, "days": 0.0}
    first = pq.read_table(segs[0].path, columns=["slot", "ts_ns"])
    last = pq.read_table(segs[-1].path, columns=["slot", "ts_ns"])
    t0, t1 = int(first["ts_ns"][0].as_py()), int(last["ts_ns"][-1].as_py())
    return {"events": session.journal.n_events, "first_slot": int(first["slot"][0].as_py()),
            "last_slot": int(last["slot"][-1].as_py()), "first_ts_ns": t0, "last_ts_ns": t1,
            "from": _iso(t0), "to": _iso(t1), "days": (t1 - t0) / NS_PER_DAY}


def _paper_summary(session) -> dict:
    s = session.journal.table("paper_summaries")
    if s.height == 0:
        msg = f"paper run {session.run_id!r} has no journaled summary yet; let it run to its first checkpoint"
        raise PromotionError(msg)
    last = s.filter(pl.col("row") == 0).sort("n_events").row(-1, named=True)
    return json.loads(last["summary_json"])


def _paper_stage(lake: Lake, identity: Identity) -> Gate:
    stage, promo = _stage(lake, identity)
    ok = stage in ("paper", "live")
    ev = {"stage": stage, "promotion_id": None if promo is None else promo["promotion_id"],
          "from_run": None if promo is None else promo["run_id"]}
    if ok:
        return Gate("paper_stage", True, f"promoted to paper by {promo['promotion_id']} (backtest {promo['run_id']})",
                    ev)
    return Gate("paper_stage", False, "this strategy, parameter set and code version was never promoted to paper; "
                "Hint: `shoal promote BACKTEST_RUN --to paper` first", ev)


def _paper_days(span: dict, need: float) -> Gate:
    days = span["days"]
    return Gate("paper_days", days >= need, f"{days:.3g} days of paper trading, {need:g} needed",
                {**{k: span.get(k) for k in ("from", "to", "events")}, "days": days, "min_days": need})


def _parity(session) -> Gate:
    from engine.exec.parity import parity

    rep = parity(session)
    ev = {"differences": rep.differences, "first_difference": rep.first_difference, "events": rep.n_events,
          "fills": rep.n_fills_journal, "complete": rep.complete}
    if rep.differences:
        return Gate("parity", False, f"{rep.differences:,} differences between paper and backtest; first: "
                    f"{rep.first_difference}", ev)
    return Gate("parity", True, f"paper == backtest, 0 differences over {rep.n_events:,} events", ev)


def _pnl_vs_backtest(session, span: dict, summary: dict, max_gap: float) -> Gate:
    init = float(summary["init_cash"])
    paper_pnl = float(summary["final_equity"]) - init
    spec = session.feed_spec
    try:
        bt, source = _independent_backtest(session, span)
    except ConfigError as e:
        return Gate("pnl_vs_backtest", False, f"no independent backtest of the paper window: {e}")
    bt_pnl = float(bt["final_equity"]) - init
    gap = abs(paper_pnl - bt_pnl) / abs(bt_pnl) if bt_pnl != 0 else (0.0 if paper_pnl == 0 else math.inf)
    ev = {"paper_pnl_lamports": paper_pnl, "backtest_pnl_lamports": bt_pnl, "gap": gap if math.isfinite(gap) else None,
          "max_gap": max_gap,
          "backtest_source": source, "feed": spec["kind"], "backtest_orders": int(bt["n_orders"]),
          "paper_orders": int(summary["n_orders"])}
    return Gate("pnl_vs_backtest", gap <= max_gap, f"paper PnL {paper_pnl:,.0f} vs backtest {bt_pnl:,.0f} lamports: "
                f"gap {_pct(gap)}, at most {_pct(max_gap)}", ev)


def _independent_backtest(session, span: dict) -> tuple[dict, str]:
    """Backtest the paper window from the feed's own source, not the journal: the lake, or the generator."""
    cap = Capacity(max_fills=session.paper.max_fills, max_pending=session.paper.max_pending,
                   max_holdings=session.paper.max_holdings)
    if span["events"] == 0:
        msg = "the paper run journaled no events"
        raise ConfigError(msg)
    spec = session.feed_spec
    if spec["kind"] not in ("replay", "synthetic"):
        msg = (f"no independent backtest for a paper run on a {spec['kind']!r} feed yet (it cannot be regenerated, and "
               "its lake holds pools outside the run's pinned market); paper-trade a lake replay of the same "
               "period (`shoal paper --replay --from T --to T`) and promote that run")
        raise ConfigError(msg)
    if spec["kind"] == "replay":
        from research.data import from_lake

        data = from_lake(session.lake, start_ts_ns=span["first_ts_ns"], stop_ts_ns=span["last_ts_ns"] + 1)
        tapes, source = list(data.tapes()), f"lake {data.describe()}"
    else:
        tapes, source = _feed_tapes(session, span["last_slot"]), f"{spec['kind']} feed regenerated"
    result = stream(tapes, session.strategy, session.params, market=session.market, cfg=session.cfg, capacity=cap)
    return result.summary.row(0, named=True), source


def _feed_tapes(session, last_slot: int) -> list[Tape]:
    """Every event the spec's feed yields up to ``last_slot``, unpaced and unguarded."""
    from engine.exec.paper import build_feed

    spec = {**session.feed_spec, "speed": "max"}

    async def collect() -> list[Tape]:
        out = []
        async for chunk in build_feed(spec, session.lake):
            keep = chunk.slot <= last_slot
            if keep.any():
                out.append(chunk.take(np.flatnonzero(keep)))
            if not keep.all():
                break
        return out

    return asyncio.run(collect())


def _quarantine(lake: Lake, run_id: str, row: dict, explained: dict[str, str]) -> Gate:
    """Quarantined rows from the run itself, or written to the lake while it ran."""
    lo, hi = row.get("created_ns"), row.get("finished_ns") or row.get("updated_ns")
    q = lake.scan(QUARANTINE).collect()
    if q.height:
        cond = pl.col("source") == f"paper:{run_id}"
        if lo is not None and hi is not None:
            cond = cond | pl.col("ingested_ns").is_between(lo, hi)
        q = q.filter(cond)
    counts = dict(q.group_by("reason").len().iter_rows()) if q.height else {}
    unexplained = {r: n for r, n in counts.items() if r not in explained}
    ev = {"rows_by_reason": counts, "explained": {r: explained[r] for r in counts if r in explained},
          "unexplained": unexplained}
    if unexplained:
        return Gate("quarantine", False, f"unexplained quarantined rows in the paper period: {unexplained}; Hint: "
                    "look at them (`shoal lake info`) and, once understood, pass --explain REASON=NOTE", ev)
    n = sum(counts.values())
    return Gate("quarantine", True, "no quarantined rows in the paper period" if n == 0 else
                f"{n:,} quarantined rows, every reason explained", ev)


def _drawdown(summary: dict, limit: float) -> Gate:
    dd = float(summary["max_drawdown"])
    return Gate("drawdown", dd <= limit, f"maximum drawdown {_pct(dd)}, at most {_pct(limit)}",
                {"max_drawdown": dd, "limit": limit})


# ---------------------------------------------------------------------------------------------
# The catalog


def _record(lake: Lake, identity: Identity, from_stage: str, to_stage: str, run_id: str,
            gates: tuple[Gate, ...]) -> Promotion:
    promo = Promotion(f"pr-{datetime.now(tz=UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}", time.time_ns(),
                      identity, from_stage, to_stage, run_id, gates)
    with opened(lake) as con:
        con.execute(DDL).fetchall()
        con.execute("INSERT INTO promotions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [promo.promotion_id, promo.created_ns, identity.key, identity.strategy,
                     json.dumps(identity.params, sort_keys=True), identity.code_version, from_stage, to_stage, run_id,
                     promo.passed, json.dumps([g.to_dict() for g in gates], default=_json_default)]).fetchall()
    return promo


def history(lake: Lake, *, strategy: str | None = None) -> pl.DataFrame:
    """Every promotion attempt of the lake, newest first (``gates`` decoded to a list of dicts per row)."""
    if not lake.catalog_path.exists():
        return pl.DataFrame()
    with opened(lake) as con:
        con.execute(DDL).fetchall()
        sql = "SELECT * FROM promotions" + (" WHERE strategy = ?" if strategy else "") + " ORDER BY created_ns DESC"
        return _frame(con, sql, [strategy] if strategy else [])


def _frame(con: duckdb.DuckDBPyConnection, sql: str, args: list) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=args or None).to_arrow_table())


def _stage(lake: Lake, identity: Identity) -> tuple[str, dict | None]:
    """The identity's stage (its latest passed promotion's target) and that promotion's row."""
    with opened(lake) as con:
        con.execute(DDL).fetchall()
        df = _frame(con, "SELECT * FROM promotions WHERE identity = ? AND passed ORDER BY created_ns DESC LIMIT 1",
                    [identity.key])
    if df.height == 0:
        return "research", None
    row = df.row(0, named=True)
    return row["to_stage"], row


def require_live(lake: Lake, identity: Identity) -> dict:
    """Return the passed live promotion of ``identity``; otherwise say where it stands and how to promote it."""
    stage, promo = _stage(lake, identity)
    if stage == "live":
        return promo
    params = json.dumps(identity.params, sort_keys=True)
    same_params = history(lake, strategy=identity.strategy)
    if same_params.height:
        same_params = same_params.filter((pl.col("params_json") == params) & pl.col("passed")
                                         & (pl.col("to_stage") == "live"))
    why = (f"strategy {identity.strategy!r} with these parameters (identity {identity.key}, code "
           f"{identity.code_version}) has no live promotion; it is at stage {stage!r}")
    if same_params.height:
        old = same_params.row(0, named=True)
        why += (f". It was promoted to live by {old['promotion_id']} on code {old['code_version']}: the code has "
                "changed since, and a promotion holds for one code version")
    msg = (why + ". Hint: promote it through the gates: `shoal backtest -s NAME --param ... --to T`, "
           "`shoal promote BACKTEST_RUN --to paper`, `shoal paper -s NAME --param ...` for at least 2 days, "
           "`shoal promote PAPER_RUN --to live`; `shoal promotions` lists the history")
    raise PromotionError(msg)


# ---------------------------------------------------------------------------------------------


def finite(doc: dict) -> dict:
    """``doc`` with NaN and infinite floats as None (strict JSON has no NaN)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in doc.items()}


def _num(v: object) -> object:
    """A summary value as the recorded headline stores it (NaN and infinities as None)."""
    if v is None:
        return None
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _pct(v: float | None) -> str:
    return "n/a" if v is None else "inf" if v == math.inf else f"{v:.2%}"


def _iso(ts_ns: int | None) -> str | None:
    return None if ts_ns is None else datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def _json_default(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v.item() if hasattr(v, "item") else str(v)
