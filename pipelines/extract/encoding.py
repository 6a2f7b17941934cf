"""Bytes -> text for HTML responses.

Order of precedence (as browsers do): byte-order mark, then the HTTP ``charset``, then a
``<meta charset>`` / ``<meta http-equiv="Content-Type">`` / XML declaration found in the
first bytes, then UTF-8 if the bytes are valid UTF-8, else windows-1258 (the legacy
Vietnamese code page).  The result is NFC-normalised: windows-1258 decodes tone marks
as combining characters, which NFC composes into the precomposed letters.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

logger = logging.getLogger(__name__)

__all__ = ["decode_html", "detect_declared_charset", "normalize_charset"]

_SNIFF_BYTES = 4096
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]{0,100}?encoding\s*=\s*[\"']([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG: these labels really mean windows-1252; a meta tag cannot switch to UTF-16.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "iso-8859-1": "cp1252",
        "iso8859-1": "cp1252",
        "latin1": "cp1252",
        "latin-1": "cp1252",
        "l1": "cp1252",
        "us-ascii": "cp1252",
        "ascii": "cp1252",
        "x-user-defined": "cp1252",
        "windows-1258": "cp1258",
        "x-cp1258": "cp1258",
        "vn": "cp1258",
        "unicode": "utf-8",
        "utf8": "utf-8",
    }
)


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when the label is unknown."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    key = _ALIASES.get(key, key)
    try:
        return codecs.lookup(key).name
    except LookupError:
        logger.debug("unknown charset label %r", label)
        return None


def detect_declared_charset(head: bytes) -> str | None:
    """The charset an HTML/XML document declares about itself in its first bytes."""
    head = head[:_SNIFF_BYTES]
    m = _XML_DECL.match(head) or _META_CHARSET.search(head)
    if not m:
        return None
    name = normalize_charset(m.group(1).decode("ascii", "ignore"))
    if name and name.startswith(("utf-16", "utf-32")):
        # The bytes were readable as ASCII, so they are not UTF-16 whatever the tag says.
        return "utf-8"
    return name


def _valid_multibyte_utf8(body: bytes) -> bool:
    """True when ``body`` has non-ASCII bytes and all of them form valid UTF-8: a strong sign
    of UTF-8 whatever a page declares."""
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_html(body: bytes, content_type: str | None, url: str = "") -> str:
    """Decode an HTML (or XML) response body honouring BOM, HTTP charset and meta tags.

    A declaration the bytes contradict (a page sent as UTF-8 that is not valid UTF-8, or
    one declared as a legacy code page whose bytes are valid multi-byte UTF-8) is
    overridden, with a warning naming the page and both charsets.
    """
    if not body:
        return ""
    encoding: str | None = None
    for bom, name in _BOMS:
        if body.startswith(bom):
            body = body[len(bom) :]
            encoding = name
            break
    else:
        declared_by = "HTTP header"
        if content_type:
            m = _HTTP_CHARSET.search(content_type)
            if m:
                encoding = normalize_charset(m.group(1))
        if encoding is None:
            declared_by = "page"
            encoding = detect_declared_charset(body)
        if encoding is not None and encoding != "utf-8" and _valid_multibyte_utf8(body):
            logger.warning("%s: the %s declares %s but the bytes are UTF-8; decoding as UTF-8",
                           url or "page", declared_by, encoding)
            encoding = "utf-8"
        elif encoding == "utf-8" and not body.isascii() and not _valid_multibyte_utf8(body):
            fallback = detect_declared_charset(body) if declared_by == "HTTP header" else None
            fallback = fallback if fallback and fallback != "utf-8" else "cp1258"
            logger.warning("%s: the %s declares UTF-8 but the bytes are not UTF-8; decoding as %s",
                           url or "page", declared_by, fallback)
            encoding = fallback
    if encoding is None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("cp1258", errors="replace")
    else:
        text = body.decode(encoding, errors="replace")
    return unicodedata.normalize("NFC", text)
