"""Keep every request of a portal inside the portal's origin: scheme + host + port.

The spider follows links only inside a portal's origin, but a page may redirect anywhere:
to the same IP on another port, to another registered portal, to a ``file:`` URL.
A redirect (HTTP or meta refresh) into another registered portal's origin is refused before
Scrapy's redirect middlewares turn it into a request (:class:`RedirectGuardMiddleware`,
:class:`MetaRefreshGuardMiddleware`): a scheduled request would enter the duplicate filter, and
the other portal's own link to that page would be dropped as already seen.  Any other request
outside the origin is refused by :class:`ScopeMiddleware`, placed after the private-hosts check
(which refuses a host inside the operator's network as that) and before the robots
middleware: neither its robots.txt nor the page is fetched.  The refusal is a
:class:`LeftOrigin` (an ``IgnoreRequest``) that reaches the request's errback, so the spider
records the page that redirected, under its own portal, and nothing of the other origin is
stored.  A page of another registered portal is left to that portal's own crawl, which
holds the lease of its host (:mod:`crawler.scheduling.scheduler`) and keeps its counts.

Real portals move to https and between ``www.`` and the bare name.  When a portal's own
start URL redirects that way (:func:`crawler.links.moved_origin`), the portal's origin moves
with it for the crawl (:class:`OriginScope`), a warning suggests the registry fix, and the
stat ``portalnews/origin_moved/<portal>`` carries the new origin into the run record, where
``coverage`` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit, urlunsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.response import get_meta_refresh
from w3lib.url import safe_url_string

from crawler import links
from crawler.links import Origin
from crawler.registry import Portal
from pipelines.model.kinds import PageRole

logger = logging.getLogger(__name__)

__all__ = ["LeftOrigin", "MetaRefreshGuardMiddleware", "OriginScope", "RedirectGuardMiddleware", "RedirectLoop",
           "ScopeMiddleware", "check_redirect"]


class LeftOrigin(IgnoreRequest):
    """A request outside its portal's origin, refused before anything is fetched."""

    def __init__(self, url: str, origin: str, redirected_from: str | None, status: int = 0) -> None:
        self.url = url
        self.origin = origin
        self.redirected_from = redirected_from
        self.status = status  # the HTTP status of the redirect, when it was one
        how = f"redirects out of the portal's origin {origin} to {url}" if redirected_from else \
            f"{url} is outside the portal's origin {origin}"
        super().__init__(how)


class RedirectLoop(IgnoreRequest):
    """A redirect back to a URL of its own chain: the page can never be fetched."""

    def __init__(self, chain: list[str]) -> None:
        self.chain = chain
        super().__init__("redirect loop: " + " -> ".join(chain))


class OriginScope:
    """The origins each portal may be fetched from during one crawl: the registry URL's, and
    the ones its start URL moved to (https, ``www.``)."""

    def __init__(self, portals: Iterable[Portal]) -> None:
        self._portals = {p.id: p for p in portals}
        self._registry: dict[str, Origin] = {}
        for p in self._portals.values():
            found = links.origin(p.url)
            if found is not None:
                self._registry[p.id] = found
        self._moved: dict[str, list[Origin]] = {}

    def knows(self, portal_id: str) -> bool:
        return portal_id in self._registry

    def registry_origin(self, portal_id: str) -> Origin | None:
        return self._registry.get(portal_id)

    def current(self, portal_id: str) -> Origin | None:
        """Where the portal is crawled now: the last origin it moved to, else the registry's."""
        moved = self._moved.get(portal_id)
        return moved[-1] if moved else self._registry.get(portal_id)

    def allows(self, portal_id: str, url: str) -> bool:
        """Whether ``url`` is on the portal's registry origin or an origin it moved to."""
        registry = self._registry.get(portal_id)
        return registry is not None and links.in_origin(url, registry, *self._moved.get(portal_id, ()))

    def of_another_portal(self, portal_id: str, url: str) -> bool:
        """Whether ``url`` is in the origin of a portal other than ``portal_id``."""
        return any(self.allows(other, url) for other in self._registry if other != portal_id)

    def start_move(self, portal_id: str, source: str, url: str) -> Origin | None:
        """Where a start URL that redirects from ``source`` to ``url`` moves the portal: the
        origin of ``url`` if ``source`` is on the registry origin and ``url`` on that origin
        moved to https or to its ``www.`` twin; None for anything else."""
        target = links.origin(url)
        registry = self._registry.get(portal_id)
        if target is None or registry is None or links.origin(source) != registry:
            return None
        return target if links.moved_origin(registry, target) else None

    def move(self, portal_id: str, target: Origin) -> bool:
        """Move the portal to ``target`` if that is its registry origin moved to https or to
        its ``www.`` twin; False (nothing changes) for anything else."""
        registry = self._registry.get(portal_id)
        if registry is None or not links.moved_origin(registry, target):
            return False
        moved = self._moved.setdefault(portal_id, [])
        if target in moved:
            moved.remove(target)
        moved.append(target)
        return True

    def suggested_url(self, portal_id: str, redirected_to: str) -> str:
        """The registry URL written on the origin the portal moved to."""
        url = urlsplit(self._portals[portal_id].url)
        target = urlsplit(redirected_to)
        return urlunsplit((target.scheme, target.netloc, url.path or "/", url.query, ""))


class ScopeMiddleware:
    """Downloader middleware; see the module docstring.  It asks the spider's ``scope`` (an
    :class:`OriginScope`); a spider without one is not checked."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScopeMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        scope: OriginScope | None = getattr(self.crawler.spider, "scope", None)
        portal_id = request.meta.get("portal_id")
        if scope is None or portal_id is None or not scope.knows(portal_id) or scope.allows(portal_id, request.url):
            return None
        redirect_urls = request.meta.get("redirect_urls") or []
        source = redirect_urls[0] if redirect_urls else None
        if source is not None and request.meta.get("role") == PageRole.START:
            target = scope.start_move(portal_id, source, request.url)
            if target is not None and scope.move(portal_id, target):
                self._moved(portal_id, source, request.url, scope, target)
                return None
        reasons = request.meta.get("redirect_reasons") or []
        status = next((r for r in reasons if isinstance(r, int)), 0)
        raise left_origin(self.crawler, scope, portal_id, request.url, source, status)

    def _moved(self, portal_id: str, source: str, url: str, scope: OriginScope, target: Origin) -> None:
        moved = links.origin_url(target)
        if self.crawler.stats is not None:
            self.crawler.stats.set_value(f"portalnews/origin_moved/{portal_id}", moved)
        logger.warning("%s: the registry url %s redirects to %s: this crawl follows the portal to %s; "
                       "update the registry (url: %s)", portal_id, source, url, moved,
                       scope.suggested_url(portal_id, url))


def left_origin(crawler: Crawler, scope: OriginScope, portal_id: str, url: str, source: str | None,
                status: int) -> LeftOrigin:
    """The refusal of ``url`` for ``portal_id``'s crawl, counted in the stats."""
    current = scope.current(portal_id)
    if crawler.stats is not None:
        crawler.stats.inc_value(f"portalnews/{'offsite_redirect' if source else 'offsite_filtered'}/{portal_id}")
    return LeftOrigin(url, links.origin_url(current) if current else "?", source, status)


def check_redirect(crawler: Crawler, request: Request, target: str, status: int) -> None:
    """Refuse a redirect (HTTP or meta refresh) of ``request`` into another registered portal's
    origin *before* Scrapy's redirect middlewares turn it into a request: a scheduled request
    enters the duplicate filter even when :class:`ScopeMiddleware` refuses it later, and that
    portal's own link to the page would then be dropped as already seen.  Any other target is
    left to the request chain, where a host inside the operator's network is refused as that
    first.  A start URL moving to its https or ``www.`` twin passes: :class:`ScopeMiddleware`
    moves the portal."""
    scope: OriginScope | None = getattr(crawler.spider, "scope", None)
    portal_id = request.meta.get("portal_id")
    if (scope is None or portal_id is None or not scope.knows(portal_id) or scope.allows(portal_id, target)
            or not scope.of_another_portal(portal_id, target)):
        return
    source = (request.meta.get("redirect_urls") or [request.url])[0]
    if request.meta.get("role") == PageRole.START and scope.start_move(portal_id, source, target) is not None:
        return
    raise left_origin(crawler, scope, portal_id, target, source, status)


class RedirectGuardMiddleware:
    """Downloader middleware that looks at a redirect before Scrapy's redirect middleware
    does (a higher number: ``process_response`` runs from the highest to the lowest).

    * A ``Location`` that is not http(s) (``file:``, ``ftp:``, ``javascript:``, ``data:``)
      leaves the origin: :class:`LeftOrigin`, recorded like any other redirect out of it
      (Scrapy would pass a ``file:`` redirect on as an HTTP 302 failure and raise a
      ``ValueError`` on a ``javascript:`` one).
    * A ``Location`` already in the request's redirect chain is a loop: :class:`RedirectLoop`,
      recorded as a failed page (the scheduler's duplicate filter would drop it silently).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        if not 300 <= response.status < 400 or request.meta.get("dont_redirect") or "Location" not in response.headers:
            return response
        location = (response.headers.get("Location") or b"").decode("latin-1").strip()
        chain = [*(request.meta.get("redirect_urls") or []), request.url]
        try:
            target = urljoin(request.url, location)
            scheme = urlsplit(target).scheme.lower()
        except ValueError:  # "http://[::1" and the like: nowhere Scrapy could go either
            target, scheme = location, ""
        if scheme not in ("http", "https"):
            here = links.origin(request.url)
            raise LeftOrigin(terminal_safe(target), links.origin_url(here) if here else request.url, chain[0],
                             response.status)
        if links.canonical(target) in {links.canonical(url) for url in chain}:
            raise RedirectLoop([*chain, target])
        check_redirect(self.crawler, request, target, response.status)
        return response


class MetaRefreshGuardMiddleware:
    """Downloader middleware between the decoding (585) and Scrapy's meta-refresh middleware
    (580): a meta refresh out of the portal's origin is refused before it becomes a request
    (:func:`check_redirect`), with the settings Scrapy's middleware obeys."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.enabled = settings.getbool("METAREFRESH_ENABLED")
        self.max_delay = settings.getfloat("METAREFRESH_MAXDELAY")
        self.ignore_tags = settings.getlist("METAREFRESH_IGNORE_TAGS")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MetaRefreshGuardMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        if not self.enabled or request.meta.get("dont_redirect") or not isinstance(response, HtmlResponse):
            return response
        interval, url = get_meta_refresh(response, ignore_tags=self.ignore_tags)
        if url and interval is not None and interval < self.max_delay:
            check_redirect(self.crawler, request, url, 0)
        return response


def terminal_safe(url: str) -> str:
    """A URL from a ``Location`` header as it may be shown and stored: percent-encoded
    (w3lib), so no control character nor markup of it survives."""
    return safe_url_string(url[:500])
