"""Walk-forward on bar markets built here: no edge (a random walk) and a planted edge (a cycle ma_cross can ride)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.sim import Market, SimConfig
from research.data import Dataset
from research.strategies import get
from research.strategies._bars import bar_tape
from research.strategies.ma_cross import sweep as ma_sweep
from research.walkforward import DAY_NS, WalkForward, make_windows, slice_dataset, walk_forward

ROOT = Path(__file__).resolve().parents[2]
MINUTE_NS = 60 * 10**9
START_NS = 1_767_225_600 * 10**9  # 2026-01-01 00:00 UTC
N_BARS = 6 * 1_440  # six days of 1-minute bars
MA = get("ma_cross")
FAST, SLOW = [2, 4, 8, 16], [24, 48, 96, 192, 384]
PARAMS = MA.params(fast=FAST, slow=SLOW)
CFG = SimConfig(init_cash=100.0)


def closes(seed: int, cycle_amplitude: float) -> np.ndarray:
    """A random walk of 0.1 % per bar; with an amplitude, plus a 4-hour sine cycle of the log price."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_BARS)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, N_BARS))
                          + cycle_amplitude * np.sin(2 * np.pi * t / 240))


def bars(close: np.ndarray) -> Dataset:
    ts = START_NS + np.arange(close.size, dtype=np.int64) * MINUTE_NS
    tape = bar_tape(close, ts_ns=ts)
    return Dataset(tapes=lambda: iter([tape]), market=Market.for_bars(1), source="bars:test", n_events=close.size,
                   first_ts_ns=int(ts[0]), last_ts_ns=int(ts[-1]), n_slots=close.size)


def walk(close: np.ndarray) -> WalkForward:
    data = bars(close)
    return walk_forward(data, lambda a, b: slice_dataset(data, a, b), MA, PARAMS, CFG, train_ns=2 * DAY_NS,
                        test_ns=DAY_NS)


@pytest.fixture(scope="module")
def no_edge() -> list[WalkForward]:
    return [walk(closes(seed, 0.0)) for seed in range(8)]


@pytest.fixture(scope="module")
def edge() -> list[WalkForward]:
    return [walk(closes(seed, 0.012)) for seed in range(4)]


def test_make_windows_by_hand() -> None:
    # Arrange: six days of minute bars, train 2 d, test 1 d, step 1 d
    last = 6 * DAY_NS - MINUTE_NS
    # Act
    windows = make_windows(0, last, train_ns=2 * DAY_NS, test_ns=DAY_NS, step_ns=DAY_NS)
    # Assert: tests on days 2, 3, 4, 5; the last one ends with the data
    assert [(w.train_start_ns, w.test_start_ns, w.test_stop_ns) for w in windows] == [
        (0, 2 * DAY_NS, 3 * DAY_NS), (DAY_NS, 3 * DAY_NS, 4 * DAY_NS), (2 * DAY_NS, 4 * DAY_NS, 5 * DAY_NS),
        (3 * DAY_NS, 5 * DAY_NS, last + 1)]


@given(span=st.integers(1, 10**6), train=st.integers(1, 10**5), test=st.integers(10**3, 10**5),
       extra=st.integers(0, 10**5))
def test_windows_never_test_on_training_data_or_twice_on_the_same_time(span: int, train: int, test: int,
                                                                       extra: int) -> None:
    if train >= span + 1:
        with pytest.raises(ConfigError, match="too short"):
            make_windows(0, span, train_ns=train, test_ns=test, step_ns=test + extra)
        return
    windows = make_windows(0, span, train_ns=train, test_ns=test, step_ns=test + extra)
    for w in windows:
        assert w.test_start_ns - w.train_start_ns == train
        assert w.train_start_ns < w.test_start_ns < w.test_stop_ns <= span + 1
    for a, b in itertools.pairwise(windows):
        assert a.test_stop_ns <= b.test_start_ns
    assert windows[-1].test_start_ns + test + extra >= span + 1  # no room was left for another window


def test_overlapping_test_windows_are_refused() -> None:
    with pytest.raises(ConfigError, match="--step >= --test"):
        make_windows(0, 10 * DAY_NS, train_ns=2 * DAY_NS, test_ns=DAY_NS, step_ns=DAY_NS // 2)


def test_slice_dataset_keeps_exactly_the_events_in_range() -> None:
    data = bars(closes(0, 0.0))
    part = slice_dataset(data, START_NS + 90 * MINUTE_NS, START_NS + 200 * MINUTE_NS)
    (tape,) = list(part.tapes())
    assert part.n_events == 110 and tape.n_events == 110
    assert part.first_ts_ns == START_NS + 90 * MINUTE_NS and part.last_ts_ns == START_NS + 199 * MINUTE_NS


def test_each_window_chooses_on_training_data_only_and_earns_what_the_row_earns_after_it() -> None:
    # Arrange: an independent oracle, the fused ma_cross sweep, over the closes of each window
    close = closes(11, 0.012)
    fast, slow = PARAMS["fast"], PARAMS["slow"]
    # Act
    wf = walk(close)
    # Assert
    for r in wf.windows:
        k0, k1, k2 = ((np.array([r.window.train_start_ns, r.window.test_start_ns, r.window.test_stop_ns]) - START_NS
                       + MINUTE_NS - 1) // MINUTE_NS)
        train = ma_sweep(close[k0:k1], fast, slow)["final_equity"].to_numpy()
        through_test = ma_sweep(close[k0:k2], fast, slow)["final_equity"].to_numpy()
        assert r.row == int(np.argmax(train))
        assert r.is_return == pytest.approx(train[r.row] / 100.0 - 1.0, abs=1e-9)
        assert r.oos_return == pytest.approx(through_test[r.row] / train[r.row] - 1.0, abs=1e-9)
    assert wf.oos_total_return == pytest.approx(np.prod([1 + r.oos_return for r in wf.windows]) - 1, abs=1e-12)
    assert wf.oos_equity["equity"][-1] == pytest.approx(1 + wf.oos_total_return, abs=1e-9)


def test_without_edge_the_in_sample_best_looks_good_but_out_of_sample_it_is_a_random_row(no_edge) -> None:
    windows = [w for wf in no_edge for w in wf.windows]
    is_lead = np.mean([w.is_return - w.is_median_return for w in windows])
    oos_lead = np.mean([w.oos_return - w.oos_median_return for w in windows])
    # the chosen row beat the median row by > 2 % per window in sample, and by ~nothing out of sample
    assert is_lead > 0.02
    assert abs(oos_lead) < 0.2 * is_lead
    assert 0.35 < np.mean([w.oos_rank for w in windows]) < 0.75
    # the whole-span best row looks like a winner, yet CSCV says choosing it was a coin flip
    assert all(wf.is_best_return > 0 for wf in no_edge)
    assert np.mean([wf.overfit.pbo.pbo for wf in no_edge]) > 0.35


def test_with_a_planted_edge_the_choice_holds_out_of_sample_and_pbo_is_low(edge, no_edge) -> None:
    windows = [w for wf in edge for w in wf.windows]
    assert all(wf.overfit.pbo.pbo < 0.1 for wf in edge)
    assert np.mean([w.oos_rank for w in windows]) > 0.7
    assert np.mean([w.oos_return - w.oos_median_return for w in windows]) > 0.01
    assert all(wf.oos_total_return > 0 for wf in edge)
    assert np.mean([wf.overfit.deflated.dsr for wf in edge]) > np.mean([wf.overfit.deflated.dsr for wf in no_edge])


def test_choosing_by_an_unknown_metric_lists_the_valid_ones() -> None:
    data = bars(closes(0, 0.0))
    with pytest.raises(ConfigError, match="sharpe"):
        walk_forward(data, lambda a, b: slice_dataset(data, a, b), MA, PARAMS, CFG, train_ns=2 * DAY_NS,
                     test_ns=DAY_NS, metric="luck")


def test_choosing_by_sharpe_uses_the_sampled_equity() -> None:
    data = bars(closes(0, 0.012))
    wf = walk_forward(data, lambda a, b: slice_dataset(data, a, b), MA, PARAMS, CFG, train_ns=2 * DAY_NS,
                      test_ns=DAY_NS, metric="sharpe")
    assert wf.metric == "sharpe" and all(np.isfinite(w.metric_value) for w in wf.windows)
    doc = wf.to_dict()
    assert {"windows", "oos_total_return", "pbo", "dsr", "is_best"} <= set(doc)
    assert doc["windows"][0]["test_from"] == "2026-01-03T00:00:00+00:00"


def shoal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


def write_bars_csv(path: Path, close: np.ndarray) -> Path:
    rows = ["time,open,high,low,close"]
    for k, c in enumerate(close):
        o = close[k - 1] if k else c
        rows.append(f"{START_NS // 10**9 + 60 * k},{o:.12g},{max(o, c):.12g},{min(o, c):.12g},{c:.12g}")
    path.write_text("\n".join(rows))
    return path


def test_shoal_walkforward_prints_windows_pbo_dsr_and_draws_the_figure(tmp_path: Path) -> None:
    # Arrange
    csv = write_bars_csv(tmp_path / "bars.csv", closes(3, 0.012))
    args = ["walkforward", "--strategy", "ma_cross", "--param", "fast=2,4,8,16", "--param", "slow=24,48,96,192,384",
            "--bars", str(csv), "--train", "2d", "--test", "1d", "--lake", str(tmp_path / "lake")]
    # Act
    out = shoal(*args, "--out", str(tmp_path / "wf"), "--json")
    text = shoal(*args, "--out", str(tmp_path / "wf2"))
    # Assert
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["rows"] == 20 and len(doc["windows"]) == 4 and doc["train"] == "2d" and doc["step"] == "1d"
    for w in doc["windows"]:
        assert {"fast", "slow"} <= set(w["params"]) and w["params"]["fast"] in FAST
        assert -1 < w["oos_return"] and w["is_return"] >= w["is_median_return"]
    assert doc["oos_total_return"] == pytest.approx(np.prod([1 + w["oos_return"] for w in doc["windows"]]) - 1)
    assert doc["pbo"] < 0.1 and 0.0 <= doc["dsr"] <= 1.0
    assert doc["overfit"]["cscv"]["n_splits"] == 12_870 and doc["is_best"]["params"]["slow"] in SLOW
    figure = Path(doc["figure"])
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((figure.parent / "walkforward.json").read_text())["windows"] == doc["windows"]
    assert text.returncode == 0, text.stderr
    words = " ".join(text.stdout.split())  # rich wraps lines at the terminal width
    assert "probability of backtest overfitting" in words and "deflated Sharpe ratio" in words
    assert (tmp_path / "wf2" / "walkforward.png").exists()


def test_shoal_walkforward_explains_bad_durations_and_a_single_row_grid(tmp_path: Path) -> None:
    csv = write_bars_csv(tmp_path / "bars.csv", closes(0, 0.0)[:600])
    bad = shoal("walkforward", "--strategy", "ma_cross", "--param", "fast=2,4", "--bars", str(csv), "--train", "2x")
    assert bad.returncode == 2 and "Hint" in bad.stderr and "Traceback" not in bad.stderr
    one = shoal("walkforward", "--strategy", "ma_cross", "--param", "fast=2", "--bars", str(csv))
    assert one.returncode == 2 and "at least one range" in one.stderr
