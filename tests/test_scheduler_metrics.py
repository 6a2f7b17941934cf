"""The scheduler serves Prometheus metrics while it runs (per-portal gauges included)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from crawler.mirror import MirrorServer, generate_mirror
from tests.conftest import free_port
from tests.metrics_text import metric_samples, sample


def articles(text: str) -> list[float]:
    """Values of ``portalnews_portal_articles`` for the demo portal (any province and level)."""
    return [value for (name, labels), value in metric_samples(text).items()
            if name == "portalnews_portal_articles" and ("portal", "demo-tandan-1") in labels]


def test_scheduler_serves_metrics_until_sigterm(tmp_path: Path) -> None:
    info = generate_mirror(tmp_path / "mirror", portals=1, articles_per_portal=4, seed=3)
    port = free_port()
    with MirrorServer(info.root / "site") as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "schedule", "--portals", str(info.registry_path),
             "--var", f"PORT={server.port}", "--store", f"sqlite:///{tmp_path / 's.db'}", "--every", "1h",
             "--metrics-port", str(port), "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            text = ""
            deadline = time.time() + 120
            while time.time() < deadline and articles(text) != [4.0]:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                        text = resp.read().decode("utf-8")
                except OSError:
                    pass
                time.sleep(0.5)
            assert sample(metric_samples(text), "portalnews_store_up") == 1
            assert articles(text) == [4.0], text[-2000:]  # the portal's first crawl stored its 4 articles
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err[-2000:]
