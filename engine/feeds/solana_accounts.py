"""Decode DEX pool accounts (``getAccountInfo`` data) and turn them into POOL_STATE records.

Each ``decode_*`` function takes the raw account bytes (base64-decode the RPC's ``data`` first,
or call :func:`account_bytes` on the RPC object) and returns a frozen dataclass of Python ints
and base58 strings. Anchor accounts are checked against their 8-byte discriminator
(``sha256("account:<Name>")[:8]``) and every decoder checks the length, so a wrong account
fails with a :class:`AccountDecodeError` that names what it was and what was expected.

Layouts (facts, re-expressed here; no code copied), all little-endian and packed:

* Orca ``Whirlpool``, fixed ``TickArray`` and ``DynamicTickArray``: orca-so/whirlpools
  ``programs/whirlpool/src/state``; field order as in sevenlabs-hq/carbon
  ``decoders/orca-whirlpool-decoder/src/accounts/whirlpool.rs`` (commit
  1a014f253eeea80dd9b491c3ca33fc0695e82724), ``tick_array.rs`` (1a4b42307f06a667d233782aaddaf3945a0e1e46)
  and ``dynamic_tick_array.rs`` (0693485033af6a462c62753aca565080430dd5f2): a dynamic tick is a
  Borsh enum, 1 byte when uninitialized, 1 + 112 bytes when initialized.
* Raydium CLMM ``PoolState``: raydium-io/raydium-clmm ``programs/amm/src/states/pool.rs``
  (commit 0087fae067aa3e424b4bea3aa6188fc59c5695da); ``recent_epoch`` is the first u64 after
  ``open_time`` in later versions of the same file (the carbon fixture's decoder asserts it).
* Raydium CPMM ``PoolState``: raydium-io/raydium-cp-swap ``programs/cp-swap/src/states/pool.rs``
  (commit 9a11c1b3d437344478b11635c81e9317cf87b24f), 637 bytes.
* Raydium AMM v4 ``AmmInfo``: raydium-io/raydium-amm ``program/src/state.rs`` (commit
  02f351333e54b7fca573aad2f2b657ed6fe27903), 752 bytes, no discriminator.
* Pump.fun ``BondingCurve``: the pump.fun IDL: discriminator, five u64 reserves, bool
  ``complete``, then (curves made since 2025) the creator pubkey.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from engine.feeds.programs import anchor_discriminator
from engine.layout import (
    N_VALS,
    STATE_LIQUIDITY,
    STATE_REAL_BASE,
    STATE_REAL_QUOTE,
    STATE_RESERVE_BASE,
    STATE_RESERVE_QUOTE,
    STATE_SQRT_PRICE,
    STATE_TICK,
    PoolKind,
)

__all__ = [
    "AccountDecodeError",
    "PoolStateRecord",
    "PumpfunBondingCurve",
    "RaydiumAmmV4",
    "RaydiumClmmPool",
    "RaydiumCpmmPool",
    "Whirlpool",
    "WhirlpoolRewardInfo",
    "WhirlpoolTick",
    "WhirlpoolTickArray",
    "account_bytes",
    "decode_pumpfun_bonding_curve",
    "decode_raydium_amm_v4",
    "decode_raydium_clmm_pool",
    "decode_raydium_cpmm",
    "decode_whirlpool",
    "decode_whirlpool_tick_array",
    "pool_state",
]

Q64 = 2**64

DISC_WHIRLPOOL = anchor_discriminator("Whirlpool", "account")
DISC_WHIRLPOOL_TICK_ARRAY = anchor_discriminator("TickArray", "account")
DISC_WHIRLPOOL_DYNAMIC_TICK_ARRAY = anchor_discriminator("DynamicTickArray", "account")
DISC_POOL_STATE = anchor_discriminator("PoolState", "account")  # Raydium CLMM and CPMM alike
DISC_BONDING_CURVE = anchor_discriminator("BondingCurve", "account")

WHIRLPOOL_LEN = 653
WHIRLPOOL_TICK_ARRAY_LEN = 9988
WHIRLPOOL_TICKS_PER_ARRAY = 88
RAYDIUM_CLMM_POOL_LEN = 1544
RAYDIUM_CPMM_POOL_LEN = 637
RAYDIUM_AMM_V4_LEN = 752
PUMPFUN_CURVE_MIN_LEN = 49  # discriminator + 5 u64 + bool; 81+ with the creator


class AccountDecodeError(ValueError):
    """Account bytes that are not the account type asked for."""


def account_bytes(account: dict[str, Any]) -> bytes:
    """Return the raw data of a ``getAccountInfo`` value: ``data`` as base64 text or ``[text, "base64"]``."""
    data = account["data"]
    if isinstance(data, list):
        if len(data) != 2 or data[1] != "base64":
            msg = f"account data encoding was {data[1:]!r}; Hint: request encoding base64"
            raise AccountDecodeError(msg)
        data = data[0]
    return base64.b64decode(data, validate=True)


def _pk(data: bytes, offset: int) -> str:
    return str(Pubkey.from_bytes(data[offset : offset + 32]))


def _u128(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 16], "little")


def _i128(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 16], "little", signed=True)


def _check(
    data: bytes, what: str, *, disc: bytes | None, length: int | None = None, min_length: int | None = None
) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        msg = (
            f"{what}: account data must be bytes, was {type(data).__name__}; "
            "Hint: base64-decode the RPC `data` field (account_bytes())"
        )
        raise AccountDecodeError(msg)
    n = len(data)
    if length is not None and n != length:
        msg = f"{what}: account data is {n} bytes, expected {length}; Hint: check that the address is a {what} account"
        raise AccountDecodeError(msg)
    if min_length is not None and n < min_length:
        msg = (
            f"{what}: account data is {n} bytes, expected at least {min_length}; "
            f"Hint: check that the address is a {what} account"
        )
        raise AccountDecodeError(msg)
    if disc is not None and bytes(data[:8]) != disc:
        msg = (
            f"{what}: account discriminator was {bytes(data[:8]).hex()}, expected {disc.hex()}; "
            f"Hint: the account is of another type or program"
        )
        raise AccountDecodeError(msg)


# --- Orca Whirlpool ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WhirlpoolRewardInfo:
    """One reward slot of a Whirlpool (unused slots have the default pubkey as mint)."""

    mint: str
    vault: str
    authority: str
    emissions_per_second_x64: int
    growth_global_x64: int


@dataclass(frozen=True, slots=True)
class Whirlpool:
    """Orca Whirlpool pool state. ``sqrt_price_x64`` is sqrt(price of A in B, raw units) * 2**64."""

    whirlpools_config: str
    whirlpool_bump: int
    tick_spacing: int
    fee_tier_index_seed: tuple[int, int]
    fee_rate: int  # hundredths of a basis point: 10_000 = 1 %
    protocol_fee_rate: int  # basis points of the fee
    liquidity: int
    sqrt_price_x64: int
    tick_current_index: int
    protocol_fee_owed_a: int
    protocol_fee_owed_b: int
    token_mint_a: str
    token_vault_a: str
    fee_growth_global_a: int
    token_mint_b: str
    token_vault_b: str
    fee_growth_global_b: int
    reward_last_updated_timestamp: int
    reward_infos: tuple[WhirlpoolRewardInfo, ...]


def decode_whirlpool(data: bytes) -> Whirlpool:
    """Decode an Orca ``Whirlpool`` account (653 bytes)."""
    _check(data, "Orca Whirlpool", disc=DISC_WHIRLPOOL, length=WHIRLPOOL_LEN)
    bump, tick_spacing, seed0, seed1, fee_rate, protocol_fee_rate = struct.unpack_from("<BHBBHH", data, 40)
    tick, owed_a, owed_b = struct.unpack_from("<iQQ", data, 81)
    rewards = []
    for k in range(3):
        o = 269 + 128 * k
        rewards.append(
            WhirlpoolRewardInfo(
                mint=_pk(data, o),
                vault=_pk(data, o + 32),
                authority=_pk(data, o + 64),
                emissions_per_second_x64=_u128(data, o + 96),
                growth_global_x64=_u128(data, o + 112),
            )
        )
    return Whirlpool(
        whirlpools_config=_pk(data, 8),
        whirlpool_bump=bump,
        tick_spacing=tick_spacing,
        fee_tier_index_seed=(seed0, seed1),
        fee_rate=fee_rate,
        protocol_fee_rate=protocol_fee_rate,
        liquidity=_u128(data, 49),
        sqrt_price_x64=_u128(data, 65),
        tick_current_index=tick,
        protocol_fee_owed_a=owed_a,
        protocol_fee_owed_b=owed_b,
        token_mint_a=_pk(data, 101),
        token_vault_a=_pk(data, 133),
        fee_growth_global_a=_u128(data, 165),
        token_mint_b=_pk(data, 181),
        token_vault_b=_pk(data, 213),
        fee_growth_global_b=_u128(data, 245),
        reward_last_updated_timestamp=struct.unpack_from("<Q", data, 261)[0],
        reward_infos=tuple(rewards),
    )


@dataclass(frozen=True, slots=True)
class WhirlpoolTick:
    """One tick slot of a tick array; ``offset`` is its position 0..87 in the array."""

    offset: int
    initialized: bool
    liquidity_net: int
    liquidity_gross: int
    fee_growth_outside_a: int
    fee_growth_outside_b: int
    reward_growths_outside: tuple[int, int, int]

    def tick_index(self, start_tick_index: int, tick_spacing: int) -> int:
        """Return the tick index of this slot (the pool's ``tick_spacing`` is not stored in the array)."""
        return start_tick_index + self.offset * tick_spacing


@dataclass(frozen=True, slots=True)
class WhirlpoolTickArray:
    """An Orca tick array: 88 tick slots from ``start_tick_index``; ``kind`` is "fixed" or "dynamic"."""

    kind: str
    start_tick_index: int
    whirlpool: str
    ticks: tuple[WhirlpoolTick, ...]
    tick_bitmap: int | None  # dynamic arrays only: bit i set <=> tick i initialized

    def initialized(self) -> tuple[WhirlpoolTick, ...]:
        """Return the initialized ticks, in order."""
        return tuple(t for t in self.ticks if t.initialized)


def _tick_fields(data: bytes, o: int) -> tuple[int, int, int, int, tuple[int, int, int]]:
    return (
        _i128(data, o),
        _u128(data, o + 16),
        _u128(data, o + 32),
        _u128(data, o + 48),
        (_u128(data, o + 64), _u128(data, o + 80), _u128(data, o + 96)),
    )


def decode_whirlpool_tick_array(data: bytes) -> WhirlpoolTickArray:
    """Decode an Orca tick array, fixed (``TickArray``, 9988 bytes) or ``DynamicTickArray``."""
    _check(data, "Orca tick array", disc=None, min_length=8)
    disc = bytes(data[:8])
    if disc == DISC_WHIRLPOOL_TICK_ARRAY:
        _check(data, "Orca fixed TickArray", disc=disc, length=WHIRLPOOL_TICK_ARRAY_LEN)
        start = struct.unpack_from("<i", data, 8)[0]
        ticks = []
        for k in range(WHIRLPOOL_TICKS_PER_ARRAY):
            o = 12 + 113 * k  # bool initialized + 112 bytes of tick data
            ticks.append(WhirlpoolTick(k, data[o] != 0, *_tick_fields(data, o + 1)))
        whirlpool = _pk(data, 12 + 113 * WHIRLPOOL_TICKS_PER_ARRAY)
        return WhirlpoolTickArray("fixed", start, whirlpool, tuple(ticks), None)
    if disc == DISC_WHIRLPOOL_DYNAMIC_TICK_ARRAY:
        _check(data, "Orca DynamicTickArray", disc=disc, min_length=60 + WHIRLPOOL_TICKS_PER_ARRAY)
        start = struct.unpack_from("<i", data, 8)[0]
        whirlpool = _pk(data, 12)
        bitmap = _u128(data, 44)
        ticks = []
        o = 60
        zero = (0, 0, 0, 0, (0, 0, 0))
        for k in range(WHIRLPOOL_TICKS_PER_ARRAY):
            if o >= len(data):
                msg = (
                    f"Orca DynamicTickArray: data ends at byte {len(data)} inside tick {k}; "
                    "Hint: the account is truncated"
                )
                raise AccountDecodeError(msg)
            tag = data[o]
            if tag == 0:
                ticks.append(WhirlpoolTick(k, False, *zero))
                o += 1
            elif tag == 1:
                if o + 113 > len(data):
                    msg = (
                        f"Orca DynamicTickArray: initialized tick {k} needs bytes {o}..{o + 113}, "
                        f"data is {len(data)} bytes; Hint: the account is truncated"
                    )
                    raise AccountDecodeError(msg)
                ticks.append(WhirlpoolTick(k, True, *_tick_fields(data, o + 1)))
                o += 113
            else:
                msg = f"Orca DynamicTickArray: tick {k} has variant tag {tag} at byte {o}, expected 0 or 1"
                raise AccountDecodeError(msg)
        return WhirlpoolTickArray("dynamic", start, whirlpool, tuple(ticks), bitmap)
    msg = (
        f"Orca tick array: discriminator was {disc.hex()}, expected {DISC_WHIRLPOOL_TICK_ARRAY.hex()} (fixed) "
        f"or {DISC_WHIRLPOOL_DYNAMIC_TICK_ARRAY.hex()} (dynamic); Hint: the account is of another type"
    )
    raise AccountDecodeError(msg)


# --- Raydium CLMM -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaydiumClmmPool:
    """Raydium CLMM ``PoolState``. ``sqrt_price_x64`` is sqrt(price of token 0 in token 1, raw) * 2**64."""

    bump: int
    amm_config: str
    owner: str
    token_mint_0: str
    token_mint_1: str
    token_vault_0: str
    token_vault_1: str
    observation_key: str
    mint_decimals_0: int
    mint_decimals_1: int
    tick_spacing: int
    liquidity: int
    sqrt_price_x64: int
    tick_current: int
    fee_growth_global_0_x64: int
    fee_growth_global_1_x64: int
    protocol_fees_token_0: int
    protocol_fees_token_1: int
    swap_in_amount_token_0: int
    swap_out_amount_token_1: int
    swap_in_amount_token_1: int
    swap_out_amount_token_0: int
    status: int
    tick_array_bitmap: tuple[int, ...]
    total_fees_token_0: int
    total_fees_claimed_token_0: int
    total_fees_token_1: int
    total_fees_claimed_token_1: int
    fund_fees_token_0: int
    fund_fees_token_1: int
    open_time: int
    recent_epoch: int


def decode_raydium_clmm_pool(data: bytes) -> RaydiumClmmPool:
    """Decode a Raydium CLMM ``PoolState`` account (1544 bytes)."""
    _check(data, "Raydium CLMM PoolState", disc=DISC_POOL_STATE, length=RAYDIUM_CLMM_POOL_LEN)
    dec0, dec1, tick_spacing = struct.unpack_from("<BBH", data, 233)
    tick = struct.unpack_from("<i", data, 269)[0]
    pf0, pf1 = struct.unpack_from("<QQ", data, 309)
    fees = struct.unpack_from("<9Q", data, 1032)
    return RaydiumClmmPool(
        bump=data[8],
        amm_config=_pk(data, 9),
        owner=_pk(data, 41),
        token_mint_0=_pk(data, 73),
        token_mint_1=_pk(data, 105),
        token_vault_0=_pk(data, 137),
        token_vault_1=_pk(data, 169),
        observation_key=_pk(data, 201),
        mint_decimals_0=dec0,
        mint_decimals_1=dec1,
        tick_spacing=tick_spacing,
        liquidity=_u128(data, 237),
        sqrt_price_x64=_u128(data, 253),
        tick_current=tick,
        fee_growth_global_0_x64=_u128(data, 277),
        fee_growth_global_1_x64=_u128(data, 293),
        protocol_fees_token_0=pf0,
        protocol_fees_token_1=pf1,
        swap_in_amount_token_0=_u128(data, 325),
        swap_out_amount_token_1=_u128(data, 341),
        swap_in_amount_token_1=_u128(data, 357),
        swap_out_amount_token_0=_u128(data, 373),
        status=data[389],
        tick_array_bitmap=struct.unpack_from("<16Q", data, 904),  # after 3 reward infos of 169 bytes
        total_fees_token_0=fees[0],
        total_fees_claimed_token_0=fees[1],
        total_fees_token_1=fees[2],
        total_fees_claimed_token_1=fees[3],
        fund_fees_token_0=fees[4],
        fund_fees_token_1=fees[5],
        open_time=fees[6],
        recent_epoch=fees[7],
    )


# --- Raydium CPMM -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaydiumCpmmPool:
    """Raydium CPMM (constant product) ``PoolState``; reserves live in the two vault token accounts."""

    amm_config: str
    pool_creator: str
    token_0_vault: str
    token_1_vault: str
    lp_mint: str
    token_0_mint: str
    token_1_mint: str
    token_0_program: str
    token_1_program: str
    observation_key: str
    auth_bump: int
    status: int
    lp_mint_decimals: int
    mint_0_decimals: int
    mint_1_decimals: int
    lp_supply: int
    protocol_fees_token_0: int
    protocol_fees_token_1: int
    fund_fees_token_0: int
    fund_fees_token_1: int
    open_time: int
    recent_epoch: int

    def reserves(self, vault_0_raw: int, vault_1_raw: int) -> tuple[int, int]:
        """Return the tradable reserves: vault balances less the protocol and fund fees owed."""
        return (
            vault_0_raw - self.protocol_fees_token_0 - self.fund_fees_token_0,
            vault_1_raw - self.protocol_fees_token_1 - self.fund_fees_token_1,
        )


def decode_raydium_cpmm(data: bytes) -> RaydiumCpmmPool:
    """Decode a Raydium CPMM ``PoolState`` account (637 bytes)."""
    _check(data, "Raydium CPMM PoolState", disc=DISC_POOL_STATE, length=RAYDIUM_CPMM_POOL_LEN)
    auth_bump, status, lp_dec, dec0, dec1 = struct.unpack_from("<5B", data, 328)
    lp_supply, pf0, pf1, ff0, ff1, open_time, epoch = struct.unpack_from("<7Q", data, 333)
    return RaydiumCpmmPool(
        amm_config=_pk(data, 8),
        pool_creator=_pk(data, 40),
        token_0_vault=_pk(data, 72),
        token_1_vault=_pk(data, 104),
        lp_mint=_pk(data, 136),
        token_0_mint=_pk(data, 168),
        token_1_mint=_pk(data, 200),
        token_0_program=_pk(data, 232),
        token_1_program=_pk(data, 264),
        observation_key=_pk(data, 296),
        auth_bump=auth_bump,
        status=status,
        lp_mint_decimals=lp_dec,
        mint_0_decimals=dec0,
        mint_1_decimals=dec1,
        lp_supply=lp_supply,
        protocol_fees_token_0=pf0,
        protocol_fees_token_1=pf1,
        fund_fees_token_0=ff0,
        fund_fees_token_1=ff1,
        open_time=open_time,
        recent_epoch=epoch,
    )


# --- Raydium AMM v4 ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaydiumAmmV4:
    """Raydium AMM v4 ``AmmInfo`` (the fields a simulator needs); coin = base, pc = quote."""

    status: int
    nonce: int
    order_num: int
    depth: int
    coin_decimals: int
    pc_decimals: int
    state: int
    reset_flag: int
    min_size: int
    trade_fee_numerator: int
    trade_fee_denominator: int
    swap_fee_numerator: int
    swap_fee_denominator: int
    need_take_pnl_coin: int
    need_take_pnl_pc: int
    pool_open_time: int
    coin_vault: str
    pc_vault: str
    coin_vault_mint: str
    pc_vault_mint: str
    lp_mint: str
    open_orders: str
    market: str
    market_program: str
    target_orders: str
    amm_owner: str
    lp_amount: int
    client_order_id: int
    recent_epoch: int

    def reserves(self, coin_vault_raw: int, pc_vault_raw: int) -> tuple[int, int]:
        """Return the tradable reserves: vault balances less the PnL the program has yet to take."""
        return coin_vault_raw - self.need_take_pnl_coin, pc_vault_raw - self.need_take_pnl_pc


def decode_raydium_amm_v4(data: bytes) -> RaydiumAmmV4:
    """Decode a Raydium AMM v4 ``AmmInfo`` account (752 bytes, no discriminator)."""
    _check(data, "Raydium AMM v4 AmmInfo", disc=None, length=RAYDIUM_AMM_V4_LEN)
    head = struct.unpack_from("<16Q", data, 0)
    fees = struct.unpack_from("<8Q", data, 128)
    need_coin, need_pc = struct.unpack_from("<QQ", data, 192)
    if head[0] > 7:  # AmmStatus is 0..7
        msg = (
            f"Raydium AMM v4 AmmInfo: status was {head[0]}, expected 0..7; "
            "Hint: the 752-byte account is not an AmmInfo"
        )
        raise AccountDecodeError(msg)
    return RaydiumAmmV4(
        status=head[0],
        nonce=head[1],
        order_num=head[2],
        depth=head[3],
        coin_decimals=head[4],
        pc_decimals=head[5],
        state=head[6],
        reset_flag=head[7],
        min_size=head[8],
        trade_fee_numerator=fees[2],
        trade_fee_denominator=fees[3],
        swap_fee_numerator=fees[6],
        swap_fee_denominator=fees[7],
        need_take_pnl_coin=need_coin,
        need_take_pnl_pc=need_pc,
        pool_open_time=struct.unpack_from("<Q", data, 224)[0],
        coin_vault=_pk(data, 336),
        pc_vault=_pk(data, 368),
        coin_vault_mint=_pk(data, 400),
        pc_vault_mint=_pk(data, 432),
        lp_mint=_pk(data, 464),
        open_orders=_pk(data, 496),
        market=_pk(data, 528),
        market_program=_pk(data, 560),
        target_orders=_pk(data, 592),
        amm_owner=_pk(data, 688),
        lp_amount=struct.unpack_from("<Q", data, 720)[0],
        client_order_id=struct.unpack_from("<Q", data, 728)[0],
        recent_epoch=struct.unpack_from("<Q", data, 736)[0],
    )


# --- Pump.fun ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PumpfunBondingCurve:
    """Pump.fun bonding curve: virtual reserves price the curve, real ones are what it holds."""

    virtual_token_reserves: int
    virtual_sol_reserves: int
    real_token_reserves: int
    real_sol_reserves: int
    token_total_supply: int
    complete: bool
    creator: str | None  # None on curves made before the creator field existed


def decode_pumpfun_bonding_curve(data: bytes) -> PumpfunBondingCurve:
    """Decode a Pump.fun ``BondingCurve`` account (49 bytes, or 81+ with the creator)."""
    _check(data, "Pump.fun BondingCurve", disc=DISC_BONDING_CURVE, min_length=PUMPFUN_CURVE_MIN_LEN)
    vt, vs, rt, rs, supply = struct.unpack_from("<5Q", data, 8)
    complete = data[48]
    if complete > 1:
        msg = f"Pump.fun BondingCurve: `complete` byte was {complete}, expected 0 or 1"
        raise AccountDecodeError(msg)
    creator = _pk(data, 49) if len(data) >= 81 else None
    return PumpfunBondingCurve(vt, vs, rt, rs, supply, complete == 1, creator)


# --- POOL_STATE records -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolStateRecord:
    """What a POOL_STATE tape row carries for one pool, before ids are assigned.

    Base and quote follow the pool's own order (token A/0/coin = base, B/1/pc = quote); the
    registry may choose otherwise. Amounts are raw base units; ``sqrt_price`` is
    ``sqrt_price_x64 / 2**64`` (the square root of quote per base in raw units).

    Parameters
    ----------
    pool : str
        Pool (or bonding curve) address.
    kind : PoolKind
        Swap math: CPMM, CLMM or CURVE.
    base_mint, quote_mint : str or None
        Mints of the two sides; None where the account does not store them (Pump.fun: the
        quote is SOL and the token mint is known only from the curve's address).
    reserve_base_raw, reserve_quote_raw : int or None
        CPMM: tradable reserves. CURVE: virtual token and virtual SOL reserves.
    real_base_raw, real_quote_raw : int or None
        CURVE: real reserves. CLMM: the vault balances, when given.
    liquidity, sqrt_price, tick : int, float, int or None
        CLMM only.
    """

    pool: str
    kind: PoolKind
    base_mint: str | None
    quote_mint: str | None
    reserve_base_raw: int | None = None
    reserve_quote_raw: int | None = None
    real_base_raw: int | None = None
    real_quote_raw: int | None = None
    liquidity: int | None = None
    sqrt_price: float | None = None
    tick: int | None = None

    def to_vals(self) -> list[float]:
        """Return the ``vals`` row of a POOL_STATE event, by `engine.layout` columns (NaN = unset)."""
        vals = [float("nan")] * N_VALS
        if self.kind == PoolKind.CLMM:
            vals[STATE_LIQUIDITY] = float(self.liquidity)
            vals[STATE_SQRT_PRICE] = float(self.sqrt_price)
            vals[STATE_TICK] = float(self.tick)
            return vals
        for col, v in (
            (STATE_RESERVE_BASE, self.reserve_base_raw),
            (STATE_RESERVE_QUOTE, self.reserve_quote_raw),
            (STATE_REAL_BASE, self.real_base_raw),
            (STATE_REAL_QUOTE, self.real_quote_raw),
        ):
            if v is not None:
                vals[col] = float(v)
        return vals


def pool_state(
    pool: str,
    decoded: Whirlpool | RaydiumClmmPool | RaydiumCpmmPool | RaydiumAmmV4 | PumpfunBondingCurve,
    *,
    vault_base_raw: int | None = None,
    vault_quote_raw: int | None = None,
) -> PoolStateRecord:
    """Map a decoded pool account to a :class:`PoolStateRecord`.

    Parameters
    ----------
    pool : str
        The pool account's address (account data does not contain it).
    decoded : one of the decoded pool dataclasses
        From the matching ``decode_*`` function.
    vault_base_raw, vault_quote_raw : int, optional
        Token balances of the pool's vaults (raw units), from ``getTokenAccountBalance`` or the
        vaults' token account data. Required for Raydium AMM v4 and CPMM, whose reserves live in
        those accounts; optional for CLMMs (recorded as the real reserves).
    """
    if isinstance(decoded, Whirlpool | RaydiumClmmPool):
        if isinstance(decoded, Whirlpool):
            base, quote, tick = decoded.token_mint_a, decoded.token_mint_b, decoded.tick_current_index
        else:
            base, quote, tick = decoded.token_mint_0, decoded.token_mint_1, decoded.tick_current
        return PoolStateRecord(
            pool=pool,
            kind=PoolKind.CLMM,
            base_mint=base,
            quote_mint=quote,
            real_base_raw=vault_base_raw,
            real_quote_raw=vault_quote_raw,
            liquidity=decoded.liquidity,
            sqrt_price=decoded.sqrt_price_x64 / Q64,
            tick=tick,
        )
    if isinstance(decoded, PumpfunBondingCurve):
        return PoolStateRecord(
            pool=pool,
            kind=PoolKind.CURVE,
            base_mint=None,
            quote_mint="So11111111111111111111111111111111111111112",
            reserve_base_raw=decoded.virtual_token_reserves,
            reserve_quote_raw=decoded.virtual_sol_reserves,
            real_base_raw=decoded.real_token_reserves,
            real_quote_raw=decoded.real_sol_reserves,
        )
    if isinstance(decoded, RaydiumAmmV4 | RaydiumCpmmPool):
        if vault_base_raw is None or vault_quote_raw is None:
            msg = (
                f"pool {pool}: a {type(decoded).__name__} keeps its reserves in its vault token accounts, "
                "was given vault_base_raw and vault_quote_raw = None; Hint: read both vault balances and pass them"
            )
            raise ValueError(msg)
        base_raw, quote_raw = decoded.reserves(vault_base_raw, vault_quote_raw)
        if isinstance(decoded, RaydiumAmmV4):
            base, quote = decoded.coin_vault_mint, decoded.pc_vault_mint
        else:
            base, quote = decoded.token_0_mint, decoded.token_1_mint
        return PoolStateRecord(
            pool=pool,
            kind=PoolKind.CPMM,
            base_mint=base,
            quote_mint=quote,
            reserve_base_raw=base_raw,
            reserve_quote_raw=quote_raw,
        )
    msg = (
        f"pool {pool}: no POOL_STATE mapping for {type(decoded).__name__}; "
        "Hint: decode the account with a decode_* function first"
    )
    raise TypeError(msg)
