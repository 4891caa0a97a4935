"""`shoal backtest`, `shoal sweep`, `shoal report` and `shoal strategies` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def shoal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    out = shoal("generate", "--days", "0.05", "--tokens", "3", "--seed", "5", "--lake", str(root), "--json")
    assert out.returncode == 0, out.stderr
    return root


def test_a_backtest_is_recorded_and_its_report_renders(lake: Path) -> None:
    # Act
    bt = shoal("backtest", "--strategy", "sniper", "--param", "min_liquidity_lamports=1e9", "--lake", str(lake),
               "--json")
    # Assert
    assert bt.returncode == 0, bt.stderr
    doc = json.loads(bt.stdout)
    assert doc["strategy"] == "sniper" and doc["params"]["min_liquidity_lamports"] == 1e9
    assert doc["data"]["events"] > 5_000 and doc["summary"]["init_cash"] > 0
    assert (lake / "runs" / doc["run_id"] / "fills.parquet").exists()
    rep = shoal("report", doc["run_id"], "--lake", str(lake), "--json")
    assert rep.returncode == 0, rep.stderr
    html = Path(json.loads(rep.stdout)["report"])
    assert html.exists() and "data:image/png;base64," in html.read_text()


def test_a_sweep_runs_the_product_of_its_ranges_and_ranks_them(lake: Path) -> None:
    out = shoal("sweep", "--strategy", "sniper", "--param", "buy_lamports=0.2e9:1.0e9:0.2e9", "--param",
                "stop_loss=0.2,0.5", "--lake", str(lake), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["rows"] == 10 and len(doc["summary"]) == 10  # 5 sizes (1.0 on the grid, included) x 2 stops
    buys = sorted({r["param_buy_lamports"] for r in doc["summary"]})
    assert np.allclose(buys, [0.2e9, 0.4e9, 0.6e9, 0.8e9, 1.0e9])
    table = shoal("sweep", "--strategy", "sniper", "--param", "buy_lamports=0.2e9:0.4e9:0.2e9", "--lake", str(lake))
    assert table.returncode == 0 and "best 2 of 2 rows" in table.stdout


def test_unknown_strategies_and_parameters_are_one_line_errors(lake: Path) -> None:
    bad = shoal("backtest", "--strategy", "martingale", "--lake", str(lake))
    assert bad.returncode == 2 and "valid names are" in bad.stderr and "Traceback" not in bad.stderr
    wrong = shoal("backtest", "--strategy", "sniper", "--param", "size=3", "--lake", str(lake))
    assert wrong.returncode == 2 and "unknown parameters ['size']" in wrong.stderr


def test_strategies_lists_every_family_with_its_defaults() -> None:
    out = shoal("strategies", "--json")
    doc = json.loads(out.stdout)["strategies"]
    assert {"arbitrage", "copy_trade", "sniper", "ma_cross", "breakout"} <= set(doc)
    assert "min_profit_lamports" in doc["arbitrage"]["params"]


def test_a_bars_file_backtest_uses_the_bar_strategies(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    rows = ["time,open,high,low,close,volume"]
    for k, c in enumerate(close):
        o = close[k - 1] if k else c
        rows.append(f"{1_700_000_000 + 60 * k},{o},{max(o, c) * 1.001},{min(o, c) * 0.999},{c},10")
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(rows))
    out = shoal("backtest", "--strategy", "ma_cross", "--param", "fast=5", "--param", "slow=20", "--bars", str(path),
                "--lake", str(tmp_path / "lake"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["data"]["events"] == 400 and doc["summary"]["init_cash"] == 100.0
    assert doc["summary"]["n_orders"] > 0
