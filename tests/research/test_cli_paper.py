"""`shoal paper`, `shoal runs`, `shoal parity` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.store.journal import Journal
from engine.store.lake import Lake
from tests.engine.exec.helpers import SCRIPTED_ARGS, SCRIPTED_REF, SYN

ROOT = Path(__file__).resolve().parents[2]


def shoal(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, env=env)


def test_paper_then_runs_then_parity_and_a_tampered_journal_fails_parity(tmp_path: Path) -> None:
    # Arrange
    lake = str(tmp_path / "lake")
    # Act
    paper = shoal("paper", "-s", SCRIPTED_REF, *SCRIPTED_ARGS, "--days", str(SYN.days), "--tokens",
                  str(SYN.n_tokens), "--market-seed", str(SYN.seed), "--speed", "max", "--run-id", "cli-1",
                  "--lake", lake, "--json")
    runs = shoal("runs", "--lake", lake, "--json")
    table = shoal("runs", "--lake", lake)
    ok = shoal("parity", "cli-1", "--lake", lake, "--json")
    with Journal(Lake(lake), "cli-1").connect() as con:
        con.execute("UPDATE paper_fills SET fee_base = fee_base * 2 WHERE fill_index = 0").fetchall()
    bad = shoal("parity", "cli-1", "--lake", lake, "--json")
    again = shoal("paper", "-s", SCRIPTED_REF, "--run-id", "cli-1", "--lake", lake, "--days", "0.001")
    # Assert
    assert paper.returncode == 0, paper.stderr[-2000:]
    doc = json.loads(paper.stdout)
    assert doc["run_id"] == "cli-1" and doc["status"] == "completed"
    assert doc["parity"]["differences"] == 0 and doc["summary"]["n_orders"] > 5
    assert runs.returncode == 0
    row = json.loads(runs.stdout)["runs"][0]
    assert row["run_id"] == "cli-1" and row["status"] == "completed" and row["strategy"] == "scripted"
    assert row["last_slot"] == doc["last_slot"] and row["equity"] > 0
    assert "cli-1" in table.stdout and "completed" in table.stdout
    assert ok.returncode == 0 and json.loads(ok.stdout)["differences"] == 0
    assert bad.returncode == 1
    bad_doc = json.loads(bad.stdout)
    assert bad_doc["run_id"] == "cli-1" and bad_doc["differences"] == 1
    assert bad_doc["first_difference"]["field"] == "fee_base"
    assert again.returncode == 2 and "already exists" in again.stderr


def test_resume_of_an_unknown_run_says_how_to_list_runs(tmp_path: Path) -> None:
    r = shoal("paper", "--resume", "nope", "--lake", str(tmp_path))
    assert r.returncode == 2 and "shoal runs" in r.stderr
