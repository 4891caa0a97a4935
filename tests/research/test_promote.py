"""The paper -> live gates on a real paper run, and what an identity is (the CLI path is in test_cli_live)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from engine.store.journal import Journal
from engine.store.lake import QUARANTINE_SCHEMA, Lake
from research import promote
from research.cli_paper import resolve_strategy
from research.strategies import get
from tests.engine.exec.helpers import SYN, params, session
from tests.engine.sim.scripted import SCRIPTED

LOOSE = promote.LiveGates(min_paper_days=0.0)


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, str]:
    root = tmp_path_factory.mktemp("lake")
    outcome = session(root, "pp-gates").run()
    assert outcome.status == "completed" and outcome.summary["n_orders"][0] > 5
    return Lake(root), "pp-gates"


def _gates(promo: promote.Promotion) -> dict[str, promote.Gate]:
    return {g.name: g for g in promo.gates}


def test_a_paper_run_never_promoted_to_paper_is_refused_live_though_every_other_gate_passes(paper_run) -> None:
    # Act
    promo = promote.promote_to_live(*paper_run, LOOSE, resolve_strategy)
    # Assert
    g = _gates(promo)
    assert not promo.passed and [n for n, x in g.items() if not x.passed] == ["paper_stage"]
    assert "never promoted to paper" in g["paper_stage"].reason
    assert g["parity"].evidence["differences"] == 0 and g["parity"].evidence["events"] > 1_000
    pnl = g["pnl_vs_backtest"].evidence
    assert pnl["gap"] == 0.0 and pnl["paper_pnl_lamports"] == pnl["backtest_pnl_lamports"] != 0
    assert pnl["backtest_source"] == "synthetic feed regenerated" and pnl["paper_orders"] == pnl["backtest_orders"]
    assert g["paper_days"].evidence["days"] == pytest.approx(SYN.days, rel=0.01)
    # the attempt is on record, with its evidence
    row = promote.history(paper_run[0]).row(0, named=True)
    assert (row["promotion_id"], row["passed"], row["from_stage"], row["to_stage"]) == (
        promo.promotion_id, False, "paper", "live")
    assert json.loads(row["gates_json"])[2]["evidence"]["differences"] == 0


def test_too_few_paper_days_and_a_drawdown_over_the_limit_fail_their_gates(paper_run) -> None:
    promo = promote.promote_to_live(*paper_run, promote.LiveGates(min_paper_days=2.0, max_drawdown=1e-9),
                                    resolve_strategy)
    g = _gates(promo)
    assert not g["paper_days"].passed and "2 needed" in g["paper_days"].reason
    dd = g["drawdown"].evidence["max_drawdown"]
    assert not g["drawdown"].passed and dd > 1e-9
    assert promote.promote_to_live(*paper_run, replace(LOOSE, max_drawdown=dd), resolve_strategy).gates[-1].passed


def test_quarantined_rows_of_the_paper_period_fail_until_their_reason_is_explained(paper_run, tmp_path: Path) -> None:
    # Arrange: a copy of the run's lake with two rows the feed guard set aside during the run
    lake, run_id = paper_run
    copy = Lake(tmp_path / "lake")
    import shutil

    shutil.copytree(lake.root, copy.root)
    copy.write_quarantine(pl.DataFrame({"ingested_ns": [time.time_ns()] * 2, "source": [f"paper:{run_id}"] * 2,
                                        "table": ["tape"] * 2, "reason": ["out_of_order", "duplicate_key"],
                                        "row": ["{}", "{\"k\": 1}"]}, schema=QUARANTINE_SCHEMA))
    # Act
    refused = promote.promote_to_live(copy, run_id, LOOSE, resolve_strategy)
    half = promote.promote_to_live(copy, run_id, replace(LOOSE, explained={"duplicate_key": "ws redelivery"}),
                                   resolve_strategy)
    both = promote.promote_to_live(copy, run_id, replace(LOOSE, explained={"duplicate_key": "ws redelivery",
                                                                           "out_of_order": "gap backfill"}),
                                   resolve_strategy)
    # Assert
    q = _gates(refused)["quarantine"]
    assert not q.passed and q.evidence["unexplained"] == {"out_of_order": 1, "duplicate_key": 1}
    assert _gates(half)["quarantine"].evidence["unexplained"] == {"out_of_order": 1}
    ok = _gates(both)["quarantine"]
    assert ok.passed and ok.evidence["explained"] == {"duplicate_key": "ws redelivery", "out_of_order": "gap backfill"}


def test_a_tampered_journal_fails_parity(paper_run, tmp_path: Path) -> None:
    import shutil

    lake, run_id = paper_run
    copy = Lake(tmp_path / "lake")
    shutil.copytree(lake.root, copy.root)
    with Journal(copy, run_id).connect() as con:
        con.execute("UPDATE paper_fills SET amount_out_raw = amount_out_raw + 1 WHERE fill_index = 0").fetchall()
    g = _gates(promote.promote_to_live(copy, run_id, LOOSE, resolve_strategy))
    assert not g["parity"].passed and g["parity"].evidence["first_difference"]["field"] == "amount_out_raw"


def test_identity_is_the_strategy_every_parameter_and_the_code() -> None:
    sniper = get("sniper")
    a = promote.identity_of(sniper, sniper.params([{}]))
    same = promote.identity_of(sniper, sniper.params([{"buy_lamports": sniper.defaults["buy_lamports"]}]))
    other = promote.identity_of(sniper, sniper.params([{"buy_lamports": 1.5e8}]))
    assert a.key == same.key != other.key
    assert a.params["buy_lamports"] == sniper.defaults["buy_lamports"] and len(a.params) == len(sniper.defaults)
    assert a.code_version.startswith("engine:") and " strategy:" in a.code_version
    scripted = promote.identity_of(SCRIPTED, params())
    assert scripted.code_version.split()[0] == a.code_version.split()[0]  # one engine
    assert scripted.code_version.split()[1] != a.code_version.split()[1]  # each strategy's own source
    assert promote.Identity(a.strategy, a.params, a.code_version + "x").key != a.key
    with pytest.raises(promote.PromotionError, match="one parameter set"):
        promote.identity_of(sniper, sniper.params(buy_lamports=[1e8, 2e8]))


def test_a_paper_promotion_of_the_identity_opens_the_live_gate(paper_run, tmp_path: Path) -> None:
    # Arrange: the identity's research -> paper promotion, as `shoal promote BT --to paper` records it
    import shutil

    lake, run_id = paper_run
    copy = Lake(tmp_path / "lake")
    shutil.copytree(lake.root, copy.root)
    identity = promote.identity_of(SCRIPTED, params())
    with pytest.raises(promote.PromotionError, match="stage 'research'"):
        promote.require_live(copy, identity)
    promote._record(copy, identity, "research", "paper", "bt-test", (promote.Gate("min_trades", True, "ok"),))
    with pytest.raises(promote.PromotionError, match=r"stage 'paper'.*shoal promote PAPER_RUN --to live"):
        promote.require_live(copy, identity)
    # Act
    promo = promote.promote_to_live(copy, run_id, LOOSE, resolve_strategy)
    # Assert
    assert promo.passed, [g.to_dict() for g in promo.gates if not g.passed]
    assert promote.require_live(copy, identity)["promotion_id"] == promo.promotion_id
    moved = promote.Identity(identity.strategy, identity.params, identity.code_version.replace("engine:", "engine:x"))
    with pytest.raises(promote.PromotionError, match="code has changed since"):
        promote.require_live(copy, moved)
