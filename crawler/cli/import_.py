"""``portalnews import``: load documents from a JSON-lines export into a store, upserting by URL.

The file is what ``portalnews export`` writes (with ``--with-history``, each line's view-count
history and earlier versions come along), so ``export | import`` moves a store from SQLite to
a cluster and back, and benchmarks load articles without crawling them.  A line that is not a
usable document is reported with its number and skipped; the others are imported.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

from crawler.cli.common import UsageError, open_cli_store, store_arg
from pipelines.output import terminal_text
from pipelines.storage import Document, Store, UpsertResult
from pipelines.storage.base import EXPORT_FIELDS, DocumentHistory, DocumentVersion, observations_from

#: Documents sent to the store at once.
BATCH = 500
#: Seconds between two progress lines.
PROGRESS_EVERY = 10.0
#: Problems printed one by one before they are only counted.
MAX_REPORTED = 20
_REQUIRED_TEXT = ("url", "portal_id", "title", "body")


HELP = "load documents from a JSON-lines export, upserting by URL"
DESCRIPTION = ("Read what `portalnews export` writes (one document per line; with "
               "--with-history also their view-count history and earlier versions) and "
               "upsert every document by URL. `portalnews export | portalnews import --store "
               "URL -` moves a store. Prints progress every 10 s and a summary; a line "
               "that is not a document is named and skipped (exit code 1).")


class LineError(ValueError):
    """A line that is not a usable document; the message says why."""


def parse_line(line: str) -> tuple[Document, DocumentHistory | None] | None:
    """The document (and history, when the line has one) of one export line; None for a blank
    line.  Raises :class:`LineError`."""
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise LineError(f"a JSON {type(data).__name__}, not an object")
    for name in _REQUIRED_TEXT:
        if not isinstance(data.get(name), str) or (name != "body" and not data[name].strip()):
            raise LineError(f"{name!r} is missing or not text")
    fields: dict[str, Any] = {}
    for name in EXPORT_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if name in ("view_count", "story_size"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise LineError(f"{name} {value!r} is not a whole number")
        elif name == "is_source":
            if not isinstance(value, bool):
                raise LineError(f"is_source {value!r} is not true or false")
        elif not isinstance(value, str):
            raise LineError(f"{name!r} is not text: {value!r}"[:200])
        fields[name] = value
    fields.setdefault("crawled_at", "")
    doc = Document(**fields)
    if not any(k in data for k in ("version", "view_history", "previous_versions")):
        return doc, None
    version = data.get("version") or 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise LineError(f"version {version!r} is not a whole number >= 1")
    versions = []
    for v in data.get("previous_versions") or []:
        if not isinstance(v, dict) or not isinstance(v.get("version"), int):
            raise LineError("previous_versions holds an entry without a version number")
        versions.append(DocumentVersion(doc_id=doc.id, version=int(v["version"]),
                                        content_hash=str(v.get("content_hash") or ""), title=str(v.get("title") or ""),
                                        body=str(v.get("body") or ""), published_at=v.get("published_at"),
                                        replaced_at=v.get("replaced_at")))
    history = DocumentHistory(doc_id=doc.id, version=version, view_history=observations_from(data.get("view_history")),
                              versions=versions)
    return doc, history


class Importer:
    """Reads lines, sends batches, reports progress and problems."""

    def __init__(self, store: Store, source: str, err: IO[str], clock: Any = time.monotonic) -> None:
        self.store = store
        self.source = source
        self.err = err
        self.clock = clock
        self.result = UpsertResult()
        self.lines = 0
        self.skipped = 0
        self.started = clock()
        self._last_report = self.started

    def run(self, lines: Iterator[str]) -> None:
        batch: list[tuple[Document, DocumentHistory | None]] = []
        for number, line in enumerate(lines, 1):
            self.lines = number
            try:
                item = parse_line(line)
            except LineError as exc:
                self._skip(number, str(exc))
                continue
            if item is None:
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                self._send(batch)
                batch = []
        if batch:
            self._send(batch)

    def _send(self, batch: list[tuple[Document, DocumentHistory | None]]) -> None:
        # one URL twice in a batch: the later line wins, like two upserts in a row
        self.result.add(self.store.import_documents(batch))
        now = self.clock()
        if now - self._last_report >= PROGRESS_EVERY:
            self._last_report = now
            done = self.documents
            print(f"imported {done:,} documents ({done / max(now - self.started, 1e-9):,.0f}/s)".replace(",", "."),
                  file=self.err, flush=True)

    def _skip(self, number: int, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= MAX_REPORTED:
            print(f"portalnews import: {terminal_text(self.source)}: line {number} skipped: {terminal_text(reason)}",
                  file=self.err)
        elif self.skipped == MAX_REPORTED + 1:
            print("portalnews import: more lines skipped; the summary counts them", file=self.err)

    @property
    def documents(self) -> int:
        return self.result.inserted + self.result.updated + self.result.unchanged

    def summary(self) -> str:
        seconds = max(self.clock() - self.started, 1e-9)
        r = self.result
        text = (f"imported {self.documents} documents from {terminal_text(self.source)} into "
                f"{terminal_text(self.store.url)} in {seconds:.1f}s ({self.documents / seconds:.0f}/s): "
                f"{r.inserted} new, {r.updated} updated, {r.unchanged} unchanged")
        return text + (f"; {self.skipped} line(s) skipped" if self.skipped else "")


def _open(path: str) -> IO[str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict", newline="\n")
    try:
        return open(path, encoding="utf-8-sig", newline="\n")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    source = "standard input" if args.file == "-" else args.file
    stream = _open(args.file)
    try:
        store = open_cli_store(args, create=True)  # importing writes: a new store is made
        try:
            importer = Importer(store, source, sys.stderr)
            bulk = getattr(store, "bulk_import", None)  # SQLite: deferred index merges, a big cache
            later = args.stories == "later"
            if later and not callable(bulk):
                raise UsageError("--stories later works on SQLite stores only (an engine signs each article "
                                 "as it indexes it)")
            with bulk(stories=not later) if callable(bulk) else contextlib.nullcontext():
                try:
                    importer.run(iter(stream))
                except UnicodeDecodeError as exc:
                    importer._skip(importer.lines + 1, f"not UTF-8 ({exc.reason}); the rest of the file is not read")
            refresh = getattr(store, "refresh", None)
            if callable(refresh):  # a search engine: what was imported is searchable now
                refresh()
            if later:
                print("portalnews import: stories left for later: `portalnews stories --reconcile` (or the next "
                      "crawl) signs the imported documents and finds their stories", file=sys.stderr)
            else:
                store.reconcile_stories()  # the imported documents join their stories
        finally:
            store.close()
    finally:
        if args.file != "-":
            stream.close()
    print(importer.summary(), file=sys.stderr)
    return 1 if importer.skipped else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the export file, or - for standard input")
    p.add_argument("--stories", choices=("now", "later"), default="now",
                   help="now (default): sign every new document and put it into its story (a press release "
                        "and its reprints) before returning; later (SQLite, for bulk loads): store the new "
                        "documents unsigned, each a story of its own, and leave signing and reconciliation "
                        "to `portalnews stories --reconcile` or the next crawl (milliseconds a document: "
                        "hours at a million)")
    store_arg(p)
