"""The run loop's promises: chunk-invariant, deterministic, thread-count free, resumable."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.feeds.synthetic import SyntheticConfig, generate_market
from engine.layout import Side
from engine.sim import Market, SimConfig, SimState, run
from tests.engine.sim.scripted import SCRIPTED

ROOT = Path(__file__).resolve().parents[3]
SYN, TAPE = generate_market(SyntheticConfig(seed=3, days=0.03, n_tokens=3))
MARKET = Market.from_registries(SYN.pools, SYN.tokens, n_markets=SYN.markets.height)
TOKEN_POOL = int(SYN.pools.filter((SYN.pools["quote_mint_id"] == 0) & (SYN.pools["base_mint_id"] >= 2))["pool_id"][0])
PARAMS = SCRIPTED.params([
    {"at_event": 5, "every": 97, "pool0": TOKEN_POOL, "side0": Side.BUY, "amount_in_raw": 2e8, "cu_price": 5e3,
     "tip": 2e3, "sell_at": 3_001},
    {"at_event": 11, "every": 131, "pool0": TOKEN_POOL, "side0": Side.BUY, "amount_in_raw": 5e8, "min_out_raw": 1.0,
     "sell_at": 2_500},
])
CFG = SimConfig(seed=11, latency="uniform", latency_slots_min=0, latency_slots_max=3, compete_prob=0.3,
                equity_every_slots=25)
WHOLE = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG)


def test_the_fixture_run_trades_and_fails_for_several_reasons() -> None:
    s = WHOLE.summary
    assert TAPE.n_events > 3_000
    assert (s["n_filled"] > 5).all() and (s["n_outbid"] > 0).all()
    assert WHOLE.equity.height > 10


@settings(max_examples=25)
@given(cuts=st.lists(st.integers(1, TAPE.n_events - 1), max_size=6, unique=True))
def test_run_in_chunks_is_bit_identical_to_one_run(cuts: list[int]) -> None:
    # Arrange
    bounds, state = [0, *sorted(cuts), TAPE.n_events], None
    # Act
    for start, stop in itertools.pairwise(bounds):
        state = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, start=start, stop=stop, state=state).state
    # Assert
    assert state.equals(WHOLE.state)


def test_chunks_of_one_event_give_the_same_summary_and_fills() -> None:
    part = TAPE.slice(0, 1_500)
    whole = run(part, SCRIPTED, PARAMS, market=MARKET, cfg=CFG)
    ones = run(part, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, chunk_events=1)
    assert ones.state.equals(whole.state)
    assert ones.summary.equals(whole.summary) and ones.fills.equals(whole.fills)


def test_same_seed_same_result_and_another_seed_differs() -> None:
    again = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG)
    other = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, seed=12)
    assert again.state.equals(WHOLE.state)
    assert not other.state.equals(WHOLE.state)


def test_counterfactual_mode_is_chunk_invariant_too() -> None:
    cfg = SimConfig(seed=2, impact="counterfactual", latency_slots_min=1, latency_slots_max=1)
    whole = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=cfg)
    chunked = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=cfg, chunk_events=777)
    assert chunked.state.equals(whole.state)
    assert not whole.state.equals(run(TAPE, SCRIPTED, PARAMS, market=MARKET,
                                      cfg=SimConfig(seed=2, latency_slots_min=1, latency_slots_max=1)).state)


RESUME = """
import sys
import numpy as np
from engine.sim import SimState, run
from tests.engine.sim.test_runner import CFG, MARKET, PARAMS, TAPE
from tests.engine.sim.scripted import SCRIPTED
state = SimState.load(sys.argv[1])
done = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, state=state).state
done.save(sys.argv[2])
"""


def test_save_load_in_a_new_process_and_continue_gives_the_same_state(tmp_path: Path) -> None:
    # Arrange: stop half-way, save
    half = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, stop=TAPE.n_events // 2).state
    half.save(tmp_path / "half.npz")
    # Act: a fresh interpreter loads it and runs to the end
    subprocess.run([sys.executable, "-c", RESUME, str(tmp_path / "half.npz"), str(tmp_path / "end.npz")],
                   cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    # Assert
    assert SimState.load(tmp_path / "end.npz").equals(WHOLE.state)


THREADS = """
import sys
from engine.sim import run
from tests.engine.sim.test_runner import CFG, MARKET, TAPE
from tests.engine.sim.scripted import SCRIPTED
import numpy as np
params = np.concatenate([SCRIPTED.params([{"at_event": k, "every": 50 + k, "pool0": 0, "side0": 1,
                                           "amount_in_raw": 1e8}]) for k in range(8)])
run(TAPE, SCRIPTED, params, market=MARKET, cfg=CFG).state.save(sys.argv[1])
"""


@pytest.mark.slow
def test_the_number_of_threads_does_not_change_the_result(tmp_path: Path) -> None:
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", THREADS, str(out)], cwd=ROOT, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": threads})
        outs.append(SimState.load(out))
    assert outs[0].equals(outs[1])


def test_a_state_cannot_restart_at_another_event() -> None:
    half = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, stop=100).state
    with pytest.raises(ConfigError, match="continues at event 100"):
        run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, start=50, state=half)


def test_params_of_another_dtype_are_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"strategy\.params"):
        run(TAPE, SCRIPTED, np.zeros(2, dtype=[("x", "f8")]), market=MARKET)


def test_streaming_a_lake_day_by_day_equals_one_run_over_the_whole_tape(tmp_path: Path) -> None:
    # Arrange: a two-day market in a real lake
    from engine.sim import stream
    from engine.store.lake import Lake

    syn, tape = generate_market(SyntheticConfig(seed=5, days=0.03, n_tokens=2, start_ts_ns=1_767_311_000 * 10**9))
    lake = Lake(tmp_path)
    lake.ingest(tape, source="t")
    market = Market.from_registries(syn.pools, syn.tokens, n_markets=syn.markets.height)
    params = SCRIPTED.params([{"at_event": 3, "every": 40, "pool0": 0, "side0": Side.SELL, "amount_in_raw": 1e7}])
    cfg = SimConfig(init_cash=1e12, seed=4, compete_prob=0.2, latency="uniform", latency_slots_max=2)
    # Act
    days = list(lake.iter_tapes())
    streamed = stream(iter(days), SCRIPTED, params, market=market, cfg=cfg)
    whole = run(lake.read_tape(), SCRIPTED, params, market=market, cfg=cfg)
    # Assert: the market crosses midnight, so there are two chunks
    assert len(days) == 2 and sum(d.n_events for d in days) == tape.n_events
    assert streamed.summary.equals(whole.summary) and streamed.fills.equals(whole.fills)


def test_a_sweep_that_keeps_no_fills_has_the_same_summary() -> None:
    from engine.sim import Capacity

    lean = run(TAPE, SCRIPTED, PARAMS, market=MARKET, cfg=CFG, capacity=Capacity(max_fills=0))
    assert lean.summary.equals(WHOLE.summary)
    assert lean.fills.height == 0 and lean.fills.columns == WHOLE.fills.columns
    assert lean.state.fills.nbytes < WHOLE.state.fills.nbytes / 1_000
