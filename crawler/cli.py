"""The ``portalnews`` command line: crawl, schedule, search, export, coverage, check, report, serve,
reindex, portals, demo.

Every command has ``--help``.  Errors the user can fix (a bad registry, an unknown
store URL, an unreachable engine) are printed as one clear line and exit with code 2,
never as a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from crawler.registry import RegistryError, load_registry
from pipelines.monitoring.rules import RulesError
from pipelines.storage import ExportFilter, SearchQuery, Store, StoreError, open_store, resolve_store_url
from pipelines.storage.base import EXPORT_FIELDS, redact_url
from pipelines.storage.textsearch import MARK_END, MARK_START

if TYPE_CHECKING:
    from pipelines.monitoring.alerts import Alert
    from pipelines.monitoring.coverage import CoverageReport
    from pipelines.monitoring.notify import Delivery

logger = logging.getLogger(__name__)

DEFAULT_REGISTRY = "portals.yaml"


class UsageError(Exception):
    """A problem the user can fix; printed without a traceback."""


# --- helpers ------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Store:
    url = resolve_store_url(getattr(args, "store", None))
    store = open_store(url)
    store.open()
    return store


def _iso_date(value: str) -> str:
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            from datetime import datetime

            datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return value


def _parse_pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments of a repeatable option as a mapping (a bad one is a usage error)."""
    out = {}
    for value in values or ():
        name, sep, val = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{flag} expects NAME=VALUE, got {value!r}")
        out[name.strip()] = val
    return out


def _parse_vars(values: Sequence[str] | None) -> dict[str, str]:
    return _parse_pairs(values, "--var")


def _use_color(stream: IO[str]) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    return "\n".join(lines)


# --- crawl ----------------------------------------------------------------------------
def cmd_crawl(args: argparse.Namespace) -> int:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    if getattr(args, "due", False):  # only the portals whose next-due time has passed (crawler.scheduler)
        from crawler.scheduler import crawl_due

        return crawl_due(args, cmd_crawl, resolve_store_url(args.store), _parse_vars(args.var))
    url_vars = _parse_vars(args.var)
    registry = load_registry(args.portals, placeholders=url_vars)
    for problem in registry.problems:
        print(f"registry: {problem} (entry skipped)", file=sys.stderr)
    portals = registry.select(args.portal)
    if not portals:
        raise UsageError(f"{args.portals}: no valid portal to crawl")
    store_url = resolve_store_url(args.store)
    store = open_store(store_url)
    store.open()  # fail early and clearly when the store is unusable
    store.close()

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    for name, value in _parse_pairs(args.set, "-s").items():
        settings.set(name, value, priority="cmdline")
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
        # The spider fetches robots.txt itself and reports a failure in one line; Scrapy's
        # robots middleware would add a traceback for the same failure.
        logging.getLogger("scrapy.downloadermiddlewares.robotstxt").setLevel(logging.CRITICAL)
    crawler = process.create_crawler("portal")
    print(f"crawling {len(portals)} portal(s) into {redact_url(store_url)}", file=sys.stderr)
    process.crawl(crawler, portals=args.portals, portal=",".join(p.id for p in portals) if args.portal else None,
                  store=store_url, full=args.full, vars=url_vars, registry_checked=True)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if args.stats_file:
        Path(args.stats_file).write_text(json.dumps(stats, default=str, ensure_ascii=False, indent=1), "utf-8")
    summary: list[dict[str, Any]] = stats.get("portalnews/summary") or []
    if not summary:
        print("the crawl stored nothing: see the errors above", file=sys.stderr)
        return 1
    rows = [[s["portal_id"], s["outcome"], str(s["pages"]), str(s["new"]), str(s["updated"]),
             str(s["nonarticles"]), str(s["errors"]), str(s["dropped"]), s.get("message") or ""]
            for s in summary]
    print(_table(rows, ["portal", "outcome", "pages", "new", "updated", "non-articles", "errors", "dropped",
                        "note"]))
    elapsed = stats.get("elapsed_time_seconds") or 0
    pages = stats.get("response_received_count", 0)
    print(f"\n{pages} pages in {elapsed:.1f}s"
          + (f" ({pages / elapsed:.1f} pages/s)" if elapsed else "")
          + f"; extraction {stats.get('portalnews/extraction_ms_per_page', 0)} ms/page")
    _print_alerts(stats)
    for note in stats.get("portalnews/store_notes") or []:  # search-engine stores: outages, spool
        print(f"store: {note}", file=sys.stderr)
    unsent = int(stats.get("portalnews/unsent", 0) or 0)
    if unsent:
        spool = stats.get("portalnews/spool_dir")
        where = f": they are kept in {spool} and sent at the next crawl" if spool else " (see the log)"
        print(f"ERROR: {unsent} records are not stored yet{where}", file=sys.stderr)
        return 1
    return 0


def _print_alerts(stats: dict[str, Any]) -> None:
    """One line about the alerts the crawl raised (crawler.alerting logged each one)."""
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


# --- export ---------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        flt = ExportFilter(portals=args.portal or [], since=args.since, until=args.until)
        histories = store.histories if getattr(args, "with_history", False) else None
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                n = write_export(store.iter_documents(flt), out, args.format, histories=histories)
        else:
            n = write_export(store.iter_documents(flt), sys.stdout, args.format, histories=histories)
    finally:
        store.close()
    print(f"exported {n} documents" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    return 0


HISTORY_EXPORT_FIELDS = ("version", "view_history", "previous_versions")


def _with_history(docs: Iterator[Any], histories: Callable[[Sequence[str]], dict[str, Any]] | None,
                  batch: int = 500) -> Iterator[dict[str, Any]]:
    """Export rows; with ``histories`` (``Store.histories``) each row also gets ``version``,
    ``view_history`` ([{t, views}], oldest first) and ``previous_versions``."""
    if histories is None:
        for doc in docs:
            yield doc.export_dict()
        return
    chunk: list[Any] = []

    def flush() -> Iterator[dict[str, Any]]:
        found = histories([d.id for d in chunk])
        for d in chunk:
            row = d.export_dict()
            hist = found.get(d.id)
            row.update(hist.export_fields() if hist is not None else
                       {"version": 1, "view_history": [], "previous_versions": []})
            yield row
        chunk.clear()

    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= batch:
            yield from flush()
    yield from flush()


def write_export(docs: Iterator[Any], out: IO[str], fmt: str,
                 histories: Callable[[Sequence[str]], dict[str, Any]] | None = None) -> int:
    n = 0
    rows = _with_history(docs, histories)
    if fmt == "csv":
        fields = list(EXPORT_FIELDS) + (list(HISTORY_EXPORT_FIELDS) if histories is not None else [])
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            for name in HISTORY_EXPORT_FIELDS[1:]:
                if name in row:
                    row[name] = json.dumps(row[name], ensure_ascii=False)
            writer.writerow(row)
            n += 1
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


# --- search ---------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        hits = store.search(SearchQuery(text=args.query, portals=args.portal or [], province=args.province,
                                        since=args.since, until=args.until, sort=args.sort,
                                        limit=args.limit, min_views=args.min_views))
    finally:
        store.close()
    if args.json:
        for hit in hits:
            data = hit.document.export_dict()
            data.update({"score": round(hit.score, 4), "exact": hit.exact, "snippet": hit.snippet,
                         "province": hit.document.province})
            data.pop("body", None)
            print(json.dumps(data, ensure_ascii=False))
        return 0
    if not hits:
        print(f"no documents match {args.query!r}", file=sys.stderr)
        return 0
    color = _use_color(sys.stdout)
    for i, hit in enumerate(hits, 1):
        d = hit.document
        snippet = hit.snippet.replace(MARK_START, "\033[1;33m" if color else "[").replace(
            MARK_END, "\033[0m" if color else "]")
        title = f"\033[1m{d.title}\033[0m" if color else d.title
        views = f"{d.view_count:,} views".replace(",", ".") if d.view_count is not None else "views n/a"
        print(f"{i:>2}. {title}")
        print(f"    {d.portal_id} · {d.province or ''} · {(d.published_at or 'no date')[:16]} · {views}")
        print(f"    {d.url}")
        print(f"    {snippet}\n")
    return 0


# --- coverage, check, report, serve (pipelines.monitoring) ------------------------------------
_STATUS_COLOURS = {"ok": "32", "stale": "33", "quiet": "33", "partial": "33", "running": "33",
                   "parse errors": "35", "unreachable": "1;31", "failing": "1;31", "never crawled": "31"}


def _rules(args: argparse.Namespace) -> Any:
    from pipelines.monitoring.rules import load_rules, rules_path

    return load_rules(rules_path(getattr(args, "rules", None)))


def _portal_meta(args: argparse.Namespace) -> Any:
    """Names, provinces and levels from ``--portals`` (or $PORTALNEWS_PORTALS), when given."""
    from pipelines.monitoring.coverage import registry_meta

    path = getattr(args, "portals", None) or os.environ.get("PORTALNEWS_PORTALS")
    if not path:
        return None
    try:
        return registry_meta(path)
    except FileNotFoundError:
        raise UsageError(f"registry file not found: {path}") from None
    except Exception as exc:  # unreadable or not YAML: one clear line
        raise UsageError(f"cannot read registry {path}: {str(exc).splitlines()[0]}") from None


def _check(args: argparse.Namespace) -> tuple[Any, list[Any], Any, Store]:
    """(coverage report, alerts, rules, opened store) for the monitoring commands."""
    from pipelines.monitoring import check_store

    rules = _rules(args)
    meta = _portal_meta(args)
    store = _store(args)
    try:
        report, alerts = check_store(store, rules, meta, portal_ids=getattr(args, "portal", None) or None)
    except BaseException:
        store.close()
        raise
    return report, alerts, rules, store


def _pairs(values: dict[str, Any], sep: str = ",") -> str:
    return sep.join(f"{k}:{v}" for k, v in sorted(values.items()))


def _coloured_table(rows: list[list[str]], headers: list[str], colours: list[str | None]) -> str:
    lines = _table(rows, headers).split("\n")
    if not _use_color(sys.stdout):
        return "\n".join(lines)
    out = [f"\033[1m{lines[0]}\033[0m", lines[1]]
    for line, colour in zip(lines[2:], colours, strict=True):
        out.append(f"\033[{colour}m{line}\033[0m" if colour else line)
    return "\n".join(out)


def cmd_coverage(args: argparse.Namespace) -> int:
    report, _alerts, _rules_used, store = _check(args)
    store.close()
    if args.by:
        groups = report.by_province if args.by == "province" else report.by_level
        if args.json:
            print(json.dumps([g.to_dict() for g in groups], ensure_ascii=False, indent=1))
        elif args.csv:
            writer = csv.writer(sys.stdout)
            writer.writerow([args.by, "portals", "health", "worst_portal", "statuses", "articles", "new_24h", "new_7d",
                             "new_30d", "newest_article", "age_days", "pages_fetched", "errors", "article_pages",
                             "missing_fields"])
            for g in groups:
                writer.writerow([g.key, g.portals, g.health, g.worst_portal, _pairs(g.statuses, ";"), g.articles,
                                 g.new_24h, g.new_7d, g.new_30d, g.newest_article or "", _blank(g.age_days),
                                 g.pages_fetched, g.errors, g.article_pages, _pairs(g.missing_fields, ";")])
        else:
            rows = [[g.key, str(g.portals), str(g.health), _pairs(g.statuses), str(g.articles), str(g.new_24h),
                     str(g.new_7d), str(g.new_30d), (g.newest_article or "-")[:10],
                     "-" if g.age_days is None else str(g.age_days), g.worst_portal or "-"] for g in groups]
            print(_table(rows, [args.by, "portals", "health", "statuses", "articles", "24h", "7d", "30d", "newest",
                                "age", "worst portal"]))
        return 0
    portals = report.portals
    if args.json:
        print(json.dumps([p.to_dict() for p in portals], ensure_ascii=False, indent=1))
        return 0
    if args.csv:
        write_coverage_csv(portals, sys.stdout)
        return 0
    if not portals:
        print("no crawl recorded in this store yet: run `portalnews crawl` first", file=sys.stderr)
        return 0
    rows = []
    for p in portals:
        missing = _pairs(p.missing_fields) + (f" of {p.article_pages}" if p.missing_fields else "")
        rows.append([p.portal_id, p.status, str(p.health), p.province or "-", p.level or "-", str(p.articles),
                     str(p.new_24h), str(p.new_7d), str(p.new_30d), (p.newest_article or "-")[:10],
                     "-" if p.age_days is None else str(p.age_days), (p.last_crawl_started or "-")[:19],
                     p.last_outcome or "-", str(p.pages_fetched), _pairs(p.http_errors) or "-", missing or "-",
                     str(p.robots_blocked), "; ".join(p.problems) or "-"])
    print(_coloured_table(rows, ["portal", "status", "health", "province", "level", "articles", "24h", "7d", "30d",
                                 "newest", "age", "last crawl (UTC)", "outcome", "pages", "http errors",
                                 "not found", "robots", "problems"],
                          [_STATUS_COLOURS.get(p.status) for p in portals]))
    return 0


def _blank(value: Any) -> Any:
    return "" if value is None else value


COVERAGE_CSV_FIELDS = (
    "portal_id", "status", "health", "name", "province", "level", "articles", "new_24h", "new_7d", "new_30d",
    "found_24h", "found_7d", "found_30d", "newest_article", "age_days", "last_crawl_started", "last_crawl_finished",
    "last_outcome", "pages_fetched", "errors", "http_errors", "error_rate", "article_pages", "missing_fields",
    "extraction_failure_rate", "robots_blocked", "dropped", "drop_reasons", "crawls_without_new", "problems",
)


def write_coverage_csv(portals: list[Any], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(COVERAGE_CSV_FIELDS)
    for p in portals:
        data = p.to_dict()
        row = []
        for name in COVERAGE_CSV_FIELDS:
            value = data[name]
            if isinstance(value, dict):
                value = _pairs(value, ";")
            elif isinstance(value, list):
                value = " | ".join(value)
            row.append(_blank(value))
        writer.writerow(row)


def _check_notify(args: argparse.Namespace, store: Store, report: CoverageReport, alerts: list[Alert]
                  ) -> Delivery | None:
    """``check --notify`` / ``--resend``: send what is new, due again or resolved."""
    from pipelines.monitoring.notices import notify_new_alerts
    from pipelines.monitoring.notify import Notifier, NotifyConfig

    notifier = Notifier(NotifyConfig.from_settings())
    if not notifier.enabled:
        print("portalnews check: warning: nothing notified: set PORTALNEWS_ALERT_WEBHOOK, or "
              "PORTALNEWS_SMTP_HOST and PORTALNEWS_SMTP_TO, in the environment", file=sys.stderr)
        return None
    delivery = notify_new_alerts(store, notifier, alerts, [p.portal_id for p in report.portals],
                                 {"trigger": "portalnews check"}, resend=args.resend)
    print(f"notified: {delivery.webhook_sent} webhook alert(s), {delivery.resolved_sent} resolved, "
          f"{delivery.held} held (sent less than {notifier.config.repeat_hours:g}h ago)"
          + (", email sent" if delivery.email_sent else "")
          + (f", {len(delivery.errors)} delivery error(s)" if delivery.errors else ""), file=sys.stderr)
    return delivery


def cmd_check(args: argparse.Namespace) -> int:
    report, alerts, rules, store = _check(args)
    try:
        delivery = _check_notify(args, store, report, alerts) if args.notify or args.resend else None
    finally:
        store.close()
    if args.json:
        print(json.dumps({"ok": not alerts, "portals_checked": len(report.portals), "rules": rules.source,
                          "alerts": [a.to_dict() for a in alerts],
                          "delivery": delivery.to_dict() if delivery else None}, ensure_ascii=False, indent=1))
    elif not alerts:
        print(f"OK: all {len(report.portals)} portal(s) pass the alert rules ({rules.source})")
    else:
        for a in alerts:
            print(f"{a.portal_id}  {a.severity.upper()}  health {a.health}/100  {','.join(a.rules)}")
            for f in a.findings:
                print(f"    {f.rule}: {f.message}")
        print(f"{len(alerts)} of {len(report.portals)} portal(s) fail the alert rules: "
              + ", ".join(a.portal_id for a in alerts), file=sys.stderr)
    return 1 if alerts else 0


def cmd_report(args: argparse.Namespace) -> int:
    from crawler.report import ReportData, render_report, report_window

    report, alerts, _rules_used, store = _check(args)
    try:
        since, until = report_window(args.days, args.since)
        per_day = store.published_per_day(since.isoformat(), until.isoformat())
        data = ReportData(report, alerts, per_day, since, until, redact_url(store.url))
    finally:
        store.close()
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_report(data), "utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}: {len(report.portals)} portal(s), {len(alerts)} with alerts, "
          f"charts from {since} to {until}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from pipelines.monitoring.metrics import MetricsServer, store_collector

    if not args.metrics:
        raise UsageError("nothing to serve: add --metrics")
    rules = _rules(args)
    meta = _portal_meta(args)
    _store(args).close()  # fail early and clearly when the store is unusable
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

# --- reindex ----------------------------------------------------------------------------
def cmd_reindex(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        result = store.reindex(delete_old=args.delete_old)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    kept = "deleted" if result["old_index_deleted"] else "kept (remove it with --delete-old next time, or by hand)"
    print(f"{result['alias']} now points at {result['new_index']} ({result['documents']} documents); "
          f"the old index {result['old_index']} was {kept}")
    return 0


# --- portals ----------------------------------------------------------------------------
def cmd_portals(args: argparse.Namespace) -> int:
    registry = load_registry(args.portals, placeholders=_parse_vars(args.var))
    for problem in registry.problems:
        print(f"registry: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([p.to_dict() for p in registry.portals], ensure_ascii=False, indent=1))
    else:
        rows = [[p.id, p.level, p.province, p.profile, p.url, "" if p.verified else "unverified"]
                for p in registry.portals]
        print(_table(rows, ["id", "level", "province", "profile", "url", ""]))
        print(f"\n{len(registry.portals)} valid portal(s), {len(registry.problems)} problem(s)")
    return 1 if registry.problems else 0


# --- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from crawler.demo import run_demo

    return run_demo(workdir=Path(args.workdir), store=args.store, articles=args.articles)


# --- parser -----------------------------------------------------------------------------
# --- schedule -------------------------------------------------------------------------------
def _duration(value: str) -> float:
    from crawler.intervals import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_schedule(args: argparse.Namespace) -> int:
    from crawler.intervals import format_duration
    from crawler.scheduler import Scheduler, SchedulerOptions, schedule_status

    url_vars = _parse_vars(args.var)
    store_url = resolve_store_url(args.store)
    registry = load_registry(args.portals, placeholders=url_vars)
    portals = registry.select(args.portal)  # unknown ids: a usage error now, not in the loop
    if args.status:
        store = open_store(store_url)
        store.open()
        try:
            rows = schedule_status(store, portals)
        finally:
            store.close()
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
            return 0
        default = format_duration(args.every)
        print(_table([[r["portal_id"], r["every"] or default, r["next_due"], r["last_status"] or "-",
                       r["last_finished"], r["held_by"] or "-", r["backoff_until"] or "-"] for r in rows],
                     ["portal", "every", "next due (UTC)", "last crawl", "finished (UTC)", "held by",
                      "backed off until"]))
        return 0
    for problem in registry.problems:
        print(f"registry: {problem} (entry skipped)", file=sys.stderr)
    if not portals:
        raise UsageError(f"{args.portals}: no valid portal to schedule")
    settings = [f"{name}={value}" for name, value in _parse_pairs(args.set, "-s").items()]
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
            metrics = MetricsServer(store_collector(store_url, _rules(args), _portal_meta(args)),
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portalnews",
        description="Crawl Vietnamese government news portals into a searchable index.",
        epilog="Store URLs: sqlite:///PATH (default sqlite:///data/portalnews.db), "
               "http(s)://HOST:9200 or elasticsearch://HOST:9200, opensearch://HOST:9200. "
               "The store may also come from PORTALNEWS_STORE or ELASTICSEARCH_URL.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show Scrapy's own log lines too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def store_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", metavar="URL", help="store URL (default: $PORTALNEWS_STORE, "
                       "$ELASTICSEARCH_URL or sqlite:///data/portalnews.db)")

    p = sub.add_parser("crawl", help="crawl the portals of a registry into the store",
                       description="Crawl the portals of a registry (all enabled ones, or those named "
                                   "with --portal) and store their articles. Shows progress while it runs "
                                   "and a per-portal summary at the end. A second crawl is incremental.")
    p.add_argument("--portals", metavar="FILE", default=DEFAULT_REGISTRY, help="registry file (default: portals.yaml)")
    p.add_argument("--portal", metavar="ID", action="append", help="crawl only this portal (repeatable)")
    store_arg(p)
    p.add_argument("-s", "--set", metavar="NAME=VALUE", action="append", help="Scrapy setting override (repeatable)")
    p.add_argument("--var", metavar="NAME=VALUE", action="append",
                   help="fill a {NAME} placeholder in registry URLs, e.g. --var PORT=18080")
    p.add_argument("--full", action="store_true", help="ignore what earlier crawls saw and fetch everything")
    p.add_argument("--stats-file", metavar="FILE", help="write the crawl's stats as JSON")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default INFO)")
    p.add_argument("--due", action="store_true",
                   help="crawl only the portals whose next-due time has passed, then set their next one "
                        "(for cron; shares leases with `portalnews schedule` workers)")
    p.add_argument("--every", metavar="DURATION", type=_duration, default=_duration("6h"),
                   help="with --due: interval of portals without `every` in the registry (default 6h)")
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("schedule", help="long-running scheduler: crawl each portal every `every`, in child processes",
                       description="Crawl each portal of the registry every `every` (its registry key, or --every) "
                                   "plus jitter, one crawl per child process, at most --max-parallel at once. "
                                   "Next-due times and per-portal leases live in the store, so several workers "
                                   "(processes or machines) on one store share the portals and never crawl one "
                                   "twice at once; a dead worker's portals are taken over when its lease expires. "
                                   "Logs one line when a crawl starts and one when it ends. SIGTERM stops cleanly.")
    p.add_argument("--portals", metavar="FILE", default=DEFAULT_REGISTRY, help="registry file (default: portals.yaml)")
    p.add_argument("--portal", metavar="ID", action="append", help="schedule only this portal (repeatable)")
    store_arg(p)
    p.add_argument("--var", metavar="NAME=VALUE", action="append", help="fill a {NAME} placeholder in URLs")
    p.add_argument("-s", "--set", metavar="NAME=VALUE", action="append",
                   help="Scrapy setting for every crawl (repeatable)")
    p.add_argument("--every", metavar="DURATION", type=_duration, default=_duration("6h"),
                   help="interval of portals without `every` in the registry: 45s, 30m, 6h, 1d (default 6h)")
    p.add_argument("--jitter", type=float, default=0.1, metavar="F",
                   help="random spread of each interval, as a fraction (default 0.1 = ±10%%)")
    p.add_argument("--max-parallel", type=int, default=4, metavar="N",
                   help="crawls this worker runs at once (default 4)")
    p.add_argument("--lease-ttl", type=_duration, default=_duration("60s"), metavar="DURATION",
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
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("export", help="export stored documents as JSON lines or CSV",
                       description="Write one document per line with url, portal_id, title, published_at, "
                                   "view_count, body, summary, author, category, crawled_at.")
    store_arg(p)
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format (default jsonl)")
    p.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    p.add_argument("--since", type=_iso_date, metavar="DATE", help="published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", type=_iso_date, metavar="DATE", help="published on or before DATE")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--with-history", action="store_true",
                   help="add version, view_history ([{t, views}], oldest first) and previous_versions to each line")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("search", help="full-text search, with or without diacritics",
                       description="Search titles, summaries and bodies. 'hoi nghi' finds 'Hội nghị'; exact "
                                   "diacritics rank higher. Use \"quotes\" for a phrase.")
    p.add_argument("query", help="words to find")
    store_arg(p)
    p.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    p.add_argument("--province", help="only portals of this province (diacritics optional)")
    p.add_argument("--since", type=_iso_date, metavar="DATE", help="published on or after DATE")
    p.add_argument("--until", type=_iso_date, metavar="DATE", help="published on or before DATE")
    p.add_argument("--min-views", type=int, metavar="N", help="only documents with at least N views")
    p.add_argument("--sort", choices=["relevance", "date", "views"], default="relevance", help="order (default relevance)")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="number of results (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    p.set_defaults(func=cmd_search)

    def monitoring_args(p: argparse.ArgumentParser) -> None:
        store_arg(p)
        p.add_argument("--rules", metavar="FILE", help="alert rules (default: $PORTALNEWS_ALERT_RULES or the "
                       "bundled crawler/monitoring.yaml)")
        p.add_argument("--portals", metavar="FILE", help="registry for portal names, provinces and levels, and to "
                       "list portals never crawled (default: $PORTALNEWS_PORTALS; else the crawls' own records)")

    p = sub.add_parser("coverage", help="per-portal coverage, worst first: freshness, last crawl, errors, parsing",
                       description="Per portal: health and status, articles (and new in 24 h / 7 / 30 days), "
                                   "newest article, last crawl (start, outcome, pages), HTTP errors by code, "
                                   "fields not found on article pages, robots.txt blocks. Worst portals first; "
                                   "colour on a terminal (NO_COLOR turns it off).")
    monitoring_args(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument("--by", choices=["province", "level"], help="roll the portals up by province or level")
    p.set_defaults(func=cmd_coverage, portal=None)

    p = sub.add_parser("check", help="evaluate the alert rules; exit 1 and name the failing portals (for cron)",
                       description="Apply the alert rules (stale, no new articles, extraction failures, failed "
                                   "crawl) to every portal in the store. Prints one line per failing portal and "
                                   "exits 1 when any rule fires, 0 when all pass, 2 for a usage problem.")
    monitoring_args(p)
    p.add_argument("--portal", metavar="ID", action="append", help="check only this portal (repeatable)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--notify", action="store_true",
                   help="also send the alerts to the configured webhook / email: new ones, those last sent "
                        "more than PORTALNEWS_ALERT_REPEAT_HOURS ago (default 24), and resolved portals")
    p.add_argument("--resend", action="store_true", help="like --notify, but send every firing alert now")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("report", help="write a self-contained HTML coverage report with charts",
                       description="One HTML file, no external resources: articles per day per portal, a "
                                   "freshness heatmap by province, error and extraction-failure rates, alerts, "
                                   "the coverage table and rollups by province and level.")
    monitoring_args(p)
    p.add_argument("--out", "-o", metavar="FILE", default="report.html", help="output file (default report.html)")
    p.add_argument("--days", type=int, default=90, metavar="N", help="chart the last N days (default 90)")
    p.add_argument("--since", type=_iso_date, metavar="DATE", help="chart from DATE instead (YYYY-MM-DD)")
    p.set_defaults(func=cmd_report, portal=None)

    p = sub.add_parser("serve", help="serve Prometheus metrics (--metrics) until SIGTERM",
                       description="Serve GET /metrics in the Prometheus text format: per-portal gauges "
                                   "(health, articles, freshness, last crawl, HTTP errors, extraction failures, "
                                   "firing alerts) and counters (crawls, pages, new articles, errors).")
    monitoring_args(p)
    p.add_argument("--metrics", action="store_true", help="serve /metrics")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9464, help="port (default 9464)")
    p.add_argument("--cache", type=float, default=5.0, metavar="S",
                   help="reuse the metrics for S seconds between scrapes (default 5)")
    p.set_defaults(func=cmd_serve, portal=None)

    p = sub.add_parser("reindex", help="rebuild the search-engine index with the current mapping, no downtime",
                       description="Create <prefix>-articles-v(N+1) from the current index template, copy the "
                                   "documents into it, and switch the <prefix>-articles alias to it atomically. "
                                   "Search-engine stores only.")
    store_arg(p)
    p.add_argument("--delete-old", action="store_true", help="delete the previous index after the switch")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("portals", help="validate and list the registry",
                       description="Check the registry against its schema and list the valid portals. "
                                   "Exits 1 when an entry has a problem.")
    p.add_argument("--portals", metavar="FILE", default=DEFAULT_REGISTRY, help="registry file (default: portals.yaml)")
    p.add_argument("--var", metavar="NAME=VALUE", action="append", help="fill a {NAME} placeholder in URLs")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(func=cmd_portals)

    p = sub.add_parser("demo", help="serve a bundled mirror on loopback, crawl it, show coverage and a search",
                       description="Generates a small mirror of several portal layouts, serves it on "
                                   "127.0.2.x, crawls it into an embedded store and prints coverage and a "
                                   "sample search. Needs no internet.")
    p.add_argument("--workdir", default="data/demo", help="folder for the mirror and the store (default data/demo)")
    p.add_argument("--store", metavar="URL", help="store URL (default sqlite:///WORKDIR/demo.db)")
    p.add_argument("--articles", type=int, default=12, metavar="N", help="articles per portal (default 12)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command not in ("crawl", "schedule"):
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except (RegistryError, StoreError, UsageError, RulesError) as exc:
        print(f"portalnews {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `portalnews export | head`
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
