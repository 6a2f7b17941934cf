"""What users see of stories, on any backend: collapsed search results and the largest stories.

Built on the store's own answers (:meth:`DocumentIndex.search`, :meth:`story_members`,
:meth:`story_groups`), so SQLite and the engines give the same:

* :func:`collapsed_search` — one hit per story (the best-ranked copy), each with the story's
  other copies and how many *other* portals carry it ("and N more portals");
* :func:`largest_stories` — the stories of two or more documents, most portals first
  (``portalnews stories``);
* :func:`story_shares` — per portal, the share of its articles that are reprints (a copy of
  an earlier publication elsewhere) and the share that are its own (coverage).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pipelines.storage.base import Document, SearchHit, SearchQuery, SearchResult, date_bounds, sort_story

logger = logging.getLogger(__name__)

__all__ = ["CollapsedHit", "StorySummary", "collapsed_search", "largest_stories", "story_shares"]

#: Hits read to fill one collapsed page at most (a page far down a common query stops there).
MAX_SCANNED = 5000
_SCAN_PAGE = 100


class StoryReader(Protocol):
    def search(self, query: SearchQuery) -> SearchResult: ...

    def story_members(self, story_id: str) -> list[Document]: ...


@dataclass
class CollapsedHit:
    """One story in a collapsed result: its best hit and the story's other copies."""

    hit: SearchHit
    copies: list[Document] = field(default_factory=list)  # the other documents of the story, oldest first

    @property
    def more_portals(self) -> int:
        own = self.hit.document.portal_id
        return len({d.portal_id for d in self.copies if d.portal_id != own})

    def to_api(self) -> dict[str, Any]:
        d = self.hit.document
        return {**self.hit.to_api(), "story_id": d.story_id, "story_size": d.story_size, "is_source": d.is_source,
                "more_portals": self.more_portals, "copies": [copy_api(c) for c in self.copies]}


def copy_api(d: Document) -> dict[str, Any]:
    """A copy of a story as the API, ``--json`` and the article page list it."""
    return {"id": d.id, "url": d.url, "portal_id": d.portal_id, "portal_name": d.portal_name, "title": d.title,
            "published_at": d.published_at, "is_source": d.is_source}


def collapsed_search(store: StoryReader, query: SearchQuery) -> tuple[SearchResult, list[CollapsedHit]]:
    """Page ``query.page`` of one hit per story (``query.limit`` stories a page), in the query's
    order; the result's ``total`` is the number of matching documents."""
    wanted = query.offset + query.limit
    seen: set[str] = set()
    kept: list[SearchHit] = []
    offset = 0
    first: SearchResult | None = None
    while len(kept) < wanted and offset < MAX_SCANNED:
        page = store.search(replace(query, offset=offset, limit=_SCAN_PAGE, facets=query.facets and offset == 0))
        first = first or page
        for hit in page.hits:
            key = hit.document.story_id or hit.document.id
            if key not in seen:
                seen.add(key)
                kept.append(hit)
        offset += _SCAN_PAGE
        if offset >= page.total or not page.hits:
            break
    hits = kept[query.offset:wanted]
    collapsed = []
    for hit in hits:
        d = hit.document
        copies = [m for m in store.story_members(d.story_id) if m.id != d.id] \
            if d.story_id and (d.story_size or 1) > 1 else []
        collapsed.append(CollapsedHit(hit, copies))
    base = first or SearchResult(hits=[], total=0)
    result = replace(base, hits=hits, page=query.page, per_page=query.limit)
    return result, collapsed


@dataclass
class StorySummary:
    """One story of two or more documents."""

    story_id: str
    members: list[Document]  # oldest first: the source first

    @property
    def source(self) -> Document:
        return self.members[0]

    @property
    def portals(self) -> list[str]:
        return list(dict.fromkeys(d.portal_id for d in self.members))

    def to_dict(self) -> dict[str, Any]:
        s = self.source
        return {"story_id": self.story_id, "size": len(self.members), "portals": len(self.portals),
                "title": s.title, "source_portal": s.portal_id, "published_at": s.published_at, "url": s.url,
                "copies": [copy_api(d) for d in self.members]}


def largest_stories(groups: Iterable[Document], since: str | None = None, min_portals: int = 1,
                    limit: int = 20) -> list[StorySummary]:
    """The stories among ``groups`` (the store's ``story_groups()``: documents of stories of two
    or more), whose source was published at or after ``since``, on ``min_portals`` portals or
    more; most portals first, then most copies, then the newest source."""
    by_story: dict[str, list[Document]] = {}
    for d in groups:
        if d.story_id:
            by_story.setdefault(d.story_id, []).append(d)
    lo, _ = date_bounds(since, None)
    out = []
    for story_id, members in by_story.items():
        summary = StorySummary(story_id, sort_story(members))
        if lo and (summary.source.published_at or "") < lo:
            continue
        if len(summary.portals) < min_portals:
            continue
        out.append(summary)
    out.sort(key=lambda s: (-len(s.portals), -len(s.members), _desc(s.source.published_at or ""), s.story_id))
    return out[:limit]


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


def story_shares(counts: dict[str, tuple[int, int]]) -> dict[str, dict[str, float | int]]:
    """Per portal, from the store's ``story_counts()`` (articles, reprints): the share of its
    articles that are reprints (copies of a story first published earlier, elsewhere or on
    the portal itself) and the share that are its own (the rest: its own news, reprinted
    elsewhere or not)."""
    return {p: {"articles": n, "reprints": r, "reprint_share": round(r / n, 4) if n else 0.0,
                "own_share": round((n - r) / n, 4) if n else 0.0} for p, (n, r) in counts.items()}
