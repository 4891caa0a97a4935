"""Copy-trade: mirror the swaps and outcome trades of a set of leader wallets, after a delay.

Leaders are wallet ids in the params row (``leaders``, up to 8, -1 unused). A leader's buy on
a pool quoted in cash (or of an outcome of a prediction market) is queued and mirrored at the
first event ``delay_slots`` later, against the market as it is then; a leader's sell is
mirrored the same way when ``exit_on_leader_sell`` is set (sell everything of that token).

Size (``size_mode``): 0 fixed ``size_lamports``; 1 proportional, ``size_ratio`` times the
leader's input; 2 risk-based: ``units = risk_frac * cash / max(price * stop_loss, price *
0.001)``, i.e. a notional of ``risk_frac * cash / max(stop_loss, 0.001)``. Every size is capped
at ``max_position_lamports`` and at the room left under ``max_token_exposure_lamports`` for
the token; a buy is skipped when ``max_positions`` tokens are already held, or when its
expected slippage (pool fee plus price impact against the mid price) exceeds
``max_slippage_bps``.

Exits, checked on every state change of a held token's pool: take-profit, stop-loss and
trailing stop (fractions of the entry price, NaN: off; the entry price is the holding's cost
per unit, fees included), maximum hold (``max_hold_slots``, 0: off), or the leader selling.
Outcome positions exit when the leader sells them, else at resolution (0 or 1 per share).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.layout import OUTCOME_PRICE, OUTCOME_SHARES, SWAP_AMOUNT_IN, EventKind, Side
from engine.sim.api_nb import (
    cash_nb,
    holding_nb,
    mark_nb,
    mid_price_nb,
    quote_pool_nb,
    submit_outcome_nb,
    submit_swap_nb,
)
from engine.sim.market_nb import asset_of_outcome_nb
from engine.sim.records import ACC_N_HELD
from engine.sim.strategy import Strategy
from research.strategies._exits import N_EXIT_SLOTS, SI_EXIT_SENT, check_exits_nb, sell_all_nb

MAX_LEADERS = 8
QUEUE = 16  # mirrors waiting for their delay
Q_W = 6  # per queued mirror: due slot, kind (0 swap, 1 outcome), pool or market, side, leader amount, outcome

PARAMS_DT = np.dtype([
    ("leaders", np.int32, (MAX_LEADERS,)), ("delay_slots", np.int64), ("size_mode", np.int64),
    ("size_lamports", np.float64), ("size_ratio", np.float64), ("risk_frac", np.float64),
    ("max_position_lamports", np.float64), ("max_slippage_bps", np.float64), ("take_profit", np.float64),
    ("stop_loss", np.float64), ("trailing_stop", np.float64), ("max_hold_slots", np.int64),
    ("exit_on_leader_sell", np.int8), ("max_positions", np.int64), ("max_token_exposure_lamports", np.float64),
    ("cu_price_micro_lamports", np.float64), ("tip_lamports", np.float64), ("outcome_fee", np.float64),
], align=True)

DEFAULTS = {"leaders": -1, "delay_slots": 0, "size_mode": 0, "size_lamports": 1e9, "size_ratio": 0.1,
            "risk_frac": 0.01, "max_position_lamports": 5e9, "max_slippage_bps": 200.0, "take_profit": math.nan,
            "stop_loss": math.nan, "trailing_stop": math.nan, "max_hold_slots": 0, "exit_on_leader_sell": 1,
            "max_positions": 5, "max_token_exposure_lamports": 10e9, "cu_price_micro_lamports": 1_000.0,
            "tip_lamports": 0.0, "outcome_fee": 0.0}

SIZE_FIXED, SIZE_PROPORTIONAL, SIZE_RISK = 0, 1, 2
TAG_BUY, TAG_LEADER_EXIT = 1, 2
# ctx.si: [queued count, then per holding slot: the slot an exit was sent for it (-1: none)]
SI_N_QUEUED = 0


@njit(cache=True)
def _is_leader(p, wallet):
    for k in range(MAX_LEADERS):
        if p["leaders"][k] == wallet and wallet >= 0:
            return True
    return False


@njit(cache=True)
def position_size_nb(p, cash, price, leader_amount):
    """Lamports to spend on a mirror buy, before exposure caps (see the module docstring)."""
    mode = p["size_mode"]
    if mode == SIZE_FIXED:
        size = p["size_lamports"]
    elif mode == SIZE_PROPORTIONAL:
        size = p["size_ratio"] * leader_amount
    else:
        sl = p["stop_loss"] if not math.isnan(p["stop_loss"]) else 0.0
        units = p["risk_frac"] * cash / max(price * sl, price * 0.001)
        size = units * price
    return min(size, p["max_position_lamports"])


@njit(cache=True)
def _mirror_buy_nb(tp, i, p, ctx, pool, leader_amount):
    mk = ctx.mk
    cash_asset = ctx.cfg["cash_asset"]
    if mk.pool_quote[pool] != cash_asset:
        return None
    asset = mk.pool_base[pool]
    held = holding_nb(ctx, asset)
    if held <= 0.0 and ctx.acc[ACC_N_HELD] >= p["max_positions"]:
        return None
    mid = mid_price_nb(ctx, pool)
    if not mid > 0.0:
        return None
    cash = cash_nb(ctx)
    size = position_size_nb(p, cash, mid, leader_amount)
    size = min(size, p["max_token_exposure_lamports"] - held * mid, cash)
    if not size > 0.0:
        return None
    out = quote_pool_nb(ctx, pool, Side.BUY, size)
    if not out > 0.0 or 1.0 - out * mid / size > p["max_slippage_bps"] / 1e4:
        return None
    submit_swap_nb(tp, i, ctx, pool, Side.BUY, size, 0.0, p["cu_price_micro_lamports"], p["tip_lamports"], TAG_BUY)
    return None


@njit(cache=True)
def _run_mirror_nb(tp, i, p, ctx, q):
    sf = ctx.sf
    kind, target, side, amount, outcome = sf[q + 1], np.int64(sf[q + 2]), np.int64(sf[q + 3]), sf[q + 4], np.int64(
        sf[q + 5])
    if kind == 0.0:
        if side == Side.BUY:
            _mirror_buy_nb(tp, i, p, ctx, target, amount)
        elif p["exit_on_leader_sell"] == 1:
            sell_all_nb(tp, i, p, ctx, target, TAG_LEADER_EXIT)
        return None
    asset = asset_of_outcome_nb(ctx.mk, target, outcome)
    held = holding_nb(ctx, asset)
    if side == Side.BUY:
        cash = cash_nb(ctx)
        px = mark_nb(ctx, asset)
        if not px > 0.0 or (held <= 0.0 and ctx.acc[ACC_N_HELD] >= p["max_positions"]):
            return None
        size = min(position_size_nb(p, cash, px, amount), p["max_token_exposure_lamports"] - held * px, cash)
        if size > 0.0:
            submit_outcome_nb(tp, i, ctx, target, outcome, Side.BUY, size, 0.0, p["outcome_fee"], TAG_BUY)
    elif held > 0.0 and p["exit_on_leader_sell"] == 1:
        submit_outcome_nb(tp, i, ctx, target, outcome, Side.SELL, held, 0.0, p["outcome_fee"], TAG_LEADER_EXIT)
    return None


@njit(cache=True)
def _drain_queue_nb(tp, i, p, ctx):
    """Run the queued mirrors whose delay has passed, oldest first."""
    sf, si = ctx.sf, ctx.si
    n = si[SI_N_QUEUED]
    k = 0
    while k < n:
        q = k * Q_W
        if sf[q] <= tp.slot[i]:
            _run_mirror_nb(tp, i, p, ctx, q)
            for j in range(q, (n - 1) * Q_W):  # keep the queue in arrival order
                sf[j] = sf[j + Q_W]
            n -= 1
        else:
            k += 1
    si[SI_N_QUEUED] = n


@njit(cache=True)
def _enqueue_nb(tp, i, p, ctx, kind, target, side, amount, outcome):
    n = ctx.si[SI_N_QUEUED]
    if n >= QUEUE:
        return None  # more mirrors waiting than the queue holds: the newest is dropped
    q = n * Q_W
    ctx.sf[q] = tp.slot[i] + p["delay_slots"]
    ctx.sf[q + 1], ctx.sf[q + 2], ctx.sf[q + 3], ctx.sf[q + 4], ctx.sf[q + 5] = kind, target, side, amount, outcome
    ctx.si[SI_N_QUEUED] = n + 1


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    """Queue leaders' trades, run due mirrors, check exits of held tokens."""
    kind = tp.kind[i]
    if ctx.si[SI_N_QUEUED] > 0:
        _drain_queue_nb(tp, i, p, ctx)
    if kind == EventKind.POOL_STATE:
        if ctx.acc[ACC_N_HELD] > 0.0:
            check_exits_nb(tp, i, p, ctx, tp.pool_id[i])
    elif kind == EventKind.SWAP or kind == EventKind.OUTCOME_TRADE:
        if _is_leader(p, tp.wallet_id[i]):
            if kind == EventKind.SWAP:
                _enqueue_nb(tp, i, p, ctx, 0.0, tp.pool_id[i], tp.side[i], tp.vals[i, SWAP_AMOUNT_IN], 0)
            else:
                amount = tp.vals[i, OUTCOME_SHARES] * tp.vals[i, OUTCOME_PRICE] * ctx.cfg["share_value"]
                _enqueue_nb(tp, i, p, ctx, 1.0, tp.pool_id[i], tp.side[i], amount, tp.mint_id[i])
            if p["delay_slots"] <= 0:
                _drain_queue_nb(tp, i, p, ctx)
    return None


def state_size(params: np.ndarray, market) -> tuple[int, int]:
    return QUEUE * Q_W, SI_EXIT_SENT + N_EXIT_SLOTS


def init_state(params: np.ndarray, market, sf: np.ndarray, si: np.ndarray) -> None:
    si[:, SI_EXIT_SENT:] = -1


STRATEGY = Strategy(name="copy_trade", module=__name__, params_dtype=PARAMS_DT, defaults=DEFAULTS,
                    state_size=state_size, init_state=init_state,
                    events=(EventKind.POOL_STATE, EventKind.SWAP, EventKind.OUTCOME_TRADE))
