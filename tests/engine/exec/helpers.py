"""A small synthetic market and a trading scripted strategy, shared by the executor tests."""

from __future__ import annotations

import socket
from dataclasses import asdict

import numpy as np

from engine.exec.paper import PaperConfig, PaperSession
from engine.feeds.synthetic import SyntheticConfig
from engine.feeds.synthetic_live import synthetic_market
from engine.layout import Side
from engine.sim import SimConfig
from engine.store.lake import Lake
from tests.engine.sim.scripted import SCRIPTED

SCRIPTED_REF = "tests.engine.sim.scripted:SCRIPTED"
SYN = SyntheticConfig(seed=3, days=0.02, n_tokens=3)
MARKET, GEN = synthetic_market(SYN)
_pools = GEN.pools
TOKEN_POOL = int(_pools.filter((_pools["quote_mint_id"] == 0) & (_pools["base_mint_id"] >= 2))["pool_id"][0])
PARAM_ROWS = [{"at_event": 5, "every": 37, "pool0": TOKEN_POOL, "side0": int(Side.BUY), "amount_in_raw": 2e8,
               "cu_price": 5e3, "tip": 2e3, "sell_at": 1_500}]
CFG = SimConfig(seed=11, impact="counterfactual", latency="uniform", latency_slots_min=0, latency_slots_max=3,
                compete_prob=0.3)
SCRIPTED_ARGS = ["-p", f"pool0={TOKEN_POOL}", "-p", "at_event=5", "-p", "every=37", "-p", "amount_in_raw=2e8",
                 "-p", "cu_price=5000", "-p", "tip=2000", "-p", "sell_at=1500", "--sim", "latency=uniform",
                 "--sim", "latency_slots_min=0", "--sim", "latency_slots_max=3", "--sim", "compete_prob=0.3",
                 "--seed", "11"]


def params() -> np.ndarray:
    return SCRIPTED.params(PARAM_ROWS)


def spec(syn: SyntheticConfig = SYN, speed: float | str = "max", max_chunk_slots: int = 150) -> dict:
    return {"kind": "synthetic", "synthetic": asdict(syn), "speed": speed, "max_chunk_slots": max_chunk_slots}


def session(root, run_id: str, *, syn: SyntheticConfig = SYN, speed: float | str = "max", max_chunk_slots: int = 150,
            paper: PaperConfig | None = None) -> PaperSession:
    market = MARKET if syn == SYN else None
    return PaperSession(Lake(root), run_id, SCRIPTED, params(), cfg=CFG, feed_spec=spec(syn, speed, max_chunk_slots),
                        paper=paper or PaperConfig(flush_every_s=0.05, checkpoint_every_s=0.2),
                        strategy_ref=SCRIPTED_REF, market=market)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
