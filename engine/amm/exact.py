"""Exact swap quoters in Python integers, rounded as the on-chain programs round.

These are the reference twins of the float64 kernels (``cpmm.py``, ``curve.py``, ``clmm.py``):
tests bound the kernels' error with them, and the live executor computes ``min_out`` with
them. Every function takes and returns Python ints (``NamedTuple`` results), checks its
arguments and raises ``ValueError`` naming the bad one.

Programs followed (formulas taken, code written here):

* Constant product, Raydium AMM v4: ``raydium-io/raydium-amm`` commit
  ``27f461dd439086c774055f771b253fb0fbc52008``, ``program/src/processor.rs``
  (``process_swap_base_in``: ``swap_fee = ceil(amount_in * swap_fee_numerator /
  swap_fee_denominator)``; ``process_swap_base_out``: input grossed up with a ceil division by
  ``denominator - numerator``) and ``program/src/math.rs`` (``swap_token_amount_base_in``
  floors, ``swap_token_amount_base_out`` ceils; ``calc_total_without_take_pnl_no_orderbook``:
  reserves are vault amounts minus ``need_take_pnl_*``).
* Constant product, Raydium CPMM: ``raydium-io/raydium-cp-swap`` commit
  ``609780f165d234a0aa9699cac90178a3fa36fd43``, ``programs/cp-swap/src/curve/calculator.rs``,
  ``curve/constant_product.rs``, ``curve/fees.rs`` (same roundings; ``FEE_RATE_DENOMINATOR_VALUE``
  1,000,000; ``calculate_pre_fee_amount`` is a ceil division; protocol and fund fees are
  floor shares of the trade fee and leave the reserves).
* Concentrated liquidity, Orca Whirlpool: ``orca-so/whirlpools`` commit
  ``630c0e01b74ad88eab69f8ed4cc2d3dc9a3d0bd5``, ``programs/whirlpool/src/math/swap_math.rs``
  (``compute_swap``), ``math/token_math.rs`` (``get_amount_delta_a/_b``,
  ``get_next_sqrt_price_from_a_round_up``, ``get_next_sqrt_price_from_b_round_down``),
  ``math/tick_math.rs`` (``sqrt_price_from_tick_index``: the per-bit factors are
  ``floor(2**96 * 1.0001**(2**k / 2))`` for positive ticks and ``floor(2**64 / 1.0001**(2**k / 2))``
  for negative ticks, derived here with ``decimal``; ``tick_index_from_sqrt_price`` returns the
  floor tick, found here by bisection) and ``manager/swap_manager.rs`` (``swap``: walk ticks,
  cross with ``liquidity -= net`` going a->b and ``+= net`` going b->a; tick after a crossing
  is ``tick - 1`` going a->b). Static fee only (no adaptive fee).
* Bonding curve, Pump.fun: ``pump-fun/pump-public-docs`` commit
  ``e2b66e4fce2fc130955912315167dc41e56956ad``, ``docs/bondingCurve.ts``; checked against the
  real transactions in ``fixtures/0xjeffro-tx-parser`` (2024: 1 % fee rounded down; 2025:
  rounded up).
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Sequence
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import NamedTuple

U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
Q64 = 1 << 64

# Whirlpool constants (programs/whirlpool/src/state/tick.rs, math/tick_math.rs, math/token_math.rs).
MIN_TICK = -443636
MAX_TICK = 443636
MIN_SQRT_PRICE_X64 = 4295048016
MAX_SQRT_PRICE_X64 = 79226673515401279992447579055
CLMM_FEE_RATE_DEN = 1_000_000

PUMP_BPS_DEN = 10_000


class CpmmSwap(NamedTuple):
    """One constant-product swap: the computed amount (out for exact-in, in for exact-out) and the fee."""

    amount: int
    fee: int

    @property
    def amount_out(self) -> int:
        """Output of an exact-in swap (alias of ``amount``)."""
        return self.amount

    @property
    def amount_in(self) -> int:
        """Input, fee included, of an exact-out swap (alias of ``amount``)."""
        return self.amount


class CpmmReserves(NamedTuple):
    """Reserves a constant-product program uses after a swap."""

    reserve_in: int
    reserve_out: int


class CurveSwap(NamedTuple):
    """One bonding-curve trade: lamports moved into or out of the curve, and the fee on them.

    ``sol_amount`` is the curve side, as the program's ``TradeEvent`` reports it: a buyer pays
    ``sol_amount + fee``, a seller receives ``sol_amount - fee``.
    """

    sol_amount: int
    fee: int


class CurveBuy(NamedTuple):
    """Tokens bought with a lamport budget (fee included), and where the budget went."""

    token_amount: int
    sol_amount: int
    fee: int


class ClmmStep(NamedTuple):
    """One Whirlpool ``compute_swap`` step towards a target price."""

    amount_in: int
    amount_out: int
    fee: int
    sqrt_price_x64: int


class ClmmSwap(NamedTuple):
    """A Whirlpool exact-in swap: consumed input (fee included), output, fee, and the pool after it."""

    amount_in: int
    amount_out: int
    fee: int
    sqrt_price_x64: int
    tick: int
    liquidity: int


# --------------------------------------------------------------------------- argument checks


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        msg = f"{name} must be an integer number of base units, was the bool {value!r}"
        raise ValueError(msg)
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        msg = (f"{name} must be an integer number of base units, was {value!r} "
               f"({type(value).__name__}); Hint: exact quoters take Python ints, convert with int()")
        raise ValueError(msg) from None


def _check_range(name: str, value: object, lo: int, hi: int, hint: str) -> int:
    v = _as_int(name, value)
    if not lo <= v <= hi:
        msg = f"{name} must be in [{lo:,}, {hi:,}], was {v:,}; {hint}"
        raise ValueError(msg)
    return v


def _check_amount(name: str, value: object) -> int:
    return _check_range(name, value, 0, U64_MAX, "amounts are u64 base units")


def _check_reserve(name: str, value: object) -> int:
    return _check_range(name, value, 1, U64_MAX, "a pool with an empty reserve cannot be quoted")


def _check_fee(fee_num: object, fee_den: object) -> tuple[int, int]:
    den = _check_range("fee_den", fee_den, 1, U64_MAX, "the fee is fee_num / fee_den")
    num = _check_range("fee_num", fee_num, 0, U64_MAX, "the fee is fee_num / fee_den")
    if num >= den:
        msg = f"fee_num must be below fee_den (a fee under 100 %), was fee_num={num:,}, fee_den={den:,}"
        raise ValueError(msg)
    return num, den


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------- constant product


def cpmm_exact_in(amount_in: int, reserve_in: int, reserve_out: int, fee_num: int, fee_den: int) -> CpmmSwap:
    """Return output and fee of an exact-in constant-product swap, as Raydium AMM v4 / CPMM round them.

    Parameters
    ----------
    amount_in : int
        Input including the fee, base units.
    reserve_in, reserve_out : int
        Reserves the program uses, base units (AMM v4: vault balance minus ``need_take_pnl``;
        CPMM: vault balance minus protocol, fund and creator fees owed).
    fee_num, fee_den : int
        Fee rate (AMM v4: 25 / 10,000; CPMM: ``trade_fee_rate`` / 1,000,000).

    Returns
    -------
    CpmmSwap
        ``amount_out`` (= ``amount``), floored, and ``fee``, taken from the input and rounded up.
    """
    amount_in = _check_amount("amount_in", amount_in)
    reserve_in = _check_reserve("reserve_in", reserve_in)
    reserve_out = _check_reserve("reserve_out", reserve_out)
    fee_num, fee_den = _check_fee(fee_num, fee_den)
    fee = _ceil_div(amount_in * fee_num, fee_den)
    net = amount_in - fee
    return CpmmSwap(reserve_out * net // (reserve_in + net), fee)


def cpmm_exact_out(amount_out: int, reserve_in: int, reserve_out: int, fee_num: int, fee_den: int) -> CpmmSwap:
    """Return input (fee included) and fee of an exact-out constant-product swap, rounded as the programs do.

    Parameters
    ----------
    amount_out : int
        Output wanted, base units; must be below ``reserve_out``.
    reserve_in, reserve_out : int
        Reserves the program uses, base units.
    fee_num, fee_den : int
        Fee rate.

    Returns
    -------
    CpmmSwap
        ``amount_in`` (= ``amount``) = ``ceil(ceil(reserve_in * out / (reserve_out - out)) * fee_den
        / (fee_den - fee_num))`` and ``fee`` = that minus the curve input.
    """
    amount_out = _check_amount("amount_out", amount_out)
    reserve_in = _check_reserve("reserve_in", reserve_in)
    reserve_out = _check_reserve("reserve_out", reserve_out)
    fee_num, fee_den = _check_fee(fee_num, fee_den)
    if amount_out >= reserve_out:
        msg = (f"amount_out must be below reserve_out, was amount_out={amount_out:,} with "
               f"reserve_out={reserve_out:,}; no input buys the whole reserve")
        raise ValueError(msg)
    before_fee = _ceil_div(reserve_in * amount_out, reserve_out - amount_out)
    amount_in = _ceil_div(before_fee * fee_den, fee_den - fee_num)
    return CpmmSwap(amount_in, amount_in - before_fee)


def cpmm_reserves_after(amount_in: int, amount_out: int, reserve_in: int, reserve_out: int,
                        fee_excluded: int = 0) -> CpmmReserves:
    """Return the reserves the program uses after a swap of ``amount_in`` for ``amount_out``.

    The whole input enters the vault and the LP part of the fee stays in the reserves;
    ``fee_excluded`` is the part of the fee the program books outside them (CPMM: protocol +
    fund fee, ``floor(fee * rate / 1,000,000)`` each; AMM v4: 0 at swap time).
    """
    amount_in = _check_amount("amount_in", amount_in)
    amount_out = _check_amount("amount_out", amount_out)
    reserve_in = _check_reserve("reserve_in", reserve_in)
    reserve_out = _check_reserve("reserve_out", reserve_out)
    fee_excluded = _check_range("fee_excluded", fee_excluded, 0, amount_in, "it is a part of amount_in")
    if amount_out >= reserve_out:
        msg = f"amount_out must be below reserve_out, was {amount_out:,} >= {reserve_out:,}"
        raise ValueError(msg)
    return CpmmReserves(reserve_in + amount_in - fee_excluded, reserve_out - amount_out)


# --------------------------------------------------------------------------- bonding curve


def _pump_fee(sol: int, fee_bps: int, creator_fee_bps: int, fee_round_up: bool) -> int:
    if fee_round_up:
        return _ceil_div(sol * fee_bps, PUMP_BPS_DEN) + _ceil_div(sol * creator_fee_bps, PUMP_BPS_DEN)
    return sol * fee_bps // PUMP_BPS_DEN + sol * creator_fee_bps // PUMP_BPS_DEN


def _check_pump_fee(fee_bps: object, creator_fee_bps: object) -> tuple[int, int]:
    bps = _check_range("fee_bps", fee_bps, 0, PUMP_BPS_DEN - 1, "the fee is fee_bps / 10,000")
    cbps = _check_range("creator_fee_bps", creator_fee_bps, 0, PUMP_BPS_DEN - 1, "the fee is bps / 10,000")
    if bps + cbps >= PUMP_BPS_DEN:
        msg = f"fee_bps + creator_fee_bps must be below 10,000 (100 %), was {bps} + {cbps}"
        raise ValueError(msg)
    return bps, cbps


def curve_buy_cost(token_out: int, virtual_sol: int, virtual_token: int, fee_bps: int = 95, *,
                   creator_fee_bps: int = 5, fee_round_up: bool = True) -> CurveSwap:
    """Return the lamports into the curve and the fee for buying exactly ``token_out`` tokens (Pump.fun ``buy``).

    Parameters
    ----------
    token_out : int
        Tokens bought, base units (6 decimals); must be below ``virtual_token``. The program
        also caps it at the real token reserves; pass at most those.
    virtual_sol, virtual_token : int
        Virtual reserves before the trade, lamports and token base units.
    fee_bps, creator_fee_bps : int
        Protocol and creator fee in basis points, each rounded on its own. Defaults are the
        current values (95 + 5); the 2024 program charged 100 + 0.
    fee_round_up : bool
        True (current program) rounds each fee up; False (2024) rounds down.

    Returns
    -------
    CurveSwap
        ``sol_amount = floor(token_out * vs / (vt - token_out)) + 1`` and its ``fee``; the buyer
        pays ``sol_amount + fee``.
    """
    token_out = _check_amount("token_out", token_out)
    virtual_sol = _check_reserve("virtual_sol", virtual_sol)
    virtual_token = _check_reserve("virtual_token", virtual_token)
    fee_bps, creator_fee_bps = _check_pump_fee(fee_bps, creator_fee_bps)
    if token_out >= virtual_token:
        msg = (f"token_out must be below virtual_token, was token_out={token_out:,} with "
               f"virtual_token={virtual_token:,}")
        raise ValueError(msg)
    if token_out == 0:
        return CurveSwap(0, 0)
    sol = token_out * virtual_sol // (virtual_token - token_out) + 1
    return CurveSwap(sol, _pump_fee(sol, fee_bps, creator_fee_bps, fee_round_up))


def curve_sell_proceeds(token_in: int, virtual_sol: int, virtual_token: int, fee_bps: int = 95, *,
                        creator_fee_bps: int = 5, fee_round_up: bool = True) -> CurveSwap:
    """Return the lamports out of the curve and the fee for selling ``token_in`` tokens (Pump.fun ``sell``).

    Parameters
    ----------
    token_in : int
        Tokens sold, base units.
    virtual_sol, virtual_token : int
        Virtual reserves before the trade, lamports and token base units.
    fee_bps, creator_fee_bps, fee_round_up
        As in ``curve_buy_cost``.

    Returns
    -------
    CurveSwap
        ``sol_amount = floor(token_in * vs / (vt + token_in))`` and its ``fee``; the seller
        receives ``sol_amount - fee``.
    """
    token_in = _check_amount("token_in", token_in)
    virtual_sol = _check_reserve("virtual_sol", virtual_sol)
    virtual_token = _check_reserve("virtual_token", virtual_token)
    fee_bps, creator_fee_bps = _check_pump_fee(fee_bps, creator_fee_bps)
    sol = token_in * virtual_sol // (virtual_token + token_in)
    return CurveSwap(sol, _pump_fee(sol, fee_bps, creator_fee_bps, fee_round_up))


def curve_tokens_for_sol(sol_in: int, virtual_sol: int, virtual_token: int, fee_bps: int = 95, *,
                         creator_fee_bps: int = 5, real_token: int | None = None) -> CurveBuy:
    """Return the tokens a lamport budget (fee included) buys, as Pump.fun's SDK sizes a buy.

    ``net = floor(sol_in * 10,000 / (10,000 + total_bps))``, tokens
    ``floor(net * vt / (vs + net))``, capped at ``real_token`` when given. ``sol_amount`` and
    ``fee`` are what ``curve_buy_cost`` charges for those tokens (at most ``sol_in``, up to
    rounding of the split fee).
    """
    sol_in = _check_amount("sol_in", sol_in)
    virtual_sol = _check_reserve("virtual_sol", virtual_sol)
    virtual_token = _check_reserve("virtual_token", virtual_token)
    fee_bps, creator_fee_bps = _check_pump_fee(fee_bps, creator_fee_bps)
    net = sol_in * PUMP_BPS_DEN // (PUMP_BPS_DEN + fee_bps + creator_fee_bps)
    tokens = net * virtual_token // (virtual_sol + net)
    if real_token is not None:
        tokens = min(tokens, _check_amount("real_token", real_token))
    cost = curve_buy_cost(tokens, virtual_sol, virtual_token, fee_bps, creator_fee_bps=creator_fee_bps)
    return CurveBuy(tokens, cost.sol_amount, cost.fee)


# --------------------------------------------------------------------------- concentrated liquidity


def _tick_factors() -> tuple[tuple[int, ...], tuple[int, ...]]:
    with localcontext() as ctx:
        ctx.prec = 90
        root = (Decimal(10001) / Decimal(10000)).sqrt()
        pos = tuple(int(root ** (1 << k) * (1 << 96)) for k in range(19))
        neg = tuple(int(Decimal(1 << 64) / root ** (1 << k)) for k in range(19))
    return pos, neg


_POS_FACTORS, _NEG_FACTORS = _tick_factors()


@lru_cache(maxsize=65_536)
def sqrt_price_from_tick(tick: int) -> int:
    """Return Whirlpool's Q64.64 sqrt price at ``tick`` (``sqrt_price_from_tick_index``), bit-exact."""
    tick = _check_range("tick", tick, MIN_TICK, MAX_TICK, "Whirlpool ticks span [-443636, 443636]")
    if tick >= 0:
        ratio = _POS_FACTORS[0] if tick & 1 else 1 << 96
        for k in range(1, 19):
            if tick & (1 << k):
                ratio = (ratio * _POS_FACTORS[k]) >> 96
        return ratio >> 32
    abs_tick = -tick
    ratio = _NEG_FACTORS[0] if abs_tick & 1 else 1 << 64
    for k in range(1, 19):
        if abs_tick & (1 << k):
            ratio = (ratio * _NEG_FACTORS[k]) >> 64
    return ratio


def tick_from_sqrt_price(sqrt_price_x64: int) -> int:
    """Return the largest tick whose sqrt price is at most ``sqrt_price_x64`` (``tick_index_from_sqrt_price``)."""
    sp = _check_range("sqrt_price_x64", sqrt_price_x64, MIN_SQRT_PRICE_X64, MAX_SQRT_PRICE_X64,
                      "Whirlpool sqrt prices are Q64.64 between the min and max tick")
    lo, hi = MIN_TICK, MAX_TICK
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if sqrt_price_from_tick(mid) <= sp:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _ClmmMathError(ArithmeticError):
    """A Whirlpool math error (the program would fail the transaction)."""


def _delta_a(p0: int, p1: int, liquidity: int, round_up: bool) -> int | None:
    """Token A between two sqrt prices; None when above u64 (``try_get_amount_delta_a``)."""
    lo, hi = (p0, p1) if p0 <= p1 else (p1, p0)
    product = liquidity * (hi - lo)
    if product >> 192:
        msg = "MultiplicationOverflow in get_amount_delta_a"
        raise _ClmmMathError(msg)
    q, r = divmod(product << 64, hi * lo)
    if round_up and r:
        q += 1
    return q if q <= U64_MAX else None


def _delta_b(p0: int, p1: int, liquidity: int, round_up: bool) -> int | None:
    """Token B between two sqrt prices; None when above u64 (``try_get_amount_delta_b``)."""
    lo, hi = (p0, p1) if p0 <= p1 else (p1, p0)
    if liquidity == 0 or hi == lo:
        return 0
    product = liquidity * (hi - lo)
    if product > U128_MAX:
        return None
    q = product >> 64
    if round_up and product & (Q64 - 1):
        if q == U64_MAX:
            return None
        q += 1
    return q


def _next_sqrt_price_exact_in(sp: int, liquidity: int, amount: int, a_to_b: bool) -> int:
    if a_to_b:  # input is token A: price falls, rounded up
        if amount == 0:
            return sp
        numerator = (liquidity * sp) << 64
        if numerator >> 256:
            msg = "MultiplicationOverflow in get_next_sqrt_price_from_a_round_up"
            raise _ClmmMathError(msg)
        price = _ceil_div(numerator, (liquidity << 64) + sp * amount)
        if price < MIN_SQRT_PRICE_X64:
            msg = "TokenMinSubceeded: price below the minimum sqrt price"
            raise _ClmmMathError(msg)
        return price
    if liquidity == 0:
        msg = "DivideByZero in get_next_sqrt_price_from_b_round_down"
        raise _ClmmMathError(msg)
    price = sp + (amount << 64) // liquidity  # input is token B: price rises, delta rounded down
    if price > U128_MAX:
        msg = "SqrtPriceOutOfBounds"
        raise _ClmmMathError(msg)
    return price


def clmm_step_exact_in(amount_remaining: int, a_to_b: bool, sqrt_price_x64: int, sqrt_price_target_x64: int,
                       liquidity: int, fee_rate: int) -> ClmmStep:
    """Return one exact-in Whirlpool step (``compute_swap``) from the current towards a target price.

    ``amount_in`` excludes the fee; the step consumes ``amount_in + fee`` of ``amount_remaining``.
    """
    amount_remaining = _check_amount("amount_remaining", amount_remaining)
    sp = _check_range("sqrt_price_x64", sqrt_price_x64, MIN_SQRT_PRICE_X64, MAX_SQRT_PRICE_X64, "Q64.64")
    target = _check_range("sqrt_price_target_x64", sqrt_price_target_x64, MIN_SQRT_PRICE_X64,
                          MAX_SQRT_PRICE_X64, "Q64.64")
    liquidity = _check_range("liquidity", liquidity, 0, U128_MAX, "liquidity is a u128")
    fee_rate = _check_range("fee_rate", fee_rate, 0, CLMM_FEE_RATE_DEN - 1, "fee_rate is in millionths, below 100 %")
    if (a_to_b and target > sp) or (not a_to_b and target < sp):
        msg = (f"sqrt_price_target_x64 lies on the wrong side for a_to_b={a_to_b}, was {target} "
               f"with sqrt_price_x64={sp}")
        raise ValueError(msg)
    return _clmm_step(amount_remaining, a_to_b, sp, target, liquidity, fee_rate)


def _clmm_step(amount_remaining: int, a_to_b: bool, sp: int, target: int, liquidity: int, fee_rate: int) -> ClmmStep:
    delta_fixed = _delta_a if a_to_b else _delta_b  # the input token
    delta_unfixed = _delta_b if a_to_b else _delta_a  # the output token
    initial = delta_fixed(sp, target, liquidity, True)
    amount_calc = amount_remaining * (CLMM_FEE_RATE_DEN - fee_rate) // CLMM_FEE_RATE_DEN
    if initial is not None and initial <= amount_calc:
        next_sp = target
    else:
        next_sp = _next_sqrt_price_exact_in(sp, liquidity, amount_calc, a_to_b)
    is_max = next_sp == target
    amount_out = delta_unfixed(sp, next_sp, liquidity, False)
    if amount_out is None:
        msg = "TokenMaxExceeded: output above u64"
        raise _ClmmMathError(msg)
    if not is_max or initial is None:
        amount_in = delta_fixed(sp, next_sp, liquidity, True)
        if amount_in is None:
            msg = "TokenMaxExceeded: input above u64"
            raise _ClmmMathError(msg)
    else:
        amount_in = initial
    if not is_max:
        fee = amount_remaining - amount_in
    else:
        fee = _ceil_div(amount_in * fee_rate, CLMM_FEE_RATE_DEN - fee_rate)
    return ClmmStep(amount_in, amount_out, fee, next_sp)


def clmm_exact_in(amount_in: int, a_to_b: bool, sqrt_price_x64: int, tick_current: int, liquidity: int,
                  fee_rate: int, ticks: Sequence[tuple[int, int]], *,
                  sqrt_price_limit_x64: int | None = None) -> ClmmSwap:
    """Return an exact-in Orca Whirlpool swap, walking and crossing initialised ticks as the program does.

    Parameters
    ----------
    amount_in : int
        Input including the fee, base units of token A (``a_to_b``) or token B.
    a_to_b : bool
        True sells token A for token B (the price, B per A, falls).
    sqrt_price_x64, tick_current, liquidity : int
        Pool state: Q64.64 sqrt price, current tick, active liquidity (u128).
    fee_rate : int
        Fee in millionths (``Whirlpool.fee_rate``; 3000 = 0.3 %); static fee only.
    ticks : sequence of (tick_index, liquidity_net)
        The initialised ticks (any order). The program also stops, without changing liquidity,
        at the edge of each tick array; pass those edges with ``liquidity_net = 0`` to
        reproduce its per-step rounding to the base unit.
    sqrt_price_limit_x64 : int, optional
        Price at which to stop; default the minimum (a->b) or maximum (b->a) sqrt price.

    Returns
    -------
    ClmmSwap
        ``amount_in`` consumed (fee included; below the request when the limit is reached),
        ``amount_out``, ``fee``, and the pool's sqrt price, tick and liquidity after the swap.
    """
    amount = _check_amount("amount_in", amount_in)
    sp = _check_range("sqrt_price_x64", sqrt_price_x64, MIN_SQRT_PRICE_X64, MAX_SQRT_PRICE_X64,
                      "Whirlpool sqrt prices are Q64.64 between the min and max tick")
    tick = _check_range("tick_current", tick_current, MIN_TICK - 1, MAX_TICK, "Whirlpool tick range")
    liq = _check_range("liquidity", liquidity, 0, U128_MAX, "liquidity is a u128")
    fee_rate = _check_range("fee_rate", fee_rate, 0, CLMM_FEE_RATE_DEN - 1,
                            "fee_rate is in millionths and must be below 1,000,000 (100 %)")
    nets: dict[int, int] = {}
    for i, pair in enumerate(ticks):
        t = _check_range(f"ticks[{i}][0]", pair[0], MIN_TICK, MAX_TICK, "Whirlpool tick range")
        nets[t] = nets.get(t, 0) + _check_range(f"ticks[{i}][1]", pair[1], -(1 << 127), (1 << 127) - 1,
                                                 "liquidity_net is an i128")
    order = sorted(nets)
    if sqrt_price_limit_x64 is None:
        limit = MIN_SQRT_PRICE_X64 if a_to_b else MAX_SQRT_PRICE_X64
    else:
        limit = _check_range("sqrt_price_limit_x64", sqrt_price_limit_x64, MIN_SQRT_PRICE_X64,
                             MAX_SQRT_PRICE_X64, "Q64.64")
        if (a_to_b and limit > sp) or (not a_to_b and limit < sp):
            msg = (f"sqrt_price_limit_x64 must be {'below' if a_to_b else 'above'} the current price for "
                   f"a_to_b={a_to_b}, was {limit} with sqrt_price_x64={sp}")
            raise ValueError(msg)
    remaining, out, fee_sum = amount, 0, 0
    try:
        while remaining > 0 and sp != limit:
            if a_to_b:
                i = bisect.bisect_right(order, tick) - 1
                next_tick = order[i] if i >= 0 else MIN_TICK
            else:
                i = bisect.bisect_right(order, tick)
                next_tick = order[i] if i < len(order) else MAX_TICK
            next_tick_sp = sqrt_price_from_tick(next_tick)
            target = max(next_tick_sp, limit) if a_to_b else min(next_tick_sp, limit)
            step = _clmm_step(remaining, a_to_b, sp, target, liq, fee_rate)
            remaining -= step.amount_in + step.fee
            out += step.amount_out
            fee_sum += step.fee
            if step.sqrt_price_x64 == next_tick_sp:
                net = nets.get(next_tick, 0)
                liq = liq - net if a_to_b else liq + net
                if not 0 <= liq <= U128_MAX:
                    msg = f"LiquidityUnderflow/Overflow crossing tick {next_tick}"
                    raise _ClmmMathError(msg)
                tick = next_tick - 1 if a_to_b else next_tick
            elif step.sqrt_price_x64 != sp:
                tick = tick_from_sqrt_price(step.sqrt_price_x64)
            sp = step.sqrt_price_x64
    except _ClmmMathError as e:
        msg = (f"the Whirlpool program would fail this swap ({e}); amount_in={amount:,}, a_to_b={a_to_b}, "
               f"liquidity={liquidity:,}; Hint: check the tick list and liquidity")
        raise ValueError(msg) from e
    return ClmmSwap(amount - remaining, out, fee_sum, sp, tick, liq)
