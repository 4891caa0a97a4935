"""`shoal lake info` and `shoal lake check` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.layout import EventKind
from engine.schema import Tape
from engine.store.lake import Lake

ROOT = Path(__file__).resolve().parents[2]
DAY0_NS = 1_767_225_600 * 10**9


def shoal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


def small_lake(root: Path) -> Tape:
    n = 500
    slot = np.arange(n) * 1_000
    vals = np.zeros((n, 5))
    vals[:, :2] = np.arange(1, 2 * n + 1).reshape(n, 2)
    tape = Tape.from_columns(slot=slot, seq=np.zeros(n), ts_ns=DAY0_NS + slot * 400_000_000,
                             kind=np.full(n, EventKind.SWAP), pool_id=np.arange(n) % 3, wallet_id=np.arange(n) % 4,
                             mint_id=np.zeros(n), side=np.arange(n) % 2, vals=vals)
    lake = Lake(root)
    lake.ingest(tape, source="test")
    bad = Tape.from_columns(slot=[1], seq=[1], ts_ns=[DAY0_NS], kind=[EventKind.SWAP], pool_id=[0], wallet_id=[0],
                            vals=[[-1.0, 0, 0, 0, 0]])
    lake.ingest(bad, source="test")
    return tape


def test_lake_info_json_lists_tables_rows_range_and_quarantine(tmp_path: Path) -> None:
    tape = small_lake(tmp_path)
    out = shoal("lake", "info", "--lake", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    (swaps,) = info["tables"]
    assert swaps["table"] == "swaps" and swaps["rows"] == tape.n_events
    assert swaps["first_slot"] == 0 and swaps["last_slot"] == int(tape.slot[-1])
    assert swaps["first_ts"] == "2026-01-01T00:00:00+00:00" and swaps["days"] == 3
    assert swaps["bytes"] > 0 and info["quarantine"] == 1
    assert info["quarantine_by_reason"] == {"negative_amount": 1}


def test_lake_info_prints_a_table_without_json(tmp_path: Path) -> None:
    small_lake(tmp_path)
    out = shoal("lake", "info", "--lake", str(tmp_path))
    assert out.returncode == 0 and "swaps" in out.stdout and "quarantine: 1 rows" in out.stdout


def test_lake_check_passes_on_a_sound_lake_and_fails_on_a_corrupt_file(tmp_path: Path) -> None:
    small_lake(tmp_path)
    ok = shoal("lake", "check", "--lake", str(tmp_path), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    victim = Lake(tmp_path).files("swaps")[0]
    victim.write_bytes(b"PAR1 garbage")
    bad = shoal("lake", "check", "--lake", str(tmp_path), "--json")
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and report["ok"] is False
    failed = [c for c in report["checks"] if not c["ok"]]
    assert failed[0]["check"] == "files_readable" and victim.name in failed[0]["detail"]


def test_a_missing_lake_is_a_one_line_error_with_a_hint(tmp_path: Path) -> None:
    out = shoal("lake", "info", "--lake", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert "no lake at" in out.stderr and "shoal generate" in out.stderr
    assert "Traceback" not in out.stderr
