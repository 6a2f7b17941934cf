"""DedupPipeline: one document per article within a crawl.

The same article is often reachable under several URLs (tracking parameters, print
views, a canonical link pointing elsewhere).  An article whose document URL (its canonical
link on the same host, see :meth:`PageExtraction.article_fields`), or whose exact
title+date+body, was already seen in this crawl is dropped as a
:class:`~pipelines.stages.drops.DuplicatePage`.  Across crawls, the store's upsert by
canonical-URL id prevents duplicates.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.crawler import Crawler

from pipelines.model.items import article_document
from pipelines.model.kinds import PageKind
from pipelines.stages.drops import DuplicatePage, count_drop
from pipelines.storage.base import canonical_url

logger = logging.getLogger(__name__)

__all__ = ["DedupPipeline", "DuplicatePage"]


class DedupPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.urls: dict[str, str] = {}
        self.contents: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(crawler)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        if adapter.get("kind") != PageKind.ARTICLE:
            return item
        doc = article_document(adapter)
        page_url = adapter["url"]
        url = canonical_url(doc["url"])
        key = hashlib.sha1(
            "\x00".join(str(doc.get(k) or "") for k in ("title", "published_at", "body")).encode("utf-8")
        ).hexdigest()
        first = self.urls.get(url) or self.contents.get(key)
        if first is not None and first != page_url:
            raise count_drop(self.stats, DuplicatePage(doc["portal_id"], page_url, first))
        self.urls[url] = page_url
        self.contents[key] = page_url
        return item
