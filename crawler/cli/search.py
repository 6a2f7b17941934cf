"""``portalnews search``: full-text search from the terminal, in the query language of the README."""

from __future__ import annotations

import argparse
import difflib
import sys
from contextlib import closing
from typing import Any

from crawler.cli.common import (
    add_filter_args,
    open_cli_store,
    positive_int,
    store_arg,
    use_color,
)
from pipelines.admin import current_province, load_provinces
from pipelines.admin.provinces import name_key
from pipelines.output import json_line, terminal_text
from pipelines.search.highlight import MARK_END, MARK_START
from pipelines.storage import SearchQuery, SearchResult, Store
from pipelines.storage.searching import MAX_PER_PAGE, province_key
from pipelines.storage.story_views import collapsed_search

HELP = "full-text search, with or without diacritics"
DESCRIPTION = ("Search titles, summaries and bodies in the query language: words are ANDed, "
               "\"a phrase\", UBND OR HĐND, -excluded, prefix*. 'hoi nghi' finds 'Hội nghị'; exact "
               "diacritics rank first; abbreviations (UBND) find their long forms. Prints the total and "
               "one page of hits. --json prints the /api/search answer (total, page, hits, facets).")


def query_from_args(args: argparse.Namespace, text: str = "") -> dict[str, Any]:
    """The filters of ``search`` and ``export`` as :class:`SearchQuery` keyword arguments."""
    return {"text": text, "portals": args.portal or [], "province": args.province, "level": args.level,
            "category": args.category, "since": args.since, "until": args.until, "min_views": args.min_views}


def run(args: argparse.Namespace) -> int:
    per_page = args.per_page if args.per_page is not None else args.limit
    with closing(open_cli_store(args)) as store:
        query = SearchQuery.paged(args.page, per_page, sort=args.sort, facets=args.json,
                                  **query_from_args(args, args.query))
        if args.collapse:
            result, collapsed = collapsed_search(store, query)
        else:
            result, collapsed = store.search(query), []
        warnings = filter_warnings(args, store) if not result.total else []
    for warning in warnings:
        print(f"portalnews search: warning: {terminal_text(warning)}", file=sys.stderr)
    by_id = {c.hit.document.id: c for c in collapsed}
    if args.json:
        answer = result.to_api()
        if args.collapse:
            answer["hits"] = [c.to_api() for c in collapsed]
            answer["collapsed"] = True
        print(json_line(answer))
        return 0
    if args.jsonl:
        for hit in result:
            data = hit.document.export_dict()
            data.update({"score": hit.to_api()["score"], "exact": hit.exact, "snippet": hit.snippet_html,
                         "snippet_html": hit.snippet_html, "snippet_text": hit.snippet_text})
            data.pop("body", None)
            if hit.document.id in by_id:
                data["more_portals"] = by_id[hit.document.id].more_portals
            print(json_line(data))
        return 0
    if not result.total:
        print(f"no documents match {terminal_text(repr(args.query))}", file=sys.stderr)
        return 0
    print(_summary(result))
    color = use_color(sys.stdout)
    for i, hit in enumerate(result, (result.page - 1) * result.per_page + 1):
        d = hit.document
        snippet = terminal_text(hit.snippet).replace(MARK_START, "\033[1;33m" if color else "[").replace(
            MARK_END, "\033[0m" if color else "]")
        title = terminal_text(d.title)
        title = f"\033[1m{title}\033[0m" if color else title
        views = f"{d.view_count:,} views".replace(",", ".") if d.view_count is not None else "views n/a"
        province = d.current_province or ""
        if d.province and d.province != province:
            province += f" (registry: {d.province})"
        print(f"{i:>2}. {title}")
        print(f"    {terminal_text(d.portal_id)} · {terminal_text(province)} · "
              f"{terminal_text((d.published_at or 'no date')[:16])} · {views}" + (" · exact" if hit.exact else ""))
        print(f"    {terminal_text(d.url)}")
        more = by_id.get(d.id)
        if more is not None and more.copies:
            portals = more.more_portals
            print(f"    and {portals} more portal{'' if portals == 1 else 's'} ({len(more.copies)} other "
                  f"cop{'y' if len(more.copies) == 1 else 'ies'}"
                  + (", first published here" if d.is_source else
                     f", first on {terminal_text(more.copies[0].portal_id)}") + ")")
        print(f"    {snippet}\n")
    return 0


def _summary(result: SearchResult) -> str:
    """"123 documents match; 11-20 (page 2 of 13)"."""
    n = f"{result.total:,}".replace(",", ".")
    noun = "document matches" if result.total == 1 else "documents match"
    first = (result.page - 1) * result.per_page + 1
    if not result.hits:
        return f"{n} {noun}; page {result.page} is past the last one ({result.pages})"
    ranked = "" if result.rank_exact else "; so many match that relevance ranks the newest title matches"
    return (f"{n} {noun}; {first}-{first + len(result.hits) - 1} (page {result.page} of {result.pages}, "
            f"{result.sort}){ranked}")


def filter_warnings(args: argparse.Namespace, store: Store) -> list[str]:
    """Why the filters of a search that found nothing may match nothing at all: ``--since``
    after ``--until``, or a ``--province`` that no portal of the store is in (with the closest
    known province)."""
    out = []
    if args.since and args.until and _day(args.since) > _day(args.until):
        out.append(f"--since {args.since} is after --until {args.until}: no date can match both")
    if args.province:
        provinces = {r.province for r in store.runs(limit=5_000) if r.province}
        wanted = load_provinces().filter_keys(args.province)
        known = {k for p in provinces for k in (province_key(p), province_key(current_province(p) or p))}
        if provinces and not wanted & known:
            hint = closest_province(args.province, provinces)
            out.append(f"no portal in this store is in province {args.province!r}"
                       + (f"; did you mean --province {hint!r}?" if hint else
                          f" (known: {', '.join(sorted(provinces)[:20])})"))
    return out


def closest_province(name: str, provinces: set[str]) -> str | None:
    """The known province ``name`` most likely means: the closest spelling, compared without
    diacritics, case and the "Tỉnh"/"Thành phố" prefix."""
    by_key = {name_key(p): p for p in provinces}
    bare = name_key(name)
    if bare in by_key:
        return by_key[bare]
    close = difflib.get_close_matches(bare, list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


def _day(value: str) -> str:
    """An ISO date or date-time as a sortable string (dates before times of the same day)."""
    return value if len(value) > 10 else value + "T00:00:00"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="the query (see README, \"Search language\")")
    store_arg(p)
    add_filter_args(p)
    p.add_argument("--sort", choices=["relevance", "date", "views"], default="relevance", help="order (default relevance)")
    p.add_argument("--page", type=positive_int, default=1, metavar="N", help="page number, from 1 (default 1)")
    p.add_argument("--per-page", type=positive_int, metavar="N",
                   help=f"hits per page (default 10, at most {MAX_PER_PAGE})")
    p.add_argument("--limit", type=positive_int, default=10, metavar="N", help="the same as --per-page")
    p.add_argument("--collapse", action="store_true",
                   help="one hit per story (a text reprinted by several portals), with \"and N more portals\"")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object: total, page, per_page, hits, facets")
    out.add_argument("--jsonl", action="store_true", help="one JSON object per hit, one per line")

