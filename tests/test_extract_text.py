"""Text normalisation: what a user sees in titles and bodies."""

from __future__ import annotations

import unicodedata

from pipelines.normalize.text import normalize_paragraphs, normalize_text, text_key


def test_nfd_input_gives_nfc_output() -> None:
    nfd = unicodedata.normalize("NFD", "Cổng thông tin điện tử xã Cam Thành")
    assert nfd != "Cổng thông tin điện tử xã Cam Thành"
    out = normalize_text(nfd)
    assert out == "Cổng thông tin điện tử xã Cam Thành"
    assert unicodedata.is_normalized("NFC", out)


def test_named_entities_are_decoded() -> None:
    assert normalize_text("c&ocirc;ng t&aacute;c ph&ograve;ng, ch&oacute;ng") == "công tác phòng, chóng"
    assert normalize_text("VH-TT&amp;TT") == "VH-TT&TT"
    # Text that already came out of a parser keeps a literal ampersand.
    assert normalize_text("R&D &amp; more", decode_entities=False) == "R&D &amp; more"


def test_nbsp_zero_width_and_whitespace() -> None:
    raw = "\u00a0\u00a0Nhằm\u200b đẩy\u00a0mạnh\u200c\u200d\ufeff   ứng\u2060 dụng\t\n"
    assert normalize_text(raw) == "Nhằm đẩy mạnh ứng dụng"


def test_paragraphs_are_newline_separated_and_empty_ones_dropped() -> None:
    text = "  Đoạn   một.\n\n\u00a0\n Đoạn\u00a0hai. \n\u200b\n"
    assert normalize_paragraphs(text) == "Đoạn một.\nĐoạn hai."
    assert normalize_paragraphs(["A  b", "", "\u00a0", "c"]) == "A b\nc"


def test_text_key_ignores_case_and_punctuation() -> None:
    assert text_key("TIN TỨC - SỰ KIỆN") == text_key("Tin tức – sự kiện")
