"""Constant product: float kernels vs exact twins, invariants, bad input, real Raydium swaps."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.amm.cpmm import cpmm_in_nb, cpmm_out_nb
from engine.amm.exact import U64_MAX, cpmm_exact_in, cpmm_exact_out, cpmm_reserves_after
from tests.engine.amm.realdata import RAYDIUM_AMM_V4, RAYDIUM_CPMM, instructions_of, load_tx, token_balances


def magnitude(lo_exp: int, hi_exp: int, cap: int = U64_MAX) -> st.SearchStrategy[int]:
    """Integers spread evenly over orders of magnitude 10**lo_exp .. 10**hi_exp (capped at ``cap``)."""
    return st.integers(lo_exp, hi_exp).flatmap(lambda e: st.integers(10**e, min(10 ** (e + 1) - 1, cap)))


RESERVES = st.one_of(magnitude(3, 19), st.integers(U64_MAX - 10**6, U64_MAX))  # incl. near u64
AMOUNTS = magnitude(0, 12)  # 12 orders of magnitude of input
FEES = st.sampled_from([(25, 10_000), (0, 10_000), (2_500, 1_000_000), (100, 1_000_000), (40_000, 1_000_000)])

# Bound the float kernels prove (and the tests check): every float op rounds once (relative
# error <= 2**-53), so the pre-rounding float value r~ of a floor/ceil stage satisfies
# |r~ - r| <= 4 * 2**-53 * r. floor(r~) != floor(r) only when r lies within that distance of an
# integer; away from such boundaries the kernel equals the exact twin.
ULP_BOUND = 4 * 2.0**-53


def near_integer(q: Fraction) -> bool:
    """Return True when the exact rational q lies within the float error bound of an integer."""
    return abs(q - round(q)) <= ULP_BOUND * max(abs(q), 1) * 2


def assert_rel(approx: float, exact: int) -> None:
    assert abs(approx - exact) <= 1e-12 * abs(exact), (approx, exact)


@settings(deadline=None, max_examples=300)
@given(amount_in=AMOUNTS, reserve_in=RESERVES, reserve_out=RESERVES, fee=FEES)
def test_cpmm_out_nb_matches_exact_in_within_1e12(amount_in, reserve_in, reserve_out, fee):
    fee_num, fee_den = fee
    exact = cpmm_exact_in(amount_in, reserve_in, reserve_out, fee_num, fee_den).amount_out
    approx = cpmm_out_nb(float(amount_in), float(reserve_in), float(reserve_out), float(fee_num), float(fee_den))
    fee_q = Fraction(amount_in * fee_num, fee_den)
    net = amount_in - math.ceil(fee_q)
    out_q = Fraction(reserve_out * net, reserve_in + net)
    # reserves above 2**53 are not exact in float64: the kernel sees them rounded by <= 2**-53 relative
    if near_integer(fee_q) or near_integer(out_q) or max(reserve_in, reserve_out) > 2**53:
        assert abs(approx - exact) <= max(1e-12 * exact, 1.0 + 8 * ULP_BOUND * float(out_q))
    else:
        assert approx == exact


@settings(deadline=None, max_examples=300)
@given(amount_out=AMOUNTS, reserve_in=RESERVES, reserve_out=RESERVES, fee=FEES)
def test_cpmm_in_nb_matches_exact_out_within_1e12(amount_out, reserve_in, reserve_out, fee):
    assume(amount_out < reserve_out)
    fee_num, fee_den = fee
    exact = cpmm_exact_out(amount_out, reserve_in, reserve_out, fee_num, fee_den).amount_in
    approx = cpmm_in_nb(float(amount_out), float(reserve_in), float(reserve_out), float(fee_num), float(fee_den))
    before_q = Fraction(reserve_in * amount_out, reserve_out - amount_out)
    in_q = Fraction(math.ceil(before_q) * fee_den, fee_den - fee_num)
    if near_integer(before_q) or near_integer(in_q) or max(reserve_in, reserve_out) > 2**53:
        # the curve input's ceil may move by one unit, which the fee gross-up scales by fee_den / (fee_den - fee_num)
        assert abs(approx - exact) <= max(1e-12 * exact, 3.0 + 8 * ULP_BOUND * float(in_q))
    else:
        assert approx == exact


@settings(deadline=None, max_examples=200)
@given(amount_in=AMOUNTS, reserve_in=RESERVES, reserve_out=RESERVES, fee=FEES)
def test_cpmm_exact_in_invariants(amount_in, reserve_in, reserve_out, fee):
    fee_num, fee_den = fee
    assume(reserve_in + amount_in + 1 <= U64_MAX)  # else the vault would overflow and the program fails
    # Act
    swap = cpmm_exact_in(amount_in, reserve_in, reserve_out, fee_num, fee_den)
    more = cpmm_exact_in(min(amount_in + 1, U64_MAX), reserve_in, reserve_out, fee_num, fee_den)
    after = cpmm_reserves_after(amount_in, swap.amount_out, reserve_in, reserve_out)
    back = cpmm_exact_in(swap.amount_out, after.reserve_out, after.reserve_in, fee_num, fee_den)
    # Assert
    assert 0 <= swap.amount_out < reserve_out  # strictly below the output reserve
    assert more.amount_out >= swap.amount_out  # monotone in the input
    assert after.reserve_in * after.reserve_out >= reserve_in * reserve_out  # k never decreases
    assert back.amount_out <= amount_in  # a round trip never makes money
    assert swap.fee * fee_den >= amount_in * fee_num  # the fee is rounded up


@settings(deadline=None, max_examples=200)
@given(amount_out=AMOUNTS, reserve_in=RESERVES, reserve_out=RESERVES, fee=FEES)
def test_cpmm_exact_out_then_exact_in_delivers_at_least_the_output(amount_out, reserve_in, reserve_out, fee):
    assume(amount_out < reserve_out)
    fee_num, fee_den = fee
    need = cpmm_exact_out(amount_out, reserve_in, reserve_out, fee_num, fee_den)
    assume(need.amount_in <= U64_MAX)
    got = cpmm_exact_in(need.amount_in, reserve_in, reserve_out, fee_num, fee_den)
    assert got.amount_out >= amount_out
    if need.amount_in > 0:  # and one unit less buys no more than the output asked for
        less = cpmm_exact_in(need.amount_in - 1, reserve_in, reserve_out, fee_num, fee_den)
        assert less.amount_out <= amount_out


def test_cpmm_exact_in_hand_computed_case():
    # 1,000,000 in, 0.25 % fee -> fee 2,500, net 997,500; out = floor(1.995e15 / 1,000,997,500) = floor(1,993,011.98)
    swap = cpmm_exact_in(1_000_000, 10**9, 2 * 10**9, 25, 10_000)
    assert swap == (1_993_011, 2_500)
    assert cpmm_exact_in(1, 10**9, 10**9, 25, 10_000) == (0, 1)  # a 1-unit input is all fee


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"reserve_in": 0}, "reserve_in"),
        ({"reserve_out": -5}, "reserve_out"),
        ({"amount_in": float("nan")}, "amount_in"),
        ({"amount_in": U64_MAX + 1}, "amount_in"),
        ({"fee_num": 10_000}, "fee_num"),
        ({"fee_den": 0}, "fee_den"),
    ],
)
def test_cpmm_exact_in_with_bad_input_raises_naming_the_argument(kwargs, name):
    args = {"amount_in": 10, "reserve_in": 100, "reserve_out": 100, "fee_num": 25, "fee_den": 10_000} | kwargs
    with pytest.raises(ValueError, match=name):
        cpmm_exact_in(**args)


def test_cpmm_exact_out_of_the_whole_reserve_raises():
    with pytest.raises(ValueError, match="amount_out"):
        cpmm_exact_out(100, 100, 100, 25, 10_000)


@pytest.mark.parametrize(
    "args",
    [
        (10.0, 0.0, 100.0, 25.0, 1e4),
        (10.0, 100.0, -1.0, 25.0, 1e4),
        (math.nan, 100.0, 100.0, 25.0, 1e4),
        (-1.0, 100.0, 100.0, 25.0, 1e4),
        (1e20, 100.0, 100.0, 25.0, 1e4),
        (10.0, 100.0, 100.0, 1e4, 1e4),
        (10.0, 100.0, 100.0, 25.0, math.nan),
    ],
)
def test_cpmm_kernels_with_bad_input_return_nan(args):
    assert math.isnan(cpmm_out_nb(*args))
    assert math.isnan(cpmm_in_nb(*args))


def test_cpmm_in_nb_for_the_whole_reserve_returns_inf():
    assert cpmm_in_nb(100.0, 100.0, 100.0, 25.0, 1e4) == math.inf


# Real swaps: Raydium AMM v4 reserves are vault balances minus the pool's need_take_pnl_*,
# which a transaction does not show. The pre-swap vault balances (preTokenBalances of the
# pool's coin/pc vaults) reproduce every output below to the base unit, so the pending PnL of
# these pools was zero or too small to move the floor.
AMM_V4_SWAPS = [
    # (file, signature prefix, expected amount in, expected amount out) from the vault deltas
    ("raydiumLiquidityPoolV4_swap_0.json", "3aQZsNRU", 836112233953, 352936256),
    ("raydiumLiquidityPoolV4_swap_2.json", "2XgzfkWe", 22254340082, 2615124),
    ("OKXDEX_commissionSplProxySwap.json", "3p36wGRa", 1154100000, 6373264828),
    ("OKXDEX_swap_2.json", "3zSKxVAH", 58882325154, 1173873),
    ("jupiterAggregatorV6_Route_1.json", "2NPwsoX7", 400000000, 3861519639304),
]


@pytest.mark.parametrize(("name", "sig", "amount_in", "amount_out"), AMM_V4_SWAPS)
def test_cpmm_exact_in_reproduces_raydium_amm_v4_swaps(name, sig, amount_in, amount_out):
    # Arrange: the AMM v4 swap instruction's coin/pc vaults (18 accounts: 5, 6; 17 accounts: 4, 5)
    tx = load_tx(name)
    assert tx["transaction"]["signatures"][0].startswith(sig)
    (accounts,) = instructions_of(tx, RAYDIUM_AMM_V4)
    coin, pc = (accounts[5], accounts[6]) if len(accounts) == 18 else (accounts[4], accounts[5])
    pre, post = token_balances(tx)
    d_coin, d_pc = post[coin] - pre[coin], post[pc] - pre[pc]
    vault_in, vault_out = (pre[coin], pre[pc]) if d_coin > 0 else (pre[pc], pre[coin])
    observed_in, observed_out = max(d_coin, d_pc), -min(d_coin, d_pc)
    assert (observed_in, observed_out) == (amount_in, amount_out)
    # Act
    swap = cpmm_exact_in(observed_in, vault_in, vault_out, 25, 10_000)
    # Assert
    assert swap.amount_out == observed_out
    assert cpmm_out_nb(float(observed_in), float(vault_in), float(vault_out), 25.0, 1e4) == observed_out


def test_cpmm_exact_in_reproduces_the_raydium_cpmm_hop_of_okx_swap_0():
    # OKXDEX_swap_0.json (2bhr1FWq...): the CPMM hop moves 344,448 in and 15,742 out of its vaults.
    # The AmmConfig is not in the transaction; the 0.25 % tier (trade_fee_rate 2,500 / 1e6) is the one
    # that reproduces the output (1,000 gives 15,766 and 3,000 gives 15,734). Fees owed (protocol, fund)
    # are not visible either; at this size they cannot move the result.
    tx = load_tx("OKXDEX_swap_0.json")
    (accounts,) = instructions_of(tx, RAYDIUM_CPMM)
    pre, post = token_balances(tx)
    vault_in, vault_out = accounts[6], accounts[7]
    amount_in = post[vault_in] - pre[vault_in]
    amount_out = pre[vault_out] - post[vault_out]
    assert (amount_in, amount_out) == (344_448, 15_742)
    assert cpmm_exact_in(amount_in, pre[vault_in], pre[vault_out], 2_500, 1_000_000).amount_out == amount_out
