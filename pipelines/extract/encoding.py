"""Bytes -> text for HTML responses.

Order of precedence (as browsers do): byte-order mark, then the HTTP ``charset``, then a
``<meta charset>`` / ``<meta http-equiv="Content-Type">`` / XML declaration found in the
first bytes, then the bytes themselves: UTF-8 when they are overwhelmingly UTF-8, else
windows-1258 (the legacy Vietnamese code page).  The declarations are read with
``w3lib.encoding`` (``read_bom``, ``http_content_type_encoding``,
``html_body_declared_encoding``, ``resolve_encoding``): it skips comments, stops at
``<body>``, maps labels as the WHATWG Encoding Standard does and refuses UTF-7, which could
turn inert text into markup.  What w3lib does not do is doubt a declaration; this module
does, and overrides, with a warning naming the page and both charsets:

* a page declared in a legacy code page whose bytes are (overwhelmingly) UTF-8 is UTF-8;
* a page declared UTF-8 whose bytes are not is decoded with its meta tag's charset, or
  windows-1258.

"Overwhelmingly UTF-8": at least 95 % of the non-ASCII characters are valid UTF-8 and
there are at least 20 of them.  A UTF-8 page with a few bad bytes (a paste from a legacy
editor) then stays UTF-8 with those bytes replaced by U+FFFD instead of being read whole
as windows-1258 ("ThĂ´ng bĂ¡o"); :func:`decode_page` says how many were replaced, and the
spider counts the page in ``portalnews/decode_replaced/<portal>``.  windows-1258 text is
never mistaken for it: its tone marks and letters (bytes 0xC0-0xFF) are followed by ASCII
letters, which is never valid UTF-8.

The result is NFC-normalised: windows-1258 decodes tone marks as combining characters,
which NFC composes into the precomposed letters.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom, resolve_encoding

logger = logging.getLogger(__name__)

__all__ = ["DecodedPage", "decode_html", "decode_page", "detect_declared_charset", "normalize_charset"]

_SNIFF_BYTES = 4096
#: Share of the non-ASCII characters that must be valid UTF-8 for bytes to count as UTF-8.
UTF8_SHARE = 0.95
#: ... and how many valid ones at least (fewer say too little to overrule anything).
UTF8_MIN_CHARS = 20
LEGACY = "cp1258"
# Labels w3lib does not know, or maps differently from what Vietnamese portals mean by them.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "x-cp1258": "windows-1258",
        "vn": "windows-1258",
        "unicode": "utf-8",
    }
)
_ASCII = bytes(range(128))


@dataclass(frozen=True)
class DecodedPage:
    """A decoded page: its text (NFC), the charset used, and how many invalid byte sequences
    (one bad byte each, usually) were replaced by U+FFFD."""

    text: str
    encoding: str
    replaced: int = 0


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when the label is unknown (or UTF-7)."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    name = resolve_encoding(_ALIASES.get(key, key))
    if name is None:
        logger.debug("unknown charset label %r", label)
    return name


def detect_declared_charset(head: bytes) -> str | None:
    """The charset an HTML/XML document declares about itself in its first bytes."""
    label = html_body_declared_encoding(head[:_SNIFF_BYTES])
    name = normalize_charset(label)
    if name and name.startswith(("utf-16", "utf-32")):
        # The bytes were readable as ASCII, so they are not UTF-16 whatever the tag says.
        return "utf-8"
    return name


def _http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    name = http_content_type_encoding(content_type)
    return normalize_charset(name) if name else None


class _Utf8:
    """The body read as UTF-8 once (invalid sequences replaced): how many non-ASCII characters
    are valid and how many sequences were not.  C-speed string operations only: the body is
    decoded once, and ASCII bytes (which are never part of an invalid sequence) are counted
    with ``bytes.translate``."""

    def __init__(self, body: bytes) -> None:
        self.ascii = body.isascii()
        if self.ascii:
            self.text, self.invalid, self.valid = "", 0, 0
            return
        self.text = body.decode("utf-8", errors="replace")
        self.invalid = self.text.count("\ufffd")
        ascii_bytes = len(body) - len(body.translate(None, _ASCII))
        self.valid = len(self.text) - ascii_bytes - self.invalid

    @property
    def is_utf8(self) -> bool:
        """Valid multi-byte UTF-8, or overwhelmingly so (see the module docstring)."""
        if self.ascii or self.valid <= 0:
            return False
        if self.invalid == 0:
            return True
        return self.valid >= UTF8_MIN_CHARS and self.valid >= UTF8_SHARE * (self.valid + self.invalid)


def decode_page(body: bytes, content_type: str | None, url: str = "") -> DecodedPage:
    """Decode an HTML (or XML) response body honouring BOM, HTTP charset and meta tags, and
    overriding a declaration the bytes contradict (see the module docstring)."""
    if not body:
        return DecodedPage("", "utf-8")
    bom_encoding, bom = read_bom(body)
    if bom_encoding is not None and bom is not None:
        text = body[len(bom):].decode(bom_encoding, errors="replace")
        return DecodedPage(unicodedata.normalize("NFC", text), bom_encoding, text.count("\ufffd"))
    declared_by = "HTTP header"
    encoding = _http_charset(content_type)
    if encoding is None:
        declared_by = "page"
        encoding = detect_declared_charset(body)
    utf8 = _Utf8(body)
    if encoding is None:
        encoding = "utf-8" if utf8.ascii or utf8.is_utf8 else LEGACY
    elif encoding != "utf-8" and utf8.is_utf8:
        logger.warning("%s: the %s declares %s but the bytes are UTF-8; decoding as UTF-8",
                       url or "page", declared_by, encoding)
        encoding = "utf-8"
    elif encoding == "utf-8" and not utf8.ascii and not utf8.is_utf8:
        fallback = detect_declared_charset(body) if declared_by == "HTTP header" else None
        fallback = fallback if fallback and fallback != "utf-8" else LEGACY
        logger.warning("%s: the %s declares UTF-8 but the bytes are not UTF-8; decoding as %s",
                       url or "page", declared_by, fallback)
        encoding = fallback
    if encoding == "utf-8":
        text, replaced = (body.decode("ascii"), 0) if utf8.ascii else (utf8.text, utf8.invalid)
        if replaced:
            logger.info("%s: %d invalid UTF-8 sequence(s) replaced", url or "page", replaced)
    else:
        text = body.decode(encoding, errors="replace")
        replaced = text.count("\ufffd")
    return DecodedPage(unicodedata.normalize("NFC", text), encoding, replaced)


def decode_html(body: bytes, content_type: str | None, url: str = "") -> str:
    """The text of :func:`decode_page`."""
    return decode_page(body, content_type, url).text
