"""`shoal promote`, `shoal promotions`, `shoal live`: the stage gates, their history, and live trading."""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from engine.errors import ConfigError
from engine.feeds.base import MAX_SPEED, parse_speed
from engine.store.lake import Lake, resolve_root
from research.cli_common import DebugOpt, JsonOpt, LakeOpt, command
from research.cli_paper import resolve_strategy
from research.output import console, err_console, print_json, table
from research.params import build_params, parse_pairs

LAMPORTS_PER_SOL = 10**9


@command
def promote(
    run_id: Annotated[str, typer.Argument(help="A backtest run (--to paper) or a paper run (--to live).")],
    to: Annotated[str, typer.Option("--to", help="Stage to promote to: paper or live.")],
    min_trades: Annotated[int, typer.Option("--min-trades", help="paper: orders the backtest must fill.")] = 20,
    min_oos_fraction: Annotated[float, typer.Option("--min-oos-fraction", help="paper: held-out span needed, as a "
                                                    "fraction of the backtest's.")] = 0.25,
    min_oos_return: Annotated[float, typer.Option("--min-oos-return", help="paper: smallest held-out return, "
                                                  "net of costs.")] = 0.0,
    min_paper_days: Annotated[float, typer.Option("--min-paper-days", help="live: days of paper trading.")] = 2.0,
    max_pnl_gap: Annotated[float, typer.Option("--max-pnl-gap", help="live: largest paper-vs-backtest PnL gap, "
                                               "as a fraction.")] = 0.01,
    max_drawdown: Annotated[float, typer.Option("--max-drawdown", help="live: largest drawdown of the paper "
                                                "run.")] = 0.2,
    explain: Annotated[list[str] | None, typer.Option("--explain", help="live: REASON=NOTE accepts quarantined rows "
                                                      "of that reason; repeatable.")] = None,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Move a run's strategy and parameters to the next stage through its gates (exit 1 when refused)."""
    from research import promote as gates

    target = Lake(resolve_root(lake))
    if to == "paper":
        promo = gates.promote_to_paper(target, run_id, gates.PaperGates(
            min_trades=min_trades, min_oos_fraction=min_oos_fraction, min_oos_return=min_oos_return), resolve_strategy)
    elif to == "live":
        promo = gates.promote_to_live(target, run_id, gates.LiveGates(
            min_paper_days=min_paper_days, max_pnl_gap=max_pnl_gap, max_drawdown=max_drawdown,
            explained=_explanations(explain)), resolve_strategy)
    else:
        msg = f"--to must be 'paper' or 'live', was {to!r}"
        raise ConfigError(msg)
    if json:
        print_json(promo.to_dict())
    else:
        console.print(table(f"promote {run_id}: {promo.identity.strategy} {promo.from_stage} -> {promo.to_stage} "
                            f"(identity {promo.identity.key})", ["gate", "result", "why"],
                            [(g.name, "pass" if g.passed else "FAIL", g.reason) for g in promo.gates]))
        if promo.passed:
            console.print(f"[bold green]promoted[/] to {promo.to_stage}: {promo.promotion_id}")
        else:
            failed = [g.name for g in promo.gates if not g.passed]
            console.print(f"[bold red]refused[/]: {len(failed)} gate(s) failed ({', '.join(failed)}); recorded as "
                          f"{promo.promotion_id}")
    if not promo.passed:
        raise typer.Exit(1)


def _explanations(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        reason, sep, note = pair.partition("=")
        if not sep or not reason.strip() or not note.strip():
            msg = f"--explain takes REASON=NOTE (e.g. duplicate_key='websocket redelivery'), was {pair!r}"
            raise ConfigError(msg)
        out[reason.strip()] = note.strip()
    return out


@command
def promotions(strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="Only this strategy.")] = None,
               limit: Annotated[int, typer.Option("--limit", min=1, help="Newest attempts shown.")] = 20,
               lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """List every promotion attempt, newest first, with the evidence behind each gate."""
    import json as jsonlib

    from research import promote as gates

    target = Lake(resolve_root(lake))
    df = gates.history(target, strategy=strategy)
    rows = [] if df.height == 0 else [
        {"promotion_id": r["promotion_id"], "created": datetime.fromtimestamp(r["created_ns"] / 1e9, tz=UTC).isoformat(
            timespec="seconds"), "identity": r["identity"],
         "strategy": r["strategy"], "params": gates.finite(jsonlib.loads(r["params_json"])),
         "code_version": r["code_version"],
         "from": r["from_stage"], "to": r["to_stage"], "run_id": r["run_id"], "passed": r["passed"],
         "gates": jsonlib.loads(r["gates_json"])} for r in df.iter_rows(named=True)]
    if json:
        print_json({"lake": str(target.root), "promotions": rows})
        return
    if not rows:
        console.print(f"no promotions in {target.root}; promote a backtest with `shoal promote RUN --to paper`")
        return
    for r in rows[:limit]:
        verdict = "[green]passed[/]" if r["passed"] else "[red]refused[/]"
        console.print(table(f"{r['created']} {r['promotion_id']}: {r['strategy']} {r['from']} -> {r['to']} from run "
                            f"{r['run_id']}, identity {r['identity']}: {verdict}", ["gate", "result", "evidence"],
                            [(g["name"], "pass" if g["passed"] else "FAIL", g["reason"]) for g in r["gates"]]))
    if len(rows) > limit:
        console.print(f"{len(rows) - limit} older promotion(s) not shown; use --limit or --json")


@command
def live(
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Strategy name, or module:ATTR.")],
    keypair: Annotated[str, typer.Option("--keypair", help="Solana CLI keypair file (mode 600).")],
    rpc: Annotated[list[str], typer.Option("--rpc", help="JSON-RPC endpoint; repeat: reads fail over, sends go "
                                           "to every one.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="name=value; repeat for more.")] = None,
    sim: Annotated[list[str] | None, typer.Option("--sim", help="Fill/cost model setting name=value (dry run: the "
                                                  "shadow ledger's; --live books the chain's fills).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the dry run's fill model.")] = 0,
    send: Annotated[bool, typer.Option("--live", help="Send transactions (needs SHOAL_LIVE=1 or the wallet's "
                                       "public key typed at the prompt); default: dry run.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Feed: replay the lake instead of a synthetic "
                                         "market.")] = False,
    ws: Annotated[list[str] | None, typer.Option("--ws", help="Feed: the live Solana websocket (repeat to fail "
                                                 "over), on the pools of the lake's registry.")] = None,
    feed_rpc: Annotated[list[str] | None, typer.Option("--feed-rpc", help="--ws: JSON-RPC endpoint the feed "
                                                       "fetches transactions from (default: --rpc).")] = None,
    watch: Annotated[list[str] | None, typer.Option("--watch", help="--ws: address whose transactions to follow; "
                                                    "repeat. Default: every pool of the registry.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Replay start (ISO, UTC), inclusive.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Replay end (ISO, UTC), exclusive.")] = None,
    days: Annotated[float, typer.Option("--days", help="Synthetic feed: days of market.", min=0.0)] = 1.0,
    tokens: Annotated[int, typer.Option("--tokens", help="Synthetic feed: listed tokens.", min=1)] = 16,
    market_seed: Annotated[int, typer.Option("--market-seed", help="Synthetic feed: its seed.")] = 0,
    speed: Annotated[str, typer.Option("--speed", help="x1 .. x100000 real time, or max.")] = "1",
    run_id: Annotated[str | None, typer.Option("--run-id", help="Id of the session (default: generated).")] = None,
    max_order_sol: Annotated[float, typer.Option("--max-order-sol", help="Cap on one order's notional.")] = 1.0,
    max_day_sol: Annotated[float, typer.Option("--max-day-sol", help="Cap on one UTC day's notional.")] = 10.0,
    slippage_bps: Annotated[int, typer.Option("--slippage-bps", help="Slippage bound of every order.")] = 100,
    max_slippage_bps: Annotated[int, typer.Option("--max-slippage-bps", help="Guard: widest bound allowed.")] = 300,
    allow_mint: Annotated[list[str] | None, typer.Option("--allow-mint", help="Mint orders may trade; repeat. "
                                                         "Default: every mint of the market.")] = None,
    kill_file: Annotated[str | None, typer.Option("--kill-file", help="Its existence stops new orders "
                                                  "(default <lake>/live/KILL).")] = None,
    kill_port: Annotated[int, typer.Option("--kill-port", help="POST /kill on 127.0.0.1:PORT stops new orders "
                                           "(0: any free port).")] = 0,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Serve /metrics and /health on "
                                                     "127.0.0.1:PORT.")] = None,
    cu_limit: Annotated[int, typer.Option("--cu-limit", help="Compute-unit limit of every transaction.")] = 200_000,
    tip_account: Annotated[str | None, typer.Option("--tip-account", help="Where order tips go.")] = None,
    rps: Annotated[float, typer.Option("--rps", help="Most RPC requests per second.")] = 50.0,
    reconcile_every: Annotated[float, typer.Option("--reconcile-every", help="Seconds between balance "
                                                   "reconciliations.")] = 60.0,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Trade a promoted strategy on Solana: dry run (build, simulate, journal) unless --live is confirmed."""
    from engine.exec.live.guards import GuardConfig, SendMode, load_wallet, resolve_send_mode
    from engine.exec.live.routes import ROUTED_PROGRAMS
    from engine.exec.live.session import LIVE_DIR, LiveSession, SessionConfig
    from engine.exec.live.venue import LiveConfig
    from engine.feeds.rpc import RpcConfig
    from research import promote as gates
    from research.cli_paper import _sim  # the shadow kernel's fill model defaults as in `shoal paper`

    wallet = load_wallet(keypair)  # before anything else: a readable key file is refused at once
    target = Lake(resolve_root(lake))
    strat = resolve_strategy(strategy)
    params = build_params(strat, parse_pairs(param, ranges=False))
    identity = gates.identity_of(strat, params)
    promotion = gates.require_live(target, identity)
    mode, why = resolve_send_mode(live=send, wallet=wallet, typed_confirmation=_typed(send, wallet))
    if send and mode is SendMode.DRY_RUN:
        msg = f"{why}. Hint: set SHOAL_LIVE=1, or type the public key {wallet.pubkey} at the prompt"
        raise ConfigError(msg)
    if ws:
        from research.cli_paper import _solana_spec

        spec = _solana_spec(target, ws, feed_rpc or rpc, watch, replay=replay, window=(from_, to))
        market, listings = _registry_market(target, spec)
    else:
        spec, market, listings = _feed(target, replay, from_, to, days, tokens, market_seed, speed)
    mints = frozenset(allow_mint) if allow_mint else frozenset(m for p in listings.values()
                                                               for m in (p.base_mint, p.quote_mint))
    guard_cfg = GuardConfig(max_order_notional_lamports=round(max_order_sol * LAMPORTS_PER_SOL),
                            max_day_notional_lamports=round(max_day_sol * LAMPORTS_PER_SOL),
                            max_slippage_bps=max_slippage_bps, allowed_mints=mints,
                            allowed_programs=ROUTED_PROGRAMS,
                            kill_switch_path=kill_file or str(target.root / LIVE_DIR / "KILL"))
    from engine.store.journal import new_run_id

    session = LiveSession(
        target, run_id or "lv" + new_run_id().removeprefix("pp"), strat, params, cfg=_sim(sim, seed),
        feed_spec=spec, market=market, listings=listings, wallet=wallet,
        rpc=RpcConfig(endpoints=tuple(rpc), max_rps=rps, concurrency=32),
        guards=guard_cfg, venue=LiveConfig(tip_account=tip_account), mode=mode,
        session=SessionConfig(slippage_bps=slippage_bps, cu_limit=cu_limit, reconcile_every_s=reconcile_every,
                              kill_port=kill_port, metrics_port=metrics_port),
        meta={"promotion_id": promotion["promotion_id"], "identity": identity.key})
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if not json:
        err_console.print(f"{mode.value}: {why}; wallet {wallet.pubkey}; promotion {promotion['promotion_id']}")

    def ready(s: LiveSession) -> None:
        if not json:
            err_console.print(f"kill switch: touch {guard_cfg.kill_switch_path}  or  curl -X POST {s.kill_url}"
                              + (f"; metrics: {s.metrics_url}/metrics" if s.metrics_url else ""))

    out = session.run(on_ready=ready)
    doc = {"run_id": out.run_id, "mode": out.mode, "status": out.status, "events": out.n_events,
           "orders": out.n_orders, "outcomes": out.outcomes, "halted": out.halted, "folder": out.folder,
           "seconds": round(out.seconds, 3), "promotion_id": promotion["promotion_id"], "identity": identity.key,
           "wallet": str(wallet.pubkey), "ledger": out.ledger,
           "orders_detail": [{"order_id": r.order_id, "pool_id": r.pool_id, "side": r.side.name, "outcome": r.outcome,
                              "reason": r.reason, "signature": r.signature, "amount_in_raw": r.amount_in_raw,
                              "amount_out_raw": r.amount_out_raw, "min_out_raw": r.min_out_raw,
                              "fee_lamports": r.fee_lamports} for r in out.results]}
    if json:
        print_json(doc)
    else:
        console.print(table(f"live {out.run_id} ({out.mode}) {out.status}: {out.n_events:,} events, "
                            f"{out.n_orders:,} orders decided", ["outcome", "orders"], sorted(out.outcomes.items())))
        if out.ledger is not None and out.ledger["equal"]:
            console.print(f"kernel ledger == chain: {out.ledger['kernel_cash_lamports']:,} lamports of SOL, "
                          f"{len(out.ledger['tokens'])} token(s)")
        if out.halted:
            console.print(f"[bold red]trading stopped:[/] {out.halted}")
        console.print(f"journal: {out.folder}/decisions.jsonl")
    if out.status == "halted":
        raise typer.Exit(1)


def _typed(send: bool, wallet) -> str | None:
    """With --live and no SHOAL_LIVE=1, ask for the wallet's public key on stdin."""
    if not send or os.environ.get("SHOAL_LIVE") == "1":
        return None
    err_console.print(f"--live sends real transactions from {wallet.pubkey}. Type that public key to confirm:")
    line = sys.stdin.readline()
    return line or None


def _feed(lake: Lake, replay: bool, from_: str | None, to: str | None, days: float, tokens: int, market_seed: int,
          speed: str) -> tuple[dict, object, dict]:
    """The feed spec, its market and the registry's pools (for routes)."""
    from engine.exec.live.routes import pool_listings
    from research.data import parse_time

    speed_v = parse_speed(speed)
    spd: float | str = "max" if speed_v == MAX_SPEED else speed_v
    if replay:
        spec = {"kind": "replay", "start_ts_ns": parse_time(from_), "stop_ts_ns": parse_time(to), "speed": spd}
        return spec, *_registry_market(lake, spec)
    if from_ is not None or to is not None:
        msg = "--from/--to choose a window of the lake; add --replay to replay it"
        raise ConfigError(msg)
    from dataclasses import asdict

    from engine.feeds.synthetic import SyntheticConfig
    from engine.feeds.synthetic_live import synthetic_market

    syn = SyntheticConfig(seed=market_seed, days=days, n_tokens=tokens)
    market, gen = synthetic_market(syn)
    return {"kind": "synthetic", "synthetic": asdict(syn), "speed": spd}, market, pool_listings(gen.pools, gen.tokens)


def _registry_market(lake: Lake, spec: dict) -> tuple[object, dict]:
    """The market of a feed on the lake's registry (replay, Solana feed) and the registry's pools (for routes)."""
    from engine.exec.live.routes import pool_listings
    from engine.exec.paper import build_market
    from engine.store import registry
    from engine.store.catalog import opened

    market = build_market(spec, lake)
    with opened(lake) as con:
        listings = pool_listings(registry.read(con, "pools"), registry.read(con, "tokens"))
    return market, listings


def _raise_interrupt(signum, frame) -> None:
    """SIGTERM acts as Ctrl-C: in the session's event loop that cancels the session, which stops cleanly even
    while it waits on the network (a live feed); outside it, KeyboardInterrupt."""
    signal.raise_signal(signal.SIGINT)


__all__ = ["live", "promote", "promotions"]
