"""A sending live session on the LiteSVM chain: the kernel books the venue's fills; its ledger is the wallet's."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from engine.exec.live.builders import associated_token_address
from engine.exec.live.guards import GuardConfig, SendMode, load_wallet
from engine.exec.live.journal import iter_records
from engine.exec.live.routes import ROUTED_PROGRAMS, pool_listings
from engine.exec.live.session import LiveSession, OwnFill, SessionConfig, insert_reports, own_fill_row
from engine.exec.live.venue import LiveConfig, LiveResult
from engine.feeds.programs import WSOL_MINT
from engine.feeds.synthetic import SyntheticConfig
from engine.feeds.synthetic_live import synthetic_market
from engine.layout import EventKind, Side
from engine.schema import Tape
from engine.sim import Capacity, SimConfig, run
from engine.sim.records import ACC_CASH, ACC_INIT_CASH, ACC_N_FILLS, ACC_N_PENDING, FillStatus
from engine.store.journal import Journal
from engine.store.lake import Lake
from research.strategies import get
from tests.engine.exec.live.litesvm_rpc import LiteSvmRpc
from tests.engine.exec.live.world import add_listed_pools, rpc_config, write_keypair

SOL = 10**9
TIP = 10_000
SYN = SyntheticConfig(seed=1, days=0.1, n_tokens=3)
MARKET, GEN = synthetic_market(SYN)
LISTINGS = pool_listings(GEN.pools, GEN.tokens)
SNIPER = get("sniper")
PARAMS = SNIPER.params([{"tip_lamports": TIP}])
CAPACITY = Capacity(max_fills=65_536, max_pending=64, max_holdings=64, max_equity=0)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):
    """One sending session of the sniper over the synthetic market, its pools on a LiteSVM chain.

    A competitor moves the pool 5 % before our first landed swap (slippage bound 1 %): it fails on chain.
    """
    tmp = tmp_path_factory.mktemp("live")
    srv = LiteSvmRpc(slot_ms=20)
    add_listed_pools(srv, LISTINGS)
    kp, tip_account = Keypair(), Keypair().pubkey()
    srv.airdrop(kp.pubkey(), 100 * SOL)
    srv.airdrop(tip_account, SOL)
    wallet = load_wallet(write_keypair(tmp / "id.json", kp))
    srv.faults.front_run_bps, srv.faults.front_runs = 500, 1
    srv.start()
    mints = frozenset(m for pool in LISTINGS.values() for m in (pool.base_mint, pool.quote_mint))
    guards = GuardConfig(max_order_notional_lamports=20 * SOL, max_day_notional_lamports=10**12, max_slippage_bps=500,
                         allowed_mints=mints, allowed_programs=ROUTED_PROGRAMS, kill_switch_path=str(tmp / "KILL"))
    live = LiveSession(Lake(tmp / "lake"), "lv-ext", SNIPER, PARAMS, cfg=SimConfig(seed=1),
                       feed_spec={"kind": "synthetic", "synthetic": asdict(SYN), "speed": 3_000},
                       market=MARKET, listings=LISTINGS, wallet=wallet, rpc=rpc_config(srv.url), guards=guards,
                       venue=LiveConfig(poll_interval_ms=3, resend_interval_ms=25, max_confirm_ms=10_000,
                                        tip_account=str(tip_account)),
                       mode=SendMode.LIVE, session=SessionConfig(reconcile_every_s=0.3, journal_every_s=0.2))
    try:
        out = live.run()
        yield live, out, srv, wallet
    finally:
        srv.stop()


def chain_sol_and_tokens(srv: LiteSvmRpc, owner: Pubkey) -> tuple[int, dict[str, int]]:
    """The wallet read from the chain's accounts: native + token-account lamports, and tokens per mint."""
    sol, tokens = srv.svm.get_balance(owner) or 0, {}
    for mint in {m for pool in LISTINGS.values() for m in (pool.base_mint, pool.quote_mint)} | {WSOL_MINT}:
        ata = associated_token_address(owner, mint)
        sol += srv.svm.get_balance(ata) or 0
        if srv.svm.get_account(ata) is not None and (srv.svm.get_balance(ata) or 0) > 0 and mint != WSOL_MINT:
            tokens[mint] = srv.token_amount(ata)
    return sol, tokens


def test_a_sending_session_books_the_venues_fills_so_the_kernel_ledger_equals_the_chain(ran) -> None:
    live, out, srv, wallet = ran
    # orders filled, bought and sold, one failed on its slippage bound, some were refused (no route)
    st = live.runner.state
    by_outcome = {k: [r for r in out.results if r.outcome == k] for k in ("filled", "failed", "refused")}
    assert out.status == "completed" and out.halted is None
    assert len(by_outcome["failed"]) == 1 and by_outcome["failed"][0].fill_status == FillStatus.BELOW_MIN_OUT
    assert {r.side for r in by_outcome["filled"]} == {Side.BUY, Side.SELL} and by_outcome["refused"]
    # every result was booked once, nothing is left pending
    fills = st.fills[0, : int(st.acc[0, ACC_N_FILLS])]
    assert sorted(fills["order_id"].tolist()) == sorted(r.order_id for r in out.results)
    assert st.acc[0, ACC_N_PENDING] == 0.0
    # the failed order cost its fee and nothing else; a refused one cost nothing
    failed = by_outcome["failed"][0]
    rec = fills[fills["order_id"] == failed.order_id][0]
    assert rec["status"] == FillStatus.BELOW_MIN_OUT and rec["amount_out_raw"] == 0.0 and rec["tip"] == 0.0
    assert rec["fee_base"] + rec["fee_priority"] == failed.fee_lamports > 5_000
    refused = fills[fills["order_id"] == by_outcome["refused"][0].order_id][0]
    assert refused["status"] == FillStatus.CANCELLED and refused["fee_base"] + refused["fee_priority"] == 0.0
    assert (fills[fills["status"] == FillStatus.FILLED]["tip"] == TIP).all()
    # the kernel's ledger is the wallet: cash = every lamport it controls, holdings = its tokens
    sol, tokens = chain_sol_and_tokens(srv, wallet.pubkey)
    assert st.acc[0, ACC_CASH] == sol and st.acc[0, ACC_INIT_CASH] == 100 * SOL
    mint_of = {int(MARKET.pool_base[p]): pool.base_mint for p, pool in LISTINGS.items()}
    held = {mint_of[int(h["asset"])]: h["qty_raw"] for h in st.holdings[0] if h["asset"] >= 0}
    assert held == {m: float(v) for m, v in tokens.items() if v} and held
    assert out.ledger["equal"] and out.ledger["kernel_cash_lamports"] == sol
    checks = [r for r in iter_records(Path(out.folder) / "decisions.jsonl") if r["guard"] == "kernel_ledger"]
    assert len(checks) >= 2 and all(r["allowed"] for r in checks)  # mid-session and at the end


def test_the_journaled_tape_replays_to_the_same_kernel_ledger(ran) -> None:
    # Act: the journal alone (its tape and the kernel record) rebuilds the run as a backtest
    live, out, _, _ = ran
    journal = Journal(live.lake, live.run_id)
    tape = journal.read_tape()
    (kernel,) = [r for r in iter_records(Path(out.folder) / "decisions.jsonl") if r["kind"] == "kernel"]
    cfg = SimConfig(seed=1, fills="external", init_cash=float(kernel["detail"]["init_cash_lamports"]))
    again = run(tape, SNIPER, PARAMS, market=MARKET, cfg=cfg, capacity=CAPACITY).state
    # Assert
    st = live.runner.state
    assert (tape.kind == EventKind.OWN_FILL).sum() == len(out.results) > 0
    assert tape.is_sorted() and tape.n_events == out.n_events
    for name in ("acc", "holdings", "pending", "fills", "si", "states"):
        assert getattr(again, name).tobytes() == getattr(st, name).tobytes(), name


# ---------------------------------------------------------------------------------------------
# The rows themselves.

CASH_POOL = next(p for p in LISTINGS if MARKET.pool_quote[p] == MARKET.cash_asset)
USDC_POOL = next(p for p in LISTINGS if MARKET.pool_quote[p] != MARKET.cash_asset)


def result(**kw) -> LiveResult:
    base = {"order_id": 3, "pool_id": CASH_POOL, "side": Side.BUY, "outcome": "filled",
            "fill_status": FillStatus.FILLED, "reason": "filled", "signature": "sig", "slot": 9,
            "amount_in_raw": 1_000_000, "amount_out_raw": 5_000, "fee_lamports": 7_000, "tip_lamports": 1_000}
    return LiveResult(**{**base, **kw})


@pytest.mark.parametrize(("kw", "expected"), [
    ({}, (999_000, 5_000, 7_000, 1_000)),  # the parser put the tip into the SOL paid
    ({"side": Side.SELL, "amount_in_raw": 5_000, "amount_out_raw": 999_000}, (5_000, 1_000_000, 7_000, 1_000)),
    ({"pool_id": USDC_POOL}, (1_000_000, 5_000, 7_000, 1_000)),  # no SOL leg in the swap: the tip stays apart
    ({"outcome": "failed", "fill_status": FillStatus.BELOW_MIN_OUT, "amount_in_raw": 0, "amount_out_raw": 0},
     (0, 0, 7_000, 0)),  # rolled back but its fee: no tip
    ({"outcome": "expired", "fill_status": FillStatus.CANCELLED, "slot": -1, "fee_lamports": 0}, (0, 0, 0, 0)),
])
def test_own_fill_row_gives_the_swaps_own_amounts_and_what_was_paid(kw: dict, expected: tuple) -> None:
    row = own_fill_row(result(**kw), MARKET)
    assert (row.amount_in_raw, row.amount_out_raw, row.fee_lamports, row.tip_lamports) == expected
    assert (row.order_id, row.mint_id) == (3, int(MARKET.pool_base[row.pool_id]))


def test_an_order_whose_landing_is_unknown_gets_no_row() -> None:
    assert own_fill_row(result(outcome="unknown", fill_status=FillStatus.CANCELLED), MARKET) is None


def test_reports_go_before_the_first_event_of_a_new_slot_or_wait() -> None:
    chunk = Tape.from_columns(slot=[10, 10, 11, 12], seq=[4, 9, 0, 2], ts_ns=[1, 1, 2, 3],
                              kind=np.full(4, EventKind.SWAP))
    rows = [OwnFill(0, CASH_POOL, 2, 0, 0, 1, 2, 3, 0), OwnFill(1, CASH_POOL, 2, 1, 1, 0, 0, 5, 0)]
    merged, left = insert_reports(chunk, rows, last_slot=10)
    assert left == [] and merged.is_sorted() and merged.n_events == 6
    assert merged.kind.tolist() == [EventKind.SWAP] * 2 + [EventKind.OWN_FILL] * 2 + [EventKind.SWAP] * 2
    assert (merged.slot[2:4].tolist(), merged.seq[2:4].tolist(), merged.ts_ns[2:4].tolist()) == ([11, 11], [-2, -1],
                                                                                                 [2, 2])
    assert merged.vals[2:4, 3].tolist() == [0.0, 1.0]  # the order ids
    same_slot, waiting = insert_reports(chunk.slice(0, 2), rows, last_slot=10)
    assert same_slot.n_events == 2 and waiting == rows
