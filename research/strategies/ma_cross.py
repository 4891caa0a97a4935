"""Moving-average crossover on OHLCV bars, long only, equal to vectorbt's ``from_signals``.

Semantics (the defaults reproduce vectorbt 1.x bar by bar)
------------------------------------------------------------
- Averages: simple moving averages of the close over ``fast`` < ``slow`` bars, computed as
  vectorbt computes them: a running sum ``cs`` of the closes from the first bar (NaN closes
  skipped) and ``MA_t = (cs_t - cs_{t-w}) / w`` (``cs_t / w`` at ``t = w - 1``). An average is
  NaN until its window is full (the warm-up) and while a NaN close is inside its window.
- Signals: vectorbt's ``MA.ma_crossed_above`` / ``ma_crossed_below`` with ``wait=0``. An entry
  at bar t needs fast > slow at t, fast not above slow at t - 1, and a bar since the last NaN
  where fast was strictly below slow. Two surprises of vectorbt, matched on purpose: a bar
  where the averages are *equal* re-arms the signal without breaking it (above, equal, above
  gives two entry signals; the second is ignored while long), and a cross that happens in the
  first bar after the warm-up does not count (no "below" bar has been seen since the NaNs).
  Exits are the mirror image (slow crossed above fast).
- Orders: long only; an entry while long and an exit while flat are ignored. An entry buys
  with all available cash, fractional units allowed: ``units = cash / (price (1 + fees))``;
  an exit sells every unit: ``cash += units price (1 - fees)``. ``fees`` is a fraction of
  notional, paid out of cash on both sides. Orders fill at the signal bar's close, or with
  ``fill_next_open=1`` at the next bar's open (not vectorbt's default).
- Starting cash is ``init_cash`` (default 100), in the bar's quote currency.

Run it on a BAR tape (`research.strategies._bars.bar_tape`) with ``Market.for_bars(1)`` and
``SimConfig(init_cash=100, mark_every_slots=<large>)`` for speed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from engine.layout import BAR_CLOSE, EventKind, Side
from engine.sim.api_nb import cash_nb, instrument_holding_nb, submit_bar_nb
from engine.sim.strategy import Strategy

PARAMS_DT = np.dtype([
    ("fast", np.int64), ("slow", np.int64), ("fees", np.float64), ("init_cash", np.float64),
    ("fill_next_open", np.int8), ("instrument", np.int32),
], align=True)

DEFAULTS = {"fast": 10, "slow": 30, "fees": 0.0, "init_cash": 100.0, "fill_next_open": 0, "instrument": 0}

# ctx.si layout
SI_T = 0  # bars seen of the instrument
SI_LAST_NAN = 1  # index of the last NaN close (-1: none)
SI_UP_BELOW = 2  # crossed-above machine (fast over slow): a "below" bar seen since the last NaN
SI_UP_AGO = 3  # bars since the cross (-1: not above)
SI_DN_BELOW = 4  # the mirror machine (slow over fast)
SI_DN_AGO = 5
N_SI = 6
# ctx.sf layout: [running sum, ring of running sums (slow + 1 entries)]
SF_CS = 0
SF_RING = 1


@njit(cache=True, inline="always")
def sma_nb(sf, ring_n, t, last_nan, cs, w):
    """Simple moving average over ``w`` bars ending at bar ``t``, vectorbt's arithmetic (NaN while warming up)."""
    if t - last_nan < w:
        return math.nan
    if t == w - 1:
        return cs / w
    return (cs - sf[SF_RING + (t - w) % ring_n]) / w


@njit(cache=True, inline="always")
def cross_step_nb(si, k_below, k_ago, a, b):
    """One step of vectorbt's ``crossed_above_1d_nb`` (wait=0) for ``a`` over ``b``; return the signal."""
    if math.isnan(a) or math.isnan(b):
        si[k_ago] = -1
        si[k_below] = 0
        return False
    if a > b:
        if si[k_below] == 1:
            si[k_ago] += 1
            return si[k_ago] == 0
        return False
    si[k_ago] = -1
    if a < b:
        si[k_below] = 1
    return False


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    """Update the averages with bar ``i``; buy all-in on a cross above, sell all on a cross below."""
    inst = p["instrument"]
    if tp.pool_id[i] != inst:
        return None
    sf, si = ctx.sf, ctx.si
    close = tp.vals[i, BAR_CLOSE]
    t = si[SI_T]
    si[SI_T] = t + 1
    if math.isnan(close):
        si[SI_LAST_NAN] = t
    else:
        sf[SF_CS] = sf[SF_CS] + close
    cs = sf[SF_CS]
    ring_n = sf.shape[0] - SF_RING
    sf[SF_RING + t % ring_n] = cs
    last_nan = si[SI_LAST_NAN]
    fast = sma_nb(sf, ring_n, t, last_nan, cs, p["fast"])
    slow = sma_nb(sf, ring_n, t, last_nan, cs, p["slow"])
    up = cross_step_nb(si, SI_UP_BELOW, SI_UP_AGO, fast, slow)
    down = cross_step_nb(si, SI_DN_BELOW, SI_DN_AGO, slow, fast)
    if up:
        if instrument_holding_nb(ctx, inst) <= 0.0:
            cash = cash_nb(ctx)
            if cash > 0.0:
                submit_bar_nb(tp, i, ctx, inst, Side.BUY, cash, p["fees"], p["fill_next_open"] == 1, 1)
    elif down:
        units = instrument_holding_nb(ctx, inst)
        if units > 0.0:
            submit_bar_nb(tp, i, ctx, inst, Side.SELL, units, p["fees"], p["fill_next_open"] == 1, 2)
    return None


def state_size(params: np.ndarray, market) -> tuple[int, int]:
    """A running sum plus a ring of ``max(slow) + 1`` running sums per row; the signal machines."""
    return SF_RING + int(params["slow"].max()) + 1, N_SI


def init_state(params: np.ndarray, market, sf: np.ndarray, si: np.ndarray) -> None:
    """Check the windows; start every row with no NaN seen and both machines disarmed."""
    bad = np.flatnonzero((params["fast"] < 1) | (params["slow"] <= params["fast"]))
    if bad.size:
        from engine.errors import ConfigError

        r = int(bad[0])
        msg = (f"ma_cross needs 1 <= fast < slow, was fast={int(params['fast'][r])}, "
               f"slow={int(params['slow'][r])} in row {r} ({bad.size} bad rows); drop those pairs from the grid")
        raise ConfigError(msg)
    si[:, SI_LAST_NAN] = -1
    si[:, SI_UP_AGO] = -1
    si[:, SI_DN_AGO] = -1


STRATEGY = Strategy(name="ma_cross", module=__name__, params_dtype=PARAMS_DT, defaults=DEFAULTS,
                    state_size=state_size, init_state=init_state, events=(EventKind.BAR,))


# ---------------------------------------------------------------------------------------------
# The fused sweep: the same rules over a close array for many (fast, slow) pairs at once.


@njit(cache=True)
def running_sums_nb(close):
    """Return vectorbt's running sum of the closes (NaN skipped) and the index of the last NaN at each bar."""
    n = close.shape[0]
    cs = np.empty(n, dtype=np.float64)
    last_nan = np.empty(n, dtype=np.int64)
    s = 0.0
    ln = -1
    for t in range(n):
        if math.isnan(close[t]):
            ln = t
        else:
            s = s + close[t]
        cs[t] = s
        last_nan[t] = ln
    return cs, last_nan


@njit(cache=True, inline="always")
def _sma_at_nb(cs, last_nan, t, w):
    if t - last_nan[t] < w:
        return math.nan
    if t == w - 1:
        return cs[t] / w
    return (cs[t] - cs[t - w]) / w


@njit(cache=True)
def ma_cross_pair_nb(open_, close, cs, last_nan, fast, slow, fees, init_cash, fill_next_open, out):
    """Run one (fast, slow) pair over the bars; write final equity, total return and order count into ``out``.

    The arithmetic is the engine's (`engine.sim.orders_nb._fill_at_price_nb`): a buy turns
    ``cash`` into ``cash / (price (1 + fees))`` units, a sell ``units`` into
    ``units price - units price fees`` cash.
    """
    up_below, up_ago, dn_below, dn_ago = False, -1, False, -1  # the two signal machines, in registers
    cash = init_cash
    units = 0.0
    n_orders = 0
    pending = 0  # with fill_next_open: 1 buy, 2 sell at the next bar's open
    for t in range(close.shape[0]):
        if pending != 0:
            price = open_[t]
            if pending == 1:
                units = cash / (price * (1.0 + fees))
                cash = cash - cash
            else:
                gross = units * price
                cash += gross - gross * fees
                units = 0.0
            pending = 0
        f = _sma_at_nb(cs, last_nan, t, fast)
        s = _sma_at_nb(cs, last_nan, t, slow)
        up = False
        down = False
        if math.isnan(f) or math.isnan(s):
            up_below, up_ago, dn_below, dn_ago = False, -1, False, -1
        elif f > s:
            dn_ago = -1
            dn_below = True
            if up_below:
                up_ago += 1
                up = up_ago == 0
        elif f < s:
            up_ago = -1
            up_below = True
            if dn_below:
                dn_ago += 1
                down = dn_ago == 0
        else:
            up_ago = -1
            dn_ago = -1
        if up and units <= 0.0 and cash > 0.0:
            n_orders += 1
            if fill_next_open:
                pending = 1
            else:
                units = cash / (close[t] * (1.0 + fees))
                cash = cash - cash
        elif down and units > 0.0:
            n_orders += 1
            if fill_next_open:
                pending = 2
            else:
                gross = units * close[t]
                cash += gross - gross * fees
                units = 0.0
    eq = cash + units * close[close.shape[0] - 1] if units > 0.0 else cash
    out[0] = eq
    out[1] = eq / init_cash - 1.0
    out[2] = n_orders


@njit(cache=True, parallel=True)
def ma_cross_sweep_nb(open_, close, fast, slow, fees, init_cash, fill_next_open):
    """Run every (fast[k], slow[k]) pair; return a ``(n_pairs, 3)`` table (final equity, total return, orders)."""
    cs, last_nan = running_sums_nb(close)
    n = fast.shape[0]
    out = np.empty((n, 3), dtype=np.float64)
    for k in prange(n):
        ma_cross_pair_nb(open_, close, cs, last_nan, fast[k], slow[k], fees[k], init_cash[k], fill_next_open[k],
                         out[k])
    return out


def sweep(close: np.ndarray, fast, slow, *, fees=0.0, init_cash=100.0, fill_next_open: bool = False,
          open_: np.ndarray | None = None):
    """Run ``ma_cross`` for every (fast, slow) pair over ``close``; return one row per pair.

    The same rules and arithmetic as the engine run of `STRATEGY` (a test holds them equal),
    fused into one kernel: memory grows with bars + pairs, never bars x pairs.

    Parameters
    ----------
    close : ndarray
        Closes, one per bar (NaN allowed: averages over it are NaN).
    fast, slow : array-like of int
        Window pairs, one element per row (``fast < slow``); scalars broadcast.
    fees : float or array-like
        Fee per side, a fraction of notional.
    init_cash : float or array-like
        Starting cash per row.
    fill_next_open : bool
        Fill at the next bar's open (``open_`` needed) instead of the signal bar's close.

    Returns
    -------
    polars.DataFrame
        ``fast``, ``slow``, ``fees``, ``init_cash``, ``final_equity``, ``total_return``, ``n_orders``.
    """
    import polars as pl

    from engine.errors import ConfigError

    close = np.ascontiguousarray(close, dtype=np.float64)
    fast_a, slow_a, fees_a, cash_a = np.broadcast_arrays(np.asarray(fast, dtype=np.int64),
                                                         np.asarray(slow, dtype=np.int64),
                                                         np.asarray(fees, dtype=np.float64),
                                                         np.asarray(init_cash, dtype=np.float64))
    fast_a, slow_a, fees_a, cash_a = (np.ascontiguousarray(np.atleast_1d(a)) for a in (fast_a, slow_a, fees_a, cash_a))
    bad = np.flatnonzero((fast_a < 1) | (slow_a <= fast_a))
    if bad.size:
        r = int(bad[0])
        msg = f"ma_cross needs 1 <= fast < slow, was fast={fast_a[r]}, slow={slow_a[r]} (pair {r})"
        raise ConfigError(msg)
    if fill_next_open and open_ is None:
        msg = "fill_next_open=True needs the bar opens; pass open_="
        raise ConfigError(msg)
    opens = close if open_ is None else np.ascontiguousarray(open_, dtype=np.float64)
    nxt = np.full(fast_a.shape[0], 1 if fill_next_open else 0, dtype=np.int8)
    out = ma_cross_sweep_nb(opens, close, fast_a, slow_a, fees_a, cash_a, nxt)
    return pl.DataFrame({"fast": fast_a, "slow": slow_a, "fees": fees_a, "init_cash": cash_a,
                         "final_equity": out[:, 0], "total_return": out[:, 1],
                         "n_orders": out[:, 2].astype(np.int64)})
