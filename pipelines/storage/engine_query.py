"""Query DSL for the search-engine backends, built from the backend-neutral requests.

Pure functions (no I/O) so that they are easy to test and identical for Elasticsearch
and OpenSearch.  They reproduce the SQLite backend's rules:

* filters: portals, province compared without diacritics, ``since``/``until`` on the
  ISO string of ``published_at`` (until inclusive of its day), ``min_views``;
* text: every term required (a term may be a "quoted phrase"), matched without
  diacritics in title, summary or body;
* relevance (:data:`pipelines.storage.base.FIELD_WEIGHTS`): documents where every term
  appears with its exact diacritics come first (only when the query has diacritics),
  then the weighted count of terms found in title (8), summary (3) and body (1), then
  the newest; date and views sorts put missing values last; ties are broken by URL.
"""

from __future__ import annotations

import logging
from typing import Any

from pipelines.storage.base import FIELD_WEIGHTS, ExportFilter, SearchQuery, _day_after, date_bounds
from pipelines.storage.textsearch import ParsedQuery

logger = logging.getLogger(__name__)

TEXT_FIELDS = tuple(field for field, _ in FIELD_WEIGHTS)

BY_URL: dict[str, Any] = {"url": {"order": "asc"}}
BY_DATE: list[dict[str, Any]] = [{"published_at.raw": {"order": "desc", "missing": "_last"}}, BY_URL]
BY_VIEWS: list[dict[str, Any]] = [{"view_count": {"order": "desc", "missing": "_last"}}, BY_URL]
BY_RELEVANCE: list[Any] = [{"_score": {"order": "desc"}},
                            {"published_at.raw": {"order": "desc", "missing": "_last"}}, BY_URL]
#: Added to the score of documents with every term in its exact diacritics: they come first.
EXACT_BOOST = 100000.0
EXPORT_SORT: list[dict[str, Any]] = [{"portal_id": {"order": "asc"}},
                                     {"published_at.raw": {"order": "desc", "missing": "_last"}}, BY_URL]


def filters(portals: list[str] | None = None, province: str | None = None, since: str | None = None,
            until: str | None = None, min_views: int | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if portals:
        out.append({"terms": {"portal_id": list(portals)}})
    if province:
        # the keyword normalizer folds both sides: "Phu Yen" == "Phú Yên"
        out.append({"term": {"province.folded": province}})
    lo, hi = date_bounds(since, until)
    bounds = {k: v for k, v in (("gte", lo), ("lt", hi)) if v}
    if bounds:
        out.append({"range": {"published_at.raw": bounds}})
    if min_views is not None:
        out.append({"range": {"view_count": {"gte": min_views}}})
    return out


def _term_query(words: tuple[str, ...], fields: list[str]) -> dict[str, Any]:
    return {"multi_match": {"query": " ".join(words), "type": "phrase", "fields": fields}}


def text_queries(parsed: ParsedQuery) -> list[dict[str, Any]]:
    """One required clause per term, matched without diacritics in any text field (recall)."""
    return [_term_query(term, list(TEXT_FIELDS)) for term in parsed.terms]


def exact_query(parsed: ParsedQuery) -> dict[str, Any]:
    """Every term with its exact diacritics (case-insensitive), in any text field."""
    fields = [f"{f}.exact" for f in TEXT_FIELDS]
    return {"bool": {"filter": [_term_query(tuple(w.lower() for w in term), fields) for term in parsed.terms]}}


def score_clauses(parsed: ParsedQuery) -> list[dict[str, Any]]:
    """The relevance score of :data:`FIELD_WEIGHTS`: a constant per term found per field,
    plus :data:`EXACT_BOOST` when every term has its exact diacritics.  Constant scores
    are small integers, exact in floating point, so the order is the SQLite backend's."""
    out: list[dict[str, Any]] = [
        {"constant_score": {"filter": {"match_phrase": {field: " ".join(term)}}, "boost": weight}}
        for term in parsed.terms for field, weight in FIELD_WEIGHTS
    ]
    if parsed.has_diacritics:
        out.append({"constant_score": {"filter": exact_query(parsed), "boost": EXACT_BOOST}})
    return out


def search_body(query: SearchQuery, parsed: ParsedQuery) -> dict[str, Any]:
    """The request body of one search (see the module docstring for the rules)."""
    flt = filters(query.portals, query.province, query.since, query.until, query.min_views)
    sort = {"date": BY_DATE, "views": BY_VIEWS}.get(query.sort)
    body: dict[str, Any] = {"from": query.offset, "size": query.limit, "track_total_hits": False}
    if not parsed.terms:
        body.update(query={"bool": {"filter": flt}}, sort=sort or BY_DATE)
        return body
    body.update(query={"bool": {"filter": [*text_queries(parsed), *flt], "should": score_clauses(parsed)}},
                sort=sort or BY_RELEVANCE, track_scores=True)
    return body


def hit_score(hit: dict[str, Any]) -> tuple[float, bool]:
    """(relevance score, every term with exact diacritics) of a search hit."""
    score = float(hit.get("_score") or 0.0)
    if score >= EXACT_BOOST:
        return score - EXACT_BOOST, True
    return score, False


def export_body(flt: ExportFilter, page_size: int) -> dict[str, Any]:
    return {"query": {"bool": {"filter": filters(flt.portals, None, flt.since, flt.until, None)}},
            "sort": EXPORT_SORT, "size": page_size, "track_total_hits": False}


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
