"""ExtractionPipeline: classify each fetched page and extract the article fields.

Calls the pure extractor :func:`pipelines.extract.extract_page` with the portal's
family profile from the registry (``auto`` detects the family).  A page that breaks
the extractor is recorded as an extraction error and never stops the crawl.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from pipelines.extract import extract_page
from pipelines.extract.profiles import ProfileError, ProfileSet, load_profiles
from pipelines.model.items import PageItem

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
            from pathlib import Path

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
        if not isinstance(item, PageItem) or item.kind != "unknown" or not item.html:
            return item
        profile = self.portal_profiles.get(item.portal_id, "auto")
        started = time.perf_counter()
        try:
            result = extract_page(item.html, item.url, profile=profile, profiles=self.profiles,
                                  fetched_at=self.now or item.fetched_at)
        except Exception as exc:  # a broken page must never stop the crawl
            logger.warning("%s: extraction failed on %s: %s: %s", item.portal_id, item.url,
                           type(exc).__name__, exc)
            item.kind, item.error, item.reason = "error", f"extraction failed: {exc}", "extraction error"
            self.stats.inc_value(f"portalnews/extraction_errors/{item.portal_id}")
            return item
        finally:
            self.seconds += time.perf_counter() - started
            self.pages += 1
        item.kind = result.page_kind
        item.reason = result.reason
        item.fields = result.to_dict()
        item.content_hash = hashlib.sha1(item.html.encode("utf-8", "replace")).hexdigest()
        self.stats.inc_value(f"portalnews/pages/{item.kind}")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.pages:
            self.stats.set_value("portalnews/extraction_ms_per_page", round(1000 * self.seconds / self.pages, 3))
