"""The crawler stays out of the operator's network at fetch time (issue 10, defect 8).

The registry check (tests/test_registry.py) can only judge addresses written in a URL.
Here a portal's host NAME resolves to a loopback address where a real server listens:
without the operator's permission no request reaches it, and a redirect to the cloud
metadata address is refused even with the permission.

No DNS server is reachable offline, so the crawl's resolver is Scrapy's own caching
resolver with a fixed table in front (``PORTALNEWS_TEST_DNS``), standing in for the DNS
record of the name; every other name goes to the system resolver as usual.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer

from tests.conftest import loopback_server
from tests.scheduling import FAST, run_cli

HOST = "127.0.0.31"
NAME = "cong.thu-nghiem.example"  # resolved through PORTALNEWS_TEST_DNS only
METADATA = f"meta.{NAME}"  # a name of the portal's own domain that points at the cloud metadata service
PAGE = ("<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Trang chủ</title></head><body>"
        "<h1>Tin tức</h1><a href=\"/tin/1.html\">Hội nghị</a> <a href=\"/metadata\">x</a></body></html>")


class FixedResolver(CachingThreadedResolver):
    """Scrapy's resolver, answering the names listed in ``PORTALNEWS_TEST_DNS`` (``name=address,…``)."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        table = dict(pair.split("=", 1) for pair in os.environ.get("PORTALNEWS_TEST_DNS", "").split(",") if pair)
        if name in table:
            return defer.succeed(table[name])
        return super().getHostByName(name, timeout)


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[Counter[str]] = Counter()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.hits[self.path] += 1
        if self.path == "/metadata":
            self.send_response(302)
            self.send_header("Location", f"http://{METADATA}/latest/meta-data/")
            self.end_headers()
            return
        body = (PAGE if self.path == "/" else "User-agent: *\n" if self.path == "/robots.txt" else
                "<html><body><h1>Hội nghị</h1></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path == "/robots.txt" else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with loopback_server(HOST, _Handler) as port:
        yield port


def _crawl(tmp_path: Path, port: int, allow: str, *extra: str) -> tuple[Any, dict[str, Any]]:
    registry = tmp_path / "portals.yaml"
    registry.write_text(f"portals:\n  - {{id: thu-nghiem, name: Xã Thử Nghiệm, level: commune, province: Phú Yên, "
                        f"url: 'http://{NAME}:{port}/'}}\n", "utf-8")
    stats = tmp_path / "stats.json"
    _Handler.hits.clear()
    result = run_cli("crawl", "--portals", str(registry), "--store", f"sqlite:///{tmp_path / 's.db'}",
                     "--stats-file", str(stats), *FAST, "-s", "RETRY_TIMES=0",
                     "-s", "TWISTED_DNS_RESOLVER=tests.test_private_hosts.FixedResolver", *extra,
                     env={"PORTALNEWS_TEST_DNS": f"{NAME}={HOST},{METADATA}=169.254.169.254", "PORTALNEWS_ALLOW_PRIVATE_HOSTS": allow})
    return result, json.loads(stats.read_text("utf-8")) if stats.exists() else {}


def test_a_name_that_resolves_to_loopback_is_refused_without_permission(server: int, tmp_path: Path) -> None:
    result, stats = _crawl(tmp_path, server, allow="")
    assert "Traceback" not in result.stderr
    assert sum(_Handler.hits.values()) == 0, f"the server was reached: {dict(_Handler.hits)}"
    assert f"{NAME} (resolves to {HOST})" in result.stderr
    assert "PORTALNEWS_ALLOW_PRIVATE_HOSTS=1" in result.stderr
    assert stats.get("portalnews/private_host_refused/thu-nghiem", 0) >= 1


def test_with_permission_the_same_name_is_crawled_but_link_local_never(server: int, tmp_path: Path) -> None:
    result, stats = _crawl(tmp_path, server, allow="1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _Handler.hits["/"] == 1 and _Handler.hits["/tin/1.html"] == 1
    assert _Handler.hits["/metadata"] == 1  # its redirect to a name for 169.254.169.254 is refused
    assert f"refused http://{METADATA}/latest/meta-data/: {METADATA} (resolves to 169.254.169.254)" in result.stderr
    assert "link-local" in result.stderr
    assert stats.get("portalnews/private_host_refused/thu-nghiem") == 1


def test_the_crawl_flag_gives_the_permission(server: int, tmp_path: Path) -> None:
    result, _stats = _crawl(tmp_path, server, "", "--allow-private-hosts")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _Handler.hits["/tin/1.html"] == 1


def test_the_scrapy_setting_gives_the_permission(server: int, tmp_path: Path) -> None:
    result, _stats = _crawl(tmp_path, server, "", "-s", "PORTALNEWS_ALLOW_PRIVATE_HOSTS=1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _Handler.hits["/tin/1.html"] == 1
