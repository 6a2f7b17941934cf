#!/usr/bin/env python3
"""Score the extractor on folders of saved pages with expected JSON (NAME.html + NAME.json).

usage: python scripts/eval_pages.py DIR [DIR ...] [--mode auto|generic] [--show] [--json]

Each NAME.json holds the page's ``url``, ``page_kind`` ("article" or anything else for a
non-article page) and, for articles, the true ``title``, ``published_at`` (a day
"YYYY-MM-DD" is compared by day, a time to the minute), ``view_count`` (null when the
article shows none), ``body`` and optionally ``author`` (the name is compared, without a
unit after " - " or in brackets) and ``category``.  The layouts in
``tests/fixtures/pages`` are one such folder; pages written blind by someone who never saw
the extractor are the best test of how it does on portals it has not met.

Prints per page the fields that are wrong, then the share of pages right per field.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.extract import decode_html, extract_page  # noqa: E402
from pipelines.extract.profiles import ProfileSet, load_profiles  # noqa: E402
from pipelines.extract.scoring import byline_name, norm, same_date, token_f1  # noqa: E402

FIELDS = ("kind", "title", "date", "views", "body", "author", "category")


def score_page(html_path: Path, mode: str, profiles: ProfileSet) -> dict[str, Any]:
    expected = json.loads(html_path.with_suffix(".json").read_text("utf-8"))
    html = decode_html(html_path.read_bytes(), expected.get("content_type"))
    got = extract_page(html, expected["url"], profile=mode, profiles=profiles)
    want_article = expected.get("page_kind") == "article"
    checks: dict[str, tuple[bool, Any, Any]] = {"kind": (got.is_article == want_article, got.page_kind,
                                                          expected.get("page_kind"))}
    if want_article and got.is_article:
        f1 = token_f1(got.body, expected.get("body"))
        checks.update({
            "title": (norm(got.title) == norm(expected.get("title")), got.title, expected.get("title")),
            "date": (same_date(got.published_at, expected.get("published_at")), got.published_at,
                     expected.get("published_at")),
            "views": (got.view_count == expected.get("view_count"), got.view_count, expected.get("view_count")),
            "body": (f1 >= 0.95, round(f1, 3), ">=0.95"),
        })
        if expected.get("author"):
            checks["author"] = (byline_name(got.author) == byline_name(expected["author"]), got.author,
                                expected["author"])
        if expected.get("category"):
            checks["category"] = (norm(got.category) == norm(expected["category"]), got.category,
                                  expected["category"])
    return {"page": f"{html_path.parent.name}/{html_path.stem}", "profile": got.profile, "reason": got.reason,
            "checks": checks, "body": got.body}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="folders of NAME.html + NAME.json")
    ap.add_argument("--mode", choices=["auto", "generic"], default="auto")
    ap.add_argument("--show", action="store_true", help="print the extracted body of pages with a wrong body")
    ap.add_argument("--json", action="store_true", help="print the totals as JSON")
    args = ap.parse_args(argv)
    pages = sorted(p for d in args.dirs for p in d.glob("*.html") if p.with_suffix(".json").exists())
    if not pages:
        print("no NAME.html + NAME.json pairs found", file=sys.stderr)
        return 2
    profiles = load_profiles()  # once, not per page
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for path in pages:
        result = score_page(path, args.mode, profiles)
        wrong = {k: v for k, v in result["checks"].items() if not v[0]}
        for key, (ok, _, _) in result["checks"].items():
            seen[key] += 1
            right[key] += ok
        status = "ok " if not wrong else "BAD"
        print(f"{status} {result['page']:40s} [{result['profile']}]"
              + "".join(f"\n      {k}: got {g!r} want {w!r}" for k, (_, g, w) in wrong.items()))
        if args.show and "body" in wrong:
            print("      --- body ---\n      " + (result["body"] or "").replace("\n", "\n      "))
    totals = {k: {"right": right[k], "of": seen[k], "share": round(right[k] / seen[k], 3)} for k in FIELDS if seen[k]}
    if args.json:
        print(json.dumps({"pages": len(pages), "mode": args.mode, "fields": totals}, ensure_ascii=False))
    else:
        print(f"\n{len(pages)} pages, mode {args.mode}: "
              + ", ".join(f"{k} {v['right']}/{v['of']}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
