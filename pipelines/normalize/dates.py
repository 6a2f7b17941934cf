"""Vietnamese date/time parsing.

Government portals show publication dates in many shapes::

    Đăng ngày 17 - 05 - 2024              Ngày đăng 29/07/2020 | 07:50
    Thứ tư, 17/05/2024 08:30              Cập nhật lúc 11:42, 25/01/2026
    ngày 29 tháng 7 năm 2020              Cập nhật lúc 16:30 ngày 28/11/2025
    2024-05-17T08:30:00+07:00             17.05.2024 - 8h30
    30 tháng 8, 2024 · 30 Tháng Tám 2024  2:15 CH Thứ năm, 27/06/2024
    August 30, 2024 · 30 Aug 2024 2:05 PM 2 giờ trước · Hôm qua, 16:45 · 3 days ago

:func:`parse_vietnamese_datetime` returns the best date of a text as a timezone-aware
datetime at +07:00 together with its precision (``"day"`` when only a date is shown,
``"hour"`` for "2 giờ trước", ``"minute"`` or ``"second"``).  When several dates occur,
the first one that follows a publication or generic label ("Ngày đăng", a weekday ...)
wins, then the first unlabelled one; an update date ("Cập nhật ...") only when nothing
else is shown.  Relative forms ("N phút/giờ/ngày/tuần trước", "hôm qua", "hôm
nay 09:15", "2 hours ago", "yesterday") are only read when the time the page was fetched
is given (``now``), and resolved against it.  Impossible dates (31/02, month 13, year
1850) are rejected, and so is, when ``now`` is given, a date after the day after it: a page
cannot have been published after it was fetched (a typo such as 2092 for 2022, or the date
of an event announced), and a wrong date would sort the article first forever.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType

logger = logging.getLogger(__name__)

__all__ = [
    "VN_TZ",
    "DateMatch",
    "best_match",
    "find_datetimes",
    "format_iso",
    "parse_iso_datetime",
    "parse_vietnamese_datetime",
    "plausible",
]

VN_TZ = timezone(timedelta(hours=7))
MIN_YEAR = 1990
MAX_YEAR = 2100
#: How far after the fetch time a publication date may lie (clock skew, time zones), no further.
FUTURE_SLACK = timedelta(days=1)

_SEP = r"\s*([/.\-])\s*"
_NUMERIC_DMY = re.compile(r"(?<![\d/.\-])(\d{1,2})" + _SEP + r"(\d{1,2})\s*\2\s*((?:19|20|21)\d{2})(?![\d])")
# dd/mm/yy: only trusted next to a time or a label (see find_datetimes).
_SHORT_DMY = re.compile(r"(?<![\d/.\-])(\d{1,2})([/.\-])(\d{1,2})\2(\d{2})(?![\d]|[/.\-]\d)")
_NUMERIC_YMD = re.compile(
    r"(?<![\d/.])((?:19|20|21)\d{2})([/\-.])(\d{1,2})\2(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+\-]\d{2}:?\d{2})?)?(?!\d)"
)
_VN_MONTH_WORDS: Mapping[str, int] = MappingProxyType(
    {
        "một": 1,
        "giêng": 1,
        "hai": 2,
        "ba": 3,
        "tư": 4,
        "bốn": 4,
        "năm": 5,
        "sáu": 6,
        "bảy": 7,
        "bẩy": 7,
        "tám": 8,
        "chín": 9,
        "mười": 10,
        "mười một": 11,
        "mười hai": 12,
        "chạp": 12,
    }
)
_VN_MONTH_RE = "|".join(sorted(map(re.escape, _VN_MONTH_WORDS), key=len, reverse=True))
_VERBAL = re.compile(
    r"(?:ngày\s+)?(\d{1,2})\s+tháng\s+(\d{1,2}|"
    + _VN_MONTH_RE
    + r")\s*(?:,\s*)?(?:năm\s+)?((?:19|20|21)\d{2})(?!\d)",
    re.IGNORECASE,
)
_EN_MONTHS: Mapping[str, int] = MappingProxyType(
    {
        m: i + 1
        for i, names in enumerate(
            [
                ("jan", "january"),
                ("feb", "february"),
                ("mar", "march"),
                ("apr", "april"),
                ("may",),
                ("jun", "june"),
                ("jul", "july"),
                ("aug", "august"),
                ("sep", "sept", "september"),
                ("oct", "october"),
                ("nov", "november"),
                ("dec", "december"),
            ]
        )
        for m in names
    }
)
_EN_MONTH_RE = "|".join(sorted(_EN_MONTHS, key=len, reverse=True))
_EN_MDY = re.compile(
    r"\b(" + _EN_MONTH_RE + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+((?:19|20|21)\d{2})(?!\d)", re.IGNORECASE
)
_EN_DMY = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(" + _EN_MONTH_RE + r")\.?,?\s+((?:19|20|21)\d{2})(?!\d)",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"(?<![\d:/.,])([01]?\d|2[0-3])\s*(?:(:)\s*|h|giờ\s*)([0-5]\d)(?!\d)(?:\s*:\s*([0-5]\d)(?!\d))?'?"
    r"(?:\s*(am|pm|sa|ch|sáng|chiều|tối|trưa)\b)?",
    re.IGNORECASE,
)
_WEEKDAY = (r"thứ\s+(?:hai|ba|tư|năm|sáu|bảy|bẩy|[2-7])|chủ\s+nhật|monday|tuesday|wednesday|thursday|friday|"
            r"saturday|sunday")
# What may stand between a date and "its" time: separators, a few glue words and a weekday
# ("2:15 CH Thứ năm, 27/06/2024").
_GLUE = re.compile(
    r"^[\s|,\-–—()\[\]•·:/]*(?:(?:vào\s+)?lúc|ngày|hồi|at|gmt\s*[+\-]?\d*|utc\s*[+\-]?\d*|" + _WEEKDAY + r")?"
    r"[\s|,\-–—()\[\]•·:/]*(?:ngày)?[\s,]*$",
    re.IGNORECASE,
)
_GLUE_MAX = 24
# Relative dates (read only against a known fetch time): "2 giờ trước", "15 phút trước",
# "3 ngày trước", "hôm qua", "hôm kia", "hôm nay" before a time, "2 hours ago", "yesterday".
_RELATIVE = re.compile(
    r"(?<![\w:/.,])(?:(?P<n>\d{1,3})\s*(?P<unit>phút|giờ|tiếng|ngày|tuần|minutes?|mins?|hours?|hrs?|days?|weeks?)"
    r"\s*(?:trước|ago)|(?P<day>hôm\s+qua|hôm\s+kia|yesterday)|(?P<today>hôm\s+nay|today)(?=[\s,]*(?:lúc|at)?\s*\d))"
    r"(?!\w)",
    re.IGNORECASE,
)
_RELATIVE_HINT = re.compile(r"trước|ago|hôm\s+(?:qua|kia|nay)|yesterday|today", re.IGNORECASE)
_UNIT_DELTA: Mapping[str, tuple[timedelta, str]] = MappingProxyType({
    "phút": (timedelta(minutes=1), "minute"), "minute": (timedelta(minutes=1), "minute"),
    "min": (timedelta(minutes=1), "minute"), "giờ": (timedelta(hours=1), "hour"),
    "tiếng": (timedelta(hours=1), "hour"), "hour": (timedelta(hours=1), "hour"), "hr": (timedelta(hours=1), "hour"),
    "ngày": (timedelta(days=1), "day"), "day": (timedelta(days=1), "day"), "tuần": (timedelta(days=7), "day"),
    "week": (timedelta(days=7), "day"),
})
_DAYS_BACK: Mapping[str, int] = MappingProxyType({"hôm qua": 1, "yesterday": 1, "hôm kia": 2, "hôm nay": 0,
                                                  "today": 0})
LABEL_RE = re.compile(
    r"(?:ngày\s+đăng|đăng\s+ngày|đăng\s+lúc|ngày\s+cập\s+nhật|cập\s+nhật|ngày\s+xuất\s+bản|xuất\s+bản|"
    r"ngày\s+ban\s+hành|thời\s+gian\s+đăng|thời\s+gian|ngày\s+tạo|ngày|đăng|"
    r"thứ\s+(?:hai|ba|tư|năm|sáu|bảy|bẩy|[2-7])|chủ\s+nhật|\bt[2-7]\b|\bcn\b|sửa\s+đổi|chỉnh\s+sửa|modified|"
    r"posted(?:\s+on)?|published(?:\s+on)?|updated|date|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)",
    re.IGNORECASE,
)
_LABEL_WINDOW = 32
# Every supported date shape shows a 4-digit year or a dd/mm/yy group: a cheap pre-check.
_YEAR_HINT = re.compile(r"(?:19|20|21)\d\d|\d[/.\-]\d{1,2}[/.\-]\d\d")


_PUBLISH_LABEL = re.compile(
    r"ngày\s+đăng|đăng\s+ngày|đăng\s+lúc|ngày\s+xuất\s+bản|xuất\s+bản|ngày\s+ban\s+hành|thời\s+gian\s+đăng|"
    r"ngày\s+tạo|posted|published",
    re.IGNORECASE,
)
_UPDATE_LABEL = re.compile(r"cập\s+nhật|sửa\s+đổi|chỉnh\s+sửa|updated|modified", re.IGNORECASE)
LABEL_RANK: Mapping[str | None, int] = MappingProxyType({"publish": 0, "generic": 1, None: 2, "update": 3})


@dataclass(frozen=True)
class DateMatch:
    """One date (with its time, if any) found in a text.

    ``label`` is the kind of label right before it: ``"publish"`` (Ngày đăng, Đăng ngày,
    Xuất bản ...), ``"generic"`` (Ngày, a weekday, Thời gian ...), ``"update"``
    (Cập nhật ...) or None.
    """

    value: datetime
    precision: str  # "day" | "hour" | "minute" | "second"
    start: int
    end: int
    label: str | None = None

    @property
    def labelled(self) -> bool:
        return self.label is not None


def plausible(value: datetime, now: datetime | None) -> bool:
    """False for a date after the day after ``now`` (the fetch time): never a publication date."""
    return now is None or value <= now + FUTURE_SLACK


def best_match(matches: list[DateMatch]) -> DateMatch | None:
    """Publication-labelled first, then other labels, unlabelled, update labels last; ties by order."""
    if not matches:
        return None
    return min(matches, key=lambda m: (LABEL_RANK[m.label], m.start))


def _valid_date(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dmy(day: int, month: int, year: int) -> date | None:
    found = _valid_date(year, month, day)
    if found is None and month > 12 and day <= 12:
        # US order (mm/dd/yyyy) only when dd/mm is impossible.
        found = _valid_date(year, day, month)
    return found


def _hour24(hour: int, suffix: str | None) -> int:
    if not suffix:
        return hour
    s = suffix.lower()
    if s in ("pm", "ch", "chiều", "tối") and hour < 12:
        return hour + 12
    if s in ("am", "sa", "sáng") and hour == 12:
        return 0
    return hour


@dataclass(frozen=True)
class _Time:
    hour: int
    minute: int
    second: int | None
    start: int
    end: int


def _times(text: str) -> list[_Time]:
    out = []
    for m in _TIME.finditer(text):
        hour = _hour24(int(m.group(1)), m.group(5))
        if hour > 23:
            continue
        second = int(m.group(4)) if m.group(4) and m.group(2) else None
        out.append(_Time(hour, int(m.group(3)), second, m.start(), m.end()))
    return out


# (start, end, date, explicit (h, m, s) or None, tz suffix, weak, complete value with its precision)
_Raw = tuple[int, int, date, "tuple[int, int, int | None] | None", "str | None", bool, "tuple[datetime, str] | None"]


def _relative_dates(text: str, now: datetime, found: list[_Raw], taken: list[tuple[int, int]]) -> None:
    """Relative forms resolved against ``now`` (already at +07:00): "N giờ/phút trước" are
    complete values (hour / minute precision); "N ngày trước", "hôm qua" are days that may
    still take a time printed next to them."""
    for m in _RELATIVE.finditer(text):
        if not all(m.end() <= s or m.start() >= e for s, e in taken):
            continue
        if m.group("n"):
            unit = m.group("unit").lower().rstrip("s")
            step, precision = _UNIT_DELTA.get(unit, _UNIT_DELTA.get(unit + "s", (timedelta(days=1), "day")))
            value = now - int(m.group("n")) * step
            if precision == "day":
                found.append((m.start(), m.end(), value.date(), None, None, False, None))
            else:
                value = value.replace(second=0, microsecond=0)
                if precision == "hour":
                    value = value.replace(minute=0)
                found.append((m.start(), m.end(), value.date(), None, None, False, (value, precision)))
        else:
            word = " ".join((m.group("day") or m.group("today")).lower().split())
            found.append((m.start(), m.end(), (now - timedelta(days=_DAYS_BACK[word])).date(), None, None, False, None))
        taken.append((m.start(), m.end()))


def _verbal_date(m: re.Match[str]) -> date | None:
    month_text = m.group(2).lower()
    month = int(month_text) if month_text.isdigit() else _VN_MONTH_WORDS[month_text]
    return _valid_date(int(m.group(3)), month, int(m.group(1)))


#: The forms that show a day without a time, read in this order after the ISO form (a span an
#: earlier form took is not read again): the pattern, the date of a match, and whether the date
#: is weak (a two-digit year).
_DAY_FORMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], date | None], bool], ...] = (
    (_VERBAL, _verbal_date, False),
    (_NUMERIC_DMY, lambda m: _dmy(int(m.group(1)), int(m.group(3)), int(m.group(4))), False),
    (_EN_MDY, lambda m: _valid_date(int(m.group(3)), _EN_MONTHS[m.group(1).lower()], int(m.group(2))), False),
    (_EN_DMY, lambda m: _valid_date(int(m.group(3)), _EN_MONTHS[m.group(2).lower()], int(m.group(1))), False),
    (_SHORT_DMY, lambda m: _dmy(int(m.group(1)), int(m.group(3)), 2000 + int(m.group(4))), True),
)


def _raw_dates(text: str, now: datetime | None = None) -> list[_Raw]:
    """Every date pattern of ``text`` (see ``_Raw``); relative forms only when ``now`` is known."""
    found: list[_Raw] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _NUMERIC_YMD.finditer(text):
        d = _valid_date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        if d is None:
            continue
        hms = None
        if m.group(5) is not None:
            hms = (int(m.group(5)), int(m.group(6)), int(m.group(7)) if m.group(7) else None)
            if hms[0] > 23:
                continue
        found.append((m.start(), m.end(), d, hms, m.group(8), False, None))
        taken.append((m.start(), m.end()))
    for pattern, read, weak in _DAY_FORMS:
        for m in pattern.finditer(text):
            if free(m.start(), m.end()):
                d = read(m)
                if d is not None:
                    found.append((m.start(), m.end(), d, None, None, weak, None))
                    taken.append((m.start(), m.end()))
    if now is not None and _RELATIVE_HINT.search(text):
        _relative_dates(text, now, found, taken)
    found.sort(key=lambda x: x[0])
    return found


def _tz_from_suffix(suffix: str | None) -> timezone:
    if not suffix:
        return VN_TZ
    if suffix.upper() == "Z":
        return UTC
    sign = -1 if suffix[0] == "-" else 1
    digits = suffix[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def find_datetimes(text: str, now: datetime | None = None) -> list[DateMatch]:
    """Every date in ``text`` (document order) with the time printed next to it, if any.

    ``now``, the time the page was fetched, also lets relative forms ("2 giờ trước",
    "hôm qua") count, resolved against it."""
    if not text or not (_YEAR_HINT.search(text) or (now is not None and _RELATIVE_HINT.search(text))):
        return []
    text = unicodedata.normalize("NFC", text)
    if now is not None:
        now = now.astimezone(VN_TZ)
    raw = _raw_dates(text, now)
    if not raw:
        return []
    times = _times(text)
    date_spans = [(r[0], r[1]) for r in raw]
    times = [t for t in times if all(t.end <= s or t.start >= e for s, e in date_spans)]
    used: set[int] = set()
    out: list[DateMatch] = []
    prev_end = 0
    for start, end, day, hms, tz, weak, fixed in raw:
        span_start, span_end = start, end
        if hms is None and fixed is None:
            best: tuple[int, _Time] | None = None
            for t in times:
                if id(t) in used:
                    continue
                if t.start >= end:
                    gap = text[end : t.start]
                elif t.end <= start:
                    gap = text[t.end : start]
                else:
                    continue
                if len(gap) <= _GLUE_MAX and _GLUE.match(gap):
                    dist = len(gap) + (0 if t.start >= end else 1)
                    if best is None or dist < best[0]:
                        best = (dist, t)
            if best is not None:
                t = best[1]
                used.add(id(t))
                hms = (t.hour, t.minute, t.second)
                span_start, span_end = min(start, t.start), max(end, t.end)
        if fixed is not None:
            value, precision = fixed
        elif hms is None:
            value = datetime(day.year, day.month, day.day, tzinfo=VN_TZ)
            precision = "day"
        else:
            value = datetime(
                day.year, day.month, day.day, hms[0], hms[1], hms[2] or 0, tzinfo=_tz_from_suffix(tz)
            )
            value = value.astimezone(VN_TZ)
            precision = "second" if hms[2] is not None else "minute"
        before = text[max(0, prev_end, span_start - _LABEL_WINDOW) : max(start, span_start)]
        label: str | None = None
        if LABEL_RE.search(before):
            if _PUBLISH_LABEL.search(before):
                label = "publish"
            elif _UPDATE_LABEL.search(before):
                label = "update"
            else:
                label = "generic"
        prev_end = span_end
        if weak and label is None and precision == "day":
            continue  # a bare "17/05/24" could be anything
        if not plausible(value, now):
            continue  # after the page was fetched: a typo or an event, not when it was published
        out.append(DateMatch(value, precision, span_start, span_end, label))
    return out


def parse_vietnamese_datetime(text: str, now: datetime | None = None) -> tuple[datetime, str] | None:
    """Best date in ``text``: ``(aware datetime at +07:00, precision)`` or ``None``.

    The first date right after a label is preferred: publication labels ("Ngày đăng",
    "Đăng ngày", "Xuất bản") before generic ones ("Ngày", a weekday name), before dates
    without a label, before update labels ("Cập nhật", "Sửa đổi"): where a page shows both,
    the publication date wins.
    """
    chosen = best_match(find_datetimes(text, now))
    if chosen is None:
        return None
    return chosen.value, chosen.precision


def parse_iso_datetime(text: str | None, now: datetime | None = None) -> tuple[datetime, str] | None:
    """Parse a machine-readable date (meta tags, JSON-LD, ``<time datetime>``) to +07:00.

    A value without an offset is read as Vietnamese local time.  Falls back to the
    Vietnamese parser for anything that is not ISO-like.  With ``now`` (the fetch time), a
    date after the day after it is refused, as :func:`find_datetimes` does.
    """
    parsed = _parse_iso(text)
    return parsed if parsed is None or plausible(parsed[0], now) else None


def _parse_iso(text: str | None) -> tuple[datetime, str] | None:
    if not text:
        return None
    s = text.strip()
    if not s:
        return None
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s)
    if m:
        d = _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return (datetime(d.year, d.month, d.day, tzinfo=VN_TZ), "day") if d else None
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        return parse_vietnamese_datetime(s)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=VN_TZ)
    has_seconds = bool(re.search(r"T?\d{1,2}:\d{2}:\d{2}", s))
    return value.astimezone(VN_TZ), "second" if has_seconds else "minute"


def format_iso(value: datetime) -> str:
    """ISO 8601 at +07:00 without microseconds, e.g. ``2024-05-17T00:00:00+07:00``."""
    return value.astimezone(VN_TZ).replace(microsecond=0).isoformat()
