"""`make demo`: a synthetic market into a fresh lake, a backtest of each on-chain family, a
1,000-row sweep, an accelerated paper run of the same market with its paper-vs-backtest parity
line, and reports, through the real CLI, each step in its own process.

It is what a new user would type, in order, so the demo is also a smoke test of the front
door. The lake is kept in a temporary folder whose path is printed at the end.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from research.output import console, table

SWEEP = ("--param buy_lamports=0.1e9:1.0e9:0.1e9 --param take_profit=0.2:2.0:0.2 "
         "--param stop_loss=0.1:1.0:0.1")  # 10 x 10 x 10 = 1,000 rows


def shoal(*args: str, json_out: bool = False) -> dict | None:
    """Run one `shoal` command as a user would; return its JSON document when asked."""
    console.rule(f"[bold]$ shoal {' '.join(args)}{' --json' if json_out else ''}")
    cmd = [sys.executable, "-m", "research.cli", *args, *(["--json"] if json_out else [])]
    out = subprocess.run(cmd, check=False, capture_output=json_out, text=True)
    if out.returncode != 0:
        if json_out:
            sys.stderr.write(out.stderr)
        msg = f"`shoal {' '.join(args)}` failed with exit status {out.returncode}"
        raise SystemExit(msg)
    return json.loads(out.stdout) if json_out else None


def main() -> int:
    t0 = time.perf_counter()
    lake = Path(tempfile.mkdtemp(prefix="shoal-demo-")) / "lake"
    at = ["--lake", str(lake)]
    shoal("generate", "--days", "0.25", "--tokens", "6", "--seed", "7", *at)
    shoal("lake", "info", *at)
    with duckdb.connect(str(lake / "shoal.duckdb"), read_only=True) as con:
        leaders = [r[0] for r in con.execute(
            "SELECT wallet_id FROM wallets WHERE role = 'leader_edge' ORDER BY wallet_id LIMIT 8").fetchall()]
    runs = {
        "arbitrage": shoal("backtest", "--strategy", "arbitrage", *at, json_out=True),
        "copy_trade": shoal("backtest", "--strategy", "copy_trade", "--param",
                            "leaders=" + ",".join(map(str, leaders)), *at, json_out=True),
        "sniper": shoal("backtest", "--strategy", "sniper", *at, json_out=True),
    }
    rows = [(name, r["summary"]["total_return"], r["summary"]["max_drawdown"], r["summary"]["n_orders"],
             r["summary"]["n_filled"], r["run_id"]) for name, r in runs.items()]
    console.print(table("backtests", ["strategy", "total return", "max drawdown", "orders", "filled", "run id"], rows))
    sweep = shoal("sweep", "--strategy", "sniper", *shlex.split(SWEEP), *at, json_out=True)
    best = max(sweep["summary"], key=lambda r: r["total_return"])
    console.print(f"sweep {sweep['run_id']}: {sweep['rows']:,} rows in {sweep['seconds']:.1f} s "
                  f"({sweep['row_events_per_s'] / 1e6:.1f} M row-events/s); best total return "
                  f"{best['total_return']:.4%} at buy={best['param_buy_lamports'] / 1e9:.1f} SOL, "
                  f"take_profit={best['param_take_profit']}, stop_loss={best['param_stop_loss']}")
    shoal("paper", "--strategy", "arbitrage", "--replay", "--speed", "20000", *at)
    report = shoal("report", runs["arbitrage"]["run_id"], *at, json_out=True)
    shoal("report", sweep["run_id"], *at)
    console.rule()
    console.print(f"report: {report['report']}")
    console.print(f"demo lake kept at {lake} (delete it when done); {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
