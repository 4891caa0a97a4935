"""A bar strategy that buys with all its cash at one bar, optionally sets exit levels, sells at another."""

from __future__ import annotations

import math

from numba import njit

from engine.layout import BAR_CLOSE, EventKind, Side
from engine.sim.api_nb import cash_nb, instrument_holding_nb, set_exit_levels_nb, submit_bar_nb
from engine.sim.market_nb import asset_of_instrument_nb
from engine.sim.strategy import Strategy
from tests.engine.sim.toy_strategies import BARS_DT


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    if i == p["buy_at"]:
        submit_bar_nb(tp, i, ctx, 0, Side.BUY, cash_nb(ctx), p["fee"], p["next_open"], 1)
    elif i == p["sell_at"]:
        held = instrument_holding_nb(ctx, 0)
        if held > 0.0:
            submit_bar_nb(tp, i, ctx, 0, Side.SELL, held, p["fee"], p["next_open"], 2)


@njit(cache=True)
def on_fill_nb(tp, i, p, ctx, k):
    f = ctx.fills[k]
    if f["tag"] == 1 and not math.isnan(p["stop_frac"]):  # levels priced from the entry bar's close
        entry = tp.vals[i, BAR_CLOSE]
        set_exit_levels_nb(ctx, asset_of_instrument_nb(ctx.mk, 0), entry * (1.0 - p["stop_frac"]),
                           entry * (1.0 + p["take_frac"]), p["fee"])


BAR_SCRIPT = Strategy(name="bar_script", module=__name__, params_dtype=BARS_DT, has_on_fill=True,
                      events=(EventKind.BAR,),
                      defaults={"buy_at": 0, "sell_at": -1, "fee": 0.0, "next_open": False, "stop_frac": math.nan,
                                "take_frac": math.nan})
