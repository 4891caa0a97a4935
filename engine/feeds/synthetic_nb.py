"""Kernels of the synthetic Solana market: one slot loop over state arrays, no Python objects.

`engine.feeds.synthetic` owns the configuration, the registries and the buffers; this module
advances the market slot by slot and writes tape rows into preallocated arrays. Every random
draw is a pure function of ``(seed, stream, slot, index)`` (splitmix64 finaliser, each key
word mixed in on its own), and all state lives in the arrays passed in, so running the slots
in one call or in any number of chunks writes bit-identical rows.

State arrays (rows are ids, columns the named constants below):

* ``tok_i`` / ``tok_f``: tokens (SOL = 0, USDC = 1, listed tokens, then one row per launch).
  ``TF_LOGFAIR`` is the log of the latent fair price in SOL per whole token (USDC's is
  ``-log(SOL/USD)``).
* ``pool_i`` / ``pool_f``: pools. ``PF_X``/``PF_Y`` hold base/quote reserves (CPMM), virtual
  token/SOL reserves (curve, real ones in ``PF_RX``/``PF_RY``) or liquidity/sqrt-price (CLMM,
  one range: the price never leaves it).
* ``lead_i`` / ``lead_f``: open positions of leader wallets, ``(leader, position)``.
* ``mkt_i`` / ``mkt_f``: binary prediction markets.
* ``st_i`` / ``st_f``: scalars (next slot, counts, SOL price).

Output rows go to ``out_i`` (``OUT_*`` integer columns) and ``out_v`` (the tape's ``vals``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.amm.clmm import MAX_SQRT_PRICE, MIN_SQRT_PRICE, clmm_step_in_nb, tick_at_sqrt_price_nb
from engine.amm.cpmm import cpmm_out_nb
from engine.amm.curve import (
    INITIAL_REAL_TOKEN_RAW,
    INITIAL_VIRTUAL_SOL_RAW,
    INITIAL_VIRTUAL_TOKEN_RAW,
    TOKEN_TOTAL_SUPPLY_RAW,
    curve_buy_cost_nb,
    curve_sol_out_nb,
    curve_tokens_out_nb,
)
from engine.layout import (
    RISK_FREEZE_AUTHORITY,
    RISK_MINT_AUTHORITY,
    RISK_TRANSFER_FEE,
    EventKind,
    PoolKind,
    Side,
)

EK_POOL_STATE = int(EventKind.POOL_STATE)
EK_SWAP = int(EventKind.SWAP)
EK_NEW_POOL = int(EventKind.NEW_POOL)
EK_LIQUIDITY = int(EventKind.LIQUIDITY)
EK_OUTCOME_TRADE = int(EventKind.OUTCOME_TRADE)
EK_RESOLUTION = int(EventKind.RESOLUTION)
BUY = int(Side.BUY)
SELL = int(Side.SELL)
PK_CPMM = int(PoolKind.CPMM)
PK_CLMM = int(PoolKind.CLMM)
PK_CURVE = int(PoolKind.CURVE)

# ---------------------------------------------------------------------------------------------
# Column constants. Add at the end; the Python wrapper reads them by name.

# tokens, integer columns
TI_KIND = 0  # TOKEN_BASE, TOKEN_LISTED, TOKEN_LAUNCH
TI_STATE = 1  # TS_* below
TI_REGIME = 2  # 0 calm, 1 volatile
TI_CREATED = 3  # slot
TI_TRUTH = 4  # TRUTH_* bits (honeypot, rug, success, migrated)
TI_RISK = 5  # engine.layout RISK_* bits
TI_FEE_BPS = 6  # token-2022 transfer fee
TI_CREATOR = 7  # wallet id or -1
TI_POOL = 8  # launch pool (or first SOL-pair pool of a listed token)
TI_POOL2 = 9  # migrated pool (or number of SOL-pair pools of a listed token)
TI_EVENT_SLOT = 10  # rug, honeypot dump or migration slot; -1 none
TI_END_SLOT = 11  # slot the token went dead or dormant; -1 alive
N_TI = 12
# tokens, float columns
TF_LOGFAIR = 0
TF_VOL = 1  # per-slot sigma of log fair in the calm regime
TF_DRIFT = 2  # per-slot drift of log fair
TF_INFO = 3  # log move still to come from edge leaders' information
TF_TOP_HOLDER = 4
N_TF = 5

TOKEN_BASE, TOKEN_LISTED, TOKEN_LAUNCH = 0, 1, 2
TS_NONE, TS_ALIVE, TS_DORMANT, TS_DEAD = 0, 1, 2, 3
TRUTH_HONEYPOT, TRUTH_RUG, TRUTH_SUCCESS, TRUTH_MIGRATED = 1, 2, 4, 8

# pools, integer columns
PI_KIND = 0  # engine.layout.PoolKind
PI_VENUE = 1  # VENUE_* below
PI_BASE = 2
PI_QUOTE = 3
PI_CREATED = 4
PI_ACTIVE = 5  # 1 tradable
PI_ARB_SLOT = 6  # slot a pending arbitrage lands, -1 none
PI_ARB_WALLET = 7
PI_NOARB = 8  # 1: arbitrageurs leave it alone (honeypot)
PI_CREATOR = 9  # wallet of the NEW_POOL row
N_PI = 10
# pools, float columns
PF_X = 0
PF_Y = 1
PF_RX = 2
PF_RY = 3
PF_FEE_NUM = 4
PF_FEE_DEN = 5
PF_FEE = 6  # fee as a fraction
PF_LOGP = 7  # log of the raw price (quote base units per base base unit)
PF_SCALE = 8  # log raw price minus log whole-token price
PF_WEIGHT = 9  # noise swaps per slot
PF_DECAY = 10  # weight multiplier per slot
PF_LP_BURNED = 11
PF_TOP_HOLDER = 12
N_PF = 13

VENUE_RAYDIUM_AMM_V4, VENUE_RAYDIUM_CPMM, VENUE_ORCA_WHIRLPOOL, VENUE_PUMPFUN, VENUE_PUMPSWAP = 0, 1, 2, 3, 4

# leader positions
LI_POOL = 0  # -1 free
LI_EXIT_SLOT = 1
N_LI = 2

# markets
MI_RESOLVE_SLOT = 0
MI_OUTCOME = 1
MI_RESOLVED = 2
N_MI = 3
MF_LOGIT0 = 0
MF_SIGNAL = 1  # public signal X: drifts by +-mu per slot towards the outcome
MF_MU = 2
N_MF = 3

# scalars
S_NEXT_SLOT = 0
S_N_TOKENS = 1
S_N_POOLS = 2
S_NEXT_LAUNCH = 3
N_SI = 4
S_LOG_SOL_USD = 0
N_SF = 1

# output integer columns (ts_ns is made from slot by the wrapper)
OUT_SLOT, OUT_SEQ, OUT_KIND, OUT_POOL, OUT_WALLET, OUT_MINT, OUT_SIDE, OUT_FLAGS = 0, 1, 2, 3, 4, 5, 6, 7
N_OUT_I = 8

STATUS_OK = 0
STATUS_FULL = 1  # the event buffer cannot hold another slot: grow it and call again
STATUS_OVERFLOW = 2  # a slot wrote more rows than the reserve allowed (a bug)

POS_MAX = 4  # open positions per leader
NOISE_MAX_PER_SLOT = 64
LEADER_MAX_PER_SLOT = 8
PM_MAX_PER_SLOT = 16

# random streams: one number per kind of draw; add new ones, never renumber
STREAM_INIT_TOKEN = 1
STREAM_INIT_POOL = 2
STREAM_INIT_MARKET = 3
STREAM_LAUNCH_SCHEDULE = 4
STREAM_LAUNCH = 5
STREAM_FAIR = 6
STREAM_NOISE = 7
STREAM_ARB = 8
STREAM_LEADER = 9
STREAM_MARKET = 10
STREAM_MARKET_TRADE = 11

SOL_ID, USDC_ID = 0, 1
SOL_DECIMALS, USDC_DECIMALS, TOKEN_DECIMALS = 9, 6, 6
LN10 = math.log(10.0)

PARAMS_DT = np.dtype([
    ("seed", np.uint64), ("start_slot", np.int64), ("n_slots", np.int64), ("truth_every_slots", np.int64),
    ("n_listed", np.int64), ("n_markets", np.int64),
    ("n_noise", np.int64), ("n_arbs", np.int64), ("n_lead_edge", np.int64), ("n_lead_noedge", np.int64),
    ("w_noise0", np.int64), ("w_arb0", np.int64), ("w_lead0", np.int64), ("w_lp", np.int64),
    ("w_migrator", np.int64), ("w_creator0", np.int64),
    ("sol_usd", np.float64), ("sol_vol_slot", np.float64), ("token_vol_slot", np.float64),
    ("jump_prob_slot", np.float64), ("jump_sigma", np.float64), ("volatile_mult", np.float64),
    ("to_volatile_prob", np.float64), ("to_calm_prob", np.float64),
    ("noise_rate_slot", np.float64), ("noise_size_min_sol", np.float64), ("noise_size_alpha", np.float64),
    ("noise_max_depth_share", np.float64),
    ("launch_rate_slot", np.float64), ("launch_decay", np.float64), ("honeypot_share", np.float64),
    ("rug_share", np.float64), ("curve_share", np.float64), ("success_share", np.float64),
    ("launch_vol_slot", np.float64), ("success_drift_slot", np.float64), ("fade_drift_slot", np.float64),
    ("rug_delay_mean_slots", np.float64), ("dump_delay_mean_slots", np.float64),
    ("launch_lifetime_slots", np.int64), ("migration_fee_lamports", np.float64),
    ("arb_threshold", np.float64), ("arb_delay_mean_slots", np.float64),
    ("leader_rate_slot", np.float64), ("leader_size_min_sol", np.float64), ("leader_size_max_sol", np.float64),
    ("leader_hold_mean_slots", np.float64), ("edge_log_return", np.float64), ("edge_decay", np.float64),
    ("news_prob_slot", np.float64),
    ("leader_market_share", np.float64), ("market_edge_accuracy", np.float64),
    ("market_rate_slot", np.float64), ("market_signal", np.float64),
])

# ---------------------------------------------------------------------------------------------
# Counter-based randomness: engine.sim.rng's scheme with the key prefix cached per stream and
# slot, so ``uniform_nb(slot_key_nb(stream_key_nb(seed, stream), slot), index)`` equals
# ``engine.sim.rng.uniform_nb(seed, stream, slot, index)`` at one mix per draw (a test checks
# it). The mixer is repeated here because importing engine.sim pulls in polars and pyarrow.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0
_SQRT3 = math.sqrt(3.0)


@njit(cache=True)
def mix64_nb(z: np.uint64) -> np.uint64:
    """Scramble 64 bits (the splitmix64 finaliser, a bijection on uint64), as engine.sim.rng.mix64_nb."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def stream_key_nb(seed: np.uint64, stream: int) -> np.uint64:
    """Return the key of one stream: seed and stream mixed in one after the other."""
    return mix64_nb(mix64_nb(np.uint64(seed) + _GOLDEN) ^ np.uint64(stream))


@njit(cache=True)
def slot_key_nb(stream_key: np.uint64, slot: int) -> np.uint64:
    """Mix a slot (or any third key word) into a stream key."""
    return mix64_nb(np.uint64(stream_key) ^ np.uint64(slot))


@njit(cache=True)
def bits_nb(slot_key: np.uint64, index: int) -> np.uint64:
    """Return 64 random bits for ``index`` under a slot key."""
    return mix64_nb(np.uint64(slot_key) ^ np.uint64(index))


@njit(cache=True)
def uniform_nb(slot_key: np.uint64, index: int) -> float:
    """Return a float in [0, 1) that depends only on the keys."""
    return float(bits_nb(slot_key, index) >> np.uint64(11)) * _INV_2_53


@njit(cache=True)
def normal_nb(slot_key: np.uint64, index: int) -> float:
    """Return an approximately standard normal draw (Irwin-Hall of four 16-bit uniforms, |z| < 3.5)."""
    h = bits_nb(slot_key, index)
    m = np.uint64(0xFFFF)
    s = float(h & m) + float((h >> np.uint64(16)) & m) + float((h >> np.uint64(32)) & m) + float(h >> np.uint64(48))
    return ((s + 2.0) / 65536.0 - 2.0) * _SQRT3


@njit(cache=True)
def poisson_nb(u: float, lam: float, cap: int) -> int:
    """Return a Poisson(lam) count by inversion of one uniform, at most ``cap``."""
    p = math.exp(-lam)
    f = p
    k = 0
    while u > f and k < cap:
        k += 1
        p *= lam / k
        f += p
    return k


@njit(cache=True)
def geometric_nb(u: float, mean: float) -> int:
    """Return a geometric count >= 1 with the given mean (>= 1), by inversion."""
    if mean <= 1.0:
        return 1
    q = 1.0 / mean
    return 1 + int(math.log(1.0 - u) / math.log(1.0 - q))


@njit(cache=True)
def pareto_nb(u: float, x_min: float, alpha: float, x_max: float) -> float:
    """Return a Pareto(x_min, alpha) draw capped at ``x_max``."""
    x = x_min * (1.0 - u) ** (-1.0 / alpha)
    return x if x < x_max else x_max


@njit(cache=True)
def launch_schedule_nb(seed: np.uint64, start_slot: int, n_slots: int, rate_slot: float) -> np.ndarray:
    """Return the slots of token launches: one Bernoulli(rate_slot) draw per slot."""
    key = stream_key_nb(seed, STREAM_LAUNCH_SCHEDULE)
    n = 0
    for t in range(n_slots):
        if uniform_nb(key, start_slot + t) < rate_slot:
            n += 1
    out = np.empty(n, dtype=np.int64)
    n = 0
    for t in range(n_slots):
        if uniform_nb(key, start_slot + t) < rate_slot:
            out[n] = start_slot + t
            n += 1
    return out


# ---------------------------------------------------------------------------------------------
# Pool math: every amount comes from engine.amm. A concentrated-liquidity pool here is one
# liquidity range wide enough never to be left (no initialised ticks), so a swap is one
# Whirlpool step towards the price limit.


@njit(cache=True)
def pool_logp_nb(pool_i: np.ndarray, pool_f: np.ndarray, p: int) -> float:
    """Return the log raw price (quote base units per base base unit) of pool ``p``."""
    if pool_i[p, PI_KIND] == PK_CLMM:
        return 2.0 * math.log(pool_f[p, PF_Y])
    return math.log(pool_f[p, PF_Y] / pool_f[p, PF_X])


@njit(cache=True)
def swap_nb(pool_i: np.ndarray, pool_f: np.ndarray, p: int, side: int, amount_in_raw: float) -> tuple[float, float]:
    """Apply one exact-in swap to pool ``p``; return (amount_in_raw used, amount_out_raw), (0, 0) if none.

    BUY pays quote for base, SELL pays base for quote. A curve buy stops at the curve's real
    token reserves (then pays only what those cost); a curve sell stops at the tokens sold.
    """
    amount_in_raw = np.floor(amount_in_raw)
    if amount_in_raw < 1.0 or pool_i[p, PI_ACTIVE] == 0:
        return 0.0, 0.0
    kind = pool_i[p, PI_KIND]
    x = pool_f[p, PF_X]
    y = pool_f[p, PF_Y]
    fn = pool_f[p, PF_FEE_NUM]
    fd = pool_f[p, PF_FEE_DEN]
    if kind == PK_CPMM:
        if side == BUY:
            out = cpmm_out_nb(amount_in_raw, y, x, fn, fd)
            if not out >= 1.0 or out >= x:
                return 0.0, 0.0
            pool_f[p, PF_Y] = y + amount_in_raw
            pool_f[p, PF_X] = x - out
        else:
            out = cpmm_out_nb(amount_in_raw, x, y, fn, fd)
            if not out >= 1.0 or out >= y:
                return 0.0, 0.0
            pool_f[p, PF_X] = x + amount_in_raw
            pool_f[p, PF_Y] = y - out
        pool_f[p, PF_RX] = pool_f[p, PF_X]
        pool_f[p, PF_RY] = pool_f[p, PF_Y]
    elif kind == PK_CURVE:
        fee_bps = fn * 10_000.0 / fd
        if side == BUY:
            out = curve_tokens_out_nb(amount_in_raw, y, x, fee_bps)
            if not out >= 1.0:
                return 0.0, 0.0
            if out > pool_f[p, PF_RX]:
                out = pool_f[p, PF_RX]
            amount_in_raw = curve_buy_cost_nb(out, y, x, fee_bps)  # what those tokens cost, fee included
            to_curve = curve_buy_cost_nb(out, y, x, 0.0)  # the part that stays in the curve
            pool_f[p, PF_X] = x - out
            pool_f[p, PF_Y] = y + to_curve
            pool_f[p, PF_RX] -= out
            pool_f[p, PF_RY] += to_curve
        else:
            sold = INITIAL_REAL_TOKEN_RAW - pool_f[p, PF_RX]
            if amount_in_raw > sold:
                amount_in_raw = sold
            if amount_in_raw < 1.0:
                return 0.0, 0.0
            gross = curve_sol_out_nb(amount_in_raw, y, x, 0.0)
            out = curve_sol_out_nb(amount_in_raw, y, x, fee_bps)
            if not out >= 1.0 or gross > pool_f[p, PF_RY]:
                return 0.0, 0.0
            pool_f[p, PF_X] = x + amount_in_raw
            pool_f[p, PF_Y] = y - gross
            pool_f[p, PF_RX] += amount_in_raw
            pool_f[p, PF_RY] -= gross
    else:
        base_in = side == SELL
        limit = MIN_SQRT_PRICE if base_in else MAX_SQRT_PRICE
        _, out, _, nxt = clmm_step_in_nb(amount_in_raw, base_in, y, limit, x, fn, fd)
        if not out >= 1.0:
            return 0.0, 0.0
        pool_f[p, PF_Y] = nxt
    pool_f[p, PF_LOGP] = pool_logp_nb(pool_i, pool_f, p)
    return amount_in_raw, out


@njit(cache=True)
def amount_to_price_nb(pool_i: np.ndarray, pool_f: np.ndarray, p: int, target_logp: float) -> float:
    """Return the input (fee included) that moves pool ``p`` to ``target_logp``; side follows the sign."""
    kind = pool_i[p, PI_KIND]
    x = pool_f[p, PF_X]
    y = pool_f[p, PF_Y]
    fee = pool_f[p, PF_FEE]
    up = target_logp > pool_f[p, PF_LOGP]
    if kind == PK_CLMM:
        sp_new = math.exp(0.5 * target_logp)
        net = x * (sp_new - y) if up else x * (1.0 / sp_new - 1.0 / y)
    else:
        k = x * y
        if up:
            net = math.sqrt(k * math.exp(target_logp)) - y
        else:
            net = math.sqrt(k / math.exp(target_logp)) - x
    if net <= 0.0:
        return 0.0
    if kind == PK_CURVE and not up:
        return net  # the curve takes its fee from the SOL paid out
    return net / (1.0 - fee)


# ---------------------------------------------------------------------------------------------
# Output.


@njit(cache=True)
def emit_nb(out_i: np.ndarray, out_v: np.ndarray, n: int, slot: int, seq: int, kind: int, pool: int,
            wallet: int, mint: int, side: int, flags: int, v0: float, v1: float, v2: float, v3: float,
            v4: float) -> int:
    """Write one row at ``n`` (if it fits) and return ``n + 1``."""
    if n < out_i.shape[0]:
        out_i[n, OUT_SLOT] = slot
        out_i[n, OUT_SEQ] = seq
        out_i[n, OUT_KIND] = kind
        out_i[n, OUT_POOL] = pool
        out_i[n, OUT_WALLET] = wallet
        out_i[n, OUT_MINT] = mint
        out_i[n, OUT_SIDE] = side
        out_i[n, OUT_FLAGS] = flags
        out_v[n, 0] = v0
        out_v[n, 1] = v1
        out_v[n, 2] = v2
        out_v[n, 3] = v3
        out_v[n, 4] = v4
    return n + 1


@njit(cache=True)
def state_row_nb(pool_i: np.ndarray, pool_f: np.ndarray, p: int, out_i: np.ndarray, out_v: np.ndarray,
                 n: int, slot: int, seq: int) -> int:
    """Write the POOL_STATE row of pool ``p``."""
    base = pool_i[p, PI_BASE]
    kind = pool_i[p, PI_KIND]
    if kind == PK_CLMM:
        sp = pool_f[p, PF_Y]
        tick = tick_at_sqrt_price_nb(sp)
        return emit_nb(out_i, out_v, n, slot, seq, EK_POOL_STATE, p, -1, base, kind, 0,
                       pool_f[p, PF_X], sp, tick, 0.0, 0.0)
    return emit_nb(out_i, out_v, n, slot, seq, EK_POOL_STATE, p, -1, base, kind, 0,
                   pool_f[p, PF_X], pool_f[p, PF_Y], pool_f[p, PF_RX], pool_f[p, PF_RY], 0.0)


@njit(cache=True)
def new_pool_row_nb(pool_i: np.ndarray, pool_f: np.ndarray, tok_i: np.ndarray, p: int, out_i: np.ndarray,
                    out_v: np.ndarray, n: int, slot: int, seq: int) -> int:
    """Write the NEW_POOL row of pool ``p`` with the risk facts of its base token."""
    base = pool_i[p, PI_BASE]
    if pool_i[p, PI_KIND] == PK_CLMM:  # report the reserves of the range at the current price
        rb = np.floor(pool_f[p, PF_X] / pool_f[p, PF_Y])
        rq = np.floor(pool_f[p, PF_X] * pool_f[p, PF_Y])
    else:
        rb = pool_f[p, PF_X]
        rq = pool_f[p, PF_Y]
    return emit_nb(out_i, out_v, n, slot, seq, EK_NEW_POOL, p, pool_i[p, PI_CREATOR], base,
                   pool_i[p, PI_KIND], tok_i[base, TI_RISK], rb, rq, pool_f[p, PF_LP_BURNED],
                   pool_f[p, PF_TOP_HOLDER], float(tok_i[base, TI_FEE_BPS]))


# ---------------------------------------------------------------------------------------------
# Initial market.


@njit(cache=True)
def add_pool_nb(pool_i: np.ndarray, pool_f: np.ndarray, st_i: np.ndarray, kind: int, venue: int, base: int,
                quote: int, slot: int, creator: int, fee_num: float, fee_den: float, weight: float,
                decay: float, lp_burned: float, top_holder: float, scale: float) -> int:
    """Append a pool with empty reserves and return its id (-1 when the pool table is full)."""
    p = st_i[S_N_POOLS]
    if p >= pool_i.shape[0]:
        return -1
    st_i[S_N_POOLS] = p + 1
    pool_i[p, PI_KIND] = kind
    pool_i[p, PI_VENUE] = venue
    pool_i[p, PI_BASE] = base
    pool_i[p, PI_QUOTE] = quote
    pool_i[p, PI_CREATED] = slot
    pool_i[p, PI_ACTIVE] = 1
    pool_i[p, PI_ARB_SLOT] = -1
    pool_i[p, PI_ARB_WALLET] = -1
    pool_i[p, PI_NOARB] = 0
    pool_i[p, PI_CREATOR] = creator
    pool_f[p, PF_FEE_NUM] = fee_num
    pool_f[p, PF_FEE_DEN] = fee_den
    pool_f[p, PF_FEE] = fee_num / fee_den
    pool_f[p, PF_WEIGHT] = weight
    pool_f[p, PF_DECAY] = decay
    pool_f[p, PF_LP_BURNED] = lp_burned
    pool_f[p, PF_TOP_HOLDER] = top_holder
    pool_f[p, PF_SCALE] = scale
    return p


@njit(cache=True)
def set_depth_nb(pool_i: np.ndarray, pool_f: np.ndarray, p: int, logp: float, quote_depth_raw: float,
                 concentration: float) -> None:
    """Set the reserves of a new pool from its raw log price and its quote-side depth (base units)."""
    price = math.exp(logp)
    y = np.floor(quote_depth_raw)
    x = np.floor(quote_depth_raw / price)
    if pool_i[p, PI_KIND] == PK_CLMM:
        pool_f[p, PF_X] = concentration * math.sqrt(x * y)  # liquidity of one concentrated range
        pool_f[p, PF_Y] = math.sqrt(price)
        pool_f[p, PF_RX] = 0.0
        pool_f[p, PF_RY] = 0.0
    else:
        pool_f[p, PF_X] = x
        pool_f[p, PF_Y] = y
        pool_f[p, PF_RX] = x
        pool_f[p, PF_RY] = y
    pool_f[p, PF_LOGP] = pool_logp_nb(pool_i, pool_f, p)


@njit(cache=True)
def init_market_nb(params: np.ndarray, tok_i: np.ndarray, tok_f: np.ndarray, pool_i: np.ndarray,
                   pool_f: np.ndarray, mkt_i: np.ndarray, mkt_f: np.ndarray, lead_i: np.ndarray,
                   st_i: np.ndarray, st_f: np.ndarray) -> int:
    """Set up SOL, USDC, the listed tokens with their pools, and the prediction markets; return status."""
    pr = params[0]
    seed = pr.seed
    s0 = pr.start_slot
    tok_i[:, :] = -1
    tok_i[:, TI_STATE] = TS_NONE
    tok_i[:, TI_TRUTH] = 0
    tok_i[:, TI_RISK] = 0
    tok_i[:, TI_FEE_BPS] = 0
    tok_i[:, TI_REGIME] = 0
    tok_f[:, :] = 0.0
    pool_i[:, :] = -1
    pool_f[:, :] = 0.0
    lead_i[:, :, LI_POOL] = -1
    lead_i[:, :, LI_EXIT_SLOT] = -1
    st_i[S_NEXT_SLOT] = s0
    st_i[S_N_POOLS] = 0
    st_i[S_NEXT_LAUNCH] = 0
    st_f[S_LOG_SOL_USD] = math.log(pr.sol_usd)
    key = stream_key_nb(seed, STREAM_INIT_TOKEN)
    n_tok = 2 + pr.n_listed
    for j in range(n_tok):
        tok_i[j, TI_KIND] = TOKEN_BASE if j < 2 else TOKEN_LISTED
        tok_i[j, TI_STATE] = TS_ALIVE
        tok_i[j, TI_CREATED] = s0
        kj = slot_key_nb(key, j)
        if j == SOL_ID:
            tok_f[j, TF_VOL] = pr.sol_vol_slot
        elif j == USDC_ID:
            tok_f[j, TF_LOGFAIR] = -st_f[S_LOG_SOL_USD]
        else:
            tok_f[j, TF_LOGFAIR] = math.log(1e-4) + uniform_nb(kj, 0) * (math.log(2.0) - math.log(1e-4))
            tok_f[j, TF_VOL] = pr.token_vol_slot * math.exp(0.5 * normal_nb(kj, 1))
            tok_f[j, TF_TOP_HOLDER] = 0.02 + 0.1 * uniform_nb(kj, 2)
    st_i[S_N_TOKENS] = n_tok
    pkey = stream_key_nb(seed, STREAM_INIT_POOL)
    lp = pr.w_lp
    base_rate = pr.noise_rate_slot
    sol_scale = (USDC_DECIMALS - SOL_DECIMALS) * LN10
    log_s = st_f[S_LOG_SOL_USD]
    # SOL/USDC: a deep whirlpool (0.04 %), Raydium AMM v4 (0.25 %) and a Raydium CPMM (0.25 %)
    for v in range(3):
        if v == 0:
            p = add_pool_nb(pool_i, pool_f, st_i, PK_CLMM, VENUE_ORCA_WHIRLPOOL, SOL_ID, USDC_ID, s0, lp,
                            400.0, 1e6, 3.0 * base_rate, 1.0, 1.0, 0.0, sol_scale)
            depth_sol, conc = 150_000.0, 20.0
        elif v == 1:
            p = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_RAYDIUM_AMM_V4, SOL_ID, USDC_ID, s0, lp,
                            25.0, 10_000.0, 2.0 * base_rate, 1.0, 1.0, 0.0, sol_scale)
            depth_sol, conc = 120_000.0, 1.0
        else:
            p = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_RAYDIUM_CPMM, SOL_ID, USDC_ID, s0, lp,
                            2500.0, 1e6, base_rate, 1.0, 1.0, 0.0, sol_scale)
            depth_sol, conc = 15_000.0, 1.0
        if p < 0:
            return STATUS_OVERFLOW
        set_depth_nb(pool_i, pool_f, p, log_s + sol_scale, depth_sol * math.exp(log_s) * 1e6, conc)
    # listed tokens: a SOL pair on 2-4 pools (always Raydium AMM v4), a USDC pair on 2-3 pools
    for j in range(2, n_tok):
        kj = slot_key_nb(pkey, j)
        depth_sol = math.exp(math.log(300.0) + uniform_nb(kj, 0) * (math.log(20_000.0) - math.log(300.0)))
        for q in range(2):
            quote = SOL_ID if q == 0 else USDC_ID
            qdec = SOL_DECIMALS if q == 0 else USDC_DECIMALS
            scale = (qdec - TOKEN_DECIMALS) * LN10
            logp = tok_f[j, TF_LOGFAIR] - tok_f[quote, TF_LOGFAIR] + scale
            quote_per_sol = math.exp(-tok_f[quote, TF_LOGFAIR]) * 10.0 ** qdec
            pair_depth = depth_sol * (1.0 if q == 0 else 0.5)
            first = st_i[S_N_POOLS]
            n_in_pair = 0
            for v in range(4):
                if q == 1 and v == 3:
                    continue  # PumpSwap pools are SOL pairs
                take = v == 0 or uniform_nb(kj, 10 + 4 * q + v) < 0.5
                if v == 3 and q == 0 and n_in_pair == 1 and not take:
                    take = True  # at least two pools per pair
                if q == 1 and v == 2 and n_in_pair == 1 and not take:
                    take = True
                if not take:
                    continue
                conc = 1.0
                if v == 0:
                    p = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_RAYDIUM_AMM_V4, j, quote, s0, lp,
                                    25.0, 10_000.0, base_rate, 1.0, 1.0, tok_f[j, TF_TOP_HOLDER], scale)
                    share = 1.0
                elif v == 1:
                    fee = 2500.0 if uniform_nb(kj, 20 + q) < 0.7 else 10_000.0
                    p = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_RAYDIUM_CPMM, j, quote, s0, lp,
                                    fee, 1e6, 0.5 * base_rate, 1.0, 1.0, tok_f[j, TF_TOP_HOLDER], scale)
                    share = 0.3
                elif v == 2:
                    fee = 3000.0 if uniform_nb(kj, 22 + q) < 0.7 else 10_000.0
                    p = add_pool_nb(pool_i, pool_f, st_i, PK_CLMM, VENUE_ORCA_WHIRLPOOL, j, quote, s0, lp,
                                    fee, 1e6, base_rate, 1.0, 1.0, tok_f[j, TF_TOP_HOLDER], scale)
                    share, conc = 0.4, 4.0 + 8.0 * uniform_nb(kj, 24 + q)
                else:
                    p = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_PUMPSWAP, j, quote, s0, lp,
                                    25.0, 10_000.0, 0.7 * base_rate, 1.0, 1.0, tok_f[j, TF_TOP_HOLDER], scale)
                    share = 0.4
                if p < 0:
                    return STATUS_OVERFLOW
                set_depth_nb(pool_i, pool_f, p, logp, pair_depth * share * quote_per_sol, conc)
                n_in_pair += 1
            if q == 0:
                tok_i[j, TI_POOL] = first
                tok_i[j, TI_POOL2] = n_in_pair
    # prediction markets: prior p0, outcome drawn from it, a public signal that reveals it
    mkey = stream_key_nb(seed, STREAM_INIT_MARKET)
    for m in range(pr.n_markets):
        km = slot_key_nb(mkey, m)
        p0 = 0.15 + 0.7 * uniform_nb(km, 0)
        span = pr.n_slots * (0.3 + 0.7 * uniform_nb(km, 1))
        horizon = max(1, int(span))
        mkt_i[m, MI_RESOLVE_SLOT] = s0 + horizon - 1
        mkt_i[m, MI_OUTCOME] = 1 if uniform_nb(km, 2) < p0 else 0
        mkt_i[m, MI_RESOLVED] = 0
        mkt_f[m, MF_LOGIT0] = math.log(p0 / (1.0 - p0))
        mkt_f[m, MF_SIGNAL] = 0.0
        mkt_f[m, MF_MU] = pr.market_signal / math.sqrt(horizon)
    return STATUS_OK


# ---------------------------------------------------------------------------------------------
# The slot loop.


@njit(cache=True)
def pool_fair_logp_nb(pool_i: np.ndarray, pool_f: np.ndarray, tok_f: np.ndarray, p: int) -> float:
    """Return the log raw price pool ``p`` would have at the fair prices of its tokens."""
    return tok_f[pool_i[p, PI_BASE], TF_LOGFAIR] - tok_f[pool_i[p, PI_QUOTE], TF_LOGFAIR] + pool_f[p, PF_SCALE]


@njit(cache=True)
def mark_dirty_nb(dirty: np.ndarray, is_dirty: np.ndarray, n_dirty: int, p: int) -> int:
    if is_dirty[p] == 0:
        is_dirty[p] = 1
        dirty[n_dirty] = p
        n_dirty += 1
    return n_dirty


@njit(cache=True)
def launch_token_nb(pr, k: int, j: int, slot: int, tok_i: np.ndarray, tok_f: np.ndarray, pool_i: np.ndarray,
                    pool_f: np.ndarray, st_i: np.ndarray) -> int:
    """Create launch ``k`` as token ``j`` with its first pool; return the pool id (-1 when full)."""
    kl = slot_key_nb(stream_key_nb(pr.seed, STREAM_LAUNCH), k)
    creator = pr.w_creator0 + k
    u = uniform_nb(kl, 0)
    honeypot = u < pr.honeypot_share
    rug = (not honeypot) and u < pr.honeypot_share + pr.rug_share
    curve = (not honeypot) and (not rug) and uniform_nb(kl, 1) < pr.curve_share
    tok_i[j, TI_KIND] = TOKEN_LAUNCH
    tok_i[j, TI_STATE] = TS_ALIVE
    tok_i[j, TI_CREATED] = slot
    tok_i[j, TI_CREATOR] = creator
    tok_i[j, TI_EVENT_SLOT] = -1
    tok_i[j, TI_END_SLOT] = -1
    tok_i[j, TI_POOL2] = -1
    truth = 0
    risk = 0
    fee_bps = 0
    if honeypot:
        truth |= TRUTH_HONEYPOT
        if uniform_nb(kl, 2) < 0.6:
            risk |= RISK_FREEZE_AUTHORITY
        else:
            risk |= RISK_TRANSFER_FEE
            fee_bps = 5000 + int(4900.0 * uniform_nb(kl, 3))
        if uniform_nb(kl, 4) < 0.5:
            risk |= RISK_MINT_AUTHORITY
        top = 0.3 + 0.6 * uniform_nb(kl, 5)
        tok_i[j, TI_EVENT_SLOT] = slot + geometric_nb(uniform_nb(kl, 6), pr.dump_delay_mean_slots)
    elif rug:
        truth |= TRUTH_RUG
        if uniform_nb(kl, 4) < 0.5:
            risk |= RISK_MINT_AUTHORITY
        top = 0.2 + 0.6 * uniform_nb(kl, 5)
        tok_i[j, TI_EVENT_SLOT] = slot + geometric_nb(uniform_nb(kl, 6), pr.rug_delay_mean_slots)
    else:
        if not curve and uniform_nb(kl, 4) < 0.1:
            risk |= RISK_MINT_AUTHORITY  # a harmless token that looks risky
        top = 0.01 + 0.1 * uniform_nb(kl, 5)
    success = (not honeypot) and (not rug) and uniform_nb(kl, 7) < pr.success_share
    if success:
        truth |= TRUTH_SUCCESS
    tok_i[j, TI_TRUTH] = truth
    tok_i[j, TI_RISK] = risk
    tok_i[j, TI_FEE_BPS] = fee_bps
    tok_i[j, TI_REGIME] = 0
    tok_f[j, TF_VOL] = pr.launch_vol_slot
    tok_f[j, TF_DRIFT] = pr.success_drift_slot if success else (pr.fade_drift_slot if not (honeypot or rug) else 0.0)
    tok_f[j, TF_INFO] = 0.0
    tok_f[j, TF_TOP_HOLDER] = top
    scale = (SOL_DECIMALS - TOKEN_DECIMALS) * LN10
    weight = pr.launch_rate_slot * (0.5 + uniform_nb(kl, 8))
    if curve:
        p = add_pool_nb(pool_i, pool_f, st_i, PK_CURVE, VENUE_PUMPFUN, j, SOL_ID, slot, creator,
                        100.0, 10_000.0, weight, pr.launch_decay, 1.0, top, scale)
        if p < 0:
            return -1
        pool_f[p, PF_X] = INITIAL_VIRTUAL_TOKEN_RAW
        pool_f[p, PF_Y] = INITIAL_VIRTUAL_SOL_RAW
        pool_f[p, PF_RX] = INITIAL_REAL_TOKEN_RAW
        pool_f[p, PF_RY] = 0.0
        pool_f[p, PF_LOGP] = pool_logp_nb(pool_i, pool_f, p)
    else:
        fee = 2500.0 if uniform_nb(kl, 9) < 0.7 else 10_000.0
        lp_burned = 0.0 if rug else (1.0 if uniform_nb(kl, 10) < 0.8 else 0.0)
        p = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_RAYDIUM_CPMM, j, SOL_ID, slot, creator,
                        fee, 1e6, weight, pr.launch_decay, lp_burned, top, scale)
        if p < 0:
            return -1
        quote = np.floor(1e9 * math.exp(math.log(5.0) + uniform_nb(kl, 11) * (math.log(80.0) - math.log(5.0))))
        base = np.floor(TOKEN_TOTAL_SUPPLY_RAW * (1.0 - top))
        pool_f[p, PF_X] = base
        pool_f[p, PF_Y] = quote
        pool_f[p, PF_RX] = base
        pool_f[p, PF_RY] = quote
        pool_f[p, PF_LOGP] = pool_logp_nb(pool_i, pool_f, p)
        if honeypot:
            pool_i[p, PI_NOARB] = 1
    tok_f[j, TF_LOGFAIR] = pool_f[p, PF_LOGP] - scale
    tok_i[j, TI_POOL] = p
    return p


@njit(cache=True)
def end_token_nb(tok_i: np.ndarray, pool_i: np.ndarray, pool_f: np.ndarray, j: int, state: int, slot: int) -> None:
    """Stop token ``j`` (dead or dormant): its pools stop trading."""
    tok_i[j, TI_STATE] = state
    tok_i[j, TI_END_SLOT] = slot
    for c in (TI_POOL, TI_POOL2):
        p = tok_i[j, c]
        if p >= 0:
            pool_i[p, PI_ACTIVE] = 0
            pool_i[p, PI_ARB_SLOT] = -1
            pool_f[p, PF_WEIGHT] = 0.0


@njit(cache=True)
def leader_buy_nb(pr, ks: np.uint64, idx: int, li: int, j: int, tok_i: np.ndarray, pool_i: np.ndarray,
                  pool_f: np.ndarray, lead_i: np.ndarray, lead_f: np.ndarray, out_i: np.ndarray,
                  out_v: np.ndarray, n: int, slot: int, seq: int, dirty: np.ndarray, is_dirty: np.ndarray,
                  n_dirty: int) -> tuple[int, int]:
    """Let leader ``li`` buy listed token ``j`` on one of its SOL pools and hold it; return (n, n_dirty)."""
    k_free = -1
    for k in range(POS_MAX):
        if lead_i[li, k, LI_POOL] < 0:
            k_free = k
            break
    if k_free < 0:
        return n, n_dirty
    p = tok_i[j, TI_POOL] + int(uniform_nb(ks, idx + 4) * tok_i[j, TI_POOL2])
    lo = math.log(pr.leader_size_min_sol)
    size_sol = math.exp(lo + uniform_nb(ks, idx + 5) * (math.log(pr.leader_size_max_sol) - lo))
    a_in, a_out = swap_nb(pool_i, pool_f, p, BUY, size_sol * 1e9)
    if a_out > 0.0:
        n = emit_nb(out_i, out_v, n, slot, seq, EK_SWAP, p, pr.w_lead0 + li, j, BUY, 0, a_in, a_out,
                    0.0, 0.0, 0.0)
        n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
        lead_i[li, k_free, LI_POOL] = p
        lead_i[li, k_free, LI_EXIT_SLOT] = slot + geometric_nb(uniform_nb(ks, idx + 6), pr.leader_hold_mean_slots)
        lead_f[li, k_free] = a_out
    return n, n_dirty


@njit(cache=True)
def simulate_nb(slot_stop: int, reserve: int, params: np.ndarray, launch_slots: np.ndarray,
                tok_i: np.ndarray, tok_f: np.ndarray, pool_i: np.ndarray, pool_f: np.ndarray,
                lead_i: np.ndarray, lead_f: np.ndarray, mkt_i: np.ndarray, mkt_f: np.ndarray,
                st_i: np.ndarray, st_f: np.ndarray, truth_fair: np.ndarray, truth_sol_usd: np.ndarray,
                truth_prob: np.ndarray, out_i: np.ndarray, out_v: np.ndarray) -> tuple[int, int]:
    """Simulate slots ``st_i[S_NEXT_SLOT]`` up to ``slot_stop`` (exclusive); return (status, rows written).

    Stops early, between two slots, with ``STATUS_FULL`` when fewer than ``reserve`` rows are
    left in ``out_i``; ``st_i[S_NEXT_SLOT]`` then says where to continue.
    """
    pr = params[0]
    seed = pr.seed
    s0 = pr.start_slot
    cap = out_i.shape[0]
    n_pool_cap = pool_i.shape[0]
    dirty = np.empty(n_pool_cap, dtype=np.int64)
    is_dirty = np.zeros(n_pool_cap, dtype=np.int8)
    k_fair = stream_key_nb(seed, STREAM_FAIR)
    k_noise = stream_key_nb(seed, STREAM_NOISE)
    k_arb = stream_key_nb(seed, STREAM_ARB)
    k_lead = stream_key_nb(seed, STREAM_LEADER)
    k_mkt = stream_key_nb(seed, STREAM_MARKET)
    k_mtr = stream_key_nb(seed, STREAM_MARKET_TRADE)
    n_leaders = lead_i.shape[0]
    n_markets = pr.n_markets
    n_listed = pr.n_listed
    edge_decay = pr.edge_decay
    news_tok = np.empty(tok_i.shape[0], dtype=np.int64)
    n = 0
    slot = st_i[S_NEXT_SLOT]
    while slot < slot_stop:
        if n + reserve > cap:
            st_i[S_NEXT_SLOT] = slot
            return STATUS_FULL, n
        t = slot - s0
        seq = 0
        n_dirty = 0
        # -- 1. the listed pools appear in the first slot -----------------------------------
        if t == 0:
            for p in range(st_i[S_N_POOLS]):
                n = new_pool_row_nb(pool_i, pool_f, tok_i, p, out_i, out_v, n, slot, seq)
                seq += 1
                if pool_i[p, PI_KIND] == PK_CLMM:
                    db = np.floor(pool_f[p, PF_X] / pool_f[p, PF_Y])
                    dq = np.floor(pool_f[p, PF_X] * pool_f[p, PF_Y])
                else:
                    db = pool_f[p, PF_X]
                    dq = pool_f[p, PF_Y]
                n = emit_nb(out_i, out_v, n, slot, seq, EK_LIQUIDITY, p, pool_i[p, PI_CREATOR],
                            pool_i[p, PI_BASE], -1, 0, db, dq, 0.0, 0.0, 0.0)
                seq += 1
                n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
        # -- 2. fair prices and token life cycle --------------------------------------------
        ks = slot_key_nb(k_fair, slot)
        # SOL/USD
        vol = tok_f[SOL_ID, TF_VOL] * (pr.volatile_mult if tok_i[SOL_ID, TI_REGIME] == 1 else 1.0)
        dlog = vol * normal_nb(ks, 0)
        u = uniform_nb(ks, 1)
        if u < pr.jump_prob_slot:
            dlog += 0.5 * pr.jump_sigma * normal_nb(ks, 2)
        elif u < pr.jump_prob_slot + (pr.to_volatile_prob if tok_i[SOL_ID, TI_REGIME] == 0 else pr.to_calm_prob):
            tok_i[SOL_ID, TI_REGIME] = 1 - tok_i[SOL_ID, TI_REGIME]
        st_f[S_LOG_SOL_USD] += dlog
        tok_f[USDC_ID, TF_LOGFAIR] = -st_f[S_LOG_SOL_USD]
        n_tok = st_i[S_N_TOKENS]
        n_news = 0
        for j in range(2, n_tok):
            if tok_i[j, TI_STATE] != TS_ALIVE:
                continue
            vol = tok_f[j, TF_VOL] * (pr.volatile_mult if tok_i[j, TI_REGIME] == 1 else 1.0)
            info = tok_f[j, TF_INFO]
            dlog = tok_f[j, TF_DRIFT] + vol * normal_nb(ks, 4 * j)
            if info != 0.0:
                dlog += info * (1.0 - edge_decay)
                info *= edge_decay
                tok_f[j, TF_INFO] = info if abs(info) > 1e-12 else 0.0
            u = uniform_nb(ks, 4 * j + 1)
            news = pr.news_prob_slot if tok_i[j, TI_KIND] == TOKEN_LISTED else 0.0
            if u < pr.jump_prob_slot:
                dlog += pr.jump_sigma * normal_nb(ks, 4 * j + 2)
            elif u < pr.jump_prob_slot + news:  # news, up or down, that reaches the price gradually
                size = pr.edge_log_return * (0.5 + uniform_nb(ks, 4 * j + 3))
                if uniform_nb(ks, 4 * j + 2) < 0.5:
                    tok_f[j, TF_INFO] -= size
                else:
                    tok_f[j, TF_INFO] += size
                    news_tok[n_news] = j  # edge leaders hear good news first
                    n_news += 1
            elif u < pr.jump_prob_slot + news + (pr.to_volatile_prob if tok_i[j, TI_REGIME] == 0
                                                 else pr.to_calm_prob):
                tok_i[j, TI_REGIME] = 1 - tok_i[j, TI_REGIME]
            tok_f[j, TF_LOGFAIR] += dlog
            if tok_i[j, TI_KIND] != TOKEN_LAUNCH:
                continue
            ev = tok_i[j, TI_EVENT_SLOT]
            truth = tok_i[j, TI_TRUTH]
            if ev == slot:
                p = tok_i[j, TI_POOL]
                creator = tok_i[j, TI_CREATOR]
                if truth & TRUTH_RUG:  # the creator pulls nearly all liquidity
                    keep = 1e-4 + 0.005 * uniform_nb(ks, 4 * j + 3)
                    db = np.floor(pool_f[p, PF_X] * (1.0 - keep))
                    dq = np.floor(pool_f[p, PF_Y] * (1.0 - keep))
                    pool_f[p, PF_X] -= db
                    pool_f[p, PF_Y] -= dq
                    pool_f[p, PF_RX] = pool_f[p, PF_X]
                    pool_f[p, PF_RY] = pool_f[p, PF_Y]
                    pool_f[p, PF_LOGP] = pool_logp_nb(pool_i, pool_f, p)
                    n = emit_nb(out_i, out_v, n, slot, seq, EK_LIQUIDITY, p, creator, j, -1, 0,
                                -db, -dq, 0.0, 0.0, 0.0)
                    seq += 1
                    n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
                    end_token_nb(tok_i, pool_i, pool_f, j, TS_DEAD, slot)
                    tok_f[j, TF_LOGFAIR] = pool_f[p, PF_LOGP] - pool_f[p, PF_SCALE]
                elif truth & TRUTH_HONEYPOT:  # the creator dumps the supply he kept
                    amount = np.floor(TOKEN_TOTAL_SUPPLY_RAW * tok_f[j, TF_TOP_HOLDER])
                    a_in, a_out = swap_nb(pool_i, pool_f, p, SELL, amount)
                    if a_out > 0.0:
                        n = emit_nb(out_i, out_v, n, slot, seq, EK_SWAP, p, creator, j, SELL, 0,
                                    a_in, a_out, 0.0, 0.0, 0.0)
                        seq += 1
                        n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
                    end_token_nb(tok_i, pool_i, pool_f, j, TS_DEAD, slot)
                elif pool_i[p, PI_KIND] == PK_CURVE:  # migration of a completed curve
                    q = add_pool_nb(pool_i, pool_f, st_i, PK_CPMM, VENUE_PUMPSWAP, j, SOL_ID, slot,
                                    pr.w_migrator, 25.0, 10_000.0, pool_f[p, PF_WEIGHT], pool_f[p, PF_DECAY],
                                    1.0, tok_f[j, TF_TOP_HOLDER], pool_f[p, PF_SCALE])
                    if q < 0:
                        st_i[S_NEXT_SLOT] = slot
                        return STATUS_OVERFLOW, n
                    sol = pool_f[p, PF_RY]
                    reserved = float(TOKEN_TOTAL_SUPPLY_RAW - INITIAL_REAL_TOKEN_RAW)
                    n = emit_nb(out_i, out_v, n, slot, seq, EK_LIQUIDITY, p, pr.w_migrator, j, -1, 0,
                                0.0, -sol, 0.0, 0.0, 0.0)  # the curve's real SOL leaves; real tokens are 0
                    seq += 1
                    pool_f[p, PF_RY] = 0.0
                    pool_i[p, PI_ACTIVE] = 0
                    pool_i[p, PI_ARB_SLOT] = -1
                    pool_f[p, PF_WEIGHT] = 0.0
                    n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
                    sol_in = max(sol - pr.migration_fee_lamports, 1.0)
                    pool_f[q, PF_X] = reserved
                    pool_f[q, PF_Y] = sol_in
                    pool_f[q, PF_RX] = reserved
                    pool_f[q, PF_RY] = sol_in
                    pool_f[q, PF_LOGP] = pool_logp_nb(pool_i, pool_f, q)
                    n = new_pool_row_nb(pool_i, pool_f, tok_i, q, out_i, out_v, n, slot, seq)
                    seq += 1
                    n = emit_nb(out_i, out_v, n, slot, seq, EK_LIQUIDITY, q, pr.w_migrator, j, -1, 0,
                                reserved, sol_in, 0.0, 0.0, 0.0)
                    seq += 1
                    n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, q)
                    tok_i[j, TI_POOL2] = q
                    tok_i[j, TI_TRUTH] = truth | TRUTH_MIGRATED
                    tok_f[j, TF_DRIFT] = 0.0
            elif (truth & (TRUTH_HONEYPOT | TRUTH_RUG)) == 0:
                life = pr.launch_lifetime_slots * (4 if truth & TRUTH_MIGRATED else 1)
                if slot - tok_i[j, TI_CREATED] >= life and tok_i[j, TI_EVENT_SLOT] < slot:  # no migration pending
                    end_token_nb(tok_i, pool_i, pool_f, j, TS_DORMANT, slot)
        # new launches
        while st_i[S_NEXT_LAUNCH] < launch_slots.shape[0] and launch_slots[st_i[S_NEXT_LAUNCH]] == slot:
            k = st_i[S_NEXT_LAUNCH]
            j = 2 + n_listed + k
            p = launch_token_nb(pr, k, j, slot, tok_i, tok_f, pool_i, pool_f, st_i)
            if p < 0:
                st_i[S_NEXT_SLOT] = slot
                return STATUS_OVERFLOW, n
            st_i[S_NEXT_LAUNCH] = k + 1
            st_i[S_N_TOKENS] = j + 1
            n = new_pool_row_nb(pool_i, pool_f, tok_i, p, out_i, out_v, n, slot, seq)
            seq += 1
            if pool_i[p, PI_KIND] == PK_CPMM:
                n = emit_nb(out_i, out_v, n, slot, seq, EK_LIQUIDITY, p, pool_i[p, PI_CREATOR], j, -1, 0,
                            pool_f[p, PF_X], pool_f[p, PF_Y], 0.0, 0.0, 0.0)
                seq += 1
            n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
        n_pools = st_i[S_N_POOLS]
        # -- 3. noise traders: Poisson arrivals, pools by activity, heavy-tailed sizes ---------
        ks = slot_key_nb(k_noise, slot)
        lam = 0.0
        for p in range(n_pools):
            lam += pool_f[p, PF_WEIGHT]
        n_noise = poisson_nb(uniform_nb(ks, 0), lam, NOISE_MAX_PER_SLOT) if lam > 0.0 else 0
        for a in range(n_noise):
            target = uniform_nb(ks, 8 * a + 1) * lam
            acc = 0.0
            p = -1
            for c in range(n_pools):
                w = pool_f[c, PF_WEIGHT]
                acc += w
                if w > 0.0:
                    p = c
                    if target < acc:
                        break
            if p < 0:
                break
            base = pool_i[p, PI_BASE]
            quote = pool_i[p, PI_QUOTE]
            wallet = pr.w_noise0 + int(uniform_nb(ks, 8 * a + 2) * pr.n_noise)
            if pool_i[p, PI_NOARB] == 1:
                side = BUY  # nobody but the creator can sell a honeypot
            else:
                side = BUY if uniform_nb(ks, 8 * a + 3) < 0.5 else SELL
            quote_dec = SOL_DECIMALS if quote == SOL_ID else USDC_DECIMALS
            quote_per_sol = math.exp(-tok_f[quote, TF_LOGFAIR]) * 10.0 ** quote_dec
            if pool_i[p, PI_KIND] == PK_CLMM:
                depth = pool_f[p, PF_X] * pool_f[p, PF_Y] / quote_per_sol
            elif pool_i[p, PI_KIND] == PK_CURVE:
                depth = 30.0 + pool_f[p, PF_RY] / 1e9
            else:
                depth = pool_f[p, PF_Y] / quote_per_sol
            size_sol = pareto_nb(uniform_nb(ks, 8 * a + 4), pr.noise_size_min_sol, pr.noise_size_alpha,
                                 max(pr.noise_max_depth_share * depth, pr.noise_size_min_sol))
            value = size_sol * quote_per_sol
            amount = value if side == BUY else value / math.exp(pool_f[p, PF_LOGP])
            a_in, a_out = swap_nb(pool_i, pool_f, p, side, amount)
            if a_out > 0.0:
                n = emit_nb(out_i, out_v, n, slot, seq, EK_SWAP, p, wallet, base, side, 0,
                            a_in, a_out, 0.0, 0.0, 0.0)
                seq += 1
                n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
                if pool_i[p, PI_KIND] == PK_CURVE and pool_f[p, PF_RX] <= 0.0:
                    pool_i[p, PI_ACTIVE] = 0  # complete: migrates next slot
                    tok_i[base, TI_EVENT_SLOT] = slot + 1
        # -- 4. leader wallets ----------------------------------------------------------------
        ks = slot_key_nb(k_lead, slot)
        for li in range(n_leaders):
            for k in range(POS_MAX):
                if lead_i[li, k, LI_EXIT_SLOT] == slot:
                    p = lead_i[li, k, LI_POOL]
                    lead_i[li, k, LI_POOL] = -1
                    lead_i[li, k, LI_EXIT_SLOT] = -1
                    a_in, a_out = swap_nb(pool_i, pool_f, p, SELL, lead_f[li, k])
                    lead_f[li, k] = 0.0
                    if a_out > 0.0:
                        n = emit_nb(out_i, out_v, n, slot, seq, EK_SWAP, p, pr.w_lead0 + li,
                                    pool_i[p, PI_BASE], SELL, 0, a_in, a_out, 0.0, 0.0, 0.0)
                        seq += 1
                        n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
        if pr.n_lead_edge > 0:  # edge leaders buy on good news, before it is in the price
            for a in range(min(n_news, LEADER_MAX_PER_SLOT)):
                li = int(uniform_nb(ks, 64 + 8 * a) * pr.n_lead_edge)
                n_before = n
                n, n_dirty = leader_buy_nb(pr, ks, 64 + 8 * a, li, news_tok[a], tok_i, pool_i, pool_f, lead_i,
                                           lead_f, out_i, out_v, n, slot, seq, dirty, is_dirty, n_dirty)
                seq += n - n_before
        lam = pr.leader_rate_slot * n_leaders
        n_act = poisson_nb(uniform_nb(ks, 0), lam, LEADER_MAX_PER_SLOT) if lam > 0.0 else 0
        for a in range(n_act):
            li = int(uniform_nb(ks, 8 * a + 1) * n_leaders)
            edge = li < pr.n_lead_edge
            wallet = pr.w_lead0 + li
            if n_markets > 0 and uniform_nb(ks, 8 * a + 2) < pr.leader_market_share:
                m = int(uniform_nb(ks, 8 * a + 3) * n_markets)
                if mkt_i[m, MI_RESOLVED] == 1:
                    continue
                if edge:
                    right = uniform_nb(ks, 8 * a + 4) < pr.market_edge_accuracy
                    outcome = mkt_i[m, MI_OUTCOME] if right else 1 - mkt_i[m, MI_OUTCOME]
                else:
                    outcome = 1 if uniform_nb(ks, 8 * a + 4) < 0.5 else 0
                logit = mkt_f[m, MF_LOGIT0] + 2.0 * mkt_f[m, MF_MU] * mkt_f[m, MF_SIGNAL]
                prob = 1.0 / (1.0 + math.exp(-logit))
                price = prob if outcome == 1 else 1.0 - prob
                price = min(max(np.floor(price * 1000.0 + 0.5) / 1000.0, 0.01), 0.99)
                shares = np.floor(pareto_nb(uniform_nb(ks, 8 * a + 5), 50.0, 1.3, 200_000.0))
                n = emit_nb(out_i, out_v, n, slot, seq, EK_OUTCOME_TRADE, m, wallet, outcome, BUY, 0,
                            shares, price, 0.0, 0.0, 0.0)
                seq += 1
                continue
            if edge or n_listed == 0:
                continue  # an edge leader's token buys come with news only
            j = 2 + int(uniform_nb(ks, 8 * a + 3) * n_listed)
            n_before = n
            n, n_dirty = leader_buy_nb(pr, ks, 8 * a, li, j, tok_i, pool_i, pool_f, lead_i, lead_f,
                                       out_i, out_v, n, slot, seq, dirty, is_dirty, n_dirty)
            seq += n - n_before
        # -- 5. prediction markets --------------------------------------------------------------
        if n_markets > 0:
            ks = slot_key_nb(k_mkt, slot)
            n_open = 0
            for m in range(n_markets):
                if mkt_i[m, MI_RESOLVED] == 1:
                    continue
                n_open += 1
                drift = mkt_f[m, MF_MU] if mkt_i[m, MI_OUTCOME] == 1 else -mkt_f[m, MF_MU]
                mkt_f[m, MF_SIGNAL] += drift + normal_nb(ks, m)
            ks = slot_key_nb(k_mtr, slot)
            lam = pr.market_rate_slot * n_open
            n_tr = poisson_nb(uniform_nb(ks, 0), lam, PM_MAX_PER_SLOT) if lam > 0.0 else 0
            for a in range(n_tr):
                m = int(uniform_nb(ks, 8 * a + 1) * n_markets)
                if mkt_i[m, MI_RESOLVED] == 1:
                    continue
                outcome = 1 if uniform_nb(ks, 8 * a + 2) < 0.5 else 0
                side = BUY if uniform_nb(ks, 8 * a + 3) < 0.6 else SELL
                logit = mkt_f[m, MF_LOGIT0] + 2.0 * mkt_f[m, MF_MU] * mkt_f[m, MF_SIGNAL]
                prob = 1.0 / (1.0 + math.exp(-logit))
                price = (prob if outcome == 1 else 1.0 - prob) + 0.02 * normal_nb(ks, 8 * a + 4)
                price = min(max(np.floor(price * 1000.0 + 0.5) / 1000.0, 0.01), 0.99)
                shares = np.floor(pareto_nb(uniform_nb(ks, 8 * a + 5), 5.0, 1.3, 100_000.0))
                n = emit_nb(out_i, out_v, n, slot, seq, EK_OUTCOME_TRADE, m,
                            pr.w_noise0 + int(uniform_nb(ks, 8 * a + 6) * pr.n_noise), outcome, side, 0,
                            shares, price, 0.0, 0.0, 0.0)
                seq += 1
        # -- 6. arbitrageurs: land what was spotted earlier, then spot new gaps ------------------
        ks = slot_key_nb(k_arb, slot)
        for p in range(n_pools):
            if pool_f[p, PF_DECAY] != 1.0:  # launch activity fades
                pool_f[p, PF_WEIGHT] *= pool_f[p, PF_DECAY]
            if pool_i[p, PI_ACTIVE] == 0 or pool_i[p, PI_NOARB] == 1:
                continue
            fair = pool_fair_logp_nb(pool_i, pool_f, tok_f, p)
            dev = pool_f[p, PF_LOGP] - fair
            fee = pool_f[p, PF_FEE]
            if pool_i[p, PI_ARB_SLOT] == slot:
                pool_i[p, PI_ARB_SLOT] = -1
                if abs(dev) > fee + 0.5 * pr.arb_threshold:
                    target = fair + fee if dev > 0.0 else fair - fee
                    side = BUY if dev < 0.0 else SELL
                    a_in, a_out = swap_nb(pool_i, pool_f, p, side, amount_to_price_nb(pool_i, pool_f, p, target))
                    if a_out > 0.0:
                        n = emit_nb(out_i, out_v, n, slot, seq, EK_SWAP, p, pool_i[p, PI_ARB_WALLET],
                                    pool_i[p, PI_BASE], side, 0, a_in, a_out, 0.0, 0.0, 0.0)
                        seq += 1
                        n_dirty = mark_dirty_nb(dirty, is_dirty, n_dirty, p)
                        if pool_i[p, PI_KIND] == PK_CURVE and pool_f[p, PF_RX] <= 0.0:
                            pool_i[p, PI_ACTIVE] = 0
                            tok_i[pool_i[p, PI_BASE], TI_EVENT_SLOT] = slot + 1
                        dev = pool_f[p, PF_LOGP] - fair
            if pool_i[p, PI_ACTIVE] == 1 and pool_i[p, PI_ARB_SLOT] < 0 and abs(dev) > fee + pr.arb_threshold:
                pool_i[p, PI_ARB_SLOT] = slot + geometric_nb(uniform_nb(ks, 2 * p), pr.arb_delay_mean_slots)
                pool_i[p, PI_ARB_WALLET] = pr.w_arb0 + int(uniform_nb(ks, 2 * p + 1) * pr.n_arbs)
        # -- 7. absolute state of every pool that changed, then resolutions ----------------------
        for a in range(1, n_dirty):  # insertion sort by pool id (few per slot)
            v = dirty[a]
            b = a - 1
            while b >= 0 and dirty[b] > v:
                dirty[b + 1] = dirty[b]
                b -= 1
            dirty[b + 1] = v
        for a in range(n_dirty):
            p = dirty[a]
            is_dirty[p] = 0
            n = state_row_nb(pool_i, pool_f, p, out_i, out_v, n, slot, seq)
            seq += 1
        for m in range(n_markets):
            if mkt_i[m, MI_RESOLVED] == 0 and mkt_i[m, MI_RESOLVE_SLOT] == slot:
                mkt_i[m, MI_RESOLVED] = 1
                n = emit_nb(out_i, out_v, n, slot, seq, EK_RESOLUTION, m, -1, -1, -1, 0,
                            float(mkt_i[m, MI_OUTCOME]), 0.0, 0.0, 0.0, 0.0)
                seq += 1
        if n > cap:
            st_i[S_NEXT_SLOT] = slot
            return STATUS_OVERFLOW, cap
        # -- 8. latent truth, sampled every truth_every_slots ---------------------------------
        if t % pr.truth_every_slots == 0:
            row = t // pr.truth_every_slots
            if row < truth_sol_usd.shape[0]:
                truth_sol_usd[row] = math.exp(st_f[S_LOG_SOL_USD])
                for j in range(st_i[S_N_TOKENS]):
                    truth_fair[row, j] = math.exp(tok_f[j, TF_LOGFAIR]) if tok_i[j, TI_STATE] == TS_ALIVE \
                        else np.nan
                for m in range(n_markets):
                    if mkt_i[m, MI_RESOLVED] == 1:
                        truth_prob[row, m] = float(mkt_i[m, MI_OUTCOME])
                    else:
                        logit = mkt_f[m, MF_LOGIT0] + 2.0 * mkt_f[m, MF_MU] * mkt_f[m, MF_SIGNAL]
                        truth_prob[row, m] = 1.0 / (1.0 + math.exp(-logit))
        slot += 1
        st_i[S_NEXT_SLOT] = slot
    return STATUS_OK, n
