"""Parameter sets from the command line: `k=v` pairs, `k=a:b:step` ranges, and grid files."""

from __future__ import annotations

import itertools
import math
import tomllib
from pathlib import Path

import numpy as np

from engine.errors import ConfigError
from engine.sim import Strategy


def parse_value(text: str) -> float | int | str:
    """Read a number (int if it has no point or exponent), else keep the text."""
    t = text.strip().replace("_", "")
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return text.strip()


def parse_range(text: str) -> list[float | int]:
    """``a:b:step`` -> a, a+step, ... up to b, including b when it lies on the grid."""
    parts = text.split(":")
    if len(parts) != 3:
        msg = f"a range is a:b:step, was {text!r}"
        raise ConfigError(msg)
    a, b, step = (parse_value(p) for p in parts)
    if not all(isinstance(v, int | float) for v in (a, b, step)) or step <= 0 or b < a:
        msg = f"a range needs numbers with step > 0 and b >= a, was {text!r}"
        raise ConfigError(msg)
    n = math.floor((b - a) / step + 1e-9) + 1
    values = [a + k * step for k in range(n)]
    if all(isinstance(v, int) for v in (a, b, step)):
        return [int(v) for v in values]
    return [round(v, 12) for v in values]


def parse_pairs(pairs: list[str] | None, *, ranges: bool) -> dict[str, list]:
    """``["k=v", "k2=a:b:s", "k3=1,2,5"]`` -> ``{k: [v], k2: [...], k3: [1, 2, 5]}``."""
    out: dict[str, list] = {}
    for pair in pairs or []:
        if "=" not in pair:
            msg = f"parameters are name=value, was {pair!r}"
            raise ConfigError(msg)
        key, value = (s.strip() for s in pair.split("=", 1))
        if ranges and value.count(":") == 2:
            out[key] = parse_range(value)
        elif "," in value:  # a sweep axis, or one list-valued parameter (copy_trade's leaders)
            items = [parse_value(v) for v in value.split(",")]
            out[key] = items if ranges else [items]
        else:
            out[key] = [parse_value(value)]
    return out


def read_grid(path: Path) -> dict[str, list]:
    """A TOML grid: ``[grid]`` with ``name = [values]``, ``name = "a:b:step"`` or ``name = value``."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        msg = f"cannot read grid file {str(path)!r}: {e}"
        raise ConfigError(msg) from e
    table = doc.get("grid", doc)
    out: dict[str, list] = {}
    for key, value in table.items():
        if isinstance(value, list):
            out[key] = value
        elif isinstance(value, str) and value.count(":") == 2:
            out[key] = parse_range(value)
        else:
            out[key] = [value]
    return out


def build_params(strategy: Strategy, grid: dict[str, list]) -> np.ndarray:
    """The product of ``grid`` as a params array of ``strategy`` (defaults elsewhere)."""
    keys = list(grid)
    rows = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]
    return strategy.params(rows or [{}])
