"""One crawl of the bundled mirror, watched from both ends: the loopback server counts the
requests it answers, and the crawl process (``scrapy crawl portal``, through
``tests/crawl_spy.py``) counts its store opens and its page decodings.

A crawl opens its store once and closes it once, fetches robots.txt once per host (and still
follows the ``Sitemap:`` lines in it), and decodes each HTML page once, with the project's
decoder only.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawler.middlewares.decoding import DecodeOnceMiddleware
from crawler.mirror import MirrorServer, generate_mirror
from crawler.mirror.server import content_type
from pipelines.extract import decode_html
from tests.conftest import ROOT
from tests.test_extract_encoding import to_cp1258

SITEMAP = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
           "<url><loc>/chi-co-trong-sitemap.html</loc></url></urlset>\n")
ORPHAN = ('<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>Thông báo</title></head>'
          "<body><h1>Thông báo lịch tiếp công dân</h1><p>Trang này chỉ có trong sitemap.</p></body></html>")


def test_one_store_robots_once_per_host_and_each_page_decoded_once(tmp_path: Path) -> None:
    info = generate_mirror(tmp_path / "mirror", portals=5, articles_per_portal=6, seed=5)
    site = info.root / "site"
    hosts = sorted(p.name for p in site.iterdir())
    # one host's robots.txt names a sitemap (root-relative) listing a page nothing links to
    robots = site / hosts[0] / "robots.txt"
    robots.write_text(robots.read_text("utf-8") + "Sitemap: /sitemap-rieng.xml\n", "utf-8")
    (site / hosts[0] / "sitemap-rieng.xml").write_text(SITEMAP, "utf-8")
    (site / hosts[0] / "chi-co-trong-sitemap.html").write_text(ORPHAN, "utf-8")
    db = tmp_path / "crawl.db"
    out = tmp_path / "spy.json"
    with MirrorServer(site) as server:
        run = subprocess.run(
            [sys.executable, "-m", "tests.crawl_spy", str(out), "crawl", "portal",
             "-a", f"portals={info.registry_path}", "-a", f"store=sqlite:///{db}", "-a", f"vars=PORT={server.port}",
             "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=INFO"],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        served = server.stats()
    assert run.returncode == 0, run.stderr[-3000:]
    spy = json.loads(out.read_text("utf-8"))
    counts, decoded = spy["counts"], spy["decoded_urls"]
    assert counts.get("exit_code", 0) == 0, run.stderr[-3000:]

    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    assert stored == sum(1 for _ in info.truth_path.open(encoding="utf-8"))  # the crawl did its job

    # one store for the whole crawl: opened once, closed once
    assert (counts.get("store_open"), counts.get("store_close")) == (1, 1)

    # robots.txt once per host, and its Sitemap line still followed
    assert {host: paths.get("/robots.txt") for host, paths in served.items()} == dict.fromkeys(hosts, 1)
    assert served[hosts[0]].get("/sitemap-rieng.xml") == 1
    assert served[hosts[0]].get("/chi-co-trong-sitemap.html") == 1

    # each HTML page the server answered decoded once, by decode_page; Scrapy's decoder never ran
    html_pages = {f"http://{host}:{server.port}{path}" for host, paths in served.items() for path in paths
                  if content_type(urlsplit(path).path).startswith("text/html")}
    assert counts.get("scrapy_decode", 0) == 0
    assert decoded == dict.fromkeys(html_pages, 1)


def test_the_one_decoding_is_the_projects_and_scrapy_reads_it() -> None:
    """A windows-1258 page declared only in a <meta> tag: the text Scrapy's selectors and its
    meta-refresh check read is decode_html's (NFC Vietnamese), and a refresh still redirects."""
    title = "Ủy ban nhân dân xã Hòa Bình"
    page = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1258">'
            f"<title>{title}</title></head><body><h1>{title}</h1></body></html>")
    body = to_cp1258(page)  # tone marks as combining characters
    decoding = DecodeOnceMiddleware()
    request = Request("http://127.0.0.1/tin.html")
    response = decoding.process_response(request, HtmlResponse(request.url, body=body, request=request,
                                                               headers={"Content-Type": "text/html"}))
    assert isinstance(response, HtmlResponse)
    assert response.text == decode_html(body, "text/html", request.url)
    assert response.xpath("//h1/text()").get() == title  # NFC, as the pipelines see it
    assert response.encoding == "cp1258"

    refresh = page.replace("</head>", '<meta http-equiv="refresh" content="0; url=/trang-chu.html"></head>')
    redirected = MetaRefreshMiddleware.from_crawler(get_crawler()).process_response(
        request, decoding.process_response(request, HtmlResponse(
            request.url, body=to_cp1258(refresh), request=request,
            headers={"Content-Type": "text/html"})))
    assert isinstance(redirected, Request) and redirected.url == "http://127.0.0.1/trang-chu.html"
