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
            deadline = time.time() + 60
            while time.time() < deadline and 'portalnews_portal_articles{portal="demo-tandan-1"' not in text:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                        text = resp.read().decode("utf-8")
                except OSError:
                    pass
                time.sleep(0.5)
            assert "portalnews_store_up 1" in text
            assert 'portalnews_portal_articles{portal="demo-tandan-1"' in text
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err[-2000:]
