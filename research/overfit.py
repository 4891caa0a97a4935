"""How much of a sweep's best row is luck: the deflated Sharpe ratio and the probability of backtest overfitting.

A sweep that tries N parameter rows will find one that looks good on noise alone. Two
measures from the literature say how much to discount it:

- Deflated Sharpe ratio (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014): the
  probability that the best row's true Sharpe ratio is above the Sharpe ratio the best of N
  skill-less trials would show, given the spread of the trials' Sharpe ratios, the track
  length and the best row's skewness and kurtosis.
- Probability of backtest overfitting (Bailey, Borwein, López de Prado & Zhu, "The
  Probability of Backtest Overfitting", 2015), estimated by combinatorially symmetric
  cross-validation (CSCV): cut the rows' return series into S equal blocks in time; for each
  of the C(S, S/2) ways to pick half the blocks as training data, take the row with the best
  training Sharpe ratio and see where it ranks on the other half. PBO is the share of splits
  where it ranks at or below the median.

Conventions: Sharpe ratios here are per period (not annualised): mean / standard deviation
(ddof=1) of simple returns, 0 for a flat series and +-inf for a non-zero constant one. A
period is a time bucket of the sampled equity curve (`research.analytics.bucket_equity`). The
number of trials is the number of rows; correlated rows make it an overstatement, so the
deflated Sharpe ratio errs on the side of caution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from statistics import NormalDist

import numpy as np
import polars as pl

from engine.errors import ConfigError
from research.analytics import bucket_equity

EULER_GAMMA = 0.5772156649015329
MAX_BLOCKS = 16  # C(16, 8) = 12,870 splits, the paper's choice
MIN_BLOCK_PERIODS = 4  # fewer returns per block make a block's Sharpe ratio mostly noise
SWEEP_PERIODS = 240  # equity samples a sweep keeps per row: 15 returns per block at S = 16
CSCV_CELLS = 2_000_000  # splits x rows evaluated at once (bounds memory to a few tens of MB)

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a selected row and what went into it (Sharpe ratios per period)."""

    dsr: float
    sharpe: float
    expected_max_sharpe: float
    sharpe_std: float
    n_trials: int
    n_periods: int
    skew: float
    kurtosis: float

    def to_dict(self) -> dict:
        return {f: _finite_or_none(getattr(self, f)) for f in self.__slots__}


@dataclass(frozen=True, slots=True)
class Pbo:
    """The probability of backtest overfitting and the logits of the out-of-sample ranks it counts."""

    pbo: float
    logits: np.ndarray
    n_blocks: int
    n_trials: int
    n_periods: int

    @property
    def n_splits(self) -> int:
        return int(self.logits.shape[0])

    def to_dict(self) -> dict:
        return {"pbo": self.pbo, "n_blocks": self.n_blocks, "n_splits": self.n_splits, "n_trials": self.n_trials,
                "n_periods": self.n_periods, "logit_median": float(np.median(self.logits))}


@dataclass(frozen=True, slots=True)
class OverfitReport:
    """DSR of a sweep's best row and the sweep's PBO, from per-row returns over ``every``-long periods."""

    best_row: int
    every: str
    deflated: DeflatedSharpe
    pbo: Pbo

    def to_dict(self) -> dict:
        return {"best_row": self.best_row, "every": self.every, "dsr": _finite_or_none(self.deflated.dsr),
                "pbo": self.pbo.pbo, "deflated_sharpe": self.deflated.to_dict(), "cscv": self.pbo.to_dict()}


def sharpe_ratios(returns: np.ndarray) -> np.ndarray:
    """Return the per-period Sharpe ratio of each column of a ``(periods, rows)`` matrix (module conventions)."""
    r = np.asarray(returns, dtype=np.float64)
    return _sharpe(r.mean(axis=0), r.var(axis=0, ddof=1), (r * r).mean(axis=0))


def _sharpe(mean: np.ndarray, var: np.ndarray, mean_sq: np.ndarray) -> np.ndarray:
    """mean / sqrt(var); a variance at the rounding error of the second moment (a constant series) counts as 0."""
    flat = var <= 1e-12 * mean_sq
    if not flat.any():
        return mean / np.sqrt(var)
    sr = mean / np.sqrt(np.where(flat, 1.0, var))
    sr[flat] = np.where(mean[flat] == 0.0, 0.0, np.copysign(np.inf, mean[flat]))
    return sr


def _sharpe_from_sums(total: np.ndarray, total_sq: np.ndarray, n: int) -> np.ndarray:
    """Sharpe ratios from sums of returns and of their squares over ``n`` periods."""
    mean = total / n
    var = total_sq - total * mean
    var /= n - 1
    return _sharpe(mean, var, total_sq / n)


def expected_max_sharpe(n_trials: int, sharpe_std: float) -> float:
    """Return the Sharpe ratio the best of ``n_trials`` skill-less trials is expected to show.

    ``sqrt(V) ((1 - g) Z^-1(1 - 1/N) + g Z^-1(1 - 1/(N e)))`` with ``g`` the Euler-Mascheroni
    constant and ``sqrt(V)`` the standard deviation of the trials' Sharpe ratios (per period);
    0 for a single trial.
    """
    if n_trials < 1:
        msg = f"the number of trials must be >= 1, was {n_trials}"
        raise ConfigError(msg)
    if n_trials == 1:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return sharpe_std * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe(sharpe: float, benchmark: float, n_periods: int, skew: float, kurtosis: float) -> float:
    """Return the probability that the true Sharpe ratio exceeds ``benchmark`` (per period; ``kurtosis`` not excess).

    ``Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``; NaN when the
    Sharpe ratio is not finite, or the skewness and kurtosis leave no positive variance.
    """
    if n_periods < 2:
        msg = f"a probabilistic Sharpe ratio needs at least 2 returns, was {n_periods}"
        raise ConfigError(msg)
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not (math.isfinite(sharpe) and math.isfinite(var)) or var <= 0.0:
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_periods - 1) / math.sqrt(var))


def deflated_sharpe(returns: np.ndarray, sharpe_std: float, n_trials: int) -> DeflatedSharpe:
    """Return the deflated Sharpe ratio of one row's per-period ``returns`` chosen among ``n_trials``.

    Parameters
    ----------
    returns : ndarray
        The selected row's simple returns, one per period.
    sharpe_std : float
        Standard deviation of the per-period Sharpe ratios of all trials (the selected one included).
    n_trials : int
        How many parameter rows were tried.
    """
    r = np.asarray(returns, dtype=np.float64)
    sr = float(sharpe_ratios(r[:, None])[0])
    skew, kurt = _moments(r)
    sr0 = expected_max_sharpe(n_trials, sharpe_std)
    return DeflatedSharpe(dsr=probabilistic_sharpe(sr, sr0, r.shape[0], skew, kurt), sharpe=sr,
                          expected_max_sharpe=sr0, sharpe_std=float(sharpe_std), n_trials=int(n_trials),
                          n_periods=int(r.shape[0]), skew=skew, kurtosis=kurt)


def _moments(r: np.ndarray) -> tuple[float, float]:
    """Skewness and (non-excess) kurtosis with population moments; a flat series is treated as normal."""
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if m2 <= 1e-12 * float(np.mean(r * r)):
        return 0.0, 3.0
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def default_blocks(n_periods: int) -> int:
    """The largest even block count up to `MAX_BLOCKS` that leaves `MIN_BLOCK_PERIODS` returns per block."""
    return min(MAX_BLOCKS, (n_periods // MIN_BLOCK_PERIODS) // 2 * 2)


def pbo_cscv(returns: np.ndarray, n_blocks: int | None = None) -> Pbo:
    """Estimate the probability of backtest overfitting by combinatorially symmetric cross-validation.

    Parameters
    ----------
    returns : ndarray
        ``(periods, rows)`` matrix of per-period returns, one column per parameter row.
    n_blocks : int, optional
        Even number S of equal blocks in time (default `default_blocks`). The earliest
        ``periods mod S`` returns are dropped so that blocks are equal.

    Returns
    -------
    Pbo
        ``pbo`` is the share of the C(S, S/2) splits whose in-sample best row (by Sharpe ratio;
        first row on ties) has an out-of-sample relative rank ``w = rank / (rows + 1)`` (ranks from
        1 = worst, ties averaged) at or below one half; ``logits`` holds ``ln(w / (1 - w))`` per split.
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        msg = f"PBO needs a (periods, rows) matrix with at least 2 rows, was shape {m.shape}"
        raise ConfigError(msg)
    t, n = m.shape
    s = default_blocks(t) if n_blocks is None else n_blocks
    if s < 2 or s % 2 or t // s < 2:
        msg = (f"PBO needs an even number of blocks >= 2 with at least 2 returns each, was {s} blocks for "
               f"{t} returns; Hint: sample the equity more often or run over a longer span")
        raise ConfigError(msg)
    if not np.isfinite(m).all():
        msg = "PBO needs finite returns; a row's equity reached 0 or was not sampled in some period"
        raise ConfigError(msg)
    size = t // s
    blocks = m[t - size * s:].reshape(s, size, n)
    block_sum = blocks.sum(axis=1)
    block_sq = (blocks * blocks).sum(axis=1)
    all_sum, all_sq = block_sum.sum(axis=0), block_sq.sum(axis=0)
    splits = _split_masks(s)
    logits = np.empty(splits.shape[0], dtype=np.float64)
    half = size * s // 2
    step = max(1, CSCV_CELLS // n)
    for lo in range(0, splits.shape[0], step):
        train = splits[lo:lo + step]
        in_sum, in_sq = train @ block_sum, train @ block_sq
        best = np.argmax(_sharpe_from_sums(in_sum, in_sq, half), axis=1)
        sr_out = _sharpe_from_sums(all_sum - in_sum, all_sq - in_sq, half)  # the test half: the other blocks
        chosen = sr_out[np.arange(best.shape[0]), best][:, None]
        rank = (sr_out < chosen).sum(axis=1) + ((sr_out == chosen).sum(axis=1) + 1) / 2.0
        w = rank / (n + 1.0)
        logits[lo:lo + step] = np.log(w / (1.0 - w))
    return Pbo(pbo=float(np.mean(logits <= 0.0)), logits=logits, n_blocks=s, n_trials=n, n_periods=size * s)


@cache
def _split_masks(n_blocks: int) -> np.ndarray:
    """One row per choice of half the blocks as training data: 1.0 for a training block, else 0.0."""
    masks = np.zeros((math.comb(n_blocks, n_blocks // 2), n_blocks), dtype=np.float64)
    for k, chosen in enumerate(combinations(range(n_blocks), n_blocks // 2)):
        masks[k, list(chosen)] = 1.0
    masks.flags.writeable = False
    return masks


def sweep_equity_every(n_slots: int) -> int:
    """Slots between a sweep's equity samples: about `SWEEP_PERIODS` per row, enough for CSCV, little memory."""
    return max(1, n_slots // SWEEP_PERIODS)


def period_returns(equity: pl.DataFrame, init_cash: pl.DataFrame | None = None, *,
                   n_periods: int = SWEEP_PERIODS) -> tuple[np.ndarray, np.ndarray, str]:
    """Return the rows, their ``(periods, rows)`` simple returns and the period length of a sampled equity curve.

    The span of the samples is cut into about ``n_periods`` equal time buckets
    (`research.analytics.bucket_equity`); with ``init_cash`` (``row``, ``init_cash``) the first
    return is measured from the starting cash.
    """
    if equity.is_empty():
        msg = "no equity curve was sampled, so there are no per-period returns; run with equity sampling on"
        raise ConfigError(msg)
    every = _period(int(equity["ts_ns"].max()) - int(equity["ts_ns"].min()), n_periods)
    buckets = bucket_equity(equity, every)
    rows, col = np.unique(buckets["row"].to_numpy(), return_inverse=True)
    times, at = np.unique(buckets["ts_ns"].to_numpy(), return_inverse=True)
    levels = np.full((times.size, rows.size), np.nan)
    levels[at, col] = buckets["equity"].to_numpy()
    seen = np.where(np.isnan(levels), 0, np.arange(times.size)[:, None])
    levels = levels[np.maximum.accumulate(seen, axis=0), np.arange(rows.size)]  # forward-fill a row's gaps
    levels = levels[~np.isnan(levels).any(axis=1)]  # from the first bucket every row has reached
    rows = rows.astype(np.int64)
    if init_cash is not None:
        start = dict(init_cash.select("row", "init_cash").iter_rows())
        levels = np.vstack([np.array([float(start[int(r)]) for r in rows]), levels])
    prev = levels[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(prev > 0.0, levels[1:] / prev - 1.0, 0.0)  # nothing left to lose after equity hits 0
    return rows, returns, every


def sweep_overfit(summary: pl.DataFrame, equity: pl.DataFrame, best_row: int, *,
                  n_periods: int = SWEEP_PERIODS) -> OverfitReport:
    """Return the deflated Sharpe ratio of ``best_row`` and the PBO of a sweep from its sampled equity.

    Parameters
    ----------
    summary : pl.DataFrame
        The sweep's summary (``row``, ``init_cash``); every row is a trial.
    equity : pl.DataFrame
        ``row``, ``slot``, ``ts_ns``, ``equity`` samples of every row.
    best_row : int
        The row the sweep selected (its top-ranked row).
    n_periods : int
        About how many periods to cut the span into.
    """
    rows, returns, every = period_returns(equity, summary.select("row", "init_cash"), n_periods=n_periods)
    if best_row not in set(rows.tolist()):
        msg = f"row {best_row} has no equity samples; the sweep's equity frame covers rows {rows[:5].tolist()}..."
        raise ConfigError(msg)
    srs = sharpe_ratios(returns)
    finite = srs[np.isfinite(srs)]
    sr_std = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
    column = int(np.flatnonzero(rows == best_row)[0])
    return OverfitReport(best_row=int(best_row), every=every,
                         deflated=deflated_sharpe(returns[:, column], sr_std, int(summary.height)),
                         pbo=pbo_cscv(returns))


def sweep_overfit_doc(summary: pl.DataFrame, equity: pl.DataFrame, best_row: int) -> dict:
    """The JSON of `sweep_overfit` (``dsr``, ``pbo`` ...), or ``dsr`` and ``pbo`` null with the ``reason``."""
    try:
        return sweep_overfit(summary, equity, best_row).to_dict()
    except ConfigError as e:
        return {"best_row": best_row, "dsr": None, "pbo": None, "reason": str(e)}


def overfit_line(doc: dict) -> str:
    """One line for people: the deflated Sharpe ratio of the best row and the PBO (from `sweep_overfit_doc`)."""
    if doc.get("reason"):
        return f"overfitting controls not computed: {doc['reason']}"
    d, c = doc["deflated_sharpe"], doc["cscv"]

    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (f"best row {doc['best_row']}: deflated Sharpe ratio {num(doc['dsr'])} (Sharpe {num(d['sharpe'])} per "
            f"{doc['every']} vs {num(d['expected_max_sharpe'])} expected from the best of {d['n_trials']:,} lucky "
            f"trials); probability of backtest overfitting {doc['pbo']:.2f} (CSCV, {c['n_splits']:,} splits)")


def _period(span_ns: int, n_periods: int) -> str:
    """A bucket length that cuts ``span_ns`` into about ``n_periods`` (``"35m51s"``; whole seconds from 1 s on)."""
    step_ns = max(1, -(-span_ns // n_periods))
    if step_ns < 10**9:
        return f"{step_ns}ns"
    left, parts = -(-step_ns // 10**9), []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)


def _finite_or_none(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v
