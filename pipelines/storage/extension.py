"""StoreExtension: the one owner of the store for a crawl.

Built from ``PORTALNEWS_STORE`` in ``from_crawler`` (a bad URL or a missing client library
disables it with the reason, and the storage stage then refuses to run), opened once, by the
first component that needs it (the storage stage, when the item pipelines open), and closed
once when the engine stops: after the item pipelines have flushed and closed, and after
every ``spider_closed`` handler (the alerting extension reads the store there).

The spider, the storage stage, the politeness middleware and the alerting extension reach
it with :func:`crawl_store` (``crawler.get_extension(StoreExtension)``) instead of opening
the store from its URL themselves.  The store is used from several threads (the background
writer, the back-off recorder, the alert evaluation): every backend allows that.
"""

from __future__ import annotations

import logging
import threading

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from pipelines.search import Abbreviations
from pipelines.storage.base import Store, StoreError, redact_url
from pipelines.storage.factory import open_store, resolve_store_url

logger = logging.getLogger(__name__)


class StoreExtension:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._opened = False
        self._error: StoreError | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StoreExtension:
        # the setting (-s, the CLI, -a store=), else the environment (PORTALNEWS_STORE,
        # ELASTICSEARCH_URL), else the embedded default
        url = resolve_store_url(crawler.settings.get("PORTALNEWS_STORE") or None)
        try:
            store = open_store(url)  # validates the URL and the client libraries; does not connect
        except StoreError as exc:
            raise NotConfigured(str(exc)) from None
        ext = cls(store)
        crawler.signals.connect(ext.close, signal=signals.engine_stopped)
        return ext

    @property
    def url(self) -> str:
        """The store's URL without its password, for messages."""
        return redact_url(self._store.url)

    def store(self) -> Store:
        """The crawl's store, open.  The first call opens it; when that fails, every call
        raises the same :class:`StoreError` (the store is never opened twice)."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if not self._opened:
                try:
                    self._store.open()
                except StoreError as exc:
                    self._error = exc
                    raise
                self._opened = True
                logger.debug("store %s opened", self.url)
        return self._store

    def abbreviations(self) -> Abbreviations | None:
        """The abbreviations the store indexes documents with (read without opening it), for
        the extraction workers that analyse an article's text for the index beforehand;
        None when the store does not say."""
        found = getattr(self._store, "abbreviations", None)
        return found if isinstance(found, Abbreviations) else None

    def close(self) -> None:
        """Close the store (once; the engine_stopped signal calls this)."""
        with self._lock:
            if not self._opened:
                return
            self._opened = False
            try:
                self._store.close()
            except StoreError as exc:
                logger.warning("closing the store %s: %s", self.url, exc)


def crawl_store(crawler: Crawler) -> StoreExtension | None:
    """The crawl's :class:`StoreExtension`, or None when it is disabled (no usable
    ``PORTALNEWS_STORE``, or taken out of ``EXTENSIONS``)."""
    return crawler.get_extension(StoreExtension)
