"""`shoal generate`: run the synthetic market and land it in the lake, chunk by chunk."""

from __future__ import annotations

from collections import Counter

import polars as pl
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine.feeds.synthetic import SyntheticConfig, SyntheticMarket
from engine.layout import SLOT_NS
from engine.store.catalog import opened, refresh_views
from engine.store.lake import Lake
from engine.store.landing import Registries, land, sync_registries

CHUNK_SLOTS = 27_000  # 3 hours of 400 ms slots: a few files per table per day, bounded memory


def generate_into_lake(lake: Lake, cfg: SyntheticConfig, *, progress: bool = True) -> dict:
    """Generate ``cfg``'s market into ``lake``; return what was written (the CLI's JSON document)."""
    market = SyntheticMarket(cfg)
    total_slots = cfg.n_slots
    source = f"synthetic:seed={cfg.seed}"
    written: Counter = Counter()
    present: Counter = Counter()
    quarantined: Counter = Counter()
    n_events = 0
    reports: dict = {}
    with opened(lake) as con:
        with Progress(TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(), TextColumn("slots"),
                      TimeRemainingColumn(), disable=not progress, transient=True) as bar:
            task = bar.add_task("slots", total=total_slots)
            done = 0
            while done < total_slots:
                step = min(CHUNK_SLOTS, total_slots - done)
                tape = market.next_chunk(step)
                # launches add tokens and pools as the market runs: sync before landing each chunk
                regs = Registries(tokens=tokens_with_facts(market), pools=market.pools, wallets=market.wallets,
                                  markets=market.markets)
                maps, synced = sync_registries(con, regs, now_ns=cfg.start_ts_ns + done * SLOT_NS)
                for name, r in synced.items():
                    _add_sync(reports, name, r.to_dict())
                report = land(lake, con, tape, source=source, maps=maps)
                n_events += tape.n_events
                written.update(report.written)
                present.update(report.already_present)
                quarantined.update(report.quarantined)
                done += step
                bar.update(task, completed=done)
        refresh_views(con, lake)
    tables = {name: {"written": written[name], "already_present": present[name]}
              for name in sorted(set(written) | set(present))}
    return {
        "lake": lake.url, "seed": cfg.seed, "days": cfg.days, "tokens": cfg.n_tokens,
        "slots": total_slots, "first_ts_ns": cfg.start_ts_ns, "last_ts_ns": cfg.start_ts_ns + total_slots * SLOT_NS,
        "events": n_events, "tables": tables, "quarantined": dict(quarantined),
        "registries": reports,
    }


def tokens_with_facts(market: SyntheticMarket) -> pl.DataFrame:
    """The token registry plus what the chain would enforce: a honeypot with its freeze
    authority kept cannot be sold (its transfer-fee kind is enforced by its fee)."""
    truth = market.truth.tokens.select("token_id", "honeypot")
    tokens = market.tokens.join(truth, on="token_id", how="left")
    return tokens.with_columns(
        (pl.col("honeypot").fill_null(False) & pl.col("freeze_authority")).alias("sell_blocked")).drop("honeypot")


def _add_sync(totals: dict, name: str, report: dict) -> None:
    """Accumulate per-chunk registry syncs: new and changed add up; total is the market's latest size."""
    t = totals.setdefault(name, {"new": 0, "changed": 0, "total": 0})
    t["new"] += report["new"]
    t["changed"] += report["changed"]
    t["total"] = report["new"] + report["changed"] + report["unchanged"]
