"""Every real swap instruction of the fixtures, rebuilt by our builders: identical bytes and metas."""

from __future__ import annotations

import struct

import pytest
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from engine.exec.live.builders import (
    AMM_V4_AUTHORITY,
    CPMM_AUTHORITY,
    AmmV4Keys,
    CpmmKeys,
    PumpfunEra,
    PumpfunKeys,
    WhirlpoolKeys,
    associated_token_address,
    compute_unit_limit,
    compute_unit_price,
    cpmm_observation_address,
    orca_whirlpool_swap,
    pk,
    pumpfun_buy,
    pumpfun_keys,
    pumpfun_sell,
    raydium_amm_v4_swap_base_in,
    raydium_cpmm_swap_base_input,
    whirlpool_tick_array_starts,
)
from engine.feeds.programs import ORCA_WHIRLPOOL, PUMPFUN, RAYDIUM_AMM_V4, RAYDIUM_CPMM, anchor_discriminator
from tests.engine.exec.live.fixtures import CARBON, FixtureIx, all_transaction_instructions, carbon_instruction

TX_IXS = all_transaction_instructions()
BUY, SELL = anchor_discriminator("buy"), anchor_discriminator("sell")
RENT = "SysvarRent111111111111111111111111111111111"
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"


def _swaps(program: str, prefix: bytes) -> list[FixtureIx]:
    return [ix for ix in TX_IXS if ix.program == program and ix.data.startswith(prefix)]


AMM_V4 = _swaps(RAYDIUM_AMM_V4, b"\x09")
CPMM = _swaps(RAYDIUM_CPMM, anchor_discriminator("swap_base_input"))
PUMP_BUYS = [ix for ix in _swaps(PUMPFUN, BUY) if len(ix.accounts) >= 12]
PUMP_SELLS = [ix for ix in _swaps(PUMPFUN, SELL) if len(ix.accounts) >= 12]


def assert_same(ours: Instruction, fx: FixtureIx) -> None:
    """Data bytes and pubkeys equal; signer and writable flags equal where the fixture can show them.

    A compiled transaction merges each account's flags over all its instructions (the fee payer
    is a writable signer everywhere). So a flag of ours must equal the fixture's, unless the
    fixture's is raised and the account is the payer or named by another top-level instruction.
    An inner (CPI) instruction may be signed by a router's PDA through ``invoke_signed``, which
    the transaction does not list; it cannot gain a write lock the transaction lacks.
    """
    assert str(ours.program_id) == fx.program
    assert bytes(ours.data) == fx.data, fx.source
    assert len(ours.accounts) == len(fx.accounts), fx.source
    for i, (meta, (key, signer, writable)) in enumerate(zip(ours.accounts, fx.accounts, strict=True)):
        where = (fx.source, i, key)
        assert str(meta.pubkey) == key, where
        assert writable or not meta.is_writable, where
        if fx.inner:
            assert signer or not meta.is_signer or not pk(key).is_on_curve(), where
            continue
        raised_elsewhere = key in fx.others
        assert meta.is_signer == signer or (signer and raised_elsewhere), where
        assert meta.is_writable == writable or (writable and raised_elsewhere), where


def test_fixtures_hold_every_swap_kind_we_build() -> None:
    assert len(AMM_V4) == 5
    assert len(CPMM) == 1
    assert len(PUMP_BUYS) == 7
    assert len(PUMP_SELLS) == 2


@pytest.mark.parametrize("fx", AMM_V4, ids=lambda f: f.source)
def test_raydium_amm_v4_swap_base_in_rebuilds_fixture(fx: FixtureIx) -> None:
    # Arrange
    a = [k for k, _, _ in fx.accounts]
    tag, amount_in, min_out = struct.unpack("<BQQ", fx.data)
    target = a[4] if len(a) == 18 else None
    m = a[5:] if len(a) == 18 else a[4:]
    keys = AmmV4Keys(amm=a[1], authority=a[2], open_orders=a[3], target_orders=target, coin_vault=m[0],
                     pc_vault=m[1], market_program=m[2], market=m[3], bids=m[4], asks=m[5], event_queue=m[6],
                     market_coin_vault=m[7], market_pc_vault=m[8], market_vault_signer=m[9],
                     market_readonly=not fx.accounts[3][2])
    # Act
    ours = raydium_amm_v4_swap_base_in(keys, m[10], m[11], m[12], amount_in, min_out)
    # Assert
    assert tag == 9 and a[2] == AMM_V4_AUTHORITY
    assert_same(ours, fx)


@pytest.mark.parametrize("fx", CPMM, ids=lambda f: f.source)
@pytest.mark.parametrize("zero_for_one", [True, False])
def test_raydium_cpmm_swap_base_input_rebuilds_fixture(fx: FixtureIx, zero_for_one: bool) -> None:
    a = [k for k, _, _ in fx.accounts]
    amount_in, min_out = struct.unpack_from("<QQ", fx.data, 8)
    side_in = {"vault": a[6], "program": a[8], "mint": a[10]}
    side_out = {"vault": a[7], "program": a[9], "mint": a[11]}
    t0, t1 = (side_in, side_out) if zero_for_one else (side_out, side_in)
    keys = CpmmKeys(pool_state=a[3], amm_config=a[2], token_0_vault=t0["vault"], token_1_vault=t1["vault"],
                    token_0_mint=t0["mint"], token_1_mint=t1["mint"], token_0_program=t0["program"],
                    token_1_program=t1["program"], observation_state=a[12])
    ours = raydium_cpmm_swap_base_input(keys, a[0], a[4], a[5], zero_for_one=zero_for_one, amount_in=amount_in,
                                        min_out=min_out)
    assert_same(ours, fx)
    assert a[1] == CPMM_AUTHORITY == str(Pubkey.find_program_address([b"vault_and_lp_mint_auth_seed"],
                                                                      pk(RAYDIUM_CPMM))[0])
    assert str(cpmm_observation_address(a[3])) == a[12]


def _pump_keys(fx: FixtureIx, *, buy: bool) -> PumpfunKeys:
    a = [k for k, _, _ in fx.accounts]
    slot = a[9] if buy else a[8]
    if slot in (RENT, ATA_PROGRAM):  # the 2024 layout: every account derives from mint and user
        keys = pumpfun_keys(a[2], a[6], a[1], era=PumpfunEra.LEGACY)
        assert (str(keys.bonding_curve), str(keys.associated_bonding_curve), str(keys.associated_user)) == (
            a[3], a[4], a[5])
        return keys
    era = PumpfunEra.CREATOR_FEE if len(a) == 12 else PumpfunEra.FEE_CONFIG
    return PumpfunKeys(mint=pk(a[2]), user=pk(a[6]), bonding_curve=pk(a[3]), associated_bonding_curve=pk(a[4]),
                       associated_user=pk(a[5]), fee_recipient=pk(a[1]), era=era, creator_vault=pk(slot))


@pytest.mark.parametrize("fx", PUMP_BUYS, ids=lambda f: f.source)
def test_pumpfun_buy_rebuilds_fixture(fx: FixtureIx) -> None:
    amount, max_sol_cost = struct.unpack_from("<QQ", fx.data, 8)
    track = None if len(fx.data) == 24 else bool(fx.data[24])
    ours = pumpfun_buy(_pump_keys(fx, buy=True), amount, max_sol_cost, track_volume=track)
    assert_same(ours, fx)


@pytest.mark.parametrize("fx", [*PUMP_SELLS, carbon_instruction(CARBON / "pumpfun" / "sell_ix.json")],
                         ids=lambda f: f.source)
def test_pumpfun_sell_rebuilds_fixture(fx: FixtureIx) -> None:
    amount, min_sol_output = struct.unpack_from("<QQ", fx.data, 8)
    ours = pumpfun_sell(_pump_keys(fx, buy=False), amount, min_sol_output)
    assert_same(ours, fx)


def test_pumpfun_sell_carbon_values_match_the_source_test() -> None:
    fx = carbon_instruction(CARBON / "pumpfun" / "sell_ix.json")
    assert struct.unpack_from("<QQ", fx.data, 8) == (376599365021, 14065038)


def test_orca_whirlpool_swap_rebuilds_carbon_fixture() -> None:
    # Arrange
    fx = carbon_instruction(CARBON / "orca-whirlpool" / "swap_ix.json")
    a = [k for k, _, _ in fx.accounts]
    amount, threshold = struct.unpack_from("<QQ", fx.data, 8)
    limit = int.from_bytes(fx.data[24:40], "little")
    by_input, a_to_b = bool(fx.data[40]), bool(fx.data[41])
    keys = WhirlpoolKeys(whirlpool=a[2], token_vault_a=a[4], token_vault_b=a[6], tick_spacing=64)
    # Act: the oracle is derived, not copied
    ours = orca_whirlpool_swap(keys, a[1], a[3], a[5], a[7:10], amount=amount, other_amount_threshold=threshold,
                               sqrt_price_limit_x64=limit, amount_specified_is_input=by_input, a_to_b=a_to_b)
    # Assert: the values carbon's own test asserts, then bytes and metas
    assert (a_to_b, amount, by_input, threshold, limit) == (False, 85373619, True, 0, 79226673515401279992447579055)
    assert ours.program_id == pk(ORCA_WHIRLPOOL)
    assert_same(ours, fx)


def test_whirlpool_tick_array_starts_walk_away_from_the_current_tick() -> None:
    assert whirlpool_tick_array_starts(100, 64, True) == (0, -5632, -11264)
    assert whirlpool_tick_array_starts(5631, 64, False) == (5632, 11264, 16896)  # one spacing up crosses
    assert whirlpool_tick_array_starts(-1, 1, True) == (-88, -176, -264)


def test_compute_budget_bytes() -> None:
    assert bytes(compute_unit_limit(200_000).data) == b"\x02" + (200_000).to_bytes(4, "little")
    assert bytes(compute_unit_price(12_345).data) == b"\x03" + (12_345).to_bytes(8, "little")
    with pytest.raises(ValueError, match="units"):
        compute_unit_limit(1_400_001)


def test_associated_token_address_matches_a_fixture_account() -> None:
    # pumpfun_sell_0: the user's ATA of the mint is account 5 of the sell
    fx = PUMP_SELLS[-1] if PUMP_SELLS[-1].source.startswith("pumpfun_sell_0") else PUMP_SELLS[0]
    a = [k for k, _, _ in fx.accounts]
    assert str(associated_token_address(a[6], a[2])) == a[5]


def test_builders_refuse_amounts_outside_u64() -> None:
    keys = pumpfun_keys(Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique(), era=PumpfunEra.LEGACY)
    with pytest.raises(ValueError, match="max_sol_cost"):
        pumpfun_buy(keys, 1, 1 << 64)
    with pytest.raises(ValueError, match="creator"):
        pumpfun_keys(Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique(), era=PumpfunEra.CREATOR_FEE)
