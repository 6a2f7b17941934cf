"""``portalnews coverage``: per-portal coverage, worst first."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from crawler.cli.common import (
    table,
)
from crawler.cli.monitoring import (
    STATUS_COLOURS,
    blank,
    check_store_args,
    coloured_table,
    monitoring_args,
    pairs,
)
from pipelines.output import CsvWriter, json_line

HELP = "per-portal coverage, worst first: freshness, last crawl, errors, parsing"
DESCRIPTION = ("Per portal: health and status, articles (and new in 24 h / 7 / 30 days), "
               "newest article, last crawl (start, outcome, pages), HTTP errors by code, "
               "fields not found on article pages, robots.txt blocks. Worst portals first; "
               "colour on a terminal (NO_COLOR turns it off).")


def run(args: argparse.Namespace) -> int:
    report, _alerts, _rules_used, store = check_store_args(args)
    store.close()
    if args.by:
        groups = report.by_province if args.by == "province" else report.by_level
        if args.json:
            print(json_line([g.to_dict() for g in groups], indent=1))
        elif args.csv:
            writer = CsvWriter(sys.stdout)
            writer.writerow([args.by, "portals", "health", "worst_portal", "statuses", "articles", "new_24h", "new_7d",
                             "new_30d", "newest_article", "age_days", "pages_fetched", "errors", "article_pages",
                             "missing_fields"])
            for g in groups:
                writer.writerow([g.key, g.portals, g.health, g.worst_portal, pairs(g.statuses, ";"), g.articles,
                                 g.new_24h, g.new_7d, g.new_30d, g.newest_article or "", blank(g.age_days),
                                 g.pages_fetched, g.errors, g.article_pages, pairs(g.missing_fields, ";")])
        else:
            rows = [[g.key, str(g.portals), str(g.health), pairs(g.statuses), str(g.articles), str(g.new_24h),
                     str(g.new_7d), str(g.new_30d), (g.newest_article or "-")[:10],
                     "-" if g.age_days is None else str(g.age_days), g.worst_portal or "-"] for g in groups]
            print(table(rows, [args.by, "portals", "health", "statuses", "articles", "24h", "7d", "30d", "newest",
                                "age", "worst portal"]))
        return 0
    portals = report.portals
    if args.json:
        print(json_line([p.to_dict() for p in portals], indent=1))
        return 0
    if args.csv:
        write_coverage_csv(portals, sys.stdout)
        return 0
    if not portals:
        print("no crawl recorded in this store yet: run `portalnews crawl` first", file=sys.stderr)
        return 0
    rows = []
    for p in portals:
        missing = pairs(p.missing_fields) + (f" of {p.article_pages}" if p.missing_fields else "")
        rows.append([p.portal_id, p.status, str(p.health), p.province or "-", p.level or "-", str(p.articles),
                     str(p.new_24h), str(p.new_7d), str(p.new_30d), (p.newest_article or "-")[:10],
                     "-" if p.age_days is None else str(p.age_days), (p.last_crawl_started or "-")[:19],
                     p.last_outcome or "-", str(p.pages_fetched), pairs(p.http_errors) or "-", missing or "-",
                     str(p.robots_blocked), f"{p.reprint_share:.0%}" if p.articles else "-",
                     "; ".join(p.problems) or "-"])
    print(coloured_table(rows, ["portal", "status", "health", "province", "level", "articles", "24h", "7d", "30d",
                                 "newest", "age", "last crawl (UTC)", "outcome", "pages", "http errors",
                                 "not found", "robots", "reprints", "problems"],
                          [STATUS_COLOURS.get(p.status) for p in portals]))
    return 0


COVERAGE_CSV_FIELDS = (
    "portal_id", "status", "health", "name", "province", "level", "articles", "new_24h", "new_7d", "new_30d",
    "found_24h", "found_7d", "found_30d", "newest_article", "age_days", "last_crawl_started", "last_crawl_finished",
    "last_outcome", "pages_fetched", "errors", "http_errors", "error_rate", "article_pages", "missing_fields",
    "extraction_failure_rate", "robots_blocked", "dropped", "drop_reasons", "crawls_without_new", "problems",
    "reprints", "reprint_share", "own_share",
)


def write_coverage_csv(portals: list[Any], out: IO[str]) -> None:
    writer = CsvWriter(out)
    writer.writerow(COVERAGE_CSV_FIELDS)
    for p in portals:
        data = p.to_dict()
        row = []
        for name in COVERAGE_CSV_FIELDS:
            value = data[name]
            if isinstance(value, dict):
                value = pairs(value, ";")
            elif isinstance(value, list):
                value = " | ".join(value)
            row.append(blank(value))
        writer.writerow(row)


def add_arguments(p: argparse.ArgumentParser) -> None:
    monitoring_args(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument("--by", choices=["province", "level"], help="roll the portals up by province or level")
