"""The simulation kernel: one event loop for backtests, sweeps, paper and live trading.

Names are imported lazily, so kernel modules (``engine.sim.rng`` ...) stay importable
without polars or pyarrow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SimConfig": "engine.sim.config", "Market": "engine.sim.market", "Strategy": "engine.sim.strategy",
    "Capacity": "engine.sim.runner", "CapacityError": "engine.sim.runner", "RunResult": "engine.sim.runner",
    "SimState": "engine.sim.runner", "run": "engine.sim.runner", "stream": "engine.sim.runner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    msg = f"module 'engine.sim' has no attribute {name!r}"
    raise AttributeError(msg)
