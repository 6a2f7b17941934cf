"""ExtractionPipeline: classify each fetched page and extract the article fields.

Calls the pure extractor :func:`pipelines.extract.extract_page` with the portal's
family profile from the registry (``auto`` detects the family) and writes its one typed
result into the item: ``kind``, ``reason`` and the article ``fields``
(:meth:`PageExtraction.article_fields`).  A page that breaks the extractor is recorded as
an extraction error and never stops the crawl.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from pipelines.extract import extract_page
from pipelines.extract.profiles import ProfileError, ProfileSet, load_profiles
from pipelines.model.kinds import PageKind

logger = logging.getLogger(__name__)


class ExtractionPipeline:
    def __init__(self, crawler: Crawler, profiles: ProfileSet) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.profiles = profiles
        # The crawl's clock, pinned for tests and replays: relative dates ("2 giờ trước")
        # are read against it instead of each page's fetch time.
        self.now: str | None = crawler.settings.get("PORTALNEWS_NOW") or None
        self.portal_profiles: dict[str, str] = {}
        self.seconds = 0.0
        self.pages = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractionPipeline:
        extra = crawler.settings.get("PORTALNEWS_PROFILES_DIR")
        try:
            profiles = load_profiles(Path(extra) if extra else None)
        except ProfileError as exc:
            raise NotConfigured(f"family profiles: {exc}") from None
        return cls(crawler, profiles)

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        for portal in getattr(spider, "portals", []):
            if portal.profile not in ("auto", "generic") and portal.profile not in self.profiles.names:
                logger.error("%s: unknown profile %r, using auto-detection (known: %s)",
                             portal.id, portal.profile, ", ".join(sorted(self.profiles.names)))
                self.portal_profiles[portal.id] = "auto"
            else:
                self.portal_profiles[portal.id] = portal.profile

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        html = adapter.get("html")
        if adapter.get("kind") != PageKind.UNKNOWN or not html:
            return item
        portal_id, url = adapter["portal_id"], adapter["url"]
        started = time.perf_counter()
        try:
            result = extract_page(html, url, profile=self.portal_profiles.get(portal_id, "auto"),
                                  profiles=self.profiles, fetched_at=self.now or adapter.get("fetched_at"))
        except Exception as exc:  # a broken page must never stop the crawl
            logger.warning("%s: extraction failed on %s: %s: %s", portal_id, url, type(exc).__name__, exc)
            adapter.update(kind=PageKind.ERROR, error=f"extraction failed: {exc}", reason="extraction error")
            self.stats.inc_value(f"portalnews/extraction_errors/{portal_id}")
            return item
        finally:
            self.seconds += time.perf_counter() - started
            self.pages += 1
        adapter.update(kind=result.page_kind, reason=result.reason, fields=result.article_fields(url),
                       content_hash=hashlib.sha1(html.encode("utf-8", "replace")).hexdigest())
        self.stats.inc_value(f"portalnews/pages/{result.page_kind}")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.pages:
            self.stats.set_value("portalnews/extraction_ms_per_page", round(1000 * self.seconds / self.pages, 3))
