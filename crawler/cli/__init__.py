"""The ``portalnews`` command line: one module per command, each with ``HELP``, ``DESCRIPTION``,
``add_arguments`` and ``run``; :func:`build_parser` makes the subcommand of each from them.

Every command has ``--help``.  Errors the user can fix (a bad registry, an unknown
store URL, an unreachable engine) are printed as one clear line and exit with code 2,
never as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from crawler.cli import (
    check,
    coverage,
    crawl,
    demo,
    export,
    extract,
    import_,
    migrate,
    portals,
    reindex,
    report,
    schedule,
    search,
    serve,
    stories,
    watch,
    web,
)
from crawler.cli.common import UsageError
from crawler.registry import RegistryError
from pipelines.monitoring.rules import RulesError
from pipelines.storage import StoreError

#: The commands in the order ``--help`` lists them.
COMMANDS = (crawl, schedule, export, import_, search, stories, web, watch, coverage, check, report, serve, reindex, migrate,
            portals, extract, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portalnews",
        description="Crawl Vietnamese government news portals into a searchable index.",
        epilog="Store URLs: sqlite:///PATH (default sqlite:///data/portalnews.db), "
               "http(s)://HOST:9200 or elasticsearch://HOST:9200, opensearch://HOST:9200 (also es://, "
               "+http and +https forms). "
               "The store may also come from PORTALNEWS_STORE or ELASTICSEARCH_URL.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show Scrapy's own log lines too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        name = command.__name__.rpartition(".")[2].rstrip("_")  # import_ is `portalnews import`
        p = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(p)
        if hasattr(command, "run"):  # watch: each of its actions sets its own
            p.set_defaults(func=command.run)
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
