"""A synthetic Solana market, deterministic under a seed, written as tapes.

K listed tokens are quoted against SOL and USDC, each pair on 2 to 4 pools of different kinds
(Raydium AMM v4 and CPMM fee tiers, an Orca Whirlpool, PumpSwap); new tokens launch on Pump.fun
bonding curves (some complete and migrate to PumpSwap) or straight into Raydium CPMM pools, a
share of them honeypots (freeze authority kept or a prohibitive transfer fee: nobody but the
creator ever sells) or rugs (the creator pulls the liquidity). Each token has a latent fair
price (geometric Brownian motion with jumps and calm/volatile regimes); noise traders push the
pools apart with Poisson arrivals and Pareto sizes; arbitrageurs bring each pool back to the
edge of its fee band around the fair price after a random delay; leader wallets trade, some
with real edge (their buys move the fair price up afterwards), some without. Binary prediction
markets carry a latent probability (a Bayesian posterior on a public signal), noise and
informed leader trades, and a 0/1 resolution.

The simulation is `engine.feeds.synthetic_nb.simulate_nb`; this module holds the
configuration, the registries (tokens, pools, wallets, markets as polars DataFrames) and the
latent truth for tests and notebooks. Generating in chunks of any size gives a bit-identical
tape to one call: all state lives in arrays and every draw is keyed by
``(seed, stream, slot, index)``.

Example
-------
>>> market, tape = generate_market(SyntheticConfig(seed=7, days=0.1, n_tokens=4))
>>> int(tape.validate(n_wallets=market.wallets.height).max())
0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from engine.feeds import synthetic_nb as nb
from engine.layout import INT_COLUMNS, N_VALS, RISK_FREEZE_AUTHORITY, RISK_MINT_AUTHORITY, SLOT_NS
from engine.schema import Tape

__all__ = [
    "SLOTS_PER_DAY",
    "SOL_MINT",
    "USDC_MINT",
    "VENUES",
    "SyntheticConfig",
    "SyntheticMarket",
    "SyntheticTruth",
    "generate_market",
]

SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SLOTS_PER_MIN = 60_000_000_000 // SLOT_NS  # 150
SLOTS_PER_HOUR = 60 * SLOTS_PER_MIN
SLOTS_PER_DAY = 24 * SLOTS_PER_HOUR  # 216,000
START_TS_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC

VENUES: dict[int, str] = {
    nb.VENUE_RAYDIUM_AMM_V4: "raydium_amm_v4",
    nb.VENUE_RAYDIUM_CPMM: "raydium_cpmm",
    nb.VENUE_ORCA_WHIRLPOOL: "orca_whirlpool",
    nb.VENUE_PUMPFUN: "pumpfun",
    nb.VENUE_PUMPSWAP: "pumpswap",
}
_TOKEN_KINDS = {nb.TOKEN_BASE: "base", nb.TOKEN_LISTED: "listed", nb.TOKEN_LAUNCH: "launch"}


class SyntheticError(RuntimeError):
    """The generator could not continue (a buffer or a registry is full)."""


# ---------------------------------------------------------------------------------------------
# Configuration.


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticConfig:
    """What the synthetic market looks like; defaults give 0.5-1 M events per day with K = 8.

    Parameters
    ----------
    seed : int
        Root seed; the whole market is a function of it and of the other fields.
    days : float
        Length of the market, in days of 400 ms slots (216,000 slots a day).
    n_tokens : int
        Listed tokens K, each quoted against SOL (2-4 pools) and USDC (2-3 pools).
    start_ts_ns, start_slot : int
        UNIX time (ns, UTC) and Solana slot of the first slot.
    sol_usd : float
        SOL price in USD at the start.
    sol_vol_daily, token_vol_daily : float
        Daily volatility of SOL/USD and (median) of the listed tokens in SOL, calm regime.
    jumps_per_day, jump_sigma : float
        Poisson rate and log-size standard deviation of price jumps, per token.
    volatile_mult : float
        Volatility multiplier of the volatile regime.
    calm_regime_min, volatile_regime_min : float
        Mean duration of the calm and the volatile regime, minutes.
    noise_swaps_per_pool_per_min : float
        Noise-trader swaps on a typical listed pool (venue-weighted; SOL/USDC pools get more).
    noise_size_min_sol, noise_size_alpha : float
        Pareto scale (SOL) and tail index of noise swap sizes.
    noise_max_depth_share : float
        Largest noise swap as a share of the pool's quote-side depth.
    launches_per_day : float
        New token launches per day.
    honeypot_share, rug_share : float
        Share of launches that are honeypots and rugs (the rest are ordinary launches).
    curve_launch_share : float
        Share of ordinary launches on a Pump.fun curve (the others open a Raydium CPMM pool).
    launch_success_share : float
        Share of ordinary launches whose fair price trends up (curves complete and migrate).
    launch_swaps_per_min, launch_activity_halflife_min : float
        Noise swaps on a fresh launch and the half-life of that activity.
    launch_vol_hourly : float
        Hourly volatility of a launched token's fair price.
    launch_success_multiple, launch_fade_multiple, launch_trend_hours : float
        A successful launch's fair price trends to this multiple over ``launch_trend_hours``;
        the others fade to ``launch_fade_multiple``.
    rug_delay_mean_min, honeypot_dump_delay_mean_min : float
        Mean time from launch to the rug pull, or to the honeypot creator's dump, minutes.
    launch_lifetime_hours : float
        An ordinary launch goes dormant after this (a migrated one after 4 times this).
    migration_fee_lamports : int
        Taken from the curve's SOL when it migrates (pool rent and migration fee).
    n_noise_traders, n_arbitrageurs, n_leaders_edge, n_leaders_noedge : int
        Wallets per role.
    arb_threshold_bps : float
        An arbitrageur acts when a pool is this far beyond its fee band around the fair price
        (it covers the base, priority and tip costs of the transaction).
    arb_delay_mean_slots : float
        Mean delay (geometric, >= 1 slot) from a gap opening to an arbitrageur landing.
    leader_trades_per_hour : float
        Actions per leader wallet: outcome-share buys, and for no-edge leaders token buys at
        random times (later sold).
    leader_size_sol_min, leader_size_sol_max : float
        Range of a leader's buy, SOL (log-uniform).
    leader_hold_mean_min : float
        Mean holding time of a leader's position, minutes.
    news_per_token_per_hour : float
        News per listed token: a fair-price move of +-0.5 to 1.5 times ``leader_edge_bps`` (log)
        that reaches the price with half-life ``leader_edge_halflife_min``. Edge leaders buy on
        good news in the slot it arrives, before the price moves; up and down news are equally
        likely, so news adds no drift.
    leader_edge_bps, leader_edge_halflife_min : float
        Mean size of news (bps of log price) and the half-life of its way into the price.
    leader_market_share : float
        Share of leader actions that are prediction-market trades.
    market_edge_accuracy : float
        Probability that an edge leader buys the outcome that will win.
    n_prediction_markets : int
        Binary markets, resolving between 30 % and 100 % of the span.
    market_trades_per_min : float
        Noise outcome trades per open market.
    truth_every_slots : int
        Sampling interval of the latent fair prices in `SyntheticMarket.truth`.
    chunk_slots : int
        Slots per kernel call in `SyntheticMarket.generate`.
    """

    seed: int = 0
    days: float = 1.0
    n_tokens: int = 8
    start_ts_ns: int = START_TS_NS
    start_slot: int = 380_000_000
    sol_usd: float = 150.0
    sol_vol_daily: float = 0.04
    token_vol_daily: float = 0.08
    jumps_per_day: float = 2.0
    jump_sigma: float = 0.03
    volatile_mult: float = 3.0
    calm_regime_min: float = 240.0
    volatile_regime_min: float = 40.0
    noise_swaps_per_pool_per_min: float = 1.0
    noise_size_min_sol: float = 0.05
    noise_size_alpha: float = 1.3
    noise_max_depth_share: float = 0.02
    launches_per_day: float = 48.0
    honeypot_share: float = 0.15
    rug_share: float = 0.2
    curve_launch_share: float = 0.8
    launch_success_share: float = 0.25
    launch_swaps_per_min: float = 20.0
    launch_activity_halflife_min: float = 30.0
    launch_vol_hourly: float = 0.3
    launch_success_multiple: float = 40.0
    launch_fade_multiple: float = 0.2
    launch_trend_hours: float = 3.0
    rug_delay_mean_min: float = 90.0
    honeypot_dump_delay_mean_min: float = 60.0
    launch_lifetime_hours: float = 6.0
    migration_fee_lamports: int = 15_000_000
    n_noise_traders: int = 2_000
    n_arbitrageurs: int = 6
    n_leaders_edge: int = 5
    n_leaders_noedge: int = 5
    arb_threshold_bps: float = 10.0
    arb_delay_mean_slots: float = 2.0
    leader_trades_per_hour: float = 6.0
    leader_size_sol_min: float = 0.5
    leader_size_sol_max: float = 20.0
    leader_hold_mean_min: float = 15.0
    news_per_token_per_hour: float = 3.0
    leader_edge_bps: float = 100.0
    leader_edge_halflife_min: float = 2.0
    leader_market_share: float = 0.3
    market_edge_accuracy: float = 0.8
    n_prediction_markets: int = 4
    market_trades_per_min: float = 2.0
    truth_every_slots: int = 5
    chunk_slots: int = 21_600

    def __post_init__(self) -> None:
        def fail(msg: str) -> None:
            raise ValueError(msg)

        if not 0 <= self.seed < 2**64:
            fail(f"seed must be in [0, 2**64), was {self.seed!r}; any non-negative integer below 2**64 works")
        if not (self.days > 0.0 and math.isfinite(self.days)):
            fail(f"days must be a positive finite number, was {self.days!r}; use e.g. 0.01 for 864 s")
        if self.days * SLOTS_PER_DAY < 1.0:
            fail(f"days={self.days!r} is shorter than one 400 ms slot; use at least {1 / SLOTS_PER_DAY:.2e}")
        if not 1 <= self.n_tokens <= 1_000:
            fail(f"n_tokens must be in [1, 1000], was {self.n_tokens!r}")
        if not 0 <= self.start_slot < 2**62 or not 0 <= self.start_ts_ns < 2**62:
            fail(f"start_slot and start_ts_ns must be non-negative int64, were {self.start_slot!r}, "
                 f"{self.start_ts_ns!r}")
        positive = ("sol_usd", "sol_vol_daily", "token_vol_daily", "volatile_mult", "calm_regime_min",
                    "volatile_regime_min", "noise_size_min_sol", "noise_size_alpha", "noise_max_depth_share",
                    "launch_activity_halflife_min", "launch_vol_hourly", "launch_success_multiple",
                    "launch_fade_multiple", "launch_trend_hours", "rug_delay_mean_min",
                    "honeypot_dump_delay_mean_min", "launch_lifetime_hours", "arb_delay_mean_slots",
                    "leader_size_sol_min", "leader_hold_mean_min", "leader_edge_halflife_min")
        for name in positive:
            v = getattr(self, name)
            if not (v > 0.0 and math.isfinite(v)):  # NaN fails too
                fail(f"{name} must be a positive finite number, was {v!r}")
        non_negative = ("jumps_per_day", "news_per_token_per_hour", "jump_sigma", "noise_swaps_per_pool_per_min",
                        "launches_per_day", "launch_swaps_per_min", "arb_threshold_bps", "leader_trades_per_hour",
                        "leader_edge_bps", "market_trades_per_min", "migration_fee_lamports")
        for name in non_negative:
            v = getattr(self, name)
            if not (v >= 0.0 and math.isfinite(v)):
                fail(f"{name} must be a finite number >= 0, was {v!r}; 0 turns it off")
        if self.noise_max_depth_share >= 0.5:
            fail(f"noise_max_depth_share must be below 0.5, was {self.noise_max_depth_share!r}")
        for name in ("honeypot_share", "rug_share", "curve_launch_share", "launch_success_share",
                     "leader_market_share", "market_edge_accuracy"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                fail(f"{name} must be in [0, 1], was {v!r}")
        if self.honeypot_share + self.rug_share > 1.0:
            fail(f"honeypot_share + rug_share must be <= 1, was {self.honeypot_share} + {self.rug_share}; "
                 "lower one of them")
        if self.leader_size_sol_max < self.leader_size_sol_min:
            fail(f"leader sizes need min <= max, was min={self.leader_size_sol_min}, "
                 f"max={self.leader_size_sol_max}")
        for name in ("n_noise_traders", "n_arbitrageurs"):
            if not 1 <= getattr(self, name) <= 10_000_000:
                fail(f"{name} must be in [1, 10,000,000], was {getattr(self, name)!r}")
        for name in ("n_leaders_edge", "n_leaders_noedge", "n_prediction_markets"):
            if not 0 <= getattr(self, name) <= 100_000:
                fail(f"{name} must be in [0, 100,000], was {getattr(self, name)!r}")
        if self.n_leaders_edge + self.n_leaders_noedge == 0 and self.leader_trades_per_hour > 0.0:
            fail("leader_trades_per_hour > 0 needs at least one leader; set n_leaders_edge or n_leaders_noedge")
        if not 1 <= self.truth_every_slots <= SLOTS_PER_DAY:
            fail(f"truth_every_slots must be in [1, {SLOTS_PER_DAY}], was {self.truth_every_slots!r}")
        if self.chunk_slots < 1:
            fail(f"chunk_slots must be >= 1, was {self.chunk_slots!r}")

    @classmethod
    def from_mapping(cls, raw: dict[str, object]) -> SyntheticConfig:
        """Build a config from a mapping, rejecting unknown keys."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(valid))
        if unknown:
            msg = f"unknown SyntheticConfig keys {unknown}; valid keys are {valid}"
            raise ValueError(msg)
        return cls(**raw)  # type: ignore[arg-type]

    @property
    def n_slots(self) -> int:
        """Slots in the configured span (at least 1)."""
        return max(1, round(self.days * SLOTS_PER_DAY))


# ---------------------------------------------------------------------------------------------
# Registry strings: deterministic, base58-looking, never Python's salted hash().

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_MASK = (1 << 64) - 1
_DOMAIN_MINT, _DOMAIN_POOL, _DOMAIN_WALLET, _DOMAIN_SYMBOL = 101, 102, 103, 104


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _hash_words(seed: int, *words: int) -> int:
    h = _mix64((seed + 0x9E3779B97F4A7C15) & _MASK)
    for w in words:
        h = _mix64(h ^ (w & _MASK))
    return h


def _address(seed: int, domain: int, index: int) -> str:
    """Return a base58 string of 32 pseudo-random bytes (43 or 44 characters)."""
    raw = b"".join(_hash_words(seed, domain, index, k).to_bytes(8, "little") for k in range(4))
    n = int.from_bytes(raw, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    s = "".join(reversed(out))
    if len(s) < 43:  # a leading zero byte: base58 writes it as "1"
        s = "1" * (43 - len(s)) + s
    return s


def _symbol(seed: int, index: int, launch: bool) -> str:
    h = _hash_words(seed, _DOMAIN_SYMBOL, index)
    length = 3 + (h % 4 if launch else h % 2)
    letters = []
    for _ in range(length):
        h = _mix64(h)
        letters.append(chr(ord("A") + h % 26))
    return "".join(letters)


# ---------------------------------------------------------------------------------------------
# Truth.


@dataclass(frozen=True, slots=True)
class SyntheticTruth:
    """Latent data of a synthetic market, for tests and notebooks (strategies must not read it).

    Parameters
    ----------
    slots : ndarray of int64
        Slots at which the latent prices were sampled (every ``truth_every_slots``, end of slot).
    fair_sol : ndarray of float32, shape (n_samples, n_tokens)
        Fair price in SOL per whole token (SOL 1.0, USDC 1/SOLUSD); NaN before a token exists
        and after it went dormant or dead.
    sol_usd : ndarray of float64
        Fair SOL price in USD.
    market_prob : ndarray of float64, shape (n_samples, n_markets)
        Latent probability of outcome 1 (the outcome itself once resolved).
    tokens : DataFrame
        ``token_id``, ``kind`` (base/listed/launch), ``honeypot``, ``rug``, ``success``,
        ``migrated``, ``event_slot`` (rug, dump or migration), ``end_slot`` (dead or dormant).
    leaders : DataFrame
        ``wallet_id``, ``edge``.
    markets : DataFrame
        ``market_id``, ``outcome``, ``resolve_slot``.
    """

    slots: np.ndarray
    fair_sol: np.ndarray
    sol_usd: np.ndarray
    market_prob: np.ndarray
    tokens: pl.DataFrame
    leaders: pl.DataFrame
    markets: pl.DataFrame

    def fair_at(self, slot: np.ndarray, token_id: np.ndarray) -> np.ndarray:
        """Return the latest sampled fair price (SOL) at or before each slot, per token."""
        row = (np.asarray(slot, dtype=np.int64) - self.slots[0]) // _step(self.slots)
        row = np.clip(row, 0, self.slots.shape[0] - 1)
        return self.fair_sol[row, np.asarray(token_id, dtype=np.int64)].astype(np.float64)


def _step(slots: np.ndarray) -> int:
    return int(slots[1] - slots[0]) if slots.shape[0] > 1 else 1


# ---------------------------------------------------------------------------------------------
# The generator.


class SyntheticMarket:
    """Generator of a synthetic market: registries, latent truth, and the tape slot by slot.

    ``next_chunk(n)`` returns the next ``n`` slots' events; ``generate()`` the rest of the
    configured span. Any chunking gives the same concatenated tape.
    """

    def __init__(self, cfg: SyntheticConfig) -> None:
        self.cfg = cfg
        self._seed = np.uint64(cfg.seed)
        self._n_slots = cfg.n_slots
        self._launch_slots = nb.launch_schedule_nb(self._seed, cfg.start_slot, self._n_slots,
                                                   cfg.launches_per_day / SLOTS_PER_DAY)
        n_launch = int(self._launch_slots.shape[0])
        self._n_launch = n_launch
        n_leaders = cfg.n_leaders_edge + cfg.n_leaders_noedge
        # wallet ids: noise, arbitrageurs, leaders (edge first), LP provider, migrator, creators
        self._w_noise0 = 0
        self._w_arb0 = cfg.n_noise_traders
        self._w_lead0 = self._w_arb0 + cfg.n_arbitrageurs
        self._w_lp = self._w_lead0 + n_leaders
        self._w_migrator = self._w_lp + 1
        self._w_creator0 = self._w_migrator + 1
        self._n_wallets = self._w_creator0 + n_launch
        self._params = self._to_record(cfg)
        n_tok_cap = 2 + cfg.n_tokens + n_launch
        n_pool_cap = 3 + 7 * cfg.n_tokens + 2 * n_launch
        self._tok_i = np.zeros((n_tok_cap, nb.N_TI), dtype=np.int64)
        self._tok_f = np.zeros((n_tok_cap, nb.N_TF), dtype=np.float64)
        self._pool_i = np.zeros((n_pool_cap, nb.N_PI), dtype=np.int64)
        self._pool_f = np.zeros((n_pool_cap, nb.N_PF), dtype=np.float64)
        self._lead_i = np.zeros((n_leaders, nb.POS_MAX, nb.N_LI), dtype=np.int64)
        self._lead_f = np.zeros((n_leaders, nb.POS_MAX), dtype=np.float64)
        n_mkt = cfg.n_prediction_markets
        self._mkt_i = np.zeros((n_mkt, nb.N_MI), dtype=np.int64)
        self._mkt_f = np.zeros((n_mkt, nb.N_MF), dtype=np.float64)
        self._st_i = np.zeros(nb.N_SI, dtype=np.int64)
        self._st_f = np.zeros(nb.N_SF, dtype=np.float64)
        n_samples = (self._n_slots - 1) // cfg.truth_every_slots + 1
        self._truth_fair = np.full((n_samples, n_tok_cap), np.nan, dtype=np.float32)
        self._truth_sol_usd = np.full(n_samples, np.nan, dtype=np.float64)
        self._truth_prob = np.full((n_samples, n_mkt), np.nan, dtype=np.float64)
        status = nb.init_market_nb(self._params, self._tok_i, self._tok_f, self._pool_i, self._pool_f,
                                   self._mkt_i, self._mkt_f, self._lead_i, self._st_i, self._st_f)
        if status != nb.STATUS_OK:
            msg = f"pool table of {n_pool_cap} rows is full while listing {cfg.n_tokens} tokens (a bug)"
            raise SyntheticError(msg)
        # rows one slot can write at most: the kernel stops before a slot that might not fit
        self._reserve = (4 * n_pool_cap + 4 * n_tok_cap + nb.NOISE_MAX_PER_SLOT + 2 * nb.LEADER_MAX_PER_SLOT
                         + n_leaders * nb.POS_MAX + nb.PM_MAX_PER_SLOT + 2 * n_mkt + 16)
        self._out_i = np.zeros((0, nb.N_OUT_I), dtype=np.int64)
        self._out_v = np.zeros((0, N_VALS), dtype=np.float64)
        self._addresses: dict[tuple[int, int], str] = {}

    def _to_record(self, cfg: SyntheticConfig) -> np.ndarray:
        p = np.zeros(1, dtype=nb.PARAMS_DT)
        day = float(SLOTS_PER_DAY)
        trend = cfg.launch_trend_hours * SLOTS_PER_HOUR
        values = {
            "seed": self._seed, "start_slot": cfg.start_slot, "n_slots": self._n_slots,
            "truth_every_slots": cfg.truth_every_slots, "n_listed": cfg.n_tokens,
            "n_markets": cfg.n_prediction_markets, "n_noise": cfg.n_noise_traders, "n_arbs": cfg.n_arbitrageurs,
            "n_lead_edge": cfg.n_leaders_edge, "n_lead_noedge": cfg.n_leaders_noedge,
            "w_noise0": self._w_noise0, "w_arb0": self._w_arb0, "w_lead0": self._w_lead0, "w_lp": self._w_lp,
            "w_migrator": self._w_migrator, "w_creator0": self._w_creator0,
            "sol_usd": cfg.sol_usd, "sol_vol_slot": cfg.sol_vol_daily / math.sqrt(day),
            "token_vol_slot": cfg.token_vol_daily / math.sqrt(day), "jump_prob_slot": cfg.jumps_per_day / day,
            "jump_sigma": cfg.jump_sigma, "volatile_mult": cfg.volatile_mult,
            "to_volatile_prob": 1.0 / (cfg.calm_regime_min * SLOTS_PER_MIN),
            "to_calm_prob": 1.0 / (cfg.volatile_regime_min * SLOTS_PER_MIN),
            "noise_rate_slot": cfg.noise_swaps_per_pool_per_min / SLOTS_PER_MIN,
            "noise_size_min_sol": cfg.noise_size_min_sol, "noise_size_alpha": cfg.noise_size_alpha,
            "noise_max_depth_share": cfg.noise_max_depth_share,
            "launch_rate_slot": cfg.launch_swaps_per_min / SLOTS_PER_MIN,
            "launch_decay": 0.5 ** (1.0 / (cfg.launch_activity_halflife_min * SLOTS_PER_MIN)),
            "honeypot_share": cfg.honeypot_share, "rug_share": cfg.rug_share,
            "curve_share": cfg.curve_launch_share, "success_share": cfg.launch_success_share,
            "launch_vol_slot": cfg.launch_vol_hourly / math.sqrt(SLOTS_PER_HOUR),
            "success_drift_slot": math.log(cfg.launch_success_multiple) / trend,
            "fade_drift_slot": math.log(cfg.launch_fade_multiple) / trend,
            "rug_delay_mean_slots": cfg.rug_delay_mean_min * SLOTS_PER_MIN,
            "dump_delay_mean_slots": cfg.honeypot_dump_delay_mean_min * SLOTS_PER_MIN,
            "launch_lifetime_slots": round(cfg.launch_lifetime_hours * SLOTS_PER_HOUR),
            "migration_fee_lamports": float(cfg.migration_fee_lamports),
            "arb_threshold": cfg.arb_threshold_bps / 1e4, "arb_delay_mean_slots": cfg.arb_delay_mean_slots,
            "leader_rate_slot": cfg.leader_trades_per_hour / SLOTS_PER_HOUR,
            "leader_size_min_sol": cfg.leader_size_sol_min, "leader_size_max_sol": cfg.leader_size_sol_max,
            "leader_hold_mean_slots": cfg.leader_hold_mean_min * SLOTS_PER_MIN,
            "edge_log_return": cfg.leader_edge_bps / 1e4,
            "edge_decay": 0.5 ** (1.0 / (cfg.leader_edge_halflife_min * SLOTS_PER_MIN)),
            "news_prob_slot": cfg.news_per_token_per_hour / SLOTS_PER_HOUR,
            "leader_market_share": cfg.leader_market_share, "market_edge_accuracy": cfg.market_edge_accuracy,
            "market_rate_slot": cfg.market_trades_per_min / SLOTS_PER_MIN, "market_signal": 1.6,
        }
        for name, v in values.items():
            p[name] = v
        return p

    # -- position ---------------------------------------------------------------------------

    @property
    def start_slot(self) -> int:
        return self.cfg.start_slot

    @property
    def end_slot(self) -> int:
        """First slot after the configured span."""
        return self.cfg.start_slot + self._n_slots

    @property
    def next_slot(self) -> int:
        """The slot the next chunk starts at."""
        return int(self._st_i[nb.S_NEXT_SLOT])

    @property
    def done(self) -> bool:
        return self.next_slot >= self.end_slot

    # -- generation ---------------------------------------------------------------------------

    def next_chunk(self, n_slots: int) -> Tape:
        """Return the events of the next ``n_slots`` slots (fewer at the end of the span, none after)."""
        if n_slots < 1:
            msg = f"n_slots must be >= 1, was {n_slots!r}"
            raise ValueError(msg)
        stop = min(self.next_slot + int(n_slots), self.end_slot)
        if stop <= self.next_slot:
            return Tape.empty()
        want = max(2 * self._reserve, int((stop - self.next_slot) * 6))
        if self._out_i.shape[0] < want:
            self._out_i = np.zeros((want, nb.N_OUT_I), dtype=np.int64)
            self._out_v = np.zeros((want, N_VALS), dtype=np.float64)
        parts_i, parts_v = [], []
        while True:
            status, n = nb.simulate_nb(stop, self._reserve, self._params, self._launch_slots, self._tok_i,
                                       self._tok_f, self._pool_i, self._pool_f, self._lead_i, self._lead_f,
                                       self._mkt_i, self._mkt_f, self._st_i, self._st_f, self._truth_fair,
                                       self._truth_sol_usd, self._truth_prob, self._out_i, self._out_v)
            if status == nb.STATUS_OVERFLOW:
                msg = (f"the synthetic kernel overflowed at slot {self.next_slot} (pool or event tables); "
                       "this is a bug: report the config")
                raise SyntheticError(msg)
            parts_i.append(self._out_i[:n].copy())
            parts_v.append(self._out_v[:n].copy())
            if status == nb.STATUS_OK:
                break
            cap = 2 * self._out_i.shape[0]  # STATUS_FULL: grow and continue from the next slot
            self._out_i = np.zeros((cap, nb.N_OUT_I), dtype=np.int64)
            self._out_v = np.zeros((cap, N_VALS), dtype=np.float64)
        out_i = parts_i[0] if len(parts_i) == 1 else np.concatenate(parts_i)
        out_v = parts_v[0] if len(parts_v) == 1 else np.concatenate(parts_v)
        return self._tape(out_i, out_v)

    def generate(self, on_progress: Callable[[int, int], None] | None = None) -> Tape:
        """Return the events of the rest of the configured span (all of it on a fresh market).

        Parameters
        ----------
        on_progress : callable, optional
            Called after each chunk with (slots done, slots in the span).
        """
        parts = []
        while not self.done:
            parts.append(self.next_chunk(self.cfg.chunk_slots))
            if on_progress is not None:
                on_progress(self.next_slot - self.start_slot, self._n_slots)
        return Tape.concat(parts, sort=False)

    def _tape(self, out_i: np.ndarray, out_v: np.ndarray) -> Tape:
        slot = out_i[:, nb.OUT_SLOT]
        cols = {
            "slot": slot,
            "seq": out_i[:, nb.OUT_SEQ],
            "ts_ns": self.cfg.start_ts_ns + (slot - self.cfg.start_slot) * SLOT_NS,
            "kind": out_i[:, nb.OUT_KIND],
            "pool_id": out_i[:, nb.OUT_POOL],
            "wallet_id": out_i[:, nb.OUT_WALLET],
            "mint_id": out_i[:, nb.OUT_MINT],
            "side": out_i[:, nb.OUT_SIDE],
            "flags": out_i[:, nb.OUT_FLAGS],
        }
        assert set(cols) == set(INT_COLUMNS)
        return Tape.from_columns(vals=out_v, **cols)

    # -- registries ---------------------------------------------------------------------------

    def _addr(self, domain: int, index: int) -> str:
        key = (domain, index)
        found = self._addresses.get(key)
        if found is None:
            found = self._addresses[key] = _address(self.cfg.seed, domain, index)
        return found

    @property
    def n_tokens(self) -> int:
        """Tokens created so far (SOL, USDC, listed, launched)."""
        return int(self._st_i[nb.S_N_TOKENS])

    @property
    def n_pools(self) -> int:
        """Pools created so far."""
        return int(self._st_i[nb.S_N_POOLS])

    @property
    def tokens(self) -> pl.DataFrame:
        """Token registry: the tokens that exist up to the slots generated so far."""
        n = self.n_tokens
        ti = self._tok_i[:n]
        mints = [SOL_MINT, USDC_MINT, *(self._addr(_DOMAIN_MINT, j) for j in range(2, n))]
        symbols = ["SOL", "USDC", *(_symbol(self.cfg.seed, j, ti[j, nb.TI_KIND] == nb.TOKEN_LAUNCH)
                                    for j in range(2, n))]
        risk = ti[:, nb.TI_RISK]
        return pl.DataFrame({
            "token_id": np.arange(n, dtype=np.int32),
            "mint": mints,
            "symbol": symbols,
            "decimals": np.array([nb.SOL_DECIMALS, nb.USDC_DECIMALS] + [nb.TOKEN_DECIMALS] * (n - 2),
                                 dtype=np.int8)[:n],
            "mint_authority": (risk & RISK_MINT_AUTHORITY) != 0,
            "freeze_authority": (risk & RISK_FREEZE_AUTHORITY) != 0,
            "transfer_fee_bps": ti[:, nb.TI_FEE_BPS].astype(np.int32),
            "created_slot": ti[:, nb.TI_CREATED].astype(np.int64),
        })

    @property
    def pools(self) -> pl.DataFrame:
        """Pool registry: the pools that exist up to the slots generated so far."""
        n = self.n_pools
        pi = self._pool_i[:n]
        pf = self._pool_f[:n]
        return pl.DataFrame({
            "pool_id": np.arange(n, dtype=np.int32),
            "address": [self._addr(_DOMAIN_POOL, p) for p in range(n)],
            "pool_kind": pi[:, nb.PI_KIND].astype(np.int8),
            "venue": [VENUES[int(v)] for v in pi[:, nb.PI_VENUE]],
            "base_mint_id": pi[:, nb.PI_BASE].astype(np.int32),
            "quote_mint_id": pi[:, nb.PI_QUOTE].astype(np.int32),
            "fee_num": pf[:, nb.PF_FEE_NUM].astype(np.int64),
            "fee_den": pf[:, nb.PF_FEE_DEN].astype(np.int64),
            "created_slot": pi[:, nb.PI_CREATED].astype(np.int64),
        })

    def _roles(self) -> list[str]:
        c = self.cfg
        return (["noise"] * c.n_noise_traders + ["arbitrageur"] * c.n_arbitrageurs
                + ["leader_edge"] * c.n_leaders_edge + ["leader_noedge"] * c.n_leaders_noedge
                + ["liquidity_provider", "migrator"] + ["creator"] * self._n_launch)

    @property
    def wallets(self) -> pl.DataFrame:
        """Wallet registry (fixed for the span: creators of future launches are listed too)."""
        roles = self._roles()
        return pl.DataFrame({
            "wallet_id": np.arange(len(roles), dtype=np.int32),
            "address": [self._addr(_DOMAIN_WALLET, w) for w in range(len(roles))],
            "role": roles,
        })

    @property
    def markets(self) -> pl.DataFrame:
        """Prediction-market registry (outcomes are in `truth` only)."""
        m = self.cfg.n_prediction_markets
        return pl.DataFrame({
            "market_id": np.arange(m, dtype=np.int32),
            "name": [f"synthetic binary market {k}" for k in range(m)],
            "resolve_slot": self._mkt_i[:, nb.MI_RESOLVE_SLOT].astype(np.int64),
        })

    # -- truth --------------------------------------------------------------------------------

    @property
    def truth(self) -> SyntheticTruth:
        """Latent prices, flags and outcomes up to the slots generated so far."""
        cfg = self.cfg
        done = self.next_slot - cfg.start_slot
        n_rows = 0 if done <= 0 else (done - 1) // cfg.truth_every_slots + 1
        n = self.n_tokens
        ti = self._tok_i[:n]
        bits = ti[:, nb.TI_TRUTH]
        n_leaders = cfg.n_leaders_edge + cfg.n_leaders_noedge
        return SyntheticTruth(
            slots=cfg.start_slot + np.arange(n_rows, dtype=np.int64) * cfg.truth_every_slots,
            fair_sol=self._truth_fair[:n_rows, :n].copy(),
            sol_usd=self._truth_sol_usd[:n_rows].copy(),
            market_prob=self._truth_prob[:n_rows].copy(),
            tokens=pl.DataFrame({
                "token_id": np.arange(n, dtype=np.int32),
                "kind": [_TOKEN_KINDS[int(k)] for k in ti[:, nb.TI_KIND]],
                "honeypot": (bits & nb.TRUTH_HONEYPOT) != 0,
                "rug": (bits & nb.TRUTH_RUG) != 0,
                "success": (bits & nb.TRUTH_SUCCESS) != 0,
                "migrated": (bits & nb.TRUTH_MIGRATED) != 0,
                "event_slot": ti[:, nb.TI_EVENT_SLOT],
                "end_slot": ti[:, nb.TI_END_SLOT],
            }),
            leaders=pl.DataFrame({
                "wallet_id": np.arange(self._w_lead0, self._w_lead0 + n_leaders, dtype=np.int32),
                "edge": np.arange(n_leaders) < cfg.n_leaders_edge,
            }),
            markets=pl.DataFrame({
                "market_id": np.arange(cfg.n_prediction_markets, dtype=np.int32),
                "outcome": self._mkt_i[:, nb.MI_OUTCOME].astype(np.int8),
                "resolve_slot": self._mkt_i[:, nb.MI_RESOLVE_SLOT].astype(np.int64),
            }),
        )


def generate_market(cfg: SyntheticConfig, on_progress: Callable[[int, int], None] | None = None
                    ) -> tuple[SyntheticMarket, Tape]:
    """Build a market and generate its whole span; return both."""
    market = SyntheticMarket(cfg)
    return market, market.generate(on_progress)
