"""Prometheus metrics: the text exposition format, written by hand, and a small HTTP server.

:func:`render_metrics` turns the coverage model, the firing alerts and the per-portal run
totals into the Prometheus text format (version 0.0.4).  Per-portal series carry the
``portal``, ``province`` and ``level`` labels so they can be summed by province or level.

:class:`MetricsServer` serves ``GET /metrics`` from a loopback address on a thread of its
own; ``portalnews serve --metrics`` runs it in the foreground, and a long-running process
(the scheduler) can ``start()`` it next to its work and ``stop()`` it at the end::

    server = start_metrics_server("sqlite:///data/portalnews.db", "127.0.0.1", 9464)
    ...
    server.stop()
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipelines.monitoring.alerts import Alert, evaluate
from pipelines.monitoring.coverage import WINDOWS, CoverageReport, PortalMeta, build_coverage, parse_time
from pipelines.monitoring.rules import Rules
from pipelines.storage.base import Store

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
#: Keys of ``Store.run_totals()`` exported as counters: key -> (metric name, help).
TOTAL_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("pages_fetched", "portalnews_pages_fetched_total", "Pages fetched from the portal by all finished crawls."),
    ("articles_new", "portalnews_articles_new_total", "New articles stored from the portal by all finished crawls."),
    ("articles_updated", "portalnews_articles_updated_total", "Stored articles of the portal that changed."),
    ("errors", "portalnews_fetch_errors_total", "Failed fetches (HTTP errors and network errors) on the portal."),
    ("dropped", "portalnews_items_dropped_total", "Pages rejected by validation or de-duplication."),
    ("robots_blocked", "portalnews_robots_blocked_total", "Pages not fetched because robots.txt forbids them."),
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exposition:
    """Accumulates metric families and writes them in the text format."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, value: float,
            labels: Mapping[str, str | None] | None = None) -> None:
        family = self._families.setdefault(name, (kind, help_text, []))
        label_text = ""
        if labels:
            parts = [f'{k}="{escape_label(str(v))}"' for k, v in labels.items() if v is not None]
            label_text = "{" + ",".join(parts) + "}" if parts else ""
        family[2].append(f"{name}{label_text} {_fmt(value)}")

    def declare(self, name: str, kind: str, help_text: str) -> None:
        self._families.setdefault(name, (kind, help_text, []))

    def text(self) -> str:
        out = []
        for name, (kind, help_text, samples) in self._families.items():
            out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(samples)
        return "\n".join(out) + "\n"


def _ts(value: str | None) -> float | None:
    dt = parse_time(value)
    return dt.timestamp() if dt else None


def render_metrics(report: CoverageReport, alerts: Iterable[Alert] = (),
                   totals: Mapping[str, Mapping[str, int]] | None = None, scrape_seconds: float | None = None) -> str:
    """The Prometheus text for a coverage model, its alerts and the run totals."""
    e = Exposition()
    e.add("portalnews_store_up", "gauge", "1 when the store could be read for this scrape.", 1)
    e.add("portalnews_portals", "gauge", "Portals known to the store (and registry).", len(report.portals))
    by_status: dict[str, int] = {}
    for p in report.portals:
        by_status[p.status] = by_status.get(p.status, 0) + 1
    for status, n in sorted(by_status.items()):
        e.add("portalnews_portals_by_status", "gauge", "Portals per coverage status.", n, {"status": status})
    firing = list(alerts)
    e.add("portalnews_alerts_firing_total", "gauge", "Portals with at least one alert rule firing.", len(firing))
    base: dict[str, dict[str, str | None]] = {
        p.portal_id: {"portal": p.portal_id, "province": p.province, "level": p.level} for p in report.portals}
    for p in report.portals:
        lb = base[p.portal_id]
        e.add("portalnews_portal_info", "gauge", "Portal metadata (value 1).", 1, {**lb, "name": p.name})
        e.add("portalnews_portal_health", "gauge", "Health score 0-100 (see pipelines/monitoring/coverage.py).",
              p.health, lb)
        e.add("portalnews_portal_status", "gauge", "1 for the portal's current coverage status.", 1,
              {**lb, "status": p.status})
        e.add("portalnews_portal_articles", "gauge", "Articles stored for the portal.", p.articles, lb)
        for label, _length in WINDOWS:
            e.add("portalnews_portal_new_articles", "gauge", "Stored articles published within the window.",
                  getattr(p, f"new_{label}"), {**lb, "window": label})
        for label, _length in WINDOWS:
            e.add("portalnews_portal_found_articles", "gauge", "Articles first stored within the window.",
                  getattr(p, f"found_{label}"), {**lb, "window": label})
        newest = _ts(p.newest_article)
        if newest is not None:
            e.add("portalnews_portal_newest_article_timestamp_seconds", "gauge",
                  "Publication time of the newest stored article (Unix seconds).", newest, lb)
        if p.age_days is not None:
            e.add("portalnews_portal_freshness_days", "gauge", "Age of the newest stored article in whole days.",
                  p.age_days, lb)
        started, finished = _ts(p.last_crawl_started), _ts(p.last_crawl_finished)
        if started is not None:
            e.add("portalnews_portal_last_crawl_start_timestamp_seconds", "gauge",
                  "Start of the portal's last crawl (Unix seconds).", started, lb)
        if finished is not None:
            e.add("portalnews_portal_last_crawl_end_timestamp_seconds", "gauge",
                  "End of the portal's last crawl (Unix seconds).", finished, lb)
        if p.last_outcome is not None:
            e.add("portalnews_portal_last_crawl_success", "gauge", "1 when the last crawl ended ok, else 0.",
                  int(p.last_outcome == "ok"), lb)
            e.add("portalnews_portal_last_crawl_outcome", "gauge", "1 for the outcome of the last crawl.", 1,
                  {**lb, "outcome": p.last_outcome})
        e.add("portalnews_portal_last_crawl_pages_fetched", "gauge", "Pages fetched by the last crawl.",
              p.pages_fetched, lb)
        e.declare("portalnews_portal_last_crawl_http_errors", "gauge",
                  "Failed fetches of the last crawl by HTTP status (network = no response).")
        for code, n in sorted(p.http_errors.items()):
            e.add("portalnews_portal_last_crawl_http_errors", "gauge", "", n, {**lb, "code": code})
        e.add("portalnews_portal_last_crawl_article_pages", "gauge", "Article pages seen by the last crawl.",
              p.article_pages, lb)
        e.declare("portalnews_portal_last_crawl_extraction_failures", "gauge",
                  "Article pages of the last crawl where a field was not found.")
        for name, n in sorted(p.missing_fields.items()):
            e.add("portalnews_portal_last_crawl_extraction_failures", "gauge", "", n, {**lb, "field": name})
        e.declare("portalnews_portal_extraction_failure_ratio", "gauge",
                  "Share of article pages of the recent crawls where a field was not found.")
        for name, rate in sorted(p.extraction_failure_rates.items()):
            e.add("portalnews_portal_extraction_failure_ratio", "gauge", "", rate, {**lb, "field": name})
        e.add("portalnews_portal_error_ratio", "gauge", "Failed share of the last crawl's fetches.", p.error_rate, lb)
        e.add("portalnews_portal_last_crawl_robots_blocked", "gauge",
              "Pages the last crawl did not fetch because of robots.txt.", p.robots_blocked, lb)
        e.add("portalnews_portal_crawls_without_new_articles", "gauge",
              "Consecutive recent crawls that found no new article.", p.crawls_without_new, lb)
    e.declare("portalnews_portal_alert", "gauge", "1 for each alert rule firing for a portal.")
    for a in firing:
        for f in a.findings:
            e.add("portalnews_portal_alert", "gauge", "", 1,
                  {**base.get(a.portal_id, {"portal": a.portal_id}), "rule": f.rule, "severity": f.severity})
    for portal_id, t in sorted((totals or {}).items()):
        lb = base.get(portal_id, {"portal": portal_id})
        for key, value in sorted(t.items()):
            if key.startswith("runs/"):
                e.add("portalnews_crawls_total", "counter", "Finished crawls of the portal by outcome.", value,
                      {**lb, "outcome": key.split("/", 1)[1]})
        for key, name, help_text in TOTAL_COUNTERS:
            e.add(name, "counter", help_text, int(t.get(key, 0)), lb)
    if scrape_seconds is not None:
        e.add("portalnews_metrics_collect_seconds", "gauge", "Time spent reading the store for this scrape.",
              round(scrape_seconds, 6))
    return e.text()


def store_collector(store_factory: Callable[[], Store] | str, rules: Rules | None = None,
                    meta: Mapping[str, PortalMeta] | None = None) -> Callable[[], str]:
    """A callable that reads the store and returns the metrics text (store opened per call)."""
    from pipelines.storage import open_store

    def factory() -> Store:
        return open_store(store_factory) if isinstance(store_factory, str) else store_factory()

    def collect() -> str:
        started = time.perf_counter()
        store = factory()
        store.open()
        try:
            report = build_coverage(store, rules=rules, meta=meta)
            totals = store.run_totals()
        finally:
            store.close()
        alerts = evaluate(report, rules or Rules())
        return render_metrics(report, alerts, totals, time.perf_counter() - started)

    return collect


def start_metrics_server(store_url: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                         rules: Rules | None = None, meta: Mapping[str, PortalMeta] | None = None,
                         cache_seconds: float = 5.0) -> MetricsServer:
    """Serve the store's metrics from a background thread (for long-running processes such as
    the scheduler); call ``stop()`` on the result at shutdown.  Raises OSError when the port is taken."""
    server = MetricsServer(store_collector(store_url, rules, meta), host, port, cache_seconds)
    server.start()
    return server


def _failure_text(exc: BaseException) -> str:
    e = Exposition()
    e.add("portalnews_store_up", "gauge", "1 when the store could be read for this scrape.", 0)
    return e.text() + f"# store error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}\n"


class MetricsServer:
    """``GET /metrics`` on ``host:port`` from a background thread; the text is cached for
    ``cache_seconds`` so that several scrapers do not each read the store."""

    def __init__(self, collect: Callable[[], str], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 cache_seconds: float = 5.0) -> None:
        self.collect = collect
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None
        self._thread: threading.Thread | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("metrics: " + format, *args)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, status, ctype = server.text().encode("utf-8"), 200, CONTENT_TYPE
                elif path == "/":
                    body, status, ctype = (b"<html><body><h1>portalnews</h1><a href='/metrics'>metrics</a>"
                                           b"</body></html>"), 200, "text/html; charset=utf-8"
                elif path == "/healthz":
                    body, status, ctype = b"ok\n", 200, "text/plain; charset=utf-8"
                else:
                    body, status, ctype = b"not found\n", 404, "text/plain; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self.httpd.daemon_threads = True

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/metrics"

    def text(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            try:
                text = self.collect()
            except Exception as exc:  # the endpoint must answer even when the store does not
                logger.error("metrics: cannot read the store: %s", exc)
                text = _failure_text(exc)
            self._cached = (now, text)
            return text

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.5)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="portalnews-metrics", daemon=True)
        self._thread.start()
        logger.info("metrics on %s", self.url)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
