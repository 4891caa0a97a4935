"""Metrics over HTTP on 127.0.0.1: every dashboard metric exported, and a real Prometheus scraping it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from engine.exec.paper import PaperConfig
from tests.engine.exec.helpers import SCRIPTED_ARGS, SCRIPTED_REF, SYN, free_port, session

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "monitoring" / "grafana-dashboard.json"
METRIC = re.compile(r"\b((?:shoal|process)_[a-z_]+)\b")


def _panels() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in doc["panels"] for t in p["targets"]]


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_every_dashboard_panel_names_a_metric_the_endpoint_serves(tmp_path: Path) -> None:
    # Arrange: a session running in a thread, metrics on a free port
    ready = threading.Event()
    s = session(tmp_path, "metrics", speed=100, paper=PaperConfig(flush_every_s=0.05, checkpoint_every_s=0.1,
                                                                  metrics_port=0))
    s._keep_server = True
    t = threading.Thread(target=lambda: s.run(on_ready=lambda _: ready.set()), daemon=True)
    t.start()
    assert ready.wait(60)
    time.sleep(0.5)
    # Act
    url = s.server.url
    assert url.startswith("http://127.0.0.1:")
    code, body = _get(url + "/metrics")
    hcode, health = _get(url + "/health")
    t.join(60)
    s.server.stop()
    # Assert
    text = body.decode()
    assert code == 200 and hcode == 200 and json.loads(health)["status"] == "ok"
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for title, expr in _panels():
        for name in METRIC.findall(expr):
            assert name in exported, f"panel {title!r} queries {name}, which /metrics lacks"
    assert "shoal_decision_latency_seconds_bucket" in exported


def _prometheus() -> str | None:
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


@pytest.mark.slow
def test_a_real_prometheus_scrapes_a_paper_process_and_every_panel_returns_data(tmp_path: Path) -> None:
    binary = _prometheus()
    if binary is None:
        reason = "the prometheus binary is missing (run .ci/install-prometheus.sh; apt-get could not install it)"
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    # Arrange: a paper process (about 20 s of market) and a Prometheus scraping it every second
    port, prom_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    paper = subprocess.Popen(
        [sys.executable, "-m", "research.cli", "paper", "-s", SCRIPTED_REF, *SCRIPTED_ARGS, "--days", "0.05",
         "--tokens", str(SYN.n_tokens), "--market-seed", str(SYN.seed), "--speed", "25", "--metrics-port", str(port),
         "--lake", str(tmp_path / "lake"), "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    config = tmp_path / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                      f"  - job_name: shoal\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    missing: dict[str, str] = {}
    try:
        # Act: ask Prometheus for every panel's query until all return data (bounded)
        deadline = time.monotonic() + 60
        pending = dict(_panels())
        while pending and time.monotonic() < deadline:
            time.sleep(1.0)
            for title, expr in list(pending.items()):
                q = urllib.parse.urlencode({"query": expr})
                try:
                    code, body = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?{q}", timeout=2.0)
                except OSError:
                    continue  # Prometheus still starting
                doc = json.loads(body) if code == 200 else {}
                if doc.get("status") == "success" and doc["data"]["result"]:
                    del pending[title]
        missing = pending
        alive = paper.poll() is None
    finally:
        prom.send_signal(signal.SIGTERM)
        paper.send_signal(signal.SIGTERM)
        prom.wait(30)
        paper.communicate(timeout=60)
    # Assert
    assert not missing, f"panels without data: {missing}"
    assert alive, "the paper process ended before Prometheus saw every panel's data; slow it down"
