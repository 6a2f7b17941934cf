"""Politeness at scale: back-off on 429/503 and slow answers, recorded in the store and
honoured by every worker; per-host exclusivity across workers.

A small portal is served by a test server that answers 429 (with Retry-After), 503
(without) or slowly for some pages, and logs when each request arrived.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from crawler.middlewares.politeness import retry_after_seconds
from crawler.mirror import generate_mirror
from crawler.mirror.server import content_type, url_to_relpath
from pipelines.storage import open_store
from tests.scheduling import FAST, add_portal, max_concurrency, run_cli, spans, start_worker, write_registry

HOST = "127.0.6.1"


class FlakyPortal(ThreadingHTTPServer):
    """Serves a generated mirror host; ``plan[path]`` = answers to give before the real page."""

    daemon_threads = True
    request_queue_size = 128  # the default backlog (5) delays bursts of connections by a SYN retry

    def __init__(self, root: Path) -> None:
        super().__init__((HOST, 0), _Handler)
        self.root = root
        self.plan: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.slow: dict[str, float] = {}
        self.log: list[tuple[float, str, int]] = []  # (arrival time, path, status)
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def requests_to(self, path: str) -> list[tuple[float, int]]:
        return [(t, status) for t, p, status in self.log if p == path]


class _Handler(BaseHTTPRequestHandler):
    server: FlakyPortal
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        arrived = time.time()
        parts = urlsplit(self.path)
        srv = self.server
        with srv.lock:
            planned = srv.plan.get(self.path)
            answer = planned.pop(0) if planned else None
        if self.path in srv.slow:
            time.sleep(srv.slow[self.path])
        if answer is not None:
            status, headers = answer
            body = b"<html><body>busy</body></html>"
        else:
            file = srv.root / url_to_relpath(parts.path, parts.query)
            if file.is_file():
                status, headers = 200, {"Content-Type": content_type(parts.path)}
                body = file.read_bytes().replace(b"{PORT}", str(srv.port).encode())
            else:
                status, headers, body = 404, {}, b"not found"
        with srv.lock:
            srv.log.append((arrived, self.path, status))
        self.send_response(status)
        for key, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def portal(tmp_path: Path) -> Iterator[tuple[FlakyPortal, Path, list[str]]]:
    info = generate_mirror(tmp_path / "mirror", portals=1, articles_per_portal=8, host_prefix="127.0.6.")
    truth = [json.loads(line) for line in info.truth_path.read_text("utf-8").splitlines()]
    server = FlakyPortal(tmp_path / "mirror" / "site" / HOST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    paths = [urlsplit(r["url"]).path + (f"?{urlsplit(r['url']).query}" if urlsplit(r["url"]).query else "")
             for r in truth]
    try:
        yield server, info.registry_path, paths
    finally:
        server.shutdown()
        server.server_close()


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(b"120") == 120.0
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def crawl(server: FlakyPortal, registry: Path, tmp_path: Path, *settings: str) -> tuple[str, dict[str, Any], str]:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    stats_file = tmp_path / "stats.json"
    done = run_cli("crawl", "--portals", str(registry), "--var", f"PORT={server.port}", "--store", store,
                   "--stats-file", str(stats_file), *FAST, *settings)
    assert done.returncode == 0, done.stderr[-3000:]
    return store, json.loads(stats_file.read_text("utf-8")), done.stderr


def test_429_and_503_back_the_host_off_and_are_recorded(portal: tuple[FlakyPortal, Path, list[str]],
                                                         tmp_path: Path) -> None:
    server, registry, paths = portal
    server.plan[paths[0]] = [(429, {"Retry-After": "2"})]
    server.plan[paths[1]] = [(503, {})]
    # one request at a time: the 503 is always asked after the 429's back-off, so it is a back-off of
    # its own (an answer to a request sent before a back-off only makes sure the pause lasts)
    store, stats, stderr = crawl(server, registry, tmp_path, "-s", "PORTALNEWS_BACKOFF_BASE_DELAY=1",
                                 "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1")
    s = open_store(store)
    s.open()
    try:
        assert s.count_documents() == 8  # nothing lost: the retried pages were stored
        record = s.backoff(HOST)
    finally:
        s.close()
    assert stats["portalnews/backoff/count"] >= 2 and stats[f"portalnews/backoff/{HOST}"] >= 2
    assert record is not None and record.count >= 2 and "HTTP" in record.reason
    assert record.until > time.time() - 60
    # Retry-After honoured: the retry came 2 s later, and nothing new was sent to the host
    # meanwhile (requests already on their way when the 429 came back may still arrive)
    (t429, status), (t_retry, status2) = server.requests_to(paths[0])[:2]
    assert (status, status2) == (429, 200)
    assert t_retry - t429 >= 1.9
    assert not [t for t, _, _ in server.log if t429 + 0.3 < t < t429 + 1.9]
    # 503 without Retry-After: the default pause (PORTALNEWS_BACKOFF_BASE_DELAY)
    (t503, s503), (t_after, _) = server.requests_to(paths[1])[:2]
    assert s503 == 503 and t_after - t503 >= 0.95
    assert "backing off" in stderr


def test_slow_answers_back_the_host_off(portal: tuple[FlakyPortal, Path, list[str]], tmp_path: Path) -> None:
    server, registry, _ = portal
    server.slow["/"] = 0.6
    store, stats, stderr = crawl(server, registry, tmp_path, "-s", "PORTALNEWS_SLOW_RESPONSE=0.4")
    s = open_store(store)
    s.open()
    try:
        record = s.backoff(HOST)
        assert s.count_documents() == 8
    finally:
        s.close()
    assert record is not None and record.reason.startswith("slow answers")
    assert stats["portalnews/backoff/count"] >= 1 and "slow answers" in stderr
    home = server.requests_to("/")[0][0]
    assert not [t for t, _, _ in server.log if home + 0.7 < t < home + 0.6 * 2]  # paused for twice the latency


def test_a_backed_off_host_is_not_crawled_by_any_worker(portal: tuple[FlakyPortal, Path, list[str]],
                                                        tmp_path: Path) -> None:
    server, registry, _ = portal
    store = f"sqlite:///{tmp_path / 'store.db'}"
    s = open_store(store)
    s.open()
    try:
        s.record_backoff(HOST, time.time() + 120, "HTTP 429, Retry-After 120s", delay=10)
    finally:
        s.close()
    worker = start_worker(tmp_path / "w.log", "--portals", str(registry), "--var", f"PORT={server.port}",
                          "--store", store, "--once", "--poll", "0.2", *FAST)
    assert worker.process.wait(60) == 0
    assert spans(worker.events()) == []
    assert "backed off until" in worker.text()
    due = run_cli("crawl", "--due", "--portals", str(registry), "--var", f"PORT={server.port}", "--store", store)
    assert due.returncode == 0 and "backed off" in due.stderr and server.log == []


def test_two_portals_on_one_host_are_never_crawled_at_once_across_workers(
        portal: tuple[FlakyPortal, Path, list[str]], tmp_path: Path) -> None:
    """Worker A schedules one portal, worker B another section of the same site (same host):
    both are due at once, both workers crawl, and the host lease makes one wait for the other."""
    server, registry, _ = portal
    shared = tmp_path / "portals.yaml"
    first_id = write_registry(registry, shared, default_every="1h")[0]
    entry = yaml.safe_load(shared.read_text("utf-8"))["portals"][0]
    add_portal(shared, {**entry, "id": f"{first_id}-bis"})  # another section of the same site: same host
    store = f"sqlite:///{tmp_path / 'store.db'}"
    slow = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0.1", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
    args = ["--portals", str(shared), "--var", f"PORT={server.port}", "--store", store, "--once", "--poll", "0.2",
            *slow]
    a = start_worker(tmp_path / "a.log", *args, "--portal", first_id)
    b = start_worker(tmp_path / "b.log", *args, "--portal", f"{first_id}-bis")
    try:
        assert a.process.wait(120) == 0 and b.process.wait(120) == 0, (a.text()[-2000:], b.text()[-2000:])
    finally:
        a.kill()
        b.kill()
    found = spans(a.events() + b.events())
    assert sorted((s.portal, s.outcome) for s in found) == [(first_id, "ok"), (f"{first_id}-bis", "ok")]
    assert len({s.worker for s in found}) == 2  # one crawl per worker: the exclusivity is across workers
    assert max_concurrency(found) == 1, "two workers crawled one host at the same time"
    first, second = sorted(found, key=lambda s: s.start)
    assert first.end is not None and second.start >= first.end  # the second waited for the host


def test_the_pace_recovers_after_a_back_off(portal: tuple[FlakyPortal, Path, list[str]], tmp_path: Path) -> None:
    """After the pause the host's requests are spaced out, the spacing halves with each good
    answer, and the crawl gets back to its normal pace (README, "Politeness at scale").

    With a 2 s default pause the host's requests are then spaced by half of it (1 s), and the
    spacing halves with each good answer until it is back to none (DOWNLOAD_DELAY=0).
    Arrival times at the server can only be later than planned, never earlier, so the gaps
    are checked from below: at least 0.5, 0.25 and 0.125 s for the first three (less a small
    allowance for the arrival jitter of the previous request)."""
    server, registry, _ = portal
    server.plan["/"] = [(503, {})]  # the home page: the first request after robots.txt
    store, stats, stderr = crawl(server, registry, tmp_path, "-s", "PORTALNEWS_BACKOFF_BASE_DELAY=2",
                                 "-s", "RANDOMIZE_DOWNLOAD_DELAY=False")
    s = open_store(store)
    s.open()
    try:
        assert s.count_documents() == 8  # nothing lost
    finally:
        s.close()
    assert stats["portalnews/backoff/count"] == 1
    assert f"{HOST}: back to the normal pace" in stderr, stderr[-3000:]
    arrivals = [t for t, path, _ in server.log if path != "/robots.txt"]
    (t503, s503), (t_retry, s_retry) = server.requests_to("/")[:2]
    assert (s503, s_retry) == (503, 200) and t_retry - t503 >= 1.95  # the pause
    after = [t for t in arrivals if t >= t_retry]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    print("gaps after the pause:", [round(g, 3) for g in gaps[:8]])
    allowance = 0.05
    for gap, spacing in zip(gaps, (0.5, 0.25, 0.125), strict=False):
        assert gap >= spacing - allowance, (gaps[:6], spacing)
    assert len(after) == len(arrivals) - 1 >= 8  # every page but the refused first try came after it
