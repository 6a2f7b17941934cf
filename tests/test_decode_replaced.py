"""A few bad bytes do not ruin a page (issue 10, defect 6).

A UTF-8 page with three invalid bytes used to be decoded entirely as windows-1258
("ThĂ´ng bĂ¡o").  A page that is overwhelmingly valid UTF-8 is UTF-8, its bad bytes are
replaced and counted (``portalnews/decode_replaced/<portal>`` in the crawl stats), and a
windows-1258 page that declares itself only in a meta tag still decodes as windows-1258.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from pipelines.extract.encoding import decode_html, decode_page
from tests.conftest import loopback_server
from tests.scheduling import FAST, run_cli
from tests.test_extract_encoding import to_cp1258

PAGES = Path(__file__).parent / "fixtures" / "pages"

ARTICLE = """<!DOCTYPE html><html lang="vi"><head>{meta}<title>Thông báo tuyển dụng viên chức năm 2025</title></head>
<body><div class="menu"><a href="/">Trang chủ</a></div>
<div class="article"><h1>Thông báo tuyển dụng viên chức năm 2025</h1>
<div class="meta">Ngày đăng: 05/03/2025 08:15 | Lượt xem: 1.234</div>
<p>Ủy ban nhân dân huyện thông báo tuyển dụng viên chức làm việc tại các đơn vị sự nghiệp công lập thuộc
huyện năm 2025. Người dự tuyển nộp hồ sơ tại Phòng Nội vụ huyện trong giờ hành chính.</p>
<p>Thời gian nhận hồ sơ từ ngày 10/3/2025 đến hết ngày 10/4/2025. Mọi chi tiết xin liên hệ Phòng Nội vụ
huyện để được hướng dẫn.BAD</p></div></body></html>"""


def page(meta: str = "", bad: bytes = b"\xff\xc3(\xa0") -> bytes:
    """The article in UTF-8 with ``bad`` (three invalid bytes by default) pasted into its body."""
    return ARTICLE.format(meta=meta).encode("utf-8").replace(b"BAD", bad)


@pytest.mark.parametrize(("content_type", "meta"), [
    (None, ""),
    ("text/html; charset=utf-8", ""),
    ("text/html", '<meta charset="utf-8">'),
    ("text/html", '<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">'),
])
def test_an_overwhelmingly_utf8_page_stays_utf8_with_its_bad_bytes_replaced(content_type: str | None,
                                                                           meta: str) -> None:
    decoded = decode_page(page(meta), content_type, "http://127.0.0.1/a.html")
    assert decoded.encoding == "utf-8"
    assert "Thông báo tuyển dụng viên chức" in decoded.text and "ThĂ´ng" not in decoded.text
    assert decoded.replaced == 3
    assert decoded.text.count("\ufffd") == 3
    assert decode_html(page(meta), content_type) == decoded.text


def test_windows_1258_declared_only_in_a_meta_tag_still_decodes() -> None:
    raw = (PAGES / "nukeviet_2.html").read_bytes()
    decoded = decode_page(raw, "text/html")
    assert decoded.encoding == "cp1258" and decoded.replaced == 0
    assert "Trang thông tin điện tử xã Cam Thành" in decoded.text


def test_legacy_bytes_are_not_mistaken_for_utf8() -> None:
    text = ARTICLE.format(meta="").replace("BAD", "")
    legacy = to_cp1258(text)
    decoded = decode_page(legacy, "text/html; charset=utf-8")  # a wrong header
    assert decoded.encoding == "cp1258"
    assert "Thông báo tuyển dụng" in decoded.text


def test_utf7_is_never_honoured() -> None:
    """UTF-7 spells "<" as "+ADw-": a page that declares it could turn inert text into markup."""
    body = b'<html><head><meta charset="utf-7"></head><body><p>+ADw-script+AD4-alert(1)+ADw-/script+AD4-</p></body></html>'
    assert "<script>" not in decode_html(body, None)
    assert "<script>" not in decode_html(body, "text/html; charset=utf-7")


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/":
            body = b'<html><body><a href="/tin/1.html">1</a> <a href="/tin/2.html">2</a></body></html>'
        elif self.path == "/tin/1.html":
            body = page()
        elif self.path == "/tin/2.html":
            body = page(bad=b"").replace("tuyển dụng viên chức".encode(), "tuyển sinh vào lớp 10".encode())
        else:
            body = b"User-agent: *\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def portal() -> Iterator[str]:
    with loopback_server("127.0.0.34", _Handler) as port:
        yield f"http://127.0.0.34:{port}/"


def test_the_crawl_counts_pages_with_replaced_bytes(portal: str, tmp_path: Path) -> None:
    registry = tmp_path / "portals.yaml"
    registry.write_text(f"portals:\n  - {{id: hong-byte, name: X, level: district, province: P, url: '{portal}'}}\n",
                        "utf-8")
    store = f"sqlite:///{tmp_path / 's.db'}"
    result = run_cli("crawl", "--portals", str(registry), "--store", store, "--stats-file",
                     str(tmp_path / "stats.json"), *FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads((tmp_path / "stats.json").read_text("utf-8"))
    assert stats.get("portalnews/decode_replaced/hong-byte") == 1  # one page of the two
    titles = sorted(json.loads(line)["title"] for line in run_cli("export", "--store", store).stdout.splitlines())
    assert titles == ["Thông báo tuyển dụng viên chức năm 2025", "Thông báo tuyển sinh vào lớp 10 năm 2025"]
