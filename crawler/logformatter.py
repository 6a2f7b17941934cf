"""Log lines about pages and items that name the page instead of dumping it.

A :class:`~pipelines.model.items.PageItem` carries the page's whole HTML, and Scrapy's default
formatter prints the whole item when one is dropped or fails: one dropped print view would
fill the screen.  Here a dropped item is one line with its reason (which names the portal
and the URL), at the drop's own ``log_level`` (a duplicate is INFO, a rejected article is
WARNING; see :mod:`pipelines.stages.drops`), and an item error names the URL.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


def _describe(item: Any) -> str:
    adapter = ItemAdapter(item) if ItemAdapter.is_item(item) else None
    if adapter is None or not adapter.get("url"):
        return type(item).__name__
    portal, url = adapter.get("portal_id"), adapter["url"]
    return f"{portal}: {url}" if portal else str(url)


class PortalLogFormatter(LogFormatter):
    def dropped(self, item: Any, exception: BaseException, response: Response | Failure | None,
                spider: Spider) -> LogFormatterResult:
        level: Any = getattr(exception, "log_level", None)
        if level is None:
            level = spider.crawler.settings.get("DEFAULT_DROPITEM_LOG_LEVEL", "WARNING")
        if isinstance(level, str):
            level = getattr(logging, level.upper(), logging.WARNING)
        return {"level": level, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}

    def item_error(self, item: Any, exception: BaseException, response: Response | Failure | None,
                   spider: Spider) -> LogFormatterResult:
        return {"level": logging.ERROR, "msg": "Error processing %(item)s", "args": {"item": _describe(item)}}

    def scraped(self, item: Any, response: Response | Failure | None, spider: Spider) -> LogFormatterResult:
        return {"level": logging.DEBUG, "msg": "Scraped %(item)s", "args": {"item": _describe(item)}}
