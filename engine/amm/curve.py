"""Pump.fun bonding-curve kernels, float64 base units (lamports and token base units).

The curve is constant product on *virtual* reserves: ``virtual_sol * virtual_token = k``.
Buying ``t`` tokens costs ``floor(t * vs / (vt - t)) + 1`` lamports into the curve, plus a fee
on that amount; selling ``t`` tokens pays ``floor(t * vs / (vt + t))`` out of the curve, minus a
fee. Since 2025 the fee rounds up (``ceil(sol * bps / 10,000)``), and is charged as a protocol
fee plus a creator fee, each rounded up; the 2024 program rounded a 1 % fee down (see
``engine.amm.exact``, which models both). Followed: ``pump-fun/pump-public-docs`` commit
``e2b66e4fce2fc130955912315167dc41e56956ad``, ``docs/bondingCurve.ts``
(``getBuySolAmountFromTokenAmount``, ``getBuyTokenAmountFromSolAmount``,
``getSellSolAmountFromTokenAmount``, ``computeFee``) and the ``Global`` account layout in
``idl/pump.json`` at commit ``1b822158844a60ca577df6ca122211b595a1a578``.

The kernels take one total fee in basis points and round it up (the current rule); with a
split protocol + creator fee the exact twin can be one lamport above the kernel.

Sentinels: invalid input (NaN, a virtual reserve <= 0, an amount < 0 or above u64,
``fee_bps`` outside ``[0, 10,000)``) returns NaN; ``curve_buy_cost_nb`` returns ``inf`` when
``token_out_raw >= virtual_token_raw``. Kernels never raise and never cap at the real token
reserves: callers do (``engine.amm.quote.quote_nb`` does).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Launch parameters of a Pump.fun curve, confirmed from the Global account fixture
# (sevenlabs-hq-carbon/pumpfun/global_account.json) in tests/engine/amm/test_curve.py.
TOKEN_DECIMALS = 6
INITIAL_VIRTUAL_TOKEN_RAW = 1_073_000_000_000_000  # 1,073,000,000 tokens
INITIAL_VIRTUAL_SOL_RAW = 30_000_000_000  # 30 SOL
INITIAL_REAL_TOKEN_RAW = 793_100_000_000_000  # 793,100,000 tokens sold on the curve
TOKEN_TOTAL_SUPPLY_RAW = 1_000_000_000_000_000  # 1,000,000,000 tokens
# The curve completes (and migrates) when its real token reserves reach zero, i.e. when the
# virtual token reserves fall to this value.
COMPLETE_VIRTUAL_TOKEN_RAW = INITIAL_VIRTUAL_TOKEN_RAW - INITIAL_REAL_TOKEN_RAW  # 279,900,000 tokens
# Virtual SOL at completion on an untouched-k curve: k / COMPLETE_VIRTUAL_TOKEN_RAW (~115.005 SOL);
# real SOL raised is this minus INITIAL_VIRTUAL_SOL_RAW (~85.005 SOL).
COMPLETE_VIRTUAL_SOL_RAW = -(-INITIAL_VIRTUAL_SOL_RAW * INITIAL_VIRTUAL_TOKEN_RAW // COMPLETE_VIRTUAL_TOKEN_RAW)

PROTOCOL_FEE_BPS = 95  # Global.fee_basis_points in the fixture
CREATOR_FEE_BPS = 5  # Global.creator_fee_basis_points in the fixture
FEE_BPS = PROTOCOL_FEE_BPS + CREATOR_FEE_BPS  # total fee on a coin with a creator
FEE_BPS_2024 = 100  # 1 %, rounded down, before the 2025 fee changes

BPS_DEN = 10_000.0
U64_MAX_RAW = 18446744073709551615.0


@njit(cache=True)
def curve_args_valid_nb(amount_raw: float, virtual_sol_raw: float, virtual_token_raw: float,
                        fee_bps: float) -> bool:
    """Return True when the arguments of a curve quote are usable (NaN fails)."""
    if not (amount_raw >= 0.0 and amount_raw <= U64_MAX_RAW):
        return False
    if not (virtual_sol_raw > 0.0 and virtual_sol_raw <= U64_MAX_RAW):
        return False
    if not (virtual_token_raw > 0.0 and virtual_token_raw <= U64_MAX_RAW):
        return False
    if not (fee_bps >= 0.0 and fee_bps < BPS_DEN):
        return False
    return True


@njit(cache=True)
def curve_tokens_out_nb(sol_in_raw: float, virtual_sol_raw: float, virtual_token_raw: float,
                        fee_bps: float) -> float:
    """Return the tokens bought with ``sol_in_raw`` lamports, fee included, in token base units.

    Parameters
    ----------
    sol_in_raw : float
        Lamports the buyer spends, fee included.
    virtual_sol_raw, virtual_token_raw : float
        Virtual reserves of the curve, lamports and token base units.
    fee_bps : float
        Total fee in basis points (protocol + creator).

    Returns
    -------
    float
        ``floor(net * vt / (vs + net))`` with ``net = floor(sol_in * 10,000 / (10,000 + fee_bps))``;
        not capped at the real token reserves; NaN for invalid input.
    """
    if not curve_args_valid_nb(sol_in_raw, virtual_sol_raw, virtual_token_raw, fee_bps):
        return math.nan
    net_raw = np.floor(sol_in_raw * BPS_DEN / (BPS_DEN + fee_bps))
    return np.floor(net_raw * virtual_token_raw / (virtual_sol_raw + net_raw))


@njit(cache=True)
def curve_sol_out_nb(token_in_raw: float, virtual_sol_raw: float, virtual_token_raw: float,
                     fee_bps: float) -> float:
    """Return the net lamports received for selling ``token_in_raw`` tokens (fee deducted).

    Parameters
    ----------
    token_in_raw : float
        Tokens sold, base units.
    virtual_sol_raw, virtual_token_raw : float
        Virtual reserves of the curve, lamports and token base units.
    fee_bps : float
        Total fee in basis points, rounded up.

    Returns
    -------
    float
        ``sol - ceil(sol * fee_bps / 10,000)`` with ``sol = floor(t * vs / (vt + t))``;
        NaN for invalid input.
    """
    if not curve_args_valid_nb(token_in_raw, virtual_sol_raw, virtual_token_raw, fee_bps):
        return math.nan
    sol_raw = np.floor(token_in_raw * virtual_sol_raw / (virtual_token_raw + token_in_raw))
    return sol_raw - np.ceil(sol_raw * fee_bps / BPS_DEN)


@njit(cache=True)
def curve_buy_cost_nb(token_out_raw: float, virtual_sol_raw: float, virtual_token_raw: float,
                      fee_bps: float) -> float:
    """Return the lamports, fee included, that buy exactly ``token_out_raw`` tokens.

    Parameters
    ----------
    token_out_raw : float
        Tokens wanted, base units.
    virtual_sol_raw, virtual_token_raw : float
        Virtual reserves of the curve, lamports and token base units.
    fee_bps : float
        Total fee in basis points, rounded up.

    Returns
    -------
    float
        ``sol + ceil(sol * fee_bps / 10,000)`` with ``sol = floor(t * vs / (vt - t)) + 1``;
        0 for ``t = 0``; ``inf`` when ``t >= vt``; NaN for invalid input.
    """
    if not curve_args_valid_nb(token_out_raw, virtual_sol_raw, virtual_token_raw, fee_bps):
        return math.nan
    if token_out_raw == 0.0:
        return 0.0
    if token_out_raw >= virtual_token_raw:
        return math.inf
    sol_raw = np.floor(token_out_raw * virtual_sol_raw / (virtual_token_raw - token_out_raw)) + 1.0
    return sol_raw + np.ceil(sol_raw * fee_bps / BPS_DEN)
