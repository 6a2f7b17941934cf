"""AsyncWriter: indexes a crawl into a search engine on the crawl's own asyncio loop.

The storage pipeline hands it documents, page records and run records.  They are sent
in batches of ``batch_size`` through the store's async bulk path; at most
``max_inflight`` batches are in flight, and a producer that would exceed that awaits
(backpressure) instead of piling up memory.  A timer sends a partial batch after
``interval`` seconds.

Nothing is lost: a batch the engine could not take (unreachable, 429/5xx after the
bulk helper's retries) is written to the on-disk :class:`~pipelines.storage.spool.Spool` and
the writer says so in the log.  While the engine is down, batches go straight to the
spool and the engine is probed with growing delays; once it answers, the spool is
replayed (also at start, and at every flush while it is not empty).  Documents the
engine refuses individually (4xx) are logged one by one, counted and kept in
``rejected-*.jsonl``.  :meth:`AsyncWriter.aclose` returns what is still unsent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pipelines.storage.base import Document, PageRecord, RunRecord
from pipelines.storage.spool import Record, Spool, chunks, record_type
from pipelines.storage.writer import WriterStats

logger = logging.getLogger(__name__)

_MAX_LOGGED_REJECTIONS = 20


@runtime_checkable
class AsyncIndexingStore(Protocol):
    """What a store offers to be written by :class:`AsyncWriter` (the engine store does)."""

    url: str

    async def awrite(self, records: Sequence[Record], replay: bool = False) -> Any: ...

    async def aping(self) -> bool: ...

    async def arefresh(self) -> None: ...

    async def aclose(self) -> None: ...


def supports_async(store: object) -> bool:
    return isinstance(store, AsyncIndexingStore)


class StatsSink(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...


@dataclass
class AsyncWriterStats(WriterStats):
    written_runs: int = 0
    spooled: int = 0  # records written to the spool by this writer
    replayed: int = 0  # records sent from the spool
    rejected: int = 0  # records the engine refused (per-document errors)
    outages: int = 0
    outage_seconds: float = 0.0
    lost: int = 0  # records neither indexed nor spooled (the spool could not be written)
    backpressure_waits: int = 0


class AsyncWriter:
    def __init__(self, store: AsyncIndexingStore, spool: Spool, batch_size: int = 200, max_inflight: int = 2,
                 interval: float = 1.0, stats: StatsSink | None = None, max_probe_delay: float = 30.0) -> None:
        self.store = store
        self.spool = spool
        self.batch_size = max(1, batch_size)
        self.max_inflight = max(1, max_inflight)
        self.interval = max(0.05, interval)
        self.max_probe_delay = max_probe_delay
        self.stats = AsyncWriterStats()
        self._sink = stats
        self._pending: list[Record] = []
        self._inflight = 0
        self._slot_freed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._replaying: asyncio.Lock | None = None
        self._last_launch = time.monotonic()
        self._down_since: float | None = None
        self._down_reason = ""
        self._probe_at = 0.0
        self._probe_delay = 1.0
        self._logged_rejections = 0
        self._spool_logged = False
        self._stop: asyncio.Event | None = None

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Replay what earlier crawls left in the spool (rejected records included), then
        start the flush timer.  Call from the running event loop."""
        self._slot_freed = asyncio.Event()
        self._stop = asyncio.Event()
        self._replaying = asyncio.Lock()
        if self.spool.files():
            counts = self.spool.counts()
            logger.warning("spool %s holds %s from an earlier crawl: sending it now", self.spool.directory,
                           counts.describe())
            await self.replay(include_rejected=True)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    @property
    def down(self) -> bool:
        return self._down_since is not None

    @property
    def unsent(self) -> int:
        """Records not in the engine: queued, in the spool, or lost (the spool failed)."""
        return len(self._pending) + self.spool.counts().records + self.stats.lost

    # --- producers -------------------------------------------------------------------
    def put_nowait(self, record: Record) -> bool:
        """Queue a record without waiting (from sync code); always accepted."""
        self._pending.append(record)
        if len(self._pending) >= self.batch_size and self._inflight < self.max_inflight:
            self._launch_now()
        return True

    put = put_nowait

    async def aput(self, record: Record) -> None:
        """Queue a record; awaits while ``max_inflight`` batches are in flight and a full
        batch is waiting (backpressure on the crawl)."""
        self._pending.append(record)
        while len(self._pending) >= self.batch_size:
            await self._acquire()
            self._launch_acquired()

    async def _acquire(self) -> None:
        assert self._slot_freed is not None, "AsyncWriter.start() was not awaited"
        waited = False
        while self._inflight >= self.max_inflight:
            if not waited:
                waited = True
                self.stats.backpressure_waits += 1
                self._inc("portalnews/writer_backpressure")
            self._slot_freed.clear()
            await self._slot_freed.wait()
        self._inflight += 1

    def _launch_now(self) -> None:
        self._inflight += 1
        self._launch_acquired()

    def _launch_acquired(self) -> None:
        batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size:]
        if not batch:
            self._release()
            return
        self._last_launch = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self) -> None:
        self._inflight -= 1
        if self._slot_freed is not None:
            self._slot_freed.set()

    # --- sending -----------------------------------------------------------------------
    async def _send(self, batch: list[Record], replay: bool = False) -> None:
        try:
            await self._write(batch, replay=replay)
        finally:
            self._release()

    async def _write(self, batch: Sequence[Record], replay: bool = False) -> bool:
        """Send one batch; spool what the engine did not take.  True when all was taken."""
        if self.down and not replay:
            self._to_spool(batch, self._down_reason)
            return False
        try:
            report = await self.store.awrite(batch, replay=replay)
        except Exception as exc:  # a bug or an unexpected client error: keep the data
            logger.exception("indexing a batch of %d records failed unexpectedly; spooling it", len(batch))
            self._to_spool(batch, f"{type(exc).__name__}: {exc}")
            return False
        self._account(report, replay)
        if report.rejected:
            self._reject(report.rejected)
        if report.failed:
            reason = str(report.error) if report.error is not None else report.failed[0][1]
            self.stats.failures += 1
            self.stats.last_error = reason
            self._inc("portalnews/store_write_failures")
            if report.error is not None and (report.error.unreachable or not report.written):
                self._mark_down(reason)
            self._to_spool([r for r, _ in report.failed], reason)
            return False
        if not replay:
            self._probe_delay = 1.0  # the engine takes writes: probe quickly after the next failure
        return not report.rejected

    def _account(self, report: Any, replay: bool) -> None:
        self.stats.batches += 1
        self.stats.written_docs += report.documents
        self.stats.written_pages += report.pages
        self.stats.written_runs += report.runs
        for portal_id, result in report.per_portal.items():
            self.stats.per_portal[portal_id].add(result)
        self._inc("portalnews/engine/bulk_requests", report.requests)
        if report.retries:
            self._inc("portalnews/engine/retries", report.retries)
        if report.written:
            self._inc("portalnews/engine/indexed_records", report.written)
        if replay and report.written:
            self.stats.replayed += report.written
            self._inc("portalnews/engine/replayed", report.written)

    def _to_spool(self, records: Sequence[Record], reason: str) -> None:
        try:
            path = self.spool.write(records)
        except OSError as exc:  # the last resort failed too: say so loudly, count it as unsent
            self.stats.lost += len(records)
            self._inc("portalnews/engine/lost", len(records))
            logger.error("cannot write %d records to the spool %s (%s) after the engine failed (%s): "
                         "they are lost for this crawl and fetched again by the next one",
                         len(records), self.spool.directory, exc, reason)
            return
        self.stats.spooled += len(records)
        self._inc("portalnews/engine/spooled", len(records))
        if self.down and self._spool_logged:  # the outage was reported; one line per batch is noise
            logger.debug("spooled %d records to %s (%s)", len(records), path, reason)
        else:
            logger.warning("spooled %d records to %s (%s)", len(records), path, reason)
            self._spool_logged = self.down

    def _reject(self, rejected: list[tuple[Record, str]]) -> None:
        self.spool.write([r for r, _ in rejected], errors=[e for _, e in rejected], rejected=True)
        self.stats.rejected += len(rejected)
        for record, error in rejected:
            kind = record_type(record)
            self._inc("portalnews/engine/doc_errors")
            self._inc(f"portalnews/engine/doc_errors/{kind}")
            if self._logged_rejections < _MAX_LOGGED_REJECTIONS:
                self._logged_rejections += 1
                logger.error("the search engine rejected %s %s: %s (kept in %s)", kind, _label(record), error,
                             self.spool.directory)
            elif self._logged_rejections == _MAX_LOGGED_REJECTIONS:
                self._logged_rejections += 1
                logger.error("more records rejected: see portalnews/engine/doc_errors and %s", self.spool.directory)

    def _mark_down(self, reason: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.stats.outages += 1
            self._inc("portalnews/engine/outages")
            logger.error("%s; the crawl goes on and keeps the records in %s until the engine is back", reason,
                         self.spool.directory)
        self._down_reason = reason
        self._probe_at = time.monotonic() + self._probe_delay
        self._probe_delay = min(self.max_probe_delay, self._probe_delay * 2)

    async def _mark_up(self) -> None:
        if self._down_since is None:
            return
        seconds = time.monotonic() - self._down_since
        self.stats.outage_seconds += seconds
        self._down_since = None
        self._spool_logged = False
        logger.warning("the search engine at %s answers again after %.1fs; replaying the spool (%s)",
                       self.store.url, seconds, self.spool.counts().describe())

    async def _probe(self) -> bool:
        if not self.down:
            return True
        if time.monotonic() < self._probe_at:
            return False
        if await self.store.aping():
            await self._mark_up()
            return True
        self._probe_at = time.monotonic() + self._probe_delay
        self._probe_delay = min(self.max_probe_delay, self._probe_delay * 2)
        return False

    async def replay(self, include_rejected: bool = False, wait: bool = False) -> int:
        """Send the spool's files, oldest first; stop at the first that fails again.
        Returns the number of records sent.  A replay already running is left alone, or,
        with ``wait``, awaited before what it left is sent."""
        assert self._replaying is not None
        if self._replaying.locked() and not wait:
            return 0
        sent = 0
        async with self._replaying:
            for path in self.spool.files(rejected=None if include_rejected else False):
                if self.down and not await self._probe():
                    break
                with self.spool.claim(path) as mine:
                    if not mine:
                        continue
                    records = self.spool.read(path)
                    ok, n = await self._replay_file(path, records)
                    sent += n
                    if not ok:
                        break
        if sent:
            logger.info("replayed %d spooled records into %s", sent, self.store.url)
        return sent

    async def _replay_file(self, path: Path, records: list[Record]) -> tuple[bool, int]:
        """Send one spool file.  Returns (go on with the next file, records sent)."""
        rejected_file = path.name.startswith("rejected-")
        batches = list(chunks(records, self.batch_size))
        keep: list[tuple[Record, str | None]] = []
        sent = 0
        go_on = True
        for i, chunk in enumerate(batches):
            await self._acquire()
            try:
                report = await self.store.awrite(chunk, replay=True)
            except Exception as exc:
                logger.error("replaying %s failed: %s", path, exc)
                keep += [(r, None) for c in batches[i:] for r in c]
                go_on = False
                break
            finally:
                self._release()
            self._account(report, replay=True)
            sent += report.written
            if report.rejected:
                if rejected_file:
                    keep += report.rejected  # still refused: stays a rejected record
                else:
                    self._reject(report.rejected)
            if report.failed:
                if report.error is not None and (report.error.unreachable or not report.written):
                    self._mark_down(str(report.error))
                keep += report.failed
                keep += [(r, None) for c in batches[i + 1:] for r in c]
                go_on = False
                break
        if keep:
            # what is not sent yet replaces the file (same name, so the same place in the order)
            self.spool.write([r for r, _ in keep], errors=[e for _, e in keep], name=path.name)
        else:
            self.spool.remove(path)
        return go_on, sent

    # --- timer and close ---------------------------------------------------------------
    async def _tick(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
                return
            except TimeoutError:
                pass
            try:
                await self.flush_due()
            except Exception:  # never let the timer die silently
                logger.exception("periodic flush failed")

    async def flush_due(self) -> None:
        """Send a partial batch that waited ``interval``; replay the spool when possible."""
        if (self._pending and self._inflight < self.max_inflight
                and time.monotonic() - self._last_launch >= self.interval):
            self._launch_now()
        if self.spool.files(rejected=False) and (not self.down or await self._probe()):
            await self.replay()

    async def drain(self) -> int:
        """Send everything queued, wait for the batches in flight, try the spool once more;
        return what is still unsent."""
        while self._pending or self._tasks:
            if self._pending:
                await self._acquire()
                self._launch_acquired()
            else:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.spool.files(rejected=False):
            if self.down:
                self._probe_at = 0.0
            if await self._probe():
                await self.replay(wait=True)  # the timer's replay may be running: the count needs its end
        return self.unsent

    async def aclose(self) -> int:
        """Drain, refresh the indices so searches see the crawl, close the async client;
        return the number of records still unsent (they are in the spool)."""
        if self._stop is not None:
            self._stop.set()
        if self._ticker is not None:
            await asyncio.gather(self._ticker, return_exceptions=True)  # lets a running flush finish
        unsent = await self.drain()
        if not self.down:
            try:
                await self.store.arefresh()
            except Exception as exc:
                logger.warning("could not refresh the indices of %s: %s", self.store.url, exc)
        elif self._down_since is not None:
            self.stats.outage_seconds += time.monotonic() - self._down_since
        await self.store.aclose()
        return unsent

    def spool_pending(self, reason: str) -> int:
        """Spool what is still queued, without the event loop (the crawl was stopped at once:
        no batch can be sent any more); return the number of records not in the engine."""
        pending, self._pending = self._pending, []
        if pending:
            self._to_spool(pending, reason)
        return self.unsent

    def notes(self) -> list[str]:
        """Lines for the end-of-crawl summary about outages and the spool."""
        out = []
        s = self.stats
        if s.outages:
            out.append(f"the search engine was unreachable {s.outages} time(s), {s.outage_seconds:.0f}s in all; "
                       f"{s.spooled} records were spooled and {s.replayed} replayed")
        elif s.spooled or s.replayed:
            out.append(f"{s.spooled} records were spooled and {s.replayed} replayed")
        if s.rejected:
            out.append(f"the search engine rejected {s.rejected} records (see the log and "
                       f"{self.spool.directory}/rejected-*.jsonl)")
        counts = self.spool.counts()
        if counts.records:
            out.append(f"not stored yet: {counts.describe()}, kept in {self.spool.directory}; "
                       "they are sent at the next crawl")
        if s.lost:
            out.append(f"{s.lost} records could not even be spooled (see the log): the next crawl fetches "
                       "their pages again")
        return out

    def _inc(self, key: str, n: int = 1) -> None:
        if self._sink is not None and n:
            self._sink.inc_value(key, n)


def _label(record: Record) -> str:
    if isinstance(record, (Document, PageRecord)):
        return record.url if len(record.url) <= 200 else record.url[:200] + "…"
    if isinstance(record, RunRecord):
        return record.run_id
    return repr(record)  # pragma: no cover


def default_spool_dir(store: object, configured: str | None = None) -> Path:
    """``configured`` (PORTALNEWS_SPOOL_DIR), else ``data/spool/<store>/``."""
    if configured:
        return Path(configured)
    name = getattr(store, "spool_name", None) or "store"
    return Path("data") / "spool" / str(name)
