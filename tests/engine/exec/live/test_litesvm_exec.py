"""Our transactions, minus the DEX instruction, run in LiteSVM: ATA creation, wrap/unwrap, tip, compute budget.

LiteSVM ships the System, SPL Token, associated-token-account, compute-budget and
address-lookup-table programs, so fees and balances here are exactly what the chain charges.
"""

from __future__ import annotations

import struct

from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey

from engine.exec.live.builders import (
    associated_token_address,
    close_account,
    create_ata_idempotent,
    transfer_lamports,
    unwrap_sol,
    wrap_sol,
)
from engine.exec.live.tx import assemble, base_fee_lamports, priority_fee_lamports, sign
from engine.feeds.programs import TOKEN_PROGRAM, WSOL_MINT
from tests.engine.exec.live.litesvm_rpc import mint_data

TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
WSOL = Pubkey.from_string(WSOL_MINT)
ALT_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")
SOL = 10**9


def _svm() -> tuple[LiteSVM, Keypair, Pubkey, int]:
    svm = LiteSVM()
    payer = Keypair()
    svm.airdrop(payer.pubkey(), 10 * SOL)
    svm.set_account(WSOL, Account(1_461_600, mint_data(9), TOKEN, False))
    mint = Keypair().pubkey()
    svm.set_account(mint, Account(1_461_600, mint_data(6), TOKEN, False))
    return svm, payer, mint, svm.minimum_balance_for_rent_exemption(165)


def _amount(svm: LiteSVM, account: Pubkey) -> int:
    return struct.unpack_from("<Q", bytes(svm.get_account(account).data), 64)[0]


def test_wrap_tip_and_ata_cost_exactly_fee_tip_rent_and_the_wrapped_sol() -> None:
    # Arrange
    svm, payer, mint, rent = _svm()
    tip_account = Keypair().pubkey()
    svm.airdrop(tip_account, SOL)
    owner = payer.pubkey()
    ixs = [*wrap_sol(owner, 2 * SOL), create_ata_idempotent(owner, owner, mint)]
    msg = assemble(owner, ixs, svm.latest_blockhash(), cu_limit=120_000, cu_price_micro_lamports=25_000,
                   tip_account=tip_account, tip_lamports=10_000)
    # Act
    meta = svm.send_transaction(sign(msg, payer))
    # Assert
    fee = base_fee_lamports(1) + priority_fee_lamports(120_000, 25_000)
    assert fee == 5_000 + 3_000
    assert meta.fee() == fee
    wsol_ata = associated_token_address(owner, WSOL)
    assert _amount(svm, wsol_ata) == 2 * SOL
    assert svm.get_balance(wsol_ata) == rent + 2 * SOL
    assert _amount(svm, associated_token_address(owner, mint)) == 0
    assert svm.get_balance(tip_account) == SOL + 10_000
    assert svm.get_balance(owner) == 10 * SOL - fee - 10_000 - 2 * rent - 2 * SOL


def test_unwrap_returns_rent_and_wrapped_sol_and_create_idempotent_is_a_no_op_twice() -> None:
    svm, payer, _, rent = _svm()
    owner = payer.pubkey()
    svm.send_transaction(sign(assemble(owner, wrap_sol(owner, SOL), svm.latest_blockhash(), cu_limit=100_000,
                                       cu_price_micro_lamports=0), payer))
    before = svm.get_balance(owner)
    svm.expire_blockhash()
    ixs = [create_ata_idempotent(owner, owner, WSOL), *unwrap_sol(owner)]  # the ATA exists: a no-op first
    meta = svm.send_transaction(sign(assemble(owner, ixs, svm.latest_blockhash(), cu_limit=100_000,
                                              cu_price_micro_lamports=1), payer))
    assert meta.fee() == 5_000 + 1  # ceil(1 * 100,000 / 1e6)
    assert svm.get_account(associated_token_address(owner, WSOL)) is None or \
        svm.get_balance(associated_token_address(owner, WSOL)) == 0
    assert svm.get_balance(owner) == before - meta.fee() + rent + SOL


def test_failed_transaction_charges_the_fee_and_reverts_the_rest() -> None:
    svm, payer, mint, _ = _svm()
    owner = payer.pubkey()
    ata = associated_token_address(owner, mint)
    ixs = [create_ata_idempotent(owner, owner, mint), close_account(Keypair().pubkey(), owner, owner)]
    result = svm.send_transaction(sign(assemble(owner, ixs, svm.latest_blockhash(), cu_limit=50_000,
                                                cu_price_micro_lamports=100_000), payer))
    assert hasattr(result, "err")
    assert result.meta().fee() == 5_000 + 5_000
    assert svm.get_balance(owner) == 10 * SOL - 10_000
    assert svm.get_account(ata) is None or svm.get_balance(ata) == 0


def test_version_0_message_with_a_lookup_table_runs() -> None:
    # Arrange: a lookup table holding the tip account, written as the ALT program stores it
    svm, payer, _, _ = _svm()
    owner = payer.pubkey()
    dest = Keypair().pubkey()
    svm.airdrop(dest, SOL)
    table_key = Keypair().pubkey()
    meta = struct.pack("<IQQBB32sH", 1, (1 << 64) - 1, 0, 0, 0, bytes(32), 0)
    svm.set_account(table_key, Account(SOL, meta + bytes(dest), ALT_PROGRAM, False))
    svm.warp_to_slot(svm.get_clock().slot + 10)
    table = AddressLookupTableAccount(table_key, [dest])
    # Act
    msg = assemble(owner, [transfer_lamports(owner, dest, 777)], svm.latest_blockhash(), cu_limit=10_000,
                   cu_price_micro_lamports=0, lookup_tables=[table])
    result = svm.send_transaction(sign(msg, payer))
    # Assert: the destination came from the table, not the static keys
    assert dest not in list(msg.account_keys)
    assert not hasattr(result, "err"), result
    assert svm.get_balance(dest) == SOL + 777
