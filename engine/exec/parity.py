"""Paper vs backtest: re-run a journaled tape as a backtest and compare, field by field.

The backtest starts from a fresh state with the run's strategy, parameters, fill model and
seed, and runs the journaled tape with `engine.sim.run` (in pieces of up to a million events,
one call each, continuing one state: the kernel's chunk invariance makes that one run). It
stops at the events where the journal has something to compare:

- the newest checkpoint: every array of the kernel state (ledger accumulators, holdings,
  pending orders, fill buffer, strategy state, market state), element by element;
- the newest journaled summary: every summary column of every row;
- the end of the tape: the journaled fills in the catalog against the backtest's fills,
  column by column (a finished run must have all of them; an interrupted one a prefix).

Floats compare bit for bit (NaN equal to NaN of the same payload), so a difference of one
unit in the last place counts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from engine.exec.paper import PaperSession
from engine.schema import Tape
from engine.sim import records as _records
from engine.sim.runner import SimState, run, wrap
from engine.store.journal import FILL_COLUMNS

__all__ = ["ParityReport", "compare_states", "parity"]

PIECE_EVENTS = 1_000_000
_ACC_NAMES = {v: k.removeprefix("ACC_").lower() for k, v in vars(_records).items()
              if k.startswith("ACC_") and isinstance(v, int)}


@dataclass(frozen=True, slots=True)
class ParityReport:
    """The outcome of `parity`: how many fields differ and the first one that does."""

    run_id: str
    differences: int
    first_difference: dict | None
    n_events: int
    checkpoint_event: int | None
    summary_event: int | None
    n_fills_journal: int
    n_fills_backtest: int
    complete: bool

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


class _Diff:
    def __init__(self) -> None:
        self.n = 0
        self.first: dict | None = None

    def add(self, count: int, first: dict) -> None:
        if count <= 0:
            return
        self.n += count
        if self.first is None:
            self.first = first


def parity(session: PaperSession) -> ParityReport:
    """Re-run ``session``'s journaled tape as a backtest and compare (see the module docstring)."""
    j = session.journal
    n = j.n_events
    ckpt = j.latest_checkpoint()
    summaries = j.table("paper_summaries")
    summary_event = int(summaries["n_events"].max()) if summaries.height else None
    stops = sorted({x for x in (ckpt[0] if ckpt else None, summary_event, n) if x is not None and x > 0})
    diff = _Diff()
    cap = session.paper.capacity()
    state: SimState | None = None
    at: dict[int, SimState] = {}
    pos = 0  # global event index
    for piece in _pieces(j.iter_tapes(), PIECE_EVENTS):
        end = pos + piece.n_events
        local = 0
        for stop in [s for s in stops if pos < s <= end] + [end]:
            if stop - pos <= local:
                continue
            if state is not None:
                state.next_event = local
            state = run(piece, session.strategy, session.params, market=session.market, cfg=session.cfg,
                        start=local, stop=stop - pos, state=state, capacity=cap).state
            local = stop - pos
            if stop in stops and stop not in at:
                at[stop] = state.copy()
        pos = end
    backtest_end = at.get(n)
    if ckpt is not None and ckpt[0] > 0:
        compare_states(SimState.load(ckpt[1]), at[ckpt[0]], diff)
    if summary_event is not None and summary_event in at:
        bt = wrap(session.params, session.market, _cfg(session), at[summary_event]).summary
        _compare_summaries(summaries.filter(pl.col("n_events") == summary_event), bt, diff)
    journal_fills = j.fills()
    complete = j.run_row()["status"] == "completed"
    bt_fills = wrap(session.params, session.market, _cfg(session), backtest_end).fills if backtest_end is not None \
        else pl.DataFrame()
    _compare_fills(journal_fills, bt_fills, diff, complete=complete)
    return ParityReport(run_id=session.run_id, differences=diff.n, first_difference=diff.first, n_events=n,
                        checkpoint_event=None if ckpt is None else ckpt[0], summary_event=summary_event,
                        n_fills_journal=journal_fills.height, n_fills_backtest=bt_fills.height, complete=complete)


def _cfg(session: PaperSession):
    from dataclasses import replace

    cfg = session.cfg
    return cfg if cfg.cash_asset == session.market.cash_asset else replace(cfg, cash_asset=session.market.cash_asset)


def _pieces(tapes, size: int):
    buf: list[Tape] = []
    n = 0
    for t in tapes:
        buf.append(t)
        n += t.n_events
        if n >= size:
            yield Tape.concat(buf, sort=False)
            buf, n = [], 0
    if buf:
        yield Tape.concat(buf, sort=False)


def _bits(a: np.ndarray) -> np.ndarray:
    """Integers with the same bits as ``a`` (floats compare bit for bit)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        return a.view(np.int64 if a.itemsize == 8 else np.int32)
    if a.dtype.kind == "b":
        return a.view(np.int8)
    return a


def compare_states(paper: SimState, backtest: SimState, diff: _Diff | None = None) -> _Diff:
    """Count differing elements of every state array (``next_event`` aside: it is chunk-local)."""
    diff = diff or _Diff()
    for f in fields(SimState):
        if f.name == "next_event":
            continue
        a, b = getattr(paper, f.name), getattr(backtest, f.name)
        if a.shape != b.shape or a.dtype != b.dtype:
            diff.add(1, {"what": "state", "field": f.name, "paper": f"{a.dtype}{a.shape}",
                         "backtest": f"{b.dtype}{b.shape}"})
            continue
        names = a.dtype.names or (None,)
        for name in names:
            x, y = (a, b) if name is None else (a[name], b[name])
            ne = _bits(x) != _bits(y)
            count = int(np.count_nonzero(ne))
            if count:
                idx = tuple(int(i) for i in np.argwhere(ne)[0])
                label = f.name if name is None else f"{f.name}.{name}"
                if f.name == "acc" and len(idx) == 2:
                    label = f"acc.{_ACC_NAMES.get(idx[1], idx[1])}"
                diff.add(count, {"what": "state", "field": label, "index": list(idx),
                                 "paper": _py(x[idx]), "backtest": _py(y[idx])})
    return diff


def _compare_summaries(journal: pl.DataFrame, backtest: pl.DataFrame, diff: _Diff) -> None:
    for rec in journal.sort("row").iter_rows(named=True):
        row = int(rec["row"])
        paper = json.loads(rec["summary_json"])
        if row >= backtest.height:
            diff.add(1, {"what": "summary", "row": row, "field": "*", "paper": "present", "backtest": "missing"})
            continue
        bt = backtest.row(row, named=True)
        for k, v in bt.items():
            p = paper.get(k)
            if not _same(p, v):
                diff.add(1, {"what": "summary", "row": row, "field": k, "paper": p, "backtest": _py(v)})


def _compare_fills(journal: pl.DataFrame, backtest: pl.DataFrame, diff: _Diff, *, complete: bool) -> None:
    if backtest.height == 0 and journal.height == 0:
        return
    n_rows = int(max(journal["row"].max() if journal.height else -1, backtest["row"].max() if backtest.height
                     else -1)) + 1
    for row in range(n_rows):
        jr = journal.filter(pl.col("row") == row) if journal.height else journal
        br = backtest.filter(pl.col("row") == row) if backtest.height else backtest
        if jr.height and not np.array_equal(jr["fill_index"].to_numpy(), np.arange(jr.height)):
            diff.add(1, {"what": "fills", "row": row, "field": "fill_index", "paper": "gap or duplicate",
                         "backtest": f"0..{br.height - 1}"})
        if jr.height > br.height or (complete and jr.height < br.height):
            diff.add(abs(jr.height - br.height), {"what": "fills", "row": row, "field": "count",
                                                  "paper": jr.height, "backtest": br.height})
        k = min(jr.height, br.height)
        for col in FILL_COLUMNS:
            x, y = jr[col].head(k).to_numpy(), br[col].head(k).to_numpy()
            ne = _bits(x.astype(y.dtype, copy=False)) != _bits(y)
            count = int(np.count_nonzero(ne))
            if count:
                i = int(np.flatnonzero(ne)[0])
                diff.add(count, {"what": "fills", "row": row, "index": i, "field": col, "paper": _py(x[i]),
                                 "backtest": _py(y[i])})


def _same(p: object, v: object) -> bool:
    v = _py(v)
    if isinstance(v, float) and isinstance(p, int | float):
        if math.isnan(v):
            return isinstance(p, float) and math.isnan(p)
        return float(p) == v
    return p == v


def _py(v: object) -> object:
    return v.item() if hasattr(v, "item") else v
