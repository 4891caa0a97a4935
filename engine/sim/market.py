"""The static description of a market a run trades in: pools, tokens, instruments, markets.

A `Market` says which tokens each pool trades and at what fee, how tokens are marked, and
which cannot be sold. It is built from registries (the lake's, or the synthetic market's)
or by hand in tests; `static()` and `initial_dyn()` give the kernel's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from engine.amm.state import (
    COL_BASE_IS_A,
    COL_FEE_DEN,
    COL_FEE_NUM,
    COL_KIND,
    COL_TICK_COUNT,
    COL_TICK_START,
    N_STATE_COLS,
)
from engine.errors import ConfigError
from engine.layout import PoolKind
from engine.sim.market_nb import MarketDyn, MarketStatic, new_dyn

SOL_MINT = "So11111111111111111111111111111111111111112"


@dataclass(frozen=True, slots=True, eq=False)
class Market:
    """Pools and assets of a run. Arrays are indexed by pool id or asset id.

    Parameters
    ----------
    pool_kind, fee_num, fee_den, pool_base, pool_quote : ndarray [n_pools]
        Pool kind (`PoolKind`), fee as ``fee_num / fee_den`` (for curves, bps / 10,000),
        and the asset ids of each pool's base and quote token.
    n_mints : int
        Token asset ids are ``[0, n_mints)``; instruments and outcomes follow.
    cash_asset : int
        The asset a run keeps its cash in (SOL's id for on-chain runs).
    mark_pool : ndarray [n_assets]
        Pool that prices each token (-1: none); chosen quoted in cash where possible.
    sell_blocked : ndarray [n_assets]
        Tokens that cannot be sold (honeypots).
    transfer_fee_bps : ndarray [n_assets]
        Token-2022 transfer fee taken from every transfer of the token.
    base_is_a : ndarray [n_pools]
        For CLMM pools, whether the base token is the pool's token A.
    tick_index, tick_liq_net, tick_start, tick_count
        CLMM tick table (`engine.amm.state`).
    """

    pool_kind: np.ndarray
    fee_num: np.ndarray
    fee_den: np.ndarray
    pool_base: np.ndarray
    pool_quote: np.ndarray
    n_mints: int
    cash_asset: int = 0
    n_instruments: int = 0
    n_markets: int = 0
    mark_pool: np.ndarray | None = None
    sell_blocked: np.ndarray | None = None
    transfer_fee_bps: np.ndarray | None = None
    base_is_a: np.ndarray | None = None
    tick_index: np.ndarray | None = None
    tick_liq_net: np.ndarray | None = None
    tick_start: np.ndarray | None = None
    tick_count: np.ndarray | None = None

    @property
    def n_pools(self) -> int:
        return int(self.pool_kind.shape[0])

    @property
    def n_assets(self) -> int:
        return self.n_mints + self.n_instruments + 2 * self.n_markets

    @classmethod
    def from_registries(cls, pools: pl.DataFrame, tokens: pl.DataFrame, *, n_instruments: int = 0,
                        n_markets: int = 0, honeypots: list[int] | None = None, cash_mint: str = SOL_MINT) -> Market:
        """Build from registry frames (``pool_id`` and ``token_id`` dense from 0).

        ``pools`` needs ``pool_kind``, ``base_mint_id``, ``quote_mint_id``, ``fee_num``,
        ``fee_den``; ``tokens`` needs ``mint`` and may have ``transfer_fee_bps`` and
        ``sell_blocked`` (a sell of the token fails on chain, as a honeypot's does).
        ``honeypots`` adds token ids whose sells fail.
        """
        pools = pools.sort("pool_id")
        tokens = tokens.sort("token_id")
        if pools.height and pools["pool_id"].to_list() != list(range(pools.height)):
            msg = "pool ids must be dense from 0 (registry order); re-read the pools registry"
            raise ConfigError(msg)
        unknown = pools.filter(pl.col("pool_kind").is_null() | pl.col("fee_num").is_null() | pl.col("fee_den").is_null()
                               | pl.col("fee_num").is_nan() | pl.col("fee_den").is_nan())["pool_id"]
        if unknown.len():
            msg = (f"{unknown.len()} pool(s) have no pool kind or fee in the registry (first ids: "
                   f"{unknown.head(5).to_list()}): the market would price them wrongly. Hint: pools seen only in "
                   "parsed transactions carry neither; land their accounts with `shoal ingest pool ADDRESS`, or "
                   "fill pool_kind/fee_num/fee_den before building the Market")
            raise ConfigError(msg)
        cash = tokens.filter(pl.col("mint") == cash_mint)["token_id"]
        if cash.len() != 1:
            msg = f"the cash mint {cash_mint} is not in the tokens registry; add it or pass cash_mint"
            raise ConfigError(msg)
        n_mints = tokens.height
        fee_bps = (tokens["transfer_fee_bps"].fill_null(0).to_numpy().astype(np.float64)
                   if "transfer_fee_bps" in tokens.columns else np.zeros(n_mints))
        n_assets = n_mints + n_instruments + 2 * n_markets
        blocked = np.zeros(n_assets, dtype=np.bool_)
        if "sell_blocked" in tokens.columns:
            blocked[:n_mints] = tokens["sell_blocked"].fill_null(False).to_numpy()
        if honeypots:
            blocked[np.asarray(honeypots, dtype=np.int64)] = True
        tfee = np.zeros(n_assets)
        tfee[:n_mints] = fee_bps
        return cls(pool_kind=pools["pool_kind"].to_numpy().astype(np.int8),
                   fee_num=pools["fee_num"].to_numpy().astype(np.float64),
                   fee_den=pools["fee_den"].to_numpy().astype(np.float64),
                   pool_base=pools["base_mint_id"].to_numpy().astype(np.int32),
                   pool_quote=pools["quote_mint_id"].to_numpy().astype(np.int32),
                   n_mints=n_mints, cash_asset=int(cash[0]), n_instruments=n_instruments, n_markets=n_markets,
                   sell_blocked=blocked, transfer_fee_bps=tfee)

    @classmethod
    def for_bars(cls, n_instruments: int) -> Market:
        """A market of BAR instruments only, with cash as asset 0."""
        empty_i = np.zeros(0, dtype=np.int32)
        return cls(pool_kind=np.zeros(0, dtype=np.int8), fee_num=np.zeros(0), fee_den=np.zeros(0),
                   pool_base=empty_i, pool_quote=empty_i, n_mints=1, cash_asset=0, n_instruments=n_instruments)

    def resolved_mark_pool(self) -> np.ndarray:
        """Return ``mark_pool``, or choose one per token: a pool quoted in cash, else in anything."""
        if self.mark_pool is not None:
            return np.asarray(self.mark_pool, dtype=np.int32)
        mark = np.full(self.n_assets, -1, dtype=np.int32)
        for want_cash in (True, False):
            for p in range(self.n_pools):
                base, quote = int(self.pool_base[p]), int(self.pool_quote[p])
                if mark[base] < 0 and (quote == self.cash_asset or not want_cash):
                    mark[base] = p
                if mark[quote] < 0 and quote != self.cash_asset and (base == self.cash_asset or not want_cash):
                    mark[quote] = p
        return mark

    def static(self) -> MarketStatic:
        n_assets = self.n_assets
        zeros_b = np.zeros(n_assets, dtype=np.bool_)
        return MarketStatic(
            pool_base=np.ascontiguousarray(self.pool_base, dtype=np.int32),
            pool_quote=np.ascontiguousarray(self.pool_quote, dtype=np.int32),
            tick_index=np.ascontiguousarray(self.tick_index if self.tick_index is not None else [], dtype=np.int32),
            tick_liq_net=np.ascontiguousarray(self.tick_liq_net if self.tick_liq_net is not None else [],
                                              dtype=np.float64),
            mark_pool=self.resolved_mark_pool(),
            sell_blocked=np.ascontiguousarray(self.sell_blocked if self.sell_blocked is not None else zeros_b,
                                              dtype=np.bool_),
            transfer_fee_bps=np.ascontiguousarray(
                self.transfer_fee_bps if self.transfer_fee_bps is not None else np.zeros(n_assets), dtype=np.float64),
            n_mints=np.int64(self.n_mints), n_instruments=np.int64(self.n_instruments),
            n_markets=np.int64(self.n_markets))

    def initial_dyn(self) -> MarketDyn:
        """Return the market before any event: pool kinds and fees set, reserves and prices unknown."""
        dyn = new_dyn(self.n_pools, N_STATE_COLS, self.n_instruments, self.n_markets)
        st = dyn.states
        st[:, COL_KIND] = self.pool_kind
        st[:, COL_FEE_NUM] = self.fee_num
        st[:, COL_FEE_DEN] = self.fee_den
        st[:, COL_BASE_IS_A] = 1.0 if self.base_is_a is None else np.asarray(self.base_is_a, dtype=np.float64)
        if self.tick_start is not None:
            st[:, COL_TICK_START] = self.tick_start
            st[:, COL_TICK_COUNT] = self.tick_count
        if np.any((self.pool_kind == PoolKind.CURVE) & (self.fee_den <= 0)):
            msg = "bonding-curve pools need fee_den > 0 (fee in bps / 10,000)"
            raise ConfigError(msg)
        return dyn
