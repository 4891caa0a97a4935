"""Channel breakout (Donchian) on OHLCV bars, long only.

Enter when a bar closes above the highest high of the ``window`` bars before it; exit when a
bar closes below the lowest low of the ``exit_window`` bars before it, or at the close of
the first bar whose close is ``stop_loss`` (a fraction, NaN: off) below the entry fill. No
signal until the channel has its bars. Orders are all-in and fill like `ma_cross`'s: at the
signal bar's close (or the next open with ``fill_next_open=1``), ``fees`` a fraction of
notional on both sides, starting cash ``init_cash``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.layout import BAR_CLOSE, BAR_HIGH, BAR_LOW, EventKind, Side
from engine.sim.api_nb import cash_nb, instrument_holding_nb, submit_bar_nb
from engine.sim.strategy import Strategy

PARAMS_DT = np.dtype([
    ("window", np.int64), ("exit_window", np.int64), ("fees", np.float64), ("init_cash", np.float64),
    ("stop_loss", np.float64), ("fill_next_open", np.int8), ("instrument", np.int32),
], align=True)

DEFAULTS = {"window": 20, "exit_window": 10, "fees": 0.0, "init_cash": 100.0, "stop_loss": math.nan,
            "fill_next_open": 0, "instrument": 0}

SI_T = 0
SF_ENTRY = 0  # close of the entry bar (NaN: flat)
SF_RING = 1  # highs, then lows, of the last n bars


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    """Compare the close with the channel of the bars before it, then add this bar to the channel."""
    inst = p["instrument"]
    if tp.pool_id[i] != inst:
        return None
    sf, si = ctx.sf, ctx.si
    n = (sf.shape[0] - SF_RING) // 2
    t = si[SI_T]
    close = tp.vals[i, BAR_CLOSE]
    w, xw = p["window"], p["exit_window"]
    hi = -math.inf
    for k in range(1, w + 1):
        hi = max(hi, sf[SF_RING + (t - k) % n]) if t - k >= 0 else math.nan
    lo = math.inf
    for k in range(1, xw + 1):
        lo = min(lo, sf[SF_RING + n + (t - k) % n]) if t - k >= 0 else math.nan
    sf[SF_RING + t % n] = tp.vals[i, BAR_HIGH]
    sf[SF_RING + n + t % n] = tp.vals[i, BAR_LOW]
    si[SI_T] = t + 1
    nxt = p["fill_next_open"] == 1
    if math.isnan(sf[SF_ENTRY]):
        if close > hi:  # False while the channel is NaN
            cash = cash_nb(ctx)
            if cash > 0.0 and submit_bar_nb(tp, i, ctx, inst, Side.BUY, cash, p["fees"], nxt, 1) >= 0:
                sf[SF_ENTRY] = close
    else:
        stop = not math.isnan(p["stop_loss"]) and close <= sf[SF_ENTRY] * (1.0 - p["stop_loss"])
        if close < lo or stop:
            units = instrument_holding_nb(ctx, inst)
            if units > 0.0:
                submit_bar_nb(tp, i, ctx, inst, Side.SELL, units, p["fees"], nxt, 4 if stop else 2)
            sf[SF_ENTRY] = math.nan
    return None


def state_size(params: np.ndarray, market) -> tuple[int, int]:
    n = int(max(params["window"].max(), params["exit_window"].max()))
    return SF_RING + 2 * n, 1


def init_state(params: np.ndarray, market, sf: np.ndarray, si: np.ndarray) -> None:
    bad = np.flatnonzero((params["window"] < 1) | (params["exit_window"] < 1))
    if bad.size:
        from engine.errors import ConfigError

        msg = f"breakout needs window >= 1 and exit_window >= 1 (row {int(bad[0])}); fix the grid"
        raise ConfigError(msg)
    sf[:, SF_ENTRY] = np.nan


STRATEGY = Strategy(name="breakout", module=__name__, params_dtype=PARAMS_DT, defaults=DEFAULTS,
                    state_size=state_size, init_state=init_state, events=(EventKind.BAR,))
