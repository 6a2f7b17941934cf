"""``portalnews schedule``: the long-running scheduler (see :mod:`crawler.scheduling.scheduler`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.cli.common import (
    UsageError,
    duration,
    open_cli_store,
    parse_pairs,
    parse_vars,
    registry_args,
    store_arg,
    table,
)
from crawler.cli.monitoring import (
    monitoring_rules,
    portal_meta,
)
from crawler.registry import load_registry
from pipelines.storage import resolve_store_url

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


HELP = "long-running scheduler: crawl each portal every `every`, in child processes"
DESCRIPTION = ("Crawl each portal of the registry every `every` (its registry key, or --every) "
               "plus jitter, one crawl per child process, at most --max-parallel at once. "
               "Next-due times and per-portal leases live in the store, so several workers "
               "(processes or machines) on one store share the portals and never crawl one "
               "twice at once; a dead worker's portals are taken over when its lease expires. "
               "Logs one line when a crawl starts and one when it ends. SIGTERM stops cleanly.")


def run(args: argparse.Namespace) -> int:
    from crawler.scheduling.intervals import format_duration
    from crawler.scheduling.scheduler import Scheduler, SchedulerOptions, schedule_status

    url_vars = parse_vars(args.var)
    store_url = resolve_store_url(args.store)
    registry = load_registry(args.portals, placeholders=url_vars)
    portals = registry.select(args.portal)  # unknown ids: a usage error now, not in the loop
    if args.status:
        with closing(open_cli_store(args)) as store:  # read-only: a missing store is an error, never created
            rows = schedule_status(store, portals)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
            return 0
        default = format_duration(args.every)
        print(table([[r["portal_id"], r["every"] or default, r["next_due"], r["last_status"] or "-",
                       r["last_finished"], r["held_by"] or "-", r["backoff_until"] or "-"] for r in rows],
                     ["portal", "every", "next due (UTC)", "last crawl", "finished (UTC)", "held by",
                      "backed off until"]))
        return 0
    for problem in registry.problems:
        print(f"registry: {problem} (entry skipped)", file=sys.stderr)
    if not portals:
        raise UsageError(f"{args.portals}: no valid portal to schedule")
    settings = [f"{name}={value}" for name, value in parse_pairs(args.set, "-s").items()]
    if args.max_parallel < 1:
        raise UsageError("--max-parallel must be at least 1")
    if not 0 <= args.jitter < 1:
        raise UsageError("--jitter is a fraction of the interval, from 0 to below 1 (0.1 = ±10%)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    options = SchedulerOptions(
        registry=args.portals, store_url=store_url, url_vars=url_vars, default_every=args.every,
        jitter=args.jitter, max_parallel=args.max_parallel, lease_ttl=args.lease_ttl, poll=args.poll,
        once=args.once, portal_ids=list(args.portal or []), settings=settings, full=args.full,
        log_dir=Path(args.log_dir) if args.log_dir else None, stop_timeout=args.stop_timeout)
    if args.worker_id:
        options.worker_id = args.worker_id
    metrics = None
    if args.metrics_port is not None:
        from pipelines.monitoring.metrics import MetricsServer, store_collector

        try:
            metrics = MetricsServer(store_collector(store_url, monitoring_rules(args), portal_meta(args)),
                                    args.metrics_host, args.metrics_port)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}") from None
        metrics.start()
        logger.info("serving Prometheus metrics on %s", metrics.url)
    try:
        return Scheduler(options).run()
    finally:
        if metrics is not None:
            metrics.stop()


def add_arguments(p: argparse.ArgumentParser) -> None:
    registry_args(p, "schedule")
    store_arg(p)
    p.add_argument("-s", "--set", metavar="NAME=VALUE", action="append",
                   help="Scrapy setting for every crawl (repeatable)")
    p.add_argument("--every", metavar="DURATION", type=duration, default=duration("6h"),
                   help="interval of portals without `every` in the registry: 45s, 30m, 6h, 1d (default 6h)")
    p.add_argument("--jitter", type=float, default=0.1, metavar="F",
                   help="random spread of each interval, as a fraction (default 0.1 = ±10%%)")
    p.add_argument("--max-parallel", type=int, default=4, metavar="N",
                   help="crawls this worker runs at once (default 4)")
    p.add_argument("--lease-ttl", type=duration, default=duration("60s"), metavar="DURATION",
                   help="a dead worker's portals are taken over after this (default 60s; renewed every third)")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="loop period (default 1)")
    p.add_argument("--once", action="store_true",
                   help="exit when no portal is due (waits for portals other workers hold)")
    p.add_argument("--full", action="store_true", help="crawls ignore what earlier crawls saw")
    p.add_argument("--log-dir", metavar="DIR", help="keep each crawl's own log in DIR")
    p.add_argument("--stop-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="on SIGTERM, how long running crawls may take to stop (default 60)")
    p.add_argument("--worker-id", metavar="ID", help="this worker's id in leases and logs (default host:pid:random)")
    p.add_argument("--status", action="store_true",
                   help="print each portal's next due time, last crawl, lease holder and back-off, and exit")
    p.add_argument("--json", action="store_true", help="with --status: JSON")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="also serve Prometheus metrics on this port while the scheduler runs")
    p.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                   help="address for --metrics-port (default 127.0.0.1)")
    p.add_argument("--rules", metavar="FILE", help="alert rules used by the metrics (default: bundled rules)")
