"""Helpers every command shares: the usage error, store opening, argument types, tables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import date, datetime
from typing import IO

from pipelines.output import terminal_text
from pipelines.storage import Store, open_store, resolve_store_url

DEFAULT_REGISTRY = "portals.yaml"


class UsageError(Exception):
    """A problem the user can fix; printed without a traceback."""


def open_cli_store(args: argparse.Namespace, create: bool = False) -> Store:
    """The store named by ``--store`` (or the environment), opened.  The commands that only
    read a store never create one: a missing store is a :class:`StoreError` naming it."""
    store = open_store(resolve_store_url(getattr(args, "store", None)))
    try:
        store.open(create=create)
    except BaseException:
        store.close()
        raise
    return store


def store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="store URL (default: $PORTALNEWS_STORE, "
                   "$ELASTICSEARCH_URL or sqlite:///data/portalnews.db)")


def registry_args(p: argparse.ArgumentParser, verb: str | None = None) -> None:
    """``--portals FILE`` and ``--var NAME=VALUE`` of the commands that read the registry, and
    ``--portal ID`` ("``verb`` only this portal") when ``verb`` is given."""
    p.add_argument("--portals", metavar="FILE", default=DEFAULT_REGISTRY, help="registry file (default: portals.yaml)")
    if verb:
        p.add_argument("--portal", metavar="ID", action="append", help=f"{verb} only this portal (repeatable)")
    p.add_argument("--var", metavar="NAME=VALUE", action="append",
                   help="fill a {NAME} placeholder in registry URLs, e.g. --var PORT=18080")


def iso_date(value: str) -> str:
    """argparse type: an ISO date (or date-time), returned unchanged."""
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return value


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return n


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """The filters ``search`` and ``export`` share (and the web app's parameters)."""
    p.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    p.add_argument("--province", help="only this province, any spelling; a province formed in 2025 includes "
                                      "the provinces merged into it")
    p.add_argument("--level", help="only portals of this level (province, district, commune, department, "
                                   "or huyện, xã …)")
    p.add_argument("--category", help="only this category (case and diacritics ignored)")
    p.add_argument("--since", type=iso_date, metavar="DATE", help="published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", type=iso_date, metavar="DATE", help="published on or before DATE")
    p.add_argument("--min-views", type=int, metavar="N", help="only documents with at least N views")


def duration(value: str) -> float:
    """argparse type: ``45s``, ``30m``, ``6h``, ``1d`` in seconds."""
    from crawler.scheduling.intervals import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments of a repeatable option as a mapping (a bad one is a usage error)."""
    out = {}
    for value in values or ():
        name, sep, val = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{flag} expects NAME=VALUE, got {value!r}")
        out[name.strip()] = val
    return out


def parse_vars(values: Sequence[str] | None) -> dict[str, str]:
    return parse_pairs(values, "--var")


def use_color(stream: IO[str]) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain-text table; every cell is made safe for a terminal (pipelines/output.py)."""
    rows = [[terminal_text(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    return "\n".join(lines)
