"""The ``portalnews`` command line: crawl, search, export, coverage, reindex, portals, demo.

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
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

from crawler.registry import RegistryError, load_registry
from pipelines.storage import ExportFilter, SearchQuery, Store, StoreError, open_store, resolve_store_url
from pipelines.storage.base import EXPORT_FIELDS, redact_url
from pipelines.storage.textsearch import MARK_END, MARK_START

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


def _parse_vars(values: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for value in values or ():
        name, sep, val = value.partition("=")
        if not sep or not name:
            raise UsageError(f"--var expects NAME=VALUE, got {value!r}")
        out[name] = val
    return out


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
    for item in args.set or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"-s expects NAME=VALUE, got {item!r}")
        settings.set(name.strip(), value, priority="cmdline")
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
    for note in stats.get("portalnews/store_notes") or []:  # search-engine stores: outages, spool
        print(f"store: {note}", file=sys.stderr)
    unsent = int(stats.get("portalnews/unsent", 0) or 0)
    if unsent:
        spool = stats.get("portalnews/spool_dir")
        where = f": they are kept in {spool} and sent at the next crawl" if spool else " (see the log)"
        print(f"ERROR: {unsent} records are not stored yet{where}", file=sys.stderr)
        return 1
    return 0


# --- export ---------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        flt = ExportFilter(portals=args.portal or [], since=args.since, until=args.until)
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                n = write_export(store.iter_documents(flt), out, args.format)
        else:
            n = write_export(store.iter_documents(flt), sys.stdout, args.format)
    finally:
        store.close()
    print(f"exported {n} documents" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    return 0


def write_export(docs: Iterator[Any], out: IO[str], fmt: str) -> int:
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS))
        writer.writeheader()
        for doc in docs:
            writer.writerow(doc.export_dict())
            n += 1
    else:
        for doc in docs:
            out.write(json.dumps(doc.export_dict(), ensure_ascii=False) + "\n")
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


# --- coverage -------------------------------------------------------------------------
def cmd_coverage(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = store.coverage()
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("no crawl recorded in this store yet: run `portalnews crawl` first", file=sys.stderr)
        return 0
    table = [[r.portal_id, str(r.articles), (r.newest_article or "-")[:10], (r.last_crawl_started or "-")[:19],
              r.last_outcome or "-", str(r.pages_fetched), str(r.errors),
              ",".join(f"{k}:{v}" for k, v in sorted(r.http_errors.items())) or "-"]
             for r in rows]
    print(_table(table, ["portal", "articles", "newest", "last crawl (UTC)", "outcome", "pages", "errors",
                         "http errors"]))
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
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("export", help="export stored documents as JSON lines or CSV",
                       description="Write one document per line with url, portal_id, title, published_at, "
                                   "view_count, body, summary, author, category, crawled_at.")
    store_arg(p)
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format (default jsonl)")
    p.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    p.add_argument("--since", type=_iso_date, metavar="DATE", help="published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", type=_iso_date, metavar="DATE", help="published on or before DATE")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
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

    p = sub.add_parser("coverage", help="per-portal coverage: articles, freshness, last crawl, errors")
    store_arg(p)
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(func=cmd_coverage)

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
    if args.command != "crawl":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except (RegistryError, StoreError, UsageError) as exc:
        print(f"portalnews {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `portalnews export | head`
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
