"""Items the pipelines drop, with the reason as data.

A :class:`PageDropped` (a Scrapy :class:`~scrapy.exceptions.DropItem`) carries the portal, the
URL, a :class:`~pipelines.model.kinds.DropReason` and details; :func:`count_drop` counts it per
portal and reason in the crawl stats (``portalnews/dropped/<portal>/<reason>``).  The storage
stage records the dropped page by the exception's type: a :class:`DuplicatePage` as
``duplicate``, any other drop as ``rejected``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scrapy.exceptions import DropItem

from pipelines.model.kinds import DropReason


class PageDropped(DropItem):
    """A page an item pipeline refused; the message is ``"<portal>: <url>: <details>"``."""

    def __init__(self, portal_id: str, url: str, reason: DropReason, details: str = "",
                 log_level: str | None = None) -> None:
        super().__init__(f"{portal_id}: {url}: {details or reason}", log_level=log_level)
        self.portal_id = portal_id
        self.url = url
        self.reason = reason
        self.details = details or str(reason)


class DuplicatePage(PageDropped):
    """A second copy of an article (print view, another URL of it): expected, logged at INFO."""

    def __init__(self, portal_id: str, url: str, first_url: str) -> None:
        super().__init__(portal_id, url, DropReason.DUPLICATE, f"duplicate of {first_url}", log_level="INFO")
        self.first_url = first_url


@dataclass(frozen=True)
class Problem:
    """One reason an article cannot be stored: the field, the reason and a readable message."""

    field: str
    reason: DropReason
    message: str


class InvalidArticle(PageDropped):
    """An article that fails validation; ``reason`` is its first problem's."""

    def __init__(self, portal_id: str, url: str, problems: Sequence[Problem]) -> None:
        super().__init__(portal_id, url, problems[0].reason, ", ".join(p.reason for p in problems))
        self.problems = tuple(problems)


def count_drop(stats: Any, exc: PageDropped) -> PageDropped:
    """Count ``exc`` per portal and reason in the crawl stats; returns it, to be raised."""
    stats.inc_value(f"portalnews/dropped/{exc.portal_id}/{exc.reason}")
    return exc
