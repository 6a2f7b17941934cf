"""Watchlists: saved searches, and what the store remembers to notify each of them once.

A :class:`Watchlist` is a query of the search language with the filters of ``search``
(province, portals, minimum views …), saved under a unique name.  After a crawl,
:mod:`pipelines.monitoring.watch` looks at the articles stored since the last check and
sends one notice per watchlist listing the new ones that match.  The store keeps:

* the watchlists themselves (:meth:`Watchlists.add_watchlist`, :meth:`~Watchlists.watchlists`,
  :meth:`~Watchlists.remove_watchlist`);
* a **cursor**, the position in the store up to which stored articles have been checked
  (:meth:`~Watchlists.watch_position`, :meth:`~Watchlists.watch_cursor`,
  :meth:`~Watchlists.set_watch_cursor`), and the articles stored after a position
  (:meth:`~Watchlists.articles_stored_after`).  SQLite positions are row ids (exact: a row id
  is given when an article is first stored); the engines' are times of ``indexed_at``, read
  again with a margin (:data:`ENGINE_MARGIN_SECONDS`) for refresh delays and clock skew;
* one **notice record** per watchlist and article (:class:`WatchNotice`): claimed atomically
  before a notice is sent (so two workers never send one article twice), then ``sent``, or
  ``pending`` when no channel took it (the next check sends it again).

Implementations: :mod:`pipelines.storage.watchlists_sqlite` (tables created on first use,
the schema version is unchanged) and :mod:`pipelines.storage.watchlists_engine` (indices of
their own created on first use).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pipelines.model.record import DictRecord

if TYPE_CHECKING:  # base imports this module for the Store protocol
    from pipelines.storage.base import Document

__all__ = [
    "CLAIM_TTL_SECONDS",
    "ENGINE_MARGIN_SECONDS",
    "MAX_NAME_CHARS",
    "NoticeState",
    "StoredArticle",
    "WatchNotice",
    "Watchlist",
    "WatchlistExists",
    "Watchlists",
    "watchlist_key",
]

#: A notice claimed by a worker that then died is claimable again after this many seconds.
CLAIM_TTL_SECONDS = 3600.0
#: The engines: articles indexed up to this long before the cursor are read again (refresh
#: interval, writers' clocks, a crawl's last batch written while the check runs).
ENGINE_MARGIN_SECONDS = 600.0
MAX_NAME_CHARS = 100


class WatchlistExists(ValueError):
    """A watchlist of that name is already saved."""


class NoticeState(StrEnum):
    """Where the notice of one article for one watchlist stands."""

    CLAIMED = "claimed"  # a worker is sending it now
    SENT = "sent"  # a channel took it: never sent again
    PENDING = "pending"  # no channel took it: sent at the next check


def watchlist_key(name: str) -> str:
    """Names are compared in NFC without case: "Lũ lụt" and "lũ lụt" are one watchlist."""
    return unicodedata.normalize("NFC", name).strip().casefold()


@dataclass
class Watchlist(DictRecord):
    """A saved search: the query (search language) and the filters of ``search``."""

    name: str
    query: str
    province: str | None = None
    portals: list[str] = field(default_factory=list)
    min_views: int | None = None
    level: str | None = None
    category: str | None = None
    created_at: str = ""  # ISO 8601 UTC; only articles first seen after it are notified

    @property
    def key(self) -> str:
        return watchlist_key(self.name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Watchlist:
        known = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in known}
        values["portals"] = list(values.get("portals") or [])
        return cls(**values)


@dataclass(frozen=True)
class StoredArticle:
    """An article as stored, and when it was first seen (fetched) by a crawl."""

    document: Document
    first_seen_at: str | None


@dataclass
class WatchNotice(DictRecord):
    """The notice of one article for one watchlist, with what the notice lists about it."""

    watchlist: str  # the watchlist's key
    doc_id: str
    url: str
    title: str
    portal_id: str
    published_at: str | None = None
    state: str = NoticeState.CLAIMED
    claimed_at: float = 0.0
    sent_at: float | None = None

    @classmethod
    def of(cls, watchlist: str, doc: Document) -> WatchNotice:
        return cls(watchlist=watchlist, doc_id=doc.id, url=doc.url, title=doc.title, portal_id=doc.portal_id,
                   published_at=doc.published_at)

    def article(self) -> dict[str, Any]:
        """The article as a watchlist notice lists it."""
        return {"url": self.url, "title": self.title, "portal_id": self.portal_id, "published_at": self.published_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WatchNotice:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


class Watchlists(Protocol):
    """The watchlist part of a store (see the module docstring)."""

    def add_watchlist(self, watchlist: Watchlist) -> None:
        """Save a new watchlist; :class:`WatchlistExists` when its name is taken.  The first
        watchlist of a store starts the cursor at the current position."""

    def watchlists(self) -> list[Watchlist]:
        """Every watchlist, by name."""

    def remove_watchlist(self, name: str) -> Watchlist | None:
        """Remove a watchlist and its notice records; the removed one, or None when unknown."""

    def watch_position(self) -> str:
        """The position of the latest article stored now."""

    def watch_cursor(self) -> str | None:
        """The position up to which stored articles were checked; None before the first watchlist."""

    def set_watch_cursor(self, position: str, force: bool = False) -> None:
        """Move the cursor to ``position`` (never back, unless ``force``)."""

    def articles_stored_after(self, position: str, upto: str | None = None) -> Iterator[StoredArticle]:
        """The articles first stored after ``position`` (and not after ``upto`` where the backend
        can tell), in the order they were stored.  The engines may give some again."""

    def claim_watch_notices(self, name: str, notices: Sequence[WatchNotice], now: float,
                            ttl: float = CLAIM_TTL_SECONDS) -> list[WatchNotice]:
        """Atomically claim the notices (of watchlist ``name``) not recorded yet, and take over its
        ``pending`` ones and those ``claimed`` more than ``ttl`` seconds ago: everything to send
        now for that watchlist.  ``notices`` may be empty (only the kept ones are taken)."""

    def settle_watch_notices(self, notices: Sequence[WatchNotice], sent: bool, now: float) -> None:
        """Record the outcome of sending claimed notices: ``sent``, or ``pending`` (kept)."""

    def watch_notices(self, name: str) -> list[WatchNotice]:
        """Every notice record of a watchlist (for ``watch list`` and tests)."""
