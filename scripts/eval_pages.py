#!/usr/bin/env python3
"""Score the extractor on saved pages and on whole blind portals, offline.

usage: python scripts/eval_pages.py SET [SET ...] [--mode auto|generic] [--show] [--bad] [--json]

A SET is one of:

* a folder of saved pages ``NAME.html`` + ``NAME.json`` (``url``, ``page_kind``: "article",
  "listing" or "other"; for articles the true ``title``, ``published_at``, ``view_count``,
  ``body``, ``author``, ``category``; ``fetched_at`` for pages with relative dates);
* a portal set: a folder (or a ``.tar.gz`` of one) holding ``site/<host>/…`` written with the
  mirror's URL -> file rule, ``truth.jsonl`` (one article per line: ``host``, ``url_path`` and
  the fields) and, when there is one, ``nonarticles.txt`` (``host<TAB>url_path``).

Every page goes through the code path of ``portalnews extract --json``
(:func:`crawler.cli.extract.extract_file`) with the scoring rules of
:mod:`pipelines.extract.scoring`: page kind (article or not), and on the true articles
title, date (to the minute where a time is shown), view count, body (token F1 >= 0.95),
author and category (where the truth names one); an article the extractor does not take
for one is wrong on every field.  A view count reported where the truth has none is a
*false view*, counted apart for articles and for non-article pages.

Prints the pages with something wrong, then one line per set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crawler.cli.extract import extract_file  # noqa: E402
from crawler.mirror.server import content_type, url_to_relpath  # noqa: E402
from pipelines.extract.profiles import ProfileSet, load_profiles  # noqa: E402
from pipelines.extract.scoring import SetScore, score_record  # noqa: E402
from tests.conftest import untar  # noqa: E402

PORT = 8080  # the port written into {PORT} placeholders of a portal set's files


def saved_pages(folder: Path) -> Iterator[tuple[str, Path, dict[str, Any], str | None, bytes | None]]:
    for json_path in sorted(folder.glob("*.json")):
        html_path = json_path.with_suffix(".html")
        if html_path.exists():
            truth = json.loads(json_path.read_text("utf-8"))
            yield html_path.stem, html_path, truth, truth.get("content_type"), None


def portal_pages(folder: Path) -> Iterator[tuple[str, Path, dict[str, Any], str | None, bytes | None]]:
    truth_lines = [json.loads(line) for line in (folder / "truth.jsonl").read_text("utf-8").splitlines() if line]
    entries: list[dict[str, Any]] = [{**t, "page_kind": "article"} for t in truth_lines]
    nonarticles = folder / "nonarticles.txt"
    if nonarticles.exists():
        for line in nonarticles.read_text("utf-8").splitlines():
            host, _, path = line.strip().partition("\t")
            if path.startswith("/"):
                entries.append({"host": host, "url_path": path, "page_kind": "other"})
    for entry in entries:
        path, _, query = entry["url_path"].partition("?")
        file = folder / "site" / entry["host"] / url_to_relpath(path, query)
        if not file.is_file():
            print(f"missing file for {entry['host']}{entry['url_path']}: {file}", file=sys.stderr)
            continue
        ctype = content_type(path)
        if "html" not in ctype:
            continue
        entry["url"] = f"http://{entry['host']}:{PORT}{entry['url_path']}"
        data = file.read_bytes().replace(b"{PORT}", str(PORT).encode())
        yield f"{entry['host']}{entry['url_path']}", file, entry, ctype, data


def open_set(path: Path, tmp: Path) -> Path:
    """A folder, or the single top folder of a .tar.gz extracted under ``tmp``."""
    if path.is_dir():
        return path
    untar(path, tmp / path.name)
    tops = [p for p in (tmp / path.name).iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise SystemExit(f"{path}: expected one folder in the archive")
    return tops[0]


def score_set(folder: Path, mode: str, profiles: ProfileSet, *, show: bool, bad_only: bool) -> SetScore:
    pages = portal_pages(folder) if (folder / "truth.jsonl").exists() else saved_pages(folder)
    total = SetScore()
    for name, file, truth, ctype, data in pages:
        fetched = truth.get("fetched_at")
        record = extract_file(file, url=truth["url"], profile=mode, profiles=profiles, content_type=ctype,
                              fetched_at=datetime.fromisoformat(fetched) if fetched else None, data=data)
        checks = score_record(record, truth)
        total.add(checks)
        wrong = {k: v for k, v in checks.items() if not v[0]}
        if wrong or not bad_only:
            status = "BAD" if wrong else "ok "
            print(f"{status} {name[:90]:90s} [{record['profile']}] {record['reason']}"
                  + "".join(f"\n      {k}: got {g!r} want {w!r}" for k, (_, g, w) in wrong.items()))
            if show and "body" in wrong:
                print("      --- body ---\n      " + (record["body"] or "").replace("\n", "\n      "))
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("sets", nargs="+", type=Path, help="folders of saved pages, portal set folders or .tar.gz")
    ap.add_argument("--mode", choices=["auto", "generic"], default="auto")
    ap.add_argument("--show", action="store_true", help="print the extracted body of pages with a wrong body")
    ap.add_argument("--bad", action="store_true", help="print only the pages with something wrong")
    ap.add_argument("--json", action="store_true", help="print the totals as JSON")
    args = ap.parse_args(argv)
    profiles = load_profiles()  # once, not per page
    results: dict[str, SetScore] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.sets:
            folder = open_set(path, Path(tmp))
            results[str(path)] = score_set(folder, args.mode, profiles, show=args.show, bad_only=args.bad)
    if not any(s.pages for s in results.values()):
        print("no pages found", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"mode": args.mode, "sets": {k: v.summary() for k, v in results.items()}},
                         ensure_ascii=False))
    else:
        print()
        for name, score in results.items():
            print(f"{name}: {score.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
