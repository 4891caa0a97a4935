"""Sweeps on a real Dask cluster (worker processes on 127.0.0.1) equal local sweeps bit for bit.

The workers read the lake themselves: from a folder, or from a real S3-compatible server (moto).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError
from engine.feeds.synthetic import SyntheticConfig
from engine.sim import Capacity, SimConfig, stream
from engine.sim.runner import CapacityError
from engine.store.lake import Lake
from research.backtest import run_dataset
from research.data import Dataset, from_lake
from research.distributed import (
    LakeEvents,
    connect,
    gather_sweep,
    local_workers,
    row_blocks,
    submit_sweep,
    sweep_on_cluster,
    worker_events,
)
from research.generate import generate_into_lake
from research.strategies import get
from tests.moto_s3 import new_bucket, s3_server

ROOT = Path(__file__).resolve().parents[2]
ARB = get("arbitrage")
# 8 rows; a block holding only pool_kinds=1 rows would build a smaller cycle table than the grid's
GRID = ARB.params(min_profit_lamports=[0.0, 1e4], max_hops=[2, 3], pool_kinds=[1, 7])
EQUITY_EVERY_SLOTS = 50


def sim(impact: str) -> SimConfig:
    """Latency and competition drawn per order: every row's result depends on its random keys."""
    return SimConfig(seed=3, impact=impact, latency="uniform", latency_slots_max=3, compete_prob=0.3,
                     equity_every_slots=EQUITY_EVERY_SLOTS)


def capacity(data: Dataset) -> Capacity:
    return Capacity(max_fills=4_096, max_equity=data.n_slots // EQUITY_EVERY_SLOTS + 3)


def assert_same_bits(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.schema == b.schema
    assert a.height == b.height and a.equals(b)
    for name, dtype in a.schema.items():
        if dtype.is_float():  # equals() takes -0.0 for 0.0; a bit-for-bit result does not
            assert a[name].to_numpy().tobytes() == b[name].to_numpy().tobytes(), name


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An S3 server for the module, in the environment that cluster workers inherit when they start."""
    with s3_server() as env, pytest.MonkeyPatch.context() as mp:
        for name, value in {**env, "SHOAL_CATALOG_DIR": str(tmp_path_factory.mktemp("catalogs"))}.items():
            mp.setenv(name, value)
        yield env


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    target = Lake(tmp_path_factory.mktemp("lake"))
    generate_into_lake(target, SyntheticConfig(seed=5, days=0.05, n_tokens=3), progress=False)
    return target


@pytest.fixture(scope="module")
def data(lake: Lake) -> Dataset:
    return from_lake(lake)


@pytest.fixture(scope="module")
def local(data: Dataset) -> dict:
    """The local prange sweeps to match (this also compiles the kernel the workers load)."""
    return {impact: run_dataset(data, ARB, GRID, sim(impact), capacity=capacity(data), progress=False)
            for impact in ("counterfactual", "none")}


@pytest.fixture(scope="module")
def client(local: dict, s3_env: dict[str, str]) -> Iterator:
    with connect("local:2") as c:
        yield c


def test_a_block_run_with_row_base_draws_as_its_rows_of_the_grid(data: Dataset, local: dict) -> None:
    # Arrange
    whole = local["counterfactual"].summary.drop("row")
    # Act
    keyed = stream(data.tapes(), ARB, GRID[5:], market=data.market, cfg=sim("counterfactual"), row_base=5)
    unkeyed = stream(data.tapes(), ARB, GRID[5:], market=data.market, cfg=sim("counterfactual"))
    # Assert
    assert_same_bits(keyed.summary.drop("row"), whole[5:])
    assert not unkeyed.summary.drop("row").equals(whole[5:])  # the rows' draws do depend on their keys


def test_row_blocks_cover_every_row_once_in_order() -> None:
    for n_rows, n_tasks in ((8, 3), (8, 8), (3, 10), (10_000, 7)):
        blocks = row_blocks(n_rows, n_tasks)
        assert blocks[0][0] == 0 and blocks[-1][1] == n_rows
        assert all(hi == lo for (_, hi), (lo, _) in itertools.pairwise(blocks))
        sizes = [hi - lo for lo, hi in blocks]
        assert len(blocks) == min(n_rows, n_tasks) and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(("impact", "n_tasks"), [("counterfactual", 8), ("none", 3)])
def test_a_cluster_sweep_equals_the_local_sweep_bit_for_bit(client, lake: Lake, data: Dataset, local: dict,
                                                            impact: str, n_tasks: int) -> None:
    # Act
    frames = sweep_on_cluster(client, worker_events(lake, None, None, None), data.market, ARB, GRID, sim(impact),
                              capacity=capacity(data), n_tasks=n_tasks, progress=False)
    # Assert
    want = local[impact]
    assert frames.fills.height > 100 and frames.equity.height > 100
    assert_same_bits(frames.summary, want.summary)
    assert_same_bits(frames.fills, want.fills)  # order tags number arbitrage cycles of the whole grid's table
    assert_same_bits(frames.equity, want.equity)


def test_workers_read_a_lake_on_object_storage_by_its_url(client, s3_env: dict[str, str], data: Dataset,
                                                          local: dict) -> None:
    # Arrange: the same market as the local lake, generated into a bucket
    remote = Lake(f"s3://{new_bucket(s3_env)}/team/lake")
    generate_into_lake(remote, SyntheticConfig(seed=5, days=0.05, n_tokens=3), progress=False)
    events = worker_events(remote, None, None, None)
    # Act
    frames = sweep_on_cluster(client, events, from_lake(remote).market, ARB, GRID, sim("counterfactual"),
                              capacity=capacity(data), n_tasks=4, progress=False)
    # Assert
    assert events.url == remote.url and remote.url.startswith("s3://")
    assert_same_bits(frames.summary, local["counterfactual"].summary)
    assert_same_bits(frames.fills, local["counterfactual"].fills)


def test_a_failing_block_raises_its_error_once_without_retries(client, lake: Lake, data: Dataset) -> None:
    # Arrange: one fill record per row cannot hold an arbitrage run's fills
    sent = submit_sweep(client, worker_events(lake, None, None, None), data.market, ARB, GRID, sim("none"),
                        capacity=Capacity(max_fills=1), n_tasks=2)
    # Act
    with pytest.raises(CapacityError, match="max_fills=1"):
        gather_sweep(sent, progress=False)
    # Assert
    for future in sent.futures:
        runs = [e for e in client.story(future.key) if e[0] == "scheduler" and e[3] == "processing"]
        assert len(runs) == 1


def test_a_worker_killed_mid_sweep_is_replaced_and_the_result_is_unchanged(lake: Lake, data: Dataset,
                                                                          local: dict) -> None:
    # Arrange: a fresh cluster, so that the first tasks (imports, kernel load) run long enough to be cut
    with connect("local:2") as fresh:
        pids = fresh.run(os.getpid)
        sent = submit_sweep(fresh, worker_events(lake, None, None, None), data.market, ARB, GRID,
                            sim("counterfactual"), capacity=capacity(data), n_tasks=8)
        victim, held = _first_busy_worker(fresh, {f.key for f in sent.futures})
        # Act
        os.kill(pids[victim], signal.SIGKILL)
        frames = gather_sweep(sent, progress=False)
        # Assert
        want = local["counterfactual"]
        assert_same_bits(frames.summary, want.summary)
        assert_same_bits(frames.fills, want.fills)
        for key in held:  # the task the dead worker held was run again elsewhere
            runs = [e for e in fresh.story(key) if e[0] == "scheduler" and e[3] == "processing"]
            assert len(runs) >= 2
        fresh.wait_for_workers(2, timeout=60)  # the nanny started a new worker process
        assert pids[victim] not in fresh.run(os.getpid).values()


def _first_busy_worker(client, keys: set[str]) -> tuple[str, list[str]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for worker, processing in client.processing().items():
            held = [k for k in processing if k in keys]
            if held:
                return worker, held
        time.sleep(0.01)
    pytest.fail("no worker took a sweep task within 60 s")


def test_shoal_sweep_on_a_local_cluster_prints_the_local_sweep(lake: Lake, local: dict) -> None:
    # Arrange
    args = [sys.executable, "-m", "research.cli", "sweep", "--strategy", "arbitrage", "--param",
            "min_profit_lamports=0,10000", "--param", "max_hops=2,3", "--sim", "latency=uniform",
            "--sim", "latency_slots_max=3", "--sim", "compete_prob=0.3", "--lake", str(lake.url), "--json"]
    # Act
    here = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    there = subprocess.run([*args, "--cluster", "local:2", "--tasks", "3"], capture_output=True, text=True,
                           cwd=ROOT, check=False)
    # Assert
    assert here.returncode == 0 and there.returncode == 0, here.stderr + there.stderr
    a, b = json.loads(here.stdout), json.loads(there.stdout)
    assert a["cluster"] is None and b["cluster"] == {"address": "local:2", "workers": 2, "tasks": 3}
    assert b["rows"] == 4 and b["summary"] == a["summary"] and b["overfit"] == a["overfit"]
    assert np.ptp([r["n_outbid"] for r in b["summary"]]) > 0


@pytest.mark.parametrize("spec", ["localhost:8786", "local:0", "local:two", "8786"])
def test_a_malformed_cluster_spec_is_refused_with_the_forms_it_takes(spec: str) -> None:
    with pytest.raises(ConfigError, match="local:N"):
        local_workers(spec)


def test_worker_events_name_the_lake_by_absolute_path(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(lake.url).parent)
    events = worker_events(Lake(Path(lake.url).name), None, 1, 2)
    assert events == LakeEvents(str(Path(lake.url).resolve()), 1, 2)
