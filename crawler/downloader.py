"""The downloader: Scrapy's own, with its per-host concurrency limit actually held.

Scrapy 2.19 under the asyncio reactor starts each download as an asyncio task and marks the
request as transferring only once that task runs.  One pass over a host's queue
(``Downloader._process_queue``) therefore sees every transfer slot free and starts *every*
queued request at once: with ``CONCURRENT_REQUESTS_PER_DOMAIN = 1`` and no download delay, a
loopback server saw 8 requests of one host at the same time (measured, ``/tmp`` script in the
commit message), and a 429 or 503 could not pause the requests already let through.  For a
crawler whose promise to portal operators is "at most N requests to your host at once", that
is the one number that must hold.

:class:`HostLimitDownloader` marks the request as transferring when its task is created, so
the same pass stops at the limit.  Scrapy's ``_download`` adds it to the same set again (a
no-op) and removes it when the download ends, as before.  Selected by the ``DOWNLOADER``
setting (crawler/settings.py).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.http import Response
from twisted.internet.defer import Deferred

__all__ = ["HostLimitDownloader"]


class HostLimitDownloader(Downloader):
    """Scrapy's downloader; a request takes its host's transfer slot as soon as it is started."""

    def _wait_for_download(self, slot: Slot, request: Request,
                           queue_dfd: Deferred[Response]) -> Coroutine[Any, Any, None]:
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)
