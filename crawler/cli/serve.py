"""``portalnews serve --metrics``: Prometheus metrics until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from crawler.cli.common import (
    UsageError,
    open_cli_store,
)
from crawler.cli.monitoring import (
    monitoring_args,
    monitoring_rules,
    portal_meta,
)
from pipelines.storage import resolve_store_url
from pipelines.storage.base import redact_url

logger = logging.getLogger(__name__)


HELP = "serve Prometheus metrics (--metrics) until SIGTERM"
DESCRIPTION = ("Serve GET /metrics in the Prometheus text format: per-portal gauges "
               "(health, articles, freshness, last crawl, HTTP errors, extraction failures, "
               "firing alerts) and counters (crawls, pages, new articles, errors).")


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from pipelines.monitoring.metrics import MetricsServer, store_collector

    if not args.metrics:
        raise UsageError("nothing to serve: add --metrics")
    rules = monitoring_rules(args)
    meta = portal_meta(args)
    open_cli_store(args).close()  # fail early and clearly when the store is unusable
    url = resolve_store_url(args.store)
    try:
        server = MetricsServer(store_collector(url, rules, meta), args.host, args.port, cache_seconds=args.cache)
    except OSError as exc:
        raise UsageError(str(exc)) from None
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        logger.warning("metrics served on %s: not only loopback; anyone who can reach it sees the coverage",
                       args.host)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server.start()
    print(f"serving Prometheus metrics on {server.url} from {redact_url(url)} (SIGTERM or Ctrl-C stops)",
          file=sys.stderr)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("metrics server stopped", file=sys.stderr)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    monitoring_args(p)
    p.add_argument("--metrics", action="store_true", help="serve /metrics")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9464, help="port (default 9464)")
    p.add_argument("--cache", type=float, default=5.0, metavar="S",
                   help="reuse the metrics for S seconds between scrapes (default 5)")
