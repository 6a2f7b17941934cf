"""``portalnews export``: stored documents as JSON lines or CSV (with a byte-order mark, for spreadsheets)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from crawler.cli.common import (
    add_filter_args,
    open_cli_store,
    store_arg,
)
from pipelines.output import CsvWriter, json_line
from pipelines.storage import ExportFilter
from pipelines.storage.base import EXPORT_FIELDS

#: Written first in a CSV export: Excel reads the file as UTF-8 only with it (LibreOffice and
#: Python's ``utf-8-sig`` take it too), so Vietnamese is not shown as mojibake.
BOM = "\ufeff"


HELP = "export stored documents as JSON lines or CSV"
DESCRIPTION = ("Write one document per line with " + ", ".join(EXPORT_FIELDS) + ". CSV "
               "starts with a UTF-8 byte-order mark so that spreadsheets read Vietnamese; "
               "`portalnews import` reads the JSON lines back.")


class ExportWriteError(Exception):
    """The export could not be written where it was asked to go."""


def run(args: argparse.Namespace) -> int:
    store = open_cli_store(args)
    try:
        flt = ExportFilter(portals=args.portal or [], since=args.since, until=args.until, province=args.province,
                           level=args.level, category=args.category, min_views=args.min_views,
                           text=args.query or "")
        histories = store.histories if getattr(args, "with_history", False) else None
        if args.output:
            n = export_to_file(args.output,
                               lambda out: write_export(store.iter_documents(flt), out, args.format,
                                                        histories=histories))
        else:
            n = write_export(store.iter_documents(flt), sys.stdout, args.format, histories=histories)
            sys.stdout.flush()
    except ExportWriteError as exc:
        print(f"portalnews export: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise
    except OSError as exc:  # standard output itself failed (a full disk, a closed terminal)
        _silence_stdout()
        print(f"portalnews export: error: cannot write to standard output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"exported {n} documents" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    return 0


def export_to_file(target: str | Path, write: Callable[[IO[str]], int]) -> int:
    """Run ``write`` on a new file at ``path``; raise :class:`ExportWriteError` with one line
    naming the path and the cause when it cannot be written.

    A regular file (or a new one) is written next to its final name and renamed into place
    only when complete, so a failed export never leaves half a file or clobbers the previous
    one; anything else (``/dev/stdout``, a pipe) is written directly."""
    path, shown = Path(target), str(target)
    try:
        special = path.exists() and not stat.S_ISREG(path.stat().st_mode) and not path.is_dir()
    except OSError as exc:
        raise ExportWriteError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise ExportWriteError(f"cannot write {shown}: it is a folder; give a file name, e.g. {path / 'export.jsonl'}")
    if not special and not path.parent.is_dir():
        raise ExportWriteError(f"cannot write {shown}: the folder {path.parent} does not exist")
    tmp: str | None = None
    try:
        if special:
            with path.open("w", encoding="utf-8", newline="") as out:
                return write(out)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            n = write(out)
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
        tmp = None
        return n
    except OSError as exc:
        raise ExportWriteError(f"cannot write {shown}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _file_mode(path: Path) -> int:
    """The permissions the export gets: those of the file it replaces, else the usual 0666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _silence_stdout() -> None:
    """After standard output failed, send what is left to /dev/null so that the interpreter's
    own flush at exit does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


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
        out.write(BOM)
        writer = CsvWriter(out, fields)  # neutralises formula cells (pipelines/output.py)
        writer.writeheader()
        for row in rows:
            for name in HISTORY_EXPORT_FIELDS[1:]:
                if name in row:
                    row[name] = json.dumps(row[name], ensure_ascii=False)
            if row.get("is_source") is not None:
                row["is_source"] = json.dumps(row["is_source"])  # true / false, as in JSON lines
            writer.writerow(row)
            n += 1
    else:
        for row in rows:
            out.write(json_line(row) + "\n")
            n += 1
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    store_arg(p)
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format (default jsonl)")
    add_filter_args(p)
    p.add_argument("--query", metavar="Q", help="only the documents that match this query (search language)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--with-history", action="store_true",
                   help="add version, view_history ([{t, views}], oldest first) and previous_versions to each line")
