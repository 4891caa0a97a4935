"""Solana program ids that the transaction parser recognises, and where each swap keeps its pool.

Two kinds of program matter to the parser (`engine.feeds.solana_tx`):

* **venues** hold the liquidity: AMMs, CLMMs, bonding curves. A swap instruction of a venue
  names its pool account and the vault accounts that hold the pool's reserves, at fixed
  positions in the instruction's account list (``SWAP_LAYOUTS``). The parser reads the vault
  balance changes there to record one hop per pool.
* **routers** (aggregators, trading bots) call venues through cross-program invocations; they
  hold no liquidity.

Facts (program ids, instruction discriminators, account positions) come from each program's
public IDL or source; the swap instruction account orders were checked against the labelled
instruction fixtures in ``shared/fixtures/sevenlabs-hq-carbon`` (carbon decoders, commit
9dc3c3a5bb39298fb60702a3594efdd67b36cc25) and, for Raydium AMM v4, against
``program/src/instruction.rs`` of raydium-io/raydium-amm (commit
b186b06df99f40a679264eb8937aa124eacaa679). Anchor discriminators are the first 8 bytes of
``sha256("global:<instruction name>")`` and are computed here, not copied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

WSOL_MINT = "So11111111111111111111111111111111111111112"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"

RAYDIUM_AMM_V4 = "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"
RAYDIUM_CPMM = "CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C"
RAYDIUM_CLMM = "CAMMCzo5YL8w4VFF8KVHrK22GGUsp5VTaW7grrKgrWqK"
ORCA_WHIRLPOOL = "whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc"
METEORA_DLMM = "LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo"
PUMPFUN = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
PUMPSWAP = "pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA"

JUPITER_V6 = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
JUPITER_DCA = "DCA265Vj8a9CEuX1eb1LWRnDT7uK6q1xMipnNyatn23M"
OKX_ROUTER_V2 = "6m2CDdhRgxpH4WjvdzxAYbGxwdGUz5MziiL5jek2kBma"
PHOTON_ROUTER = "BSfD6SHZigAfDWSjzD5Q41jw8LmKwtmjskPH9XW1mrRW"

# Liquidity venues: program id -> the name stored in ParsedTx.dex.
VENUES: dict[str, str] = {
    RAYDIUM_AMM_V4: "raydium_amm_v4",
    RAYDIUM_CPMM: "raydium_cpmm",
    RAYDIUM_CLMM: "raydium_clmm",
    ORCA_WHIRLPOOL: "orca_whirlpool",
    METEORA_DLMM: "meteora_dlmm",
    PUMPFUN: "pumpfun",
    PUMPSWAP: "pumpswap",
}

# Routers, aggregators and bots that reach venues by CPI: program id -> ParsedTx.router.
ROUTERS: dict[str, str] = {
    JUPITER_V6: "jupiter_v6",
    JUPITER_DCA: "jupiter_dca",
    OKX_ROUTER_V2: "okx_router",
    PHOTON_ROUTER: "photon",
}


def anchor_discriminator(name: str, namespace: str = "global") -> bytes:
    """Return the 8-byte Anchor discriminator of an instruction (``global``) or account (``account``)."""
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


@dataclass(frozen=True, slots=True)
class SwapLayout:
    """Where one swap instruction keeps its pool and vault accounts.

    Parameters
    ----------
    name : str
        Instruction name, as in the program's IDL.
    min_accounts : int
        Fewest accounts the instruction can have; a shorter one is not this instruction.
    pools : tuple of (int, tuple of int)
        For each pool the instruction trades against (two for Orca's two-hop swaps): the
        position of the pool account and the positions of its vault token accounts.
        Negative positions count from the end of the account list (Raydium AMM v4 has 17 or 18
        accounts, with the vaults 13 and 12 from the end).
    native_pool : bool
        The pool account itself holds the SOL side as lamports (Pump.fun bonding curves).
    """

    name: str
    min_accounts: int
    pools: tuple[tuple[int, tuple[int, ...]], ...]
    native_pool: bool = False


def _anchor(names_layouts: list[tuple[str, SwapLayout]]) -> dict[bytes, SwapLayout]:
    return {anchor_discriminator(name): layout for name, layout in names_layouts}


# program id -> (discriminator length in bytes, {discriminator: layout}).
SWAP_LAYOUTS: dict[str, tuple[int, dict[bytes, SwapLayout]]] = {
    # raydium-io/raydium-amm program/src/instruction.rs: SwapBaseIn = 9, SwapBaseOut = 11 (17 or 18
    # accounts: [token program, amm, authority, open orders, (target orders), coin vault, pc vault,
    # 8 market accounts, user source, user destination, user owner]); SwapBaseInV2 = 16,
    # SwapBaseOutV2 = 17 (8 accounts: [token program, amm, authority, coin vault, pc vault, ...]).
    RAYDIUM_AMM_V4: (
        1,
        {
            bytes([9]): SwapLayout("swap_base_in", 17, ((1, (-13, -12)),)),
            bytes([11]): SwapLayout("swap_base_out", 17, ((1, (-13, -12)),)),
            bytes([16]): SwapLayout("swap_base_in_v2", 8, ((1, (3, 4)),)),
            bytes([17]): SwapLayout("swap_base_out_v2", 8, ((1, (3, 4)),)),
        },
    ),
    # raydium-io/raydium-cp-swap: [payer, authority, amm_config, pool_state, input token account,
    # output token account, input vault, output vault, ...]
    RAYDIUM_CPMM: (
        8,
        _anchor(
            [
                ("swap_base_input", SwapLayout("swap_base_input", 8, ((3, (6, 7)),))),
                ("swap_base_output", SwapLayout("swap_base_output", 8, ((3, (6, 7)),))),
            ]
        ),
    ),
    # raydium-io/raydium-clmm: [payer, amm_config, pool_state, input account, output account,
    # input vault, output vault, ...]; swap_router_base_in keeps its hops in remaining accounts
    # and is not decoded (its inner transfers still count in the balance-derived swap).
    RAYDIUM_CLMM: (
        8,
        _anchor(
            [
                ("swap", SwapLayout("swap", 7, ((2, (5, 6)),))),
                ("swap_v2", SwapLayout("swap_v2", 7, ((2, (5, 6)),))),
            ]
        ),
    ),
    # orca-so/whirlpools, labels in the carbon fixtures swap_ix.json, swap_v2_ix.json,
    # two_hop_swap_ix.json, two_hop_swap_v2_ix.json.
    ORCA_WHIRLPOOL: (
        8,
        _anchor(
            [
                ("swap", SwapLayout("swap", 7, ((2, (4, 6)),))),
                ("swap_v2", SwapLayout("swap_v2", 11, ((4, (8, 10)),))),
                ("two_hop_swap", SwapLayout("two_hop_swap", 12, ((2, (5, 7)), (3, (9, 11))))),
                ("two_hop_swap_v2", SwapLayout("two_hop_swap_v2", 13, ((0, (9, 10)), (1, (11, 12))))),
            ]
        ),
    ),
    # MeteoraAg DLMM, labels in the carbon fixtures: [lb_pair, bitmap extension, reserve_x,
    # reserve_y, ...] for every swap variant.
    METEORA_DLMM: (
        8,
        _anchor(
            [
                (name, SwapLayout(name, 8, ((0, (2, 3)),)))
                for name in (
                    "swap",
                    "swap2",
                    "swap_exact_out",
                    "swap_exact_out2",
                    "swap_with_price_impact",
                    "swap_with_price_impact2",
                )
            ]
        ),
    ),
    # pump.fun IDL: [global, fee_recipient, mint, bonding_curve, associated_bonding_curve,
    # associated_user, user, ...]; the curve account holds the SOL reserve as lamports.
    PUMPFUN: (
        8,
        _anchor(
            [
                (name, SwapLayout(name, 7, ((3, (4,)),), native_pool=True))
                for name in ("buy", "sell", "buy_exact_sol_in")
            ]
        ),
    ),
    # PumpSwap IDL: [pool, user, global_config, base_mint, quote_mint, user_base_token_account,
    # user_quote_token_account, pool_base_token_account, pool_quote_token_account, ...]
    PUMPSWAP: (
        8,
        _anchor(
            [
                (name, SwapLayout(name, 9, ((0, (7, 8)),)))
                for name in ("buy", "sell", "buy_exact_quote_in")
            ]
        ),
    ),
}
