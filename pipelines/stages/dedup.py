"""DedupPipeline: one document per article within a crawl.

The same article is often reachable under several URLs (tracking parameters, print
views, a canonical link pointing elsewhere).  An article whose canonical URL, or whose
exact title+date+body, was already seen in this crawl is dropped with the reason.
Across crawls, the store's upsert by canonical-URL id prevents duplicates.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from pipelines.model.items import PageItem
from pipelines.storage.base import canonical_url

logger = logging.getLogger(__name__)


class DuplicatePage(DropItem):
    """A second copy of an article (print view, another URL of it): expected, logged at INFO."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.log_level = "INFO"  # read by the log formatter (Scrapy >= 2.13 also reads it itself)


class DedupPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.urls: dict[str, str] = {}
        self.contents: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(crawler)

    @staticmethod
    def document_url(item: PageItem) -> str:
        """The URL that identifies the document: the page's canonical link when it stays on
        the same host, else the fetched URL."""
        canonical = item.fields.get("canonical_url")
        if canonical and canonical.split("/")[2:3] == item.url.split("/")[2:3]:
            return str(canonical)
        return item.url

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, PageItem) or item.kind != "article":
            return item
        url = canonical_url(self.document_url(item))
        item.fields["document_url"] = self.document_url(item)
        f = item.fields
        key = hashlib.sha1(
            "\x00".join(str(f.get(k) or "") for k in ("title", "published_at", "body")).encode("utf-8")
        ).hexdigest()
        first = self.urls.get(url) or self.contents.get(key)
        if first is not None and first != item.url:
            self.stats.inc_value(f"portalnews/dropped/{item.portal_id}/duplicate")
            raise DuplicatePage(f"{item.portal_id}: {item.url}: duplicate of {first}")
        self.urls[url] = item.url
        self.contents[key] = item.url
        return item
