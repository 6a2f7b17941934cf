"""``portalnews search``: full-text search from the terminal."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from crawler.cli.common import (
    iso_date,
    open_cli_store,
    store_arg,
    use_color,
)
from pipelines.storage import SearchQuery
from pipelines.storage.textsearch import MARK_END, MARK_START

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    store = open_cli_store(args)
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
    color = use_color(sys.stdout)
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


def add_parser(sub: Any) -> None:
    p = sub.add_parser("search", help="full-text search, with or without diacritics",
                       description="Search titles, summaries and bodies. 'hoi nghi' finds 'Hội nghị'; exact "
                                   "diacritics rank higher. Use \"quotes\" for a phrase.")
    p.add_argument("query", help="words to find")
    store_arg(p)
    p.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    p.add_argument("--province", help="only portals of this province (diacritics optional)")
    p.add_argument("--since", type=iso_date, metavar="DATE", help="published on or after DATE")
    p.add_argument("--until", type=iso_date, metavar="DATE", help="published on or before DATE")
    p.add_argument("--min-views", type=int, metavar="N", help="only documents with at least N views")
    p.add_argument("--sort", choices=["relevance", "date", "views"], default="relevance", help="order (default relevance)")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="number of results (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    p.set_defaults(func=run)
