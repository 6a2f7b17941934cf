"""The web app's one store: opened read-only on first use, reopened after it failed.

The app never creates a store: a SQLite URL must name an existing portalnews file, and a
search-engine URL an existing portalnews index (opening either would otherwise create
one).  Anything that makes the store unusable (a missing file, an engine that is down, a
store of another schema version) raises :class:`StoreUnavailable`, which the app answers
with a readable 503 page; the next request tries again.

Every store call runs on the holder's own few threads (:meth:`StoreHolder.run`), not on the
server's thread pool: the SQLite store keeps one connection per thread, so a fixed set of
threads keeps a fixed set of connections however long the app runs.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from pipelines.storage import Store, StoreError, open_store
from pipelines.storage.base import redact_url

logger = logging.getLogger(__name__)

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The store cannot answer now; the message says why (without a password)."""


class StoreHolder:
    """Opens the store at ``url`` when first needed and hands it to requests.

    A :class:`~pipelines.storage.StoreError` while opening or using it closes it and raises
    :class:`StoreUnavailable`; the following request opens it again."""

    def __init__(self, url: str, opener: Callable[[str], Store] = open_store, threads: int = 4,
                 export_threads: int = 2) -> None:
        self.url = url
        self._opener = opener
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._threads = {"store": threads, "export": export_threads}
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def _executor(self, name: str) -> ThreadPoolExecutor:
        """The named pool, started on first use (again after :meth:`close`: an app may be served,
        stopped and served again)."""
        with self._lock:
            if name not in self._executors:
                self._executors[name] = ThreadPoolExecutor(max_workers=self._threads[name],
                                                           thread_name_prefix=f"web-{name}")
            return self._executors[name]

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The threads every store call runs on."""
        return self._executor("store")

    @property
    def export_executor(self) -> ThreadPoolExecutor:
        """The threads exports read on (each export holds one while it streams)."""
        return self._executor("export")

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def _open(self) -> Store:
        with self._lock:
            if self._store is not None:
                return self._store
            try:
                store = self._opener(self.url)
            except StoreError as exc:
                raise StoreUnavailable(str(exc)) from None
            try:
                store.open(create=False)  # a missing store is an error, never created here
            except StoreError as exc:
                store.close()
                raise StoreUnavailable(str(exc)) from None
            self._store = store
            return store

    def reset(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # closing a broken store may fail too; it is dropped either way
                logger.debug("closing the failed store", exc_info=True)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The open store; a StoreError (or a SQLite error outside the store's own handling: a file
        damaged or removed under the app) inside the block becomes StoreUnavailable, and a reopen."""
        store = self._open()
        try:
            yield store
        except (StoreError, sqlite3.DatabaseError) as exc:
            logger.warning("store %s failed: %s", self.shown_url, exc)
            self.reset()
            raise StoreUnavailable(str(exc)) from None

    def call(self, fn: Callable[[Store], T]) -> T:
        with self.store() as store:
            return fn(store)

    async def run(self, fn: Callable[[Store], T]) -> T:
        """``fn(store)`` on one of the holder's threads."""
        return await run_on(self.executor, lambda: self.call(fn))

    def close(self) -> None:
        """Close the store (on the threads that opened it) and stop the threads."""
        with self._lock:
            executors, self._executors = self._executors, {}
        store_threads = executors.pop("store", None)
        if store_threads is not None:
            store_threads.submit(self.reset).result()
            store_threads.shutdown(wait=True)
        else:
            self.reset()
        for pool in executors.values():
            pool.shutdown(wait=False, cancel_futures=True)


async def run_on(executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
    """``fn()`` on ``executor``, awaited without blocking the event loop."""
    return await asyncio.wrap_future(executor.submit(fn))
