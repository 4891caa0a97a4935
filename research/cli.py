"""The `shoal` command: every job is a subcommand; every table also comes as JSON with --json."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from engine.errors import ShoalError
from engine.store.catalog import opened
from engine.store.lake import Lake, resolve_root
from research import cli_live, cli_paper, cli_research, cli_walkforward
from research.cli_common import DebugOpt, JsonOpt, LakeOpt, command
from research.cli_ingest import ingest_app
from research.output import console, human_bytes, print_json, table

app = typer.Typer(name="shoal", help="Research, paper-trade and live-trade on-chain strategies.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
lake_app = typer.Typer(help="Inspect and check the lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")
app.add_typer(ingest_app, name="ingest")
app.command("backtest")(cli_research.backtest)
app.command("sweep")(cli_research.sweep)
app.command("walkforward")(cli_walkforward.walkforward)
app.command("report")(cli_research.report)
app.command("strategies")(cli_research.strategies)
app.command("paper")(cli_paper.paper)
app.command("runs")(cli_paper.runs)
app.command("parity")(cli_paper.parity)
app.command("promote")(cli_live.promote)
app.command("promotions")(cli_live.promotions)
app.command("live")(cli_live.live)



@app.command()
@command
def generate(
    days: Annotated[float, typer.Option(help="Days of market to generate.", min=0.0)] = 1.0,
    tokens: Annotated[int, typer.Option(help="Tokens quoted against SOL and USDC.", min=1)] = 8,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same market.")] = 0,
    lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False,
) -> None:
    """Generate a synthetic Solana market into the lake."""
    from engine.feeds.synthetic import SyntheticConfig
    from research.generate import generate_into_lake

    cfg = SyntheticConfig(seed=seed, days=days, n_tokens=tokens)
    target = Lake(resolve_root(lake))
    t0 = time.perf_counter()
    result = generate_into_lake(target, cfg, progress=not json)
    result["seconds"] = round(time.perf_counter() - t0, 3)
    if json:
        print_json(result)
        return
    rows = [(name, t["written"], t["already_present"]) for name, t in result["tables"].items()]
    console.print(table(f"generated {days:g} day(s), {tokens} tokens, seed {seed} -> {target.url}",
                        ["table", "rows written", "already present"], rows))
    regs = [(n, r["new"], r["changed"], r["total"]) for n, r in result["registries"].items()]
    console.print(table("registries", ["registry", "new", "changed", "entries in this market"], regs))
    q = result["quarantined"]
    console.print(f"{result['events']:,} events in {result['seconds']:.1f} s; quarantined: "
                  f"{sum(q.values()):,}" + (f" ({q})" if q else ""))


@lake_app.command("info")
@command
def lake_info(lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Tables, rows, time range, bytes and quarantine count of the lake."""
    from engine.store.inspect import lake_info as info_of

    target = _existing_lake(lake)
    with opened(target) as con:
        info = info_of(target, con)
    if json:
        print_json(info)
        return
    rows = [(t["table"], t["rows"], t["files"], human_bytes(t["bytes"]), t["first_ts"], t["last_ts"],
             t["first_slot"], t["last_slot"]) for t in info["tables"]]
    console.print(table(f"lake {info['lake']}", ["table", "rows", "files", "size", "from", "to", "first slot",
                                                  "last slot"], rows))
    console.print(table("registries", ["registry", "entries"], list(info["registries"].items())))
    console.print(f"quarantine: {info['quarantine']:,} rows"
                  + (f" {info['quarantine_by_reason']}" if info["quarantine"] else ""))


@lake_app.command("check")
@command
def lake_check(lake: LakeOpt = None, json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Validate every stored table; exit status 1 when a check fails."""
    from engine.store.inspect import lake_check as check_of

    target = _existing_lake(lake)
    with opened(target) as con:
        report = check_of(target, con)
    if json:
        print_json(report)
    else:
        rows = [(c["check"], c["table"], "ok" if c["ok"] else "FAIL", c["count"], c["detail"])
                for c in report["checks"]]
        console.print(table(f"lake check {report['lake']}", ["check", "table", "result", "count", "detail"], rows))
        console.print("all checks passed" if report["ok"] else "[bold red]some checks failed[/]")
    if not report["ok"]:
        raise typer.Exit(1)


def _existing_lake(path: str | None) -> Lake:
    lake = Lake(resolve_root(path))
    if not lake.exists():
        msg = (f"no lake at {lake.url!r}. Hint: create one with `shoal generate --lake {lake.url}`, "
               "or point --lake / $SHOAL_LAKE at an existing one")
        raise ShoalError(msg)
    return lake


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="shoal")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
