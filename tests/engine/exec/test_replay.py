"""The lake replay feed: whole slots in order, paced by slot, resumable from a slot; a replayed session has parity."""

from __future__ import annotations

import asyncio
import itertools
import time

import numpy as np

from engine.exec.paper import PaperConfig, PaperSession
from engine.exec.parity import parity
from engine.feeds.base import MAX_SPEED
from engine.feeds.replay import LakeReplayFeed
from engine.feeds.synthetic import SyntheticConfig
from engine.schema import Tape
from engine.sim import SimConfig
from engine.store.lake import Lake
from research.generate import generate_into_lake
from tests.engine.sim.scripted import SCRIPTED

SYN = SyntheticConfig(seed=4, days=0.01, n_tokens=2)


async def _all(feed: LakeReplayFeed) -> list[Tape]:
    return [t async for t in feed]


def test_replay_yields_the_lake_in_whole_slots_paced_and_from_a_slot(tmp_path) -> None:
    # Arrange
    lake = Lake(tmp_path)
    generate_into_lake(lake, SYN, progress=False)
    whole = lake.read_tape()
    # Act
    chunks = asyncio.run(_all(LakeReplayFeed(lake, speed=MAX_SPEED, max_chunk_slots=5, window_s=60)))
    mid = int(whole.slot[whole.n_events // 2])
    tail = Tape.concat(asyncio.run(_all(LakeReplayFeed(lake, speed=MAX_SPEED, start_slot=mid))), sort=False)
    t0 = time.perf_counter()
    fast = LakeReplayFeed(lake, speed=20_000.0, max_chunk_slots=1)
    asyncio.run(_all(fast))
    paced_s = time.perf_counter() - t0
    # Assert
    assert Tape.concat(chunks, sort=False).equals(whole)
    for a, b in itertools.pairwise(chunks):
        assert a.slot[-1] < b.slot[0]  # no slot is split across chunks
    assert all(np.unique(c.slot).size <= 5 for c in chunks)
    assert tail.equals(whole.slice(int(np.searchsorted(whole.slot, mid)), whole.n_events))
    span_s = (whole.slot[-1] - whole.slot[0]) * 0.4 / 20_000.0
    assert paced_s >= span_s * 0.9


def test_a_replayed_session_has_exact_parity_and_resumes_from_its_last_slot(tmp_path) -> None:
    # Arrange
    lake = Lake(tmp_path)
    generate_into_lake(lake, SYN, progress=False)
    spec = {"kind": "replay", "start_ts_ns": None, "stop_ts_ns": None, "speed": "max", "max_chunk_slots": 3}
    prm = SCRIPTED.params([{"at_event": 3, "every": 41, "pool0": 3, "amount_in_raw": 1e8}])
    paper = PaperConfig(flush_every_s=0.01, checkpoint_every_s=0.02)
    seen = []

    def stop(slot: int, n: int) -> None:
        seen.append(n)
        if len(seen) == 20:
            raise KeyboardInterrupt

    # Act
    first = PaperSession(lake, "rp", SCRIPTED, prm, cfg=SimConfig(seed=5), feed_spec=spec, paper=paper,
                         strategy_ref="tests.engine.sim.scripted:SCRIPTED").run(on_progress=stop)
    s = PaperSession(lake, "rp", SCRIPTED, prm, cfg=SimConfig(seed=5), feed_spec=spec, paper=paper,
                     strategy_ref="tests.engine.sim.scripted:SCRIPTED")
    second = s.run(resume=True)
    # Assert
    assert first.status == "stopped" and second.status == "completed"
    assert second.n_events == lake.read_tape().n_events
    assert s.journal.read_tape().equals(lake.read_tape())
    assert parity(s).differences == 0
