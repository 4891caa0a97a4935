"""Live metrics: the venue's guard decisions and outcomes, exported next to the paper session's kernel metrics."""

from __future__ import annotations

import httpx

from engine.exec.live.guards import GuardDecision, GuardMetrics
from engine.exec.live.metrics import LiveMetrics
from engine.exec.metrics import MetricsServer


def test_guard_decisions_outcomes_and_flags_are_served_on_metrics() -> None:
    # Arrange
    venue = GuardMetrics()
    venue.count(GuardDecision(False, "order_notional_cap", "too big"))
    venue.count(GuardDecision(True, "kill_switch", "not engaged"))
    venue.events["filled"] += 3
    halted = [False]
    metrics = LiveMetrics("lv-1", "sniper", venue, halted=lambda: halted[0], killed=lambda: True)
    metrics.sign_latency.observe(0.0004)
    server = MetricsServer(metrics, 0).start()
    try:
        # Act
        first = httpx.get(f"{server.url}/metrics").text
        halted[0] = True
        venue.events["filled"] += 1
        second = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    # Assert: read at scrape time, not copied once
    assert 'shoal_live_guard_decisions_total{guard="order_notional_cap",outcome="blocked"} 1.0' in first
    assert 'shoal_live_events_total{event="filled"} 3.0' in first
    assert "shoal_live_halted 0.0" in first and "shoal_live_kill_switch 1.0" in first
    assert 'shoal_live_sign_latency_seconds_bucket{le="0.0005"} 1.0' in first
    assert 'shoal_live_events_total{event="filled"} 4.0' in second and "shoal_live_halted 1.0" in second
    assert 'shoal_run_info{run_id="lv-1",strategy="sniper"} 1.0' in first  # the paper session's own families too
