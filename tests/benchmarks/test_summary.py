"""benchmarks/summary.py: headline rows from each bench's JSON shape, status rows, the README block."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.summary import END, START, Row, main, summarise

ENV = {"python": "3.11.7", "numpy": "2.4.6", "numba": "0.68.1", "cpus": 2, "machine": "x86_64", "commit": "aaa1111"}

# hand-made documents in the shapes the bench scripts write (field names taken from the real files)
LAKE = {"bench": "lake", "results": [
    {"metric": "lake write", "rows": 4_000_000, "median_s": 2.5, "rows_per_s": 1.6e6, "goal_rows_per_s": 2e6},
    {"metric": "lake re-ingest (all present)", "rows": 4_000_000, "median_s": 1.6, "rows_per_s": 2.5e6},
    {"metric": "filtered read (1 day, 3 pools)", "rows": 1_000_950, "returned": 14_940, "median_s": 0.02,
     "rows_per_s": 5.0e7, "goal_rows_per_s": 1e7},
    {"metric": "registry sync 5,000 tokens", "rows": 5000, "median_s": 0.5, "goal_s": 0.2}], **ENV}
GENERATE = {"bench": "generate_synthetic", "days": 1.0, "tokens": 8, "n_events": 2_400_000, "compile_s": 0.3,
            "best_s": 0.9, "median_s": 1.2, "events_per_s_median": 2e6, "events_per_s_best": 2.6e6,
            "goal_events_per_s": 1_000_000, "goal_met": True, **ENV}
INGEST = {"bench": "ingest", "goal_tx_per_s": 20_000, "meets_goal": False, "rows": [
    {"bench": "parse_tx", "kind": "all (bytes -> ParsedTx)", "n_items": 3400, "median_per_s": 15_000.0},
    {"bench": "parse_tx", "kind": "  JSON decode only", "n_items": 3400, "median_per_s": 68_000.0},
    {"bench": "backfill", "kind": "latency 0 ms, concurrency 1", "n_items": 1000, "median_per_s": 594.0}],
    "python": "3.11.7", "machine": "x86_64", "cpu_count": 2, "commit": "bbb2222"}
AMM = {"bench": "amm", "results": [
    {"bench": "cpmm_out_nb", "kind": "kernel", "quotes_per_s": 3e8, "goal_per_s": 1e8},
    {"bench": "clmm_swap_in_nb (one tick)", "kind": "kernel", "quotes_per_s": 2e7, "goal_per_s": 3e7},
    {"bench": "quote_nb (mixed kinds)", "kind": "kernel", "quotes_per_s": 2.5e7, "goal_per_s": None},
    {"bench": "cpmm_exact_in", "kind": "exact", "quotes_per_s": 6e5, "goal_per_s": None}], **ENV}
KERNEL = {"bench": "kernel", "results": [
    {"bench": "throughput noop", "threads": 1, "rows": 1, "n_events": 11_450_155, "events_per_s": 1.2e8,
     "compile_or_load_s": 0.07, "peak_rss_mb": 3292.0, "goal": "100 M/s"},
    {"bench": "throughput noop_all", "threads": 1, "rows": 1, "n_events": 11_450_155, "events_per_s": 3.2e7,
     "compile_or_load_s": 39.0, "peak_rss_mb": 3292.0, "goal": ""},
    {"bench": "compile cold (fresh cache)", "compile_or_load_s": 64.0, "process_s": 85.0},
    {"bench": "compile warm (cache load)", "compile_or_load_s": 0.06},
    {"bench": "sweep scripted", "threads": 2, "rows": 1, "n_events": 72_154, "row_events_per_s": 1.7e6,
     "peak_rss_mb": 745.0, "rss_growth_per_row_kb": 366_656.0},
    {"bench": "sweep scripted", "threads": 2, "rows": 10_000, "n_events": 72_154, "row_events_per_s": 4.6e6,
     "peak_rss_mb": 278.0, "rss_growth_per_row_kb": 5.6},
    {"bench": "sweep scripted", "threads": 2, "rows": 100, "n_events": 72_154, "row_events_per_s": 6.2e6,
     "peak_rss_mb": 746.0, "rss_growth_per_row_kb": 3687.0}], **ENV}
STRATEGIES = {"bench": "strategies", "results": [
    {"bench": "throughput", "strategy": "sniper", "threads": 1, "n_events": 15_022_793, "rows": 1,
     "median_s": 2.9, "peak_rss_mb": 5564.0, "events_per_s": 5.2e6},
    {"bench": "sweep", "strategy": "sniper", "threads": 2, "n_events": 1_210_567, "rows": 1000, "median_s": 123.0,
     "peak_rss_mb": 423.4, "row_events_per_s": 9.8e6}], **ENV}
VS_VECTORBT = {"bench": "vs_vectorbt", "fees": 0.001, "threads": 2, "results": [
    {"bars": 100_000, "pairs": 100, "bar_cells": 10_000_000, "side": "shoal", "median_s": 0.05,
     "peak_rss_mb": 150.0, "cells_per_s_per_thread": 1e8},
    {"bars": 100_000, "pairs": 100, "bar_cells": 10_000_000, "side": "vectorbt", "median_s": 3.0,
     "peak_rss_mb": 900.0, "cells_per_s_per_thread": 1.7e6, "max_abs_diff_total_return": 2e-13,
     "shoal_speedup": 60.0, "same_orders": True},
    {"bars": 100_000, "pairs": 900, "bar_cells": 90_000_000, "side": "shoal", "median_s": 0.2,
     "peak_rss_mb": 168.0, "cells_per_s_per_thread": 2.2e8},
    {"bars": 100_000, "pairs": 900, "bar_cells": 90_000_000, "side": "vectorbt", "median_s": 25.1,
     "peak_rss_mb": 5373.0, "cells_per_s_per_thread": 1.8e6, "max_abs_diff_total_return": 1.3e-13,
     "shoal_speedup": 125.5, "same_orders": True},
    {"bars": 1_000_000, "pairs": 900, "bar_cells": 900_000_000, "side": "shoal", "median_s": 2.5,
     "peak_rss_mb": 450.0, "cells_per_s_per_thread": 1.8e8},
    {"bars": 1_000_000, "pairs": 900, "bar_cells": 900_000_000, "side": "vectorbt",
     "note": "not run: needs ~50 GiB (60 B per bar-cell), machine has 24 GiB"}], **ENV}


def _rate(target: int, p50_us: float, p99_us: float) -> dict:
    return {"case": f"rate {target:,}/s", "events_per_s": target * 0.99, "p50_us": p50_us, "p99_us": p99_us,
            "rss_peak_mb": 500.0, "target_per_s": target, "kept_up": True}


PAPER = {"bench": "paper", "strategy": "copy_trade",
         "rates": [_rate(10_000, 74.0, 1200.0), _rate(100_000, 81.0, 450.0),
                   {"case": "max (unpaced)", "events_per_s": 2.1e6, "p50_us": 3535.0, "p99_us": 7402.0}],
         "highest_sustained_per_s": 30_000,
         "memory": {"case": "3-day market, max speed", "rss_peak_mb": 200.0, "rss_after_warmup_mb": 190.0,
                    "rss_growth_after_warmup_mb": 4.5},
         "load": [], **ENV}
LIVE = {"results": [
    {"bench": "live_sign", "n": 20_000, "p50_ms": 0.14, "p99_ms": 6.5, "per_s": 6623.0},
    {"bench": "live_send", "n": 1000, "concurrency": 64, "per_s": 1500.0, "client": "TxSender (aiohttp)"},
    {"bench": "live_send_rpcclient", "n": 1000, "concurrency": 64, "per_s": 359.0, "client": "RpcClient (httpx)"}],
    "goals": {"sign_p99_ms": 5.0, "send_per_s": 1_000}, **ENV}
DASK = {"bench": "dask", "results": [
    {"mode": "local prange", "row_events_per_s": 4e6},
    {"mode": "dask", "workers": 2, "row_events_per_s": 3e6, "overhead_per_task_s": 0.04},
    {"mode": "dask", "workers": 4, "row_events_per_s": 3.5e6, "overhead_per_task_s": None}], **ENV}

ALL = {"bench_generate": GENERATE, "bench_lake": LAKE, "bench_ingest": INGEST, "bench_amm": AMM,
       "bench_kernel": KERNEL, "bench_strategies": STRATEGIES, "bench_vs_vectorbt": VS_VECTORBT,
       "bench_dask": DASK, "bench_paper": PAPER, "bench_live": LIVE}


def write(results: Path, docs: dict[str, dict]) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    for stem, doc in docs.items():
        (results / f"{stem}.json").write_text(json.dumps(doc))
    return results


def rows_of(tmp_path: Path, stem: str) -> dict[str, Row]:
    rows, _ = summarise(write(tmp_path / "results", {stem: ALL[stem]}))
    area = stem.removeprefix("bench_").replace("_", " ")
    return {r.metric: r for r in rows if r.area == area}


def test_lake_keeps_the_rows_with_a_goal_and_judges_floors_and_ceilings(tmp_path: Path) -> None:
    rows = rows_of(tmp_path, "bench_lake")
    assert list(rows) == ["lake write", "filtered read (1 day, 3 pools)", "registry sync 5,000 tokens"]
    assert (rows["lake write"].value, rows["lake write"].unit, rows["lake write"].met) == (1.6e6, "rows/s", False)
    assert rows["filtered read (1 day, 3 pools)"].met is True
    sync = rows["registry sync 5,000 tokens"]
    assert (sync.value, sync.goal, sync.at_most, sync.met) == (0.5, 0.2, True, False)


def test_generate_and_ingest_read_the_headline_throughput(tmp_path: Path) -> None:
    (gen,) = rows_of(tmp_path / "g", "bench_generate").values()
    assert (gen.value, gen.goal, gen.met) == (2e6, 1_000_000, True)
    assert "2.4 M events" in gen.metric
    (parse,) = rows_of(tmp_path / "i", "bench_ingest").values()
    assert (parse.value, parse.unit, parse.goal, parse.met) == (15_000.0, "tx/s", 20_000, False)


def test_amm_keeps_kernels_with_a_goal(tmp_path: Path) -> None:
    rows = rows_of(tmp_path, "bench_amm")
    assert list(rows) == ["cpmm_out_nb", "clmm_swap_in_nb (one tick)"]
    assert rows["cpmm_out_nb"].met is True
    assert rows["clmm_swap_in_nb (one tick)"].met is False


def test_kernel_takes_the_noop_goal_the_compile_times_and_the_largest_sweep(tmp_path: Path) -> None:
    rows = list(rows_of(tmp_path, "bench_kernel").values())
    noop = rows[0]
    assert (noop.value, noop.goal, noop.met) == (1.2e8, 100e6, True)
    assert rows[1].goal is None and rows[1].value == 3.2e7
    assert [r.value for r in rows if r.unit == "s"] == [64.0, 0.06]
    sweep, memory = rows[-2:]
    assert "10,000 rows" in sweep.metric and sweep.value == 4.6e6
    assert memory.value == 5.6 and memory.unit == "KB" and memory.met is None


def test_strategies_give_throughput_and_sweep_time_and_memory(tmp_path: Path) -> None:
    rows = list(rows_of(tmp_path, "bench_strategies").values())
    assert [(r.value, r.unit) for r in rows] == [(5.2e6, "events/s"), (123.0, "s"), (423.4, "MB")]
    assert all(r.metric.startswith("sniper") for r in rows)
    assert "1,000-row sweep" in rows[1].metric


def test_vs_vectorbt_compares_the_largest_shared_size_and_shows_the_largest_alone(tmp_path: Path) -> None:
    rows = rows_of(tmp_path, "bench_vs_vectorbt")
    head = {m.split(": ")[1]: r for m, r in rows.items() if "100 k bars x 900 pairs" in m}
    alone = {m.split(": ")[1]: r for m, r in rows.items() if "1 M bars x 900 pairs" in m}
    assert not any("x 100 pairs" in m for m in rows)  # the smaller shared size is left out
    assert (head["speed-up"].value, head["speed-up"].met) == (125.5, True)
    assert head["time"].peer == "vectorbt: 25.1 s"
    assert head["peak RSS"].peer == "vectorbt: 5,373 MB" and head["peak RSS"].met is True
    assert head["max total-return difference"].value == 1.3e-13
    assert set(alone) == {"time", "peak RSS", "bar-cells per thread"}
    assert alone["time"].peer.startswith("not run: needs ~50 GiB")
    assert alone["peak RSS"].met is False and alone["peak RSS"].peer is None
    assert alone["bar-cells per thread"].met is True


def test_paper_reads_latency_at_ten_thousand_per_second_in_ms(tmp_path: Path) -> None:
    rows = list(rows_of(tmp_path, "bench_paper").values())
    p50, p99, sustained, peak, growth = rows
    assert (p50.value, p50.met) == (0.074, None)
    assert (p99.value, p99.unit, p99.met) == (1.2, "ms", False)
    assert (sustained.value, sustained.met) == (30_000, False)
    assert (peak.value, peak.met) == (200.0, True)
    assert growth.value == 4.5 and "3-day market" in growth.metric


def test_live_reads_sign_p99_and_the_sender_rate(tmp_path: Path) -> None:
    sign, send = rows_of(tmp_path, "bench_live").values()
    assert (sign.value, sign.goal, sign.met) == (6.5, 5.0, False)
    assert (send.value, send.goal, send.met) == (1500.0, 1_000, True)
    assert "TxSender" in send.metric


def test_dask_rows_are_named_by_mode_and_workers(tmp_path: Path) -> None:
    rows = rows_of(tmp_path, "bench_dask")
    assert {m: r.value for m, r in rows.items()} == {
        "local prange": 4e6, "dask, 2 workers": 3e6, "dask, 2 workers: overhead per task": 0.04,
        "dask, 4 workers": 3.5e6}


def test_missing_results_are_not_run_and_unknown_files_have_no_extractor(tmp_path: Path) -> None:
    results = write(tmp_path / "results", {"bench_lake": LAKE, "bench_lake_idle": LAKE})
    rows, sources = summarise(results)
    status = {s.bench: s.status for s in sources}
    assert status["bench_lake"] == "ok"
    assert status["bench_lake_idle"] == "no extractor"
    assert status["bench_kernel"] == "not run"
    assert {r.metric for r in rows if r.value is None} >= {"no extractor (bench_lake_idle.json)",
                                                           "not run (bench_kernel.py)"}


def readme(tmp_path: Path) -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"# shoal\n\nintro\n\n## Benchmarks\n\n{START}\nold table\n{END}\n\n## Development\n\ntail\n")
    return path


def test_readme_rewrite_changes_only_the_block_and_is_idempotent(tmp_path: Path) -> None:
    # Arrange
    results = write(tmp_path / "results", {"bench_lake": LAKE, "bench_live": LIVE})
    path = readme(tmp_path)
    before = path.read_text()
    args = ["--results", str(results), "--readme", str(path)]
    # Act
    assert main(args) == 0
    once = path.read_text()
    assert main(args) == 0
    # Assert
    assert path.read_text() == once
    head, rest = once.split(START)
    block, tail = rest.split(END)
    assert head == before.split(START)[0] and tail == before.split(END)[1]
    assert "old table" not in block
    table = {cells[1]: cells for line in block.splitlines() if line.startswith("| ")
             for cells in [[c.strip() for c in line.strip("|").split("|")]]}
    assert table["lake write"] == ["lake", "lake write", "1.6 M", "rows/s", ">= 2 M", "no", ""]
    assert table["not run (bench_kernel.py)"][2:] == ["", "", "", "", ""]
    day = datetime.fromtimestamp((results / "bench_lake.json").stat().st_mtime, UTC).strftime("%Y-%m-%d")
    assert block.strip().endswith(f"Measured on: 2 CPUs, x86_64, Python 3.11.7, numba 0.68.1, commit aaa1111, {day}")


def test_readme_without_markers_fails_with_a_hint_and_is_left_alone(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    results = write(tmp_path / "results", {"bench_lake": LAKE})
    path = tmp_path / "README.md"
    path.write_text("# shoal\n\nno markers here\n")
    assert main(["--results", str(results), "--readme", str(path)]) == 1
    assert path.read_text() == "# shoal\n\nno markers here\n"
    err = capsys.readouterr().err
    assert START in err and "Hint: add the two marker lines" in err


def test_a_shape_the_extractor_does_not_match_is_an_error_and_keeps_the_readme(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    renamed = {**LIVE, "results": [{**r, "bench": r["bench"].upper()} for r in LIVE["results"]]}
    results = write(tmp_path / "results", {"bench_live": renamed, "bench_lake": LAKE})
    path = readme(tmp_path)
    before = path.read_text()
    assert main(["--results", str(results), "--readme", str(path)]) == 1
    assert path.read_text() == before
    doc = json.loads((results / "summary.json").read_text())
    status = {s["bench"]: s["status"] for s in doc["sources"]}
    assert status["bench_live"] == "error: KeyError 'live_sign'" and status["bench_lake"] == "ok"
    assert "bench_live.json: error" in capsys.readouterr().err


def test_summary_json_has_machine_facts_and_when_each_result_was_produced(tmp_path: Path) -> None:
    results = write(tmp_path / "results", ALL)
    os.utime(results / "bench_lake.json", (1_700_000_000, 1_700_000_000))
    assert main(["--results", str(results)]) == 0
    doc = json.loads((results / "summary.json").read_text())
    assert {"cpus", "machine", "python", "numba", "commit"} <= set(doc)
    sources = {s["bench"]: s for s in doc["sources"]}
    assert sources["bench_lake"]["produced_at"] == "2023-11-14T22:13:20+00:00"
    assert sources["bench_ingest"]["commit"] == "bbb2222" and sources["bench_ingest"]["cpus"] == 2
    assert all(sources[name]["status"] == "ok" for name in ALL)  # scripts with no result yet show as "not run"
    assert doc["measured_on"].startswith("Measured on: 2 CPUs, x86_64, Python 3.11.7, numba 0.68.1, commit ")
    measured = [r for r in doc["rows"] if not r["metric"].startswith("not run")]
    assert len(measured) == sum(1 for r in measured if r["value"] is not None)
