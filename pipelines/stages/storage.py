"""StoragePipeline: indexes article items and records crawl state for every page.

Documents and page records go through a :class:`BackgroundWriter` so slow I/O stays off
the reactor; a search-engine store gets an :class:`AsyncWriter` instead (async bulk
requests on the crawl's own event loop, bounded in-flight batches, an on-disk spool when
the engine is down).  One run record per portal is written at the start (``running``) and at the
end of the crawl with counts, HTTP errors and the outcome.  Items dropped by earlier
pipelines are recorded too (kind ``rejected``) so the next crawl does not fetch them again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from pipelines.model.items import PageItem
from pipelines.storage import Document, PageRecord, RunRecord, Store, StoreError, open_store
from pipelines.storage.async_writer import AsyncWriter, default_spool_dir, supports_async
from pipelines.storage.base import now_iso
from pipelines.storage.spool import Spool
from pipelines.storage.writer import BackgroundWriter

logger = logging.getLogger(__name__)



@dataclass
class PortalCounters:
    pages: int = 0
    articles: int = 0
    nonarticles: int = 0
    errors: int = 0
    failed: int = 0
    dropped: int = 0
    robots_blocked: int = 0
    start_failed: str | None = None
    http_errors: Counter[str] = field(default_factory=Counter)
    drop_reasons: Counter[str] = field(default_factory=Counter)


class StoragePipeline:
    def __init__(self, crawler: Crawler, store_url: str, batch: int, max_queue: int, interval: float) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.store_url = store_url
        self.batch = batch
        self.max_queue = max_queue
        self.interval = interval
        self.store: Store | None = None
        self.writer: BackgroundWriter | AsyncWriter | None = None
        self.max_inflight = 2  # engine stores: bulk batches in flight (PORTALNEWS_MAX_INFLIGHT_BATCHES)
        self.spool_dir: str | None = None  # engine stores: PORTALNEWS_SPOOL_DIR
        self.runs: dict[str, RunRecord] = {}
        self.portal_meta: dict[str, dict[str, str]] = {}
        self.counters: dict[str, PortalCounters] = defaultdict(PortalCounters)
        self.summary: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoragePipeline:
        s = crawler.settings
        store_url = s.get("PORTALNEWS_STORE")
        spider_store = getattr(getattr(crawler, "spider", None), "store_url", None)
        url = spider_store or store_url
        if not url:
            raise NotConfigured("PORTALNEWS_STORE is empty: set it to sqlite:///PATH or an engine URL")
        try:
            open_store(url)  # validates the URL and the client libraries
        except StoreError as exc:
            raise NotConfigured(str(exc)) from None
        pipeline = cls(crawler, url, s.getint("PORTALNEWS_WRITE_BATCH", 200),
                       s.getint("PORTALNEWS_WRITE_QUEUE", 2000), s.getfloat("PORTALNEWS_WRITE_INTERVAL", 1.0))
        pipeline.max_inflight = s.getint("PORTALNEWS_MAX_INFLIGHT_BATCHES", 2)
        pipeline.spool_dir = s.get("PORTALNEWS_SPOOL_DIR") or os.environ.get("PORTALNEWS_SPOOL_DIR") or None
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        return pipeline

    # --- lifecycle ---------------------------------------------------------------
    async def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        self.store_url = getattr(spider, "store_url", None) or self.store_url
        self.store = open_store(self.store_url)
        self.store.open()  # StoreError propagates: the crawl must not run without storage
        if supports_async(self.store):
            spool = Spool(default_spool_dir(self.store, self.spool_dir))
            self.stats.set_value("portalnews/spool_dir", str(spool.directory))
            self.writer = AsyncWriter(self.store, spool, self.batch, self.max_inflight,  # type: ignore[arg-type]
                                      self.interval, stats=self.stats)
            await self.writer.start()  # first sends what an earlier crawl left in the spool
        else:
            self.writer = BackgroundWriter(self.store, self.batch, self.max_queue, self.interval,
                                           on_error=self._write_failed)
            self.writer.start()
        started = now_iso()
        for portal in getattr(spider, "portals", []):
            self.portal_meta[portal.id] = {"name": portal.name, "province": portal.province,
                                           "level": portal.level}
            run = RunRecord(run_id=f"{started}-{portal.id}-{uuid.uuid4().hex[:6]}", portal_id=portal.id,
                            started_at=started, portal_name=portal.name, province=portal.province,
                            level=portal.level)
            self.runs[portal.id] = run
            if isinstance(self.writer, AsyncWriter):
                self.writer.put(run)
            else:
                self.store.save_run(run)
        logger.info("storing into %s", self.store_url)

    def _write_failed(self, message: str) -> None:
        self.stats.inc_value("portalnews/store_write_failures")

    async def _enqueue(self, op: Document | PageRecord) -> None:
        assert self.writer is not None
        if isinstance(self.writer, AsyncWriter):
            await self.writer.aput(op)  # waits while the engine has enough batches in flight
            return
        if not self.writer.put_nowait(op):
            self.stats.inc_value("portalnews/writer_backpressure")
            await asyncio.to_thread(self.writer.put, op)

    # --- items ---------------------------------------------------------------------
    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, PageItem):
            return item
        c = self.counters[item.portal_id]
        role = item.fields.get("role")
        if item.status:
            c.pages += 1
        doc_id = None
        if item.kind == "article":
            doc = self._document(item)
            doc_id = doc.id
            c.articles += 1
            await self._enqueue(doc)
        elif item.kind in ("error", "gone"):
            c.errors += 1
            c.failed += item.kind == "error"
            if item.status:
                c.http_errors[str(item.status)] += 1
            else:
                c.http_errors["network"] += 1
            if role == "start":
                c.start_failed = item.error
        elif item.kind == "blocked":
            c.robots_blocked += 1
        else:
            c.nonarticles += 1
        if role != "robots":
            await self._enqueue(PageRecord(
                url=item.url, portal_id=item.portal_id, kind=item.kind, status=item.status,
                fetched_at=item.fetched_at, content_hash=item.content_hash, doc_id=doc_id,
                reason=(item.error or item.reason or "")[:300],
            ))
        item.html = ""  # free memory early; the page text is not needed after storage
        return item

    def _document(self, item: PageItem) -> Document:
        f = item.fields
        meta = self.portal_meta.get(item.portal_id, {})
        return Document(
            url=f.get("document_url") or item.url,
            portal_id=item.portal_id,
            title=f.get("title") or "",
            body=f.get("body") or "",
            published_at=f.get("published_at"),
            date_precision=f.get("date_precision"),
            view_count=f.get("view_count"),
            summary=f.get("summary"),
            author=f.get("author"),
            category=f.get("category"),
            crawled_at=item.fetched_at,
            portal_name=meta.get("name"),
            province=meta.get("province"),
            level=meta.get("level"),
            profile=f.get("profile"),
        )

    def item_dropped(self, item: Any, response: Any, exception: BaseException, spider: Spider) -> None:
        if not isinstance(item, PageItem) or self.writer is None:
            return
        c = self.counters[item.portal_id]
        c.pages += 1
        c.dropped += 1
        reason = str(exception).rsplit(": ", 1)[-1] if isinstance(exception, DropItem) else type(exception).__name__
        kind = "duplicate" if "duplicate" in reason else "rejected"
        c.drop_reasons[reason.split(" of ")[0]] += 1
        record = PageRecord(url=item.url, portal_id=item.portal_id, kind=kind, status=item.status,
                            fetched_at=item.fetched_at, content_hash=item.content_hash, reason=reason[:300])
        if not self.writer.put_nowait(record):
            self.writer.put(record)

    def _extraction_counts(self, portal_id: str) -> tuple[int, dict[str, int]]:
        """Article pages seen and fields not found on them (counted by the validation pipeline)."""
        stats = self.stats.get_stats()
        prefix = f"portalnews/missing_field/{portal_id}/"
        missing = {key[len(prefix):]: int(value) for key, value in stats.items() if key.startswith(prefix)}
        return int(stats.get(f"portalnews/article_pages/{portal_id}", 0) or 0), missing

    # --- end of crawl ----------------------------------------------------------------
    async def close_spider(self, spider: Spider | None = None) -> None:
        if self.writer is None or self.store is None:
            return
        if isinstance(self.writer, AsyncWriter):
            unsent = await self.writer.drain()
        else:
            unsent = await asyncio.to_thread(self.writer.close)
        finished = now_iso()
        reason = self.stats.get_value("finish_reason") or ""
        if not reason and not getattr(self.crawler, "crawling", True):
            # Scrapy records finish_reason after the pipelines close; a crawl stopped from
            # outside (SIGTERM, Ctrl-C) is no longer "crawling" here: the run is interrupted
            reason = "shutdown"
        self.summary = []
        for portal_id, run in self.runs.items():
            c = self.counters.get(portal_id, PortalCounters())
            result = self.writer.stats.per_portal.get(portal_id)
            run.finished_at = finished
            run.pages_fetched = c.pages
            run.articles_new = result.inserted if result else 0
            run.articles_updated = result.updated if result else 0
            run.articles_unchanged = result.unchanged if result else 0
            run.nonarticles = c.nonarticles
            run.errors = c.errors
            run.dropped = c.dropped
            run.http_errors = dict(c.http_errors)
            run.drop_reasons = dict(c.drop_reasons)
            run.robots_blocked = c.robots_blocked
            run.article_pages, run.missing_fields = self._extraction_counts(portal_id)
            if c.start_failed and c.pages == 0:
                run.outcome, run.message = "failed", f"home page unreachable: {c.start_failed}"
            elif c.start_failed:
                run.outcome, run.message = "failed", f"home page failed: {c.start_failed}"
            elif reason not in ("finished", ""):
                run.outcome, run.message = "interrupted", f"crawl stopped: {reason}"
            elif unsent:
                run.outcome, run.message = "partial", f"{unsent} records not stored"
            elif c.failed:
                run.outcome, run.message = "partial", f"{c.failed} pages failed"
            else:
                run.outcome = "ok"
                if c.errors:
                    run.message = f"{c.errors} broken link(s)"
            try:
                if isinstance(self.writer, AsyncWriter):
                    self.writer.put(run)  # spooled like the rest if the engine is down
                else:
                    await asyncio.to_thread(self.store.save_run, run)
            except StoreError as exc:
                logger.error("%s: could not save the run record: %s", portal_id, exc)
            self.summary.append({
                "portal_id": portal_id, "outcome": run.outcome, "pages": run.pages_fetched,
                "new": run.articles_new, "updated": run.articles_updated,
                "unchanged": run.articles_unchanged, "nonarticles": run.nonarticles,
                "errors": run.errors, "dropped": run.dropped, "message": run.message,
            })
        if isinstance(self.writer, AsyncWriter):
            unsent = await self.writer.aclose()
            self.stats.set_value("portalnews/store_notes", self.writer.notes())
        self.stats.set_value("portalnews/unsent", unsent)
        self.stats.set_value("portalnews/summary", self.summary)
        if unsent:
            logger.error("%d records could not be stored in %s (last error: %s)", unsent, self.store_url,
                         self.writer.stats.last_error)
        self.store.close()
