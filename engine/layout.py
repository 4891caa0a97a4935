"""Event kinds and the column layout of a tape, importable from kernels.

This module imports only NumPy so that Numba kernels can use its constants; `engine.schema`
builds the Arrow schemas and the `Tape` class on top of it.

A tape row has fixed integer columns (``slot``, ``seq``, ``ts_ns``, ``kind``, ``pool_id``,
``wallet_id``, ``mint_id``, ``side``, ``flags``) and a float64 matrix ``vals`` of shape
``(n, N_VALS)`` whose columns mean different things per kind. Kernels index it with the named
constants below (``vals[i, SWAP_AMOUNT_IN]``), never with bare numbers.

| kind          | pool_id    | wallet_id  | mint_id     | side      | flags       | vals[0..4]                         |
| ------------- | ---------- | ---------- | ----------- | --------- | ----------- | ---------------------------------- |
| POOL_STATE    | pool       | -1         | base mint   | PoolKind  | 0           | reserve_base, reserve_quote,       |
|               |            |            |             |           |             | real_base, real_quote              |
| SWAP          | pool       | trader     | base mint   | Side      | 0           | amount_in, amount_out              |
| NEW_POOL      | pool       | creator    | new mint    | PoolKind  | RISK_* bits | reserve_base, reserve_quote,       |
|               |            |            |             |           |             | lp_burned, top_holder, fee_bps     |
| LIQUIDITY     | pool       | provider   | base mint   | -1        | 0           | delta_base, delta_quote            |
| BAR           | instrument | -1         | -1          | -1        | 0           | open, high, low, close, volume     |
| OUTCOME_TRADE | market     | trader     | outcome 0/1 | Side      | 0           | shares, price                      |
| RESOLUTION    | market     | -1         | -1          | -1        | 0           | payout of outcome 1 (0 or 1)       |
| OWN_FILL      | pool       | our wallet | base mint   | Side      | fill status | amount_in, amount_out, fee_lamports|
|               |            | (-1: none) |             |           |             | order_id, tip_lamports             |

An OWN_FILL row reports what became of one of our orders on a live venue: ``order_id`` is the
kernel's id of the order it settles (a float64 holds every id exactly), the amounts are what
the swap itself took and gave (tips and fees apart), ``fee_lamports`` the network fee (base plus
priority) and ``tip_lamports`` the bundle tip paid. A failed order reports zero amounts and the
fee it paid; one that never landed (refused, expired) reports ``FillStatus.CANCELLED`` and zeros.

Unused values are 0.0. Pool states by pool kind (the pool registry says which): constant product keeps base and
quote reserves; a bonding curve keeps virtual token and virtual SOL reserves in
``reserve_base``/``reserve_quote`` and the real ones in ``real_base``/``real_quote``;
concentrated liquidity keeps ``liquidity`` in slot 0, ``sqrt_price`` (sqrt_price_x64 / 2**64) in
slot 1 and the current ``tick`` in slot 2.

Amounts are base units (``*_raw``): lamports for SOL, the mint's smallest unit for tokens.
float64 holds every integer up to 2**53 exactly; the lake stores the integers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class EventKind(IntEnum):
    """What one tape row is. Extend at the end; never renumber (numbers are stored)."""

    POOL_STATE = 0
    SWAP = 1
    NEW_POOL = 2
    LIQUIDITY = 3
    BAR = 4
    OUTCOME_TRADE = 5
    RESOLUTION = 6
    OWN_FILL = 7


class Side(IntEnum):
    """Direction of a swap or outcome trade, seen from the trader and the base token."""

    BUY = 0  # quote in, base out
    SELL = 1  # base in, quote out


class PoolKind(IntEnum):
    """Swap math of a pool; stored in the pool registry."""

    CPMM = 0  # constant product (Raydium AMM v4, CPMM, PumpSwap)
    CLMM = 1  # concentrated liquidity (Orca Whirlpool, Raydium CLMM)
    CURVE = 2  # bonding curve (Pump.fun)


# Risk facts of a NEW_POOL row (bits of `flags`).
RISK_MINT_AUTHORITY = 1  # mint authority kept: supply can be inflated
RISK_FREEZE_AUTHORITY = 2  # freeze authority kept: holders can be frozen (a honeypot)
RISK_TRANSFER_FEE = 4  # token-2022 transfer fee set

N_VALS = 5

# vals columns per kind: true constants of the layout.
STATE_RESERVE_BASE = 0
STATE_RESERVE_QUOTE = 1
STATE_REAL_BASE = 2
STATE_REAL_QUOTE = 3
STATE_LIQUIDITY = 0
STATE_SQRT_PRICE = 1
STATE_TICK = 2

SWAP_AMOUNT_IN = 0
SWAP_AMOUNT_OUT = 1

NEW_RESERVE_BASE = 0
NEW_RESERVE_QUOTE = 1
NEW_LP_BURNED = 2
NEW_TOP_HOLDER = 3
NEW_FEE_BPS = 4

LIQ_DELTA_BASE = 0
LIQ_DELTA_QUOTE = 1

BAR_OPEN = 0
BAR_HIGH = 1
BAR_LOW = 2
BAR_CLOSE = 3
BAR_VOLUME = 4

OUTCOME_SHARES = 0
OUTCOME_PRICE = 1

RESOLUTION_PAYOUT = 0

FILL_AMOUNT_IN = 0
FILL_AMOUNT_OUT = 1
FILL_FEE_LAMPORTS = 2
FILL_ORDER_ID = 3
FILL_TIP_LAMPORTS = 4

# The integer columns of a tape, in order, with their dtypes.
INT_COLUMNS: dict[str, np.dtype] = {
    "slot": np.dtype(np.int64),
    "seq": np.dtype(np.int32),
    "ts_ns": np.dtype(np.int64),
    "kind": np.dtype(np.int8),
    "pool_id": np.dtype(np.int32),
    "wallet_id": np.dtype(np.int32),
    "mint_id": np.dtype(np.int32),
    "side": np.dtype(np.int8),
    "flags": np.dtype(np.int32),
}

SLOT_NS = 400_000_000  # nominal Solana slot time: 400 ms
