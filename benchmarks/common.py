"""Shared benchmark plumbing: timing, machine facts, a printed table and a JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn: Callable[[], object]) -> float:
    """Return the wall time of one call, in seconds."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def repeat(fn: Callable[[], object], n: int) -> dict[str, float]:
    """Time ``n`` calls; return best and median seconds."""
    times = [timed(fn) for _ in range(n)]
    return {"best_s": min(times), "median_s": statistics.median(times), "repeats": n}


def environment() -> dict:
    """Versions, CPUs and commit: what a reader needs to compare two results."""
    import numba
    import numpy
    import polars

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__,
            "polars": polars.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
            "numba_threads": numba.config.NUMBA_NUM_THREADS, "commit": commit}


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Print ``rows`` as an aligned text table of ``columns``."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def write_json(name: str, doc: dict, path: str | None = None) -> Path:
    out = Path(path) if path else RESULTS / f"{name}.json"
    doc = {**doc, "produced_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    return out


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)
