"""The crawl stays inside each portal's origin: scheme + host + port (issue 10, defect 4).

Portal ``a`` links pages that redirect to the same IP on another port and to another
registered portal (``b``): neither is fetched (not even its robots.txt) nor stored under
``a``; the redirecting page is recorded under ``a`` as a page that leaves the origin.  A
portal whose own start URL redirects to its ``www.`` twin (or to https) moves its origin
for the crawl, with a warning that suggests the registry fix, and ``coverage`` shows it.
A start URL that redirects anywhere else fails the portal's crawl with that reason.

Host names resolve through the fixed table of :class:`tests.test_private_hosts.FixedResolver`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from crawler import links
from tests.loopback_site import ROBOTS, LoopbackSite, Reply, article, listing, redirect, serving
from tests.scheduling import FAST, run_cli

HOST_A = "127.0.0.51"
HOST_B = "127.0.0.52"
RESOLVER = ["-s", "TWISTED_DNS_RESOLVER=tests.test_private_hosts.FixedResolver"]


def _registry(path: Path, portals: dict[str, str]) -> Path:
    lines = ["portals:"]
    for pid, url in portals.items():
        lines.append(f"  - {{id: {pid}, name: Xã {pid}, level: commune, province: Phú Yên, url: '{url}'}}")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _crawl(tmp_path: Path, registry: Path, *args: str, env: dict[str, str] | None = None
           ) -> tuple[str, dict[str, object]]:
    stats_file = tmp_path / "stats.json"
    result = run_cli("crawl", "--portals", str(registry), "--store", f"sqlite:///{tmp_path / 's.db'}",
                     "--stats-file", str(stats_file), *FAST, "-s", "RETRY_TIMES=0", *args, env=env)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr, json.loads(stats_file.read_text("utf-8"))


def _documents(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT url, portal_id FROM documents"))


def _pages(db: Path) -> dict[str, tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return {url: (portal, kind, reason)
                for url, portal, kind, reason in conn.execute("SELECT url, portal_id, kind, reason FROM pages")}


def _sites(b_links_its_page: bool = True) -> tuple[LoopbackSite, LoopbackSite, LoopbackSite]:
    a = LoopbackSite(HOST_A)
    other_port = LoopbackSite(HOST_A)  # the same IP, another port: another origin
    b = LoopbackSite(HOST_B)
    a.routes.update({
        "/robots.txt": ROBOTS,
        "/": listing("Tin tức", [("/tin/1.html", "Hội nghị 1"), ("/cong-khac.html", "Sang cổng khác"),
                                 ("/sang-b.html", "Sang cổng b")]),
        "/tin/1.html": article("Hội nghị triển khai nhiệm vụ", 1),
        "/cong-khac.html": redirect(f"{other_port.origin}/tin/2.html"),
        "/sang-b.html": redirect(f"{b.origin}/tin/b1.html"),
    })
    other_port.routes.update({"/robots.txt": ROBOTS, "/tin/2.html": article("Trang của cổng khác", 2)})
    home = [("/tin/b1.html", "Tin b1")] if b_links_its_page else [("/gioi-thieu.html", "Giới thiệu")]
    b.routes.update({"/robots.txt": ROBOTS, "/": listing("Tin tức b", home),
                     "/tin/b1.html": article("Tin của cổng b", 3)})
    return a, other_port, b


def test_redirects_to_another_port_or_another_portal_are_not_followed(tmp_path: Path) -> None:
    """Both portals crawled; b's page is only reachable through a's redirect."""
    a, other_port, b = _sites(b_links_its_page=False)
    with serving(a, other_port, b):
        registry = _registry(tmp_path / "portals.yaml", {"a": f"{a.origin}/", "b": f"{b.origin}/"})
        stderr, stats = _crawl(tmp_path, registry)
    assert other_port.requests == [], f"the other port was reached: {other_port.requests}"
    assert "/tin/b1.html" not in b.requests, f"portal b was reached by portal a's crawl: {b.requests}"
    docs = _documents(tmp_path / "s.db")
    assert docs == {f"{a.origin}/tin/1.html": "a"}, docs
    pages = _pages(tmp_path / "s.db")
    assert {u for u, (portal, _k, _r) in pages.items() if portal == "a" and not u.startswith(a.origin)} == set()
    assert {u for u, (portal, _k, _r) in pages.items() if portal == "b" and not u.startswith(b.origin)} == set()
    for path, target in (("/cong-khac.html", other_port.origin), ("/sang-b.html", b.origin)):
        portal, kind, reason = pages[f"{a.origin}{path}"]
        assert (portal, kind) == ("a", "other") and "origin" in reason and target in reason, reason
    assert stats.get("portalnews/offsite_redirect/a") == 2, stats
    assert stats.get("log_count/ERROR", 0) == 0, stderr[-3000:]


def test_both_portals_crawled_each_page_is_stored_under_the_portal_that_served_it(tmp_path: Path) -> None:
    a, other_port, b = _sites()
    with serving(a, other_port, b):
        registry = _registry(tmp_path / "portals.yaml", {"a": f"{a.origin}/", "b": f"{b.origin}/"})
        _crawl(tmp_path, registry)
    assert other_port.requests == []
    docs = _documents(tmp_path / "s.db")
    assert docs == {f"{a.origin}/tin/1.html": "a", f"{b.origin}/tin/b1.html": "b"}, docs
    assert b.requests.count("/tin/b1.html") == 1


def test_a_redirect_to_another_portal_seen_first_does_not_hide_that_page_from_its_own_portal(
        tmp_path: Path) -> None:
    """Portal b's home page is answered only after a's redirect to b's article was: that
    redirect is refused before it becomes a request, so b's own link to the page is not taken
    for one already seen (the race that once lost b's article)."""
    a, other_port, b = _sites()
    redirected = threading.Event()

    def redirect_then_signal(wfile: Any) -> None:
        redirected.set()

    def home_after_the_redirect(wfile: Any) -> None:
        redirected.wait(30)  # only a failed crawl waits that long
        wfile.write(listing("Tin tức b", [("/tin/b1.html", "Tin b1")]))

    a.routes["/sang-b.html"] = Reply(redirect_then_signal, status=302, headers={"Location": f"{b.origin}/tin/b1.html"})
    b.routes["/"] = Reply(home_after_the_redirect)
    with serving(a, other_port, b):
        registry = _registry(tmp_path / "portals.yaml", {"a": f"{a.origin}/", "b": f"{b.origin}/"})
        _stderr, stats = _crawl(tmp_path, registry)
    assert redirected.is_set()
    docs = _documents(tmp_path / "s.db")
    assert docs == {f"{a.origin}/tin/1.html": "a", f"{b.origin}/tin/b1.html": "b"}, docs
    assert b.requests.count("/tin/b1.html") == 1
    assert stats.get("portalnews/offsite_redirect/a") == 2, stats


def test_a_meta_refresh_out_of_the_origin_is_refused_before_it_is_requested(tmp_path: Path) -> None:
    a, other_port, b = _sites()
    a.routes["/sang-b.html"] = (f'<html><head><meta http-equiv="refresh" content="0; url={b.origin}/tin/b1.html">'
                                "</head><body>Chuyển trang</body></html>").encode()
    with serving(a, other_port, b):
        registry = _registry(tmp_path / "portals.yaml", {"a": f"{a.origin}/", "b": f"{b.origin}/"})
        _stderr, stats = _crawl(tmp_path, registry)
    docs = _documents(tmp_path / "s.db")
    assert docs == {f"{a.origin}/tin/1.html": "a", f"{b.origin}/tin/b1.html": "b"}, docs
    assert b.requests.count("/tin/b1.html") == 1
    portal, kind, reason = _pages(tmp_path / "s.db")[f"{a.origin}/sang-b.html"]
    assert (portal, kind) == ("a", "other") and b.origin in reason, reason
    assert stats.get("portalnews/offsite_redirect/a") == 2, stats


def test_a_start_url_that_moves_to_its_www_twin_moves_the_origin_with_a_warning(tmp_path: Path) -> None:
    name = "xa-moi.example"
    site = LoopbackSite("127.0.0.53")
    other = LoopbackSite("127.0.0.54")  # another host behind the same site's links: never reached
    bare, www = f"{name}:{site.port}", f"www.{name}:{site.port}"
    site.routes.update({
        "/robots.txt": ROBOTS,
        f"{bare}/": redirect(f"http://{www}/", 301),
        f"{bare}/tin/2.html": redirect(f"http://{www}/tin/2.html", 301),
        f"{www}/": listing("Tin tức", [("/tin/1.html", "Tin 1"), (f"http://{bare}/tin/2.html", "Tin 2"),
                                       (f"http://khac.{name}:{site.port}/tin/3.html", "Tin 3")]),
        f"{www}/tin/1.html": article("Hội nghị tổng kết", 1),
        f"{www}/tin/2.html": article("Khánh thành cầu dân sinh", 2),
    })
    dns = {"PORTALNEWS_TEST_DNS": f"{name}=127.0.0.53,www.{name}=127.0.0.53,khac.{name}=127.0.0.54"}
    with serving(site, other):
        registry = _registry(tmp_path / "portals.yaml", {"xa-moi": f"http://{bare}/"})
        stderr, stats = _crawl(tmp_path, registry, *RESOLVER, env=dns)
        coverage = run_cli("coverage", "--store", f"sqlite:///{tmp_path / 's.db'}", "--json")
        table = run_cli("coverage", "--store", f"sqlite:///{tmp_path / 's.db'}")
    assert other.requests == []
    assert stats.get("portalnews/origin_moved/xa-moi") == f"http://{www}", stats
    assert f"http://{bare}/" in stderr and f"http://{www}/" in stderr and "registry" in stderr, stderr[-3000:]
    docs = _documents(tmp_path / "s.db")
    assert docs == {f"http://{www}/tin/1.html": "xa-moi", f"http://{www}/tin/2.html": "xa-moi"}, docs
    row = json.loads(coverage.stdout)[0]
    assert row["origin_moved_to"] == f"http://{www}", row
    assert any(f"http://{www}" in problem and "registry" in problem for problem in row["problems"]), row
    assert f"http://{www}" in table.stdout


def test_a_start_url_that_redirects_to_another_site_fails_the_portal(tmp_path: Path) -> None:
    site = LoopbackSite("127.0.0.55")
    elsewhere = LoopbackSite("127.0.0.56")
    site.routes.update({"/robots.txt": ROBOTS, "/": redirect(f"{elsewhere.origin}/")})
    elsewhere.routes.update({"/robots.txt": ROBOTS, "/": listing("Nơi khác", [("/tin/1.html", "x")]),
                             "/tin/1.html": article("Trang nơi khác", 1)})
    with serving(site, elsewhere):
        registry = _registry(tmp_path / "portals.yaml", {"doi-cho": f"{site.origin}/"})
        _crawl(tmp_path, registry)
        coverage = run_cli("coverage", "--store", f"sqlite:///{tmp_path / 's.db'}", "--json")
    assert elsewhere.requests == []
    row = json.loads(coverage.stdout)[0]
    assert row["last_outcome"] == "failed", row
    assert elsewhere.origin in row["last_crawl_message"] and "registry" in row["last_crawl_message"], row


def test_origin_is_scheme_host_and_port() -> None:
    assert links.origin("http://Xa.Example/a?b") == ("http", "xa.example", 80)
    assert links.origin("http://xa.example:80/") == links.origin("http://xa.example/")
    assert links.origin("https://xa.example/") == ("https", "xa.example", 443)
    assert links.origin("http://127.0.0.1:8080/") != links.origin("http://127.0.0.1:8081/")
    assert links.origin("http://bộ.example/") == links.origin("http://xn--b-8xm.example/")
    for bad in ("file:///etc/passwd", "ftp://xa.example/", "javascript:alert(1)", "http:///x", "http://x:99999/"):
        assert links.origin(bad) is None, bad


def test_only_https_and_www_twins_are_moves() -> None:
    def moved(a: str, b: str) -> bool:
        old, new = links.origin(a), links.origin(b)
        assert old is not None and new is not None
        return links.moved_origin(old, new)

    assert moved("http://xa.example/", "https://xa.example/")
    assert moved("http://xa.example/", "http://www.xa.example/")
    assert moved("http://www.xa.example/", "https://xa.example/")
    assert moved("http://xa.example:8080/", "http://www.xa.example:8080/")
    assert not moved("https://xa.example/", "http://xa.example/")  # never down to http
    assert not moved("http://xa.example/", "http://xa.example:8080/")  # another port
    assert not moved("http://xa.example:8080/", "https://xa.example:8443/")
    assert not moved("http://xa.example/", "http://khac.example/")
    assert not moved("http://xa.example/", "http://www.www.xa.example/")
    assert not moved("http://xa.example/", "http://xa.example/")
