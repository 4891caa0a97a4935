"""Paper == backtest: the incremental runner over any chunking, and a journaled session, field by field."""

from __future__ import annotations

import numpy as np
import pytest

from engine.exec.parity import compare_states, parity
from engine.exec.runner import ChunkKernel, Runner
from engine.feeds.synthetic import SyntheticConfig, SyntheticMarket
from engine.feeds.synthetic_live import synthetic_market
from engine.layout import EventKind
from engine.schema import Tape
from engine.sim import Capacity, Market, SimConfig, Strategy, run
from engine.store.journal import Journal
from engine.store.lake import Lake
from tests.engine.exec.helpers import CFG, GEN, MARKET, params, session
from tests.engine.sim.scripted import SCRIPTED

CAP = Capacity(max_fills=8_192, max_pending=64, max_holdings=64)
GEN_TAPE = SyntheticMarket(GEN.cfg).generate()
SYN_TAPES = {seed: synthetic_market(SyntheticConfig(seed=seed, days=0.01, n_tokens=3)) for seed in (1, 2)}


def _families() -> list[tuple[str, Strategy, np.ndarray]]:
    out = [("scripted", SCRIPTED, params())]
    try:
        from research.strategies import STRATEGIES
    except ImportError:
        return out
    for name, strat in sorted(STRATEGIES.items()):
        out.append((name, strat, strat.params([{}])))
    return out


def _bar_tape(seed: int, n: int = 3_000) -> Tape:
    rng = np.random.default_rng([7, seed])
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    vals = np.column_stack([open_, high, low, close, rng.uniform(1, 10, n)])
    return Tape.from_columns(slot=np.arange(n), seq=np.zeros(n), ts_ns=np.arange(n) * 60 * 10**9,
                             kind=np.full(n, EventKind.BAR), pool_id=np.zeros(n), vals=vals)


def _case(strat: Strategy, seed: int) -> tuple[Tape, Market, SimConfig]:
    if strat.events is not None and set(strat.events) <= {EventKind.BAR}:
        return _bar_tape(seed), Market.for_bars(1), SimConfig(seed=seed, init_cash=100.0)
    if strat is SCRIPTED:
        return GEN_TAPE, MARKET, CFG
    market, gen = SYN_TAPES[seed]
    return SyntheticMarket(gen.cfg).generate(), market, SimConfig(seed=seed, latency="uniform",
                                                                  latency_slots_min=0, latency_slots_max=2)


def _chunked(tape: Tape, sizes: list[int]) -> list[Tape]:
    out, pos, k = [], 0, 0
    while pos < tape.n_events:
        step = sizes[k % len(sizes)]
        out.append(tape.slice(pos, min(tape.n_events, pos + step)))
        pos += step
        k += 1
    return out


@pytest.mark.parametrize(("name", "strat", "prm"), _families(), ids=[f[0] for f in _families()])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("sizes", [[1], [7, 1, 250, 3], [100_000]], ids=["one-event", "mixed", "whole"])
def test_runner_over_chunks_equals_one_backtest(name: str, strat: Strategy, prm: np.ndarray, seed: int,
                                                sizes: list[int]) -> None:
    # Arrange
    tape, market, cfg = _case(strat, seed)
    if sizes == [1]:
        tape = tape.slice(0, min(tape.n_events, 2_000))
    whole = run(tape, strat, prm, market=market, cfg=cfg, capacity=CAP).state
    runner = Runner(ChunkKernel(strat, prm, market=market, cfg=cfg, capacity=CAP))
    # Act
    for chunk in _chunked(tape, sizes):
        runner.step(chunk)
    # Assert
    diff = compare_states(runner.state, whole)
    assert diff.n == 0, diff.first
    assert runner.n_events == tape.n_events


def test_a_changed_ledger_value_is_one_difference_named_by_field() -> None:
    tape = GEN_TAPE.slice(0, 1_000)
    a = run(tape, SCRIPTED, params(), market=MARKET, cfg=CFG, capacity=CAP).state
    b = a.copy()
    b.acc[0, 0] = np.nextafter(b.acc[0, 0], np.inf)  # one unit in the last place of the cash
    diff = compare_states(b, a)
    assert diff.n == 1 and diff.first["field"] == "acc.cash"


@pytest.mark.parametrize("chunk_slots", [1, 150], ids=["slot-chunks", "150-slot-chunks"])
def test_a_journaled_session_has_exact_parity_with_its_backtest(tmp_path, chunk_slots: int) -> None:
    # Arrange
    s = session(tmp_path, f"par-{chunk_slots}", max_chunk_slots=chunk_slots)
    # Act
    out = s.run()
    rep = parity(s)
    # Assert
    assert out.status == "completed" and out.n_events == GEN_TAPE.n_events
    assert Journal(s.lake, s.run_id).read_tape().equals(GEN_TAPE)
    assert rep.differences == 0, rep.first_difference
    assert rep.complete and rep.n_fills_journal == rep.n_fills_backtest > 5
    assert rep.checkpoint_event == GEN_TAPE.n_events


def test_parity_counts_a_tampered_journal_fill(tmp_path) -> None:
    s = session(tmp_path, "tamper")
    s.run()
    with Journal(s.lake, s.run_id).connect() as con:
        con.execute("UPDATE paper_fills SET amount_out_raw = amount_out_raw + 1 WHERE fill_index = 2").fetchall()
    rep = parity(s)
    assert rep.differences == 1
    assert rep.first_difference["what"] == "fills" and rep.first_difference["field"] == "amount_out_raw"





@pytest.mark.parametrize("name", [f[0] for f in _families() if f[0] != "scripted"])
def test_every_strategy_family_paper_session_has_exact_parity(tmp_path, name: str) -> None:
    # Arrange: the strategy by its registry name, defaults, a small synthetic market; config round trip via JSON
    from dataclasses import asdict

    from engine.exec.paper import PaperConfig, PaperSession
    from research.cli_paper import resolve_strategy

    strat = resolve_strategy(name)
    syn = SyntheticConfig(seed=2, days=0.01, n_tokens=3)
    spec = {"kind": "synthetic", "synthetic": asdict(syn), "speed": "max", "max_chunk_slots": 7}
    s = PaperSession(Lake(tmp_path), f"fam-{name}", strat, strat.params([{}]), cfg=SimConfig(seed=3), feed_spec=spec,
                     paper=PaperConfig(flush_every_s=0.01, checkpoint_every_s=0.02), strategy_ref=name)
    # Act
    out = s.run()
    rep = parity(PaperSession.from_journal(Lake(tmp_path), f"fam-{name}", resolve_strategy))
    # Assert
    assert out.status == "completed" and out.n_events > 1_000
    assert rep.differences == 0, rep.first_difference
