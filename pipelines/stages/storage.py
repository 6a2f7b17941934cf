"""StoragePipeline: indexes article items and records crawl state for every page.

The store is the crawl's one store, owned by :class:`pipelines.storage.extension.StoreExtension`
(opened when the pipelines open, closed by the extension when the engine stops).  Documents
and page records go through a :class:`BackgroundWriter` so slow I/O stays off the reactor; a
search-engine store gets an :class:`AsyncWriter` instead (async bulk requests on the crawl's
own event loop, bounded in-flight batches, an on-disk spool when the engine is down).

One run record per portal is written when the portal's first page reaches this stage
(``running``; after the spider has read the previous runs, which tell it whether to resume)
and again at the end of the crawl with counts, HTTP errors and the outcome.  Items dropped by
earlier stages are recorded too, by the exception's type (``duplicate`` for a
:class:`~pipelines.stages.drops.DuplicatePage`, else ``rejected``), so the next crawl does not
fetch them again; the reasons are counted in the run record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from pipelines.model.items import article_document
from pipelines.model.kinds import PageKind, PageRole, RunOutcome
from pipelines.stages.drops import DuplicatePage, PageDropped
from pipelines.storage import Document, PageRecord, RunRecord, Store, StoreError
from pipelines.storage.async_writer import AsyncWriter, default_spool_dir, supports_async
from pipelines.storage.base import now_iso
from pipelines.storage.extension import StoreExtension, crawl_store
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
    def __init__(self, crawler: Crawler, store: StoreExtension, batch: int, max_queue: int,
                 interval: float) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.owner = store
        self.batch = batch
        self.max_queue = max_queue
        self.interval = interval
        self.store: Store | None = None
        self.writer: BackgroundWriter | AsyncWriter | None = None
        self.max_inflight = 2  # engine stores: bulk batches in flight (PORTALNEWS_MAX_INFLIGHT_BATCHES)
        self.spool_dir: str | None = None  # engine stores: PORTALNEWS_SPOOL_DIR
        self.runs: dict[str, RunRecord] = {}
        self.recorded: set[str] = set()  # portals whose "running" record is written
        self.portal_meta: dict[str, dict[str, str | None]] = {}
        self.counters: dict[str, PortalCounters] = defaultdict(PortalCounters)
        self.summary: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoragePipeline:
        s = crawler.settings
        store = crawl_store(crawler)
        if store is None:
            raise NotConfigured("no store for this crawl: the store extension is off (see the warning above; "
                                "PORTALNEWS_STORE must be sqlite:///PATH or an engine URL)")
        pipeline = cls(crawler, store, s.getint("PORTALNEWS_WRITE_BATCH", 200),
                       s.getint("PORTALNEWS_WRITE_QUEUE", 2000), s.getfloat("PORTALNEWS_WRITE_INTERVAL", 1.0))
        pipeline.max_inflight = s.getint("PORTALNEWS_MAX_INFLIGHT_BATCHES", 2)
        pipeline.spool_dir = s.get("PORTALNEWS_SPOOL_DIR") or os.environ.get("PORTALNEWS_SPOOL_DIR") or None
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        return pipeline

    # --- lifecycle ---------------------------------------------------------------
    async def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        self.store = self.owner.store()  # StoreError propagates: the crawl must not run without storage
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
                                           "level": portal.level,
                                           "current_province": getattr(portal, "current_province", None)}
            self.runs[portal.id] = RunRecord(run_id=f"{started}-{portal.id}-{uuid.uuid4().hex[:6]}",
                                             portal_id=portal.id, started_at=started, portal_name=portal.name,
                                             province=portal.province, level=portal.level)
        logger.info("storing into %s", self.owner.url)

    def _record_start(self, portal_id: str) -> None:
        """Write the portal's ``running`` run record before its first page record."""
        run = self.runs.get(portal_id)
        if run is None or portal_id in self.recorded or self.writer is None or self.store is None:
            return
        self.recorded.add(portal_id)
        if isinstance(self.writer, AsyncWriter):
            self.writer.put(run)
        else:
            self.store.save_run(run)

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
        adapter = ItemAdapter(item)
        portal_id = adapter.get("portal_id")
        if portal_id is None:
            return item
        self._record_start(portal_id)
        c = self.counters[portal_id]
        kind: PageKind = adapter.get("kind", PageKind.UNKNOWN)
        status: int = adapter.get("status") or 0
        if status:
            c.pages += 1
        doc_id = None
        if kind == PageKind.ARTICLE:
            doc = self._document(adapter)
            doc_id = doc.id
            c.articles += 1
            await self._enqueue(doc)
        elif kind in (PageKind.ERROR, PageKind.GONE):
            c.errors += 1
            c.failed += kind == PageKind.ERROR
            c.http_errors[str(status) if status else "network"] += 1
            if adapter.get("role") == PageRole.START:
                c.start_failed = adapter.get("error")
        elif kind == PageKind.BLOCKED:
            c.robots_blocked += 1
        else:
            c.nonarticles += 1
        await self._enqueue(PageRecord(
            url=adapter["url"], portal_id=portal_id, kind=kind, status=status,
            fetched_at=adapter["fetched_at"], content_hash=adapter.get("content_hash"), doc_id=doc_id,
            reason=(adapter.get("error") or adapter.get("reason") or "")[:300], known=bool(adapter.get("known")),
        ))
        adapter["html"] = ""  # free memory early; the page text is not needed after storage
        return item

    def _document(self, adapter: ItemAdapter) -> Document:
        doc = article_document(adapter)
        doc["title"], doc["body"] = doc["title"] or "", doc["body"] or ""  # validation made sure of them
        meta = self.portal_meta.get(doc["portal_id"], {})
        return Document(**doc, portal_name=meta.get("name"), province=meta.get("province"),
                        level=meta.get("level"), current_province=meta.get("current_province"),
                        story_signature=adapter.get("story_signature"),
                        indexed_texts=adapter.get("indexed_texts"))

    def item_dropped(self, item: Any, response: Any, exception: BaseException, spider: Spider) -> None:
        adapter = ItemAdapter(item) if ItemAdapter.is_item(item) else None
        if adapter is None or adapter.get("portal_id") is None or self.writer is None:
            return
        portal_id = adapter["portal_id"]
        self._record_start(portal_id)
        c = self.counters[portal_id]
        c.pages += 1
        c.dropped += 1
        if isinstance(exception, PageDropped):
            reason, details = str(exception.reason), exception.details
        else:  # a DropItem from a pipeline that is not ours
            reason, details = type(exception).__name__, str(exception)
        c.drop_reasons[reason] += 1
        kind = PageKind.DUPLICATE if isinstance(exception, DuplicatePage) else PageKind.REJECTED
        record = PageRecord(url=adapter["url"], portal_id=portal_id, kind=kind,
                            status=adapter.get("status") or 0, fetched_at=adapter["fetched_at"],
                            content_hash=adapter.get("content_hash"), reason=details[:300],
                            known=bool(adapter.get("known")))
        if not self.writer.put_nowait(record):
            self.writer.put(record)

    def _extraction_counts(self, portal_id: str) -> tuple[int, dict[str, int]]:
        """Article pages seen and fields not found on them (counted by the validation pipeline)."""
        stats = self.stats.get_stats()
        prefix = f"portalnews/missing_field/{portal_id}/"
        missing = {key[len(prefix):]: int(value) for key, value in stats.items() if key.startswith(prefix)}
        return int(stats.get(f"portalnews/article_pages/{portal_id}", 0) or 0), missing

    # --- end of crawl ----------------------------------------------------------------
    def _finish_runs(self, reason: str, unsent: int, killed: bool = False) -> list[RunRecord]:
        """Fill each portal's run record with its counts and outcome; set ``self.summary``."""
        finished = now_iso()
        self.summary = []
        for portal_id, run in self.runs.items():
            c = self.counters.get(portal_id, PortalCounters())
            result = self.writer.stats.per_portal.get(portal_id) if self.writer is not None else None
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
            run.origin_moved_to = self.stats.get_value(f"portalnews/origin_moved/{portal_id}")
            if c.start_failed and c.pages == 0:
                run.outcome, run.message = RunOutcome.FAILED, f"home page unreachable: {c.start_failed}"
            elif c.start_failed:
                run.outcome, run.message = RunOutcome.FAILED, f"home page failed: {c.start_failed}"
            elif killed:
                run.outcome = RunOutcome.INTERRUPTED
                run.message = f"crawl stopped at once ({reason}): pages still downloading were not stored" + (
                    f"; {unsent} records not stored" if unsent else "")
            elif reason not in ("finished", ""):
                run.outcome, run.message = RunOutcome.INTERRUPTED, f"crawl stopped: {reason}"
            elif unsent:
                run.outcome, run.message = RunOutcome.PARTIAL, f"{unsent} records not stored"
            elif c.failed:
                run.outcome, run.message = RunOutcome.PARTIAL, f"{c.failed} pages failed"
            else:
                run.outcome = RunOutcome.OK
                if c.errors:
                    run.message = f"{c.errors} broken link(s)"
            self.summary.append({
                "portal_id": portal_id, "outcome": run.outcome, "pages": run.pages_fetched,
                "new": run.articles_new, "updated": run.articles_updated,
                "unchanged": run.articles_unchanged, "nonarticles": run.nonarticles,
                "errors": run.errors, "dropped": run.dropped, "message": run.message,
            })
        return list(self.runs.values())

    def abandon(self, reason: str) -> list[dict[str, Any]]:
        """The crawl was stopped at once (a second Ctrl-C stops the reactor): Scrapy never
        closes the pipelines then.  Write what is queued (an engine store: spool it), mark
        every portal's run ``interrupted`` in the store now, and return the summary."""
        if self.writer is None or self.store is None:
            return []
        if isinstance(self.writer, AsyncWriter):
            unsent = self.writer.spool_pending(f"the crawl was stopped at once ({reason})")
        else:
            unsent = self.writer.close(timeout=30)
        for run in self._finish_runs(reason, unsent, killed=True):
            try:
                self.store.save_run(run)
            except StoreError as exc:
                logger.error("%s: could not save the run record: %s", run.portal_id, exc)
        self.stats.set_value("portalnews/unsent", unsent)
        self.stats.set_value("portalnews/summary", self.summary)
        return self.summary

    async def close_spider(self, spider: Spider | None = None) -> None:
        if self.writer is None or self.store is None:
            return
        if isinstance(self.writer, AsyncWriter):
            unsent = await self.writer.drain()
        else:
            unsent = await asyncio.to_thread(self.writer.close)
        reason = self.stats.get_value("finish_reason") or ""
        if not reason and not getattr(self.crawler, "crawling", True):
            # Scrapy records finish_reason after the pipelines close; a crawl stopped from
            # outside (SIGTERM, Ctrl-C) is no longer "crawling" here: the run is interrupted
            reason = "shutdown"
        for run in self._finish_runs(reason, unsent):
            try:
                if isinstance(self.writer, AsyncWriter):
                    self.writer.put(run)  # spooled like the rest if the engine is down
                else:
                    await asyncio.to_thread(self.store.save_run, run)
            except StoreError as exc:
                logger.error("%s: could not save the run record: %s", run.portal_id, exc)
        if isinstance(self.writer, AsyncWriter):
            unsent = await self.writer.aclose()
            self.stats.set_value("portalnews/store_notes", self.writer.notes())
        self.stats.set_value("portalnews/unsent", unsent)
        self.stats.set_value("portalnews/summary", self.summary)
        await self._reconcile_stories()
        if unsent:
            logger.error("%d records could not be stored in %s (last error: %s)", unsent, self.owner.url,
                         self.writer.stats.last_error)

    async def _reconcile_stories(self) -> None:
        """The crawl's new articles join their stories (issue 13; serialised by the store
        against other workers).  A failure leaves them pending for the next crawl."""
        assert self.store is not None
        try:
            report = await asyncio.to_thread(self.store.reconcile_stories)
        except StoreError as exc:
            logger.error("stories were not reconciled (the new articles stay pending): %s", exc)
            return
        self.stats.set_value("portalnews/stories", report.to_dict())
