"""The closed vocabularies of the data model: page kinds and roles, run outcomes, date
precisions and the reasons an item is dropped.

They are :class:`~enum.StrEnum` members, so a stored value is the same plain string it always
was ("article", "ok", "minute" …): stores written before keep working, and a value read back
from a store compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum


class PageKind(StrEnum):
    """What a fetched URL turned out to be, as recorded in the crawl state."""

    UNKNOWN = "unknown"  # fetched, not classified yet
    ARTICLE = "article"
    LISTING = "listing"
    OTHER = "other"  # a static page, a feed or sitemap, a file
    ERROR = "error"  # the fetch or the extraction failed
    GONE = "gone"  # 404 / 410
    BLOCKED = "blocked"  # forbidden by robots.txt
    REJECTED = "rejected"  # an article that failed validation
    DUPLICATE = "duplicate"  # another URL of an article already seen


#: Kinds whose URLs an incremental crawl never fetches again.
FINAL_KINDS = frozenset({PageKind.ARTICLE, PageKind.OTHER, PageKind.BLOCKED, PageKind.GONE, PageKind.REJECTED,
                         PageKind.DUPLICATE})


class PageRole(StrEnum):
    """Why the spider requested a page; travels on the request and on its item."""

    START = "start"  # the portal's home page or one of its start URLs
    PAGE = "page"  # a link found on a page
    FEED = "feed"  # an RSS feed or a sitemap
    RECRAWL = "recrawl"  # a recent article fetched again for its view count


class RunOutcome(StrEnum):
    """How one crawl of one portal ended (``running`` while it goes on)."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class DatePrecision(StrEnum):
    """How much of a publication date-time the page showed (``day``: the time is 00:00)."""

    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class DropReason(StrEnum):
    """Why an item pipeline dropped an item; counted per portal (``portalnews/dropped/<portal>/<reason>``)
    and in the portal's run record."""

    DUPLICATE = "duplicate"
    NO_TITLE = "no title"
    NO_BODY = "no body"
    BODY_TOO_SHORT = "body too short"
    INVALID_DATE = "invalid date"
    INVALID_VIEW_COUNT = "invalid view count"
    INVALID_DATE_PRECISION = "invalid date_precision"
    INVALID_URL = "invalid url"
    INVALID_PORTAL_ID = "invalid portal_id"
    INVALID_TITLE = "invalid title"
    INVALID_BODY = "invalid body"
    INVALID_SUMMARY = "invalid summary"
    INVALID_AUTHOR = "invalid author"
    INVALID_CATEGORY = "invalid category"
    INVALID_PROFILE = "invalid profile"
    INVALID_CRAWLED_AT = "invalid crawled_at"
    INVALID_DOCUMENT = "invalid document"

    @classmethod
    def invalid(cls, field: str) -> DropReason:
        """The reason for a ``field`` the document schema refuses."""
        special = {"published_at": cls.INVALID_DATE, "view_count": cls.INVALID_VIEW_COUNT}
        if field in special:
            return special[field]
        try:
            return cls(f"invalid {field}")
        except ValueError:
            return cls.INVALID_DOCUMENT
