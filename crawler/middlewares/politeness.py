"""Politeness at scale: back a host off when it answers 429/503 or slows down, and record it.

Per-host limits across workers: a crawl of a portal holds the portal's lease and its
host's lease (:mod:`crawler.scheduling.scheduler`), so at any time one worker at most sends
requests to a host, and ``CONCURRENT_REQUESTS_PER_DOMAIN`` / ``DOWNLOAD_DELAY`` /
AutoThrottle (on by default) hold for the whole fleet, not per worker.

:class:`PolitenessMiddleware` (a downloader middleware) adds automatic back-off.  It
looks at each answer on the ``response_downloaded`` signal, like AutoThrottle: that runs
before the downloader sends the host's next request, so a pause holds from the very next
request on, and before the retry middleware re-schedules the failed one.

* **429 Too Many Requests / 503 Service Unavailable** (``PORTALNEWS_BACKOFF_HTTP_CODES``):
  the host gets no request for ``Retry-After`` seconds (a number or an HTTP date) or,
  without that header, ``PORTALNEWS_BACKOFF_BASE_DELAY`` doubled at each back-off in a
  row, at most ``PORTALNEWS_BACKOFF_MAX_DELAY``.  Scrapy's retry middleware then retries
  the request, after the pause.
* **slow answers**: a response that took longer than ``PORTALNEWS_SLOW_RESPONSE``
  seconds (0 disables) pauses the host for twice that latency.
* after a pause the host's requests are spaced by at least half the pause (and at least
  twice the spacing before); AutoThrottle may not shorten that while the pause lasts,
  and afterwards each successful answer halves the extra spacing until the host is back
  to its normal pace.

Every back-off is logged once, counted in the crawl stats (``portalnews/backoff/…``) and
recorded in the crawl's store (:class:`~pipelines.storage.extension.StoreExtension`;
``record_backoff(host, until, reason)``, written from a background thread so the crawl
never waits), where the scheduler of every worker sees it: a portal whose host is still
backed off is not started.  A crawl started while its host is backed off begins at the
recorded delay.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

from pipelines.storage import StoreError
from pipelines.storage.extension import StoreExtension, crawl_store

logger = logging.getLogger(__name__)

def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: ``"120"`` -> 120.0; an HTTP date -> seconds until it; else None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - (time.time() if now is None else now))


@dataclass
class HostState:
    """A host this crawl is sparing."""

    base_delay: float  # the slot's delay before the first back-off
    delay: float = 0.0  # current spacing between two requests
    until: float = 0.0  # monotonic end of the pause
    since: float = 0.0  # monotonic start of the last back-off
    level: int = 0  # back-offs in a row (doubles the default pause)
    reason: str = ""


class BackoffRecorder:
    """Writes back-off records to the crawl's store from a daemon thread (the reactor never waits)."""

    def __init__(self, owner: StoreExtension | None) -> None:
        self.owner = owner
        self.queue: queue.Queue[tuple[str, float, str, float] | None] = queue.Queue()
        self.written = 0
        self.failed = 0
        self._thread: threading.Thread | None = None

    def put(self, host: str, until: float, reason: str, delay: float) -> None:
        if self.owner is None:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="portalnews-backoff", daemon=True)
            self._thread.start()
        self.queue.put((host, until, reason, delay))

    def _run(self) -> None:
        assert self.owner is not None
        while True:
            item = self.queue.get()
            if item is None:  # close()
                return
            host, until, reason, delay = item
            try:
                self.owner.store().record_backoff(host, until, reason, delay=delay)
                self.written += 1
            except StoreError as exc:
                self.failed += 1
                logger.warning("could not record the back-off of %s: %s", host, exc)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self.queue.put(None)
            self._thread.join(timeout)


class PolitenessMiddleware:
    """Downloader middleware; see the module docstring."""

    def __init__(self, crawler: Crawler, codes: set[int], base_delay: float, max_delay: float,
                 slow_after: float) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.codes = codes
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.slow_after = slow_after
        self.hosts: dict[str, HostState] = {}
        self.recorder = BackoffRecorder(crawl_store(crawler))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessMiddleware:
        s = crawler.settings
        if not s.getbool("PORTALNEWS_BACKOFF_ENABLED", True):
            raise NotConfigured("PORTALNEWS_BACKOFF_ENABLED is off")
        codes = {int(c) for c in s.getlist("PORTALNEWS_BACKOFF_HTTP_CODES", [429, 503])}
        mw = cls(crawler, codes, s.getfloat("PORTALNEWS_BACKOFF_BASE_DELAY", 5.0),
                 s.getfloat("PORTALNEWS_BACKOFF_MAX_DELAY", 300.0), s.getfloat("PORTALNEWS_SLOW_RESPONSE", 10.0))
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    # --- lifecycle ------------------------------------------------------------------------
    def spider_opened(self, spider: Spider) -> None:
        hosts = sorted({p.hostname for p in getattr(spider, "portals", [])})
        if self.recorder.owner is None or not hosts:
            return
        try:
            records = self.recorder.owner.store().backoffs(hosts)
        except StoreError as exc:
            logger.warning("back-off records unavailable: %s", exc)
            return
        now = time.time()
        downloader = self.crawler.engine.downloader if self.crawler.engine else None
        for host, record in records.items():
            if not record.active(now) or downloader is None:
                continue
            delay = min(self.max_delay, max(record.delay, self.base_delay))
            self.hosts[host] = HostState(base_delay=downloader._delay, delay=delay, level=1,
                                         until=time.monotonic() + (record.until - now), reason=record.reason)
            downloader.per_slot_settings.setdefault(host, {})["delay"] = delay
            logger.warning("%s: backed off until %s by an earlier crawl (%s): starting at %.1fs between requests",
                           host, time.strftime("%H:%M:%S", time.localtime(record.until)), record.reason, delay)

    def spider_closed(self, spider: Spider) -> None:
        self.recorder.close()

    # --- requests and responses -----------------------------------------------------------------
    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        state = self.hosts.get(urlparse_cached(request).hostname or "")
        if state is not None and time.monotonic() < state.until:
            request.meta["autothrottle_dont_adjust_delay"] = True  # AutoThrottle must not shorten the pause
        return None

    def response_downloaded(self, response: Response, request: Request, spider: Spider | None = None) -> None:
        """Every answer, before the downloader sends the host's next request."""
        host = urlparse_cached(request).hostname or ""
        latency = request.meta.get("download_latency")
        state = self.hosts.get(host)
        sent = time.monotonic() - (latency if isinstance(latency, int | float) else 0.0)
        in_flight = state is not None and sent < state.since  # sent before the host was backed off
        if response.status in self.codes:
            wait = retry_after_seconds(response.headers.get(b"Retry-After"))
            reason = f"HTTP {response.status}" + (f", Retry-After {wait:g}s" if wait is not None else "")
            self.back_off(request, host, reason, wait, escalate=not in_flight)
        elif (self.slow_after > 0 and isinstance(latency, int | float) and latency > self.slow_after
              and not in_flight):
            self.back_off(request, host, f"slow answers ({latency:.1f}s)", min(self.max_delay, 2 * latency))
        elif 200 <= response.status < 400 and host in self.hosts:
            self.recover(request, host)

    # --- back-off ----------------------------------------------------------------------------
    def _slot(self, request: Request, host: str) -> Any:
        engine = self.crawler.engine
        if engine is None:
            return None
        key = request.meta.get("download_slot") or host
        return engine.downloader.slots.get(key)

    def back_off(self, request: Request, host: str, reason: str, wait: float | None, escalate: bool = True) -> float:
        """Pause ``host`` for ``wait`` seconds (Retry-After), else the doubling default, then
        space its requests; returns the pause.  ``escalate`` False (an answer to a request
        sent before the last back-off): keep the level and spacing, only make sure the pause
        lasts long enough."""
        slot = self._slot(request, host)
        now = time.monotonic()
        state = self.hosts.get(host)
        if state is None:
            state = HostState(base_delay=float(slot.delay) if slot is not None else 0.0)
            state.delay = state.base_delay
            self.hosts[host] = state
        if escalate or state.level == 0:
            state.level += 1
        pause = wait if wait is not None else self.base_delay * 2 ** (state.level - 1)
        pause = min(self.max_delay, max(pause, 0.0))
        if not escalate and now + pause <= state.until:
            self.stats.inc_value("portalnews/backoff/in_flight")
            return 0.0
        if escalate:
            state.delay = min(self.max_delay, max(2 * state.delay, pause / 2, state.base_delay))
            state.since = now
        state.until = max(state.until, now + pause)
        state.reason = reason
        if slot is not None:
            slot.delay = max(float(slot.delay), state.delay)
            # the next request waits the whole pause, whatever the slot's random jitter
            jitter = float(getattr(slot, "jitter", 0.0) or 0.0)
            slot.lastseen = max(float(slot.lastseen), now + pause - float(slot.delay) * max(0.0, 1 - jitter))
        self.stats.inc_value("portalnews/backoff/count")
        self.stats.inc_value(f"portalnews/backoff/{host}")
        self.stats.max_value("portalnews/backoff/max_pause", round(pause, 3))
        self.stats.set_value(f"portalnews/backoff/{host}/last", reason)
        logger.warning("%s: backing off %.1fs, then %.2fs between requests (%s)", host, pause, state.delay, reason)
        self.recorder.put(host, time.time() + pause, reason, state.delay)
        return pause

    def recover(self, request: Request, host: str) -> None:
        """A good answer after the window: halve the extra delay; forget the host once back to normal."""
        state = self.hosts[host]
        if time.monotonic() < state.until:
            return
        slot = self._slot(request, host)
        state.delay = state.delay / 2
        if state.delay < max(0.05, state.base_delay * 1.05):
            state.delay = state.base_delay
        if slot is not None:
            slot.delay = max(state.base_delay, min(float(slot.delay), state.delay))
        if state.delay <= state.base_delay:
            del self.hosts[host]
            engine = self.crawler.engine
            if engine is not None:
                engine.downloader.per_slot_settings.pop(host, None)
            logger.info("%s: back to the normal pace", host)
