"""`ma_cross` equals vectorbt's ``Portfolio.from_signals`` bar by bar on a real price series.

The series is Google's daily OHLCV from 2004-08-19 to 2008-10-14 (1,047 bars), the
``goog.npz`` sample that matplotlib ships (matplotlib is a dependency of shoal; there is
no network here). vectorbt runs in its own interpreter: ``$SHOAL_VBT_PYTHON``, else the
checkout's ``.venv-vbt`` (``make`` or ``python -m venv .venv-vbt && .venv-vbt/bin/pip install
vectorbt``), else an in-process import; the test is skipped, saying why, only when none works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.sim import Capacity, Market, SimConfig, run
from research.strategies._bars import bar_tape
from research.strategies.ma_cross import STRATEGY, sweep

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [(10, 30), (5, 20), (20, 50), (3, 7)]
FEES = 0.001

VBT_SCRIPT = r"""
import json, sys
import numpy as np
import vectorbt as vbt
job = json.loads(sys.argv[1])
close = np.load(job["close"])
out = {}
for fast, slow in job["pairs"]:
    f = vbt.MA.run(close, fast)
    s = vbt.MA.run(close, slow)
    pf = vbt.Portfolio.from_signals(close, f.ma_crossed_above(s), f.ma_crossed_below(s), fees=job["fees"],
                                    init_cash=100.0)
    out[f"{fast},{slow}"] = {"value": np.asarray(pf.value()).tolist(),
                             "total_return": float(pf.total_return()), "n_orders": int(pf.orders.count())}
json.dump(out, open(job["out"], "w"))
"""


def _vbt_python() -> tuple[list[str] | None, str]:
    env = os.environ.get("SHOAL_VBT_PYTHON")
    candidates = [env] if env else [str(ROOT / ".venv-vbt" / "bin" / "python")]
    for exe in candidates:
        if exe and Path(exe).exists():
            ok = subprocess.run([exe, "-c", "import vectorbt"], capture_output=True, text=True, check=False)
            if ok.returncode == 0:
                return [exe], ""
    try:
        import vectorbt  # noqa: F401
    except ImportError as e:
        return None, (f"vectorbt is not installed (tried {candidates} and an in-process import: {e}); "
                      "set SHOAL_VBT_PYTHON to an interpreter with `pip install vectorbt`")
    return [sys.executable], ""


def goog_bars() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("goog.npz") as data:
        return np.asarray(data["price_data"])


@pytest.fixture(scope="module")
def vbt_result(tmp_path_factory):
    exe, reason = _vbt_python()
    if exe is None:
        print(f"SKIP reason: {reason}")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("vbt")
    np.save(tmp / "close.npy", goog_bars()["close"])
    job = {"close": str(tmp / "close.npy"), "pairs": PAIRS, "fees": FEES, "out": str(tmp / "out.json")}
    done = subprocess.run([*exe, "-c", VBT_SCRIPT, json.dumps(job)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp / "out.json").read_text())


def test_ma_cross_equity_equals_vectorbt_bar_by_bar(vbt_result):
    # Arrange
    bars = goog_bars()
    close = bars["close"]
    tape = bar_tape(close, open_=bars["open"], high=bars["high"], low=bars["low"])
    params = STRATEGY.params([{"fast": f, "slow": s, "fees": FEES} for f, s in PAIRS])
    cfg = SimConfig(init_cash=100.0, mark_every_slots=1, equity_every_slots=1)
    # Act
    res = run(tape, STRATEGY, params, market=Market.for_bars(1), cfg=cfg, capacity=Capacity(max_equity=close.size + 2))
    # Assert: a mark at slot t prices the books before bar t, i.e. at bar t - 1's close; the
    # summary's final equity is the last bar's.
    for r, (f, s) in enumerate(PAIRS):
        want = np.asarray(vbt_result[f"{f},{s}"]["value"])
        eq = res.equity.filter(res.equity["row"] == r)
        got = np.empty(close.size)
        got[eq["slot"].to_numpy() - 1] = eq["equity"].to_numpy()
        got[-1] = res.summary["final_equity"][r]
        assert eq.height == close.size - 1
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        assert res.summary["n_orders"][r] == vbt_result[f"{f},{s}"]["n_orders"]
        assert vbt_result[f"{f},{s}"]["n_orders"] > 4  # the series does cross


def test_ma_cross_sweep_total_return_equals_vectorbt(vbt_result):
    close = goog_bars()["close"]
    table = sweep(close, [f for f, _ in PAIRS], [s for _, s in PAIRS], fees=FEES)
    want = np.array([vbt_result[f"{f},{s}"]["total_return"] for f, s in PAIRS])
    np.testing.assert_allclose(table["total_return"].to_numpy(), want, rtol=0, atol=1e-9)
