"""Hand-made markets and tapes for kernel tests: every number on them is chosen, not generated."""

from __future__ import annotations

import numpy as np

from engine.layout import EventKind, PoolKind
from engine.schema import Tape
from engine.sim.market import Market

SOL, TOKEN, USDC, JUNK = 0, 1, 2, 3  # asset ids


def market(pools: list[tuple[int, int, int, float, float]], *, n_mints: int = 4,
           sell_blocked: tuple[int, ...] = ()) -> Market:
    """pools: (kind, base asset, quote asset, fee_num, fee_den) per pool id."""
    kind, base, quote, fnum, fden = zip(*pools, strict=True)
    blocked = np.zeros(n_mints, dtype=np.bool_)
    blocked[list(sell_blocked)] = True
    return Market(pool_kind=np.array(kind, np.int8), fee_num=np.array(fnum, float), fee_den=np.array(fden, float),
                  pool_base=np.array(base, np.int32), pool_quote=np.array(quote, np.int32), n_mints=n_mints,
                  cash_asset=SOL, sell_blocked=blocked)


def states(rows: list[tuple[int, int, float, float]], *, swaps: list[tuple[int, int, int, float, float]] = (),
           first_slot: int = 1_000) -> Tape:
    """rows: (slot offset, pool, reserve_base, reserve_quote) POOL_STATE events (CPMM);
    swaps: (slot offset, pool, side, amount_in, amount_out) recorded SWAP events."""
    ev = [(s, 1, EventKind.POOL_STATE, p, -1, PoolKind.CPMM, (rb, rq, 0.0, 0.0, 0.0)) for s, p, rb, rq in rows]
    ev += [(s, 0, EventKind.SWAP, p, 9, side, (a_in, a_out, 0.0, 0.0, 0.0)) for s, p, side, a_in, a_out in swaps]
    ev.sort(key=lambda e: (e[0], e[1]))
    slot = np.array([first_slot + e[0] for e in ev])
    seq = np.zeros(len(ev), dtype=np.int32)
    for k in range(1, len(ev)):
        seq[k] = seq[k - 1] + 1 if slot[k] == slot[k - 1] else 0
    return Tape.from_columns(slot=slot, seq=seq, ts_ns=slot * 400_000_000, kind=[e[2] for e in ev],
                             pool_id=[e[3] for e in ev], wallet_id=[e[4] for e in ev], mint_id=np.full(len(ev), 1),
                             side=[e[5] for e in ev], vals=np.array([e[6] for e in ev], dtype=float))
