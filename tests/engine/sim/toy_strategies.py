"""Small strategies whose outcome a test can compute by hand (real callbacks, real kernel)."""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.sim.strategy import Strategy

NOOP_DT = np.dtype([("unused", np.float64)])


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    """Do nothing (the market state is still updated by the engine)."""
    return None


NOOP = Strategy(name="noop", module=__name__, params_dtype=NOOP_DT, defaults={"unused": 0.0}, events=())
NOOP_ALL = Strategy(name="noop_all", module=__name__, params_dtype=NOOP_DT, defaults={"unused": 0.0})


SCRIPT_DT = np.dtype([
    ("at_event", np.int64), ("n_hops", np.int64), ("pool0", np.int32), ("side0", np.int8), ("pool1", np.int32),
    ("side1", np.int8), ("pool2", np.int32), ("side2", np.int8), ("amount_in_raw", np.float64),
    ("min_out_raw", np.float64), ("cu_price", np.float64), ("tip", np.float64), ("expected_profit", np.float64),
    ("every", np.int64), ("sell_at", np.int64),
])


BARS_DT = np.dtype([("buy_at", np.int64), ("sell_at", np.int64), ("fee", np.float64), ("next_open", np.bool_),
                    ("stop_frac", np.float64), ("take_frac", np.float64)])
