"""``/export``: every match of the current search, streamed as CSV or JSON lines.

The documents are those ``portalnews export --query`` gives for the same query and filters
(the store's own export iteration, which pages through every match, beyond the 10,000 hits
a page of the search can reach), in the export order (by portal, newest first), with the
fields of :data:`pipelines.storage.base.EXPORT_FIELDS`.  CSV starts with the byte-order mark
of the CLI export and goes through :class:`pipelines.output.CsvWriter`, which neutralises
formula cells.

One export reads the store on one thread from start to end (a SQLite cursor belongs to its
thread), on the app's export threads, and hands the chunks over through a short queue, so a
slow client holds back the reading instead of filling memory.  The first chunk is read before
the answer starts, so a store that is down is a 503; a failure later can only end the stream
early (it is logged).  A client that goes away stops the reading.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from crawler.cli.export import BOM
from crawler.web.params import ExportFormat, SearchParams, parse_format, parse_search
from crawler.web.storeholder import StoreHolder, StoreUnavailable
from pipelines.output import CsvWriter, json_line
from pipelines.storage import Document
from pipelines.storage.base import EXPORT_FIELDS

logger = logging.getLogger(__name__)

#: Documents per chunk of the answer.
BATCH = 200
#: Chunks read ahead of the client.
AHEAD = 4
MEDIA_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.JSONL: "application/x-ndjson; charset=utf-8"}


class _End:
    """The last item of the queue: the export ended, with ``error`` when it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _chunk(docs: list[Document], fmt: ExportFormat, header: bool) -> str:
    buf = io.StringIO()
    if fmt is ExportFormat.CSV:
        writer = CsvWriter(buf, EXPORT_FIELDS)
        if header:
            buf.write(BOM)
            writer.writeheader()
        for doc in docs:
            writer.writerow(doc.export_dict())
    else:
        for doc in docs:
            buf.write(json_line(doc.export_dict()) + "\n")
    return buf.getvalue()


def chunks(docs: Iterator[Document], fmt: ExportFormat) -> Iterator[str]:
    """The export as text chunks: the header (CSV) with the first batch, then one per batch."""
    first = True
    while (batch := list(itertools.islice(docs, BATCH))) or first:
        yield _chunk(batch, fmt, header=first)
        first = False


class ExportJob:
    """One export read on an export thread, its chunks passed on through a bounded queue."""

    def __init__(self, holder: StoreHolder, params: SearchParams, fmt: ExportFormat) -> None:
        self.holder, self.params, self.fmt = holder, params, fmt
        self.queue: queue.Queue[str | _End] = queue.Queue(maxsize=AHEAD)
        self.stop = threading.Event()
        self.count = 0

    def _put(self, item: str | _End) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce(self) -> None:
        try:
            with self.holder.store() as store:
                for text in chunks(store.iter_documents(self.params.export_filter()), self.fmt):
                    if not self._put(text):
                        logger.info("export abandoned by the client")
                        return
        except BaseException as exc:  # handed to the reader, which reports it
            self._put(_End(exc))
            return
        self._put(_End())

    async def next_item(self) -> str | _End:
        # Short waits, so that no thread is left waiting on the queue after the client left.
        while True:
            try:
                return await asyncio.to_thread(self.queue.get, True, 0.5)
            except queue.Empty:
                if self.stop.is_set():
                    return _End()

    async def rest(self, first: str) -> AsyncIterator[str]:
        try:
            yield first
            while True:
                item = await self.next_item()
                if isinstance(item, _End):
                    if item.error is not None:
                        logger.error("export ended early: %s", item.error)
                    return
                yield item
        finally:
            self.stop.set()


async def export(request: Request) -> Response:
    params = parse_search(request.query_params)
    fmt = parse_format(request.query_params)
    holder: StoreHolder = request.app.state.holder
    job = ExportJob(holder, params, fmt)
    holder.export_executor.submit(job.produce)
    first = await job.next_item()
    if isinstance(first, _End):  # failed before the first chunk: a store that is down is a 503
        job.stop.set()
        raise first.error or StoreUnavailable("the export ended before it began")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(job.rest(first), media_type=MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="portalnews-{stamp}.{fmt.value}"'})
