"""What a strategy is to the engine: a params dtype plus @njit callbacks in one module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.errors import ConfigError
from engine.sim.market import Market


@dataclass(frozen=True, slots=True)
class Strategy:
    """A strategy the kernel can run.

    Parameters
    ----------
    name : str
        Name on the command line and in journals.
    module : str
        Dotted module defining ``on_event_nb(tp, i, p, ctx)`` and, when ``has_on_fill``,
        ``on_fill_nb(tp, i, p, ctx, fill_index)``; the loop is specialised to it.
    params_dtype : numpy.dtype
        One structured row per parameter set.
    defaults : dict
        Default value of every field of ``params_dtype``.
    state_size : callable
        ``(params, market) -> (n_float, n_int)``: per-row scratch state the callbacks keep.
    init_state : callable, optional
        ``(params, market, sf, si) -> None``: fill the state before the first event.
    events : tuple of EventKind, optional
        Kinds of events the strategy acts on; the loop calls it for no others (None: all).
    prepare : callable, optional
        ``(tape, market, params) -> ndarray``: a float64 2-d table computed once per run and
        shared by all rows as ``ctx.aux`` (a cycle index, cumulative sums of closes ...).
    """

    name: str
    module: str
    params_dtype: np.dtype
    defaults: dict
    has_on_fill: bool = False
    state_size: Callable[[np.ndarray, Market], tuple[int, int]] = field(default=lambda params, market: (0, 0))
    init_state: Callable[[np.ndarray, Market, np.ndarray, np.ndarray], None] | None = None
    events: tuple[int, ...] | None = None
    prepare: Callable[..., np.ndarray] | None = None

    def params(self, rows: list[dict] | None = None, **grid: list) -> np.ndarray:
        """Return a params array: one row per dict in ``rows``, or the product of ``grid`` lists.

        Unknown names are refused with the valid ones listed; missing ones take defaults.
        """
        names = set(self.params_dtype.names)
        if rows is None:
            import itertools

            keys = list(grid)
            rows = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())] or [{}]
        out = np.zeros(len(rows), dtype=self.params_dtype)
        for k, v in self.defaults.items():
            out[k] = v
        for r, row in enumerate(rows):
            unknown = sorted(set(row) - names)
            if unknown:
                msg = f"unknown parameters {unknown} for strategy {self.name!r}; valid ones are {sorted(names)}"
                raise ConfigError(msg)
            for k, v in row.items():
                shape = self.params_dtype[k].shape
                if shape and isinstance(v, list | tuple) and len(v) < shape[0]:  # pad a short list of ids
                    v = [*v, *([self.defaults.get(k, -1)] * (shape[0] - len(v)))]
                out[r][k] = v
        return out
