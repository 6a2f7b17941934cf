"""ProgressReporter extension: one log line every few seconds while a crawl runs."""

from __future__ import annotations

import logging
import time

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

logger = logging.getLogger(__name__)


class ProgressReporter:
    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.loop: task.LoopingCall | None = None
        self.started = time.monotonic()
        self.last_pages = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressReporter:
        interval = crawler.settings.getfloat("PORTALNEWS_PROGRESS_INTERVAL", 10.0)
        if interval <= 0:
            raise NotConfigured("progress reporting disabled")
        ext = cls(crawler, interval)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.report)
        self.loop.start(self.interval, now=False)

    def report(self) -> None:
        stats = self.crawler.stats
        assert stats is not None
        pages = int(stats.get_value("response_received_count", 0) or 0)
        articles = int(stats.get_value("portalnews/pages/article", 0) or 0)
        errors = int(stats.get_value("log_count/ERROR", 0) or 0)
        rate = (pages - self.last_pages) / self.interval
        self.last_pages = pages
        logger.info("progress: %d pages fetched (%.1f/s), %d articles, %d errors, %.0fs elapsed",
                    pages, rate, articles, errors, time.monotonic() - self.started)

    def spider_closed(self, spider: Spider) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
