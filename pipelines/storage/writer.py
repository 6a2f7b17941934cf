"""BackgroundWriter: batches store writes on a worker thread, off the crawl's reactor.

The pipeline hands documents and page records to a bounded queue; the worker thread
writes them in batches (one transaction per batch).  A failed batch is kept and
retried with back-off, never dropped, and every failure is logged; at close the writer
reports what is still unsent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.storage.base import Document, PageRecord, Store, UpsertResult

logger = logging.getLogger(__name__)

_STOP = object()


@dataclass
class WriterStats:
    written_docs: int = 0
    written_pages: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    per_portal: dict[str, UpsertResult] = field(default_factory=lambda: defaultdict(UpsertResult))


class BackgroundWriter:
    def __init__(self, store: Store, batch_size: int = 200, max_queue: int = 2000,
                 interval: float = 1.0, max_retry_delay: float = 30.0,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.batch_size = max(1, batch_size)
        self.interval = interval
        self.max_retry_delay = max_retry_delay
        self.queue: queue.Queue[object] = queue.Queue(maxsize=max(1, max_queue))
        self.stats = WriterStats()
        self.on_error = on_error
        self._pending_docs: list[Document] = []
        self._pending_pages: list[PageRecord] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="portalnews-writer", daemon=True)
        self._stopping = False

    def start(self) -> None:
        self._thread.start()

    def put_nowait(self, op: Document | PageRecord) -> bool:
        try:
            self.queue.put_nowait(op)
            return True
        except queue.Full:
            return False

    def put(self, op: Document | PageRecord, timeout: float | None = None) -> None:
        self.queue.put(op, timeout=timeout)

    @property
    def unsent(self) -> int:
        with self._lock:
            return len(self._pending_docs) + len(self._pending_pages) + self.queue.qsize()

    def _run(self) -> None:
        retry_delay = 0.0
        next_flush = time.monotonic() + self.interval
        stopping = False
        while True:
            timeout = max(0.0, next_flush - time.monotonic())
            try:
                op = self.queue.get(timeout=timeout)
            except queue.Empty:
                op = None
            if op is _STOP:
                stopping = True
            elif isinstance(op, Document):
                with self._lock:
                    self._pending_docs.append(op)
            elif isinstance(op, PageRecord):
                with self._lock:
                    self._pending_pages.append(op)
            size = len(self._pending_docs) + len(self._pending_pages)
            due = time.monotonic() >= next_flush
            if size and (size >= self.batch_size or due or stopping):
                ok = self._flush()
                if ok:
                    retry_delay = 0.0
                else:
                    retry_delay = min(self.max_retry_delay, max(0.5, retry_delay * 2))
                    if stopping:
                        return
                next_flush = time.monotonic() + (retry_delay or self.interval)
            elif due:
                next_flush = time.monotonic() + self.interval
            if stopping and self.queue.empty() and not (self._pending_docs or self._pending_pages):
                return

    def _flush(self) -> bool:
        with self._lock:
            docs = list(self._pending_docs)
            pages = list(self._pending_pages)
        try:
            if docs:
                result = self._upsert(docs)
                self.stats.written_docs += len(docs)
                del result
            if pages:
                self.store.record_pages(pages)
                self.stats.written_pages += len(pages)
        except Exception as exc:  # keep the batch, report, retry later
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            logger.error("store write failed (%d documents, %d pages kept for retry): %s",
                         len(docs), len(pages), self.stats.last_error)
            if self.on_error:
                self.on_error(self.stats.last_error)
            return False
        with self._lock:
            del self._pending_docs[: len(docs)]
            del self._pending_pages[: len(pages)]
        self.stats.batches += 1
        return True

    def _upsert(self, docs: list[Document]) -> UpsertResult:
        by_portal: dict[str, list[Document]] = defaultdict(list)
        for doc in docs:
            by_portal[doc.portal_id].append(doc)
        total = UpsertResult()
        # one call for all so that a backend can batch; per-portal results computed by portal groups
        for portal_id, group in by_portal.items():
            result = self.store.upsert_documents(group)
            self.stats.per_portal[portal_id].add(result)
            total.add(result)
        return total

    def close(self, timeout: float = 120.0) -> int:
        """Flush everything and stop the thread; returns the number of unsent records."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join(timeout)
        if self._pending_docs or self._pending_pages:
            # one last synchronous try (the thread gave up or timed out)
            self._flush()
        return self.unsent
