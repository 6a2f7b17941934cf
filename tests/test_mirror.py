"""Tests of the synthetic mirror: deterministic generation and the loopback server."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from crawler.mirror import MirrorServer, generate_mirror, url_to_relpath
from crawler.mirror.generator import MirrorInfo

logger = logging.getLogger(__name__)

PORTALS = 5
ARTICLES = 45  # enough for a second listing page in every category


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> MirrorInfo:
    return generate_mirror(tmp_path_factory.mktemp("mirror"), portals=PORTALS, articles_per_portal=ARTICLES, seed=3)


@pytest.fixture(scope="module")
def server(mirror: MirrorInfo) -> Iterator[MirrorServer]:
    with MirrorServer(mirror.root / "site") as srv:
        yield srv


def _get(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _truth(mirror: MirrorInfo) -> list[dict[str, object]]:
    return [json.loads(line) for line in mirror.truth_path.read_text(encoding="utf-8").splitlines()]


# ----------------------------------------------------------------------------- generator


def test_generation_is_deterministic(mirror: MirrorInfo, tmp_path: Path) -> None:
    again = generate_mirror(tmp_path / "again", portals=PORTALS, articles_per_portal=ARTICLES, seed=3)
    assert _digest(again.root) == _digest(mirror.root)
    other = generate_mirror(tmp_path / "other", portals=PORTALS, articles_per_portal=ARTICLES, seed=4)
    assert _digest(other.root) != _digest(mirror.root)


def test_registry_and_truth(mirror: MirrorInfo) -> None:
    assert mirror.hosts == [f"127.0.2.{i}" for i in range(1, PORTALS + 1)]
    assert mirror.articles == PORTALS * ARTICLES
    assert mirror.pages > mirror.articles
    registry = yaml.safe_load(mirror.registry_path.read_text(encoding="utf-8"))["portals"]
    assert [p["url"] for p in registry] == [f"http://{h}:{{PORT}}/" for h in mirror.hosts]
    for entry in registry:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", entry["id"])
        assert entry["level"] in {"province", "district", "commune", "department"}
        assert entry["profile"] == "auto" and entry["name"] and entry["province"]
    ids = {p["id"] for p in registry}
    truth = _truth(mirror)
    assert len(truth) == mirror.articles
    assert len({t["url"] for t in truth}) == len(truth)
    site = mirror.root / "site"
    for t in truth:
        assert set(t) >= {"url", "portal_id", "title", "published_at", "view_count", "body", "author", "category"}
        assert t["portal_id"] in ids
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}\+07:00)?", str(t["published_at"]))
        assert "2019" <= str(t["published_at"])[:4] <= "2026"
        assert "\u200b" not in str(t["body"]) and "&" not in str(t["title"]).replace("&amp;", "")
        assert 5 <= len(str(t["body"]).split("\n")) <= 9  # lead + 4..8 paragraphs
        url = urlsplit(str(t["url"]))
        assert url.port is None
        assert (site / str(url.hostname) / url_to_relpath(url.path, url.query)).is_file()
    # Some portals show no view counts; dates with and without a time both occur.
    assert any(t["view_count"] is None for t in truth) and any(t["view_count"] for t in truth)
    assert any("T" in str(t["published_at"]) for t in truth)
    assert any("T" not in str(t["published_at"]) for t in truth)


def test_site_furniture(mirror: MirrorInfo) -> None:
    site = mirror.root / "site"
    for host in mirror.hosts:
        assert (site / host / "robots.txt").read_text() == "User-agent: *\nDisallow: /admin/\n"
        home = (site / host / "index.html").read_text(encoding="utf-8")
        assert 'href="/admin/secret.html"' in home and "http://example.invalid/" in home
        assert "tin xem nhiều" in home.lower()
    bodies = "".join(p.read_text(encoding="utf-8") for p in (site / mirror.hosts[0]).rglob("*.aspx"))
    assert "&ocirc;" in bodies and "&nbsp;" in bodies and "\u200b" in bodies


def test_url_to_relpath() -> None:
    assert url_to_relpath("/") == "index.html"
    assert url_to_relpath("/vi/news/rss/") == "vi/news/rss/index.html"
    assert url_to_relpath("/vi/news/x") == "vi/news/x/index.html"
    assert url_to_relpath("/a/b.html") == "a/b.html"
    assert url_to_relpath("/p/Cat.aspx", "PageIndex=2") == "p/Cat.aspx__PageIndex%3D2"
    assert url_to_relpath("/n/c", "z=1&a=2") == url_to_relpath("/n/c", "a=2&z=1") == "n/c/index.html__a%3D2%26z%3D1"
    assert url_to_relpath("/c/", "page=3") == "c/index.html__page%3D3"


def test_regenerating_replaces_old_pages(tmp_path: Path) -> None:
    out = tmp_path / "mirror"
    generate_mirror(out, portals=3, articles_per_portal=5, seed=1)
    second = generate_mirror(out, portals=2, articles_per_portal=5, seed=2)
    fresh = generate_mirror(tmp_path / "fresh", portals=2, articles_per_portal=5, seed=2)
    assert not (out / "site" / "127.0.2.3").exists()
    assert _digest(second.root) == _digest(fresh.root)
    (out / "site" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError):
        generate_mirror(out, portals=1, articles_per_portal=1)
    assert (out / "site" / "notes.txt").exists()


def test_generator_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_mirror(tmp_path, portals=0)
    with pytest.raises(ValueError):
        generate_mirror(tmp_path, host_prefix="10.0.0.")


# ----------------------------------------------------------------------------- server


def test_serves_home_article_and_robots(mirror: MirrorInfo, server: MirrorServer) -> None:
    port = server.port
    status, headers, body = _get(mirror.hosts[0], port, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "Tin xem nhiều" in body.decode("utf-8")
    t = next(t for t in _truth(mirror) if str(t["url"]).startswith(f"http://{mirror.hosts[2]}/"))
    url = urlsplit(str(t["url"]))
    status, headers, body = _get(str(url.hostname), port, url.path)
    assert status == 200 and str(t["title"]) in body.decode("utf-8")
    status, headers, body = _get(mirror.hosts[1], port, "/robots.txt")
    assert status == 200 and headers["content-type"].startswith("text/plain") and b"Disallow: /admin/" in body


def test_rss_gets_the_port(mirror: MirrorInfo, server: MirrorServer) -> None:
    status, headers, body = _get(mirror.hosts[1], server.port, "/vi/news/rss/")  # the NukeViet portal
    assert status == 200 and headers["content-type"].startswith("application/rss+xml")
    assert f"http://{mirror.hosts[1]}:{server.port}/vi/news/".encode() in body and b"{PORT}" not in body


def test_paginated_listing_with_query(mirror: MirrorInfo, server: MirrorServer) -> None:
    port = server.port
    tandan, liferay = mirror.hosts[0], mirror.hosts[2]
    home = _get(tandan, port, "/")[2].decode("utf-8")
    found = None
    for cat in re.findall(r'href="(/portal/Pages/[A-Za-z-]+\.aspx)"', home):
        page1 = _get(tandan, port, cat)[2].decode("utf-8")
        m = re.search(r'href="([^"]+\?PageIndex=2)"', page1)
        if m:
            found = m.group(1)
            break
    assert found, "no paginated tandan listing"
    status, _, body = _get(tandan, port, found)
    assert status == 200 and b"Trang 2" in body
    # Liferay pagination: query order doesn't matter.
    q = "_dsnews_WAR_vnpteportalnewsportlet_"
    site_home = _get(liferay, port, "/")[2].decode("utf-8")
    cats = re.findall(r'href="(/vi/news/[a-z-]+)"', site_home)
    statuses = set()
    for cat in cats:
        statuses.add(_get(liferay, port, f"{cat}?{q}delta=10&{q}cur=2")[0])
        statuses.add(_get(liferay, port, f"{cat}?{q}cur=2&{q}delta=10")[0])
    assert 200 in statuses


def test_404_and_conditional_get(mirror: MirrorInfo, server: MirrorServer) -> None:
    port, host = server.port, mirror.hosts[3]
    assert _get(host, port, "/khong-co-trang-nay.html")[0] == 404
    assert _get(host, port, "/../../etc/passwd")[0] == 404
    headers = _get(host, port, "/")[1]
    etag, modified = headers["etag"], headers["last-modified"]
    assert _get(host, port, "/", {"If-None-Match": etag})[0] == 304
    assert _get(host, port, "/", {"If-None-Match": '"other"'})[0] == 200
    assert _get(host, port, "/", {"If-Modified-Since": modified})[0] == 304
    assert _get(host, port, "/", {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})[0] == 200


def test_stats_count_requests(mirror: MirrorInfo, server: MirrorServer) -> None:
    host = mirror.hosts[4]
    before = server.stats().get(host, {}).get("/gioi-thieu/", 0)
    for _ in range(3):
        assert _get(host, server.port, "/gioi-thieu/")[0] == 200
    assert server.stats()[host]["/gioi-thieu/"] == before + 3
    status, _, body = _get(host, server.port, "/__stats__")
    assert status == 200 and json.loads(body)[host]["/gioi-thieu/"] == before + 3


def test_binds_only_loopback(mirror: MirrorInfo, server: MirrorServer, tmp_path: Path) -> None:
    assert sorted(h for h, _ in server.addresses) == sorted(mirror.hosts)
    assert {p for _, p in server.addresses} == {server.port}
    for bad in (["0.0.0.0"], ["10.1.2.3"], ["127.0.2.1", "192.168.1.1"], ["localhost"], ["::1"]):
        with pytest.raises(ValueError):
            MirrorServer(mirror.root / "site", hosts=bad)
    (tmp_path / "site" / "8.8.8.8").mkdir(parents=True)
    with pytest.raises(ValueError):
        MirrorServer(tmp_path / "site")


def test_second_server_gets_another_port(mirror: MirrorInfo, server: MirrorServer) -> None:
    with MirrorServer(mirror.root / "site", hosts=mirror.hosts[:2]) as other:
        assert other.port != server.port
        assert _get(mirror.hosts[0], other.port, "/")[0] == 200
    taken = MirrorServer(mirror.root / "site", port=server.port, hosts=mirror.hosts[:1])
    with pytest.raises(OSError):
        taken.start()


# ----------------------------------------------------------------------------- scale


def test_more_than_254_portals_get_one_address_each_and_one_accepting_thread(tmp_path: Path) -> None:
    from crawler.mirror.generator import LAYOUTS, host_capacity, portal_host

    assert [portal_host("127.0.2.", i) for i in (0, 253, 254, 999)] == [
        "127.0.2.1", "127.0.2.254", "127.0.3.1", "127.0.5.238"]
    assert host_capacity("127.0.254.") == 2 * 254
    with pytest.raises(ValueError):
        generate_mirror(tmp_path / "full", portals=host_capacity("127.0.255.") + 1, host_prefix="127.0.255.")
    info = generate_mirror(tmp_path / "big", portals=260, articles_per_portal=1, host_prefix="127.0.10.")
    assert len(set(info.hosts)) == 260 and info.hosts[-1] == "127.0.11.6"
    registry = yaml.safe_load(info.registry_path.read_text("utf-8"))["portals"]
    assert len({p["id"] for p in registry}) == 260
    assert {str(p["id"]).split("-")[1] for p in registry} == set(LAYOUTS)
    seen: list[tuple[str, str]] = []
    running = set(threading.enumerate())  # servers of earlier tests may still be winding down
    with MirrorServer(info.root / "site", before_request=lambda host, path: seen.append((host, path))) as srv:
        accepting = [t for t in threading.enumerate() if t.name.startswith("mirror-") and t not in running]
        assert len(srv.addresses) == 260 and len(accepting) == 1  # one thread accepts on every address
        assert _get("127.0.11.6", srv.port, "/")[0] == 200
        assert _get("127.0.10.1", srv.port, "/robots.txt")[0] == 200
    assert seen == [("127.0.11.6", "/"), ("127.0.10.1", "/robots.txt")]
