"""``portalnews crawl``: crawl the portals of a registry into the store."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from crawler.middlewares.private_hosts import ALLOW_VARIABLE, allow_private_hosts
from crawler.registry import load_registry
from pipelines.output import terminal_text
from pipelines.storage import resolve_store_url
from pipelines.storage.base import redact_url

if TYPE_CHECKING:
    pass


HELP = "crawl the portals of a registry into the store"
DESCRIPTION = ("Crawl the portals of a registry (all enabled ones, or those named "
               "with --portal) and store their articles. Shows progress while it runs "
               "and a per-portal summary at the end. A second crawl is incremental.")


def run(args: argparse.Namespace) -> int:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    overrides = parse_pairs(args.set, "-s")
    allow_private = args.allow_private_hosts or allow_private_hosts(overrides.get(ALLOW_VARIABLE))
    if args.allow_private_hosts:  # for this process and the crawls it starts (crawl --due)
        os.environ[ALLOW_VARIABLE] = "1"
    if getattr(args, "due", False):  # only the portals whose next-due time has passed (crawler.scheduling.scheduler)
        from crawler.scheduling.scheduler import crawl_due

        return crawl_due(args, run, resolve_store_url(args.store), parse_vars(args.var))
    url_vars = parse_vars(args.var)
    registry = load_registry(args.portals, placeholders=url_vars, allow_private_hosts=allow_private)
    for problem in registry.problems:
        print(f"registry: {terminal_text(problem)} (entry skipped)", file=sys.stderr)
    portals = registry.select(args.portal)
    if not portals:
        raise UsageError(f"{args.portals}: no valid portal to crawl")
    open_cli_store(args, create=True).close()  # fail early and clearly when the store is unusable
    store_url = resolve_store_url(args.store)

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    settings.set(ALLOW_VARIABLE, "1" if allow_private else "0", priority="cmdline")
    settings.set("PORTALNEWS_STORE", store_url, priority="cmdline")
    settings.set("PORTALNEWS_PORTALS", args.portals, priority="cmdline")
    if args.log_level:
        settings.set("LOG_LEVEL", args.log_level, priority="cmdline")
    quiet_scrapy = settings.get("LOG_LEVEL", "INFO").upper() == "INFO" and not args.verbose

    process = CrawlerProcess(settings, install_root_handler=True)
    if quiet_scrapy:
        for name in ("scrapy", "scrapy.core", "scrapy.middleware", "scrapy.extensions",
                     "scrapy.statscollectors", "scrapy.crawler", "scrapy.addons", "scrapy.utils.log",
                     "py.warnings", "asyncio"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # A robots.txt that cannot be fetched only means no rules (the host's pages report
        # their own failures in one line); Scrapy's robots middleware would add a traceback.
        logging.getLogger("scrapy.downloadermiddlewares.robotstxt").setLevel(logging.CRITICAL)
    crawler = process.create_crawler("portal")
    print(f"crawling {len(portals)} portal(s) into {redact_url(store_url)}", file=sys.stderr)
    process.crawl(crawler, portals=args.portals, portal=",".join(p.id for p in portals) if args.portal else None,
                  store=store_url, full=args.full, vars=url_vars, registry_checked=True)
    process.start()
    killed = crawler.stats is not None and not crawler.stats.get_value("portalnews/summary") and _abandon(crawler)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if args.stats_file:
        Path(args.stats_file).write_text(json.dumps(stats, default=str, ensure_ascii=False, indent=1), "utf-8")
    summary: list[dict[str, Any]] = stats.get("portalnews/summary") or []
    if not summary:
        print("the crawl stored nothing: see the errors above", file=sys.stderr)
        return 1
    if killed:
        new = sum(int(s["new"]) for s in summary)
        updated = sum(int(s["updated"]) for s in summary)
        pages = sum(int(s["pages"]) for s in summary)
        print(f"the crawl was stopped at once (Ctrl-C twice): it stored {new} new and {updated} updated "
              f"article(s) from {pages} page(s); pages still downloading were not stored, and the run is "
              "marked interrupted", file=sys.stderr)
    rows = [[s["portal_id"], s["outcome"], str(s["pages"]), str(s["new"]), str(s["updated"]),
             str(s["nonarticles"]), str(s["errors"]), str(s["dropped"]), s.get("message") or ""]
            for s in summary]
    print(table(rows, ["portal", "outcome", "pages", "new", "updated", "non-articles", "errors", "dropped",
                        "note"]))
    elapsed = stats.get("elapsed_time_seconds") or 0
    pages = stats.get("response_received_count", 0)
    print(f"\n{pages} pages in {elapsed:.1f}s"
          + (f" ({pages / elapsed:.1f} pages/s)" if elapsed else "")
          + f"; extraction {stats.get('portalnews/extraction_ms_per_page', 0)} ms/page")
    _print_alerts(stats)
    _print_watchlists(stats)
    for note in stats.get("portalnews/store_notes") or []:  # search-engine stores: outages, spool
        print(f"store: {terminal_text(note)}", file=sys.stderr)
    unsent = int(stats.get("portalnews/unsent", 0) or 0)
    if unsent:
        spool = stats.get("portalnews/spool_dir")
        where = f": they are kept in {spool} and sent at the next crawl" if spool else " (see the log)"
        print(f"ERROR: {unsent} records are not stored yet{where}", file=sys.stderr)
        return 1
    return 130 if killed else 0  # 128 + SIGINT: the crawl did not end by itself


def _abandon(crawler: Any) -> bool:
    """The reactor stopped before the engine closed the item pipelines (Ctrl-C twice): the
    storage stage writes what it holds and marks the runs interrupted now.  True when it did."""
    import signal

    from pipelines.stages.storage import StoragePipeline
    from pipelines.storage.extension import StoreExtension

    signal.signal(signal.SIGINT, signal.default_int_handler)  # a third Ctrl-C stops even this
    try:
        pipeline = crawler.get_item_pipeline(StoragePipeline)
    except RuntimeError:  # the engine was never built
        return False
    if pipeline is None or not pipeline.abandon("Ctrl-C twice"):
        return False
    owner = crawler.get_extension(StoreExtension)
    if owner is not None:
        owner.close()
    return True


def _print_alerts(stats: dict[str, Any]) -> None:
    """One line about the alerts the crawl raised (pipelines.monitoring.extension logged each one)."""
    alerts = stats.get("portalnews/alerts")
    if not alerts:
        return
    delivery = stats.get("portalnews/alert_delivery") or {}
    sent = []
    if delivery.get("webhook_sent") or delivery.get("webhook_failed"):
        sent.append(f"webhook {delivery.get('webhook_sent', 0)} sent, {delivery.get('webhook_failed', 0)} failed")
    if delivery.get("email_sent") or delivery.get("email_failed"):
        sent.append("email " + ("sent" if delivery.get("email_sent") else "failed"))
    print(f"alerts: {len(alerts)} portal(s): " + ", ".join(a["portal_id"] for a in alerts)
          + (f" ({'; '.join(sent)})" if sent else "") + "; see `portalnews check`", file=sys.stderr)


def _print_watchlists(stats: dict[str, Any]) -> None:
    """One line about the watchlist notices of the crawl (pipelines.monitoring.watch logged each one)."""
    report = stats.get("portalnews/watchlists") or {}
    notified: dict[str, int] = report.get("notified") or {}
    kept = int(report.get("articles_kept") or 0)
    if not notified and not kept:
        return
    line = f"watchlists: {len(notified)} notice(s) sent" + (
        " (" + ", ".join(f"{name}: {n}" for name, n in notified.items()) + " new article(s))" if notified else "")
    if kept:
        line += f"; {kept} article(s) kept for the next crawl (no channel took the notice)"
    print(terminal_text(line), file=sys.stderr)


def add_arguments(p: argparse.ArgumentParser) -> None:
    registry_args(p, "crawl")
    store_arg(p)
    p.add_argument("-s", "--set", metavar="NAME=VALUE", action="append", help="Scrapy setting override (repeatable)")
    p.add_argument("--full", action="store_true", help="ignore what earlier crawls saw and fetch everything")
    p.add_argument("--allow-private-hosts", action="store_true",
                   help=f"also crawl portals on loopback and private addresses (a local mirror); the same as "
                        f"{ALLOW_VARIABLE}=1. Link-local addresses are never crawled")
    p.add_argument("--stats-file", metavar="FILE", help="write the crawl's stats as JSON")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default INFO)")
    p.add_argument("--due", action="store_true",
                   help="crawl only the portals whose next-due time has passed, then set their next one "
                        "(for cron; shares leases with `portalnews schedule` workers)")
    p.add_argument("--every", metavar="DURATION", type=duration, default=duration("6h"),
                   help="with --due: interval of portals without `every` in the registry (default 6h)")
