"""ExtractionPipeline: classify each fetched page and extract the article fields.

Calls the pure extractor :func:`pipelines.extract.extract_page` with the portal's
family profile from the registry (``auto`` detects the family) and writes its one typed
result into the item: ``kind``, ``reason`` and the article ``fields``
(:meth:`PageExtraction.article_fields`).  A page that breaks the extractor is recorded as
an extraction error and never stops the crawl.

Extraction runs off the reactor's thread, in ``PORTALNEWS_EXTRACTION_WORKERS`` worker
processes (:mod:`pipelines.stages.extraction_pool`; unset: one per core but one, at most
four; ``0``: in the crawl's own thread, as before).  The pool is started when the spider
opens and stopped when it closes; a page that kills its worker is an extraction error
(``portalnews/extraction_worker_crashes``) and the pool starts a new worker.  The
``portalnews/extraction_ms_per_page`` stat is the CPU time extraction itself took, wherever it ran.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from pipelines.extract.profiles import ProfileError, ProfileSet, load_profiles
from pipelines.model.kinds import PageKind
from pipelines.stages.extraction_pool import (
    Extracted,
    ExtractionFailed,
    ExtractionPool,
    WorkerCrashed,
    default_workers,
    extract_one,
)
from pipelines.storage.extension import crawl_store

logger = logging.getLogger(__name__)


def _workers_setting(value: Any) -> int:
    """``PORTALNEWS_EXTRACTION_WORKERS``: unset, empty or ``auto`` → :func:`default_workers`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return default_workers()
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise NotConfigured(f"PORTALNEWS_EXTRACTION_WORKERS={value!r}: a number of processes, 0 or auto") from None
    if workers < 0:
        raise NotConfigured(f"PORTALNEWS_EXTRACTION_WORKERS={value!r}: a number of processes, 0 or auto")
    return workers


class ExtractionPipeline:
    def __init__(self, crawler: Crawler, profiles: ProfileSet, *, workers: int = 0,
                 profiles_dir: str | None = None, worker_init: str | None = None) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.profiles = profiles
        # The crawl's clock, pinned for tests and replays: relative dates ("2 giờ trước")
        # are read against it instead of each page's fetch time.
        self.now: str | None = crawler.settings.get("PORTALNEWS_NOW") or None
        self.portal_profiles: dict[str, str] = {}
        self.seconds = 0.0
        self.pages = 0
        self.workers = workers
        self.profiles_dir = profiles_dir
        # test hook: dotted path of a function each worker runs once started
        self.worker_init = worker_init
        self.pool: ExtractionPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractionPipeline:
        extra = crawler.settings.get("PORTALNEWS_PROFILES_DIR")
        try:
            profiles = load_profiles(Path(extra) if extra else None)
        except ProfileError as exc:
            raise NotConfigured(f"family profiles: {exc}") from None
        return cls(crawler, profiles, workers=_workers_setting(crawler.settings.get("PORTALNEWS_EXTRACTION_WORKERS")),
                   profiles_dir=str(extra) if extra else None,
                   worker_init=crawler.settings.get("PORTALNEWS_EXTRACTION_WORKER_INIT") or None)

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        for portal in getattr(spider, "portals", []):
            if portal.profile not in ("auto", "generic") and portal.profile not in self.profiles.names:
                logger.error("%s: unknown profile %r, using auto-detection (known: %s)",
                             portal.id, portal.profile, ", ".join(sorted(self.profiles.names)))
                self.portal_profiles[portal.id] = "auto"
            else:
                self.portal_profiles[portal.id] = portal.profile
        if self.workers:
            # the workers analyse an article's text for the search index too, with the store's
            # abbreviations (in-process extraction leaves that to the storage thread)
            owner = crawl_store(self.crawler)
            self.pool = ExtractionPool(self.workers, self.profiles_dir, self.worker_init,
                                       owner.abbreviations() if owner is not None else None)
            self.pool.start()
        self.stats.set_value("portalnews/extraction_workers", self.workers)

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        html = adapter.get("html")
        if adapter.get("kind") != PageKind.UNKNOWN or not html:
            return item
        portal_id, url = adapter["portal_id"], adapter["url"]
        profile = self.portal_profiles.get(portal_id, "auto")
        fetched_at = self.now or adapter.get("fetched_at")
        extracted: Extracted
        try:
            if self.pool is not None:
                extracted = await self.pool.extract(html, url, profile, fetched_at)
            else:
                extracted = extract_one(html, url, profile, self.profiles, fetched_at)
        except Exception as exc:  # a broken page must never stop the crawl
            # (an error raised in a worker arrives as ExtractionFailed("ErrorType: message"))
            logger.warning("%s: extraction failed on %s: %s", portal_id, url,
                           exc if isinstance(exc, ExtractionFailed) else f"{type(exc).__name__}: {exc}")
            adapter.update(kind=PageKind.ERROR, error=f"extraction failed: {exc}", reason="extraction error")
            self.stats.inc_value(f"portalnews/extraction_errors/{portal_id}")
            if isinstance(exc, WorkerCrashed):
                self.stats.inc_value("portalnews/extraction_worker_crashes")
            return item
        result, content_hash, seconds, signature, indexed = extracted
        self.seconds += seconds
        self.pages += 1
        adapter.update(kind=result.page_kind, reason=result.reason, fields=result.article_fields(url),
                       content_hash=content_hash)
        if signature is not None and "story_signature" in adapter.field_names():
            adapter["story_signature"] = signature  # the body's, for the store (see PageItem)
        if indexed is not None and "indexed_texts" in adapter.field_names():
            adapter["indexed_texts"] = indexed
        self.stats.inc_value(f"portalnews/pages/{result.page_kind}")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.pool is not None:
            if self.pool.restarts:
                self.stats.set_value("portalnews/extraction_pool_restarts", self.pool.restarts)
            self.pool.close()
            self.pool = None
        if self.pages:
            self.stats.set_value("portalnews/extraction_ms_per_page", round(1000 * self.seconds / self.pages, 3))
