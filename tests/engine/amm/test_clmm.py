"""Concentrated liquidity (Orca Whirlpool): tick math, steps, tick crossing, kernel vs exact twin."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.amm.clmm import clmm_swap_in_nb, sqrt_price_at_tick_nb
from engine.amm.exact import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK,
    MIN_SQRT_PRICE_X64,
    MIN_TICK,
    U64_MAX,
    clmm_exact_in,
    clmm_step_exact_in,
    sqrt_price_from_tick,
    tick_from_sqrt_price,
)
from tests.engine.amm.realdata import carbon_account
from tests.engine.amm.test_cpmm import magnitude

Q64 = 2.0**64
EMPTY_I = np.zeros(0, dtype=np.int32)
EMPTY_F = np.zeros(0, dtype=np.float64)


def float_swap(amount, a_to_b, sp_x64, tick, liq, fee_rate, ticks):
    idx = np.array(sorted(t for t, _ in ticks), dtype=np.int32)
    net = np.array([dict(ticks)[t] for t in idx], dtype=np.float64)
    return clmm_swap_in_nb(float(amount), a_to_b, sp_x64 / Q64, float(tick), float(liq), float(fee_rate), 1e6,
                           idx, net, 0, len(idx), math.nan)


def test_sqrt_price_from_tick_hits_the_program_bounds():
    # MIN/MAX_SQRT_PRICE_X64 are the program's published bounds (also the sqrt_price_limit values in
    # carbon's orca-whirlpool swap fixtures); our tick factors are derived, not copied
    assert sqrt_price_from_tick(MAX_TICK) == MAX_SQRT_PRICE_X64
    assert sqrt_price_from_tick(MIN_TICK) == MIN_SQRT_PRICE_X64
    assert sqrt_price_from_tick(0) == 1 << 64


@given(tick=st.integers(MIN_TICK, MAX_TICK))
def test_tick_from_sqrt_price_inverts_sqrt_price_from_tick(tick):
    sp = sqrt_price_from_tick(tick)
    assert tick_from_sqrt_price(sp) == tick
    if tick < MAX_TICK:
        assert sqrt_price_from_tick(tick + 1) > sp
        assert tick_from_sqrt_price(sqrt_price_from_tick(tick + 1) - 1) == tick
    # the program's Q64.64 value truncates up to 19 times (each step loses < 1 unit of 2**-64), so the
    # float 1.0001**(t/2) agrees within 1e-12 relative plus 20 units of 2**-64
    assert abs(sqrt_price_at_tick_nb(float(tick)) - sp / Q64) <= 1e-12 * sp / Q64 + 20 / Q64


def test_real_pool_accounts_have_the_tick_of_their_sqrt_price():
    # orca-whirlpool/whirlpool_account.json: disc(8) config(32) bump(1) tick_spacing u16 seed[2] fee_rate u16
    # protocol_fee_rate u16 liquidity u128 sqrt_price u128 tick_current i32 (values asserted in the fixture README)
    raw = carbon_account("orca-whirlpool/whirlpool_account.json")
    tick_spacing, _, fee_rate = struct.unpack_from("<HHH", raw, 41)
    liquidity = int.from_bytes(raw[49:65], "little")
    sqrt_price = int.from_bytes(raw[65:81], "little")
    (tick,) = struct.unpack_from("<i", raw, 81)
    assert (tick_spacing, fee_rate, liquidity, sqrt_price, tick) == (
        32896, 10000, 141421356, 1304381782533278221200000, 223338)
    assert tick_from_sqrt_price(sqrt_price) == tick
    # raydium-clmm/pool_state_account.json uses the same Q64.64 tick math: liquidity at 237, sqrt_price 253, tick 269
    raw = carbon_account("raydium-clmm/pool_state_account.json")
    sqrt_price = int.from_bytes(raw[253:269], "little")
    (tick,) = struct.unpack_from("<i", raw, 269)
    assert (sqrt_price, tick) == (647525941329892376628, 71168)
    assert tick_from_sqrt_price(sqrt_price) == tick


def whirlpool_fixture():
    """The real full-range (splash) Whirlpool and the liquidity_net of its lower tick from its tick array."""
    raw = carbon_account("orca-whirlpool/whirlpool_account.json")
    liquidity = int.from_bytes(raw[49:65], "little")
    sqrt_price = int.from_bytes(raw[65:81], "little")
    (tick,) = struct.unpack_from("<i", raw, 81)
    arr = carbon_account("orca-whirlpool/tick_array_account.json")
    (start,) = struct.unpack_from("<i", arr, 8)
    ticks = []
    for i in range(88):  # Tick: initialized(1) liquidity_net i128 liquidity_gross u128 + 5 u128 = 113 bytes
        off = 12 + i * 113
        if arr[off]:
            ticks.append((start + i * 32896, int.from_bytes(arr[off + 1:off + 17], "little", signed=True)))
    return sqrt_price, tick, liquidity, ticks


def test_whirlpool_fixture_swap_float_matches_exact():
    # Arrange: the lower tick (-427648, net +141421356) is in the fixture; the upper tick of a full-range
    # position mirrors it (+427648, net -141421356): the README says only ticks[75] is initialised, gross == net
    sp, tick, liq, ticks = whirlpool_fixture()
    assert ticks == [(-427648, 141421356)]
    ticks = [*ticks, (427648, -141421356)]
    for a_to_b, amount in [(True, 10_000), (True, 85_373_619), (False, 10**12), (False, 85_373_619 * 10**6)]:
        # Act
        exact = clmm_exact_in(amount, a_to_b, sp, tick, liq, 10_000, ticks)
        approx = float_swap(amount, a_to_b, sp, tick, liq, 10_000, ticks)
        # Assert: within the float/Q64 rounding bound (see test_clmm_float_within_one_tick...)
        assert abs(approx[1] - exact.amount_out) <= 1e-12 * exact.amount_out + liq / Q64 + 2
        assert approx[0] == exact.amount_in
        assert exact.liquidity == liq


@settings(deadline=None, max_examples=300)
@given(amount=magnitude(0, 12), tick=st.integers(-300_000, 300_000), liq=magnitude(6, 22, cap=2**128),
       a_to_b=st.booleans(), fee_rate=st.sampled_from([0, 100, 3000, 10_000, 60_000]))
def test_clmm_float_within_one_tick_matches_exact(amount, tick, liq, a_to_b, fee_rate):
    # Arrange: price somewhere inside [tick, tick + 1), initialised ticks far away
    sp = (sqrt_price_from_tick(tick) + sqrt_price_from_tick(tick + 1)) // 2
    ticks = [(tick - 20_000, 0), (tick + 20_000, 0)]
    try:
        exact = clmm_exact_in(amount, a_to_b, sp, tick, liq, fee_rate, ticks)
    except ValueError:  # the program fails it too (an amount above u64); the kernel's sentinel is tested below
        assume(False)
    assume(exact.amount_in == amount and exact.sqrt_price_x64 != sqrt_price_from_tick(tick + 20_000))
    assume(exact.sqrt_price_x64 != sqrt_price_from_tick(tick - 20_000))
    # Act
    approx = float_swap(amount, a_to_b, sp, tick, liq, fee_rate, ticks)
    # Assert. The bound this proves: the float kernel's relative error is a few ulps (no cancellation), while the
    # program rounds the new Q64.64 price by < 1 unit of 2**-64 (a->b: up; b->a: the price delta down), which moves
    # the output by < L / 2**64 of token B (a->b) or < L / (2**64 s s') of token A (b->a); the last floor adds 1.
    s0, s1 = sp / Q64, exact.sqrt_price_x64 / Q64
    price_rounding = liq / Q64 * (1.0 if a_to_b else 1.0 / (s0 * s1))
    assert abs(approx[1] - exact.amount_out) <= 1e-12 * exact.amount_out + price_rounding + 1
    assert abs(approx[3] - exact.sqrt_price_x64 / Q64) <= 1e-12 * exact.sqrt_price_x64 / Q64
    assert approx[0] == exact.amount_in


def walk_by_steps(amount, a_to_b, sp, tick, liq, fee_rate, ticks):
    """Independent oracle: walk the ticks with single steps and sum them."""
    nets = dict(ticks)
    order = sorted(nets, reverse=a_to_b)
    remaining, out, fee = amount, 0, 0
    for t in order:
        if (a_to_b and t > tick) or (not a_to_b and t <= tick):
            continue
        step = clmm_step_exact_in(remaining, a_to_b, sp, sqrt_price_from_tick(t), liq, fee_rate)
        remaining -= step.amount_in + step.fee
        out, fee, sp = out + step.amount_out, fee + step.fee, step.sqrt_price_x64
        if sp != sqrt_price_from_tick(t):
            break
        liq = liq - nets[t] if a_to_b else liq + nets[t]
        tick = t - 1 if a_to_b else t
        if remaining == 0:
            break
    return amount - remaining, out, fee, sp, liq


LADDER = [(-3000, 2 * 10**12), (-1000, 3 * 10**12), (-200, 5 * 10**12), (300, -5 * 10**12), (1500, -3 * 10**12),
          (4000, -2 * 10**12)]  # nested positions; active liquidity at tick 0 is 1e13


@pytest.mark.parametrize("a_to_b", [True, False])
@pytest.mark.parametrize("amount", [10**6, 10**9, 5 * 10**10, 2 * 10**11])
def test_clmm_swap_across_ticks_equals_the_sum_of_its_steps(a_to_b, amount):
    sp, tick, liq = sqrt_price_from_tick(0) + 12345, 0, 10**13
    swap = clmm_exact_in(amount, a_to_b, sp, tick, liq, 3000, LADDER)
    used, out, fee, sp_end, liq_end = walk_by_steps(amount, a_to_b, sp, tick, liq, 3000, LADDER)
    assert (swap.amount_in, swap.amount_out, swap.fee, swap.sqrt_price_x64, swap.liquidity) == (
        used, out, fee, sp_end, liq_end)
    # float kernel across ticks: each crossing costs ulp(s) / |s - s_tick| relative, so a looser bound
    approx = float_swap(amount, a_to_b, sp, tick, liq, 3000, LADDER)
    assert abs(approx[1] - swap.amount_out) <= 1e-9 * swap.amount_out + 2 * len(LADDER)
    assert approx[5] == swap.liquidity


def test_clmm_crossing_applies_liquidity_net_in_each_direction():
    sp, liq = sqrt_price_from_tick(0) + 1, 10**13
    # a -> b: cross -200 (net +5e12): liquidity falls to 5e12, tick lands at -201
    down = clmm_exact_in(2 * 10**11, True, sp, 0, liq, 3000, LADDER)
    assert down.sqrt_price_x64 < sqrt_price_from_tick(-200)
    assert down.liquidity == 5 * 10**12
    assert -1000 <= down.tick <= -201
    # b -> a: cross 300 (net -5e12): liquidity falls to 5e12
    up = clmm_exact_in(2 * 10**11, False, sp, 0, liq, 3000, LADDER)
    assert up.sqrt_price_x64 > sqrt_price_from_tick(300)
    assert up.liquidity == 5 * 10**12
    assert 300 <= up.tick < 1500
    # swapping back across the same tick restores the liquidity
    back = clmm_exact_in(up.amount_out, True, up.sqrt_price_x64, up.tick, up.liquidity, 3000, LADDER)
    assert back.liquidity == liq
    assert back.amount_out < up.amount_in  # a round trip never makes money


@pytest.mark.parametrize("a_to_b", [True, False])
def test_clmm_running_out_of_liquidity_consumes_less_than_requested(a_to_b):
    sp, liq = sqrt_price_from_tick(0), 10**12
    ticks = [(-100, 10**12), (100, -10**12)]  # one position on [-100, 100)
    swap = clmm_exact_in(U64_MAX // 2, a_to_b, sp, 0, liq, 3000, ticks)
    assert swap.amount_in < U64_MAX // 2
    assert swap.liquidity == 0
    assert swap.sqrt_price_x64 == (MIN_SQRT_PRICE_X64 if a_to_b else MAX_SQRT_PRICE_X64)
    # everything the position held on the far side came out, and no more
    edge = sqrt_price_from_tick(-100 if a_to_b else 100)
    whole = clmm_step_exact_in(U64_MAX // 2, a_to_b, sp, edge, liq, 3000)
    assert swap.amount_out == whole.amount_out
    assert swap.amount_in == whole.amount_in + whole.fee
    approx = float_swap(U64_MAX // 2, a_to_b, sp, 0, liq, 3000, ticks)
    assert abs(approx[0] - swap.amount_in) <= 1e-12 * swap.amount_in + 2
    assert abs(approx[1] - swap.amount_out) <= 1e-12 * swap.amount_out + 2


@settings(deadline=None, max_examples=100)
@given(amount=magnitude(0, 12), a_to_b=st.booleans())
def test_clmm_output_is_monotone_and_below_the_pool(amount, a_to_b):
    sp, liq = sqrt_price_from_tick(0) + 777, 10**13
    one = clmm_exact_in(amount, a_to_b, sp, 0, liq, 3000, LADDER)
    two = clmm_exact_in(amount + 1, a_to_b, sp, 0, liq, 3000, LADDER)
    assert two.amount_out >= one.amount_out
    assert one.amount_in <= amount
    # token held by the ladder on the output side is bounded by a full walk to the end
    full = clmm_exact_in(U64_MAX, a_to_b, sp, 0, liq, 3000, LADDER)
    assert one.amount_out <= full.amount_out


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"liquidity": -1}, "liquidity"),
        ({"amount_in": float("nan")}, "amount_in"),
        ({"amount_in": U64_MAX + 1}, "amount_in"),
        ({"fee_rate": 1_000_000}, "fee_rate"),
        ({"sqrt_price_x64": 0}, "sqrt_price_x64"),
        ({"ticks": [(0, 1.5)]}, "ticks"),
    ],
)
def test_clmm_exact_in_with_bad_input_raises_naming_the_argument(kwargs, name):
    args = {"amount_in": 10, "a_to_b": True, "sqrt_price_x64": 1 << 64, "tick_current": 0, "liquidity": 10**9,
            "fee_rate": 3000, "ticks": []} | kwargs
    with pytest.raises(ValueError, match=name):
        clmm_exact_in(**args)


def test_clmm_kernel_with_output_above_u64_returns_nan():
    res = clmm_swap_in_nb(1e7, True, sqrt_price_from_tick(300_000) / Q64, 300_000.0, 1e23, 0.0, 1e6,
                          EMPTY_I, EMPTY_F, 0, 0, math.nan)
    assert all(math.isnan(x) for x in res)


@pytest.mark.parametrize(
    ("amount", "sp", "liq", "fee_num"),
    [(math.nan, 1.0, 1e9, 3000.0), (-1.0, 1.0, 1e9, 3000.0), (1e20, 1.0, 1e9, 3000.0), (1.0, 0.0, 1e9, 3000.0),
     (1.0, 1.0, -1.0, 3000.0), (1.0, 1.0, 1e9, 1e6), (1.0, math.nan, 1e9, 3000.0)],
)
def test_clmm_kernel_with_bad_input_returns_nan(amount, sp, liq, fee_num):
    res = clmm_swap_in_nb(amount, True, sp, 0.0, liq, fee_num, 1e6, EMPTY_I, EMPTY_F, 0, 0, math.nan)
    assert all(math.isnan(x) for x in res)
