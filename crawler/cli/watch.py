"""``portalnews watch``: saved searches whose new articles the alert channels announce after each crawl.

``watch add NAME QUERY [--province P] [--portal ID …] [--min-views N]`` saves a watchlist (the
query language and filters of ``search``), ``watch list [--json]`` shows them with how many
articles each has notified, ``watch remove NAME`` deletes one, and ``watch check`` sends the
notices now (what every crawl does at its end; for cron after an ``import``).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from crawler.cli.common import UsageError, open_cli_store, store_arg, table
from pipelines.admin import load_provinces
from pipelines.monitoring.watch import WatchlistError, new_watchlist
from pipelines.output import json_line, terminal_text
from pipelines.search import abbreviations_from_settings, parse
from pipelines.storage.watchlists import NoticeState, Watchlist, WatchlistExists, Watchlists

HELP = "saved searches notified after each crawl"
DESCRIPTION = ("Watchlists: a saved query (the language and filters of `search`). After each "
               "crawl, the alert webhook and email get one notice per watchlist listing its new "
               "matching articles, never the same article twice.")


def _known(lists: list[Watchlist]) -> str:
    return ", ".join(repr(w.name) for w in lists) if lists else "none saved yet"


def run_add(args: argparse.Namespace) -> int:
    abbreviations = abbreviations_from_settings(None)
    try:
        watchlist = new_watchlist(args.name, args.query, province=args.province, portals=args.portal or [],
                                  min_views=args.min_views, abbreviations=abbreviations)
    except WatchlistError as exc:
        raise UsageError(str(exc)) from None
    name, understood = watchlist.name, parse(watchlist.query, abbreviations).source
    if args.province and load_provinces().resolve(args.province) is None:
        print(f"portalnews watch: warning: {terminal_text(repr(args.province))} is not a province portalnews "
              "knows: the watchlist matches only portals whose registry spells it so", file=sys.stderr)
    with closing(open_cli_store(args, create=True)) as store:  # saving a watchlist may start a store
        try:
            store.add_watchlist(watchlist)
        except WatchlistExists:
            raise UsageError(f"a watchlist named {name!r} exists already (known: {_known(store.watchlists())}); "
                             f"remove it first: portalnews watch remove {name!r}") from None
    print(terminal_text(f"saved watchlist {name!r}: {understood}" + (f" (as written: {watchlist.query})"
                                                                      if understood != watchlist.query else "")))
    print("its new articles are notified after each crawl through PORTALNEWS_ALERT_WEBHOOK and the alert email")
    return 0


def _filters(w: Watchlist) -> str:
    parts = [f"province={w.province}" if w.province else "", *(f"portal={p}" for p in w.portals),
             f"min-views={w.min_views}" if w.min_views is not None else ""]
    return " ".join(p for p in parts if p)


def run_list(args: argparse.Namespace) -> int:
    with closing(open_cli_store(args)) as store:
        lists = store.watchlists()
        counts = {w.key: _counts(store, w) for w in lists}
    if args.json:
        print(json_line([{**w.to_dict(), **counts[w.key]} for w in lists], indent=1))
        return 0
    if not lists:
        print("no watchlists saved (portalnews watch add NAME QUERY)")
        return 0
    rows = [[w.name, w.query, _filters(w), w.created_at[:16].replace("T", " "), str(counts[w.key]["notified"]),
             str(counts[w.key]["pending"])] for w in lists]
    print(table(rows, ["name", "query", "filters", "saved (UTC)", "notified", "kept"]))
    return 0


def _counts(store: Watchlists, w: Watchlist) -> dict[str, int]:
    notices = store.watch_notices(w.name)
    return {"notified": sum(n.state == NoticeState.SENT for n in notices),
            "pending": sum(n.state != NoticeState.SENT for n in notices)}


def run_remove(args: argparse.Namespace) -> int:
    with closing(open_cli_store(args)) as store:
        removed = store.remove_watchlist(args.name)
        if removed is None:
            raise UsageError(f"no watchlist named {args.name!r} (known: {_known(store.watchlists())})")
    print(terminal_text(f"removed watchlist {removed.name!r}"))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from pipelines.monitoring.notify import NotifyConfig
    from pipelines.monitoring.watch import check_watchlists

    with closing(open_cli_store(args)) as store:
        report = check_watchlists(store, NotifyConfig.from_settings())
    if args.json:
        print(json_line(report.to_dict(), indent=1))
    else:
        print(f"{report.watchlists} watchlist(s), {report.articles_checked} new article(s) checked, "
              f"{report.notices_sent} notice(s) sent ({report.articles_notified} article(s)), "
              f"{report.articles_kept} article(s) kept for the next check")
    return 1 if report.articles_kept else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="watch_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="save a watchlist", description="Save a watchlist; articles first seen "
                             "from now on that match it are notified.")
    add.add_argument("name", help="a unique name")
    add.add_argument("query", help="the query, as for `search` (README, \"Search language\")")
    add.add_argument("--province", help="only this province (as `search --province`)")
    add.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    add.add_argument("--min-views", type=int, metavar="N", help="only articles with at least N views")
    store_arg(add)
    add.set_defaults(func=run_add)
    ls = actions.add_parser("list", help="list the watchlists")
    ls.add_argument("--json", action="store_true", help="a JSON array")
    store_arg(ls)
    ls.set_defaults(func=run_list)
    rm = actions.add_parser("remove", help="remove a watchlist")
    rm.add_argument("name")
    store_arg(rm)
    rm.set_defaults(func=run_remove)
    check = actions.add_parser("check", help="send the notices of the articles stored since the last check now; "
                               "exit 1 when a notice reached no channel")
    check.add_argument("--json", action="store_true", help="what was sent, as JSON")
    store_arg(check)
    check.set_defaults(func=run_check)
