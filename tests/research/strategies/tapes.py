"""Hand-made markets and tapes for the strategy tests: every number on them is chosen."""

from __future__ import annotations

import numpy as np

from engine.layout import EventKind, PoolKind
from engine.schema import Tape
from engine.sim.market import Market

SOL = 0


def market(pools: list[tuple[int, int, int, float, float]], *, n_mints: int, sell_blocked: tuple[int, ...] = (),
           transfer_fee_bps: dict[int, float] | None = None, n_markets: int = 0) -> Market:
    """pools: (kind, base asset, quote asset, fee_num, fee_den) per pool id; SOL (0) is cash."""
    kind, base, quote, fnum, fden = zip(*pools, strict=True) if pools else ((), (), (), (), ())
    n_assets = n_mints + 2 * n_markets
    blocked = np.zeros(n_assets, dtype=np.bool_)
    blocked[list(sell_blocked)] = True
    tfee = np.zeros(n_assets)
    for a, bps in (transfer_fee_bps or {}).items():
        tfee[a] = bps
    return Market(pool_kind=np.array(kind, np.int8), fee_num=np.array(fnum, float), fee_den=np.array(fden, float),
                  pool_base=np.array(base, np.int32), pool_quote=np.array(quote, np.int32), n_mints=n_mints,
                  cash_asset=SOL, n_markets=n_markets, sell_blocked=blocked, transfer_fee_bps=tfee)


def tape(events: list[tuple], first_slot: int = 1_000) -> Tape:
    """events: (slot offset, kind, pool, wallet, mint, side, flags, vals tuple), in tape order."""
    slot = np.array([first_slot + e[0] for e in events], dtype=np.int64)
    seq = np.zeros(len(events), dtype=np.int32)
    for k in range(1, len(events)):
        seq[k] = seq[k - 1] + 1 if slot[k] == slot[k - 1] else 0
    vals = np.zeros((len(events), 5))
    for k, e in enumerate(events):
        vals[k, : len(e[7])] = e[7]
    return Tape.from_columns(slot=slot, seq=seq, ts_ns=slot * 400_000_000, kind=[e[1] for e in events],
                             pool_id=[e[2] for e in events], wallet_id=[e[3] for e in events],
                             mint_id=[e[4] for e in events], side=[e[5] for e in events],
                             flags=[e[6] for e in events], vals=vals)


def state(dt: int, pool: int, reserve_base: float, reserve_quote: float) -> tuple:
    return (dt, EventKind.POOL_STATE, pool, -1, -1, PoolKind.CPMM, 0, (reserve_base, reserve_quote))


def swap(dt: int, pool: int, wallet: int, mint: int, side: int, amount_in: float, amount_out: float) -> tuple:
    return (dt, EventKind.SWAP, pool, wallet, mint, side, 0, (amount_in, amount_out))
