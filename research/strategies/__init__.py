"""The strategies of the research layer, by name: a params dtype plus @njit callbacks each.

``STRATEGIES`` maps a name (as on the command line) to its `engine.sim.Strategy`; `get`
looks one up and lists the valid names when it is not there.
"""

from __future__ import annotations

from engine.errors import ConfigError
from engine.sim.strategy import Strategy
from research.strategies.arbitrage import STRATEGY as ARBITRAGE
from research.strategies.breakout import STRATEGY as BREAKOUT
from research.strategies.copy_trade import STRATEGY as COPY_TRADE
from research.strategies.ma_cross import STRATEGY as MA_CROSS
from research.strategies.sniper import STRATEGY as SNIPER

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (ARBITRAGE, COPY_TRADE, SNIPER, MA_CROSS, BREAKOUT)}

__all__ = ["STRATEGIES", "get"]


def get(name: str) -> Strategy:
    """Return the strategy registered as ``name``."""
    try:
        return STRATEGIES[name]
    except KeyError:
        msg = f"unknown strategy {name!r}; valid names are {sorted(STRATEGIES)}"
        raise ConfigError(msg) from None
