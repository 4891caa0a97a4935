"""Versioned transactions for live orders: slippage-bounded ``min_out`` from the exact quoters, assembly, signing.

``min_out`` is never taken from the float64 kernels: it comes from the exact integer twins of
``engine.amm.exact`` (rounded as the programs round), reduced by the order's slippage bound:
``min_out = floor(expected_out * (10,000 - slippage_bps) / 10,000)``. A Pump.fun buy names
the tokens it wants and a ceiling on lamports: ``max_sol_cost = ceil(cost * (10,000 +
slippage_bps) / 10,000)``.

A transaction is a version-0 message (``MessageV0.try_compile``) so that address lookup
tables can shorten it, signed with the wallet's keypair; compute-budget instructions come
first, then the caller's instructions, then the tip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from engine.amm.exact import cpmm_exact_in, curve_buy_cost, curve_sell_proceeds, curve_tokens_for_sol
from engine.exec.live.builders import compute_unit_limit, compute_unit_price, tip

__all__ = [
    "BPS",
    "CurveBuyQuote",
    "SwapQuote",
    "assemble",
    "base_fee_lamports",
    "cpmm_quote",
    "curve_buy_quote",
    "curve_sell_quote",
    "max_in_with_slippage",
    "min_out_with_slippage",
    "priority_fee_lamports",
    "sign",
]

BPS = 10_000
LAMPORTS_PER_SIGNATURE = 5_000


class SwapQuote(NamedTuple):
    """An exact-in quote: what goes in, what the exact twin says comes out, and the floor we accept."""

    amount_in: int
    expected_out: int
    min_out: int


class CurveBuyQuote(NamedTuple):
    """A Pump.fun buy: tokens asked for, lamports the curve charges now (fees in), and the ceiling we accept."""

    token_amount: int
    expected_cost: int
    max_sol_cost: int


def _bps(slippage_bps: int) -> int:
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 0 <= slippage_bps < BPS:
        msg = f"slippage_bps must be an integer in [0, 9,999], was {slippage_bps!r}"
        raise ValueError(msg)
    return slippage_bps


def min_out_with_slippage(expected_out: int, slippage_bps: int) -> int:
    """Return ``floor(expected_out * (10,000 - slippage_bps) / 10,000)``."""
    return expected_out * (BPS - _bps(slippage_bps)) // BPS


def max_in_with_slippage(expected_in: int, slippage_bps: int) -> int:
    """Return ``ceil(expected_in * (10,000 + slippage_bps) / 10,000)``."""
    return -(-expected_in * (BPS + _bps(slippage_bps)) // BPS)


def cpmm_quote(amount_in: int, reserve_in: int, reserve_out: int, fee_num: int, fee_den: int,
               slippage_bps: int) -> SwapQuote:
    """Quote a Raydium AMM v4 / CPMM exact-in swap with `cpmm_exact_in` and bound it by ``slippage_bps``."""
    out = cpmm_exact_in(amount_in, reserve_in, reserve_out, fee_num, fee_den).amount_out
    return SwapQuote(amount_in, out, min_out_with_slippage(out, slippage_bps))


def curve_buy_quote(sol_budget: int, virtual_sol: int, virtual_token: int, slippage_bps: int, *,
                    fee_bps: int, creator_fee_bps: int, fee_round_up: bool, real_token: int | None = None
                    ) -> CurveBuyQuote:
    """Quote a Pump.fun buy of what ``sol_budget`` lamports (fees in) buys now, with a slippage ceiling.

    The tokens are sized as the SDK sizes them (`curve_tokens_for_sol`); the cost is what the
    program charges for them (`curve_buy_cost`); ``max_sol_cost`` allows ``slippage_bps`` more.
    """
    tokens = curve_tokens_for_sol(sol_budget, virtual_sol, virtual_token, fee_bps, creator_fee_bps=creator_fee_bps,
                                  real_token=real_token).token_amount
    cost = curve_buy_cost(tokens, virtual_sol, virtual_token, fee_bps, creator_fee_bps=creator_fee_bps,
                          fee_round_up=fee_round_up)
    total = cost.sol_amount + cost.fee
    return CurveBuyQuote(tokens, total, max_in_with_slippage(total, slippage_bps))


def curve_sell_quote(token_in: int, virtual_sol: int, virtual_token: int, slippage_bps: int, *, fee_bps: int,
                     creator_fee_bps: int, fee_round_up: bool) -> SwapQuote:
    """Quote a Pump.fun sell: lamports received after fees (`curve_sell_proceeds`), and the floor."""
    p = curve_sell_proceeds(token_in, virtual_sol, virtual_token, fee_bps, creator_fee_bps=creator_fee_bps,
                            fee_round_up=fee_round_up)
    net = p.sol_amount - p.fee
    return SwapQuote(token_in, net, min_out_with_slippage(net, slippage_bps))


def priority_fee_lamports(cu_limit: int, cu_price_micro_lamports: int) -> int:
    """Return the priority fee the runtime charges: ``ceil(price * limit / 1,000,000)``."""
    return -(-cu_limit * cu_price_micro_lamports // 1_000_000)


def base_fee_lamports(n_signatures: int = 1) -> int:
    """Return the base fee: 5,000 lamports per signature."""
    return LAMPORTS_PER_SIGNATURE * n_signatures


def assemble(payer: Pubkey, instructions: Sequence[Instruction], blockhash: Hash, *, cu_limit: int,
             cu_price_micro_lamports: int, tip_account: Pubkey | None = None, tip_lamports: int = 0,
             lookup_tables: Sequence[AddressLookupTableAccount] = ()) -> MessageV0:
    """Compile a version-0 message: compute budget, ``instructions``, then the tip (when ``tip_lamports > 0``)."""
    ixs = [compute_unit_limit(cu_limit), compute_unit_price(cu_price_micro_lamports), *instructions]
    if tip_lamports > 0:
        if tip_account is None:
            msg = f"tip_lamports={tip_lamports:,} but no tip_account was given; Hint: set LiveConfig.tip_account"
            raise ValueError(msg)
        ixs.append(tip(payer, tip_account, tip_lamports))
    return MessageV0.try_compile(payer, ixs, list(lookup_tables), blockhash)


def sign(message: MessageV0, keypair: Keypair) -> VersionedTransaction:
    """Return the transaction signed by ``keypair`` (live code signs through `WalletKey.sign`)."""
    return VersionedTransaction(message, [keypair])
