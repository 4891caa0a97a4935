"""Run a strategy over a dataset with a progress bar: the shared core of backtest and sweep."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine.schema import Tape
from engine.sim import Capacity, RunResult, SimConfig, Strategy, stream
from research.data import Dataset

PROGRESS_CHUNK = 250_000  # events per kernel call when nobody asked: fine-grained progress, same result

EQUITY_POINTS = 2_000  # samples of the stored equity curve of a backtest


def equity_every(dataset: Dataset) -> int:
    """Slots between equity samples so that a curve has about `EQUITY_POINTS` points."""
    return max(1, dataset.n_slots // EQUITY_POINTS)


def run_dataset(dataset: Dataset, strategy: Strategy, params: np.ndarray, cfg: SimConfig, *,
                chunk_events: int | None = None, capacity: Capacity | None = None, progress: bool = True,
                label: str = "backtest") -> RunResult:
    """Stream the dataset through the kernel in chunks (bit-identical to one call), showing progress."""
    step = chunk_events or PROGRESS_CHUNK
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
                  TimeRemainingColumn(), disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=dataset.n_events)
        return stream(_chunks(dataset.tapes(), step), strategy, params, market=dataset.market, cfg=cfg,
                      capacity=capacity, on_chunk=lambda n, state: bar.advance(task, n))


def _chunks(tapes: Iterator[Tape], step: int) -> Iterator[Tape]:
    for tape in tapes:
        for start in range(0, tape.n_events, step):
            yield tape.slice(start, min(tape.n_events, start + step))
