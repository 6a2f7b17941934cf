"""``portalnews extract``: what the extractor makes of saved pages.

Each file (folders are read recursively for ``*.html``, ``*.htm``, ``*.aspx``, ``*.php``,
``*.asp``, ``*.jsp``, also with a mirror's ``__query`` suffix) is decoded like a fetched page and passed
to the same pure extractor the crawl uses.  The page's URL comes from ``--url``, else
from the comment a browser (``saved from url=``) or HTTrack (``Mirrored from``) leaves,
else from its canonical link (``file://`` path as the last resort).  Relative dates
("2 giờ trước") are resolved against ``--fetched-at``, else HTTrack's copy time, else the
file's modification time.

With ``--json`` one JSON object per page and line: ``file, url, page_kind, reason,
profile, title, published_at, date_precision, view_count, body, summary, author,
category``.  A file that cannot be read is reported (``page_kind: error``) and the
others are still extracted.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.cli.common import UsageError
from pipelines.extract import decode_html, extract_page
from pipelines.extract.profiles import ProfileError, ProfileSet, load_profiles
from pipelines.extract.saved import saved_origin
from pipelines.model.kinds import PageKind

__all__ = ["DESCRIPTION", "EXTRACT_FIELDS", "HELP", "add_arguments", "extract_file", "iter_files", "run"]

EXTRACT_FIELDS = ("file", "url", "page_kind", "reason", "profile", "title", "published_at", "date_precision",
                  "view_count", "body", "summary", "author", "category")
# Page files, also as a mirror stores them ("Default.aspx__tabid%3D53": the query after "__").
_PAGE_NAME = re.compile(r"\.(?:html?|aspx?|php|jsp|shtml)(?:__.*)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


HELP = "show what the extractor makes of saved pages"
DESCRIPTION = ("Extract saved pages (files, or folders read recursively) exactly as a crawl "
               "would: page kind with its reason, and every field. Exits 1 when a file "
               "could not be read.")


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The files named, and the page files inside the folders named (sorted, recursive)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and _PAGE_NAME.search(child.name) and not child.name.startswith("."):
                    yield child
        else:
            yield path


def extract_file(path: Path, *, url: str | None = None, profile: str = "auto", profiles: ProfileSet | None = None,
                 fetched_at: datetime | None = None, content_type: str | None = None,
                 data: bytes | None = None) -> dict[str, Any]:
    """One saved page -> the record ``--json`` prints (``EXTRACT_FIELDS``)."""
    record: dict[str, Any] = dict.fromkeys(EXTRACT_FIELDS)
    record["file"] = str(path)
    try:
        raw = data if data is not None else path.read_bytes()
    except OSError as exc:
        record.update(url=url, page_kind="error", reason=f"cannot read the file: {exc.strerror or exc}")
        return record
    html = decode_html(raw, content_type)
    origin = saved_origin(html)
    page_url = url or origin.url or path.resolve().as_uri()
    if fetched_at is None:
        fetched_at = origin.fetched_at
    if fetched_at is None:
        try:
            fetched_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            fetched_at = None
    result = extract_page(html, page_url, profile=profile, profiles=profiles, fetched_at=fetched_at)
    fields = result.to_dict()
    record["url"] = page_url
    for key in EXTRACT_FIELDS[2:]:
        record[key] = fields.get(key)
    return record


def _terminal(value: Any) -> str:
    """A field as one safe terminal line: control characters shown as escapes."""
    text = "" if value is None else str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _print_text(record: dict[str, Any]) -> None:
    print(f"== {_terminal(record['file'])}")
    print(f"   url:      {_terminal(record['url'])}")
    print(f"   kind:     {_terminal(record['page_kind'])} ({_terminal(record['reason'])})")
    if record["page_kind"] == PageKind.ERROR:
        return
    print(f"   profile:  {_terminal(record['profile'])}")
    date = record["published_at"]
    if date:
        date = f"{date} ({record['date_precision']})"
    for label, key in (("title", "title"), ("category", "category"), ("author", "author"), ("views", "view_count")):
        print(f"   {label + ':':<9} {_terminal(record[key])}")
    print(f"   {'date:':<9} {_terminal(date)}")
    if record["summary"]:
        print(f"   {'summary:':<9} {_terminal(record['summary'])}")
    body = record["body"] or ""
    if body:
        paragraphs = body.split("\n")
        print(f"   body:     {len(paragraphs)} paragraph(s), {len(body)} characters")
        for paragraph in paragraphs:
            print(f"     | {_terminal(paragraph)}")


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    try:
        profiles = load_profiles()
    except ProfileError as exc:
        raise UsageError(f"family profiles: {exc}") from None
    if args.profile not in ("auto", "generic") and args.profile not in profiles.names:
        raise UsageError(f"unknown profile {args.profile!r} (known: auto, generic, {', '.join(sorted(profiles.names))})")
    fetched_at = None
    if args.fetched_at:
        fetched_at = datetime.fromisoformat(args.fetched_at)
    files = list(iter_files(paths))
    if not files:
        raise UsageError("no page files found")
    if args.url and len(files) > 1:
        raise UsageError("--url names the URL of one page; give one file")
    errors = 0
    for path in files:
        record = extract_file(path, url=args.url, profile=args.profile, profiles=profiles, fetched_at=fetched_at)
        errors += record["page_kind"] == PageKind.ERROR
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            _print_text(record)
    return 1 if errors else 0


def _fetch_time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the offset too, e.g. {value}+07:00")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="saved page file(s) or folder(s)")
    p.add_argument("--url", help="the page's URL (default: the saved-page comment, else its canonical link)")
    p.add_argument("--profile", default="auto", metavar="NAME",
                   help="family profile: auto (default), generic, or a profile name")
    p.add_argument("--fetched-at", type=_fetch_time, metavar="ISO",
                   help="when the page was fetched, for relative dates (default: HTTrack's copy time, "
                        "else the file's modification time)")
    p.add_argument("--json", action="store_true", help="one JSON object per page and line")
