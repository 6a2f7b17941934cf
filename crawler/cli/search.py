"""``portalnews search``: full-text search from the terminal."""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
from typing import Any

from crawler.cli.common import (
    iso_date,
    open_cli_store,
    store_arg,
    use_color,
)
from pipelines.output import json_line, snippet_html, snippet_text, terminal_text
from pipelines.storage import SearchQuery, Store
from pipelines.storage.textsearch import MARK_END, MARK_START, fold

logger = logging.getLogger(__name__)

# How people write a province's name in full; the store keeps the bare name ("Lào Cai").
_PROVINCE_PREFIX = re.compile(r"^\s*(?:tinh|thanh pho|tp\.?)\s+", re.IGNORECASE)


def run(args: argparse.Namespace) -> int:
    store = open_cli_store(args)
    try:
        hits = store.search(SearchQuery(text=args.query, portals=args.portal or [], province=args.province,
                                        since=args.since, until=args.until, sort=args.sort,
                                        limit=args.limit, min_views=args.min_views))
        warnings = filter_warnings(args, store) if not hits else []
    finally:
        store.close()
    for warning in warnings:
        print(f"portalnews search: warning: {terminal_text(warning)}", file=sys.stderr)
    if args.json:
        for hit in hits:
            data = hit.document.export_dict()
            html_snippet = snippet_html(hit.snippet)
            data.update({"score": round(hit.score, 4), "exact": hit.exact, "snippet": html_snippet,
                         "snippet_html": html_snippet, "snippet_text": snippet_text(hit.snippet),
                         "province": hit.document.province})
            data.pop("body", None)
            print(json_line(data))
        return 0
    if not hits:
        print(f"no documents match {terminal_text(repr(args.query))}", file=sys.stderr)
        return 0
    color = use_color(sys.stdout)
    for i, hit in enumerate(hits, 1):
        d = hit.document
        snippet = terminal_text(hit.snippet).replace(MARK_START, "\033[1;33m" if color else "[").replace(
            MARK_END, "\033[0m" if color else "]")
        title = terminal_text(d.title)
        title = f"\033[1m{title}\033[0m" if color else title
        views = f"{d.view_count:,} views".replace(",", ".") if d.view_count is not None else "views n/a"
        print(f"{i:>2}. {title}")
        print(f"    {terminal_text(d.portal_id)} · {terminal_text(d.province or '')} · "
              f"{terminal_text((d.published_at or 'no date')[:16])} · {views}")
        print(f"    {terminal_text(d.url)}")
        print(f"    {snippet}\n")
    return 0


def filter_warnings(args: argparse.Namespace, store: Store) -> list[str]:
    """Why the filters of a search that found nothing may match nothing at all: ``--since``
    after ``--until``, or a ``--province`` that no portal of the store is in (with the closest
    known province, e.g. without the "Tỉnh " prefix)."""
    out = []
    if args.since and args.until and _day(args.since) > _day(args.until):
        out.append(f"--since {args.since} is after --until {args.until}: no date can match both")
    if args.province:
        provinces = {r.province for r in store.runs(limit=5_000) if r.province}
        if provinces and fold(args.province.strip()) not in {fold(p) for p in provinces}:
            hint = closest_province(args.province, provinces)
            out.append(f"no portal in this store is in province {args.province!r}"
                       + (f"; did you mean --province {hint!r}?" if hint else
                          f" (known: {', '.join(sorted(provinces)[:20])})"))
    return out


def closest_province(name: str, provinces: set[str]) -> str | None:
    """The known province ``name`` most likely means: the same without "Tỉnh"/"Thành phố", else
    the closest spelling (compared without diacritics)."""
    by_fold = {fold(p): p for p in provinces}
    bare = _PROVINCE_PREFIX.sub("", fold(name.strip()))
    if bare in by_fold:
        return by_fold[bare]
    close = difflib.get_close_matches(bare, list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def _day(value: str) -> str:
    """An ISO date or date-time as a sortable string (dates before times of the same day)."""
    return value if len(value) > 10 else value + "T00:00:00"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("search", help="full-text search, with or without diacritics",
                       description="Search titles, summaries and bodies. 'hoi nghi' finds 'Hội nghị'; exact "
                                   "diacritics rank higher. Use \"quotes\" for a phrase. With --json each hit "
                                   "has snippet_html (escaped, matches in <mark>) and snippet_text (plain).")
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
