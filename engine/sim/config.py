"""How orders land and what they cost: `SimConfig`, checked when built, passed to kernels as a record."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from engine.errors import ConfigError
from engine.sim.records import Impact, LatencyKind

# Compute units a swap instruction uses, by pool kind (CPMM, CLMM, CURVE), from mainnet
# transactions of Raydium AMM v4 (~30-45 k), Orca Whirlpool (~60-120 k) and Pump.fun (~35-70 k).
DEFAULT_CU_PER_HOP = (45_000, 110_000, 70_000)

CFG_DT = np.dtype([
    ("seed", np.int64), ("impact", np.int8), ("latency_kind", np.int8),
    ("latency_slots_min", np.int64), ("latency_slots_max", np.int64), ("latency_ms_median", np.float64),
    ("latency_ms_sigma", np.float64), ("use_ms", np.int8),
    ("compete_prob", np.float64), ("compete_prob_per_lamport", np.float64),
    ("base_fee_lamports", np.float64), ("cu_per_hop", np.float64, (3,)), ("cu_overhead", np.float64),
    ("min_tip_lamports", np.float64), ("share_value", np.float64), ("init_cash", np.float64), ("cash_asset", np.int32),
    ("mark_every_slots", np.int64), ("equity_every_slots", np.int64), ("keep_fills", np.int8),
    ("external_fills", np.int8),
    ("row_base", np.int64),  # set by the runner: a shard of a grid keys its draws by global row ids
], align=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """The fill model and cost model of a run (everything but the strategy's own parameters).

    Parameters
    ----------
    seed : int
        Root of the counter-based RNG (latency and competition draws); journaled with a run.
    impact : {"none", "counterfactual"}
        Whether our swaps move the recorded pools (then later recorded swaps are re-applied
        by input amount on top of them).
    latency : {"fixed", "uniform", "lognormal"}
        How the decision-to-landing delay is drawn per order.
    latency_slots_min, latency_slots_max : int
        Inclusive slot range (``fixed`` uses ``min``). 0 lands before the next event.
    latency_ms_median, latency_ms_sigma : float
        Log-normal latency in milliseconds (``latency="lognormal"``), converted to a landing
        time; the order lands before the first event at or after it.
    compete_prob : float
        Probability in [0, 1] that a competitor lands first and the order fails (fees paid).
    compete_prob_per_lamport : float
        Added competition probability per lamport of expected profit (bigger gaps draw more
        bots); the sum is capped at 1.
    base_fee_lamports : float
        Fee per signature (Solana: 5,000 lamports).
    cu_per_hop : tuple of 3 floats
        Compute units of one swap instruction on CPMM, CLMM and curve pools; the CU limit of an
        order is ``cu_overhead`` plus one per hop, and the priority fee is
        ``ceil(limit * price_micro_lamports / 1e6)``.
    min_tip_lamports : float
        Smallest bundle tip accepted (Jito: 1,000); a tip is paid only when the bundle lands.
    share_value : float
        Cash units one winning prediction-market share pays.
    init_cash : float
        Starting cash of every row, in cash-asset base units (lamports for SOL).
    cash_asset : int
        Asset id of the cash (the SOL mint's registry id for on-chain runs).
    mark_every_slots : int
        How often equity is marked for drawdown and time-in-market (1 = every slot).
    equity_every_slots : int
        Sample interval of the stored equity curve; 0 stores none.
    fills : {"model", "external"}
        Who lands our orders. ``model``: the fill model above (backtests, paper). ``external``
        (live trading): an order stays pending until an ``OWN_FILL`` event with its order id
        reports what the venue did, and is booked exactly as reported (amounts, fee, tip; a
        failure pays its fee and moves nothing else); nothing is landed by latency or quotes,
        and a pending order cannot be cancelled (it may already be on its way). Kernel-fired
        stop and take exits on BAR instruments still fill at their level: bars have no live venue.
    """

    seed: int = 0
    impact: str = "none"
    latency: str = "fixed"
    latency_slots_min: int = 1
    latency_slots_max: int = 1
    latency_ms_median: float = 400.0
    latency_ms_sigma: float = 0.5
    compete_prob: float = 0.0
    compete_prob_per_lamport: float = 0.0
    base_fee_lamports: float = 5_000.0
    cu_per_hop: tuple[float, float, float] = DEFAULT_CU_PER_HOP
    cu_overhead: float = 10_000.0
    min_tip_lamports: float = 1_000.0
    share_value: float = 1.0
    init_cash: float = 100e9
    cash_asset: int = 0
    mark_every_slots: int = 1
    equity_every_slots: int = 0
    fills: str = "model"

    def __post_init__(self) -> None:
        if self.fills not in ("model", "external"):
            msg = f"fills must be 'model' or 'external' (a live venue reports them), was {self.fills!r}"
            raise ConfigError(msg)
        if self.impact not in ("none", "counterfactual"):
            msg = f"impact must be 'none' or 'counterfactual', was {self.impact!r}"
            raise ConfigError(msg)
        if self.latency not in ("fixed", "uniform", "lognormal"):
            msg = f"latency must be 'fixed', 'uniform' or 'lognormal', was {self.latency!r}"
            raise ConfigError(msg)
        if not 0 <= self.latency_slots_min <= self.latency_slots_max:
            msg = (f"latency slots need 0 <= min <= max, was min={self.latency_slots_min}, "
                   f"max={self.latency_slots_max}; for a fixed latency set both to one value")
            raise ConfigError(msg)
        for name in ("compete_prob",):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:  # NaN fails this test too
                msg = f"{name} must be in [0, 1], was {v!r}"
                raise ConfigError(msg)
        for name in ("compete_prob_per_lamport", "base_fee_lamports", "cu_overhead", "min_tip_lamports",
                     "share_value", "latency_ms_median", "latency_ms_sigma"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                msg = f"{name} must be a finite number >= 0, was {v!r}"
                raise ConfigError(msg)
        if not (math.isfinite(self.init_cash) and self.init_cash > 0):
            msg = f"init_cash must be > 0, was {self.init_cash!r}"
            raise ConfigError(msg)
        if len(self.cu_per_hop) != 3 or any(not c > 0 for c in self.cu_per_hop):
            msg = f"cu_per_hop needs 3 positive compute-unit counts (CPMM, CLMM, curve), was {self.cu_per_hop!r}"
            raise ConfigError(msg)
        if self.mark_every_slots < 1 or self.equity_every_slots < 0:
            msg = (f"mark_every_slots must be >= 1 and equity_every_slots >= 0, was {self.mark_every_slots} "
                   f"and {self.equity_every_slots}")
            raise ConfigError(msg)

    @classmethod
    def from_mapping(cls, raw: dict) -> SimConfig:
        """Build from a plain mapping (a TOML table, CLI pairs); unknown keys are refused."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - valid)
        if unknown:
            msg = f"unknown simulation settings {unknown}; valid ones are {sorted(valid)}"
            raise ConfigError(msg)
        return cls(**raw)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_record(self) -> np.ndarray:
        """Return the structured scalar the kernels read (no checks there)."""
        rec = np.zeros(1, dtype=CFG_DT)[0]  # a record scalar: Numba reads its fields as scalars
        rec["seed"] = self.seed
        rec["impact"] = Impact.COUNTERFACTUAL if self.impact == "counterfactual" else Impact.NONE
        rec["latency_kind"] = {"fixed": LatencyKind.FIXED, "uniform": LatencyKind.UNIFORM,
                               "lognormal": LatencyKind.LOGNORMAL}[self.latency]
        rec["use_ms"] = self.latency == "lognormal"
        for name in ("latency_slots_min", "latency_slots_max", "latency_ms_median", "latency_ms_sigma",
                     "compete_prob", "compete_prob_per_lamport", "base_fee_lamports", "cu_overhead",
                     "min_tip_lamports", "share_value", "init_cash", "cash_asset",
                     "mark_every_slots", "equity_every_slots"):
            rec[name] = getattr(self, name)
        rec["cu_per_hop"] = self.cu_per_hop
        rec["keep_fills"] = 1  # the runner clears it for sweeps that keep no fills (Capacity.max_fills=0)
        rec["external_fills"] = self.fills == "external"
        return rec
