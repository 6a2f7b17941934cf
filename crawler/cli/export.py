"""``portalnews export``: stored documents as JSON lines or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from crawler.cli.common import (
    iso_date,
    open_cli_store,
    store_arg,
)
from pipelines.storage import ExportFilter
from pipelines.storage.base import EXPORT_FIELDS

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    store = open_cli_store(args)
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


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export stored documents as JSON lines or CSV",
                       description="Write one document per line with url, portal_id, title, published_at, "
                                   "view_count, body, summary, author, category, crawled_at.")
    store_arg(p)
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format (default jsonl)")
    p.add_argument("--portal", metavar="ID", action="append", help="only this portal (repeatable)")
    p.add_argument("--since", type=iso_date, metavar="DATE", help="published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", type=iso_date, metavar="DATE", help="published on or before DATE")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--with-history", action="store_true",
                   help="add version, view_history ([{t, views}], oldest first) and previous_versions to each line")
    p.set_defaults(func=run)
