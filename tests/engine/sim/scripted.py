"""A strategy that submits one given route at a given event (and every `every` events after),
and sells all of pool0's base token at event `sell_at`."""

from __future__ import annotations

from numba import njit

from engine.layout import Side
from engine.sim.api_nb import holding_nb, submit_route_nb, submit_swap_nb
from engine.sim.strategy import Strategy
from tests.engine.sim.toy_strategies import SCRIPT_DT


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    n = ctx.si[0]  # events seen by this run (not the index in this tape: a stream has many tapes)
    ctx.si[0] = n + 1
    due = n == p["at_event"] or (p["every"] > 0 and n > p["at_event"] and (n - p["at_event"]) % p["every"] == 0)
    if due:
        submit_route_nb(tp, i, ctx, p["n_hops"], (p["pool0"], p["pool1"], p["pool2"]),
                        (p["side0"], p["side1"], p["side2"]), p["amount_in_raw"], p["min_out_raw"], p["cu_price"],
                        p["tip"], p["expected_profit"], n)
    if n == p["sell_at"]:  # sell everything held of pool0's base token
        held = holding_nb(ctx, ctx.mk.pool_base[p["pool0"]])
        if held > 0.0:
            submit_swap_nb(tp, i, ctx, p["pool0"], Side.SELL, held, 0.0, p["cu_price"], 0.0, -1)


SCRIPTED = Strategy(name="scripted", module=__name__, params_dtype=SCRIPT_DT,
                    defaults={"at_event": -1, "n_hops": 1, "pool0": 0, "side0": 0, "pool1": -1, "side1": -1,
                              "pool2": -1, "side2": -1, "amount_in_raw": 0.0, "min_out_raw": 0.0, "cu_price": 0.0,
                              "tip": 0.0, "expected_profit": 0.0, "every": 0,
                              "sell_at": -1},
                    state_size=lambda params, market: (0, 1))
