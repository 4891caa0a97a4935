"""Guards: each one blocks what it should with its reason journaled; dry run sends nothing; the secret never leaks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import pickle
from pathlib import Path

import httpx
import pytest
from solders.keypair import Keypair

from engine.errors import ConfigError
from engine.exec.live.guards import (
    GuardConfig,
    KeypairFileError,
    KillSwitch,
    KillSwitchServer,
    SendMode,
    load_wallet,
    resolve_send_mode,
)
from engine.exec.live.journal import DecisionJournal, iter_records, load_into_catalog
from engine.exec.live.venue import LiveIntent, LiveResult, LiveVenue
from engine.feeds.programs import PUMPFUN
from engine.layout import Side
from engine.store.lake import Lake
from tests.engine.exec.live.world import AMM_POOL_ID, World, make_world, open_venue, write_keypair

SOL = 10**9


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.server.start()
    yield w
    w.server.stop()


def _intent(oid: int, *, amount: int = SOL, slippage_bps: int = 100) -> LiveIntent:
    return LiveIntent(order_id=oid, pool_id=AMM_POOL_ID, side=Side.BUY, amount_in_raw=amount,
                      slippage_bps=slippage_bps)


def _blocked(tmp: Path) -> list[tuple[str, str]]:
    return [(r["guard"], r["reason"]) for r in iter_records(tmp / "journal.jsonl")
            if r["kind"] == "guard" and r["allowed"] is False]


# --------------------------------------------------------------------------- keypair file


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_keypair_readable_by_group_or_others_is_refused_with_the_reason(tmp_path: Path, mode: int) -> None:
    path = write_keypair(tmp_path / "id.json", Keypair(), mode)
    with pytest.raises(KeypairFileError, match=rf"mode {mode:04o}.*chmod 600"):
        load_wallet(path)


def test_keypair_file_missing_or_garbled_never_quotes_the_content(tmp_path: Path) -> None:
    with pytest.raises(KeypairFileError, match="does not exist"):
        load_wallet(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3, 424242]")
    bad.chmod(0o600)
    with pytest.raises(KeypairFileError) as e:
        load_wallet(bad)
    assert "424242" not in str(e.value)


def test_wallet_key_hides_the_secret(tmp_path: Path) -> None:
    kp = Keypair()
    wallet = load_wallet(write_keypair(tmp_path / "id.json", kp))
    secret_forms = _secret_forms(kp)
    text = repr(wallet) + str(wallet) + f"{wallet}" + repr([wallet]) + repr({"w": wallet})
    assert str(kp.pubkey()) in text
    assert not any(s in text for s in secret_forms)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(wallet)
    with pytest.raises(AttributeError):
        wallet.pubkey = kp.pubkey()


def _secret_forms(kp: Keypair) -> list[str]:
    raw = bytes(kp)
    return [str(kp), raw.hex(), raw[:32].hex(), json.dumps(list(raw)), ", ".join(str(b) for b in raw[:32]),
            str(list(raw[:32]))]


# --------------------------------------------------------------------------- send mode


def test_send_mode_is_dry_run_unless_live_and_confirmed(tmp_path: Path) -> None:
    wallet = load_wallet(write_keypair(tmp_path / "id.json", Keypair()))
    assert resolve_send_mode(live=False, wallet=wallet, environ={"SHOAL_LIVE": "1"})[0] is SendMode.DRY_RUN
    assert resolve_send_mode(live=True, wallet=wallet, environ={})[0] is SendMode.DRY_RUN
    assert resolve_send_mode(live=True, wallet=wallet, typed_confirmation="yes", environ={})[0] is SendMode.DRY_RUN
    assert resolve_send_mode(live=True, wallet=wallet, environ={"SHOAL_LIVE": "1"})[0] is SendMode.LIVE
    assert resolve_send_mode(live=True, wallet=wallet, typed_confirmation=f" {wallet.pubkey}\n",
                             environ={})[0] is SendMode.LIVE


def test_guard_config_is_checked_when_built() -> None:
    with pytest.raises(ConfigError, match="max_order_notional"):
        GuardConfig(max_order_notional_lamports=10, max_day_notional_lamports=5, max_slippage_bps=10)
    with pytest.raises(ConfigError, match="max_slippage_bps"):
        GuardConfig(max_order_notional_lamports=1, max_day_notional_lamports=5, max_slippage_bps=10_000)


# --------------------------------------------------------------------------- guards through the venue


def _run(world: World, tmp: Path, body, **kw) -> LiveVenue:
    async def main() -> LiveVenue:
        async with open_venue(world, tmp, **kw) as venue:
            await body(venue)
            return venue

    return asyncio.run(main())


def test_dry_run_builds_and_simulates_but_sends_nothing(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        out.extend([await v.submit(_intent(0)), await v.submit(_intent(1))])

    _run(world, tmp_path, body, mode=SendMode.DRY_RUN)
    assert [r.outcome for r in out] == ["dry_run", "dry_run"]
    assert world.server.calls["simulateTransaction"] == 2
    assert world.server.calls["sendTransaction"] == 0 and world.server.landed == {}
    dry = [r for r in iter_records(tmp_path / "journal.jsonl") if r["kind"] == "dry_run"]
    assert len(dry) == 2 and dry[0]["signature"] == out[0].signature and dry[0]["detail"]["min_out_raw"] > 0


@pytest.mark.parametrize(("change", "intent", "guard"), [
    ({"allowed_programs": frozenset({PUMPFUN})}, _intent(0), "program_allow_list"),
    ({"allowed_mints": frozenset()}, _intent(0), "mint_allow_list"),
    ({"max_slippage_bps": 50}, _intent(0, slippage_bps=100), "max_slippage"),
    ({"max_order_notional_lamports": SOL // 2}, _intent(0), "order_notional_cap"),
])
def test_each_guard_blocks_with_its_reason_journaled_and_counted(world: World, tmp_path: Path, change: dict,
                                                                 intent: LiveIntent, guard: str) -> None:
    out: list[LiveResult] = []
    cfg = dataclasses.replace(world.guard_cfg, **change)

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(intent))
        assert v.metrics.decisions[(guard, "blocked")] == 1
        assert f'guard="{guard}",outcome="blocked"' in v.metrics.prometheus()

    _run(world, tmp_path, body, guard_cfg=cfg)
    assert out[0].outcome == "refused" and out[0].reason.startswith(guard)
    assert [g for g, _ in _blocked(tmp_path)] == [guard]
    assert world.server.calls["simulateTransaction"] == 0 and world.server.calls["sendTransaction"] == 0


def test_day_notional_cap_counts_sent_orders(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []
    cfg = dataclasses.replace(world.guard_cfg, max_order_notional_lamports=SOL, max_day_notional_lamports=2 * SOL)

    async def body(v: LiveVenue) -> None:
        out.extend([await v.submit(_intent(i, amount=SOL - i)) for i in range(3)])

    _run(world, tmp_path, body, guard_cfg=cfg)
    assert [r.outcome for r in out] == ["filled", "filled", "refused"]
    assert _blocked(tmp_path)[0][0] == "day_notional_cap"
    assert len(world.server.landed) == 2


def test_kill_switch_file_stops_new_orders_at_once(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []

    async def body(v: LiveVenue) -> None:
        out.append(await v.submit(_intent(0)))
        (tmp_path / "KILL").touch()
        out.append(await v.submit(_intent(1)))

    _run(world, tmp_path, body)
    assert [r.outcome for r in out] == ["filled", "refused"]
    assert "KILL" in out[1].reason and _blocked(tmp_path)[0][0] == "kill_switch"
    assert world.server.calls["simulateTransaction"] == 1


def test_kill_switch_http_endpoint_stops_new_orders(world: World, tmp_path: Path) -> None:
    out: list[LiveResult] = []
    switch = KillSwitch()

    async def body(v: LiveVenue) -> None:
        server = KillSwitchServer(switch)
        port = await server.start()
        try:
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/kill")).json()["engaged"] is False
                out.append(await v.submit(_intent(0)))
                assert (await http.post(f"http://127.0.0.1:{port}/kill")).json()["engaged"] is True
            out.append(await v.submit(_intent(1)))
        finally:
            await server.stop()

    _run(world, tmp_path, body, kill=switch)
    assert [r.outcome for r in out] == ["filled", "refused"]
    assert "HTTP" in out[1].reason


def test_secret_never_reaches_journal_logs_metrics_or_errors(world: World, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # Arrange: the keypair behind the world's wallet file
    kp = Keypair.from_bytes(bytes(json.loads(world.keypair_path.read_text())))
    forms = _secret_forms(kp)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    world.server.faults.fail_simulations = 1

    async def body(v: LiveVenue) -> None:
        for i in range(3):
            texts.append(repr(await v.submit(_intent(i))))
        texts.append(v.metrics.prometheus() + json.dumps(v.metrics.to_dict()) + repr(v.wallet) + repr(v.__dict__))
        with pytest.raises(Exception) as e:
            v.journal.write("x", secret_key="nope")
        texts.append(str(e.value))

    # Act
    _run(world, tmp_path, body)
    texts.append((tmp_path / "journal.jsonl").read_text())
    texts.append(caplog.text)
    # Assert
    blob = "\n".join(texts)
    assert str(kp.pubkey()) in blob
    assert not any(f in blob for f in forms)


def test_journal_loads_into_the_catalog(world: World, tmp_path: Path) -> None:
    async def body(v: LiveVenue) -> None:
        await v.submit(_intent(0))

    _run(world, tmp_path, body)
    lake = Lake(tmp_path / "lake")
    n = load_into_catalog(tmp_path / "journal.jsonl", lake, run_id="t1")
    import duckdb

    con = duckdb.connect(str(lake.catalog_path), read_only=True)
    kinds = dict(con.execute("SELECT kind, count(*) FROM live_decisions GROUP BY kind").fetchall())
    con.close()
    assert n == sum(kinds.values()) and kinds["filled"] == 1 and kinds["send"] == 1


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    with DecisionJournal(tmp_path / "j.jsonl") as j:
        j.write("send", order_id=1, signature="abc")
    with (tmp_path / "j.jsonl").open("a") as fh:
        fh.write('{"kind": "fil')
    assert [r["kind"] for r in iter_records(tmp_path / "j.jsonl")] == ["send"]
