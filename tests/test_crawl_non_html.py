"""Responses that are not HTML never break the spider (issue 10, defect 9).

An open-data portal, served on loopback, links JSON, CSV and XLSX downloads (and a PDF, a
ZIP and an image, under URLs without a file extension, as download endpoints write them)
from every dataset page.  One crawl must record each download as a non-article by its
content type, never run XPath on it, and count no spider error, no failed page and no
ERROR log line; the dataset pages themselves are crawled as usual.  A file is not downloaded
past its headers, so one larger than ``DOWNLOAD_MAXSIZE`` is not a failed download either.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import loopback_server
from tests.scheduling import FAST, run_cli

HOST = "127.0.0.41"
DATASETS = 3
MAXSIZE = 1500
# format -> (content type, body)
DOWNLOADS: dict[str, tuple[str, bytes]] = {
    "json": ("application/json; charset=utf-8",
             json.dumps({"result": [{"xa": "Sơn Hòa", "dan_so": 1234}], "html": "<a href='/x'>x</a>"}).encode()),
    "csv": ("text/csv; charset=utf-8", "xa,dan_so\nSơn Hòa,1234\n=HYPERLINK(\"http://x\"),1\n".encode()),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04" + b"\x00" * 2000),
    "pdf": ("application/pdf", b"%PDF-1.4\n" + b"\x00" * 2000),
    "zip": ("application/zip", b"PK\x03\x04" + b"\x01" * 2000),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 500),
    "geojson": ("application/geo+json", b'{"type": "FeatureCollection", "features": []}'),
}


def _page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body><h1>{title}</h1>{body}</body></html>").encode()


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[Counter[str]] = Counter()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        _Handler.hits[self.path] += 1
        if self.path == "/robots.txt":
            self._send(b"User-agent: *\n", "text/plain")
        elif self.path == "/":
            links = "".join(f"<li><a href=\"/du-lieu/{i}\">Bộ dữ liệu {i}</a></li>" for i in range(1, DATASETS + 1))
            self._send(_page("Cổng dữ liệu mở", f"<ul>{links}</ul>"))
        elif self.path.startswith("/du-lieu/") and "/tai-ve" not in self.path:
            n = self.path.rsplit("/", 1)[1]
            links = "".join(f"<a href=\"/du-lieu/{n}/tai-ve?dinh-dang={fmt}\">Tải {fmt.upper()}</a> "
                            for fmt in DOWNLOADS)
            self._send(_page(f"Bộ dữ liệu dân số {n}", f"<p>Dân số các xã năm 2025.</p>{links}"))
        elif "/tai-ve?dinh-dang=" in self.path:
            content_type, body = DOWNLOADS[self.path.rsplit("=", 1)[1]]
            self._send(body, content_type)
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with loopback_server(HOST, _Handler) as port:
        yield port


def test_downloads_are_non_articles_by_content_type_and_never_errors(server: int, tmp_path: Path) -> None:
    registry = tmp_path / "portals.yaml"
    registry.write_text(f"portals:\n  - {{id: du-lieu-mo, name: Cổng dữ liệu mở, level: province, "
                        f"province: Phú Yên, url: 'http://{HOST}:{server}/'}}\n", "utf-8")
    stats_file = tmp_path / "stats.json"
    _Handler.hits.clear()
    result = run_cli("crawl", "--portals", str(registry), "--store", f"sqlite:///{tmp_path / 's.db'}",
                     "--stats-file", str(stats_file), *FAST, "-s", "RETRY_TIMES=0",
                     # the spreadsheet, the PDF and the archive are larger than this: a file is not
                     # downloaded past its headers, so its size never makes it fail
                     "-s", f"DOWNLOAD_MAXSIZE={MAXSIZE}")
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads(stats_file.read_text("utf-8"))
    downloads = {p for p in _Handler.hits if "/tai-ve?" in p}
    assert len(downloads) == DATASETS * len(DOWNLOADS), sorted(_Handler.hits)  # they were fetched
    assert not {k: v for k, v in stats.items() if k.startswith("spider_exceptions")}, stats
    assert stats.get("log_count/ERROR", 0) == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    summary = stats["portalnews/summary"][0]
    assert summary["errors"] == 0 and summary["outcome"] == "ok", summary
    with sqlite3.connect(tmp_path / "s.db") as db:
        pages = {url: (kind, reason) for url, kind, reason in db.execute("SELECT url, kind, reason FROM pages")}
    for fmt, (content_type, _body) in DOWNLOADS.items():
        for n in range(1, DATASETS + 1):
            kind, reason = pages[f"http://{HOST}:{server}/du-lieu/{n}/tai-ve?dinh-dang={fmt}"]
            assert kind == "other", (fmt, kind, reason)
            assert content_type.split(";")[0] in reason, (fmt, reason)
    assert pages[f"http://{HOST}:{server}/du-lieu/1"][0] in {"article", "listing", "other", "rejected"}
    assert stats.get("portalnews/not_html/du-lieu-mo") == DATASETS * len(DOWNLOADS)
    assert all(len(body) < MAXSIZE for _t, body in (DOWNLOADS["json"], DOWNLOADS["csv"]))
    assert all(len(body) > MAXSIZE for _t, body in (DOWNLOADS["xlsx"], DOWNLOADS["pdf"], DOWNLOADS["zip"]))
