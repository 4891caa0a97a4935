"""Prometheus metrics and a health endpoint of a paper session, served on 127.0.0.1.

Every name here is what ``monitoring/grafana-dashboard.json`` queries (a test checks that
each panel's metric is exported). The decision-latency histogram is collected by a custom
collector that counts whole chunks at once (one `numpy.searchsorted` per chunk instead of one
Python call per event); everything else uses prometheus-client's own types.

``GET /metrics`` answers in the Prometheus text format; ``GET /health`` answers JSON with
``status`` ``ok`` (HTTP 200), or ``stalled`` / ``failed`` / ``starting`` (HTTP 503), the run
id, the last slot and the lag.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.exec.runner import FAILURE_REASONS

__all__ = ["FEED_ANOMALIES", "LATENCY_BUCKETS_S", "MetricsServer", "PaperMetrics"]

LATENCY_BUCKETS_S = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1,
                     0.25, 0.5, 1.0)
FEED_ANOMALIES = ("duplicate", "out_of_order", "stall")
FILL_STATUSES = ("filled", *FAILURE_REASONS)
MAX_ROW_LABELS = 16  # parameter rows exported one by one (a paper run has a few)


class _LatencyHistogram:
    """A histogram observed in batches: ``observe(value_s, count)`` adds ``count`` events of one latency."""

    def __init__(self, name: str, doc: str, buckets: Iterable[float]) -> None:
        self.name = name
        self.doc = doc
        self.bounds = np.array(sorted(buckets), dtype=np.float64)
        self.counts = np.zeros(self.bounds.size + 1, dtype=np.int64)  # last: above every bound
        self.sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value_s: float, count: int = 1) -> None:
        k = int(np.searchsorted(self.bounds, value_s, side="left"))
        with self._lock:
            self.counts[k] += count
            self.sum += value_s * count

    def collect(self):
        with self._lock:
            cum = np.cumsum(self.counts)
            total_sum = self.sum
        buckets = [(repr(float(b)), int(c)) for b, c in zip(self.bounds, cum[:-1], strict=True)]
        buckets.append(("+Inf", int(cum[-1])))
        yield HistogramMetricFamily(self.name, self.doc, buckets=buckets, sum_value=total_sum)


class PaperMetrics:
    """The metrics of one paper session, in a registry of their own."""

    def __init__(self, run_id: str, strategy: str) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        self.info = Gauge("shoal_run_info", "The run this process serves (value 1).", ["run_id", "strategy"],
                          registry=r)
        self.info.labels(run_id, strategy).set(1)
        self.events = Counter("shoal_events", "Events run through the kernel.", registry=r)
        self.replayed = Counter("shoal_replayed_events", "Journaled events replayed on resume.", registry=r)
        self.chunks = Counter("shoal_chunks", "Feed chunks run through the kernel.", registry=r)
        self.anomalies = Counter("shoal_feed_anomalies", "Feed events dropped or spells of silence, by kind.",
                                 ["kind"], registry=r)
        for kind in FEED_ANOMALIES:
            self.anomalies.labels(kind)
        self.lag_s = Gauge("shoal_feed_lag_seconds", "Wall seconds the runner is behind the feed's schedule.",
                           registry=r)
        self.lag_slots = Gauge("shoal_feed_lag_slots", "Slots released by the feed but not yet run.", registry=r)
        self.stalled = Gauge("shoal_feed_stalled", "1 while the feed is silent beyond its stall timeout.",
                             registry=r)
        self.last_slot = Gauge("shoal_last_slot", "Slot of the last event run.", registry=r)
        self.latency = _LatencyHistogram("shoal_decision_latency_seconds",
                                         "Event arrival to order intent (kernel done), per event.", LATENCY_BUCKETS_S)
        r.register(self.latency)
        self.orders = Counter("shoal_orders", "Orders the strategy decided.", registry=r)
        self.fills = Counter("shoal_fills", "Orders that landed, by outcome (filled or why not).", ["status"],
                             registry=r)
        self.failures = Counter("shoal_order_failures", "Orders that landed without filling, by reason.",
                                ["reason"], registry=r)
        for s in FILL_STATUSES:
            self.fills.labels(s)
        for reason in FAILURE_REASONS:
            self.failures.labels(reason)
        self.pnl = Gauge("shoal_realized_pnl_lamports", "Realized PnL, by parameter row.", ["row"], registry=r)
        self.equity = Gauge("shoal_equity_lamports", "Marked equity, by parameter row.", ["row"], registry=r)
        self.journal_flushes = Counter("shoal_journal_flushes", "Journal flushes (segment + transaction).",
                                       registry=r)
        self.checkpoints = Counter("shoal_checkpoints", "Kernel state checkpoints written.", registry=r)
        self.journal_queue = Gauge("shoal_journal_queue", "Journal writes waiting for the writer thread.",
                                   registry=r)
        self.quarantined = Counter("shoal_quarantined_events", "Events sent to quarantine.", registry=r)
        self.up = Gauge("shoal_up", "1 while the session runs its feed; 0 once done or failed.", registry=r)
        self.health_status = "starting"
        self.health_extra: dict = {"run_id": run_id, "strategy": strategy}

    def set_rows(self, equity: np.ndarray, realized: np.ndarray) -> None:
        for row in range(min(equity.size, MAX_ROW_LABELS)):
            self.equity.labels(str(row)).set(float(equity[row]))
            self.pnl.labels(str(row)).set(float(realized[row]))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def health(self) -> tuple[int, dict]:
        doc = {"status": self.health_status, **self.health_extra}
        return (200 if self.health_status == "ok" else 503), doc


class MetricsServer:
    """A small threaded HTTP server: ``/metrics`` and ``/health`` on 127.0.0.1.

    Parameters
    ----------
    metrics : PaperMetrics
    port : int
        0 picks a free port (see ``port`` after `start`).
    before_scrape : callable, optional
        Called before each ``/metrics`` answer (to refresh gauges).
    """

    def __init__(self, metrics: PaperMetrics, port: int, *, host: str = "127.0.0.1",
                 before_scrape: Callable[[], None] | None = None) -> None:
        self.metrics = metrics
        self.before_scrape = before_scrape
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    if outer.before_scrape is not None:
                        outer.before_scrape()
                    self._send(200, CONTENT_TYPE_LATEST, outer.metrics.exposition())
                elif path == "/health":
                    code, doc = outer.metrics.health()
                    doc["time_ns"] = time.time_ns()
                    self._send(code, "application/json", json.dumps(doc).encode())
                else:
                    self._send(404, "text/plain", b"not found: try /metrics or /health\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # scrapes are not news
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="shoal-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
