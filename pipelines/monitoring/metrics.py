"""Prometheus metrics: a ``prometheus_client`` collector that reads the store at each scrape.

:class:`StoreCollector` turns the coverage model, the firing alerts and the per-portal run
totals into metric families (``prometheus_client``'s custom-collector API); the library
writes the exposition format and serves it.  Per-portal series carry the ``portal``,
``province`` and ``level`` labels so they can be summed by province or level (a label the
store does not know is empty, which Prometheus treats as absent).

:class:`MetricsServer` serves ``GET /metrics`` (``prometheus_client``'s WSGI app) from a
loopback address on a thread of its own; ``portalnews serve --metrics`` runs it in the
foreground, and a long-running process (the scheduler) can ``start()`` it next to its
work and ``stop()`` it at the end::

    server = start_metrics_server("sqlite:///data/portalnews.db", "127.0.0.1", 9464)
    ...
    server.stop()
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from pipelines.model.kinds import RunOutcome
from pipelines.monitoring.alerts import Alert, evaluate
from pipelines.monitoring.coverage import (
    WINDOWS,
    CoverageReport,
    PortalMeta,
    build_coverage,
    parse_time,
    store_problems,
)
from pipelines.monitoring.rules import Rules
from pipelines.storage.base import Store

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
#: The labels of every per-portal series.
PORTAL_LABELS = ("portal", "province", "level")
#: Keys of ``Store.run_totals()`` exported as counters: (key, metric name, help).
TOTAL_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("pages_fetched", "portalnews_pages_fetched_total", "Pages fetched from the portal by all finished crawls."),
    ("articles_new", "portalnews_articles_new_total", "New articles stored from the portal by all finished crawls."),
    ("articles_updated", "portalnews_articles_updated_total", "Stored articles of the portal that changed."),
    ("errors", "portalnews_fetch_errors_total", "Failed fetches (HTTP errors and network errors) on the portal."),
    ("dropped", "portalnews_items_dropped_total", "Pages rejected by validation or de-duplication."),
    ("robots_blocked", "portalnews_robots_blocked_total", "Pages not fetched because robots.txt forbids them."),
)
#: Per-portal gauges: (metric name, help, extra label or None).
PORTAL_GAUGES: tuple[tuple[str, str, str | None], ...] = (
    ("portalnews_portal_info", "Portal metadata (value 1).", "name"),
    ("portalnews_portal_health", "Health score 0-100 (see pipelines/monitoring/coverage.py).", None),
    ("portalnews_portal_status", "1 for the portal's current coverage status.", "status"),
    ("portalnews_portal_articles", "Articles stored for the portal.", None),
    ("portalnews_portal_new_articles", "Stored articles published within the window.", "window"),
    ("portalnews_portal_found_articles", "Articles first stored within the window.", "window"),
    ("portalnews_portal_newest_article_timestamp_seconds",
     "Publication time of the newest stored article (Unix seconds).", None),
    ("portalnews_portal_freshness_days", "Age of the newest stored article in whole days.", None),
    ("portalnews_portal_last_crawl_start_timestamp_seconds", "Start of the portal's last crawl (Unix seconds).",
     None),
    ("portalnews_portal_last_crawl_end_timestamp_seconds", "End of the portal's last crawl (Unix seconds).", None),
    ("portalnews_portal_last_crawl_success", "1 when the last crawl ended ok, else 0.", None),
    ("portalnews_portal_last_crawl_outcome", "1 for the outcome of the last crawl.", "outcome"),
    ("portalnews_portal_last_crawl_pages_fetched", "Pages fetched by the last crawl.", None),
    ("portalnews_portal_last_crawl_http_errors",
     "Failed fetches of the last crawl by HTTP status (network = no response).", "code"),
    ("portalnews_portal_last_crawl_article_pages", "Article pages seen by the last crawl.", None),
    ("portalnews_portal_last_crawl_extraction_failures",
     "Article pages of the last crawl where a field was not found.", "field"),
    ("portalnews_portal_extraction_failure_ratio",
     "Share of article pages of the recent crawls where a field was not found.", "field"),
    ("portalnews_portal_error_ratio", "Failed share of the last crawl's fetches.", None),
    ("portalnews_portal_last_crawl_robots_blocked", "Pages the last crawl did not fetch because of robots.txt.",
     None),
    ("portalnews_portal_crawls_without_new_articles", "Consecutive recent crawls that found no new article.", None),
    ("portalnews_portal_alert", "1 for each alert rule firing for a portal.", "rule,severity"),
)


def _ts(value: str | None) -> float | None:
    dt = parse_time(value)
    return dt.timestamp() if dt else None


def _store_up(up: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily("portalnews_store_up", "1 when the store could be read for this scrape.", value=int(up))


def metric_families(report: CoverageReport, alerts: Iterable[Alert] = (),
                    totals: Mapping[str, Mapping[str, int]] | None = None,
                    scrape_seconds: float | None = None) -> list[Metric]:
    """The metric families for a coverage model, its alerts and the run totals."""
    out: list[Metric] = [_store_up(True),
                         GaugeMetricFamily("portalnews_store_empty",
                                           "1 when the store holds no portal or no crawl: nothing is monitored "
                                           "(`portalnews check` fails).", value=int(bool(store_problems(report)))),
                         GaugeMetricFamily("portalnews_portals", "Portals known to the store (and registry).",
                                           value=len(report.portals))]
    by_status = GaugeMetricFamily("portalnews_portals_by_status", "Portals per coverage status.", labels=["status"])
    counts: dict[str, int] = {}
    for p in report.portals:
        counts[p.status] = counts.get(p.status, 0) + 1
    for status, n in sorted(counts.items()):
        by_status.add_metric([status], n)
    firing = list(alerts)
    out += [by_status, GaugeMetricFamily("portalnews_alerts_firing_total",
                                         "Portals with at least one alert rule firing.", value=len(firing))]

    gauges = {name: GaugeMetricFamily(name, help_text, labels=[*PORTAL_LABELS, *(extra.split(",") if extra else [])])
              for name, help_text, extra in PORTAL_GAUGES}
    base = {p.portal_id: [p.portal_id, p.province or "", p.level or ""] for p in report.portals}

    def add(name: str, portal_id: str, value: float, *extra: str) -> None:
        gauges[name].add_metric([*base.get(portal_id, [portal_id, "", ""]), *extra], value)

    for p in report.portals:
        pid = p.portal_id
        add("portalnews_portal_info", pid, 1, p.name or "")
        add("portalnews_portal_health", pid, p.health)
        add("portalnews_portal_status", pid, 1, p.status)
        add("portalnews_portal_articles", pid, p.articles)
        for label, _length in WINDOWS:
            add("portalnews_portal_new_articles", pid, getattr(p, f"new_{label}"), label)
        for label, _length in WINDOWS:
            add("portalnews_portal_found_articles", pid, getattr(p, f"found_{label}"), label)
        for name, value in (("portalnews_portal_newest_article_timestamp_seconds", _ts(p.newest_article)),
                            ("portalnews_portal_freshness_days", p.age_days),
                            ("portalnews_portal_last_crawl_start_timestamp_seconds", _ts(p.last_crawl_started)),
                            ("portalnews_portal_last_crawl_end_timestamp_seconds", _ts(p.last_crawl_finished))):
            if value is not None:
                add(name, pid, value)
        if p.last_outcome is not None:
            add("portalnews_portal_last_crawl_success", pid, int(p.last_outcome == RunOutcome.OK))
            add("portalnews_portal_last_crawl_outcome", pid, 1, p.last_outcome)
        add("portalnews_portal_last_crawl_pages_fetched", pid, p.pages_fetched)
        for code, n in sorted(p.http_errors.items()):
            add("portalnews_portal_last_crawl_http_errors", pid, n, code)
        add("portalnews_portal_last_crawl_article_pages", pid, p.article_pages)
        for field, n in sorted(p.missing_fields.items()):
            add("portalnews_portal_last_crawl_extraction_failures", pid, n, field)
        for field, rate in sorted(p.extraction_failure_rates.items()):
            add("portalnews_portal_extraction_failure_ratio", pid, rate, field)
        add("portalnews_portal_error_ratio", pid, p.error_rate)
        add("portalnews_portal_last_crawl_robots_blocked", pid, p.robots_blocked)
        add("portalnews_portal_crawls_without_new_articles", pid, p.crawls_without_new)
    for a in firing:
        for f in a.findings:
            add("portalnews_portal_alert", a.portal_id, 1, f.rule, f.severity)
    out += list(gauges.values())

    crawls = CounterMetricFamily("portalnews_crawls_total", "Finished crawls of the portal by outcome.",
                                 labels=[*PORTAL_LABELS, "outcome"])
    counters = {name: CounterMetricFamily(name, help_text, labels=list(PORTAL_LABELS))
                for _key, name, help_text in TOTAL_COUNTERS}
    for portal_id, t in sorted((totals or {}).items()):
        labels = base.get(portal_id, [portal_id, "", ""])
        for key, value in sorted(t.items()):
            if key.startswith("runs/"):
                crawls.add_metric([*labels, key.split("/", 1)[1]], value)
        for key, name, _help in TOTAL_COUNTERS:
            counters[name].add_metric(labels, int(t.get(key, 0)))
    out += [crawls, *counters.values()]
    if scrape_seconds is not None:
        out.append(GaugeMetricFamily("portalnews_metrics_collect_seconds",
                                     "Time spent reading the store for this scrape.", value=round(scrape_seconds, 6)))
    return out


def failure_families(exc: BaseException) -> list[Metric]:
    """What a scrape shows when the store cannot be read: ``portalnews_store_up 0`` and the cause."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return [_store_up(False),
            InfoMetricFamily("portalnews_store_error", "Why the store could not be read for this scrape.",
                             value={"error": message[:300]})]


class _Families:
    """A collector that yields fixed families (for :func:`render_metrics`)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def render_metrics(report: CoverageReport, alerts: Iterable[Alert] = (),
                   totals: Mapping[str, Mapping[str, int]] | None = None, scrape_seconds: float | None = None) -> str:
    """The Prometheus text format (version 0.0.4) for a coverage model, its alerts and the run totals."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(metric_families(report, alerts, totals, scrape_seconds)))
    return generate_latest(registry).decode("utf-8")


class StoreCollector:
    """A ``prometheus_client`` collector: each ``collect()`` opens the store, builds the coverage
    model, evaluates the alert rules and reads the run totals.  When the store cannot be read
    the scrape still answers, with ``portalnews_store_up 0`` and the cause.

    ``cache_seconds`` reuses the families of the last read for that long, so that several
    scrapers do not each read the store; ``clock`` (monotonic seconds) is injectable for tests."""

    def __init__(self, store: Callable[[], Store] | str, rules: Rules | None = None,
                 meta: Mapping[str, PortalMeta] | None = None, cache_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.rules = rules
        self.meta = meta
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def _open(self) -> Store:
        from pipelines.storage import open_store

        return open_store(self.store) if isinstance(self.store, str) else self.store()

    def read(self) -> list[Metric]:
        """Read the store now (no cache); raises what the store raises."""
        started = time.perf_counter()
        store = self._open()
        store.open(create=False)  # a scrape never creates a store: a missing one is "down"
        try:
            report = build_coverage(store, rules=self.rules, meta=self.meta)
            totals = store.run_totals()
        finally:
            store.close()
        alerts = evaluate(report, self.rules or Rules())
        return metric_families(report, alerts, totals, time.perf_counter() - started)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                try:
                    families = self.read()
                except Exception as exc:  # the endpoint must answer even when the store does not
                    logger.error("metrics: cannot read the store: %s", exc)
                    families = failure_families(exc)
                self._cached = (now, families)
            families = self._cached[1]
        yield from families


def store_collector(store: Callable[[], Store] | str, rules: Rules | None = None,
                    meta: Mapping[str, PortalMeta] | None = None) -> StoreCollector:
    """The collector for a store URL (or a factory of opened-per-scrape stores)."""
    return StoreCollector(store, rules, meta)


def start_metrics_server(store_url: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                         rules: Rules | None = None, meta: Mapping[str, PortalMeta] | None = None,
                         cache_seconds: float = 5.0) -> MetricsServer:
    """Serve the store's metrics from a background thread (for long-running processes such as
    the scheduler); call ``stop()`` on the result at shutdown.  Raises OSError when the port is taken."""
    server = MetricsServer(store_collector(store_url, rules, meta), host, port, cache_seconds)
    server.start()
    return server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


class MetricsServer:
    """``GET /metrics`` on ``host:port`` from a background thread: ``prometheus_client``'s WSGI
    app (it negotiates the text or OpenMetrics format) behind a router that answers 404 for
    any other path.  ``cache_seconds`` is passed to a :class:`StoreCollector`."""

    def __init__(self, collector: Collector, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 cache_seconds: float = 5.0) -> None:
        if isinstance(collector, StoreCollector):
            collector.cache_seconds = cache_seconds
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: the metrics are at /metrics\n"]

        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self._thread: threading.Thread | None = None
        try:
            self.httpd = make_server(host, port, app, Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None

    @property
    def url(self) -> str:
        host, port = (str(x) for x in self.httpd.server_address[:2])
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="portalnews-metrics", daemon=True)
        self._thread.start()
        logger.info("metrics on %s", self.url)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
