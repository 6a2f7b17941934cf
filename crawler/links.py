"""Link rules used by the spider: which URLs to follow, pagination detection, feeds and sitemaps.

Pure functions of URLs and page text; they never fetch.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit, urlunsplit

from lxml import etree
from scrapy.linkextractors import IGNORED_EXTENSIONS
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from w3lib.url import canonicalize_url, safe_url_string

logger = logging.getLogger(__name__)

_SKIP_EXT = frozenset("." + e for e in IGNORED_EXTENSIONS) | {".xls", ".xlsx", ".doc", ".docx", ".rar", ".zip"}
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "#", "callto:", "skype:")
# Query parameters and path forms that mean "page N of a listing" (DotNetNuke writes
# /tabid/53/Page/2/Default.aspx; ASP.NET-era portals ?tabid=53&Page=2 or ?currentpage=2).
PAGINATION_QUERY = re.compile(
    r"(^|_)(page|pageindex|pagenumber|pageno|pagenum|currentpage|trang|p|pg|cur|start|limitstart|offset|paged)$",
    re.IGNORECASE,
)
PAGINATION_PATH = re.compile(
    r"(/page[-/]?\d+/?$)|(/trang[-/]?\d+(\.html?)?$)|(/p\d+(\.html?)?$)|(/page/\d+/[^/]+\.aspx$)", re.IGNORECASE
)
# Print views of an article, in the query ("?print=1", "op=print/…", "dnnprintmode=true",
# "?tmpl=component&print=1", "view=print"): the same text again, never the article's own URL.
PRINT_QUERY = re.compile(r"(?:^|&)(?:print=(?!0|false)[^&]*|[a-z_]*printmode=true|[a-z_]+=print(?:$|[/&]))",
                         re.IGNORECASE)
# Pages that are never news: login, search, print, share, calendars.
SKIP_PATH = re.compile(
    r"(/dang-?nhap|/login|/logout|/signin|/tim-?kiem|/search|/print|/in-bai|/share|/rss\.aspx$"
    r"|/_layouts/|/webresource\.axd|/scriptresource\.axd)",
    re.IGNORECASE,
)
# Query parameters that name a session or a campaign, never a page: dropped from every link
# (a portal that adds a fresh ?sid= to each link would otherwise be an endless URL space).
NOISE_PARAM = re.compile(
    r"^(?:utm_[a-z]+|fbclid|gclid|dclid|msclkid|zarsrc|zalo_?[a-z]*|_ga|_gl|mc_cid|mc_eid|ref_?src|"
    r"sess|session|sessionid|session_id|phpsessid|jsessionid|aspsessionid\w*|cfid|cftoken|"
    r"s_?id|token|__cf_chl_[a-z_]+)$",
    re.IGNORECASE,
)
# ";jsessionid=…" style path parameters.
_PATH_SESSION = re.compile(r";(?:jsessionid|sessionid|sid|phpsessid)=[^/?#]*", re.IGNORECASE)
# A calendar: a page addressed only by day / month / year / week, endless in both directions.
_DATE_PARAMS = frozenset(("thang", "nam", "ngay", "tuan", "month", "year", "day", "week", "date", "y", "m", "d"))
_CALENDAR_PATH = re.compile(r"/(?:lich|calendar|lich-?am|am-?lich)(?:/|$|\.)", re.IGNORECASE)
# The root element of a sitemap or a sitemap index, in the first bytes of a feed.
_SITEMAP_ROOT = re.compile(rb"<(?:[\w.-]+:)?(?:urlset|sitemapindex)[\s>/]")
_XML_HEAD = 4096


# canonical, is_crawlable and is_pagination are pure functions of a URL, asked of every
# link of every page: menus and sidebars repeat the same links on each page, so they are
# memoised (measured: a tenth of the crawl process' CPU went to them).
_URL_MEMO = 16384


@lru_cache(maxsize=_URL_MEMO)
def canonical(url: str) -> str:
    return canonicalize_url(url, keep_fragments=False)


def absolutize(base: str, href: str) -> str | None:
    """Resolve ``href`` against ``base`` (session ids and tracking parameters removed, see
    :func:`clean_url`); None for non-HTTP or junk links.

    Memoised for the links menus and sidebars repeat on every page: an absolute link does not
    depend on ``base`` and a root-relative one (``/a/b``) only on its scheme and host, so those
    are resolved once per host (measured: resolving was a quarter of the spider's CPU)."""
    href = (href or "").strip()
    if not href or href.lower().startswith(_SKIP_SCHEMES):
        return None
    if href.startswith("/") and not href.startswith("//"):
        start = base.find("//")
        end = base.find("/", start + 2) if start != -1 else -1
        if end != -1:
            base = base[:end + 1]  # "scheme://host[:port]/"
    elif href.startswith(("http://", "https://")):
        base = ""
    return _resolve(base, href)


@lru_cache(maxsize=_URL_MEMO)
def _resolve(base: str, href: str) -> str | None:
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return clean_url(safe_url_string(urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))))


def clean_url(url: str) -> str:
    """``url`` without session ids and tracking parameters (``;jsessionid=``, ``?sid=``,
    ``utm_*``, ``fbclid`` …), so that one page has one URL."""
    parts = urlsplit(url)
    path = _PATH_SESSION.sub("", parts.path)
    query = parts.query
    if query:  # filter the raw pairs, so that what is kept keeps its own encoding
        pairs = [p for p in query.split("&") if p]
        kept = [p for p in pairs if not NOISE_PARAM.match(unquote(p.split("=", 1)[0]))]
        if len(kept) != len(pairs):
            query = "&".join(kept)
    if path == parts.path and query == parts.query:
        return url
    return urlunsplit((parts.scheme, parts.netloc, path or "/", query, parts.fragment))


def is_calendar(url: str) -> bool:
    """A calendar page (``/lich?thang=6&nam=2024``): only dates in the query, or a calendar path
    with a date query.  Such pages link to the next month forever and hold no news."""
    parts = urlsplit(url)
    keys = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if not keys:
        return False
    dated = keys <= _DATE_PARAMS and bool(keys & {"thang", "month", "tuan", "week", "ngay", "day", "date"})
    return dated or (bool(_CALENDAR_PATH.search(parts.path)) and bool(keys & _DATE_PARAMS))


@lru_cache(maxsize=_URL_MEMO)
def is_crawlable(url: str) -> bool:
    parts = urlsplit(url)
    path = parts.path.lower()
    dot = path.rfind(".")
    if dot != -1 and path[dot:] in _SKIP_EXT:
        return False
    if parts.query and PRINT_QUERY.search(unquote(parts.query)):
        return False
    return not SKIP_PATH.search(path) and not is_calendar(url)


# --- scope: a portal's origin ----------------------------------------------------------------
#: An origin: scheme, host (IDNA, lower case) and port (the scheme's default when none is written).
Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin | None:
    """The origin (scheme, host, port) of an http(s) URL, or None for any other URL (``file:``,
    ``ftp:``, ``javascript:``, no host, a port out of range).  The host is written as w3lib
    writes it (IDNA), so a URL and its :func:`canonical` form have one origin."""
    try:
        parts = urlsplit(safe_url_string(url.strip()))
        scheme = parts.scheme.lower()
        port = parts.port
    except (ValueError, UnicodeError):
        return None
    host = parts.hostname or ""
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def in_origin(url: str, *origins: Origin) -> bool:
    """True when ``url`` is on one of ``origins``: same scheme, host and port."""
    return origin(url) in origins


def origin_url(value: Origin) -> str:
    """``("https", "xa.gov.vn", 443)`` -> ``"https://xa.gov.vn"`` (the port only when not the default)."""
    scheme, host, port = value
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" if DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{host}:{port}"


def moved_origin(old: Origin, new: Origin) -> bool:
    """True when ``new`` is ``old`` moved the way real portals move: from http to https (port
    80 to 443) and/or between ``www.`` and the bare name, nothing else."""
    if old == new:
        return False
    if old[0] == new[0]:
        same_port = old[2] == new[2]
    else:  # only up to https, from the default port to the default port
        same_port = (old[0], new[0]) == ("http", "https") and (old[2], new[2]) == (80, 443)
    return same_port and old[1].removeprefix("www.") == new[1].removeprefix("www.")


def same_host(url: str, host: str) -> bool:
    """True when ``url`` is on ``host`` (netloc, port included; ``www.`` is ignored)."""
    netloc = urlsplit(url).netloc.lower()
    return netloc == host or netloc.removeprefix("www.") == host.removeprefix("www.")


@lru_cache(maxsize=_URL_MEMO)
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


def feed_links(feed: bytes | str) -> list[str]:
    """Page URLs named by a sitemap or an RSS feed, absolute or root-relative as some portals
    write them (resolve them against the feed's URL).  A sitemap or sitemap index is read with
    Scrapy's :class:`~scrapy.utils.sitemap.Sitemap` (its ``<loc>`` entries); a feed gives the
    text of its ``<link>`` elements.  The XML declaration chooses the encoding of the bytes."""
    data = feed.encode("utf-8") if isinstance(feed, str) else feed
    if _SITEMAP_ROOT.search(data[:_XML_HEAD]):
        try:
            return [entry["loc"] for entry in Sitemap(data) if entry.get("loc")]
        except (etree.LxmlError, StopIteration):
            return []
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    except etree.LxmlError:
        return []
    if root is None:
        return []
    found = (el.text.strip() for el in root.iter("{*}link") if el.text)
    return [url for url in found if url.startswith(("http://", "https://", "/"))]


def sitemaps_from_robots(robots: bytes | str) -> list[str]:
    """The ``Sitemap:`` values of a robots.txt as written (absolute or root-relative)."""
    return list(sitemap_urls_from_robots(robots.encode("utf-8") if isinstance(robots, str) else robots))
