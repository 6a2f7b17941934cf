"""Bad input never crashes the crawl or loses stored data.

A small loopback portal serves good articles next to a 500 page, a 404 link, a
truncated response, a binary file posing as a page and broken HTML; a second portal in
the registry is unreachable and a third entry is malformed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_crawl_corpus import FAST, run_cli

ARTICLE = """<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>{title} - Cổng thông tin điện tử xã Thử Nghiệm</title></head><body>
<div class="menu"><a href="/">Trang chủ</a> <a href="/tin-tuc.html">Tin tức</a></div>
<div class="article"><h1>{title}</h1>
<div class="meta">Ngày đăng: 0{n}/03/2025 08:1{n} | Lượt xem: 1.23{n}</div>
<p>Sáng ngày {n}/3, Ủy ban nhân dân xã Thử Nghiệm tổ chức hội nghị triển khai nhiệm vụ năm 2025 với sự tham gia
của đại diện các ban, ngành, đoàn thể và các thôn trên địa bàn xã.</p>
<p>Tại hội nghị, các đại biểu đã thảo luận, đánh giá những kết quả đạt được, chỉ ra những khó khăn, vướng mắc và
đề xuất nhiều giải pháp thiết thực trong thời gian tới nhằm hoàn thành các chỉ tiêu được giao.</p>
</div></body></html>"""

LISTING = """<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>Tin tức</title></head><body>
<h2>Tin tức</h2><ul>
<li><a href="/tin/hoi-nghi-1.html">Hội nghị số 1</a> (01/03/2025)</li>
<li><a href="/tin/hoi-nghi-2.html">Hội nghị số 2</a> (02/03/2025)</li>
<li><a href="/tin/loi-500.html">Bài lỗi máy chủ</a> (03/03/2025)</li>
<li><a href="/tin/khong-ton-tai.html">Bài đã xóa</a> (04/03/2025)</li>
<li><a href="/tin/cat-ngang.html">Bài bị cắt</a> (05/03/2025)</li>
<li><a href="/tin/nhi-phan.html">Tệp nhị phân</a> (06/03/2025)</li>
<li><a href="/tin/hong.html">Trang hỏng</a> (07/03/2025)</li>
</ul></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
              length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /admin/\n", "text/plain")
        elif path in ("/", "/tin-tuc.html"):
            self._send(200, LISTING.encode("utf-8"))
        elif path.startswith("/tin/hoi-nghi-"):
            n = path.rsplit("-", 1)[1].split(".")[0]
            self._send(200, ARTICLE.format(title=f"Hội nghị triển khai nhiệm vụ số {n}", n=n).encode("utf-8"))
        elif path == "/tin/loi-500.html":
            self._send(500, b"<h1>Internal Server Error</h1>")
        elif path == "/tin/cat-ngang.html":
            body = ARTICLE.format(title="Bài bị cắt ngang", n=5).encode("utf-8")[:300]
            self._send(200, body, length=len(body) + 5000)
            self.close_connection = True
        elif path == "/tin/nhi-phan.html":
            self._send(200, bytes(range(256)) * 20, "application/octet-stream")
        elif path == "/tin/hong.html":
            self._send(200, b"<html><body><div><p>\xff\xfe broken <<<< </div></span>")
        else:
            self._send(404, b"<h1>Not found</h1>")


@pytest.fixture(scope="module")
def bad_portal() -> Iterator[str]:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.9", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.9:{port}/"
    server.shutdown()


def registry(tmp: Path, url: str, extra: str = "") -> Path:
    dead = free_port()
    f = tmp / "portals.yaml"
    f.write_text(
        "portals:\n"
        f"  - {{id: thu-nghiem, name: Xã Thử Nghiệm, level: commune, province: Phú Yên, url: '{url}'}}\n"
        f"  - {{id: khong-toi, name: Không tới được, level: commune, province: Phú Yên, url: 'http://127.0.0.10:{dead}/'}}\n"
        + extra, "utf-8")
    return f


def test_bad_pages_are_reported_and_the_crawl_carries_on(bad_portal: str, tmp_path: Path) -> None:
    reg = registry(tmp_path, bad_portal, "  - {id: BAD ID, name: x, level: town, province: y, url: nope}\n")
    store = f"sqlite:///{tmp_path / 's.db'}"
    result = run_cli("crawl", "--portals", str(reg), "--store", store, *FAST, "-s", "RETRY_TIMES=0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "entry 3" in result.stderr and "key 'level'" in result.stderr
    assert "khong-toi" in result.stdout and "failed" in result.stdout
    cov = {r["portal_id"]: r for r in json.loads(run_cli("coverage", "--json", "--store", store).stdout)}
    assert cov["thu-nghiem"]["articles"] == 2
    assert cov["thu-nghiem"]["http_errors"].get("500") == 1
    assert cov["thu-nghiem"]["http_errors"].get("404") == 1
    assert cov["khong-toi"]["last_outcome"] == "failed"
    titles = [json.loads(line)["title"] for line in run_cli("export", "--store", store).stdout.splitlines()]
    assert sorted(titles) == ["Hội nghị triển khai nhiệm vụ số 1", "Hội nghị triển khai nhiệm vụ số 2"]


def test_a_broken_registry_keeps_what_was_stored(bad_portal: str, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    assert run_cli("crawl", "--portals", str(registry(tmp_path, bad_portal)), "--store", store, *FAST).returncode == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("portals:\n  - id: [unclosed\n", "utf-8")
    result = run_cli("crawl", "--portals", str(broken), "--store", store)
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr and "Traceback" not in result.stderr
    assert len(run_cli("export", "--store", store).stdout.splitlines()) == 2


def test_store_that_cannot_be_opened_gives_a_clear_message(tmp_path: Path, bad_portal: str) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 200)
    result = run_cli("crawl", "--portals", str(registry(tmp_path, bad_portal)), "--store", f"sqlite:///{junk}")
    assert result.returncode == 2
    assert "not a usable portalnews SQLite store" in result.stderr
