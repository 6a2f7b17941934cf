"""How extracted fields are compared with the truth of a saved page.

Used by ``scripts/eval_pages.py`` and by the extraction and crawl tests, so that a score
printed by the tool and an assertion in a test mean the same thing:

* bodies by token F1 (words of the NFC, lower-cased text);
* dates by day when the truth is a day (``YYYY-MM-DD``), else to the minute, and only with
  the ``+07:00`` offset;
* bylines by name: "Kim Oanh - Trung tâm VH-TT&TT" and "Kim Oanh (TTVH)" give "Kim Oanh".
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from datetime import date, datetime, timedelta, timezone

logger = logging.getLogger(__name__)

VN = timezone(timedelta(hours=7))


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
    if value.utcoffset() != timedelta(hours=7):
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", want):
        return value.astimezone(VN).date() == date.fromisoformat(want)
    return value.replace(second=0) == datetime.fromisoformat(want).replace(second=0)


def norm(text: str | None) -> str | None:
    """NFC with whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split()) if text else text


def byline_name(text: str | None) -> str | None:
    """The name in a byline, without a unit after " - " or in brackets."""
    value = norm(text)
    return re.split(r"\s+[-–—(]\s*|\s*\(", value, maxsplit=1)[0] if value else value
