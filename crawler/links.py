"""Link rules used by the spider: which URLs to follow, pagination detection, feeds.

Pure functions of URLs and page text; they never fetch.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from scrapy.linkextractors import IGNORED_EXTENSIONS
from w3lib.url import canonicalize_url, safe_url_string

logger = logging.getLogger(__name__)

_SKIP_EXT = frozenset("." + e for e in IGNORED_EXTENSIONS) | {".xls", ".xlsx", ".doc", ".docx", ".rar", ".zip"}
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "#", "callto:", "skype:")
# Query parameters and path forms that mean "page N of a listing".
PAGINATION_QUERY = re.compile(r"(^|_)(page|pageindex|trang|p|pg|cur|start|offset|paged)$", re.IGNORECASE)
PAGINATION_PATH = re.compile(r"(/page[-/]?\d+/?$)|(/trang[-/]?\d+(\.html?)?$)|(/p\d+(\.html?)?$)", re.IGNORECASE)
# Pages that are never news: login, search, print, share, calendars.
SKIP_PATH = re.compile(
    r"(/dang-?nhap|/login|/logout|/signin|/tim-?kiem|/search|/print|/in-bai|/share|/rss\.aspx$"
    r"|/_layouts/|/webresource\.axd|/scriptresource\.axd)",
    re.IGNORECASE,
)
_FEED_LINK = re.compile(r"<(?:link|loc)>\s*(?:<!\[CDATA\[)?\s*(https?://[^<\s\]]+)", re.IGNORECASE)


def canonical(url: str) -> str:
    return canonicalize_url(url, keep_fragments=False)


def absolutize(base: str, href: str) -> str | None:
    """Resolve ``href`` against ``base``; None for non-HTTP or junk links."""
    href = (href or "").strip()
    if not href or href.lower().startswith(_SKIP_SCHEMES):
        return None
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return safe_url_string(urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, "")))


def is_crawlable(url: str) -> bool:
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    if dot != -1 and path[dot:] in _SKIP_EXT:
        return False
    return not SKIP_PATH.search(path)


def same_host(url: str, host: str) -> bool:
    """True when ``url`` is on ``host`` (netloc, port included; ``www.`` is ignored)."""
    netloc = urlsplit(url).netloc.lower()
    return netloc == host or netloc.removeprefix("www.") == host.removeprefix("www.")


def is_pagination(url: str) -> bool:
    """True when the URL looks like page N of a listing (query or path pagination)."""
    parts = urlsplit(url)
    if PAGINATION_PATH.search(parts.path):
        return True
    return any(PAGINATION_QUERY.search(k) and v.isdigit() for k, v in parse_qsl(parts.query))


def looks_like_feed(url: str, content_type: str = "") -> bool:
    ct = content_type.lower()
    if "rss" in ct or "atom" in ct or ("xml" in ct and "html" not in ct):
        return True
    path = urlsplit(url).path.lower()
    return path.endswith((".rss", ".xml", "/rss", "/rss/", "/feed", "/feed/"))


def feed_links(text: str) -> list[str]:
    """Article/page URLs named by an RSS/Atom feed or a sitemap."""
    return [m.group(1).strip() for m in _FEED_LINK.finditer(text)]


def sitemaps_from_robots(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            out.append(value.strip())
    return out
