"""Prometheus metrics of a live session: the paper session's kernel metrics plus the venue's.

The kernel side (events, decision latency, orders decided, feed lag) is `PaperMetrics`, so one
dashboard serves paper and live. The venue side is read from the venue's `GuardMetrics` at
scrape time: every guard decision by guard and outcome, every order outcome and RPC event, plus
whether trading is halted or the kill switch engaged, and the intent-to-signed latency.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from engine.exec.live.guards import GuardMetrics
from engine.exec.metrics import PaperMetrics

__all__ = ["LiveMetrics"]

SIGN_BUCKETS_S = (100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3)


class _VenueCollector:
    def __init__(self, venue: GuardMetrics, halted: Callable[[], bool], killed: Callable[[], bool]) -> None:
        self.venue = venue
        self.halted = halted
        self.killed = killed

    def collect(self):
        decisions = CounterMetricFamily("shoal_live_guard_decisions", "Guard decisions, by guard and outcome.",
                                        labels=["guard", "outcome"])
        for (guard, outcome), n in sorted(self.venue.decisions.items()):
            decisions.add_metric([guard, outcome], n)
        yield decisions
        events = CounterMetricFamily("shoal_live_events", "Live venue events: order outcomes, resends, RPC errors, "
                                     "reconciliations.", labels=["event"])
        for event, n in sorted(self.venue.events.items()):
            events.add_metric([event], n)
        yield events
        yield GaugeMetricFamily("shoal_live_halted", "1 once trading stopped (reconciliation, unknown outcome).",
                                value=1 if self.halted() else 0)
        yield GaugeMetricFamily("shoal_live_kill_switch", "1 while the kill switch stops new orders.",
                                value=1 if self.killed() else 0)


class LiveMetrics(PaperMetrics):
    """`PaperMetrics` plus the live venue's counters, gauges and sign latency."""

    def __init__(self, run_id: str, strategy: str, venue: GuardMetrics, *, halted: Callable[[], bool],
                 killed: Callable[[], bool]) -> None:
        super().__init__(run_id, strategy)
        self.registry.register(_VenueCollector(venue, halted, killed))
        self.sign_latency = Histogram("shoal_live_sign_latency_seconds",
                                      "Order intent to signed transaction, RPC reads excluded.",
                                      buckets=SIGN_BUCKETS_S, registry=self.registry)
