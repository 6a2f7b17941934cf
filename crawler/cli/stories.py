"""``portalnews stories``: the largest stories — one press release and its reprints across portals."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from crawler.cli.common import iso_date, open_cli_store, positive_int, store_arg
from pipelines.output import json_line, terminal_text
from pipelines.storage.story_views import largest_stories

HELP = "the largest stories: one text published on several portals"
DESCRIPTION = ("List the stories of two or more documents (a press release and its reprints, found when "
               "the documents were stored), most portals first: the first publication (the source) and "
               "every copy with its portal and date.")


def run(args: argparse.Namespace) -> int:
    with closing(open_cli_store(args)) as store:
        if args.reconcile:
            report = store.reconcile_stories()
            print(f"reconciled {report.documents} document(s) into their stories in {report.batches} batch(es)"
                  + "".join(f"; {terminal_text(note)}" for note in report.notes), file=sys.stderr, flush=True)
        stories = largest_stories(store.story_groups(), since=args.since, min_portals=args.min_portals,
                                  limit=args.limit)
    if args.json:
        print(json_line([s.to_dict() for s in stories], indent=1))
        return 0
    if not stories:
        print("no story of two or more documents matches", flush=True)
        return 0
    for n, s in enumerate(stories, 1):
        src = s.source
        print(f"{n:>2}. {terminal_text(src.title)}")
        print(f"    {len(s.members)} copies on {len(s.portals)} portals; first on {terminal_text(src.portal_id)} "
              f"{terminal_text((src.published_at or 'no date')[:16])} · story {s.story_id[:12]}")
        for d in s.members[1:]:
            print(f"      {terminal_text((d.published_at or 'no date')[:16]):16}  {terminal_text(d.portal_id)}  "
                  f"{terminal_text(d.url)}")
        print()
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    store_arg(p)
    p.add_argument("--since", type=iso_date, metavar="DATE", help="only stories first published on or after DATE")
    p.add_argument("--min-portals", type=positive_int, default=1, metavar="N",
                   help="only stories on N portals or more (default 1)")
    p.add_argument("--limit", type=positive_int, default=20, metavar="N", help="at most N stories (default 20)")
    p.add_argument("--reconcile", action="store_true",
                   help="first sign the documents `portalnews import --stories later` stored and put every "
                        "pending document into its story (what a crawl does at its end)")
    p.add_argument("--json", action="store_true", help="one JSON list: story_id, size, portals, source and copies")
