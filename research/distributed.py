"""Sweeps on a Dask cluster: the grid's rows split into tasks, each worker reading the events itself.

A task is a block of consecutive grid rows. The worker opens the events by path (a shared
folder, object storage or a bars file: the tape never goes through the scheduler), runs the
same kernel over its block and returns the block's frames (summary, fills, equity); the
client puts the blocks back in row order.

Two things make a block's rows equal the rows of a local run bit for bit: the kernel keys
each row's random draws by its grid row id (``row_base``), and the strategy's shared tables
(``prepare``, ``state_size``) are built from the whole grid, as a local run builds them (the
arbitrage cycle table, whose numbering orders carry as their tag, depends on the pool kinds
and hops of every row).

A task whose worker dies is run again by another worker (the scheduler's
``allowed-failures``); one that raises an unexpected error is retried (``retries``); a
`ShoalError` (a full buffer, a bad grid) would fail the same way again, so it is not.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine.errors import ConfigError, ShoalError
from engine.schema import Tape
from engine.sim import Capacity, Market, SimConfig, Strategy, stream
from engine.store.lake import Lake
from engine.store.storage import is_url
from research.data import from_bars_file
from research.output import err_console

TASKS_PER_THREAD = 4  # enough tasks to balance uneven rows and lose little to a dead worker
RETRIES = 3  # reruns of a task that raised (a flaky read); a dead worker's tasks rerun anyway
CONNECT_TIMEOUT_S = 10.0  # a scheduler that does not answer by then is not there
WORKER_WAIT_S = 30.0  # how long a new cluster may take to show its first worker


class ClusterError(ShoalError):
    """The cluster could not be reached, had no workers, or kept losing a task's workers."""


@dataclass(frozen=True, slots=True)
class LakeEvents:
    """The lake's events in [start, stop), read one day at a time by whoever calls it."""

    url: str  # an absolute folder path or an object-store URL
    start_ts_ns: int | None = None
    stop_ts_ns: int | None = None

    def __call__(self) -> Iterator[Tape]:
        return Lake(self.url).iter_tapes(start_ts_ns=self.start_ts_ns, stop_ts_ns=self.stop_ts_ns)


@dataclass(frozen=True, slots=True)
class BarsEvents:
    """An OHLCV file's bars, read by whoever calls it."""

    path: Path

    def __call__(self) -> Iterator[Tape]:
        return from_bars_file(self.path).tapes()


def worker_events(lake: Lake, bars: Path | None, start_ts_ns: int | None,
                  stop_ts_ns: int | None) -> LakeEvents | BarsEvents:
    """Name the events so that a worker can open them: absolute paths, or the lake's URL."""
    if bars is not None:
        return BarsEvents(bars.resolve())
    return LakeEvents(lake.url if is_url(lake.url) else str(Path(lake.url).resolve()), start_ts_ns, stop_ts_ns)


@contextmanager
def connect(spec: str) -> Iterator:
    """Yield a `distributed.Client` of ``tcp://HOST:PORT`` (any Dask address) or ``local:N``.

    ``local:N`` starts N worker processes on this machine, one task at a time each, every one
    with ``cpus / N`` Numba threads for the kernel's ``prange``.
    """
    try:
        from distributed import Client, LocalCluster
    except ModuleNotFoundError as e:
        msg = "--cluster needs Dask: pip install -e '.[scale]' (dask[distributed]) into this environment"
        raise ClusterError(msg) from e
    n = local_workers(spec)
    if n is not None:
        threads = max(1, (os.cpu_count() or 1) // n)
        # no dashboard; the scheduler's health endpoint on any free loopback port (8787 may be taken)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                          silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": str(threads)}) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(spec, timeout=f"{CONNECT_TIMEOUT_S:.0f}s")
    except (OSError, TimeoutError) as e:
        msg = (f"cannot reach the Dask scheduler at {spec}: {e}. Hint: start one with `dask scheduler` and "
               f"workers with `dask worker {spec} --nthreads 1`, or run here with --cluster local:N")
        raise ClusterError(msg) from e
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError as e:
            msg = (f"the Dask scheduler at {spec} has no workers after {WORKER_WAIT_S:.0f} s. "
                   f"Hint: start some with `dask worker {spec} --nthreads 1`")
            raise ClusterError(msg) from e
        yield client


def local_workers(spec: str) -> int | None:
    """Check a cluster spec; return N of ``local:N``, None for a scheduler address."""
    if spec.startswith("local:"):
        text = spec.removeprefix("local:")
        if not text.isdigit() or int(text) < 1:
            msg = f"local:N needs a number of worker processes N >= 1, was {spec!r}"
            raise ConfigError(msg)
        return int(text)
    if "://" not in spec:
        msg = f"--cluster takes tcp://HOST:PORT (a Dask scheduler) or local:N (N worker processes), was {spec!r}"
        raise ConfigError(msg)
    return None


def row_blocks(n_rows: int, n_tasks: int) -> list[tuple[int, int]]:
    """Split rows [0, n_rows) into at most ``n_tasks`` consecutive blocks of near-equal size."""
    n = max(1, min(n_tasks, n_rows))
    return list(itertools.pairwise(n_rows * k // n for k in range(n + 1)))


@dataclass(frozen=True, slots=True)
class SweepFrames:
    """What a cluster sweep returns: the frames of a local run, rows numbered in the grid."""

    summary: pl.DataFrame
    fills: pl.DataFrame
    equity: pl.DataFrame


def run_block(events: Callable[[], Iterator[Tape]], market: Market, strategy: Strategy, grid: np.ndarray,
              lo: int, hi: int, cfg: SimConfig, capacity: Capacity) -> SweepFrames | ShoalError:
    """Run grid rows [lo, hi) over the events, as a run of the whole grid runs them (on a worker).

    Returns the block's frames, or the `ShoalError` the run raised (returned, not raised, so
    that Dask does not retry a failure that would happen again).
    """
    try:
        result = stream(events(), _tables_from_grid(strategy, grid), grid[lo:hi], market=market, cfg=cfg,
                        capacity=capacity, row_base=lo)
    except ShoalError as e:
        return e
    in_grid = pl.col("row") + lo
    return SweepFrames(summary=result.summary.with_columns(in_grid), fills=result.fills.with_columns(in_grid),
                       equity=result.equity.with_columns(in_grid))


def _tables_from_grid(strategy: Strategy, grid: np.ndarray) -> Strategy:
    """The strategy with its shared tables sized and built from the whole grid, not one block."""
    prepare = strategy.prepare
    size = strategy.state_size
    return replace(strategy, state_size=lambda _rows, market: size(grid, market),
                   prepare=None if prepare is None else (lambda tape, market, _rows: prepare(tape, market, grid)))


@dataclass(frozen=True, slots=True)
class SweepTasks:
    """A sweep in flight: one future per block of grid rows, in row order."""

    blocks: list[tuple[int, int]]
    futures: list


def submit_sweep(client, events: Callable[[], Iterator[Tape]], market: Market, strategy: Strategy,
                 params: np.ndarray, cfg: SimConfig, *, capacity: Capacity | None = None,
                 n_tasks: int | None = None, retries: int = RETRIES) -> SweepTasks:
    """Send the grid and market to the cluster once, then one task per block of rows.

    Parameters
    ----------
    client : distributed.Client
        The cluster to run on (see `connect`).
    events : callable
        Opens the events where it is called (`worker_events`): workers read them themselves.
    capacity : Capacity, optional
        Per-row buffers; by default no fill records are kept (counts and summaries only).
    n_tasks : int, optional
        Blocks to split the rows into; default `TASKS_PER_THREAD` per worker thread.
    retries : int
        Reruns of a task that raised an unexpected error.
    """
    n_threads = sum(client.nthreads().values())
    if n_threads == 0:
        msg = f"the cluster at {client.scheduler.address} has no workers; start some, or use --cluster local:N"
        raise ClusterError(msg)
    blocks = row_blocks(params.shape[0], n_tasks or TASKS_PER_THREAD * n_threads)
    shared_grid = client.submit(_value, params)
    shared_market = client.submit(_value, market)
    cap = capacity or Capacity(max_fills=0)
    futures = [client.submit(run_block, events, shared_market, strategy, shared_grid, lo, hi, cfg, cap,
                             retries=retries, pure=False) for lo, hi in blocks]
    return SweepTasks(blocks=blocks, futures=futures)


def _value(value: object) -> object:
    """Return ``value``: as a task's result it is made again if every worker holding it dies.

    Data sent with ``Client.scatter`` is lost for good with its workers, and so is the sweep.
    """
    return value


def gather_sweep(tasks: SweepTasks, *, progress: bool = True, label: str = "sweep") -> SweepFrames:
    """Wait for every block (a progress bar on stderr) and put their frames together in row order."""
    from distributed import KilledWorker, as_completed

    position = {f.key: k for k, f in enumerate(tasks.futures)}
    parts: list[SweepFrames | None] = [None] * len(tasks.futures)
    try:
        with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"),
                      TimeRemainingColumn(), console=err_console, disable=not progress, transient=True) as bar:
            task = bar.add_task(label, total=len(tasks.futures))
            for future in as_completed(tasks.futures):
                part = future.result()
                if isinstance(part, ShoalError):
                    raise part
                parts[position[future.key]] = part
                bar.advance(task)
    except KilledWorker as e:
        msg = (f"a sweep task lost its worker too many times ({e}); workers may be running out of memory. "
               "Hint: give workers more memory, or split the rows into more tasks (--tasks)")
        raise ClusterError(msg) from e
    finally:
        pending = [f for f in tasks.futures if not f.done()]
        if pending:
            pending[0].client.cancel(pending)
    return SweepFrames(summary=pl.concat([p.summary for p in parts]), fills=pl.concat([p.fills for p in parts]),
                       equity=pl.concat([p.equity for p in parts]))


def sweep_on_cluster(client, events: Callable[[], Iterator[Tape]], market: Market, strategy: Strategy,
                     params: np.ndarray, cfg: SimConfig, *, capacity: Capacity | None = None,
                     n_tasks: int | None = None, retries: int = RETRIES, progress: bool = True,
                     label: str = "sweep") -> SweepFrames:
    """Run every row of ``params`` on the cluster; return the frames a local run returns."""
    tasks = submit_sweep(client, events, market, strategy, params, cfg, capacity=capacity, n_tasks=n_tasks,
                         retries=retries)
    return gather_sweep(tasks, progress=progress, label=label)
