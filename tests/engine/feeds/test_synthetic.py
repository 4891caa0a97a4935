"""Tests of the synthetic Solana market: determinism, chunk invariance, layout, market sanity."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.feeds import synthetic_nb as nb
from engine.feeds.synthetic import (
    SOL_MINT,
    USDC_MINT,
    SyntheticConfig,
    SyntheticMarket,
    generate_market,
)
from engine.layout import EventKind, PoolKind, Side
from engine.schema import Tape

# One market for the statistics (half a day, 6 tokens), built once per module.
CFG = SyntheticConfig(seed=11, days=0.5, n_tokens=6)
# A short, busy market for the chunking properties: launches, rugs, dumps and migrations within 1,800 slots.
BUSY = SyntheticConfig(seed=5, days=1_800 / 216_000, n_tokens=3, launches_per_day=10_000.0,
                       rug_delay_mean_min=1.0, honeypot_dump_delay_mean_min=1.0, launch_success_multiple=1e6,
                       launch_trend_hours=0.05, launch_lifetime_hours=0.1, leader_trades_per_hour=600.0,
                       news_per_token_per_hour=200.0, n_prediction_markets=3, market_trades_per_min=30.0,
                       truth_every_slots=3)


@pytest.fixture(scope="module")
def market() -> tuple[SyntheticMarket, Tape]:
    return generate_market(CFG)


@pytest.fixture(scope="module")
def busy_tape() -> Tape:
    return generate_market(BUSY)[1]


def table_hashes(tape: Tape) -> dict[str, str]:
    return {name: hashlib.sha256(df.write_csv().encode()).hexdigest() for name, df in tape.to_tables().items()}


def pool_log_price_per_slot(tape: Tape, pool_id: int, kind: int, slots: np.ndarray) -> np.ndarray:
    """Log raw price of a pool at the end of each slot, from its POOL_STATE rows (NaN before the first)."""
    rows = np.flatnonzero((tape.kind == EventKind.POOL_STATE) & (tape.pool_id == pool_id))
    v = tape.vals[rows]
    logp = 2.0 * np.log(v[:, 1]) if kind == PoolKind.CLMM else np.log(v[:, 1] / v[:, 0])
    idx = np.searchsorted(tape.slot[rows], slots, side="right") - 1
    return np.where(idx >= 0, logp[np.maximum(idx, 0)], np.nan)


def cpmm_pairs(market: SyntheticMarket) -> list[tuple[int, int, float]]:
    """Pairs of constant-product pools quoting the same pair from the start, with their combined fee."""
    pools = market.pools.filter((pl.col("created_slot") == market.start_slot)
                                & (pl.col("pool_kind") == PoolKind.CPMM))
    out = []
    for _, g in pools.group_by(["base_mint_id", "quote_mint_id"], maintain_order=True):
        ids = g["pool_id"].to_list()
        fee = dict(zip(ids, (g["fee_num"] / g["fee_den"]).to_list(), strict=True))
        out += [(a, b, fee[a] + fee[b]) for i, a in enumerate(ids) for b in ids[i + 1:]]
    return out


# ---------------------------------------------------------------------------------------------
# Determinism and chunk invariance.


def test_same_seed_gives_same_table_hashes(market: tuple[SyntheticMarket, Tape]) -> None:
    # Arrange
    _, tape = market
    # Act
    _, again = generate_market(CFG)
    # Assert
    assert table_hashes(again) == table_hashes(tape)
    assert again.content_hash() == tape.content_hash()


def test_different_seeds_give_different_tables(market: tuple[SyntheticMarket, Tape]) -> None:
    _, tape = market
    _, other = generate_market(replace(CFG, seed=12))
    a, b = table_hashes(tape), table_hashes(other)
    assert set(a) == set(b)
    assert all(a[name] != b[name] for name in a if name != "resolutions")


@settings(max_examples=20)
@given(chunks=st.lists(st.integers(1, 700), min_size=1, max_size=12))
def test_chunked_generation_is_bit_identical_to_one_call(busy_tape: Tape, chunks: list[int]) -> None:
    # Arrange
    gen = SyntheticMarket(BUSY)
    parts, k = [], 0
    # Act
    while not gen.done:
        parts.append(gen.next_chunk(chunks[k % len(chunks)]))
        k += 1
    # Assert
    assert Tape.concat(parts, sort=False).equals(busy_tape)


def test_one_slot_chunks_give_the_same_tape_and_truth(busy_tape: Tape) -> None:
    whole = SyntheticMarket(BUSY)
    whole.generate()
    gen = SyntheticMarket(BUSY)
    parts = [gen.next_chunk(1) for _ in range(gen.end_slot - gen.start_slot)]
    assert Tape.concat(parts, sort=False).equals(busy_tape)
    a, b = gen.truth, whole.truth
    assert a.fair_sol.tobytes() == b.fair_sol.tobytes()
    assert a.market_prob.tobytes() == b.market_prob.tobytes()
    assert gen.pools.equals(whole.pools)
    assert gen.tokens.equals(whole.tokens)


def test_busy_market_exercises_the_life_cycle(busy_tape: Tape) -> None:
    gen = SyntheticMarket(BUSY)
    gen.generate()
    t = gen.truth.tokens
    assert t["honeypot"].sum() >= 3
    assert t["rug"].sum() >= 3
    assert t["migrated"].sum() >= 1
    assert (busy_tape.kind == EventKind.RESOLUTION).sum() == BUSY.n_prediction_markets


def test_next_chunk_stops_at_the_end_of_the_span() -> None:
    gen = SyntheticMarket(replace(BUSY, days=10 / 216_000))
    first = gen.next_chunk(25)
    assert np.unique(first.slot).size <= 10
    assert gen.done
    assert gen.next_chunk(5).n_events == 0


def test_generate_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    gen = SyntheticMarket(replace(BUSY, chunk_slots=500))
    gen.generate(on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(500, 1800), (1000, 1800), (1500, 1800), (1800, 1800)]


def test_counter_based_draws_are_pinned() -> None:
    # a changed stream changes every synthetic market, so it must fail loudly
    key = np.uint64(nb.slot_key_nb(np.uint64(nb.stream_key_nb(np.uint64(7), 1)), 2))  # numba returns ints
    got = [nb.uniform_nb(key, i) for i in range(3)]
    assert got == PINNED_UNIFORMS


def test_keyed_draws_equal_the_engine_rng() -> None:
    from engine.sim.rng import uniform_nb

    for seed, stream, slot, index in [(0, 1, 0, 0), (7, 6, 380_000_123, 41), (2**62 + 5, 11, 5, 2**40)]:
        key = np.uint64(nb.slot_key_nb(np.uint64(nb.stream_key_nb(np.uint64(seed), stream)), slot))
        assert nb.uniform_nb(key, index) == uniform_nb(seed, stream, slot, index)


PINNED_UNIFORMS = [0.3253697954052922, 0.25307357454576973, 0.046744613691591]  # uniform(7, 1, 2, i)


# ---------------------------------------------------------------------------------------------
# Layout.


def test_tape_validates_clean_and_is_sorted(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    reasons = tape.validate(n_pools=m.n_pools, n_wallets=m.wallets.height, n_mints=m.n_tokens,
                            n_markets=m.markets.height)
    assert np.bincount(reasons).tolist() == [tape.n_events]
    assert tape.is_sorted()


def test_seq_counts_from_zero_within_each_slot(market: tuple[SyntheticMarket, Tape]) -> None:
    _, tape = market
    first = np.concatenate([[True], np.diff(tape.slot) > 0])
    assert (tape.seq[first] == 0).all()
    assert (tape.seq[~first] == tape.seq[np.flatnonzero(~first) - 1] + 1).all()


def test_amounts_are_whole_non_negative_base_units(market: tuple[SyntheticMarket, Tape]) -> None:
    _, tape = market
    v = tape.vals
    swap = tape.kind == EventKind.SWAP
    assert (v[swap, :2] >= 1.0).all()
    assert (v[swap, :2] == np.floor(v[swap, :2])).all()
    assert (v[swap, 2:] == 0.0).all()
    state = (tape.kind == EventKind.POOL_STATE) & (tape.side != PoolKind.CLMM)
    assert (v[state, :4] == np.floor(v[state, :4])).all()
    assert (v[state, :4] >= 0.0).all()
    liq = tape.kind == EventKind.LIQUIDITY
    assert (v[liq, :2] == np.floor(v[liq, :2])).all()
    clmm = (tape.kind == EventKind.POOL_STATE) & (tape.side == PoolKind.CLMM)
    assert clmm.any()
    assert (v[clmm, 2] == np.floor(v[clmm, 2])).all()  # tick
    assert np.isfinite(v).all()


def test_event_mix_is_realistic_for_a_default_day_fraction(market: tuple[SyntheticMarket, Tape]) -> None:
    _, tape = market
    per_day = tape.n_events / CFG.days
    assert 300_000 <= per_day <= 1_500_000
    kinds = np.bincount(tape.kind, minlength=len(EventKind))
    for k in (EventKind.POOL_STATE, EventKind.SWAP, EventKind.NEW_POOL, EventKind.LIQUIDITY,
              EventKind.OUTCOME_TRADE, EventKind.RESOLUTION):
        assert kinds[k] > 0, k.name


def test_registries_follow_the_interface(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    tokens, pools, wallets = m.tokens, m.pools, m.wallets
    assert tokens["mint"][:2].to_list() == [SOL_MINT, USDC_MINT]
    assert tokens["decimals"][:3].to_list() == [9, 6, 6]
    assert tokens["token_id"].to_list() == list(range(tokens.height))
    b58 = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
    for col in (tokens["mint"], pools["address"], wallets["address"]):
        assert col.str.len_chars().is_between(43, 44).all()
        assert all(set(s) <= b58 for s in col)
        assert col.n_unique() == col.len()
    assert pools["pool_id"].dtype == pl.Int32 and pools["pool_id"].to_list() == list(range(pools.height))
    assert pools.filter((pl.col("base_mint_id") == 0) & (pl.col("quote_mint_id") == 1)).height >= 2
    listed = pools.filter(pl.col("created_slot") == m.start_slot)
    counts = listed.group_by(["base_mint_id", "quote_mint_id"]).len()["len"]
    assert counts.min() >= 2 and counts.max() <= 4
    assert set(pools["venue"]) == {"raydium_amm_v4", "raydium_cpmm", "orca_whirlpool", "pumpfun", "pumpswap"}
    v4 = pools.filter(pl.col("venue") == "raydium_amm_v4")
    assert (v4["fee_num"] == 25).all() and (v4["fee_den"] == 10_000).all()
    assert (pools.filter(pl.col("venue") == "pumpfun")["pool_kind"] == PoolKind.CURVE).all()
    assert {"noise", "arbitrageur", "leader_edge", "leader_noedge", "creator"} <= set(wallets["role"])
    assert tape.pool_id.max() < pools.height and tape.mint_id.max() < tokens.height


def test_every_pool_has_a_new_pool_row_before_its_first_state(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    new = np.flatnonzero(tape.kind == EventKind.NEW_POOL)
    assert np.array_equal(np.sort(tape.pool_id[new]), np.arange(m.n_pools))
    states = np.flatnonzero(tape.kind == EventKind.POOL_STATE)
    first_state = {}
    for i in states[::-1]:
        first_state[int(tape.pool_id[i])] = i
    assert all(first_state[int(tape.pool_id[i])] > i for i in new)


# ---------------------------------------------------------------------------------------------
# Market sanity.


def test_pools_of_a_pair_stay_within_their_fee_bands_most_of_the_time(market: tuple[SyntheticMarket, Tape]) -> None:
    # Arrange
    m, tape = market
    slots = np.arange(m.start_slot, m.end_slot)
    pairs = cpmm_pairs(m)
    assert len(pairs) >= CFG.n_tokens
    # Act
    inside = []
    for a, b, band in pairs:
        gap = np.abs(pool_log_price_per_slot(tape, a, PoolKind.CPMM, slots)
                     - pool_log_price_per_slot(tape, b, PoolKind.CPMM, slots))
        inside.append(np.mean(gap <= band + 0.001))
    # Assert
    assert min(inside) >= 0.80


def test_gaps_above_the_fee_band_open_and_close(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    slots = np.arange(m.start_slot, m.end_slot)
    durations = []
    for a, b, band in cpmm_pairs(m):
        gap = np.abs(pool_log_price_per_slot(tape, a, PoolKind.CPMM, slots)
                     - pool_log_price_per_slot(tape, b, PoolKind.CPMM, slots))
        out = gap > band + 0.001
        opens = np.flatnonzero(out[1:] & ~out[:-1]) + 1
        closes = np.flatnonzero(~out[1:] & out[:-1]) + 1
        for s in opens:
            later = closes[closes > s]
            durations.append(later[0] - s if later.size else np.inf)
    durations = np.array(durations)
    assert durations.size >= 20  # opportunities exist
    assert np.isfinite(durations).all()  # every one closes
    assert np.quantile(durations, 0.95) <= 20  # within 8 s, mostly
    assert np.median(durations) <= 5


def test_honeypots_are_never_sold_by_anyone_but_their_creator(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    honeypots = m.truth.tokens.filter(pl.col("honeypot"))["token_id"].to_numpy()
    assert honeypots.size >= 2
    creator_of = dict(zip(*np.unique(np.column_stack([tape.mint_id, tape.wallet_id])[
        tape.kind == EventKind.NEW_POOL], axis=0).T, strict=True))
    swap = tape.kind == EventKind.SWAP
    for j in honeypots:
        on_j = swap & (tape.mint_id == j)
        assert (on_j & (tape.side == Side.BUY)).sum() > 0  # people did buy it
        sellers = np.unique(tape.wallet_id[on_j & (tape.side == Side.SELL)])
        assert set(sellers.tolist()) <= {creator_of[j]}
    flags = m.tokens.filter(pl.col("token_id").is_in(honeypots))
    assert (flags["freeze_authority"] | (flags["transfer_fee_bps"] >= 5_000)).all()


def test_rugs_drain_their_pool(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    rugs = m.truth.tokens.filter(pl.col("rug") & (pl.col("end_slot") >= 0))["token_id"].to_numpy()
    assert rugs.size >= 2
    states = np.flatnonzero(tape.kind == EventKind.POOL_STATE)
    for j in rugs:
        pull = np.flatnonzero((tape.kind == EventKind.LIQUIDITY) & (tape.mint_id == j) & (tape.vals[:, 1] < 0))
        assert pull.size == 1
        p = tape.pool_id[pull[0]]
        mine = states[tape.pool_id[states] == p]
        before = tape.vals[mine[mine < pull[0]][-1], 1]
        after = tape.vals[mine[mine > pull[0]][0], 1]
        assert after <= 0.05 * before
        assert tape.wallet_id[pull[0]] == m.wallets.filter(pl.col("role") == "creator")["wallet_id"].min() + \
            (j - 2 - CFG.n_tokens)


def test_edge_leaders_buy_before_the_fair_price_rises(market: tuple[SyntheticMarket, Tape]) -> None:
    # Arrange
    m, tape = market
    truth = m.truth
    horizon = 900  # 6 minutes
    buys = (tape.kind == EventKind.SWAP) & (tape.side == Side.BUY) & (tape.slot + horizon < m.end_slot)
    stats = {}
    # Act
    for edge in (True, False):
        wallets = truth.leaders.filter(pl.col("edge") == edge)["wallet_id"].to_numpy()
        rows = np.flatnonzero(buys & np.isin(tape.wallet_id, wallets))
        s, j = tape.slot[rows], tape.mint_id[rows]
        ret = np.log(truth.fair_at(s + horizon, j) / truth.fair_at(s, j))
        stats[edge] = (ret.mean(), ret.mean() / ret.std() * np.sqrt(ret.size), ret.size)
    # Assert
    edge_mean, edge_t, n_edge = stats[True]
    noedge_mean, noedge_t, n_noedge = stats[False]
    assert n_edge >= 30 and n_noedge >= 30
    assert edge_mean > 0.0 and edge_t > 4.0
    assert abs(noedge_t) < 3.0 and abs(noedge_mean) < 0.5 * edge_mean


def test_curves_that_complete_migrate_to_pumpswap(market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    migrated = m.truth.tokens.filter(pl.col("migrated"))["token_id"].to_numpy()
    assert migrated.size >= 1
    pools = m.pools
    for j in migrated:
        mine = pools.filter(pl.col("base_mint_id") == j).sort("pool_id")
        assert mine["venue"].to_list() == ["pumpfun", "pumpswap"]
        curve, amm = mine["pool_id"].to_list()
        last_curve = np.flatnonzero((tape.kind == EventKind.POOL_STATE) & (tape.pool_id == curve))[-1]
        assert tape.vals[last_curve, 2] == 0.0 and tape.vals[last_curve, 3] == 0.0  # sold out, SOL moved
        new = np.flatnonzero((tape.kind == EventKind.NEW_POOL) & (tape.pool_id == amm))
        assert new.size == 1 and tape.slot[new[0]] == tape.slot[last_curve]
        assert tape.vals[new[0], 1] > 70e9  # about 85 SOL raised, less the migration fee


def test_prediction_markets_resolve_to_the_truth_and_informed_leaders_know(
        market: tuple[SyntheticMarket, Tape]) -> None:
    m, tape = market
    truth = m.truth
    res = np.flatnonzero(tape.kind == EventKind.RESOLUTION)
    outcome = dict(zip(truth.markets["market_id"].to_list(), truth.markets["outcome"].to_list(), strict=True))
    assert sorted(tape.pool_id[res].tolist()) == sorted(outcome)
    for i in res:
        assert tape.vals[i, 0] == outcome[int(tape.pool_id[i])]
        assert tape.slot[i] == m.markets["resolve_slot"][int(tape.pool_id[i])]
        later = (tape.kind == EventKind.OUTCOME_TRADE) & (tape.pool_id == tape.pool_id[i]) & (tape.slot > tape.slot[i])
        assert not later.any()
    trades = np.flatnonzero(tape.kind == EventKind.OUTCOME_TRADE)
    right = tape.mint_id[trades] == np.array([outcome[int(k)] for k in tape.pool_id[trades]])
    edge = np.isin(tape.wallet_id[trades], truth.leaders.filter(pl.col("edge"))["wallet_id"].to_numpy())
    noise = tape.wallet_id[trades] < CFG.n_noise_traders
    assert edge.sum() >= 30
    assert right[edge].mean() > 0.65
    assert abs(right[noise].mean() - 0.5) < 0.05
    price = tape.vals[trades, 1]
    assert ((price >= 0.01) & (price <= 0.99)).all()


# ---------------------------------------------------------------------------------------------
# Configuration and module hygiene.


@pytest.mark.parametrize(("field", "value", "words"), [
    ("days", 0.0, "positive"),
    ("honeypot_share", 1.5, "[0, 1]"),
    ("rug_share", 0.9, "lower one of them"),
    ("n_tokens", 0, "n_tokens"),
    ("token_vol_daily", float("nan"), "positive finite"),
    ("leader_size_sol_max", 0.1, "min <= max"),
])
def test_config_rejects_bad_values_with_a_fix(field: str, value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        replace(CFG, **{field: value})


def test_config_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="valid keys"):
        SyntheticConfig.from_mapping({"seed": 1, "n_tokenz": 3})
    assert SyntheticConfig.from_mapping({"seed": 1}).seed == 1


def test_kernel_module_imports_no_dataframe_libraries() -> None:
    code = ("import sys, engine.feeds.synthetic_nb; "
            "print(sorted(m for m in ('polars', 'duckdb', 'pyarrow', 'solana') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
