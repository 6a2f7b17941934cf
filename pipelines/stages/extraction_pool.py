"""Extraction off the reactor's thread: a pool of worker processes running ``extract_page``.

The crawl's reactor thread downloads, parses links, schedules and stores; extraction is
pure CPU work on one page at a time, so it runs in a standard
:class:`concurrent.futures.ProcessPoolExecutor` (``forkserver`` start where the platform has
it, else ``spawn``: never ``fork`` from a process whose reactor runs threads).  Each worker
loads the family profiles once, in its initializer, and then extracts the pages it is sent;
what travels is the pages' text one way and their :class:`PageExtraction` back, in batches
that grow while the workers are busy (see :data:`MAX_BATCH`).

A worker that dies (a page that crashes the interpreter, the OOM killer) breaks the whole
executor: every page in flight then fails with ``BrokenProcessPool``.  The pool replaces
the broken executor and runs each of those pages again, one at a time, in a quarantine
worker of its own: a page that breaks that worker too is the culprit and becomes one
:class:`WorkerCrashed` error; the others are extracted as if nothing had happened.

Workers ignore SIGINT (Ctrl-C in a terminal reaches the whole process group: the crawl
decides when to stop, then closes the pool) and exit by themselves when the crawl's process
is gone, so that no process stays behind a crawl that was killed.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredLock
from twisted.python.failure import Failure

from pipelines.extract import PageExtraction, extract_page
from pipelines.extract.profiles import ProfileSet, load_profiles
from pipelines.search import Abbreviations, IndexedTexts, indexed_texts

logger = logging.getLogger(__name__)

__all__ = ["Extracted", "ExtractionFailed", "ExtractionPool", "WorkerCrashed", "default_workers", "extract_one"]

# (result, sha1 of the page's UTF-8 text, CPU seconds the extraction took, the story signature
# of an article's body as Signature.to_bytes, else None, the indexed forms of an article's
# text made with the store's abbreviations when they were given, else None)
Extracted = tuple[PageExtraction, str, float, "bytes | None", "IndexedTexts | None"]
# (html, url, profile name, fetch time)
Job = tuple[str, str, str, "datetime | str | None"]

# Pages travel in batches: while every worker has a batch running and one waiting, the pages
# that arrive wait in the crawl process and leave together when a batch comes back.  Each
# batch costs the executor's management thread a few wake-ups, and that thread needs the
# GIL, which the busy reactor thread hands over only every switch interval (5 ms): one page
# per call starved the workers (measured: 32 pages/s with a worker mostly idle, against 87
# for the bare spider in the same round).
MAX_BATCH = 32
BATCHES_PER_WORKER = 2

_PARENT_POLL_S = 1.0


class WorkerCrashed(RuntimeError):
    """The page's extraction killed its worker process, even when run alone."""


class ExtractionFailed(RuntimeError):
    """The extractor raised on a page in a worker ("ErrorType: message")."""


def default_workers(cpu_count: int | None = None) -> int:
    """Worker processes when ``PORTALNEWS_EXTRACTION_WORKERS`` is not set: one core is left to
    the reactor (downloads, link parsing, storage), the others extract, at most four; on a
    single core extraction stays in-process."""
    if cpu_count is None:  # the cores this process may run on (a container's, a taskset's)
        cpu_count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cpu_count - 1))


def extract_one(html: str, url: str, profile: str, profiles: ProfileSet | None,
                fetched_at: datetime | str | None, abbreviations: Abbreviations | None = None) -> Extracted:
    """Extract one page and hash its text: the same work in-process and in a worker, timed in
    CPU time of the thread that does it (a wall clock would count the time other processes
    on a shared machine hold the core).  An article's body is signed for stories here too
    (:func:`pipelines.stories.make_signature`, pure work on the body: in a worker it stays off
    the crawl's process); the signing is not part of the extraction time.  With the store's
    ``abbreviations``, an article's title, summary and body are analysed for the search index
    here as well (:func:`pipelines.search.indexed_texts`, not timed either)."""
    started = time.thread_time()
    result = extract_page(html, url, profile=profile, profiles=profiles, fetched_at=fetched_at)
    digest = hashlib.sha1(html.encode("utf-8", "replace")).hexdigest()
    seconds = time.thread_time() - started
    signature = indexed = None
    if result.is_article and result.body:
        # imported here, not by the fork server: the signing brings numpy (about 15 MB) into
        # every process that imports it, and the fork server never signs
        from pipelines.stories import make_signature

        signature = make_signature(result.body).to_bytes()
        if abbreviations is not None:  # the texts as the storage stage makes the document of them
            indexed = indexed_texts((result.title or "", result.summary, result.body), abbreviations)
    return result, digest, seconds, signature, indexed


# --- inside a worker process -------------------------------------------------------------

_worker_profiles: ProfileSet | None = None
_worker_abbreviations: Abbreviations | None = None


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its parent has ended too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def _watch_crawl(crawl_pid: int) -> None:
    """Exit when the crawl that started this worker is gone (killed without closing the pool).
    A forkserver worker's parent is the fork server, which itself only ends once every
    worker has: the crawl's own process id is what is watched."""
    while True:
        time.sleep(_PARENT_POLL_S)
        if _gone(crawl_pid):
            os._exit(0)


def _init_worker(profiles_dir: str | None, hook: str | None, crawl_pid: int,
                 abbreviations: Abbreviations | None = None) -> None:
    global _worker_profiles, _worker_abbreviations
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_crawl, args=(crawl_pid,), name="crawl-watch", daemon=True).start()
    _worker_profiles = load_profiles(Path(profiles_dir) if profiles_dir else None)
    _worker_abbreviations = abbreviations
    if hook:
        _resolve(hook)()


def _extract_in_worker(html: str, url: str, profile: str, fetched_at: datetime | str | None) -> Extracted:
    return extract_one(html, url, profile, _worker_profiles, fetched_at, _worker_abbreviations)


def _extract_batch(jobs: list[Job]) -> list[tuple[bool, Extracted | str]]:
    """Extract several pages: (True, result) or (False, "ErrorType: message") for each."""
    out: list[tuple[bool, Extracted | str]] = []
    for html, url, profile, fetched_at in jobs:
        try:
            out.append((True, extract_one(html, url, profile, _worker_profiles, fetched_at, _worker_abbreviations)))
        except Exception as exc:  # one page's error is that page's, not its batch's
            out.append((False, f"{type(exc).__name__}: {exc}"))
    return out


def _resolve(path: str) -> Callable[[], Any]:
    module, _, name = path.rpartition(".")
    found: Callable[[], Any] = getattr(importlib.import_module(module), name)
    return found


# --- in the crawl process ----------------------------------------------------------------


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # the fork server imports extraction once; every worker it forks starts with it
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _as_deferred(future: Future[Extracted]) -> Deferred[Extracted]:
    """A Deferred fired on the reactor thread when ``future`` (set in the executor's thread) is done."""
    from twisted.internet import reactor

    d: Deferred[Extracted] = Deferred()

    def fire(done: Future[Extracted]) -> None:
        exc = done.exception()
        if exc is not None:
            d.errback(Failure(exc))
        else:
            d.callback(done.result())

    future.add_done_callback(lambda done: reactor.callFromThread(fire, done))  # type: ignore[attr-defined]
    return d


class ExtractionPool:
    """``workers`` processes extracting pages for one crawl (see the module docstring)."""

    def __init__(self, workers: int, profiles_dir: str | None = None, worker_init: str | None = None,
                 abbreviations: Abbreviations | None = None) -> None:
        if workers < 1:
            raise ValueError("an extraction pool needs at least one worker")
        self.workers = workers
        self.profiles_dir = profiles_dir
        self.worker_init = worker_init
        # the store's abbreviations, sent to each worker once, at its start
        self.abbreviations = abbreviations
        self.restarts = 0
        self.crashes = 0
        self._executor: ProcessPoolExecutor | None = None
        self._quarantine: ProcessPoolExecutor | None = None
        self._quarantine_lock = DeferredLock()
        self._closed = False
        self._pending: list[tuple[Job, Deferred[Extracted]]] = []
        self._in_flight = 0

    def _new(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker,
                                   initargs=(self.profiles_dir, self.worker_init, os.getpid(), self.abbreviations))

    def start(self) -> None:
        """Start the workers now (not at the first page), so that their start-up is not a page's."""
        self._executor = self._new(self.workers)
        # one trivial call per worker: each loads its profiles before the first page arrives
        for _ in range(self.workers):
            self._executor.submit(os.getpid)

    async def extract(self, html: str, url: str, profile: str, fetched_at: datetime | str | None) -> Extracted:
        """Extract one page in a worker; :class:`ExtractionFailed` when the extractor raised,
        :class:`WorkerCrashed` when the page kills its worker."""
        if self._closed:
            raise RuntimeError("the extraction pool is closed")
        done: Deferred[Extracted] = Deferred()
        self._pending.append(((html, url, profile, fetched_at), done))
        self._dispatch()
        try:
            return await maybe_deferred_to_future(done)
        except BrokenProcessPool:
            pass
        # the page was in flight when a worker died: it may be the cause or a bystander
        return await self._alone(html, url, profile, fetched_at)

    def _dispatch(self) -> None:
        """Send the waiting pages, in batches, while a worker lacks a batch to run or to run next."""
        while self._pending and self._in_flight < BATCHES_PER_WORKER * self.workers and not self._closed:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            if self._executor is None:
                self.start()
            executor = self._executor
            assert executor is not None
            try:
                future = executor.submit(_extract_batch, [job for job, _ in batch])
            except BrokenProcessPool as exc:
                self._replace(executor)
                for _, done in batch:
                    done.errback(Failure(exc))
                continue
            self._in_flight += 1
            future.add_done_callback(partial(self._from_thread, batch, executor))

    def _from_thread(self, batch: list[tuple[Job, Deferred[Extracted]]], executor: ProcessPoolExecutor,
                     future: Future[list[tuple[bool, Extracted | str]]]) -> None:
        """(the executor's thread) Hand the returned batch over to the reactor thread."""
        from twisted.internet import reactor

        reactor.callFromThread(self._returned, future, batch, executor)  # type: ignore[attr-defined]

    def _returned(self, future: Future[list[tuple[bool, Extracted | str]]],
                  batch: list[tuple[Job, Deferred[Extracted]]], executor: ProcessPoolExecutor) -> None:
        """(reactor thread) A batch came back: send the next one, then hand each page its result."""
        self._in_flight -= 1
        failure: BaseException | None = None
        if future.cancelled():
            failure = BrokenProcessPool("the extraction pool was shut down")
        else:
            failure = future.exception()
        if isinstance(failure, BrokenProcessPool):
            self._replace(executor)
        self._dispatch()
        if failure is not None:
            for _, done in batch:
                done.errback(Failure(failure))
            return
        for (_, done), (ok, value) in zip(batch, future.result(), strict=True):
            if ok:
                done.callback(value)  # type: ignore[arg-type]
            else:
                done.errback(Failure(ExtractionFailed(value)))

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is not broken or self._closed:
            return  # another page already replaced it
        self.restarts += 1
        logger.warning("an extraction worker died: starting %d new one(s) (restart %d)", self.workers, self.restarts)
        broken.shutdown(wait=False, cancel_futures=True)
        self.start()

    async def _alone(self, html: str, url: str, profile: str, fetched_at: datetime | str | None) -> Extracted:
        """Run a page in the quarantine worker, one page at a time."""
        await maybe_deferred_to_future(self._quarantine_lock.acquire())
        try:
            if self._closed:
                raise RuntimeError("the extraction pool is closed")
            if self._quarantine is None:
                self._quarantine = self._new(1)
            try:
                return await maybe_deferred_to_future(
                    _as_deferred(self._quarantine.submit(_extract_in_worker, html, url, profile, fetched_at)))
            except BrokenProcessPool:
                self.crashes += 1
                self._quarantine.shutdown(wait=False, cancel_futures=True)
                self._quarantine = None
                raise WorkerCrashed("the page killed its extraction worker") from None
        finally:
            self._quarantine_lock.release()

    def close(self) -> None:
        """Stop the workers (they are idle by then: the crawl closes after its last item)."""
        self._closed = True
        pending, self._pending = self._pending, []
        for _, done in pending:
            done.errback(Failure(RuntimeError("the extraction pool is closed")))
        for executor in (self._executor, self._quarantine):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        self._executor = self._quarantine = None
