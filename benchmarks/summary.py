"""One table of headline numbers from every benchmark's JSON, optionally written into the README.

Each `bench_*.py` writes `benchmarks/results/<stem>.json` in a shape of its own; one extractor per
stem picks the few numbers a reader compares against the goals and, where the bench measured one,
a peer. A bench with no JSON yet is listed as "not run"; a JSON no extractor knows, as "no
extractor"; a JSON whose shape an extractor no longer matches, as an error (exit status 1, README
left alone), so a renamed field cannot silently drop a number.

    python benchmarks/summary.py                      # print the table, write results/summary.json
    python benchmarks/summary.py --readme README.md   # also rewrite the README's bench block
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, environment, write_json
from engine.errors import ShoalError

SCRIPTS = Path(__file__).resolve().parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

# goals stated in the issues where the bench's JSON holds none as a number
KERNEL_NOOP_GOAL_PER_S = 100e6
VS_VECTORBT_SPEEDUP_GOAL = 50.0
VS_VECTORBT_CELLS_GOAL_PER_S = 100e6
VS_VECTORBT_RSS_GOAL_MB = 400.0
PAPER_P99_GOAL_MS = 1.0
PAPER_LATENCY_RATE_PER_S = 10_000
PAPER_SUSTAINED_GOAL_PER_S = 100_000
PAPER_RSS_GOAL_MB = 256.0


@dataclass(frozen=True, slots=True)
class Row:
    """One headline number; `met` is None when there is no numeric goal (or nothing was measured)."""

    area: str
    metric: str
    value: float | None
    unit: str = ""
    goal: float | str | None = None
    at_most: bool = False  # the goal is a ceiling (latency, memory, time), not a floor
    peer: str | None = None
    met: bool | None = None


def headline(area: str, metric: str, value: float, unit: str, goal: float | str | None = None, *,
             at_most: bool = False, peer: str | None = None) -> Row:
    """Build a row; a numeric goal is a floor, or a ceiling with ``at_most`` (latency, memory, time)."""
    met = None
    if isinstance(goal, int | float):
        met = value <= goal if at_most else value >= goal
    return Row(area, metric, float(value), unit, goal, at_most, peer, met)


# ---------------------------------------------------------------- one extractor per bench file

def generate(doc: dict) -> Iterator[Row]:
    yield headline("generate", f"synthetic market, 1 core ({si(doc['n_events'])} events)",
                   doc["events_per_s_median"], "events/s", doc["goal_events_per_s"])


def lake(doc: dict) -> Iterator[Row]:
    for r in doc["results"]:  # the rows that carry a goal are the headline ones
        if "goal_rows_per_s" in r:
            yield headline("lake", r["metric"], r["rows_per_s"], "rows/s", r["goal_rows_per_s"])
        elif "goal_s" in r:
            yield headline("lake", r["metric"], r["median_s"], "s", r["goal_s"], at_most=True)


def ingest(doc: dict) -> Iterator[Row]:
    parse = first(doc["rows"], "bench", "parse_tx")  # the first: all fixtures, bytes in
    yield headline("ingest", "transaction parsing, 1 core", parse["median_per_s"], "tx/s", doc["goal_tx_per_s"])


def amm(doc: dict) -> Iterator[Row]:
    for r in doc["results"]:
        if r["kind"] == "kernel" and r["goal_per_s"] is not None:
            yield headline("amm", r["bench"], r["quotes_per_s"], "quotes/s", r["goal_per_s"])


def kernel(doc: dict) -> Iterator[Row]:
    by_name = {r["bench"]: r for r in doc["results"]}
    names = {"noop": "market replay, no strategy", "noop_all": "strategy called on every event",
             "scripted": "scripted strategy"}
    for name, label in names.items():
        r = by_name.get(f"throughput {name}")
        if r is not None:
            goal = KERNEL_NOOP_GOAL_PER_S if name == "noop" else None
            yield headline("kernel", f"{label}, {r['threads']} thread ({si(r['n_events'])} events)",
                           r["events_per_s"], "events/s", goal)
    for name, label in (("compile cold (fresh cache)", "compile, cold cache"),
                        ("compile warm (cache load)", "compile, cache load")):
        if name in by_name:
            yield headline("kernel", label, by_name[name]["compile_or_load_s"], "s")
    sweeps = [r for r in doc["results"] if r["bench"].startswith("sweep")]
    if sweeps:  # per-row memory means something only over many rows: take the largest sweep
        r = max(sweeps, key=lambda s: s["rows"])
        label = f"sweep {r['rows']:,} rows x {si(r['n_events'])} events, {r['threads']} threads"
        yield headline("kernel", label, r["row_events_per_s"], "row-events/s")
        yield headline("kernel", f"{label}: RSS growth per row", r["rss_growth_per_row_kb"], "KB",
                       "grows only by ledgers")


def strategies(doc: dict) -> Iterator[Row]:
    for r in doc["results"]:
        if r["bench"] == "throughput":
            yield headline("strategies", f"{r['strategy']}, {r['threads']} thread ({si(r['n_events'])} events)",
                           r["events_per_s"], "events/s")
        elif r["bench"] == "sweep":
            label = f"{r['strategy']}, {r['rows']:,}-row sweep x {si(r['n_events'])} events, {r['threads']} threads"
            yield headline("strategies", label, r["median_s"], "s")
            yield headline("strategies", f"{label}: peak RSS", r["peak_rss_mb"], "MB")


def vs_vectorbt(doc: dict) -> Iterator[Row]:
    sizes: dict[tuple[int, int], dict[str, dict]] = {}
    for r in doc["results"]:
        sizes.setdefault((r["bars"], r["pairs"]), {})[r["side"]] = r
    compared = [k for k, s in sizes.items() if "shoal_speedup" in s.get("vectorbt", {})]
    # the largest size both sides ran gives the head-to-head; the largest overall, shoal's reach
    heads = [max(compared, key=bar_cells)] if compared else []
    for key in dict.fromkeys([*heads, max(sizes, key=bar_cells)]):
        shoal, vbt = sizes[key]["shoal"], sizes[key].get("vectorbt", {})
        where = f"{si(key[0])} bars x {key[1]:,} pairs"
        ran = "median_s" in vbt
        if ran:
            yield headline("vs vectorbt", f"MA-cross sweep, {where}: speed-up", vbt["shoal_speedup"], "x",
                           VS_VECTORBT_SPEEDUP_GOAL)
        yield headline("vs vectorbt", f"MA-cross sweep, {where}: time", shoal["median_s"], "s",
                       peer=peer_text(vbt, "median_s", "s") or vbt.get("note"))
        yield headline("vs vectorbt", f"MA-cross sweep, {where}: peak RSS", shoal["peak_rss_mb"], "MB",
                       VS_VECTORBT_RSS_GOAL_MB, at_most=True, peer=peer_text(vbt, "peak_rss_mb", "MB"))
        yield headline("vs vectorbt", f"MA-cross sweep, {where}: bar-cells per thread",
                       shoal["cells_per_s_per_thread"], "cells/s", VS_VECTORBT_CELLS_GOAL_PER_S,
                       peer=peer_text(vbt, "cells_per_s_per_thread", "cells/s"))
        if ran:
            yield headline("vs vectorbt", f"MA-cross sweep, {where}: max total-return difference",
                           vbt["max_abs_diff_total_return"], "")


def bar_cells(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def paper(doc: dict) -> Iterator[Row]:
    strategy = doc["strategy"]
    at_rate = first(doc["rates"], "target_per_s", PAPER_LATENCY_RATE_PER_S)
    for q in ("p50", "p99"):
        goal = PAPER_P99_GOAL_MS if q == "p99" else None
        yield headline("paper", f"decision latency {q} at {PAPER_LATENCY_RATE_PER_S:,} events/s ({strategy})",
                       at_rate[f"{q}_us"] / 1000.0, "ms", goal, at_most=True)
    yield headline("paper", "highest sustained rate", doc["highest_sustained_per_s"], "events/s",
                   PAPER_SUSTAINED_GOAL_PER_S)
    mem = doc["memory"]
    yield headline("paper", f"{mem['case']}: peak RSS", mem["rss_peak_mb"], "MB", PAPER_RSS_GOAL_MB, at_most=True)
    yield headline("paper", f"{mem['case']}: RSS growth after warm-up", mem["rss_growth_after_warmup_mb"], "MB")


def live(doc: dict) -> Iterator[Row]:
    by_name = {r["bench"]: r for r in doc["results"]}
    goals = doc["goals"]
    sign, send = by_name["live_sign"], by_name["live_send"]
    yield headline("live", "intent to signed transaction p99", sign["p99_ms"], "ms", goals["sign_p99_ms"],
                   at_most=True)
    yield headline("live", f"sends through the loopback server ({send['client']}, {send['concurrency']} in flight)",
                   send["per_s"], "tx/s", goals["send_per_s"])


def dask(doc: dict) -> Iterator[Row]:
    for r in doc["results"]:  # shape still settling: name each row by what it carries
        mode = r.get("mode") or r.get("bench") or r.get("case") or "sweep"
        label = f"{mode}, {r['workers']} workers" if "workers" in r else str(mode)
        if "row_events_per_s" in r:
            yield headline("dask", label, r["row_events_per_s"], "row-events/s")
        if r.get("overhead_per_task_s") is not None:
            yield headline("dask", f"{label}: overhead per task", r["overhead_per_task_s"], "s")


EXTRACTORS: dict[str, Callable[[dict], Iterator[Row]]] = {
    "bench_generate": generate, "bench_lake": lake, "bench_ingest": ingest, "bench_amm": amm,
    "bench_kernel": kernel, "bench_strategies": strategies, "bench_vs_vectorbt": vs_vectorbt,
    "bench_dask": dask, "bench_paper": paper, "bench_live": live,
}


# ---------------------------------------------------------------- assembly

@dataclass(frozen=True, slots=True)
class Source:
    """One bench's result file: whether it could be read, when it was produced, on what."""

    bench: str
    status: str  # "ok", "not run", "no extractor" or "error: ..."
    file: str | None = None
    produced_at: str | None = None
    commit: str | None = None
    cpus: int | None = None
    machine: str | None = None
    python: str | None = None
    numba: str | None = None


def summarise(results: Path, scripts: Path = SCRIPTS) -> tuple[list[Row], list[Source]]:
    """Extract the headline rows of every bench script or result file; status rows for the rest."""
    files = {p.stem: p for p in sorted(results.glob("bench_*.json"))}
    stems = dict.fromkeys([*EXTRACTORS, *sorted(p.stem for p in scripts.glob("bench_*.py")), *files])
    rows, sources = [], []
    for stem in stems:
        path = files.get(stem)
        if path is None:
            source = Source(stem, "not run")
        elif stem not in EXTRACTORS:
            source = Source(stem, "no extractor", path.name)
        else:
            source, found = read(stem, path)
            rows += found
        sources.append(source)
        if source.status != "ok":
            rows.append(Row(area_of(stem), f"{source.status} ({source.file or f'{stem}.py'})", None))
    return rows, sources


def read(stem: str, path: Path) -> tuple[Source, list[Row]]:
    """Run the stem's extractor; a shape it does not match becomes an error status, not a crash."""
    try:
        doc = json.loads(path.read_text())
        rows = list(EXTRACTORS[stem](doc))
        produced = doc.get("produced_at") or datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        return Source(stem, f"error: {type(e).__name__} {e}", path.name), []
    return Source(stem, "ok", path.name, produced, doc.get("commit"), doc.get("cpus", doc.get("cpu_count")),
                  doc.get("machine"), doc.get("python"), doc.get("numba")), rows


def first(items: list[dict], field: str, value: object) -> dict:
    """The first item whose ``field`` equals ``value``; KeyError (a shape error) when there is none."""
    for item in items:
        if item.get(field) == value:
            return item
    msg = f"no row with {field}={value!r}"
    raise KeyError(msg)


def area_of(stem: str) -> str:
    return stem.removeprefix("bench_").replace("_", " ")


# ---------------------------------------------------------------- rendering

def si(v: float) -> str:
    """Three significant digits with k/M/G: 72392833 -> '72.4 M'."""
    v = float(f"{v:.3g}")
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def number(v: float, unit: str) -> str:
    """Rates and counts with k/M/G; times, sizes and ratios with three significant digits."""
    if unit.endswith("/s"):
        return si(v)
    if v == 0 or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def peer_text(peer: dict, field: str, unit: str) -> str | None:
    """'vectorbt: 36.0 s'; None when the peer did not measure ``field``."""
    return f"vectorbt: {number(peer[field], unit)} {unit}" if field in peer else None


def cells(row: Row) -> list[str]:
    """The row as table cells: area, metric, value, unit, goal, met, peer."""
    value = "" if row.value is None else number(row.value, row.unit)
    goal = row.goal
    if isinstance(goal, int | float):
        goal = f"{'<=' if row.at_most else '>='} {number(goal, row.unit)}"
    met = {True: "yes", False: "no", None: ""}[row.met]
    return [row.area, row.metric, value, row.unit, goal or "", met, row.peer or ""]


def markdown_table(rows: list[Row]) -> str:
    """A Markdown table padded to align, so the terminal and the README show the same text."""
    header = ["area", "metric", "value", "unit", "goal", "met", "peer"]
    body = [cells(r) for r in rows]
    widths = [max(len(h), 3, *(len(b[j]) for b in body)) for j, h in enumerate(header)]
    right = {2}  # numbers align on the right

    def line(values: list[str]) -> str:
        padded = (v.rjust(w) if j in right else v.ljust(w) for j, (v, w) in enumerate(zip(values, widths, strict=True)))
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + ":" if j in right else "-" * w for j, w in enumerate(widths)) + " |"
    return "\n".join([line(header), rule, *(line(b) for b in body)])


def measured_on(sources: list[Source]) -> str:
    """'Measured on: 2 CPUs, x86_64, Python 3.11.7, numba 0.68.1, commit abc1234 to def5678, 2026-11-26'.

    Facts come from the result files (the machine that ran each bench); where they differ, every
    value is listed; commits and dates run from the oldest result to the newest.
    """
    ok = sorted((s for s in sources if s.status == "ok"), key=lambda s: s.produced_at or "")
    if not ok:
        return "Measured on: no results yet"

    def distinct(field: str) -> str:
        return " / ".join(dict.fromkeys(str(v) for s in ok if (v := getattr(s, field)) is not None)) or "?"

    def span(values: list[str | None]) -> str:
        values = list(dict.fromkeys(v for v in values if v))
        if not values:
            return "?"
        return values[0] if len(values) == 1 else f"{values[0]} to {values[-1]}"

    return (f"Measured on: {distinct('cpus')} CPUs, {distinct('machine')}, Python {distinct('python')}, "
            f"numba {distinct('numba')}, commit {span([s.commit for s in ok])}, "
            f"{span([(s.produced_at or '')[:10] for s in ok])}")


def readme_block(rows: list[Row], sources: list[Source]) -> str:
    return f"{markdown_table(rows)}\n\n{measured_on(sources)}"


def replace_block(text: str, block: str, name: str) -> str:
    """Replace what lies between the bench markers, leaving every other byte of ``text`` as it was."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        msg = (f"{name} needs exactly one {START} line followed by one {END} line, found {text.count(START)} "
               f"start and {text.count(END)} end markers; Hint: add the two marker lines where the benchmark "
               "table should go")
        raise ShoalError(msg)
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{block}\n{END}{tail}"


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="where the bench_*.json files are")
    ap.add_argument("--json", type=Path, default=None, help="summary file (default RESULTS/summary.json)")
    ap.add_argument("--readme", type=Path, default=None, help="rewrite the block between the bench markers")
    args = ap.parse_args(argv)
    rows, sources = summarise(args.results)
    print(markdown_table(rows))
    print(f"\n{measured_on(sources)}")
    write_json("summary", {"bench": "summary", "rows": [asdict(r) for r in rows],
                           "sources": [asdict(s) for s in sources], "measured_on": measured_on(sources),
                           **environment()}, str(args.json or args.results / "summary.json"))
    errors = [s for s in sources if s.status.startswith("error")]
    for s in errors:
        print(f"{s.file}: {s.status}; fix its extractor in benchmarks/summary.py", file=sys.stderr)
    if args.readme is not None:
        if errors:
            print(f"{args.readme} left as it was: {len(errors)} result file(s) could not be read", file=sys.stderr)
        else:
            try:
                text = args.readme.read_text()
                new = replace_block(text, readme_block(rows, sources), args.readme.name)
            except (OSError, ShoalError) as e:
                print(f"summary: {e}", file=sys.stderr)
                return 1
            if new != text:
                args.readme.write_text(new)
            print(f"{'updated' if new != text else 'unchanged'}: {args.readme}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
