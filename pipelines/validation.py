"""ValidationPipeline: reject article items that lack what a document needs.

Rejected items raise :class:`DropItem` with the reason, counted per portal and reason
in the crawl stats (``portalnews/dropped/<portal>/<reason>``).
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.items import PageItem

logger = logging.getLogger(__name__)


class ValidationPipeline:
    def __init__(self, crawler: Crawler, min_body_chars: int) -> None:
        self.stats = crawler.stats
        self.min_body_chars = min_body_chars

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidationPipeline:
        return cls(crawler, crawler.settings.getint("PORTALNEWS_MIN_BODY_CHARS", 80))

    def problems(self, fields: dict[str, Any]) -> list[str]:
        out = []
        if not (fields.get("title") or "").strip():
            out.append("no title")
        body = (fields.get("body") or "").strip()
        if not body:
            out.append("no body")
        elif len(body) < self.min_body_chars:
            out.append("body too short")
        views = fields.get("view_count")
        if views is not None and (not isinstance(views, int) or views < 0):
            out.append("invalid view count")
        published = fields.get("published_at")
        if published is not None and not isinstance(published, str):
            out.append("invalid date")
        return out

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, PageItem) or item.kind != "article":
            return item
        problems = self.problems(item.fields)
        if problems:
            reason = ", ".join(problems)
            self.stats.inc_value(f"portalnews/dropped/{item.portal_id}/{problems[0]}")
            raise DropItem(f"{item.portal_id}: {item.url}: {reason}")
        if not item.fields.get("published_at"):
            self.stats.inc_value(f"portalnews/missing_field/{item.portal_id}/published_at")
        return item
