"""Bytes -> text: HTTP charset, BOM, meta tags (windows-1258 included), NFC."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

import pytest

from pipelines.extract import decode_html

PAGES = Path(__file__).parent / "fixtures" / "pages"
TONES = "\u0300\u0301\u0303\u0309\u0323"


def to_cp1258(text: str) -> bytes:
    """Encode like legacy Vietnamese pages: precomposed vowel + combining tone mark."""
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONES))
            out += base.encode("cp1258") + "".join(c for c in parts if c in TONES).encode("cp1258")
    return out


def test_windows_1258_declared_only_in_meta_decodes_to_vietnamese() -> None:
    raw = (PAGES / "nukeviet_2.html").read_bytes()
    with_meta = raw.lower()
    assert b"charset=windows-1258" in with_meta
    text = decode_html(raw, "text/html")  # the server sends no charset
    assert "Cam Thành" in text
    assert "Trang thông tin điện tử xã Cam Thành" in text
    assert unicodedata.is_normalized("NFC", text)


def test_http_charset_wins_over_meta() -> None:
    body = '<html><head><meta charset="windows-1258"></head><body>Cổng thông tin</body></html>'.encode()
    assert "Cổng thông tin" in decode_html(body, "text/html; charset=UTF-8")


def test_bom_wins() -> None:
    body = codecs.BOM_UTF8 + "<p>Xã Đồng Tiến</p>".encode()
    assert decode_html(body, "text/html; charset=iso-8859-1") == "<p>Xã Đồng Tiến</p>"
    utf16 = codecs.BOM_UTF16_LE + "<p>Huyện</p>".encode("utf-16-le")
    assert decode_html(utf16, None) == "<p>Huyện</p>"


def test_meta_http_equiv_with_attributes_in_any_order() -> None:
    text = "<html><head><meta content='text/html; charset=windows-1258' http-equiv='Content-Type'></head>"
    body = to_cp1258(text + "<body>Thành phố</body></html>")
    assert "Thành phố" in decode_html(body, None)


def test_undeclared_utf8_and_legacy_bytes() -> None:
    assert decode_html("<p>Tỉnh Sóc Trăng</p>".encode(), None) == "<p>Tỉnh Sóc Trăng</p>"
    legacy = to_cp1258("<p>Cam Thành phố</p>")
    assert decode_html(legacy, None) == "<p>Cam Thành phố</p>"


def test_a_wrong_charset_declaration_is_overridden_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    text = "<html><head><title>Hội nghị Cam Thành</title></head><body>Đồng Tiến</body></html>"
    with caplog.at_level("WARNING"):
        assert "Hội nghị Cam Thành" in decode_html(text.encode("utf-8"), "text/html; charset=windows-1258",
                                                   "http://127.0.0.1/a.html")
    assert "declares cp1258 but the bytes are UTF-8" in caplog.text and "http://127.0.0.1/a.html" in caplog.text
    legacy = "<html><head><title>Cam Thành</title></head><body>Thành phô</body></html>".encode("cp1258")
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert "Cam Thành" in decode_html(legacy, "text/html; charset=utf-8")
    assert "declares UTF-8 but the bytes are not UTF-8" in caplog.text
