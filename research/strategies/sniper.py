"""Sniper: buy new pools that pass risk filters; exit on levels, maximum hold, or a rug.

On a NEW_POOL event quoted in cash the filters read the pool's risk facts: quote liquidity at
least ``min_liquidity_lamports``; mint authority revoked (``require_mint_revoked``); no freeze
authority (``require_no_freeze``); LP burned share at least ``min_lp_burned``; top-holder
share at most ``max_top_holder``; transfer fee at most ``max_transfer_fee_bps``. A pool that
passes is bought for ``buy_lamports`` (while fewer than ``max_positions`` tokens are held).

Exits (`research.strategies._exits`): take-profit, stop-loss, trailing stop, maximum hold,
checked on every state of a held token's pool; and an emergency exit when a LIQUIDITY event
pulls at least ``rug_exit_share`` of the pool's quote reserve: sell everything into what is
left. Nothing is special-cased for honeypots: the engine fails the sell of a sell-blocked
token (fees paid, the tokens stay), so a honeypot the filters miss costs what it would cost
on chain: the whole buy plus the fees of the failed sell.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.amm.state import COL_RESERVE_QUOTE
from engine.layout import (
    LIQ_DELTA_QUOTE,
    NEW_FEE_BPS,
    NEW_LP_BURNED,
    NEW_RESERVE_QUOTE,
    NEW_TOP_HOLDER,
    RISK_FREEZE_AUTHORITY,
    RISK_MINT_AUTHORITY,
    RISK_TRANSFER_FEE,
    EventKind,
    Side,
)
from engine.sim.api_nb import cash_nb, submit_swap_nb
from engine.sim.records import ACC_N_HELD
from engine.sim.strategy import Strategy
from research.strategies._exits import N_EXIT_SLOTS, SI_EXIT_SENT, check_exits_nb, sell_all_nb

PARAMS_DT = np.dtype([
    ("min_liquidity_lamports", np.float64), ("require_mint_revoked", np.int8), ("require_no_freeze", np.int8),
    ("min_lp_burned", np.float64), ("max_top_holder", np.float64), ("max_transfer_fee_bps", np.float64),
    ("buy_lamports", np.float64), ("take_profit", np.float64), ("stop_loss", np.float64),
    ("trailing_stop", np.float64), ("max_hold_slots", np.int64), ("rug_exit_share", np.float64),
    ("max_positions", np.int64), ("cu_price_micro_lamports", np.float64), ("tip_lamports", np.float64),
], align=True)

DEFAULTS = {"min_liquidity_lamports": 5e9, "require_mint_revoked": 1, "require_no_freeze": 1, "min_lp_burned": 0.0,
            "max_top_holder": 1.0, "max_transfer_fee_bps": 0.0, "buy_lamports": 0.5e9, "take_profit": 1.0,
            "stop_loss": 0.5, "trailing_stop": math.nan, "max_hold_slots": 9_000, "rug_exit_share": 0.5,
            "max_positions": 5, "cu_price_micro_lamports": 100_000.0, "tip_lamports": 0.0}

TAG_BUY, TAG_RUG = 1, 7


@njit(cache=True)
def passes_filters_nb(p, flags, vals, i):
    """Return True when a NEW_POOL row's risk facts pass the row's filters."""
    if vals[i, NEW_RESERVE_QUOTE] < p["min_liquidity_lamports"]:
        return False
    if p["require_mint_revoked"] == 1 and flags & RISK_MINT_AUTHORITY != 0:
        return False
    if p["require_no_freeze"] == 1 and flags & RISK_FREEZE_AUTHORITY != 0:
        return False
    if vals[i, NEW_LP_BURNED] < p["min_lp_burned"] or vals[i, NEW_TOP_HOLDER] > p["max_top_holder"]:
        return False
    fee_bps = vals[i, NEW_FEE_BPS] if flags & RISK_TRANSFER_FEE != 0 else 0.0
    return fee_bps <= p["max_transfer_fee_bps"]


@njit(cache=True)
def _rug_check_nb(tp, i, p, ctx, pool):
    """Sell everything when this LIQUIDITY event pulled ``rug_exit_share`` of the quote reserve."""
    pulled = -tp.vals[i, LIQ_DELTA_QUOTE]
    if not pulled > 0.0:
        return None
    before = ctx.dyn.states[pool, COL_RESERVE_QUOTE] + pulled  # after the event, plus what left
    if pulled >= p["rug_exit_share"] * before:
        sell_all_nb(tp, i, p, ctx, pool, TAG_RUG)
    return None


@njit(cache=True)
def on_event_nb(tp, i, p, ctx):
    """Buy new pools that pass the filters; check exits and rugs of held tokens."""
    kind = tp.kind[i]
    pool = tp.pool_id[i]
    if pool < 0 or pool >= ctx.dyn.states.shape[0]:
        return None
    if kind == EventKind.NEW_POOL:
        if ctx.mk.pool_quote[pool] != ctx.cfg["cash_asset"] or ctx.acc[ACC_N_HELD] >= p["max_positions"]:
            return None
        if passes_filters_nb(p, tp.flags[i], tp.vals, i) and cash_nb(ctx) >= p["buy_lamports"]:
            submit_swap_nb(tp, i, ctx, pool, Side.BUY, p["buy_lamports"], 0.0, p["cu_price_micro_lamports"],
                           p["tip_lamports"], TAG_BUY)
    elif ctx.acc[ACC_N_HELD] > 0.0:
        if kind == EventKind.POOL_STATE:
            check_exits_nb(tp, i, p, ctx, pool)
        elif kind == EventKind.LIQUIDITY:
            _rug_check_nb(tp, i, p, ctx, pool)
    return None


def state_size(params: np.ndarray, market) -> tuple[int, int]:
    return 0, SI_EXIT_SENT + N_EXIT_SLOTS


def init_state(params: np.ndarray, market, sf: np.ndarray, si: np.ndarray) -> None:
    si[:, SI_EXIT_SENT:] = -1


STRATEGY = Strategy(name="sniper", module=__name__, params_dtype=PARAMS_DT, defaults=DEFAULTS,
                    state_size=state_size, init_state=init_state,
                    events=(EventKind.NEW_POOL, EventKind.POOL_STATE, EventKind.LIQUIDITY))
