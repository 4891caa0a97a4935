"""Constant-product swap kernels (Raydium AMM v4 and Raydium CPMM), float64 base units.

Both programs take the fee from the input and round it up, then swap the rest on
``x * y = k`` and round the output down; an exact-output swap rounds the input up twice
(the curve input, then the input grossed up for the fee). Followed at:

* Raydium AMM v4, ``raydium-io/raydium-amm`` commit ``27f461dd439086c774055f771b253fb0fbc52008``:
  ``program/src/processor.rs`` (``process_swap_base_in``, ``process_swap_base_out``) and
  ``program/src/math.rs`` (``Calculator::swap_token_amount_base_in/_base_out``,
  ``CheckedCeilDiv``); fee ``swap_fee_numerator / swap_fee_denominator`` = 25 / 10,000.
* Raydium CPMM, ``raydium-io/raydium-cp-swap`` commit ``609780f165d234a0aa9699cac90178a3fa36fd43``:
  ``programs/cp-swap/src/curve/calculator.rs`` (``swap_base_input``, ``swap_base_output``),
  ``curve/constant_product.rs`` and ``curve/fees.rs`` (``trading_fee``,
  ``calculate_pre_fee_amount``); fee ``trade_fee_rate / 1,000,000``.

The kernels apply the same floor/ceil steps as the programs, so below 2**53 they agree with
the exact twins in ``engine.amm.exact`` except when the true quotient lies within a few ulps of
an integer (the tests state and check that bound).

Sentinels: invalid input (NaN, a reserve <= 0, an amount < 0 or above u64, ``fee_num < 0``,
``fee_den <= 0`` or ``fee_num >= fee_den``) returns NaN; kernels never raise.
``cpmm_in_nb`` returns ``inf`` when the requested output is not below the output reserve
(no input can buy it).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

U64_MAX_RAW = 18446744073709551615.0  # rounds to 2**64 in float64


@njit(cache=True)
def cpmm_args_valid_nb(amount_raw: float, reserve_in_raw: float, reserve_out_raw: float,
                       fee_num: float, fee_den: float) -> bool:
    """Return True when the arguments of a constant-product quote are usable (NaN fails)."""
    if not (amount_raw >= 0.0 and amount_raw <= U64_MAX_RAW):
        return False
    if not (reserve_in_raw > 0.0 and reserve_in_raw <= U64_MAX_RAW):
        return False
    if not (reserve_out_raw > 0.0 and reserve_out_raw <= U64_MAX_RAW):
        return False
    if not (fee_den > 0.0 and fee_num >= 0.0 and fee_num < fee_den):
        return False
    return True


@njit(cache=True)
def cpmm_out_nb(amount_in_raw: float, reserve_in_raw: float, reserve_out_raw: float,
                fee_num: float, fee_den: float) -> float:
    """Return the output of one exact-in constant-product swap, in base units of the out token.

    Parameters
    ----------
    amount_in_raw : float
        Input amount including the fee, base units of the in token.
    reserve_in_raw, reserve_out_raw : float
        Reserves the program uses, base units (AMM v4: vault minus pending PnL; CPMM: vault
        minus protocol, fund and creator fees owed).
    fee_num, fee_den : float
        Fee rate as a fraction (AMM v4 25 / 10,000; CPMM ``trade_fee_rate`` / 1,000,000).

    Returns
    -------
    float
        ``floor(reserve_out * net / (reserve_in + net))`` with
        ``net = amount_in - ceil(amount_in * fee_num / fee_den)``; NaN for invalid input.
    """
    if not cpmm_args_valid_nb(amount_in_raw, reserve_in_raw, reserve_out_raw, fee_num, fee_den):
        return math.nan
    fee_raw = np.ceil(amount_in_raw * fee_num / fee_den)
    net_raw = amount_in_raw - fee_raw
    if net_raw <= 0.0:
        return 0.0
    return np.floor(reserve_out_raw * net_raw / (reserve_in_raw + net_raw))


@njit(cache=True)
def cpmm_in_nb(amount_out_raw: float, reserve_in_raw: float, reserve_out_raw: float,
               fee_num: float, fee_den: float) -> float:
    """Return the input (fee included) an exact-out constant-product swap needs, in base units.

    Parameters
    ----------
    amount_out_raw : float
        Output wanted, base units of the out token.
    reserve_in_raw, reserve_out_raw : float
        Reserves the program uses, base units.
    fee_num, fee_den : float
        Fee rate as a fraction.

    Returns
    -------
    float
        ``ceil(ceil(reserve_in * out / (reserve_out - out)) * fee_den / (fee_den - fee_num))``;
        ``inf`` when ``amount_out_raw >= reserve_out_raw``; NaN for invalid input.
    """
    if not cpmm_args_valid_nb(amount_out_raw, reserve_in_raw, reserve_out_raw, fee_num, fee_den):
        return math.nan
    if amount_out_raw >= reserve_out_raw:
        return math.inf
    if amount_out_raw == 0.0:
        return 0.0
    in_before_fee_raw = np.ceil(reserve_in_raw * amount_out_raw / (reserve_out_raw - amount_out_raw))
    if fee_num == 0.0:
        return in_before_fee_raw
    return np.ceil(in_before_fee_raw * fee_den / (fee_den - fee_num))
