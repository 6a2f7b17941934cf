"""What every backend shares to answer a search, so that they answer alike.

The query language is :mod:`pipelines.search`; this module turns a
:class:`~pipelines.storage.base.SearchQuery` into a :class:`PreparedSearch` (the parsed query,
the filters as the values the stores compare, the order and the page), computes the values a
document is indexed with besides its text (:func:`indexed_values`: province keys, month,
category key), and builds hits and facets from what a backend found (:func:`make_hit`,
:func:`facet_values`).  The backends only translate: :mod:`pipelines.storage.sqlite` to SQL
over FTS5, :mod:`pipelines.storage.engine_query` to the engine's query DSL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipelines.admin import load_provinces, normalize_level
from pipelines.normalize.dates import VN_TZ
from pipelines.search import Abbreviations, Query, abbreviations_from_settings, parse, snippet
from pipelines.search.analysis import fold_words, words
from pipelines.storage.base import (
    Document,
    Facet,
    FacetValue,
    SearchHit,
    SearchQuery,
    SortOrder,
    StoreError,
    date_bounds,
    parse_instant,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EXACT_FACETS_UP_TO",
    "FACET_SIZES",
    "MAX_PER_PAGE",
    "MAX_WINDOW",
    "PreparedSearch",
    "category_key",
    "facet_values",
    "indexed_values",
    "make_hit",
    "month_of",
    "prepare",
    "province_key",
]

#: At most this many hits per page in the CLI and the web app (the store takes up to the window).
MAX_PER_PAGE = 100
#: ``offset + limit`` may not go beyond this (the engines' ``index.max_result_window``);
#: deeper pages are for export, which streams every match.
MAX_WINDOW = 10_000
#: How many values of each facet a result lists (the most frequent; months: the whole range).
FACET_SIZES: Mapping[Facet, int] = {Facet.PROVINCE: 100, Facet.LEVEL: 10, Facet.PORTAL: 50, Facet.CATEGORY: 50,
                                    Facet.MONTH: 1200}
#: Facets are counted exactly over at most this many matches; beyond, a backend may count a
#: sample and scale (the result says ``facets_exact: False``).
EXACT_FACETS_UP_TO = 10_000


@lru_cache(maxsize=4096)  # a crawl writes a few names over and over (one call each per document)
def province_key(name: str | None) -> str | None:
    """The comparison key of a province name (aliases resolved, diacritics, case and the
    "Tỉnh"/"Thành phố" prefix ignored); None for no name."""
    if not name or not name.strip():
        return None
    return load_provinces().key(name) or None


@lru_cache(maxsize=4096)
def category_key(name: str | None) -> str | None:
    """A category compared without case, diacritics and punctuation ("Tin tức - Sự kiện" ->
    "tin tuc su kien"); None for no category."""
    key = " ".join(fold_words(w) for w in words(name))
    return key or None


def month_of(published_at: str | None) -> str | None:
    """``YYYY-MM`` of a publication time in Vietnam (UTC+07:00); a bare date is its own month."""
    if not published_at:
        return None
    if len(published_at) <= 10:
        return published_at[:7] if len(published_at) >= 7 and published_at[4:5] == "-" else None
    instant = parse_instant(published_at)
    return instant.astimezone(VN_TZ).strftime("%Y-%m") if instant is not None else None


def indexed_values(doc: Document) -> dict[str, Any]:
    """What a document is filtered, sorted and counted by besides its text, computed once when
    it is indexed, the same for every backend."""
    return {
        "province_key": province_key(doc.province),
        "current_key": province_key(doc.current_province),
        "category_key": category_key(doc.category),
        "month": month_of(doc.published_at),
    }


@dataclass(frozen=True)
class PreparedSearch:
    """A search ready for a backend: the parsed query, the filter values, order and window."""

    query: Query
    portals: tuple[str, ...]
    province_keys: frozenset[str] | None  # match province_key or current_key
    level: str | None
    category_key: str | None
    since: str | None  # string bounds on published_at: since <= published_at < until
    until: str | None
    min_views: int | None
    sort: SortOrder
    offset: int
    limit: int
    facets: bool

    @property
    def has_filters(self) -> bool:
        return bool(self.portals or self.province_keys is not None or self.level or self.category_key
                    or self.since or self.until or self.min_views is not None)

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1 if self.limit else 1


def prepare(q: SearchQuery, abbreviations: Abbreviations | None = None, *, paged: bool = True) -> PreparedSearch:
    """Check and normalise a search (:class:`StoreError` for a sort, page or size out of
    range).  ``paged=False``: an export, every match (no window limit)."""
    try:
        sort = SortOrder(q.sort or SortOrder.RELEVANCE)
    except ValueError:
        raise StoreError(f"unknown sort {q.sort!r}: use {', '.join(s.value for s in SortOrder)}") from None
    if q.limit < 0 or q.offset < 0:
        raise StoreError("page and per_page must be positive")
    if paged and q.offset + q.limit > MAX_WINDOW:
        raise StoreError(f"pages end at hit {MAX_WINDOW:,} (asked up to {q.offset + q.limit:,}): narrow the "
                         "search, or export it for every match".replace(",", "."))
    province_keys = None
    if q.province and q.province.strip():
        provinces = load_provinces()
        province_keys = frozenset(k for k in provinces.filter_keys(q.province.strip()) if k)
    level = None
    if q.level and q.level.strip():
        named = normalize_level(q.level)
        level = named.value if named is not None else q.level.strip()
    lo, hi = date_bounds(q.since, q.until)
    abbr = abbreviations if abbreviations is not None else abbreviations_from_settings(None)
    return PreparedSearch(query=parse(q.text, abbr), portals=tuple(dict.fromkeys(q.portals)),
                          province_keys=province_keys, level=level, category_key=category_key(q.category),
                          since=lo, until=hi, min_views=q.min_views, sort=sort, offset=q.offset, limit=q.limit,
                          facets=q.facets)


def make_hit(doc: Document, query: Query, score: float, exact: bool) -> SearchHit:
    """A hit as every backend reports it: the backend's score and exact flag, and the shared
    snippet (cut from the body when it has a match, else from the summary)."""
    cut = snippet([doc.body, doc.summary], query)
    return SearchHit(document=doc, score=score, snippet=cut.marked, exact=exact, snippet_html=cut.html,
                     snippet_text=cut.plain)


def facet_values(facet: Facet, counts: Iterable[tuple[Any, int]]) -> list[FacetValue]:
    """The listed values of one facet from (value, count) pairs: no empty value, most frequent
    first then by value (months: chronological), at most :data:`FACET_SIZES`."""
    merged: dict[str, int] = {}
    for value, count in counts:
        if value is None or value == "" or count <= 0:
            continue
        merged[str(value)] = merged.get(str(value), 0) + int(count)
    if facet is Facet.MONTH:
        items = sorted(merged.items())
        items = items[-FACET_SIZES[facet]:]
    else:
        items = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_SIZES[facet]]
    return [FacetValue(v, c) for v, c in items]
