"""Durations and the crawl calendar: ``"6h"`` parsing, jitter, next-due times, the recrawl policy.

Durations are written like the registry's ``every`` key: a number and a unit,
``45s``, ``30m``, ``6h``, ``1d`` (``1.5h`` works too).  A bare number is seconds.

Two schedules live here so that the scheduler, ``crawl --due`` and the spider agree:

* **crawl schedule** (:func:`next_due`): a portal crawled because it was due at ``due``
  is next due at ``due + every ± jitter``: a fixed rate that does not drift by the
  crawl's own duration.  When the crawl started more than one interval late (the
  scheduler was stopped, say) the calendar restarts from the crawl's start instead of
  catching up crawl after crawl, and a crawl that lasted longer than its interval is
  followed by a pause of at least a tenth of the interval.
* **recrawl policy** (:func:`recrawl_interval`): an article published ``age`` ago and
  last fetched at ``t`` is fetched again once ``now - t >= clamp(age / 4, 1 h, 3 d)``,
  while it is younger than ``PORTALNEWS_RECRAWL_DAYS`` (14 by default).  A one-day-old
  article is refreshed every 6 h, a four-day-old one daily, a twelve-day-old one every
  three days; older articles are left alone.  This keeps ``view_count`` fresh while
  an article is still being read, with about 20 fetches over its first two weeks.
"""

from __future__ import annotations

import logging
import math
import random
import re
from datetime import UTC, datetime, timedelta

from pipelines.normalize.dates import VN_TZ

logger = logging.getLogger(__name__)

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)

#: Recrawl policy defaults (settings PORTALNEWS_RECRAWL_DAYS / _MIN_INTERVAL / _MAX_INTERVAL).
RECRAWL_DAYS = 14.0
RECRAWL_MIN_INTERVAL = 3600.0
RECRAWL_MAX_INTERVAL = 3 * 86400.0
RECRAWL_AGE_DIVISOR = 4.0


def parse_duration(value: str | float | int) -> float:
    """``"6h"`` -> 21600.0; ``"45s"``, ``"30m"``, ``"1d"``, ``"1.5h"``, ``"90"`` (seconds).

    Raises :class:`ValueError` with a message naming the value for anything else
    (negative, empty, unknown unit)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(value)
        if not m:
            raise ValueError(f"not a duration: {value!r} (use e.g. 45s, 30m, 6h, 1d)")
        seconds = float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: 21600 -> ``6h``, 90 -> ``1m30s``, 2.5 -> ``2.5s``."""
    if seconds < 60:
        return f"{seconds:.3g}s"
    out = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out[:2])


def jittered(interval: float, jitter: float, rng: random.Random | None = None) -> float:
    """``interval`` moved by a uniform random fraction in ``[-jitter, +jitter]`` (0.1 = ±10 %)."""
    if jitter <= 0 or interval <= 0:
        return interval
    r = rng or random
    return max(0.0, interval * (1.0 + r.uniform(-jitter, jitter)))


def next_due(due: float | None, started: float, finished: float, interval: float, jitter: float = 0.0,
             rng: random.Random | None = None) -> float:
    """When a portal crawled from ``started`` to ``finished`` (epoch seconds) is due again.

    ``due`` is the due time that triggered the crawl (None for a first crawl).  See the
    module docstring for the rule."""
    base = due if due is not None and 0 <= started - due < interval else started
    when = base + jittered(interval, jitter, rng)
    return max(when, finished + 0.1 * interval)


# --- recrawl policy ---------------------------------------------------------------------
def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 string (date or datetime, with or without offset) as an aware datetime."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def recrawl_interval(age_seconds: float, min_interval: float = RECRAWL_MIN_INTERVAL,
                     max_interval: float = RECRAWL_MAX_INTERVAL) -> float:
    """Seconds between two fetches of an article ``age_seconds`` old: clamp(age/4, min, max)."""
    return min(max(age_seconds / RECRAWL_AGE_DIVISOR, min_interval), max_interval)


def recrawl_due(published_at: str | None, last_fetched: str | None, now: datetime,
                max_age_days: float = RECRAWL_DAYS, min_interval: float = RECRAWL_MIN_INTERVAL,
                max_interval: float = RECRAWL_MAX_INTERVAL) -> bool:
    """Whether a stored article should be fetched again now to refresh its view count."""
    published = parse_time(published_at)
    if published is None or max_age_days <= 0:
        return False
    age = (now - published).total_seconds()
    if age > max_age_days * 86400.0:
        return False
    fetched = parse_time(last_fetched)
    if fetched is None:
        return True
    return (now - fetched).total_seconds() >= recrawl_interval(max(age, 0.0), min_interval, max_interval)


def recrawl_since(now: datetime, max_age_days: float = RECRAWL_DAYS) -> str:
    """The oldest publication time still recrawled, as an ISO string in +07:00 (how dates are stored)."""
    return (now.astimezone(VN_TZ) - timedelta(days=max_age_days)).isoformat(timespec="seconds")
