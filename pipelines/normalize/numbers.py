"""View-count parsing.

Portals print counts with Vietnamese thousands separators: ``1.234`` and ``1,234`` both
mean 1234, ``215.008`` is 215008, ``1 234`` (also with NBSP/thin space) is 1234.
:func:`find_view_count` reads the number that belongs to a view label, label first or
number first ("Lượt xem: 1.234", "Số lượt xem 1234", "Đã xem: 1.234", "Lượt đọc: 567",
"View count", "Views: 1,234", "👁 856", "1.234 lượt xem", "(1.234 lượt đọc)").
"""

from __future__ import annotations

import logging
import re
import unicodedata

logger = logging.getLogger(__name__)

__all__ = ["VIEW_LABEL_RE", "find_view_count", "parse_count"]

_NUMBER = r"(\d{1,3}(?:[.,\u00a0\u202f\u2009 ]\d{3})+|\d+)(?![.,]?\d)"
_COUNT_RE = re.compile(r"^\s*" + _NUMBER + r"\s*$")
_LABELS = (
    r"(?:số\s+)?lượt\s+(?:xem|đọc|views?)|số\s+lần\s+(?:xem|đọc)|lần\s+(?:xem|đọc)|"
    r"đã\s+xem|đã\s+đọc|view\s*counts?|page\s*views?|views?|reads?|hits?|lượt\s+truy\s+cập\s+bài|"
    r"\U0001f441\ufe0f?|\U0001f440"  # the eye glyphs 👁 and 👀
)
# Not inside a word; a digit may touch the label ("19:45Lượt xem: 1.987" from adjacent spans).
VIEW_LABEL_RE = re.compile(r"(?<![^\W\d])(?:" + _LABELS + r")(?![\w])", re.IGNORECASE)
_LABEL_THEN_NUMBER = re.compile(
    r"(?<![^\W\d])(?:" + _LABELS + r")(?![\w])\s*(?:[:：=\-]\s*)?(?:\(\s*)?" + _NUMBER, re.IGNORECASE
)
_NUMBER_THEN_LABEL = re.compile(
    # not the minutes of a time ("14:24 Lượt xem: 2.119") nor a number whose label has its own number
    r"(?<![\d.,:])" + _NUMBER + r"\s*(?:lượt\s+(?:xem|đọc)|lần\s+(?:xem|đọc)|views?|reads?|hits?)(?![\w])"
    r"(?!\s*[:：=\-]?\s*\d)",
    re.IGNORECASE,
)


def parse_count(text: str | None) -> int | None:
    """``"1.234"`` -> 1234, ``"1,234"`` -> 1234, ``"755"`` -> 755; anything else -> None."""
    if text is None:
        return None
    m = _COUNT_RE.match(unicodedata.normalize("NFC", text))
    if not m:
        return None
    return int(re.sub(r"\D", "", m.group(1)))


def find_view_count(text: str) -> tuple[int, int] | None:
    """The first labelled view count in ``text`` as ``(count, offset)`` or ``None``."""
    if not text:
        return None
    best: tuple[int, int] | None = None
    for rx in (_LABEL_THEN_NUMBER, _NUMBER_THEN_LABEL):
        m = rx.search(text)
        if m and (best is None or m.start() < best[1]):
            best = (int(re.sub(r"\D", "", m.group(1))), m.start())
    return best
