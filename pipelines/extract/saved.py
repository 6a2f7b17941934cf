"""Where a saved page came from: its URL and, when known, when it was fetched.

A page saved by a browser starts with ``<!-- saved from url=(0075)https://… -->``; one
mirrored by HTTrack carries ``<!-- Mirrored from host/path by HTTrack Website Copier/3.x
[XR&CO'2014], Mon, 02 Sep 2024 03:12:44 GMT -->`` (no scheme, ``&`` written ``&amp;``,
and the time of the copy); any page may name itself with ``<link rel="canonical">`` or
``og:url``.  Pure functions of the page text: nothing is fetched.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

__all__ = ["SavedOrigin", "saved_origin"]

_HEAD_CHARS = 4096
_SAVED_FROM = re.compile(r"<!--\s*saved\s+from\s+url=\(\d+\)\s*(\S+?)\s*-->", re.IGNORECASE)
_MIRRORED = re.compile(
    r"<!--\s*Mirrored\s+from\s+(\S+)\s+by\s+HTTrack[^,]*?\]?\s*,\s*([^<>]*?)\s*-->", re.IGNORECASE
)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


@dataclass(frozen=True)
class SavedOrigin:
    """The page's own URL (None when the page does not say) and the time it was copied."""

    url: str | None
    fetched_at: datetime | None
    source: str  # "saved from url" | "Mirrored from" | "canonical" | "og:url" | ""


def _attrs(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): html_lib.unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(tag)}


def _declared_url(text: str) -> tuple[str | None, str]:
    """``<link rel="canonical">`` first, then ``og:url`` (absolute http(s) URLs only)."""
    for tag in _LINK_TAG.findall(text):
        attrs = _attrs(tag)
        if "canonical" in attrs.get("rel", "").lower().split() and attrs.get("href", "").startswith("http"):
            return attrs["href"].strip(), "canonical"
    for tag in _META_TAG.findall(text):
        attrs = _attrs(tag)
        if attrs.get("property", attrs.get("name", "")).lower() == "og:url" and attrs.get("content", "").startswith(
            "http"
        ):
            return attrs["content"].strip(), "og:url"
    return None, ""


def saved_origin(text: str) -> SavedOrigin:
    """The URL a saved page came from: the browser's ``saved from url=`` comment, HTTrack's
    ``Mirrored from`` comment (with its copy time), else the canonical link or ``og:url``."""
    head = text[:_HEAD_CHARS]
    m = _SAVED_FROM.search(head)
    if m:
        return SavedOrigin(html_lib.unescape(m.group(1)), None, "saved from url")
    m = _MIRRORED.search(head) or _MIRRORED.search(text[:65536])
    declared, how = _declared_url(text[:65536])
    if m:
        target = html_lib.unescape(m.group(1))
        if "://" not in target:
            # HTTrack drops the scheme: take the canonical link's when it names the same host.
            scheme = "https"
            if declared:
                parts = urlsplit(declared)
                if parts.netloc.lower() == target.split("/", 1)[0].lower():
                    scheme = parts.scheme
            target = f"{scheme}://{target}"
        fetched: datetime | None
        try:
            fetched = parsedate_to_datetime(m.group(2))
        except (TypeError, ValueError, IndexError):
            fetched = None
        if fetched is not None and fetched.tzinfo is None:
            fetched = None
        return SavedOrigin(target, fetched, "Mirrored from")
    return SavedOrigin(declared, None, how)
