"""Deflated Sharpe ratio and PBO by CSCV: the papers' numbers, hand-computed cases and properties."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from research.overfit import (
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    period_returns,
    probabilistic_sharpe,
    sharpe_ratios,
    sweep_overfit,
)

ROOT = Path(__file__).resolve().parents[2]


def test_deflated_sharpe_reproduces_the_worked_example_of_bailey_and_lopez_de_prado_2014() -> None:
    # Arrange: annualised SR 2.5 over 5 years of daily returns (T = 1,250), 100 trials whose annualised
    # Sharpe ratios have variance 0.5, returns with skewness -3 and kurtosis 10.
    sr = 2.5 / math.sqrt(250)
    sr_std = math.sqrt(0.5 / 250)
    # Act
    sr0 = expected_max_sharpe(100, sr_std)
    dsr = probabilistic_sharpe(sr, sr0, 1_250, -3.0, 10.0)
    # Assert: the paper's figures, E[max SR] = 0.1132 per day and DSR = 0.9004
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_expected_max_sharpe_of_one_trial_is_zero_so_dsr_is_the_probabilistic_sharpe_ratio() -> None:
    r = np.random.default_rng(4).normal(0.001, 0.01, 500)
    one = deflated_sharpe(r, 0.05, 1)
    assert one.expected_max_sharpe == 0.0
    assert one.dsr == probabilistic_sharpe(one.sharpe, 0.0, 500, one.skew, one.kurtosis)


@given(seed=st.integers(0, 2**32 - 1), sr_std=st.floats(1e-4, 0.5), n1=st.integers(1, 5_000),
       more=st.integers(1, 5_000))
def test_dsr_falls_as_the_number_of_trials_grows(seed: int, sr_std: float, n1: int, more: int) -> None:
    r = np.random.default_rng(seed).normal(0.002, 0.01, 200)
    few, many = deflated_sharpe(r, sr_std, n1), deflated_sharpe(r, sr_std, n1 + more)
    assert many.expected_max_sharpe > few.expected_max_sharpe
    assert many.dsr <= few.dsr
    assert 0.0 <= many.dsr <= 1.0


def test_sharpe_ratios_follow_the_module_conventions() -> None:
    r = np.random.default_rng(0).normal(0.001, 0.02, (300, 3))
    m = np.column_stack([r, np.zeros(300), np.full(300, 0.003), np.full(300, -0.003)])
    out = sharpe_ratios(m)
    assert np.allclose(out[:3], r.mean(axis=0) / r.std(axis=0, ddof=1), rtol=1e-12)
    assert out[3] == 0.0 and out[4] == math.inf and out[5] == -math.inf


def _pairs(means: list[float]) -> np.ndarray:
    """Two returns per trial, mean m and spread 0.01 each side: Sharpe ratio m / (0.01 sqrt 2)."""
    return np.array([[m - 0.01 for m in means], [m + 0.01 for m in means]])


def test_pbo_by_hand_when_the_best_of_each_half_is_the_worst_of_the_other() -> None:
    # Arrange: 3 trials, 2 blocks of 2 returns. Block 0 Sharpe ratios 2.12, 0.71, -0.71 (trial 0 best);
    # block 1: -1.41, 0, 0.71 (trial 2 best). Each half's best is the other half's worst.
    m = np.vstack([_pairs([0.03, 0.01, -0.01]), _pairs([-0.02, 0.0, 0.01])])
    # Act
    pbo = pbo_cscv(m, n_blocks=2)
    # Assert: OOS rank 1 of 3, w = 1/4, logit ln(1/3) in both splits
    assert pbo.n_splits == 2 and pbo.n_blocks == 2
    assert np.allclose(pbo.logits, [math.log(1 / 3)] * 2)
    assert pbo.pbo == 1.0


def test_pbo_by_hand_when_one_trial_is_best_in_both_halves() -> None:
    m = np.vstack([_pairs([0.03, 0.01, -0.01]), _pairs([0.04, 0.0, 0.01])])
    pbo = pbo_cscv(m, n_blocks=2)
    assert np.allclose(pbo.logits, [math.log(3)] * 2)  # OOS rank 3 of 3: w = 3/4
    assert pbo.pbo == 0.0


def test_identical_trials_rank_at_the_median_and_count_as_overfit() -> None:
    col = np.random.default_rng(2).normal(0, 0.01, 40)
    pbo = pbo_cscv(np.column_stack([col, col]), n_blocks=4)
    assert np.all(pbo.logits == 0.0) and pbo.pbo == 1.0  # average rank 1.5 of 2: w = 1/2


def test_pbo_of_skill_less_trials_is_about_one_half() -> None:
    values = [pbo_cscv(np.random.default_rng(seed).normal(0, 0.01, (160, 30))).pbo for seed in range(20)]
    assert 0.35 < float(np.mean(values)) < 0.65


@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(2, 40), n_periods=st.integers(16, 200))  # 8 blocks: 70 splits
def test_a_trial_that_dominates_every_block_gives_pbo_zero(seed: int, n_rows: int, n_periods: int) -> None:
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.01, (n_periods, n_rows))
    m[:, rng.integers(n_rows)] = 0.01 + rng.normal(0, 1e-6, n_periods)  # Sharpe ratio ~ 10^4 in any block
    pbo = pbo_cscv(m, n_blocks=8)
    assert pbo.pbo == 0.0
    assert np.allclose(pbo.logits, math.log(n_rows))  # OOS rank n of n: w = n / (n + 1)
    assert pbo.n_splits == math.comb(8, 4)


@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(2, 12), powers=st.lists(st.integers(-8, 8), min_size=12,
                                                                                    max_size=12))
def test_pbo_ignores_the_order_of_trials_and_their_leverage(seed: int, n_rows: int, powers: list[int]) -> None:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0005, 0.01, (64, n_rows))
    perm = rng.permutation(n_rows)
    scaled = m * np.exp2(powers[:n_rows])  # powers of two scale exactly: Sharpe ratios are unchanged
    base = pbo_cscv(m, n_blocks=8)
    assert pbo_cscv(m[:, perm], n_blocks=8).pbo == base.pbo
    assert pbo_cscv(scaled, n_blocks=8).pbo == base.pbo
    assert 0.0 <= base.pbo <= 1.0


def test_pbo_refuses_too_little_data_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="Hint"):
        pbo_cscv(np.zeros((6, 3)))
    with pytest.raises(ConfigError, match="at least 2 rows"):
        pbo_cscv(np.zeros((100, 1)))


def test_period_returns_by_hand() -> None:
    # Arrange: two rows sampled every 10 s; row 0 gains 10 % then loses 10 %, row 1 doubles at the end
    s = 10**9
    equity = pl.DataFrame({"row": [0] * 4 + [1] * 4, "slot": [0, 25, 50, 75] * 2,
                           "ts_ns": [0, 10 * s, 20 * s, 30 * s] * 2,
                           "equity": [100.0, 110.0, 99.0, 99.0, 100.0, 100.0, 100.0, 200.0]})
    init = pl.DataFrame({"row": [0, 1], "init_cash": [100.0, 100.0]})
    # Act: 3 periods of 10 s over the 30 s span: buckets at 0, 10, 20, 30 s, plus the starting cash
    rows, returns, every = period_returns(equity, init, n_periods=3)
    # Assert
    assert rows.tolist() == [0, 1] and every == "10s"
    assert np.allclose(returns, [[0.0, 0.0], [0.1, 0.0], [-0.1, 0.0], [0.0, 1.0]])


def test_sweep_overfit_of_a_row_that_earns_every_period_is_skill() -> None:
    # Arrange: 20 noise rows and one with a steady edge, sampled hourly for 10 days
    rng = np.random.default_rng(9)
    n_rows, n = 21, 240
    rets = rng.normal(0, 0.01, (n, n_rows))
    rets[:, 5] = rng.normal(0.004, 0.002, n)
    levels = 100.0 * np.cumprod(1 + rets, axis=0)
    hour = 3_600 * 10**9
    equity = pl.DataFrame({"row": np.repeat(np.arange(n_rows, dtype=np.int32), n),
                           "slot": np.tile(np.arange(n), n_rows), "ts_ns": np.tile(np.arange(n) * hour, n_rows),
                           "equity": levels.T.ravel()})
    summary = pl.DataFrame({"row": np.arange(n_rows, dtype=np.int32), "init_cash": np.full(n_rows, 100.0)})
    # Act
    lucky_row = max((r for r in range(n_rows) if r != 5), key=lambda r: levels[-1, r])
    skill = sweep_overfit(summary, equity, best_row=5, n_periods=n - 1)  # hourly buckets
    luck = sweep_overfit(summary, equity, best_row=lucky_row, n_periods=n - 1)
    # Assert
    assert skill.pbo.pbo < 0.05 and skill.deflated.dsr > 0.99
    assert luck.deflated.dsr < 0.5
    assert skill.deflated.n_trials == n_rows and skill.deflated.n_periods == n


def shoal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


def test_a_sweep_reports_the_dsr_of_its_best_row_and_its_pbo(tmp_path: Path) -> None:
    # Arrange: 2,000 minute bars of a random walk; 12 ma_cross rows
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.001, 2_000)))
    lines = ["time,open,high,low,close"] + [f"{1_767_225_600 + 60 * k},{c:.12g},{c:.12g},{c:.12g},{c:.12g}"
                                            for k, c in enumerate(close)]
    (tmp_path / "bars.csv").write_text("\n".join(lines))
    lake = str(tmp_path / "lake")
    # Act
    out = shoal("sweep", "--strategy", "ma_cross", "--param", "fast=2,5,10", "--param", "slow=20,40,80,160",
                "--bars", str(tmp_path / "bars.csv"), "--lake", lake, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rep = shoal("report", doc["run_id"], "--lake", lake, "--json")
    # Assert: the best row by total return is the one deflated; PBO comes with its splits
    best = max(doc["summary"], key=lambda r: r["total_return"])["row"]
    o = doc["overfit"]
    assert o["best_row"] == best and 0.0 <= o["dsr"] <= 1.0 and 0.0 <= o["pbo"] <= 1.0
    assert o["deflated_sharpe"]["n_trials"] == 12 and o["cscv"]["n_splits"] == 12_870
    assert rep.returncode == 0, rep.stderr
    figures = json.loads(rep.stdout)["figures"]
    assert any(f.endswith("pbo_logits.png") for f in figures)
    html = Path(json.loads(rep.stdout)["report"]).read_text()
    assert "How much of the best row is luck" in html and f"{o['pbo']:,.6g}" in html
