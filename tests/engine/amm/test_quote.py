"""Pool-kind dispatch over the state layout, and the kernel-module import rule (STYLE 2.2)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from engine.amm import state as S
from engine.amm.exact import clmm_exact_in, cpmm_exact_in, curve_sell_proceeds, curve_tokens_for_sol
from engine.amm.quote import quote_nb, swap_nb
from engine.layout import PoolKind, Side

SP0 = (1 << 64) + 123_456_789
TICKS = [(-500, 10**12), (500, -10**12)]


def market():
    states = S.empty_states(3)
    S.set_cpmm(states, 0, reserve_base_raw=4e12, reserve_quote_raw=1e12, fee_num=25.0, fee_den=1e4)
    S.set_curve(states, 1, virtual_token_raw=8e14, virtual_sol_raw=4e10, real_token_raw=5.2e14, real_sol_raw=1e10,
                fee_bps=100.0)
    tick_index, tick_net, starts = S.build_tick_table([TICKS])
    S.set_clmm(states, 2, sqrt_price_x64=SP0, tick=0, liquidity=10**12, fee_rate=3000, base_is_a=True,
               tick_start=int(starts[0]), tick_count=len(TICKS))
    return states, tick_index, tick_net


def test_layout_constants_agree_with_engine_layout():
    assert (S.KIND_CPMM, S.KIND_CLMM, S.KIND_CURVE) == (PoolKind.CPMM, PoolKind.CLMM, PoolKind.CURVE)
    assert (S.SIDE_BUY, S.SIDE_SELL) == (Side.BUY, Side.SELL)
    cols = [getattr(S, n) for n in dir(S) if n.startswith("COL_")]
    assert sorted(cols) == list(range(S.N_STATE_COLS))


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_quote_nb_dispatches_to_the_exact_twin_of_each_kind(side):
    states, ti, tn = market()
    amount = 10**9
    # CPMM: BUY = quote in (reserve 1e12), base out (4e12)
    r_in, r_out = (10**12, 4 * 10**12) if side == Side.BUY else (4 * 10**12, 10**12)
    assert quote_nb(0, states[0], side, float(amount), ti, tn) == cpmm_exact_in(amount, r_in, r_out, 25, 10_000).amount
    # curve: BUY = SOL in, tokens out; SELL = tokens in, net SOL out
    got = quote_nb(2, states[1], side, float(amount), ti, tn)
    if side == Side.BUY:
        assert got == curve_tokens_for_sol(amount, 4 * 10**10, 8 * 10**14, 100, creator_fee_bps=0).token_amount
    else:
        sell = curve_sell_proceeds(amount, 4 * 10**10, 8 * 10**14, 100, creator_fee_bps=0)
        assert got == sell.sol_amount - sell.fee
    # CLMM with base = token A: SELL is a -> b
    exact = clmm_exact_in(amount, side == Side.SELL, SP0, 0, 10**12, 3000, TICKS)
    got = quote_nb(1, states[2], side, float(amount), ti, tn)
    assert abs(got - exact.amount_out) <= 1e-12 * exact.amount_out + 2


def test_quote_nb_caps_a_curve_buy_at_the_real_token_reserves():
    states, ti, tn = market()
    assert quote_nb(2, states[1], Side.BUY, 1e15, ti, tn) == 5.2e14


@pytest.mark.parametrize("pool", [0, 1, 2])
def test_swap_nb_moves_the_pool_so_the_next_quote_is_worse(pool):
    states, ti, tn = market()
    kind = int(states[pool, S.COL_KIND])
    first = quote_nb(kind, states[pool], Side.BUY, 1e9, ti, tn)
    out = swap_nb(states[pool], Side.BUY, 1e9, ti, tn)
    assert out == first
    assert quote_nb(kind, states[pool], Side.BUY, 1e9, ti, tn) < first


def test_swap_nb_on_clmm_writes_the_exact_twins_state():
    states, ti, tn = market()
    swap_nb(states[2], Side.SELL, 5e10, ti, tn)  # crosses tick -500 (liquidity net +1e12 -> 0)
    exact = clmm_exact_in(5 * 10**10, True, SP0, 0, 10**12, 3000, TICKS)
    assert states[2, S.COL_LIQUIDITY] == exact.liquidity == 0
    assert abs(states[2, S.COL_SQRT_PRICE] - exact.sqrt_price_x64 / 2.0**64) <= 1e-12 * states[2, S.COL_SQRT_PRICE]


@pytest.mark.parametrize(("kind", "side"), [(0, 5), (7, 0), (0, -1)])
def test_quote_nb_with_bad_kind_or_side_returns_nan(kind, side):
    states, ti, tn = market()
    assert math.isnan(quote_nb(kind, states[0], side, 1e9, ti, tn))


def test_swap_nb_with_bad_amount_returns_nan_and_leaves_the_row():
    states, ti, tn = market()
    before = states.copy()
    assert math.isnan(swap_nb(states[0], Side.BUY, math.nan, ti, tn))
    assert np.array_equal(states, before)


KERNEL_MODULES = ["engine.amm.cpmm", "engine.amm.curve", "engine.amm.clmm", "engine.amm.state", "engine.amm.quote",
                  "engine.amm.arb"]


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_kernel_module_imports_no_dataframe_or_network_library(module):
    code = (f"import sys, {module}; bad = [m for m in ('polars', 'duckdb', 'pyarrow', 'solana', 'pandas') "
            "if m in sys.modules]; print(','.join(bad))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""
