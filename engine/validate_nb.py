"""One fused pass over a tape that names the first problem of each row (see `engine.schema.Reason`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.layout import (
    BAR_CLOSE,
    BAR_HIGH,
    BAR_LOW,
    BAR_OPEN,
    BAR_VOLUME,
    FILL_ORDER_ID,
    FILL_TIP_LAMPORTS,
    N_VALS,
    EventKind,
    PoolKind,
)

# Reason codes, mirrored from engine.schema.Reason (a test checks they agree).
OK, NOT_FINITE, NEGATIVE_RESERVE, NEGATIVE_AMOUNT, UNKNOWN_ID, OUT_OF_ORDER, DUPLICATE_KEY, BAD_BAR, \
    UNKNOWN_KIND, MALFORMED, TOO_LARGE = range(11)

_N_KINDS = 8
_I64_LIMIT = 9.223372036854775808e18  # 2**63


@njit(cache=True)
def validate_rows_nb(slot, seq, kind, pool_id, wallet_id, mint_id, side, vals, n_pools, n_wallets, n_mints,
                     n_markets, int_cols_by_kind, reason):
    """Write one reason code per row into ``reason``; return the number of bad rows.

    ``n_pools``/``n_wallets``/``n_mints``/``n_markets`` are registry sizes, or -1 for "not checked"
    (BAR instrument ids have no registry and are not checked against one).
    ``int_cols_by_kind[k, j]`` is True when value ``j`` of kind ``k`` is stored as an int64.
    """
    n = slot.shape[0]
    n_bad = 0
    for i in range(n):
        r = OK
        k = kind[i]
        v = vals[i]
        if k < 0 or k >= _N_KINDS:
            r = UNKNOWN_KIND
        if r == OK:
            for j in range(N_VALS):
                if not np.isfinite(v[j]):
                    r = NOT_FINITE
                    break
        if r == OK:
            if k == EventKind.POOL_STATE:
                if side[i] == PoolKind.CLMM:
                    if v[0] < 0.0 or v[1] <= 0.0:
                        r = NEGATIVE_RESERVE
                elif v[0] < 0.0 or v[1] < 0.0 or v[2] < 0.0 or v[3] < 0.0:
                    r = NEGATIVE_RESERVE
            elif k == EventKind.NEW_POOL:
                if v[0] < 0.0 or v[1] < 0.0:
                    r = NEGATIVE_RESERVE
            elif k == EventKind.SWAP or k == EventKind.OWN_FILL or k == EventKind.OUTCOME_TRADE:
                if v[0] < 0.0 or v[1] < 0.0 or v[2] < 0.0:
                    r = NEGATIVE_AMOUNT
                elif k == EventKind.OWN_FILL:
                    if v[FILL_TIP_LAMPORTS] < 0.0:
                        r = NEGATIVE_AMOUNT
                    elif v[FILL_ORDER_ID] < 0.0 or v[FILL_ORDER_ID] != np.floor(v[FILL_ORDER_ID]):
                        r = UNKNOWN_ID  # the order it settles: an id is a whole number >= 0
            elif k == EventKind.BAR:
                lo = v[BAR_LOW]
                hi = v[BAR_HIGH]
                if (hi < lo or v[BAR_OPEN] < lo or v[BAR_OPEN] > hi or v[BAR_CLOSE] < lo or v[BAR_CLOSE] > hi
                        or v[BAR_VOLUME] < 0.0):
                    r = BAD_BAR
        if r == OK and _unknown_id(k, pool_id[i], wallet_id[i], mint_id[i], n_pools, n_wallets, n_mints, n_markets):
            r = UNKNOWN_ID
        if r == OK and i > 0:
            if slot[i] < slot[i - 1] or (slot[i] == slot[i - 1] and seq[i] < seq[i - 1]):
                r = OUT_OF_ORDER
            elif slot[i] == slot[i - 1] and seq[i] == seq[i - 1]:
                r = DUPLICATE_KEY
        if r == OK:
            for j in range(N_VALS):
                if int_cols_by_kind[k, j] and abs(v[j]) >= _I64_LIMIT:
                    r = TOO_LARGE
                    break
        reason[i] = r
        if r != OK:
            n_bad += 1
    return n_bad


@njit(cache=True)
def _unknown_id(k, pool, wallet, mint, n_pools, n_wallets, n_mints, n_markets):
    if pool < -1 or wallet < -1 or mint < -1:
        return True
    if k != EventKind.OWN_FILL and pool < 0:  # every other kind names its pool, instrument or market
        return True
    if (k == EventKind.SWAP or k == EventKind.OUTCOME_TRADE) and wallet < 0:
        return True
    is_market = k == EventKind.OUTCOME_TRADE or k == EventKind.RESOLUTION
    if n_pools >= 0 and k != EventKind.BAR and not is_market and pool >= n_pools:
        return True
    if n_markets >= 0 and is_market and pool >= n_markets:
        return True
    if n_wallets >= 0 and wallet >= n_wallets:
        return True
    return n_mints >= 0 and k != EventKind.OUTCOME_TRADE and k != EventKind.BAR and mint >= n_mints
