"""`shoal paper`, `shoal runs`, `shoal parity`: paper trading on the backtest engine, and its proof."""

from __future__ import annotations

import importlib
import signal
import time
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
import polars as pl
import typer

from engine.errors import ConfigError
from engine.feeds.base import MAX_SPEED, parse_speed
from engine.sim import SimConfig, Strategy
from engine.store.lake import Lake, resolve_root
from research.cli_common import DebugOpt, JsonOpt, LakeOpt, command
from research.output import console, err_console, print_json, table
from research.params import build_params, parse_pairs

HEADLINE = ("total_return", "max_drawdown", "final_equity", "realized_pnl", "n_orders", "n_filled", "n_outbid",
            "n_below_min_out", "trades", "wins", "fee_dex", "fee_base", "fee_priority", "tip")


def resolve_strategy(ref: str) -> Strategy:
    """A registry name (`shoal strategies`) or ``module:ATTR`` of a `Strategy` object."""
    if ":" in ref:
        module, attr = ref.split(":", 1)
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            msg = f"cannot load strategy {ref!r}: {e}"
            raise ConfigError(msg) from e
        if not isinstance(obj, Strategy):
            msg = f"{ref!r} is a {type(obj).__name__}, not a Strategy"
            raise ConfigError(msg)
        return obj
    from research.strategies import get

    return get(ref)


def _sim(pairs: list[str] | None, seed: int) -> SimConfig:
    raw = {k: v[0] for k, v in parse_pairs(pairs, ranges=False).items()}
    if "cu_per_hop" in raw:
        msg = "cu_per_hop cannot be set from the command line; use the Python API"
        raise ConfigError(msg)
    # the same default as `shoal backtest`: our own trades move the pools we trade on
    return SimConfig.from_mapping({"seed": seed, "impact": "counterfactual", **raw})


def _iso(ts_ns: int | None) -> str | None:
    return None if ts_ns is None else datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def _jsonable(v: object) -> object:
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v.item() if hasattr(v, "item") else v


@command
def paper(
    strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="Strategy name, or module:ATTR.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="name=value; repeat for more.")] = None,
    sim: Annotated[list[str] | None, typer.Option("--sim", help="Fill/cost model setting name=value.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fill model's random draws.")] = 0,
    days: Annotated[float, typer.Option("--days", help="Days of synthetic market to trade.", min=0.0)] = 1.0,
    tokens: Annotated[int, typer.Option("--tokens", help="Listed tokens of the synthetic market.", min=1)] = 16,
    market_seed: Annotated[int, typer.Option("--market-seed", help="Seed of the synthetic market.")] = 0,
    replay: Annotated[bool, typer.Option("--replay", help="Replay the lake instead of a synthetic market.")] = False,
    ws: Annotated[list[str] | None, typer.Option("--ws", help="Trade the live Solana feed from this websocket URL "
                                                 "(repeat to fail over) on the pools of the lake's registry.")] = None,
    rpc: Annotated[list[str] | None, typer.Option("--rpc", help="--ws: JSON-RPC endpoint the feed fetches "
                                                  "transactions from; repeat to fail over.")] = None,
    watch: Annotated[list[str] | None, typer.Option("--watch", help="--ws: address whose transactions to follow; "
                                                    "repeat. Default: every pool of the registry.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Replay start (ISO, UTC), inclusive.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Replay end (ISO, UTC), exclusive.")] = None,
    speed: Annotated[str, typer.Option("--speed", help="x1 .. x100000 real time, or max.")] = "1",
    run_id: Annotated[str | None, typer.Option("--run-id", help="Id of the new run (default: generated).")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Resume this run after a crash or a stop.")] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Serve /metrics and /health on "
                                                     "127.0.0.1:PORT (0: any free port).")] = None,
    flush_every: Annotated[float, typer.Option("--flush-every", help="Seconds between journal flushes.")] = 1.0,
    checkpoint_every: Annotated[float, typer.Option("--checkpoint-every",
                                                    help="Seconds between state checkpoints.")] = 30.0,
    stall_timeout: Annotated[float, typer.Option("--stall-timeout", help="Seconds of feed silence that count "
                                                 "as a stall.")] = 10.0,
    max_chunk_slots: Annotated[int, typer.Option("--max-chunk-slots", min=1,
                                                 help="Most slots per feed chunk.")] = 150,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Paper-trade a strategy on a replayed, synthetic or live Solana feed, journal it, then prove parity."""
    from engine.exec.paper import PaperConfig, PaperSession, feed_span
    from research.data import parse_time

    target = Lake(resolve_root(lake))
    if resume is not None:
        if strategy is not None or param or run_id is not None:
            msg = "--resume takes the strategy, parameters and feed from the journal; drop --strategy/--param/--run-id"
            raise ConfigError(msg)
        session = PaperSession.from_journal(target, resume, resolve_strategy, metrics_port=metrics_port)
    else:
        if strategy is None:
            msg = "name a strategy with --strategy (see `shoal strategies`), or resume a run with --resume RUN"
            raise ConfigError(msg)
        from engine.store.journal import new_run_id

        strat = resolve_strategy(strategy)
        params = build_params(strat, parse_pairs(param, ranges=False))
        cfg = _sim(sim, seed)
        speed_v = parse_speed(speed)
        spd: float | str = "max" if speed_v == MAX_SPEED else speed_v
        if ws:
            spec = _solana_spec(target, ws, rpc, watch, replay=replay, window=(from_, to))
        elif replay:
            spec = {"kind": "replay", "start_ts_ns": parse_time(from_), "stop_ts_ns": parse_time(to), "speed": spd,
                    "max_chunk_slots": max_chunk_slots}
        else:
            if from_ is not None or to is not None:
                msg = "--from/--to choose a window of the lake; add --replay to replay it"
                raise ConfigError(msg)
            from engine.feeds.synthetic import SyntheticConfig

            syn = SyntheticConfig(seed=market_seed, days=days, n_tokens=tokens)
            spec = {"kind": "synthetic", "synthetic": _syn_dict(syn), "speed": spd,
                    "max_chunk_slots": max_chunk_slots}
        paper_cfg = PaperConfig(flush_every_s=flush_every, checkpoint_every_s=checkpoint_every,
                                stall_timeout_s=stall_timeout, metrics_port=metrics_port)
        session = PaperSession(target, run_id or new_run_id(), strat, params, cfg=cfg, feed_spec=spec,
                               paper=paper_cfg, strategy_ref=strategy)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops cleanly (flush + checkpoint), like Ctrl-C
    span = feed_span(session.feed_spec, target)
    n_pools = session.market.n_pools
    outcome = _run_with_progress(session, resume=resume is not None, span=span, quiet=json)
    doc = {"run_id": session.run_id, "status": outcome.status, "strategy": session.strategy.name,
           "events": outcome.n_events, "last_slot": outcome.last_slot, "pools": n_pools,
           "seconds": round(outcome.seconds, 3), "decision_latency_s": outcome.latency_s,
           "resumed_from_event": outcome.resumed_from_event, "replayed_events": outcome.replayed_events,
           "feed": outcome.feed["guard"], "journal": str(session.journal.folder)}
    if session.feed_spec["kind"] == "solana":  # events on pools the session's market does not have
        doc["outside_market"] = outcome.feed["source"]["extra"].get("outside_market", 0)
    if outcome.status == "completed":
        from engine.exec.parity import parity as parity_of

        rep = parity_of(session)
        doc["parity"] = {"differences": rep.differences, "first_difference": rep.first_difference,
                         "fills": rep.n_fills_journal}
    if outcome.summary is not None:
        doc["summary"] = {k: _jsonable(v) for k, v in outcome.summary.row(0, named=True).items()}
    doc["report"] = _report(session, outcome) if outcome.summary is not None else None
    if json:
        print_json(doc)
    else:
        _print_outcome(doc, outcome)
    if doc.get("parity", {}).get("differences", 0):
        raise typer.Exit(1)


def _syn_dict(cfg) -> dict:
    from dataclasses import asdict

    return asdict(cfg)


def _raise_interrupt(signum, frame) -> None:
    """SIGTERM acts as Ctrl-C: in the session's event loop that cancels the session, which stops cleanly even
    while it waits on the network (a live feed); outside it, KeyboardInterrupt."""
    signal.raise_signal(signal.SIGINT)


def _solana_spec(lake: Lake, ws: list[str], rpc: list[str] | None, watch: list[str] | None, *, replay: bool,
                 window: tuple[str | None, str | None]) -> dict:
    """The live Solana feed's spec (`engine.feeds.solana_chunks.solana_feed_spec`), after checking the options."""
    from engine.feeds.solana_chunks import solana_feed_spec

    if replay or window != (None, None):
        msg = "--ws trades the live feed from now on; drop --replay/--from/--to (or drop --ws to replay the lake)"
        raise ConfigError(msg)
    if not rpc:
        msg = "--ws needs a JSON-RPC endpoint for the transactions it announces; Hint: add --rpc https://..."
        raise ConfigError(msg)
    return solana_feed_spec(lake, ws=ws, rpc=rpc, watch=watch)


def _run_with_progress(session, *, resume: bool, span: tuple[int, int] | None, quiet: bool):
    """Run the session under a progress bar: to the feed's last slot, or open-ended for a live feed (span None)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    label = ("resume " if resume else "paper ") + session.run_id
    first, last = span if span is not None else (0, None)
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("slot {task.fields[slot]:,}"),
                  TextColumn("{task.fields[events]:,} events"), TimeRemainingColumn(), disable=quiet,
                  transient=True, console=err_console) as bar:
        task = bar.add_task(label, total=None if last is None else max(1, last - first + 1), slot=first, events=0)
        last_draw = [0.0]

        def progress(slot: int, events: int) -> None:
            now = time.monotonic()
            if now - last_draw[0] >= 0.1 or (last is not None and slot >= last):
                last_draw[0] = now
                bar.update(task, completed=None if last is None else slot - first + 1, slot=slot, events=events)

        def ready(s) -> None:
            if s.server is not None and not quiet:
                err_console.print(f"metrics: {s.server.url}/metrics  health: {s.server.url}/health")

        return session.run(resume=resume, on_progress=progress, on_ready=ready)


def _report(session, outcome) -> str | None:
    try:
        from research.report import write_report
    except ImportError:
        return None
    j = session.journal
    eq = j.table("paper_equity").sort("row", "slot")
    folder = session.lake.root / "reports" / session.run_id
    try:
        path = write_report(folder, title=f"{session.strategy.name} paper {session.run_id}",
                            summary=outcome.summary, equity=eq.select("row", "slot", "ts_ns", "equity"),
                            fills=j.fills(), params=session.config()["params"],
                            meta={"run_id": session.run_id, "kind": "paper", "feed": session.feed_spec})
    except (TypeError, ValueError, KeyError, pl.exceptions.PolarsError) as e:  # report code is another module's
        err_console.print(f"report not written: {e}", style="dim")
        return None
    return str(path)


def _print_outcome(doc: dict, outcome) -> None:
    lat = doc["decision_latency_s"]
    lat_txt = ", ".join(f"{k} {v * 1e6:,.0f} us" for k, v in lat.items()) if lat else "n/a"
    console.print(f"run [bold]{doc['run_id']}[/] {doc['status']}: {doc['events']:,} events, {doc['pools']} pools, "
                  f"{doc['seconds']:.1f} s; decision latency {lat_txt}")
    g = doc["feed"]
    if g["duplicates"] or g["out_of_order"] or g["stalls"]:
        console.print(f"feed: {g['duplicates']:,} duplicates and {g['out_of_order']:,} late events quarantined, "
                      f"{g['stalls']} stalls")
    par = doc.get("parity")
    if par is not None:
        if par["differences"] == 0:
            console.print(f"parity: paper == backtest, 0 differences ({doc['events']:,} events, "
                          f"{par['fills']:,} fills)")
        else:
            console.print(f"[bold red]parity: {par['differences']:,} differences[/]; first: {par['first_difference']}")
    elif doc["status"] == "stopped":
        console.print(f"stopped; continue with: shoal paper --resume {doc['run_id']}")
    if doc.get("outside_market"):
        console.print(f"feed: {doc['outside_market']:,} events on pools first seen on the feed were recorded in the "
                      "lake, not traded (the session's market is the registry at its start; start a new session to "
                      "trade them)")
    if "summary" in doc:
        s = doc["summary"]
        console.print(table("summary (row 0)", ["metric", "value"], [(k, s.get(k)) for k in HEADLINE if k in s]))
    console.print(f"report: {doc['report']}" if doc["report"] else f"journal: {doc['journal']}")


@command
def runs(lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """List paper runs: status, strategy, start, last slot, equity."""
    from engine.store.journal import list_runs

    target = Lake(resolve_root(lake))
    df = list_runs(target)
    if json:
        rows = [] if df.height == 0 else [{k: _jsonable(v) for k, v in r.items()} | {
            "started": _iso(r["created_ns"]), "updated": _iso(r["updated_ns"])} for r in df.iter_rows(named=True)]
        print_json({"lake": str(target.root), "runs": rows})
        return
    if df.height == 0:
        console.print(f"no paper runs in {target.root}; start one with `shoal paper --strategy NAME`")
        return
    rows = [(r["run_id"], r["status"], r["strategy"], _iso(r["created_ns"]), r["last_slot"], r["n_events"],
             r["n_fills"], r["equity"], r["resumes"]) for r in df.iter_rows(named=True)]
    console.print(table(f"paper runs in {target.root}", ["run", "status", "strategy", "started", "last slot",
                                                         "events", "fills", "equity", "resumes"], rows))


@command
def parity(run_id: Annotated[str, typer.Argument(help="Paper run id (see `shoal runs`).")],
           lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Re-run a paper run's journaled tape as a backtest; compare ledgers, fills and summaries (1 if any differ)."""
    from engine.exec.paper import PaperSession
    from engine.exec.parity import parity as parity_of

    target = Lake(resolve_root(lake))
    session = PaperSession.from_journal(target, run_id, resolve_strategy)
    t0 = time.perf_counter()
    rep = parity_of(session)
    if json:
        print_json({"run_id": rep.run_id, "differences": rep.differences, "first_difference": rep.first_difference,
                    "events": rep.n_events, "checkpoint_event": rep.checkpoint_event, "fills": rep.n_fills_journal,
                    "complete": rep.complete, "seconds": round(time.perf_counter() - t0, 3)})
    elif rep.differences == 0:
        console.print(f"parity {run_id}: paper == backtest, 0 differences ({rep.n_events:,} events, "
                      f"{rep.n_fills_journal:,} fills{'' if rep.complete else ', run not finished'})")
    else:
        console.print(f"[bold red]parity {run_id}: {rep.differences:,} differences[/]; first: {rep.first_difference}")
    if rep.differences:
        raise typer.Exit(1)


__all__ = ["paper", "parity", "resolve_strategy", "runs"]

