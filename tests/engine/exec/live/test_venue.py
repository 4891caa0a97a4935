"""The live loop against the LiteSVM JSON-RPC server, with faults; the ledger must end equal to the chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.exec.live.journal import iter_records
from engine.exec.live.sender import SendError, TxSender
from engine.exec.live.venue import LiveIntent, LiveResult, LiveVenue, ReconcileError
from engine.feeds.programs import RAYDIUM_AMM_V4
from engine.layout import EventKind, Side
from engine.sim.records import ORDER_DT, FillStatus
from tests.engine.exec.live import litesvm_rpc
from tests.engine.exec.live.world import (
    AMM_POOL_ID,
    CPMM_POOL_ID,
    PUMP_POOL_ID,
    WHIRLPOOL_ID,
    WHIRLPOOL_TICK,
    World,
    make_world,
    open_venue,
)

SOL = 10**9


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path, token_balance=10**9)
    w.server.start()
    yield w
    w.server.stop()


def _intent(oid: int, pool: int = AMM_POOL_ID, side: Side = Side.BUY, amount: int = SOL, **kw: object) -> LiveIntent:
    return LiveIntent(order_id=oid, pool_id=pool, side=side, amount_in_raw=amount, slippage_bps=100,
                      cu_price_micro_lamports=kw.pop("price", 10_000), **kw)


def _run(world: World, tmp: Path, body, **kw: object) -> LiveVenue:
    async def main() -> LiveVenue:
        async with open_venue(world, tmp, **kw) as venue:
            await body(venue)
            await venue.reconcile()  # ledger == chain, lamport for lamport
            return venue

    return asyncio.run(main())


def _assert_each_signature_landed_once(world: World) -> None:
    assert all(n >= 1 for n in world.server.sends.values())
    assert len(world.server.landed) == len(set(world.server.landed))


def test_buys_and_sells_fill_and_reconcile(world: World, tmp_path: Path) -> None:
    results: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        for oid, (pool, side, amount) in enumerate([(AMM_POOL_ID, Side.BUY, SOL), (AMM_POOL_ID, Side.SELL, 10**8),
                                                     (PUMP_POOL_ID, Side.BUY, SOL)]):
            results.append(await v.submit(_intent(oid, pool, side, amount)))
        tokens = v.ledger.tokens[str(world.pump_token)]
        results.append(await v.submit(_intent(3, PUMP_POOL_ID, Side.SELL, tokens // 2)))

    venue = _run(world, tmp_path, body)
    assert [r.outcome for r in results] == ["filled"] * 4
    assert all(r.fee_lamports == 5_000 + 2_000 for r in results)  # 200,000 CU at 10,000 micro-lamports
    buy = results[0]
    assert buy.amount_in_raw == SOL and buy.amount_out_raw >= buy.min_out_raw > 0
    row = buy.own_fill_row(wallet_id=0, mint_id=1)
    assert (row["kind"], row["flags"], row["vals"][:3]) == (
        int(EventKind.OWN_FILL), int(FillStatus.FILLED), [float(SOL), float(buy.amount_out_raw), 7_000.0])
    assert len(world.server.landed) == 4
    assert venue.metrics.events["filled"] == 4
    _assert_each_signature_landed_once(world)


def test_intent_from_kernel_order_row() -> None:
    order = __import__("numpy").zeros(1, ORDER_DT)[0]
    order["order_id"], order["pool"][0], order["side"][0], order["amount_in_raw"] = 7, 1, 1, 12345.0
    order["cu_limit"], order["cu_price_micro_lamports"], order["tip_lamports"] = 150_000, 5.0, 1000
    it = LiveIntent.from_order(order, slippage_bps=50)
    assert (it.order_id, it.pool_id, it.side, it.amount_in_raw, it.cu_limit, it.tip_lamports) == (
        7, 1, Side.SELL, 12345, 150_000, 1000)


@pytest.mark.parametrize("via", ["rpc", "sender"])
def test_dropped_sends_are_resent_and_land_once(world: World, tmp_path: Path, via: str) -> None:
    out: list[LiveResult] = []
    world.server.faults.drop_sends = 3

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0)))

    venue = _run(world, tmp_path, body, send_via=None if via == "rpc" else (world.server.url,))
    assert out[0].outcome == "filled"
    assert world.server.sends[out[0].signature] >= 4
    assert venue.metrics.events["resent"] >= 3
    _assert_each_signature_landed_once(world)


def test_never_landing_order_expires_with_nothing_paid(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []
    world.server.faults.drop_sends = 10**6

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0)))
        world.server.faults.drop_sends = 0
        out.append(await v.submit(_intent(0)))  # the same order again: refused, never sent twice

    _run(world, tmp_path, body)
    assert (out[0].outcome, out[0].fill_status, out[0].fee_lamports) == ("expired", FillStatus.CANCELLED, 0)
    assert out[1].outcome == "refused" and "already sent" in out[1].reason
    assert world.server.landed == {}


def test_expired_blockhash_expires_the_order(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []
    world.server.faults.stale_blockhashes = 1

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0)))
        out.append(await v.submit(_intent(1)))

    _run(world, tmp_path, body)
    assert [r.outcome for r in out] == ["expired", "filled"]


def test_simulation_failure_refuses_and_sends_nothing(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []
    world.server.faults.fail_simulations = 1

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0)))

    _run(world, tmp_path, body)
    assert out[0].outcome == "refused" and "simulation failed" in out[0].reason
    assert world.server.calls["sendTransaction"] == 0
    kinds = [(r["kind"], r["guard"], r["allowed"]) for r in iter_records(tmp_path / "journal.jsonl")]
    assert ("guard", "simulation", False) in kinds


def test_compute_units_above_the_limit_refuse(world: World, tmp_path: Path, monkeypatch) -> None:
    out: list[LiveResult] = []
    monkeypatch.setitem(litesvm_rpc.DEX_UNITS, RAYDIUM_AMM_V4, 500_000)  # the swap alone needs more than the limit

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0, cu_limit=200_000)))
        out.append(await v.submit(_intent(1, cu_limit=20_000)))  # LiteSVM runs out of units in the ATA creation

    _run(world, tmp_path, body)
    assert out[0].outcome == "refused" and "above the limit 200,000" in out[0].reason
    assert out[1].outcome == "refused"
    # the ATA program's bump search costs a different number of units per address: the run either ends
    # inside it (the VM reports the budget, or a program that failed to complete) or finishes above the limit
    assert any(s in out[1].reason for s in ("above the limit 20,000", "ComputationalBudgetExceeded",
                                             "ProgramFailedToComplete")), out[1].reason
    assert world.server.calls["sendTransaction"] == 0


def test_slippage_failure_on_chain_pays_the_fee_and_reconciles(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []
    world.server.faults.front_runs, world.server.faults.front_run_bps = 1, 500  # a 5 % buy lands first

    async def body(v: LiveVenue) -> None:
        before = v.ledger.lamports
        out.append(await v.submit(_intent(0)))
        assert v.ledger.lamports == before - out[0].fee_lamports

    _run(world, tmp_path, body)
    r = out[0]
    assert (r.outcome, r.fill_status) == ("failed", FillStatus.BELOW_MIN_OUT)
    assert r.fee_lamports == 7_000 and "Custom" in r.reason


@pytest.mark.parametrize("via", ["rpc", "sender"])
def test_rpc_errors_are_retried(world: World, tmp_path: Path, via: str) -> None:
    out: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        world.server.faults.http_503 = 4
        out.append(await v.submit(_intent(0)))

    _run(world, tmp_path, body, send_via=None if via == "rpc" else (world.server.url,))
    assert out[0].outcome == "filled"
    assert world.server.calls["http_503"] == 4


def test_concurrent_orders_all_land_once_and_reconcile(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        world.server.faults.drop_sends = 5
        out.extend(await asyncio.gather(*(v.submit(_intent(i, amount=SOL // 100 + i)) for i in range(20))))

    _run(world, tmp_path, body, send_via=(world.server.url,))
    assert world.server.calls["getSignatureStatuses"] < 20  # one poll asks for every order in flight
    assert [r.outcome for r in out] == ["filled"] * 20
    assert len(world.server.landed) == 20
    _assert_each_signature_landed_once(world)


def test_reconcile_mismatch_stops_trading_and_names_the_mint(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []

    async def main() -> None:
        async with open_venue(world, tmp_path) as v:
            world.server.give_tokens(world.wallet.pubkey, world.token, 123)  # moved behind the venue's back
            with pytest.raises(ReconcileError, match=str(world.token)):
                await v.reconcile()
            out.append(await v.submit(_intent(0)))

    asyncio.run(main())
    assert out[0].outcome == "refused" and "reconciliation mismatch" in out[0].reason
    assert world.server.calls["sendTransaction"] == 0


def test_cpmm_and_whirlpool_buys_and_sells_fill_at_their_quotes_and_reconcile(world: World, tmp_path: Path) -> None:
    # Arrange: the wallet holds 1e9 token units; both pools quote the token against SOL
    results: list[LiveResult] = []

    # Act
    async def body(v: LiveVenue) -> None:
        for oid, (pool, side, amount) in enumerate([(CPMM_POOL_ID, Side.BUY, SOL), (CPMM_POOL_ID, Side.SELL, 10**8),
                                                     (WHIRLPOOL_ID, Side.BUY, SOL), (WHIRLPOOL_ID, Side.SELL, 10**8)]):
            results.append(await v.submit(_intent(oid, pool, side, amount)))

    _run(world, tmp_path, body)
    # Assert: every order filled at exactly the amount the venue quoted (nothing moved the pools in between):
    # min_out is that quote less the 1 % slippage bound, as journaled before the send
    assert [r.outcome for r in results] == ["filled"] * 4, [r.reason for r in results]
    sends = {x["order_id"]: x for x in iter_records(tmp_path / "journal.jsonl") if x["kind"] == "send"}
    for r in results:
        assert r.min_out_raw == sends[r.order_id]["detail"]["min_out_raw"] == r.amount_out_raw * 9_900 // 10_000
    # the Whirlpool buy paid the pool's price (1.0001 ** tick lamports per unit) and its 0.3 % fee, near enough
    whirl_buy = results[2]
    at_price = SOL * (1 - 0.003) / 1.0001**WHIRLPOOL_TICK
    assert whirl_buy.amount_in_raw == SOL and 0.99 < whirl_buy.amount_out_raw / at_price < 1.0
    _assert_each_signature_landed_once(world)


def test_whirlpool_order_too_big_for_its_tick_arrays_is_refused_before_sending(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0, WHIRLPOOL_ID, Side.BUY, 40_000 * SOL)))

    _run(world, tmp_path, body)
    assert out[0].outcome == "refused" and "walk past" in out[0].reason
    assert world.server.calls["simulateTransaction"] == 0 and world.server.calls["sendTransaction"] == 0


def test_sender_posts_to_every_endpoint_and_needs_only_one_to_accept(world: World, tmp_path: Path) -> None:
    # Arrange: a second endpoint that refuses connections (a port nobody listens on)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    out: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0)))

    # Act
    _run(world, tmp_path, body, send_via=(dead, world.server.url))
    # Assert
    assert out[0].outcome == "filled" and world.server.sends[out[0].signature] == 1

    async def alone() -> str:
        async with TxSender((dead,), timeout_ms=500) as sender:
            with pytest.raises(SendError, match=r"every endpoint: http://127\.0\.0\.1:\d+: ClientConnectorError"):
                await sender.send("AAAA")
            return repr(sender)

    assert "127.0.0.1" in asyncio.run(alone())
