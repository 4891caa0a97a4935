"""Solana instruction builders for the swaps shoal routes, and the instructions around them.

Every builder returns a ``solders.instruction.Instruction`` whose data bytes and account metas
follow the program's published interface; the layouts are re-expressed here (no code copied)
from these sources, and ``tests/engine/exec/live/test_builders.py`` rebuilds every real swap
instruction of the fixtures byte for byte:

* Compute budget (``ComputeBudget111…``): ``SetComputeUnitLimit`` = tag 2 + u32,
  ``SetComputeUnitPrice`` = tag 3 + u64 micro-lamports per CU (solana-sdk
  ``compute-budget-interface``; Borsh enum tags).
* System ``Transfer`` = u32 2 + u64 lamports; SPL Token ``CloseAccount`` = tag 9,
  ``SyncNative`` = tag 17 (solana-program-library ``token/program/src/instruction.rs``);
  associated-token-account ``CreateIdempotent`` = tag 1, accounts [payer, ata, owner, mint,
  system program, token program] (``associated-token-account/program/src/instruction.rs``).
* Raydium AMM v4 ``swap_base_in`` = tag 9 + u64 amount_in + u64 minimum_amount_out, 17 or 18
  accounts (``raydium-io/raydium-amm`` ``program/src/instruction.rs``, commit
  b186b06df99f40a679264eb8937aa124eacaa679, ``swap_base_in``).
* Raydium CPMM ``swap_base_input`` = Anchor discriminator + u64 amount_in + u64
  minimum_amount_out, 13 accounts (``raydium-io/raydium-cp-swap``
  ``programs/cp-swap/src/instructions/swap_base_input.rs``, commit
  609780f165d234a0aa9699cac90178a3fa36fd43); authority PDA ``[b"vault_and_lp_mint_auth_seed"]``,
  observation PDA ``[b"observation", pool]``.
* Orca Whirlpool ``swap`` = discriminator + u64 amount + u64 other_amount_threshold + u128
  sqrt_price_limit + bool amount_specified_is_input + bool a_to_b, 11 accounts
  (``orca-so/whirlpools`` ``programs/whirlpool/src/instructions/swap.rs``, commit
  630c0e01b74ad88eab69f8ed4cc2d3dc9a3d0bd5; account order as labelled in the carbon fixture
  ``swap_ix.json``); tick-array PDA ``[b"tick_array", pool, str(start_tick)]``, oracle PDA
  ``[b"oracle", pool]``; three tick arrays from the one holding the current tick (a->b walks
  down; b->a starts one tick spacing up), as the Orca SDK chooses them.
* Pump.fun ``buy`` (u64 amount, u64 max_sol_cost[, OptionBool track_volume]) and ``sell`` (u64
  amount, u64 min_sol_output): ``pump-fun/pump-public-docs`` ``idl/pump.json`` (commit
  2293f9a66c654e9fe82dc5e8f4618538f24bb35f) and ``docs/PUMP_CREATOR_FEE_README.md`` (commit
  77b08ed53b0b67632e0455025444cff7e731a030). Three account layouts have been live:
  :class:`PumpfunEra`.

Byte layouts are little-endian. Builders check ranges (u64, u32) and raise ``ValueError``
naming the argument; they do no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from engine.feeds.programs import (
    COMPUTE_BUDGET_PROGRAM,
    ORCA_WHIRLPOOL,
    PUMPFUN,
    RAYDIUM_AMM_V4,
    RAYDIUM_CPMM,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    WSOL_MINT,
    anchor_discriminator,
)

__all__ = [
    "AMM_V4_AUTHORITY",
    "ASSOCIATED_TOKEN_PROGRAM",
    "CPMM_AUTHORITY",
    "AmmV4Keys",
    "CpmmKeys",
    "PumpfunEra",
    "PumpfunKeys",
    "WhirlpoolKeys",
    "associated_token_address",
    "close_account",
    "compute_unit_limit",
    "compute_unit_price",
    "cpmm_observation_address",
    "create_ata_idempotent",
    "orca_whirlpool_swap",
    "pk",
    "pumpfun_bonding_curve_address",
    "pumpfun_buy",
    "pumpfun_keys",
    "pumpfun_sell",
    "raydium_amm_v4_swap_base_in",
    "raydium_cpmm_swap_base_input",
    "sync_native",
    "tip",
    "transfer_lamports",
    "unwrap_sol",
    "whirlpool_oracle_address",
    "whirlpool_tick_array_address",
    "whirlpool_tick_array_starts",
    "wrap_sol",
]

U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
MAX_COMPUTE_UNITS = 1_400_000  # per transaction (solana-sdk compute budget limits)
WHIRLPOOL_TICKS_PER_ARRAY = 88

ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
RENT_SYSVAR = "SysvarRent111111111111111111111111111111111"
SERUM_PROGRAM = "srmqPvymJeFKQ4zGQed1GFppgkRHL9kaELCbyksJtPX"
AMM_V4_AUTHORITY = "5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1"  # PDA [b"amm authority"] of AMM v4
PUMPFUN_GLOBAL = "4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf"
PUMPFUN_EVENT_AUTHORITY = "Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1"
PUMP_FEE_PROGRAM = "pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ"

_TOKEN_PROGRAM_KEY = Pubkey.from_string(TOKEN_PROGRAM)
_DISC_CPMM_SWAP_BASE_INPUT = anchor_discriminator("swap_base_input")
_DISC_WHIRLPOOL_SWAP = anchor_discriminator("swap")
_DISC_PUMP_BUY = anchor_discriminator("buy")
_DISC_PUMP_SELL = anchor_discriminator("sell")


@lru_cache(maxsize=4096)
def _pk_str(value: str) -> Pubkey:
    return Pubkey.from_string(value)


def pk(value: str | Pubkey) -> Pubkey:
    """Return ``value`` as a ``Pubkey`` (base58 strings are parsed once and cached)."""
    return value if isinstance(value, Pubkey) else _pk_str(value)


def _check(name: str, value: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        msg = f"{name} must be an integer in [0, {hi:,}], was {value!r}"
        raise ValueError(msg)
    return value


def _w(key: str | Pubkey) -> AccountMeta:
    return AccountMeta(pk(key), is_signer=False, is_writable=True)


def _r(key: str | Pubkey) -> AccountMeta:
    return AccountMeta(pk(key), is_signer=False, is_writable=False)


def _signer(key: str | Pubkey, *, writable: bool) -> AccountMeta:
    return AccountMeta(pk(key), is_signer=True, is_writable=writable)


# --------------------------------------------------------------------------- compute budget, system, token


def compute_unit_limit(units: int) -> Instruction:
    """Return ``SetComputeUnitLimit(units)``; the priority fee is charged on this limit, not on use."""
    _check("units", units, MAX_COMPUTE_UNITS)
    return Instruction(pk(COMPUTE_BUDGET_PROGRAM), b"\x02" + struct.pack("<I", units), [])


def compute_unit_price(micro_lamports_per_cu: int) -> Instruction:
    """Return ``SetComputeUnitPrice``: the priority fee is ``ceil(price * limit / 1e6)`` lamports."""
    _check("micro_lamports_per_cu", micro_lamports_per_cu, U64_MAX)
    return Instruction(pk(COMPUTE_BUDGET_PROGRAM), b"\x03" + struct.pack("<Q", micro_lamports_per_cu), [])


def transfer_lamports(source: str | Pubkey, destination: str | Pubkey, lamports: int) -> Instruction:
    """Return a System ``Transfer`` of ``lamports`` (``source`` signs)."""
    _check("lamports", lamports, U64_MAX)
    return Instruction(pk(SYSTEM_PROGRAM), struct.pack("<IQ", 2, lamports),
                       [_signer(source, writable=True), _w(destination)])


def tip(payer: str | Pubkey, tip_account: str | Pubkey, lamports: int) -> Instruction:
    """Return the tip transfer to a block engine's tip account (a System transfer)."""
    return transfer_lamports(payer, tip_account, lamports)


@lru_cache(maxsize=4096)
def _ata(owner: Pubkey, mint: Pubkey, token_program: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([bytes(owner), bytes(token_program), bytes(mint)],
                                       pk(ASSOCIATED_TOKEN_PROGRAM))[0]


def associated_token_address(owner: str | Pubkey, mint: str | Pubkey,
                             token_program: str | Pubkey = TOKEN_PROGRAM) -> Pubkey:
    """Return the associated token account of ``owner`` for ``mint`` (PDA of the ATA program)."""
    return _ata(pk(owner), pk(mint), pk(token_program))


def create_ata_idempotent(payer: str | Pubkey, owner: str | Pubkey, mint: str | Pubkey,
                          token_program: str | Pubkey = TOKEN_PROGRAM) -> Instruction:
    """Return ``CreateIdempotent``: opens ``owner``'s ATA for ``mint`` unless it exists (payer pays rent)."""
    ata = associated_token_address(owner, mint, token_program)
    return Instruction(pk(ASSOCIATED_TOKEN_PROGRAM), b"\x01", [
        _signer(payer, writable=True), _w(ata), _r(owner), _r(mint), _r(SYSTEM_PROGRAM), _r(token_program)])


def sync_native(account: str | Pubkey, token_program: str | Pubkey = TOKEN_PROGRAM) -> Instruction:
    """Return SPL Token ``SyncNative``: set a WSOL account's amount to its lamports above rent."""
    return Instruction(pk(token_program), b"\x11", [_w(account)])


def close_account(account: str | Pubkey, destination: str | Pubkey, owner: str | Pubkey,
                  token_program: str | Pubkey = TOKEN_PROGRAM) -> Instruction:
    """Return SPL Token ``CloseAccount``: all lamports (rent, and wrapped SOL) go to ``destination``."""
    return Instruction(pk(token_program), b"\x09", [_w(account), _w(destination), _signer(owner, writable=False)])


def wrap_sol(owner: str | Pubkey, lamports: int) -> list[Instruction]:
    """Return the instructions that put ``lamports`` into ``owner``'s WSOL ATA (opened if needed)."""
    ata = associated_token_address(owner, WSOL_MINT)
    return [create_ata_idempotent(owner, owner, WSOL_MINT), transfer_lamports(owner, ata, lamports),
            sync_native(ata)]


def unwrap_sol(owner: str | Pubkey) -> list[Instruction]:
    """Return the instruction that closes ``owner``'s WSOL ATA, returning its rent and SOL as lamports."""
    ata = associated_token_address(owner, WSOL_MINT)
    return [close_account(ata, owner, owner)]


# --------------------------------------------------------------------------- Raydium AMM v4


@dataclass(frozen=True, slots=True, kw_only=True)
class AmmV4Keys:
    """The accounts of one Raydium AMM v4 pool that a swap names (from its ``AmmInfo`` and market).

    ``target_orders`` None gives the 17-account form. ``market_readonly`` marks the open orders
    and the market accounts read-only: senders that pass placeholders there (the program has
    stopped trading on the order book) do so; the fixtures hold both forms.
    """

    amm: str
    open_orders: str
    coin_vault: str
    pc_vault: str
    market: str
    bids: str
    asks: str
    event_queue: str
    market_coin_vault: str
    market_pc_vault: str
    market_vault_signer: str
    target_orders: str | None = None
    market_program: str = SERUM_PROGRAM
    authority: str = AMM_V4_AUTHORITY
    market_readonly: bool = False


def raydium_amm_v4_swap_base_in(keys: AmmV4Keys, user_source: str | Pubkey, user_destination: str | Pubkey,
                                user_owner: str | Pubkey, amount_in: int, min_out: int) -> Instruction:
    """Return Raydium AMM v4 ``swap_base_in`` (tag 9): sell ``amount_in`` of the source token, at least ``min_out``."""
    data = struct.pack("<BQQ", 9, _check("amount_in", amount_in, U64_MAX), _check("min_out", min_out, U64_MAX))
    m = _r if keys.market_readonly else _w
    metas = [_r(TOKEN_PROGRAM), _w(keys.amm), _r(keys.authority), m(keys.open_orders)]
    if keys.target_orders is not None:
        metas.append(_w(keys.target_orders))
    metas += [_w(keys.coin_vault), _w(keys.pc_vault), _r(keys.market_program), m(keys.market), m(keys.bids),
              m(keys.asks), m(keys.event_queue), m(keys.market_coin_vault), m(keys.market_pc_vault),
              _r(keys.market_vault_signer), _w(user_source), _w(user_destination),
              _signer(user_owner, writable=False)]
    return Instruction(pk(RAYDIUM_AMM_V4), data, metas)


# --------------------------------------------------------------------------- Raydium CPMM


CPMM_AUTHORITY = "GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL"  # PDA [b"vault_and_lp_mint_auth_seed"]


def cpmm_observation_address(pool_state: str | Pubkey) -> Pubkey:
    """Return the CPMM observation account of a pool (PDA ``[b"observation", pool]``)."""
    return Pubkey.find_program_address([b"observation", bytes(pk(pool_state))], pk(RAYDIUM_CPMM))[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class CpmmKeys:
    """The accounts of one Raydium CPMM pool (``PoolState`` fields), in the pool's token 0/1 order."""

    pool_state: str
    amm_config: str
    token_0_vault: str
    token_1_vault: str
    token_0_mint: str
    token_1_mint: str
    observation_state: str
    token_0_program: str = TOKEN_PROGRAM
    token_1_program: str = TOKEN_PROGRAM
    authority: str = CPMM_AUTHORITY


def raydium_cpmm_swap_base_input(keys: CpmmKeys, payer: str | Pubkey, input_token_account: str | Pubkey,
                                 output_token_account: str | Pubkey, *, zero_for_one: bool, amount_in: int,
                                 min_out: int) -> Instruction:
    """Return Raydium CPMM ``swap_base_input``; ``zero_for_one`` sells token 0 for token 1."""
    data = _DISC_CPMM_SWAP_BASE_INPUT + struct.pack("<QQ", _check("amount_in", amount_in, U64_MAX),
                                                    _check("min_out", min_out, U64_MAX))
    if zero_for_one:
        vin, vout, pin, pout, min_, mout = (keys.token_0_vault, keys.token_1_vault, keys.token_0_program,
                                            keys.token_1_program, keys.token_0_mint, keys.token_1_mint)
    else:
        vin, vout, pin, pout, min_, mout = (keys.token_1_vault, keys.token_0_vault, keys.token_1_program,
                                            keys.token_0_program, keys.token_1_mint, keys.token_0_mint)
    metas = [_signer(payer, writable=False), _r(keys.authority), _r(keys.amm_config), _w(keys.pool_state),
             _w(input_token_account), _w(output_token_account), _w(vin), _w(vout), _r(pin), _r(pout), _r(min_),
             _r(mout), _w(keys.observation_state)]
    return Instruction(pk(RAYDIUM_CPMM), data, metas)


# --------------------------------------------------------------------------- Orca Whirlpool


def whirlpool_tick_array_starts(tick_current: int, tick_spacing: int, a_to_b: bool) -> tuple[int, int, int]:
    """Return the start ticks of the three tick arrays a swap walks, as the Orca SDK picks them."""
    if tick_spacing <= 0:
        msg = f"tick_spacing must be positive, was {tick_spacing}"
        raise ValueError(msg)
    span = tick_spacing * WHIRLPOOL_TICKS_PER_ARRAY
    first = (tick_current + (0 if a_to_b else tick_spacing)) // span  # floor division: arrays tile the line
    step = -1 if a_to_b else 1
    return tuple((first + step * k) * span for k in range(3))  # type: ignore[return-value]


def whirlpool_tick_array_address(whirlpool: str | Pubkey, start_tick: int) -> Pubkey:
    """Return the tick array PDA ``[b"tick_array", whirlpool, str(start_tick)]``."""
    return Pubkey.find_program_address([b"tick_array", bytes(pk(whirlpool)), str(start_tick).encode()],
                                       pk(ORCA_WHIRLPOOL))[0]


def whirlpool_oracle_address(whirlpool: str | Pubkey) -> Pubkey:
    """Return the oracle PDA ``[b"oracle", whirlpool]``."""
    return Pubkey.find_program_address([b"oracle", bytes(pk(whirlpool))], pk(ORCA_WHIRLPOOL))[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class WhirlpoolKeys:
    """The accounts of one Orca Whirlpool (``Whirlpool`` fields)."""

    whirlpool: str
    token_vault_a: str
    token_vault_b: str
    tick_spacing: int


def orca_whirlpool_swap(keys: WhirlpoolKeys, token_authority: str | Pubkey, token_owner_account_a: str | Pubkey,
                        token_owner_account_b: str | Pubkey, tick_arrays: Sequence[str | Pubkey], *, amount: int,
                        other_amount_threshold: int, sqrt_price_limit_x64: int, amount_specified_is_input: bool,
                        a_to_b: bool, oracle: str | Pubkey | None = None) -> Instruction:
    """Return Orca Whirlpool ``swap``; for exact-in, ``other_amount_threshold`` is the minimum output."""
    if len(tick_arrays) != 3:
        msg = (f"a Whirlpool swap names exactly 3 tick arrays, was given {len(tick_arrays)}; "
               "Hint: repeat the last one when the swap stays inside fewer arrays")
        raise ValueError(msg)
    data = _DISC_WHIRLPOOL_SWAP + struct.pack(
        "<QQ", _check("amount", amount, U64_MAX), _check("other_amount_threshold", other_amount_threshold, U64_MAX))
    limit = _check("sqrt_price_limit_x64", sqrt_price_limit_x64, U128_MAX)
    data += limit.to_bytes(16, "little") + bytes([bool(amount_specified_is_input), bool(a_to_b)])
    oracle = whirlpool_oracle_address(keys.whirlpool) if oracle is None else oracle
    metas = [_r(TOKEN_PROGRAM), _signer(token_authority, writable=False), _w(keys.whirlpool),
             _w(token_owner_account_a), _w(keys.token_vault_a), _w(token_owner_account_b), _w(keys.token_vault_b),
             *(_w(t) for t in tick_arrays), _r(oracle)]
    return Instruction(pk(ORCA_WHIRLPOOL), data, metas)


# --------------------------------------------------------------------------- Pump.fun


class PumpfunEra(IntEnum):
    """Account layout of Pump.fun ``buy``/``sell``; the program changed it twice in 2025.

    * ``LEGACY``: 12 accounts; buy names the rent sysvar at 9, sell the ATA program at 8.
    * ``CREATOR_FEE``: 12 accounts; those two slots hold the creator vault PDA.
    * ``FEE_CONFIG``: buy adds the global and user volume accumulators, then the fee config and
      fee program (16 accounts); sell adds the fee config and fee program (14 accounts).
    """

    LEGACY = 0
    CREATOR_FEE = 1
    FEE_CONFIG = 2


def _pump_pda(*seeds: bytes, program: str = PUMPFUN) -> Pubkey:
    return Pubkey.find_program_address(list(seeds), pk(program))[0]


def pumpfun_bonding_curve_address(mint: str | Pubkey) -> Pubkey:
    """Return the bonding curve PDA ``[b"bonding-curve", mint]`` of a Pump.fun coin."""
    return _pump_pda(b"bonding-curve", bytes(pk(mint)))


@dataclass(frozen=True, slots=True, kw_only=True)
class PumpfunKeys:
    """The accounts of a Pump.fun trade by ``user`` on ``mint``'s bonding curve."""

    mint: Pubkey
    user: Pubkey
    bonding_curve: Pubkey
    associated_bonding_curve: Pubkey
    associated_user: Pubkey
    fee_recipient: Pubkey
    era: PumpfunEra
    creator_vault: Pubkey | None = None
    token_program: Pubkey = _TOKEN_PROGRAM_KEY


def pumpfun_keys(mint: str | Pubkey, user: str | Pubkey, fee_recipient: str | Pubkey, *,
                 era: PumpfunEra = PumpfunEra.FEE_CONFIG, creator: str | Pubkey | None = None,
                 token_program: str | Pubkey = TOKEN_PROGRAM) -> PumpfunKeys:
    """Derive a trade's accounts: curve PDA ``[b"bonding-curve", mint]``, ATAs, creator vault."""
    mint, user, tp = pk(mint), pk(user), pk(token_program)
    curve = pumpfun_bonding_curve_address(mint)
    vault = None
    if era != PumpfunEra.LEGACY:
        if creator is None:
            msg = (f"Pump.fun era {era.name} names the creator vault; creator was None. "
                   "Hint: read BondingCurve.creator from the curve account")
            raise ValueError(msg)
        vault = _pump_pda(b"creator-vault", bytes(pk(creator)))
    return PumpfunKeys(mint=mint, user=user, bonding_curve=curve,
                       associated_bonding_curve=associated_token_address(curve, mint, tp),
                       associated_user=associated_token_address(user, mint, tp), fee_recipient=pk(fee_recipient),
                       era=era, creator_vault=vault, token_program=tp)


def _pump_head(k: PumpfunKeys) -> list[AccountMeta]:
    return [_r(PUMPFUN_GLOBAL), _w(k.fee_recipient), _r(k.mint), _w(k.bonding_curve), _w(k.associated_bonding_curve),
            _w(k.associated_user), _signer(k.user, writable=True), _r(SYSTEM_PROGRAM)]


def _fee_tail() -> list[AccountMeta]:
    fee_config = _pump_pda(b"fee_config", bytes(pk(PUMPFUN)), program=PUMP_FEE_PROGRAM)
    return [_r(fee_config), _r(PUMP_FEE_PROGRAM)]


def pumpfun_buy(keys: PumpfunKeys, amount: int, max_sol_cost: int, *, track_volume: bool | None = None) -> Instruction:
    """Return Pump.fun ``buy``: exactly ``amount`` tokens for at most ``max_sol_cost`` lamports (fees included).

    ``track_volume`` None leaves the optional trailing byte out (the program reads it as false).
    """
    data = _DISC_PUMP_BUY + struct.pack("<QQ", _check("amount", amount, U64_MAX),
                                        _check("max_sol_cost", max_sol_cost, U64_MAX))
    if track_volume is not None:
        data += bytes([1 if track_volume else 0])
    metas = [*_pump_head(keys), _r(keys.token_program)]
    if keys.era == PumpfunEra.LEGACY:
        metas.append(_r(RENT_SYSVAR))
    else:
        metas.append(_w(keys.creator_vault))
    metas += [_r(PUMPFUN_EVENT_AUTHORITY), _r(PUMPFUN)]
    if keys.era == PumpfunEra.FEE_CONFIG:
        metas += [_r(_pump_pda(b"global_volume_accumulator")),
                  _w(_pump_pda(b"user_volume_accumulator", bytes(keys.user))), *_fee_tail()]
    return Instruction(pk(PUMPFUN), data, metas)


def pumpfun_sell(keys: PumpfunKeys, amount: int, min_sol_output: int) -> Instruction:
    """Return Pump.fun ``sell``: ``amount`` tokens for at least ``min_sol_output`` lamports (after fees)."""
    data = _DISC_PUMP_SELL + struct.pack("<QQ", _check("amount", amount, U64_MAX),
                                         _check("min_sol_output", min_sol_output, U64_MAX))
    metas = _pump_head(keys)
    if keys.era == PumpfunEra.LEGACY:
        metas.append(_r(ASSOCIATED_TOKEN_PROGRAM))
    else:
        metas.append(_w(keys.creator_vault))
    metas += [_r(keys.token_program), _r(PUMPFUN_EVENT_AUTHORITY), _r(PUMPFUN)]
    if keys.era == PumpfunEra.FEE_CONFIG:
        metas += _fee_tail()
    return Instruction(pk(PUMPFUN), data, metas)
