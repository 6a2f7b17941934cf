"""The ``portal`` spider: navigates every portal in the registry from its home page.

It only navigates: it follows same-host links, listings and their pagination, RSS
feeds and sitemaps (those named by robots.txt too: Scrapy's robots middleware fetches it
once per host and hands its ``Sitemap:`` lines over, see :mod:`crawler.middlewares.robots`),
and hands every fetched (or failed) page to the item pipelines as a
:class:`pipelines.model.items.PageItem`.  Extraction, classification and storage happen in
the pipelines.  An HTML page's text is the one decoding :mod:`crawler.middlewares.decoding`
made of it; a feed is read from its bytes.

Incremental crawls: the URLs recorded by earlier crawls (with the kind the pipelines
gave them) are read from the crawl's store (:class:`pipelines.storage.extension.StoreExtension`)
once, when the crawl starts, before the storage stage records this crawl's runs.  Known
articles and static pages are not fetched again; known listing pages are fetched again
only from the home page, or from a listing that still showed something new, so
pagination stops at known articles.

Recrawl policy: stored articles published less than ``PORTALNEWS_RECRAWL_DAYS`` (14)
ago are requested again (role ``recrawl``) when their refresh is due, on the decaying
schedule of :func:`crawler.scheduling.intervals.recrawl_due`: every clamp(age / 4, 1 h, 3 d)
(``PORTALNEWS_RECRAWL_MIN_INTERVAL`` / ``_MAX_INTERVAL``).  Each fetch adds a
``(time, views)`` observation to the article's history in the store.  ``PORTALNEWS_NOW``
(ISO 8601) replaces the clock of that policy, for tests.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Headers, HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.httpobj import urlparse_cached
from twisted.python.failure import Failure

from crawler import links
from crawler.middlewares.private_hosts import ALLOW_VARIABLE, allow_private_hosts
from crawler.middlewares.scope import LeftOrigin, OriginScope, RedirectLoop
from crawler.registry import Portal, RegistryError, load_registry
from crawler.scheduling.intervals import (
    RECRAWL_DAYS,
    RECRAWL_MAX_INTERVAL,
    RECRAWL_MIN_INTERVAL,
    parse_duration,
    parse_time,
    recrawl_due,
    recrawl_since,
)
from pipelines.model.items import PageItem
from pipelines.model.kinds import FINAL_KINDS, PageKind, PageRole, RunOutcome
from pipelines.storage import Store, StoreError
from pipelines.storage.base import now_iso
from pipelines.storage.extension import crawl_store

logger = logging.getLogger(__name__)

# Listing pages in a row that bring no new link before their pagination is no longer followed.
BARREN_PAGES = 3
# Media types parsed as pages; XML ones are feeds or sitemaps (links.looks_like_feed).
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Media types whose body decides (Scrapy sniffs it): a misconfigured server sends HTML as these.
SNIFFED_TYPES = frozenset({"", "text/plain", "application/octet-stream", "binary/octet-stream"})
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]",
                         re.IGNORECASE | re.DOTALL)


def media_type(content_type: str) -> str:
    """``"text/html; charset=utf-8"`` -> ``"text/html"``."""
    return content_type.split(";", 1)[0].strip().lower()


def may_be_page(content_type: str) -> bool:
    """Whether a response with this Content-Type can be an HTML page, a feed or a sitemap;
    anything else (JSON, CSV, spreadsheets, PDF, images, archives) is a file."""
    media = media_type(content_type)
    # XML: text/xml, application/xml, application/rss+xml …; not the Office "openxmlformats" files
    return media in HTML_TYPES or media in SNIFFED_TYPES or media.endswith(("/xml", "+xml"))


def is_html(response: Response) -> bool:
    """An HTML page: declared as HTML, or sent as plain text / without a type and starting like HTML."""
    if isinstance(response, HtmlResponse):
        return True
    content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
    return media_type(content_type) in SNIFFED_TYPES and bool(_HTML_START.match(response.body[:1024]))


def parse_vars(value: str | dict[str, str] | None) -> dict[str, str]:
    """``"PORT=18080,HOST=x"`` -> mapping, used to fill ``{NAME}`` placeholders in URLs."""
    if not value:
        return {}
    if isinstance(value, dict):
        return dict(value)
    out = {}
    for part in value.split(","):
        name, sep, val = part.partition("=")
        if sep and name.strip():
            out[name.strip()] = val.strip()
    return out


class PortalSpider(Spider):
    name = "portal"

    def __init__(self, portals: str | None = None, portal: str | None = None, store: str | None = None,
                 full: str | bool = False, vars: str | dict[str, str] | None = None,
                 registry_checked: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry_path = portals
        self.portal_ids = [p for p in (portal or "").split(",") if p] if isinstance(portal, str) else list(portal or [])
        self.store_url = store  # -a store=URL: becomes PORTALNEWS_STORE (from_crawler)
        self.full = str(full).lower() in {"1", "true", "yes"} if not isinstance(full, bool) else full
        self.url_vars = parse_vars(vars)
        self.registry_checked = registry_checked
        self.portals: list[Portal] = []
        self.registry_problems: list[str] = []
        #: each portal's origin for this crawl (crawler.middlewares.scope keeps requests in it)
        self.scope = OriginScope([])
        self._known: dict[str, dict[str, str]] = {}
        self._scheduled: Counter[str] = Counter()
        self._resume: set[str] = set()
        self._requested: set[str] = set()
        self._recrawl: dict[str, list[str]] = {}
        self.max_pages = 20000
        self.incremental = True
        # recrawl policy (crawler.scheduling.intervals): young articles are fetched again for fresh view counts
        self.recrawl_days = RECRAWL_DAYS
        self.recrawl_min = RECRAWL_MIN_INTERVAL
        self.recrawl_max = RECRAWL_MAX_INTERVAL
        self.now_override: datetime | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> PortalSpider:
        spider: PortalSpider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.registry_path = spider.registry_path or settings.get("PORTALNEWS_PORTALS")
        if spider.store_url:  # the store extension, built after the spider, reads the setting
            settings.set("PORTALNEWS_STORE", spider.store_url, priority="cmdline")
        spider.max_pages = settings.getint("PORTALNEWS_MAX_PAGES_PER_PORTAL", 20000)
        spider.incremental = settings.getbool("PORTALNEWS_INCREMENTAL", True) and not spider.full
        spider.recrawl_days = settings.getfloat("PORTALNEWS_RECRAWL_DAYS", RECRAWL_DAYS)
        try:
            spider.recrawl_min = parse_duration(settings.get("PORTALNEWS_RECRAWL_MIN_INTERVAL", "1h"))
            spider.recrawl_max = parse_duration(settings.get("PORTALNEWS_RECRAWL_MAX_INTERVAL", "3d"))
        except ValueError as exc:
            raise NotConfigured(f"PORTALNEWS_RECRAWL_*_INTERVAL: {exc}") from None
        now = settings.get("PORTALNEWS_NOW")  # tests and replays: the recrawl policy's "now"
        if now:
            spider.now_override = parse_time(str(now))
            if spider.now_override is None:
                raise NotConfigured(f"PORTALNEWS_NOW={now!r} is not an ISO 8601 date-time")
        spider._load_portals()
        crawler.signals.connect(spider.robots_parsed, signal=signals.robots_parsed)
        crawler.signals.connect(spider.headers_received, signal=signals.headers_received)
        return spider

    def _load_portals(self) -> None:
        try:
            registry = load_registry(self.registry_path or "portals.yaml", placeholders=self.url_vars,
                                     allow_private_hosts=allow_private_hosts(
                                         self.crawler.settings.get(ALLOW_VARIABLE)))
            self.portals = registry.select(self.portal_ids)
        except RegistryError as exc:
            raise NotConfigured(str(exc)) from None
        self.registry_problems = registry.problems
        if not self.registry_checked:
            for problem in registry.problems:
                logger.warning("registry: %s (entry skipped)", problem)
        if not self.portals:
            raise NotConfigured(f"{self.registry_path}: no valid portal to crawl")
        self.allowed_domains = sorted({p.hostname for p in self.portals})
        self._by_host = {p.host: p for p in self.portals}
        self.scope = OriginScope(self.portals)

    def _load_known(self) -> None:
        """Read what earlier crawls recorded: the known URLs, the portals to resume and the
        articles due for a recrawl.  Runs when the crawl starts: the storage stage writes this
        crawl's run records only when the portal's first page reaches it."""
        owner = crawl_store(self.crawler)
        if not self.incremental or owner is None:
            return
        try:
            store = owner.store()
            for portal in self.portals:
                self._known[portal.id] = store.known_pages(portal.id)
                last = store.runs(portal.id, limit=1)
                if last and last[0].outcome in (RunOutcome.RUNNING, RunOutcome.INTERRUPTED):
                    # The previous crawl was killed (or stopped) before it finished: walk every
                    # known listing again (known articles are still skipped) so nothing it had
                    # not reached yet is missed.
                    self._resume.add(portal.id)
                    logger.info("%s: resuming an interrupted crawl (started %s)", portal.id,
                                last[0].started_at)
                self._recrawl[portal.id] = self._recrawl_due(store, portal)
        except StoreError as exc:
            logger.warning("incremental state unavailable, crawling in full: %s", exc)
        total = sum(len(v) for v in self._known.values())
        if total:
            logger.info("incremental crawl: %d URLs already known across %d portals", total, len(self._known))
        recrawl = sum(len(v) for v in self._recrawl.values())
        if recrawl:
            logger.info("recrawl: %d recent articles fetched again for their view counts", recrawl)

    def _recrawl_due(self, store: Store, portal: Portal) -> list[str]:
        """Stored articles younger than PORTALNEWS_RECRAWL_DAYS whose refresh is due (crawler.scheduling.intervals)."""
        if self.recrawl_days <= 0:
            return []
        now = self.now_override or datetime.now(UTC)
        due = [d.url for d in store.recent_documents(portal.id, recrawl_since(now, self.recrawl_days))
               if recrawl_due(d.published_at, d.last_fetched, now, self.recrawl_days, self.recrawl_min,
                              self.recrawl_max)]
        return due

    # --- requests -------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        self._load_known()
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[Request]:
        for portal in self.portals:
            for url in [portal.url, *portal.start_urls]:
                yield self._request(portal, url, role=PageRole.START, priority=5)
            recrawl = self._recrawl.get(portal.id, [])
            if recrawl:
                self.crawler.stats.set_value(f"portalnews/recrawl/{portal.id}", len(recrawl))
            for url in recrawl:  # bypass the known-article skip on purpose
                if self.scope.allows(portal.id, url):  # not the articles of an origin it left
                    yield self._request(portal, url, role=PageRole.RECRAWL, priority=2)

    def _meta(self, portal: Portal, role: PageRole, **extra: Any) -> dict[str, Any]:
        return {"portal_id": portal.id, "role": role, **extra}

    def _request(self, portal: Portal, url: str, role: PageRole, priority: int = 0, **meta: Any) -> Request:
        self._scheduled[portal.id] += 1
        canon = links.canonical(url)
        self._requested.add(canon)
        if canon in self._known.get(portal.id, ()):
            meta["known"] = True  # its page record exists: the store updates it (PageItem.known)
        return Request(url, callback=self.parse, errback=self.on_error, priority=priority,
                       meta=self._meta(portal, role, **meta))

    def _portal(self, response: Response) -> Portal:
        pid = response.meta["portal_id"]
        for portal in self.portals:
            if portal.id == pid:
                return portal
        raise KeyError(pid)  # pragma: no cover - every request carries a registry id

    # --- callbacks --------------------------------------------------------------
    def robots_parsed(self, robotparser: Any, request: Request) -> None:
        """Scrapy's robots middleware parsed the robots.txt of ``request``'s host: follow its
        ``Sitemap:`` lines (``SitemapRobotParser`` keeps them; they may be root-relative)."""
        portal = next((p for p in self.portals if p.id == request.meta.get("portal_id")), None)
        portal = portal or self._by_host.get(urlparse_cached(request).netloc)
        if portal is None or self.crawler.engine is None:
            return
        robots_url = "/".join(request.url.split("/", 3)[:3]) + "/robots.txt"
        for entry in getattr(robotparser, "sitemaps", ()):
            sitemap = links.absolutize(robots_url, entry)
            if sitemap and self.scope.allows(portal.id, sitemap):
                for follow in self._follow(portal, sitemap, PageRole.FEED, page_is_fresh=True):
                    self.crawler.engine.crawl(follow)

    def headers_received(self, headers: Headers, body_length: int, request: Request, spider: Spider) -> None:
        """A portal's file (JSON, CSV, a spreadsheet, a PDF, an image, an archive) is not
        downloaded past its headers: its Content-Type is all :meth:`parse` records of it, and a
        large file never reaches ``DOWNLOAD_MAXSIZE`` and fails."""
        if "portal_id" not in request.meta:  # robots.txt, which Scrapy's middleware reads itself
            return
        content_type = (headers.get(b"Content-Type") or b"").decode("latin-1")
        if not may_be_page(content_type):
            raise StopDownload(fail=False)

    def parse(self, response: Response) -> Iterator[Any]:
        portal = self._portal(response)
        role = PageRole(response.meta.get("role", PageRole.PAGE))
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        item = PageItem(
            url=response.url, portal_id=portal.id, status=response.status, fetched_at=now_iso(),
            content_type=content_type, depth=int(response.meta.get("depth", 0)), role=role,
            known=bool(response.meta.get("known")),
            referer=(response.request.headers.get(b"Referer", b"") or b"").decode("latin-1") or None
            if response.request else None,
        )
        feed = links.looks_like_feed(response.url, content_type) or role == PageRole.FEED
        if isinstance(response, TextResponse) and feed and may_be_page(content_type):
            item.kind, item.reason = PageKind.OTHER, "feed or sitemap"
            yield item
            for href in links.feed_links(response.body):
                url = links.absolutize(response.url, href)
                if url and links.is_crawlable(url):
                    yield from self._follow(portal, url, PageRole.PAGE, page_is_fresh=True)
            return
        if not isinstance(response, TextResponse) or not is_html(response):
            # JSON, CSV, spreadsheets, PDF, images, archives: a file, recorded by its type, never
            # parsed as a page (an open-data portal links them from every dataset page)
            item.kind, item.reason = PageKind.OTHER, f"not an HTML page ({media_type(content_type) or 'no content type'})"
            self.crawler.stats.inc_value(f"portalnews/not_html/{portal.id}")
            yield item
            return
        # An HTML page's text is decoded once (crawler.middlewares.decoding): BOM, HTTP charset
        # and <meta> declarations (windows-1258 included), a declaration the bytes contradict
        # overridden with a warning naming the page.  The selector below reads the same text.
        item.html = response.text
        if getattr(getattr(response, "decoded", None), "replaced", 0):
            # a few bad bytes in an otherwise readable page (pipelines/extract/encoding.py)
            self.crawler.stats.inc_value(f"portalnews/decode_replaced/{portal.id}")
        hrefs = response.xpath("//a/@href | //link[@rel='alternate' or @rel='next']/@href").getall()
        candidates: list[tuple[str, str, bool]] = []  # (url, canonical url, is a pagination link)
        seen_hrefs: set[str] = set()
        for href in hrefs:
            if href in seen_hrefs:  # menus and sidebars repeat the same links
                continue
            seen_hrefs.add(href)
            absolute = links.absolutize(response.url, href)
            if absolute and self.scope.allows(portal.id, absolute) and links.is_crawlable(absolute):
                candidates.append((absolute, links.canonical(absolute), links.is_pagination(absolute)))
        yield item
        known = self._known.get(portal.id, {})
        fresh = role == PageRole.START or not known or any(canon not in known for _, canon, _ in candidates)
        # Pagination goes on while listing pages bring links not seen yet: after BARREN_PAGES
        # pages in a row without any, a listing that never ends ("Trang sau" on empty pages)
        # is left alone.
        brings_new = any(canon not in self._requested and canon not in known and not paginated
                         for _, canon, paginated in candidates)
        barren = 0 if brings_new or role == PageRole.START else int(response.meta.get("barren", 0)) + 1
        for url, canon, paginated in candidates:
            if paginated and barren >= BARREN_PAGES:
                if canon not in self._requested:
                    self.crawler.stats.inc_value(f"portalnews/pagination_stopped/{portal.id}")
                continue
            yield from self._follow(portal, url, PageRole.PAGE, page_is_fresh=fresh, canon=canon,
                                    barren=barren if paginated else 0)

    def _follow(self, portal: Portal, url: str, role: PageRole, page_is_fresh: bool,
                canon: str | None = None, barren: int = 0) -> Iterator[Request]:
        canon = canon or links.canonical(url)
        if canon in self._requested:  # already scheduled in this crawl: skip the Request
            return
        if not self.scope.allows(portal.id, url):
            self.crawler.stats.inc_value(f"portalnews/offsite_filtered/{portal.id}")
            return
        known_kind = self._known.get(portal.id, {}).get(canon)
        if known_kind is not None:
            if known_kind in FINAL_KINDS:
                return
            if known_kind == PageKind.LISTING and not page_is_fresh and portal.id not in self._resume:
                return
        limit = portal.max_pages or self.max_pages
        if self._scheduled[portal.id] >= limit:
            self.crawler.stats.inc_value(f"portalnews/page_limit_reached/{portal.id}")
            return
        self._requested.add(canon)
        if role == PageRole.FEED or links.looks_like_feed(url):
            self._scheduled[portal.id] += 1
            yield Request(url, callback=self.parse, errback=self.on_error,
                          meta=self._meta(portal, PageRole.FEED), priority=3)
            return
        extra = {"barren": barren} if barren else {}
        yield self._request(portal, url, role=role, priority=1 if links.is_pagination(url) else 0, **extra)

    def on_error(self, failure: Failure) -> Iterator[PageItem]:
        request = failure.request  # type: ignore[attr-defined]
        portal_id = request.meta.get("portal_id", "?")
        role = PageRole(request.meta.get("role", PageRole.PAGE))
        item = PageItem(url=request.url, portal_id=portal_id, status=0, fetched_at=now_iso(), kind=PageKind.ERROR,
                        role=role, known=bool(request.meta.get("known")))
        if failure.check(HttpError):
            response = failure.value.response  # type: ignore[union-attr]
            item.status = response.status
            item.error = f"HTTP {response.status}"
            item.kind = PageKind.GONE if response.status in (404, 410) else PageKind.ERROR
        elif failure.check(LeftOrigin):
            # crawler.middlewares.scope: the page that redirected is recorded under this portal;
            # nothing of the other origin is fetched or stored
            left: LeftOrigin = failure.value  # type: ignore[assignment]
            item.url, item.status = left.redirected_from or request.url, left.status
            if role == PageRole.START:
                item.kind, item.error = PageKind.ERROR, (f"{left}: if the portal moved there, update the "
                                                         "registry's url")
            else:
                item.kind, item.reason = PageKind.OTHER, str(left)
                logger.info("%s: %s", portal_id, left)
        elif failure.check(RedirectLoop):
            loop: RedirectLoop = failure.value  # type: ignore[assignment]
            item.url, item.error = loop.chain[0], str(loop)
        elif failure.check(IgnoreRequest):
            message = str(failure.value)
            if "robots" in message.lower():
                item.kind, item.error = PageKind.BLOCKED, "forbidden by robots.txt"
            else:
                item.kind, item.error = PageKind.OTHER, f"ignored: {message}"
        else:
            item.error = f"{failure.type.__name__ if failure.type else 'error'}: {failure.getErrorMessage()}"
        if item.kind == PageKind.ERROR:
            level = logging.ERROR if role == PageRole.START else logging.WARNING
            logger.log(level, "%s: %s failed: %s", portal_id, item.url, item.error)
        elif item.kind == PageKind.GONE:
            logger.info("%s: %s answered %s", portal_id, item.url, item.status)
        item.reason = item.error or item.reason
        yield item
