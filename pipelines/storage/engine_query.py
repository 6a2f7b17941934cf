"""Query DSL for the search-engine backends, built from the backend-neutral requests.

Pure functions (no I/O) so that they are easy to test and identical for Elasticsearch
and OpenSearch.  A search (:func:`search_body`) is the query language's DSL
(:func:`pipelines.search.dsl.to_dsl` on the sibling fields, BM25 with the field weights),
the filters of :class:`pipelines.storage.searching.PreparedSearch` on keyword fields
computed in Python, and the rules the SQLite backend follows too:

* relevance: documents with every term in its exact spelling first (a constant
  :data:`EXACT_BOOST` added to their score), then the score, the newest, the URL;
* date and views orders put missing values last; ties are broken by URL;
* ``since``/``until`` compare the ISO string of ``published_at`` (until inclusive of its day);
* facets are ``terms`` aggregations on the same values SQLite groups.
"""

from __future__ import annotations

import logging
from typing import Any

from pipelines.search import exact_filter, to_dsl
from pipelines.storage.base import Facet, SortOrder, _day_after
from pipelines.storage.searching import FACET_SIZES, PreparedSearch

logger = logging.getLogger(__name__)

BY_URL: dict[str, Any] = {"url": {"order": "asc"}}
BY_DATE: list[dict[str, Any]] = [{"published_at.raw": {"order": "desc", "missing": "_last"}}, BY_URL]
BY_VIEWS: list[dict[str, Any]] = [{"view_count": {"order": "desc", "missing": "_last"}}, BY_URL]
BY_RELEVANCE: list[Any] = [{"_score": {"order": "desc"}},
                            {"published_at.raw": {"order": "desc", "missing": "_last"}}, BY_URL]
#: Added to the score of documents with every term in its exact spelling: they come first.
#: (A BM25 score of the sibling fields stays far below it; scores are 32-bit floats, so the
#: score reported for such a hit is exact to about 0.01.)
EXACT_BOOST = 100000.0
EXPORT_SORT: list[dict[str, Any]] = [{"portal_id": {"order": "asc"}},
                                     {"published_at.raw": {"order": "desc", "missing": "_last"}}, BY_URL]
#: Facet -> the keyword field its terms aggregation counts.
FACET_FIELDS: dict[Facet, str] = {Facet.PROVINCE: "current_province", Facet.LEVEL: "level",
                                  Facet.PORTAL: "portal_id", Facet.CATEGORY: "category", Facet.MONTH: "month"}


def filters(prep: PreparedSearch) -> list[dict[str, Any]]:
    """The filter clauses of a search (the same values SQLite compares)."""
    out: list[dict[str, Any]] = []
    if prep.portals:
        out.append({"terms": {"portal_id": list(prep.portals)}})
    if prep.province_keys is not None:
        keys = sorted(prep.province_keys)
        out.append({"bool": {"should": [{"terms": {"province_key": keys}}, {"terms": {"current_key": keys}}],
                             "minimum_should_match": 1}})
    if prep.level:
        out.append({"term": {"level": prep.level}})
    if prep.category_key:
        out.append({"term": {"category_key": prep.category_key}})
    bounds = {k: v for k, v in (("gte", prep.since), ("lt", prep.until)) if v}
    if bounds:
        out.append({"range": {"published_at.raw": bounds}})
    if prep.min_views is not None:
        out.append({"range": {"view_count": {"gte": prep.min_views}}})
    return out


def match_query(prep: PreparedSearch, *, rank: bool = True) -> dict[str, Any]:
    """The query part: the text (if any) and the filters; with ``rank``, the exact-spelling tier."""
    text = to_dsl(prep.query)
    query: dict[str, Any] = {"bool": {"filter": filters(prep)}}
    if text is not None:
        query["bool"]["must"] = [text]
    exact = exact_filter(prep.query) if rank else None
    if exact is not None:
        query["bool"]["should"] = [{"constant_score": {"filter": exact, "boost": EXACT_BOOST}}]
    return query


def search_body(prep: PreparedSearch) -> dict[str, Any]:
    """The request body of one search (see the module docstring for the rules)."""
    ranked = bool(prep.query.include)
    if prep.sort is SortOrder.DATE or (not ranked and prep.sort is SortOrder.RELEVANCE):
        sort = BY_DATE
    elif prep.sort is SortOrder.VIEWS:
        sort = BY_VIEWS
    else:
        sort = BY_RELEVANCE
    body: dict[str, Any] = {"from": prep.offset, "size": prep.limit, "track_total_hits": True,
                            "query": match_query(prep, rank=ranked), "sort": sort}
    if ranked:
        body["track_scores"] = True
    if prep.facets:
        body["aggs"] = facet_aggregations()
    return body


def facet_aggregations() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for facet, field in FACET_FIELDS.items():
        terms: dict[str, Any] = {"field": field, "size": FACET_SIZES[facet]}
        if facet is Facet.MONTH:
            terms["order"] = {"_key": "desc"}
        out[facet.value] = {"terms": terms}
    return out


def hit_score(hit: dict[str, Any]) -> tuple[float, bool]:
    """(relevance score, every term in its exact spelling) of a search hit."""
    score = float(hit.get("_score") or 0.0)
    if score >= EXACT_BOOST:
        return score - EXACT_BOOST, True
    return score, False


def export_body(prep: PreparedSearch, page_size: int) -> dict[str, Any]:
    """Every match of a search (or filter), in export order, one page at a time (search_after)."""
    return {"query": match_query(prep, rank=False), "sort": EXPORT_SORT, "size": page_size,
            "track_total_hits": False}


def count_body(portal_id: str | None) -> dict[str, Any]:
    return {"query": {"bool": {"filter": [{"term": {"portal_id": portal_id}}] if portal_id else []}}}


def coverage_articles_body(after: dict[str, Any] | None, page: int = 500) -> dict[str, Any]:
    """Per portal: the article count (exact) and the newest ``published_at`` as written."""
    return {"size": 0, "track_total_hits": False, "aggs": {"portals": {
        "composite": _composite([BY_PORTAL], after, page),
        "aggs": {"newest": {"top_hits": {"size": 1, "_source": ["published_at"],
                                         "sort": [{"published_at.raw": {"order": "desc", "missing": "_last"}}]}}},
    }}}


def coverage_runs_body(after: dict[str, Any] | None, page: int = 500) -> dict[str, Any]:
    """Per portal: its most recent run record."""
    return {"size": 0, "track_total_hits": False, "aggs": {"portals": {
        "composite": _composite([BY_PORTAL], after, page),
        "aggs": {"latest": {"top_hits": {"size": 1, "sort": RUN_SORT}}},
    }}}


RUN_SORT: list[dict[str, Any]] = [{"started_at.raw": {"order": "desc", "missing": "_last"}},
                                  {"run_id": {"order": "desc"}}]


def runs_body(portal_id: str | None, limit: int) -> dict[str, Any]:
    return {"query": {"bool": {"filter": [{"term": {"portal_id": portal_id}}] if portal_id else []}},
            "sort": RUN_SORT, "size": limit, "track_total_hits": False}


#: The composite aggregation source of per-portal buckets.
BY_PORTAL: dict[str, Any] = {"portal_id": {"terms": {"field": "portal_id"}}}


def _composite(sources: list[dict[str, Any]], after: dict[str, Any] | None, page: int) -> dict[str, Any]:
    """A composite aggregation over ``sources``, one page of ``page`` buckets from ``after`` on."""
    return {"size": page, "sources": sources, **({"after": after} if after else {})}


def known_pages_body(portal_id: str, page_size: int, source: list[str]) -> dict[str, Any]:
    """One page of a portal's URLs (documents or page records), in URL order for search_after."""
    return {"query": {"bool": {"filter": [{"term": {"portal_id": portal_id}}]}},
            "_source": source, "sort": [{"url": {"order": "asc"}}], "size": page_size,
            "track_total_hits": False}


# --- monitoring (pipelines.monitoring) ---------------------------------------------------------------


def recent_counts_body(field: str, since: dict[str, str], earliest: str, after: dict[str, Any] | None,
                       page: int = 500) -> dict[str, Any]:
    """Per portal, one ``filter`` bucket per label: documents whose date ``field`` is at or
    after the label's instant (the engine compares instants, offsets included)."""
    return {"size": 0, "track_total_hits": False,
            "query": {"bool": {"filter": [{"range": {field: {"gte": earliest}}}]}},
            "aggs": {"portals": {
                "composite": _composite([BY_PORTAL], after, page),
                "aggs": {f"w{i}": {"filter": {"range": {field: {"gte": value}}}}
                         for i, value in enumerate(since.values())},
            }}}


def published_per_day_body(since: str | None, until: str | None, after: dict[str, Any] | None,
                           page: int = 1000) -> dict[str, Any]:
    """(portal, publication day at +07:00) buckets; undated documents have none."""
    bounds: dict[str, str] = {}
    if since:
        bounds["gte"] = f"{since[:10]}T00:00:00+07:00"
    if until:
        bounds["lt"] = f"{_day_after(until)}T00:00:00+07:00"
    query: dict[str, Any] = {"bool": {"filter": [{"exists": {"field": "published_at"}}]
                                      + ([{"range": {"published_at": bounds}}] if bounds else [])}}
    sources = [BY_PORTAL,
               {"day": {"date_histogram": {"field": "published_at", "calendar_interval": "day",
                                           "time_zone": "+07:00", "format": "yyyy-MM-dd"}}}]
    return {"size": 0, "track_total_hits": False, "query": query,
            "aggs": {"portals": {"composite": _composite(sources, after, page)}}}


def run_totals_body(fields: tuple[str, ...], after: dict[str, Any] | None, page: int = 500) -> dict[str, Any]:
    """(portal, outcome) buckets of the finished runs with the sums of ``fields``."""
    sources = [BY_PORTAL, {"outcome": {"terms": {"field": "outcome"}}}]
    return {"size": 0, "track_total_hits": False,
            "query": {"bool": {"must_not": [{"term": {"outcome": "running"}}]}},
            "aggs": {"portals": {"composite": _composite(sources, after, page),
                                 "aggs": {name: {"sum": {"field": name}} for name in fields}}}}
