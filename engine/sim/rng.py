"""Counter-based randomness: every draw is a pure function of (seed, row, order id, draw kind).

No state is carried, so chunk boundaries, `prange` threads and replay order cannot change a
draw (the idea of numpy's Philox: a counter encrypted under a key). Each key word is mixed in
on its own, never added to the seed (numpy's parallel-RNG guide).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
DRAW_LATENCY = 0  # one index per kind of draw: add new ones, never renumber
DRAW_COMPETE = 1
DRAW_LATENCY_2 = 2  # second uniform of a log-normal latency (Box-Muller)


@njit(cache=True)
def mix64_nb(z: np.uint64) -> np.uint64:
    """Scramble 64 bits (the splitmix64 finaliser, a bijection on uint64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def uniform_nb(seed: int, row: int, order_id: int, draw: int) -> float:
    """Return a float in [0, 1) that depends only on its four keys."""
    h = mix64_nb(np.uint64(seed) + _GOLDEN)
    h = mix64_nb(h ^ np.uint64(row))
    h = mix64_nb(h ^ np.uint64(order_id))
    h = mix64_nb(h ^ np.uint64(draw))
    return (h >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # top 53 bits / 2**53


@njit(cache=True)
def normal_nb(seed: int, row: int, order_id: int, draw_a: int, draw_b: int) -> float:
    """Return a standard normal draw (Box-Muller on two keyed uniforms)."""
    u1 = 1.0 - uniform_nb(seed, row, order_id, draw_a)  # in (0, 1]
    u2 = uniform_nb(seed, row, order_id, draw_b)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
