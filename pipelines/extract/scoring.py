"""How extracted fields are compared with the truth of a saved page.

Used by ``scripts/eval_pages.py`` and by the extraction and crawl tests, so that a score
printed by the tool and an assertion in a test mean the same thing:

* bodies by token F1 (words of the NFC, lower-cased text);
* dates by day when the truth is a day (``YYYY-MM-DD``), else to the minute, and only with
  the ``+07:00`` offset;
* bylines by name: "Kim Oanh - Trung tâm VH-TT&TT" and "Kim Oanh (TTVH)" give "Kim Oanh".
"""

from __future__ import annotations

import html as html_lib
import logging
import re
import unicodedata
from collections import Counter
from datetime import date, datetime

from pipelines.normalize.dates import VN_TZ

logger = logging.getLogger(__name__)


def tokens(text: str | None) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFC", text or "").lower())


def token_f1(got: str | None, want: str | None) -> float:
    a, b = Counter(tokens(got)), Counter(tokens(want))
    if not a and not b:
        return 1.0
    common = sum((a & b).values())
    if not common:
        return 0.0
    p, r = common / sum(a.values()), common / sum(b.values())
    return 2 * p * r / (p + r)


def same_date(got: str | None, want: str | None) -> bool:
    """Truth "YYYY-MM-DD" compares the day; a truth with a time compares to the minute.
    A value without the +07:00 offset is wrong."""
    if got is None or want is None:
        return got == want
    value = datetime.fromisoformat(got)
    if value.utcoffset() != VN_TZ.utcoffset(None):
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", want):
        return value.astimezone(VN_TZ).date() == date.fromisoformat(want)
    return value.replace(second=0) == datetime.fromisoformat(want).replace(second=0)


def norm(text: str | None) -> str | None:
    """NFC with whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split()) if text else text


def byline_name(text: str | None) -> str | None:
    """The name in a byline, without a unit after " - " or in brackets."""
    value = norm(text)
    return re.split(r"\s+[-–—(]\s*|\s*\(", value, maxsplit=1)[0] if value else value


ARTICLE = "article"
FIELDS = ("kind", "title", "date", "views", "body", "author", "category")
BODY_F1 = 0.95
Check = tuple[bool, object, object]


def score_record(got: dict[str, object], want: dict[str, object]) -> dict[str, Check]:
    """``(right, got, wanted)`` per field of one page: ``got`` as ``portalnews extract --json``
    prints it, ``want`` its truth.  ``kind`` is article or not; on a true article every field
    is wrong when the page was not taken for one; ``author`` and ``category`` are checked where
    the truth names one.  ``false_view`` is there (and False) when a view count was reported
    where the truth has none: ``false_view_article`` on articles, ``false_view_other`` on
    non-article pages."""
    want_article = want.get("page_kind") == ARTICLE
    got_article = got.get("page_kind") == ARTICLE
    checks: dict[str, Check] = {"kind": (got_article == want_article, got.get("page_kind"), want.get("page_kind"))}
    if got.get("view_count") is not None and want.get("view_count") is None:
        key = "false_view_article" if want_article else "false_view_other"
        checks[key] = (False, got.get("view_count"), None)
    if not want_article:
        return checks
    wanted: dict[str, object] = {"title": want.get("title"), "date": want.get("published_at"),
                                 "views": want.get("view_count"), "body": f">={BODY_F1}"}
    if want.get("author"):
        wanted["author"] = want["author"]
    if want.get("category"):
        wanted["category"] = want["category"]
    if not got_article:
        checks.update({k: (False, "(not an article)", w) for k, w in wanted.items()})
        return checks
    f1 = token_f1(_str(got.get("body")), _str(want.get("body")))
    checks.update({
        "title": (norm(_str(got.get("title"))) == norm(_str(want.get("title"))), got.get("title"), wanted["title"]),
        "date": (same_date(_str(got.get("published_at")), _str(want.get("published_at"))), got.get("published_at"),
                 wanted["date"]),
        "views": (got.get("view_count") == want.get("view_count"), got.get("view_count"), wanted["views"]),
        "body": (f1 >= BODY_F1, round(f1, 3), wanted["body"]),
    })
    if "author" in wanted:
        checks["author"] = (byline_name(_str(got.get("author"))) == byline_name(_str(wanted["author"])),
                            got.get("author"), wanted["author"])
    if "category" in wanted:
        checks["category"] = (norm(_str(got.get("category"))) == norm(_str(wanted["category"])),
                              got.get("category"), wanted["category"])
    return checks


def _str(value: object) -> str | None:
    return None if value is None else str(value)


class SetScore:
    """Per-field tallies over a set of pages (see :func:`score_record`)."""

    def __init__(self) -> None:
        self.pages = 0
        self.articles = 0
        self.right: dict[str, int] = dict.fromkeys(FIELDS, 0)
        self.seen: dict[str, int] = dict.fromkeys(FIELDS, 0)
        self.false_views_article = 0
        self.false_views_other = 0

    def add(self, checks: dict[str, Check]) -> None:
        self.pages += 1
        self.articles += "title" in checks
        for key in FIELDS:
            if key in checks:
                self.seen[key] += 1
                self.right[key] += bool(checks[key][0])
        self.false_views_article += "false_view_article" in checks
        self.false_views_other += "false_view_other" in checks

    def share(self, key: str) -> float:
        return self.right[key] / self.seen[key] if self.seen[key] else 1.0

    def summary(self) -> dict[str, object]:
        return {"pages": self.pages, "articles": self.articles,
                "fields": {k: {"right": self.right[k], "of": self.seen[k], "share": round(self.share(k), 3)}
                           for k in FIELDS if self.seen[k]},
                "false_views_article": self.false_views_article, "false_views_other": self.false_views_other}

    def line(self) -> str:
        parts = [f"{k} {self.right[k]}/{self.seen[k]}" for k in FIELDS if self.seen[k]]
        return (f"{self.pages} pages ({self.articles} articles): " + ", ".join(parts)
                + f"; false views {self.false_views_article} on articles, {self.false_views_other} on other pages")


def shown_as_source(html: str, name: str | None) -> bool:
    """True when the page shows ``name`` after a source label ("Nguồn:", "Nguồn tin:",
    "Theo", "Source:"), markup between them allowed.  The blind truth takes such a source
    for the author when there is no byline; the extractor, like the labelled corpus, does
    not when the source is a field of its own outside the text, so tests accept no author
    there."""
    if not name:
        return False
    text = unicodedata.normalize("NFC", html_lib.unescape(html))
    label = r"(?:nguồn(?:\s+tin)?|source|theo)\s*[:：]?\s*(?:(?:<[^>]*>|&nbsp;|\s)*)"
    return re.search(label + re.escape(unicodedata.normalize("NFC", name)), text, re.IGNORECASE) is not None
