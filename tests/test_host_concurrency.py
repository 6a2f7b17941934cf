"""At most ``CONCURRENT_REQUESTS_PER_DOMAIN`` requests reach a host at once (crawler/downloader.py).

Scrapy's own downloader under the asyncio reactor starts every queued request of a host in one
pass; the portal here counts the requests it is answering at the same time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.loopback_site import ROBOTS, LoopbackSite, Reply, article, listing, serving
from tests.scheduling import FAST, run_cli

HOST = "127.0.0.61"


class Gauge:
    """How many requests the site is answering now, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def page(self, body: bytes) -> Reply:
        def write(wfile: Any) -> None:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            time.sleep(0.05)  # long enough for the crawler to send whatever else it would send
            with self.lock:
                self.now -= 1
            wfile.write(body)
        return Reply(write)


def _crawl(tmp_path: Path, per_host: int) -> tuple[Gauge, int]:
    gauge = Gauge()
    site = LoopbackSite(HOST)
    links = [(f"/tin/{n}.html", f"Tin {n}") for n in range(1, 13)]
    site.routes.update({"/robots.txt": ROBOTS, "/": gauge.page(listing("Tin tức", links))})
    for n in range(1, 13):
        site.routes[f"/tin/{n}.html"] = gauge.page(article(f"Hội nghị số {n} của xã", n))
    registry = tmp_path / "portals.yaml"
    registry.write_text("portals:\n  - {id: xa, name: Xã Thử, level: commune, province: Phú Yên, "
                        f"url: '{site.origin}/'}}\n", "utf-8")
    with serving(site):
        result = run_cli("crawl", "--portals", str(registry), "--store", f"sqlite:///{tmp_path / 's.db'}",
                         *FAST, "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={per_host}")
    assert result.returncode == 0, result.stderr[-3000:]
    with sqlite3.connect(tmp_path / "s.db") as conn:
        stored = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    return gauge, stored


def test_one_request_at_a_time_when_the_limit_is_one(tmp_path: Path) -> None:
    gauge, stored = _crawl(tmp_path, 1)
    assert stored == 12
    assert gauge.peak == 1, f"{gauge.peak} requests reached the host at once"


def test_never_more_than_the_limit(tmp_path: Path) -> None:
    gauge, stored = _crawl(tmp_path, 3)
    assert stored == 12
    assert 1 <= gauge.peak <= 3, f"{gauge.peak} requests reached the host at once"
