"""`shoal ingest ...`: bring real data into the lake (saved transactions, RPC backfills, exports, token lists)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine.errors import ConfigError
from engine.store.catalog import opened, refresh_views
from engine.store.lake import Lake, resolve_root
from research.cli_common import DebugOpt, JsonOpt, LakeOpt, command
from research.output import console, print_json, table

ingest_app = typer.Typer(help="Bring real data into the lake.", no_args_is_help=True)


RpcOpt = Annotated[list[str] | None, typer.Option(
    "--rpc", help="JSON-RPC URL; repeat to fail over (else $SHOAL_RPC, comma-separated).", show_default=False)]
SinceOpt = Annotated[str, typer.Option("--since", help="Oldest time: ISO date/datetime, UNIX seconds, or 7d/12h/30m.")]
ConcOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight at once.")]
RpsOpt = Annotated[float, typer.Option("--rps", min=0.001, help="Requests per second across endpoints.")]
TimeoutOpt = Annotated[int, typer.Option("--timeout-ms", min=1, help="Per-request timeout, ms.")]


def _progress(enabled: bool, what: str) -> Progress:
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=True)


def _print_counts(title: str, written: dict, present: dict, quarantined: dict) -> None:
    names = sorted(set(written) | set(present))
    console.print(table(title, ["table", "rows written", "already present"],
                        [(n, written.get(n, 0), present.get(n, 0)) for n in names]))
    n_q = sum(quarantined.values())
    console.print(f"quarantined: {n_q:,}" + (f" {dict(quarantined)}" if n_q else ""))


@ingest_app.command("tx")
@command
def ingest_tx(
    files: Annotated[list[Path], typer.Argument(help="Saved getTransaction responses (JSON object or array).")],
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Parse saved getTransaction JSON files into swaps in the lake; bad documents are quarantined."""
    from engine.feeds.solana_tx import TxParseError
    from engine.feeds.tx_ingest import TxSink, read_tx_file

    target = Lake(resolve_root(lake))
    parsed, records, errors = [], [], []
    with opened(target) as con:
        sink = TxSink(target, con, source="tx-file")
        with _progress(not json and len(files) > 20, "parsing") as bar:
            task = bar.add_task("files", total=len(files))
            for path in files:
                for result, doc in read_tx_file(path):
                    if isinstance(result, TxParseError):
                        sink.reject(result, doc)
                        errors.append({"file": str(path), "where": result.where, "error": result.reason})
                    else:
                        parsed.append(result)
                        records.append(result.to_json_dict())
                bar.advance(task)
        report, _ = sink.land(parsed)
        refresh_views(con, target)
    report.rejected += len(errors)
    if errors:
        report.quarantined["malformed"] += len(errors)
    doc = {"lake": str(target.root), "files": len(files), "transactions": records, "errors": errors,
           "landed": report.to_dict()}
    if json:
        print_json(doc)
        return
    rows = [(r["signature"][:16] + "…", r["slot"], r["status"], r["dex"] or "", len(r["swaps"])) for r in records]
    console.print(table(f"{len(records)} transaction(s) from {len(files)} file(s)",
                        ["signature", "slot", "status", "dex", "swaps"], rows))
    for e in errors:
        console.print(f"[yellow]quarantined[/] {e['where']}: {e['error']}", highlight=False)
    _print_counts("landed", report.written, report.already_present, report.quarantined)


def _endpoints(rpc: list[str] | None) -> tuple[str, ...]:
    if rpc:
        return tuple(rpc)
    env = os.environ.get("SHOAL_RPC", "")
    return tuple(u.strip() for u in env.split(",") if u.strip())


def _backfill(kind: str, address: str, since: str, rpc: list[str] | None, concurrency: int, rps: float,
              timeout_ms: int, page_limit: int, lake: str | None, json: bool) -> None:
    from engine.feeds.backfill import BackfillConfig, backfill, parse_since
    from engine.feeds.rpc import RpcClient, RpcConfig

    cfg = BackfillConfig(address=address, kind=kind, since_ns=parse_since(since), page_limit=page_limit)
    rcfg = RpcConfig(endpoints=_endpoints(rpc), concurrency=concurrency, max_rps=rps, burst=max(1, concurrency),
                     timeout_ms=timeout_ms)
    target = Lake(resolve_root(lake))

    async def run(bar: Progress) -> dict:
        task = bar.add_task("transactions", total=None)
        async with RpcClient(rcfg) as client:
            with opened(target) as con:
                report = await backfill(client, target, con, cfg,
                                        progress=lambda done, total: bar.update(task, completed=done, total=total))
                refresh_views(con, target)
        return report.to_dict()

    with _progress(not json, f"backfilling {kind}") as bar:
        doc = asyncio.run(run(bar))
    if json:
        print_json(doc)
        return
    land = doc["land"]
    console.print(f"{kind} {address}: {doc['listed']:,} signatures listed in {doc['pages']} page(s), "
                  f"{doc['fetched']:,} transactions fetched, {land['swaps']:,} swaps "
                  f"({doc['failed_skipped']:,} failed on chain, skipped; {doc['not_found']:,} not found) "
                  f"in {doc['seconds']:.1f} s")
    _print_counts("landed", land["written"], land["already_present"], land["quarantined"])
    r = doc["rpc"]
    console.print(f"rpc: {r['requests']:,} requests, {r['retries']:,} retries, {r['failovers']:,} failovers, "
                  f"{r['rate_limited']:,} rate-limited, {r['timeouts']:,} timeouts")
    cur = doc["cursor"] or {}
    console.print(f"cursor: newest {cur.get('newest_signature')} (slot {cur.get('newest_slot')})")


@ingest_app.command("wallet")
@command
def ingest_wallet(
    address: Annotated[str, typer.Argument(help="Wallet address (base58).")],
    since: SinceOpt = "1d", rpc: RpcOpt = None, concurrency: ConcOpt = 8, rps: RpsOpt = 40.0,
    timeout_ms: TimeoutOpt = 10_000,
    page_limit: Annotated[int, typer.Option("--page-limit", min=1, max=1000, help="Signatures per page.")] = 1000,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Backfill a wallet's swaps over RPC, resuming from the last signature stored."""
    _backfill("wallet", address, since, rpc, concurrency, rps, timeout_ms, page_limit, lake, json)


@ingest_app.command("pool")
@command
def ingest_pool(
    address: Annotated[str, typer.Argument(help="Pool address (base58).")],
    since: SinceOpt = "1d", rpc: RpcOpt = None, concurrency: ConcOpt = 8, rps: RpsOpt = 40.0,
    timeout_ms: TimeoutOpt = 10_000,
    page_limit: Annotated[int, typer.Option("--page-limit", min=1, max=1000, help="Signatures per page.")] = 1000,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Backfill a pool's swaps over RPC, resuming from the last signature stored."""
    _backfill("pool", address, since, rpc, concurrency, rps, timeout_ms, page_limit, lake, json)


@ingest_app.command("file")
@command
def ingest_file(
    path: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON export.")],
    format: Annotated[str, typer.Option("--format", help="trades, ohlcv or outcomes.")],
    map: Annotated[list[str] | None, typer.Option("--map", help="column=field; repeatable.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Name kept with quarantined rows.")] = None,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Import an export of DEX trades, OHLCV bars or prediction-market trades; bad rows are quarantined."""
    from engine.feeds.importers import FORMATS, import_file, parse_maps

    if format not in FORMATS:
        msg = f"--format {format!r} is not one of {list(FORMATS)}"
        raise ConfigError(msg)
    target = Lake(resolve_root(lake))
    with opened(target) as con:
        report = import_file(target, con, path, format, maps=parse_maps(map, format), source=source)
        refresh_views(con, target)
    doc = report.to_dict()
    if json:
        print_json(doc)
        return
    console.print(table(f"{path.name} as {format}: columns", ["field", "column"], list(doc["columns"].items())))
    _print_counts(f"{doc['rows']:,} rows", doc["written"], doc["already_present"], doc["quarantined"])


@ingest_app.command("tokens")
@command
def ingest_tokens(
    file: Annotated[Path, typer.Option("--file", help="Token list: JSON array, {\"tokens\": [...]}, or CSV.")],
    full: Annotated[bool, typer.Option("--full/--partial",
                                       help="The file is the whole list: delist tokens missing from it.")] = False,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Sync the token registry from a token list: new listings, changes (with history), delistings."""
    from engine.feeds.token_sync import read_token_list, sync_tokens

    tokens = read_token_list(file)
    target = Lake(resolve_root(lake))
    with opened(target) as con:
        report = sync_tokens(con, tokens, full=full)
    doc = {"lake": str(target.root), "file": str(file), "tokens": tokens.height, "full": full, **report.to_dict()}
    if json:
        print_json(doc)
        return
    console.print(table(f"token registry <- {file.name} ({tokens.height:,} tokens)",
                        ["new", "changed", "delisted", "relisted", "unchanged", "field changes"],
                        [(report.new, report.changed, report.delisted, report.relisted, report.unchanged,
                          report.field_changes)]))
