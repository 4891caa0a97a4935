"""kill -9 at random points, resume each time: the final ledger equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from engine.exec.paper import PaperSession
from engine.exec.parity import compare_states, parity
from engine.exec.runner import ChunkKernel, Runner
from engine.feeds.synthetic import SyntheticConfig, SyntheticMarket
from engine.feeds.synthetic_live import synthetic_market
from engine.sim import SimState, run
from engine.store.journal import Journal
from engine.store.lake import Lake
from research.cli_paper import resolve_strategy
from tests.engine.exec.helpers import CFG, MARKET, SCRIPTED_ARGS, SCRIPTED_REF, SYN, params, session
from tests.engine.sim.scripted import SCRIPTED

ROOT = Path(__file__).resolve().parents[3]
KILLS = 20
# a longer span of the helpers' market: 12,960 slots, about 9 s at x600
LONG = SyntheticConfig(**{**asdict(SYN), "days": 0.15})  # long enough for 20 kills on a fast machine
LONG_MARKET = synthetic_market(LONG)[0]


def _cli(lake: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "research.cli", "paper", *args, "--lake", str(lake), "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_paper_process_killed_20_times_ends_with_the_uninterrupted_ledger(tmp_path: Path) -> None:
    # Arrange: the uninterrupted run is one backtest over the whole market
    market_tape = SyntheticMarket(LONG).generate()
    cap = session(tmp_path, "cap").paper.capacity()
    whole = run(market_tape, SCRIPTED, params(), market=LONG_MARKET, cfg=CFG, capacity=cap)
    rng = np.random.default_rng([20, 7])
    lake = tmp_path / "lake"
    run_id = "kill9"
    new = ["-s", SCRIPTED_REF, *SCRIPTED_ARGS, "--days", str(LONG.days), "--tokens", str(LONG.n_tokens),
           "--market-seed", str(LONG.seed), "--speed", "600", "--flush-every", "0.1", "--checkpoint-every", "0.3",
           "--run-id", run_id]
    config = lake / "journal" / run_id / "run.json"
    kills = 0
    # Act: start, kill -9 after a random delay, resume; 20 times, then let it finish
    while True:
        proc = _cli(lake, *(["--resume", run_id] if config.exists() else new))
        if kills < KILLS:
            time.sleep(float(rng.uniform(0.4, 3.0)))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=30)
                kills += 1
                continue
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        if kills < KILLS:  # finished before all kills: the market was too short for this machine
            pytest.fail(f"the run finished after only {kills} kills; lengthen LONG")
        break
    doc = json.loads(out)
    # Assert
    j = Journal(Lake(lake), run_id)
    assert doc["status"] == "completed" and doc["parity"]["differences"] == 0, doc["parity"]
    assert j.read_tape().equals(market_tape)  # nothing lost, nothing doubled on the tape
    final = SimState.load(j.latest_checkpoint()[1])
    diff = compare_states(final, whole.state)
    assert diff.n == 0, diff.first
    fills = j.fills()
    assert fills.height == whole.fills.height > 10
    assert fills.select("row", "order_id").unique().height == fills.height  # no fill twice
    assert np.array_equal(fills["order_id"].to_numpy(), whole.fills["order_id"].to_numpy())
    assert j.run_row()["resumes"] >= 1
    assert parity(PaperSession.from_journal(Lake(lake), run_id, resolve_strategy)).differences == 0


def test_resume_after_a_stop_replays_from_the_checkpoint_and_continues(tmp_path: Path) -> None:
    # Arrange: stop a session half way (as SIGTERM does), journal flushed
    s = session(tmp_path, "stop")
    seen = []

    def stop_half_way(slot: int, n: int) -> None:
        seen.append(n)
        if len(seen) == 3:
            raise KeyboardInterrupt

    first = s.run(on_progress=stop_half_way)
    # Act
    again = session(tmp_path, "stop").run(resume=True)
    # Assert
    assert first.status == "stopped" and again.status == "completed"
    assert again.resumed_from_event == first.n_events and again.replayed_events == 0
    assert parity(session(tmp_path, "stop")).differences == 0
    k = ChunkKernel(SCRIPTED, params(), market=MARKET, cfg=CFG, capacity=s.paper.capacity())
    r = Runner(k)
    r.step(SyntheticMarket(SYN).generate())
    assert compare_states(SimState.load(Journal(Lake(tmp_path), "stop").latest_checkpoint()[1]), r.state).n == 0
