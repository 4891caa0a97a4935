"""Pump.fun bonding curve: constants from the Global fixture, kernels vs exact twins, real trades."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.amm import curve
from engine.amm.curve import curve_buy_cost_nb, curve_sol_out_nb, curve_tokens_out_nb
from engine.amm.exact import U64_MAX, curve_buy_cost, curve_sell_proceeds, curve_tokens_for_sol
from tests.engine.amm.realdata import (
    PUMP_PROGRAM,
    carbon_account,
    instructions_of,
    load_tx,
    pump_trades,
    token_balances,
)
from tests.engine.amm.test_cpmm import ULP_BOUND, magnitude, near_integer

VIRTUAL_SOL = st.one_of(magnitude(9, 12), st.integers(U64_MAX - 10**6, U64_MAX))
VIRTUAL_TOKEN = st.one_of(magnitude(12, 16), st.integers(U64_MAX - 10**6, U64_MAX))
AMOUNTS = magnitude(0, 12)


def test_global_account_fixture_confirms_the_launch_constants():
    # pumpfun/global_account.json, IDL order: disc(8) initialized(1) authority(32) fee_recipient(32)
    # initial_virtual_token, initial_virtual_sol, initial_real_token, token_total_supply, fee_basis_points (u64),
    # withdraw_authority(32) enable_migrate(1) pool_migration_fee u64, creator_fee_basis_points u64
    raw = carbon_account("pumpfun/global_account.json")
    vt, vs, rt, supply, fee_bps = struct.unpack_from("<5Q", raw, 8 + 1 + 64)
    _, creator_bps = struct.unpack_from("<QQ", raw, 8 + 1 + 64 + 40 + 32 + 1)
    assert (vt, vs, rt, supply) == (curve.INITIAL_VIRTUAL_TOKEN_RAW, curve.INITIAL_VIRTUAL_SOL_RAW,
                                    curve.INITIAL_REAL_TOKEN_RAW, curve.TOKEN_TOTAL_SUPPLY_RAW)
    assert (fee_bps, creator_bps) == (curve.PROTOCOL_FEE_BPS, curve.CREATOR_FEE_BPS)


def test_bonding_curve_fixture_is_consistent_with_the_launch_constants():
    # pumpfun/bonding_curve_account.json: a curve just after one small buy
    vt, vs, rt, rs, supply = struct.unpack_from("<5Q", carbon_account("pumpfun/bonding_curve_account.json"), 8)
    assert vt - rt == curve.COMPLETE_VIRTUAL_TOKEN_RAW  # virtual - real token offset is fixed at launch
    assert vs - rs == curve.INITIAL_VIRTUAL_SOL_RAW
    assert supply == curve.TOKEN_TOTAL_SUPPLY_RAW
    assert vs * vt >= curve.INITIAL_VIRTUAL_SOL_RAW * curve.INITIAL_VIRTUAL_TOKEN_RAW  # k grows by rounding only


def test_completion_threshold_is_about_85_sol_raised():
    # buying every real token of a fresh curve ends at COMPLETE_VIRTUAL_TOKEN_RAW virtual tokens
    cost = curve_buy_cost(curve.INITIAL_REAL_TOKEN_RAW, curve.INITIAL_VIRTUAL_SOL_RAW, curve.INITIAL_VIRTUAL_TOKEN_RAW)
    # floor(x) + 1 == ceil(x) for a non-integer x: the buy lands exactly on ceil(k / complete virtual tokens)
    assert curve.INITIAL_VIRTUAL_SOL_RAW + cost.sol_amount == curve.COMPLETE_VIRTUAL_SOL_RAW
    assert 85.0e9 < cost.sol_amount < 85.01e9


@settings(deadline=None, max_examples=300)
@given(token_out=AMOUNTS, vs=VIRTUAL_SOL, vt=VIRTUAL_TOKEN, fee_bps=st.sampled_from([0, 95, 100, 125]))
def test_curve_buy_cost_nb_matches_exact_within_1e12(token_out, vs, vt, fee_bps):
    assume(token_out < vt)
    exact = curve_buy_cost(token_out, vs, vt, fee_bps, creator_fee_bps=0)
    approx = curve_buy_cost_nb(float(token_out), float(vs), float(vt), float(fee_bps))
    total = exact.sol_amount + exact.fee
    base_q = Fraction(token_out * vs, vt - token_out)
    if near_integer(base_q) or near_integer(Fraction(exact.sol_amount * fee_bps, 10_000)) or max(vs, vt) > 2**53:
        assert abs(approx - total) <= max(1e-12 * total, 2.0 + 8 * ULP_BOUND * total)
    else:
        assert approx == total


@settings(deadline=None, max_examples=300)
@given(token_in=AMOUNTS, vs=VIRTUAL_SOL, vt=VIRTUAL_TOKEN, fee_bps=st.sampled_from([0, 95, 100, 125]))
def test_curve_sol_out_nb_matches_exact_within_1e12(token_in, vs, vt, fee_bps):
    exact = curve_sell_proceeds(token_in, vs, vt, fee_bps, creator_fee_bps=0)
    approx = curve_sol_out_nb(float(token_in), float(vs), float(vt), float(fee_bps))
    net = exact.sol_amount - exact.fee
    gross_q = Fraction(token_in * vs, vt + token_in)
    if near_integer(gross_q) or near_integer(Fraction(exact.sol_amount * fee_bps, 10_000)) or max(vs, vt) > 2**53:
        assert abs(approx - net) <= max(1e-12 * net, 2.0 + 8 * ULP_BOUND * net)
    else:
        assert approx == net


@settings(deadline=None, max_examples=300)
@given(sol_in=AMOUNTS, vs=VIRTUAL_SOL, vt=VIRTUAL_TOKEN, fee_bps=st.sampled_from([0, 95, 100]))
def test_curve_tokens_out_nb_matches_exact_within_1e12(sol_in, vs, vt, fee_bps):
    exact = curve_tokens_for_sol(sol_in, vs, vt, fee_bps, creator_fee_bps=0).token_amount
    approx = curve_tokens_out_nb(float(sol_in), float(vs), float(vt), float(fee_bps))
    net_q = Fraction(sol_in * 10_000, 10_000 + fee_bps)
    net = math.floor(net_q)
    out_q = Fraction(net * vt, vs + net)
    if near_integer(net_q) or near_integer(out_q) or max(vs, vt) > 2**53:
        assert abs(approx - exact) <= max(1e-12 * exact, 1.0 + 8 * ULP_BOUND * float(out_q) + float(vt) / (vs + net))
    else:
        assert approx == exact


@settings(deadline=None, max_examples=200)
@given(token=AMOUNTS, vs=magnitude(9, 12), vt=magnitude(12, 16))
def test_curve_invariants(token, vs, vt):
    assume(token < vt)
    buy = curve_buy_cost(token, vs, vt)
    assert buy.sol_amount * (vt - token) >= token * vs  # the curve is paid at least its k-preserving price
    assert (vs + buy.sol_amount) * (vt - token) >= vs * vt  # k never decreases
    # a round trip never makes money: buy `token`, sell it back on the moved curve
    back = curve_sell_proceeds(token, vs + buy.sol_amount, vt - token)
    assert back.sol_amount - back.fee <= buy.sol_amount + buy.fee
    # selling: the output is strictly below the SOL reserve and monotone in the input
    sell = curve_sell_proceeds(token, vs, vt)
    assert sell.sol_amount < vs
    assert curve_sell_proceeds(token + 1, vs, vt).sol_amount >= sell.sol_amount
    # exact-out (buy cost) then exact-in (tokens for that SOL) buys at least the tokens, as the SDK sizes it
    got = curve_tokens_for_sol(buy.sol_amount + buy.fee, vs, vt, 100, creator_fee_bps=0)
    assert got.token_amount >= token - 1 - token // 10**6  # fee gross-up rounding: within 1 ppm + 1 unit


# Real trades. Each Pump.fun TradeEvent reports sol_amount, token_amount and the virtual
# reserves *after* the trade; the reserves before it are after -/+ the amounts. For the first
# trade of each transaction the test also rebuilds them independently from the balances: the
# curve's token account holds real tokens + (total supply - initial real tokens), so
# virtual_token = balance + 73,000,000 tokens; virtual_sol = lamports - rent + 30 SOL.
PUMP_TXS = [
    # file, signature prefix, 2024 rule (1 % floor) or 2025 rule (ceil), fee asserted by the source / README
    ("pumpfun_buy_0.json", "4U8kypMu", False, [30_000_000]),
    ("pumpfun_buy_bundle.json", "JBnrBbgq", False, [3_861_002, 3_868_207, 3_937_942, None]),
    ("pumpfun_sell_0.json", "3bYXWjjN", False, [374_372_839]),
    ("photon_pumpfun_buy_0.json", "628Q5CDN", False, [3_920_792]),
    ("photon_pumpfun_sell.json", "5KEMtQuv", True, [16_678_034]),
]
# virtual - real = 279.9e6 tokens and balance - real = 206.9e6 tokens, so virtual = balance + 73e6 tokens
TOKEN_ACCOUNT_OFFSET_RAW = curve.INITIAL_VIRTUAL_TOKEN_RAW - curve.TOKEN_TOTAL_SUPPLY_RAW


@pytest.mark.parametrize(("name", "sig", "round_up", "fees"), PUMP_TXS)
def test_curve_exact_reproduces_pumpfun_trades(name, sig, round_up, fees):
    tx = load_tx(name)
    assert tx["transaction"]["signatures"][0].startswith(sig)
    trades = pump_trades(tx)
    assert len(trades) == len(fees)
    # independent reconstruction of the first trade's pre-state from the token balances
    accounts = instructions_of(tx, PUMP_PROGRAM)[0]
    pre_tokens, _ = token_balances(tx)
    vt_from_balance = pre_tokens[accounts[4]] + TOKEN_ACCOUNT_OFFSET_RAW
    first = trades[0]
    vt_first = first.virtual_token_after + first.token_amount if first.is_buy else (
        first.virtual_token_after - first.token_amount)
    assert vt_from_balance == vt_first
    for trade, fee in zip(trades, fees, strict=True):
        if trade.is_buy:
            vs, vt = trade.virtual_sol_after - trade.sol_amount, trade.virtual_token_after + trade.token_amount
            got = curve_buy_cost(trade.token_amount, vs, vt, 100, creator_fee_bps=0, fee_round_up=round_up)
        else:
            vs, vt = trade.virtual_sol_after + trade.sol_amount, trade.virtual_token_after - trade.token_amount
            got = curve_sell_proceeds(trade.token_amount, vs, vt, 100, creator_fee_bps=0, fee_round_up=round_up)
        assert got.sol_amount == trade.sol_amount
        if fee is not None:
            assert got.fee == fee


def test_curve_fee_rounding_changed_between_2024_and_2025():
    # pumpfun_sell_0 (slot 278,536,429): 1 % of 37,437,283,903 = 374,372,839.03 was charged 374,372,839;
    # photon_pumpfun_sell (slot 330,900,240): 1 % of 1,667,803,326 = 16,678,033.26 was charged 16,678,034.
    assert curve_sell_proceeds(592443959000000, 30112848041 + 37437283903, 1068978927601996 - 592443959000000,
                               100, creator_fee_bps=0, fee_round_up=False).fee == 374_372_839
    assert curve_sell_proceeds(50287397622085, 31850814765 + 1667803326, 1010649186530851 - 50287397622085,
                               100, creator_fee_bps=0, fee_round_up=True).fee == 16_678_034


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"virtual_sol": 0}, "virtual_sol"),
        ({"virtual_token": -1}, "virtual_token"),
        ({"token_out": float("nan")}, "token_out"),
        ({"token_out": U64_MAX + 1}, "token_out"),
        ({"fee_bps": 10_000}, "fee_bps"),
        ({"fee_bps": 9_999, "creator_fee_bps": 1}, "fee_bps"),
    ],
)
def test_curve_buy_cost_with_bad_input_raises_naming_the_argument(kwargs, name):
    args = {"token_out": 10, "virtual_sol": 10**10, "virtual_token": 10**15} | kwargs
    with pytest.raises(ValueError, match=name):
        curve_buy_cost(**args)


@pytest.mark.parametrize("fn", [curve_buy_cost_nb, curve_sol_out_nb, curve_tokens_out_nb])
@pytest.mark.parametrize(
    "args",
    [(1e6, 0.0, 1e15, 100.0), (1e6, 3e10, -1.0, 100.0), (math.nan, 3e10, 1e15, 100.0), (-1.0, 3e10, 1e15, 100.0),
     (1e20, 3e10, 1e15, 100.0), (1e6, 3e10, 1e15, 1e4), (1e6, 3e10, 1e15, math.nan)],
)
def test_curve_kernels_with_bad_input_return_nan(fn, args):
    assert math.isnan(fn(*args))


def test_curve_buy_cost_nb_beyond_the_reserve_returns_inf():
    assert curve_buy_cost_nb(1e15, 3e10, 1e15, 100.0) == math.inf
