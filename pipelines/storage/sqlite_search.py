"""The embedded store's search: an FTS5 index of the sibling columns and one narrow table.

* ``search_text`` — a *contentless* FTS5 table (``content=''``: the index only, the text stays
  in ``documents``) with the six columns of :mod:`pipelines.search.fields` (``title_exact``,
  ``title_folded`` … ``body_folded``), filled with :func:`pipelines.search.analysis.index_text`.
  Ranking is FTS5's own ``bm25()`` with the column weights of
  :func:`pipelines.search.fields.column_weights`, in the same pass that finds the matches.
  Without stored content a row is removed by giving FTS5 the tokens it was indexed with: the
  document's previous text (from ``documents``) and the abbreviation keys it got then
  (``search_meta.index_keys``), so a later change of the abbreviation list cannot leave stale
  tokens behind.
* its seventh column, ``filters`` (weight 0: it never changes a score), holds one token per
  filter value of the document (:func:`filter_tokens`: portal, province keys, level, category,
  year and month).  A search with words and selective filters adds the filters' tokens to its
  MATCH expression (:func:`_narrowing`), so FTS5 intersects the doclists and a common word in one
  province and year reads a few thousand rows instead of testing every match of the word against
  the filters (1,000,000 articles: 200 -> ~100 ms).  The filters are still checked on
  ``search_meta``: the tokens only narrow.
* ``search_meta`` — one narrow row per document (rowid = ``documents.rid``) with what searches
  filter, sort and count by: portal, URL, date, month, views, province keys, current province,
  level, category.  Its indexes serve the date and views orders and the filters; facets group
  its rows, never the wide ``documents`` rows.

:class:`SearchIndex` keeps both in step with ``documents`` (inside the caller's transaction)
and answers :meth:`SearchIndex.search`.  Schema: step 3 of :mod:`pipelines.storage.migrations`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipelines.search import Abbreviations
from pipelines.search.analysis import index_text
from pipelines.search.fields import Form, IndexedTexts, TextField, column_weights, field_name
from pipelines.search.fts5 import to_fts5
from pipelines.storage.base import Document, Facet, SortOrder
from pipelines.storage.searching import EXACT_FACETS_UP_TO, PreparedSearch, indexed_values

logger = logging.getLogger(__name__)

__all__ = ["COLUMNS", "FacetCounts", "Found", "SearchIndex", "document_from_row"]

#: The FTS5 column of the filter tokens (:func:`filter_tokens`).
FILTER_COLUMN = "filters"
#: The FTS5 columns, field by field: title_exact, title_folded, summary_exact … then ``filters``.
COLUMNS: tuple[str, ...] = (*(field_name(f, form) for f in TextField for form in (Form.EXACT, Form.FOLDED)),
                            FILTER_COLUMN)
_WEIGHTS = ", ".join(f"{w:g}" for w in column_weights(COLUMNS))
_SCORE = f"-bm25(search_text, {_WEIGHTS})"
_FILTER_VALUES = "m.portal_id, m.province_key, m.current_key, m.level, m.category_key, m.published_at"
_META_COLUMNS = ("rid", "portal_id", "url", "published_at", "month", "view_count", "province_key", "current_key",
                 "current_province", "level", "category", "category_key", "index_keys")
_INSERT_TEXT = (f"INSERT INTO search_text(rowid, {', '.join(COLUMNS)}) VALUES (?, {', '.join('?' * len(COLUMNS))})")
_DELETE_TEXT = (f"INSERT INTO search_text(search_text, rowid, {', '.join(COLUMNS)}) "
                f"VALUES ('delete', ?, {', '.join('?' * len(COLUMNS))})")
_UPSERT_META = (f"INSERT OR REPLACE INTO search_meta({', '.join(_META_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_META_COLUMNS))})")
#: Facet name -> search_meta column.
_FACET_COLUMNS: Mapping[Facet, str] = {Facet.PROVINCE: "current_province", Facet.LEVEL: "level",
                                       Facet.PORTAL: "portal_id", Facet.CATEGORY: "category", Facet.MONTH: "month"}

#: See :func:`_walk_the_order`.
WALK_FACTOR = 4
#: Matches ranked one by one with ``bm25()`` up to this many (in the pass that finds them);
#: the relevance page of more is ranked among candidates (:meth:`SearchIndex._candidates`) and
#: the result says so (``rank_exact`` False).
RANK_ALL_UP_TO = 30_000
#: Candidates ranked for the relevance page of a very large match set.
RANK_CANDIDATES = 5_000
#: The newest documents that estimate how many a query matches (:func:`_estimate`).
PROBE = 2_000
#: A date filter narrows by its months' tokens when it spans at most this many months.
NARROW_MONTHS = 36
_TITLE_COLUMNS = "{" + " ".join(field_name(TextField.TITLE, form) for form in (Form.EXACT, Form.FOLDED)) + "}"

Texts = tuple[str | None, str | None, str | None]  # title, summary, body
FacetCounts = dict[Facet, list[tuple[Any, int]]]


class FilterToken(StrEnum):
    """The prefix of each kind of filter token."""

    PORTAL = "fo"
    PROVINCE = "fp"  # the registry's province key and the current one alike
    LEVEL = "fl"
    CATEGORY = "fk"
    YEAR = "fy"
    MONTH = "fm"


_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _token(kind: FilterToken, value: str) -> str:
    """A filter value as one FTS5 token: its UTF-8 in hex digits, so that any value (a portal
    id with dots or dashes, a category with spaces) is one token and two values never share one."""
    return kind + value.encode().hex()


def filter_tokens(portal_id: str | None, province_key: str | None, current_key: str | None, level: str | None,
                  category_key: str | None, published_at: str | None) -> str:
    """The ``filters`` column of a document: a token for each of its filter values.  Dates by the
    text of ``published_at`` (``2024-05`` of ``2024-05-31T23:00:00+07:00``), as the date filters
    compare it."""
    tokens = [_token(FilterToken.PORTAL, portal_id)] if portal_id else []
    tokens += [_token(FilterToken.PROVINCE, k) for k in sorted({k for k in (province_key, current_key) if k})]
    if level:
        tokens.append(_token(FilterToken.LEVEL, level))
    if category_key:
        tokens.append(_token(FilterToken.CATEGORY, category_key))
    ym = _YEAR_MONTH.match(published_at or "")
    if ym:
        tokens += [f"{FilterToken.YEAR}{ym[1]}", f"{FilterToken.MONTH}{ym[1]}{ym[2]}"]
    return " ".join(tokens)


def _row_tokens(row: Mapping[str, Any] | sqlite3.Row) -> str:
    """:func:`filter_tokens` of a ``search_meta`` row."""
    return filter_tokens(row["portal_id"], row["province_key"], row["current_key"], row["level"],
                         row["category_key"], row["published_at"])


class Found:
    """What :meth:`SearchIndex.search` found: the page (rid, score, exact), the total, the
    facet counts (with the sampling step they were counted with: 1 = exact), and whether the
    relevance page was ranked among every match (False: among candidates)."""

    def __init__(self, page: list[tuple[int, float, bool]], total: int, facets: FacetCounts | None,
                 facet_step: int, ranked_all: bool = True) -> None:
        self.page = page
        self.total = total
        self.facets = facets
        self.facet_step = facet_step
        self.ranked_all = ranked_all


def _texts(doc: Document | sqlite3.Row | Mapping[str, Any]) -> Texts:
    get = (lambda k: getattr(doc, k)) if isinstance(doc, Document) else (lambda k: doc[k])
    return get("title"), get("summary"), get("body")


def _row_values(texts: Texts, abbr: Abbreviations | None, keys: Mapping[str, Any] | None = None,
                indexed: IndexedTexts | None = None) -> tuple[list[str], dict[str, list[list[str]]]]:
    """The six column values of a document's text, and the abbreviation keys each field got
    (``keys``: use those, the ones it was indexed with; ``indexed``: the forms the extraction
    made, when they fit ``texts`` and ``abbr``)."""
    values: list[str] = []
    used: dict[str, list[list[str]]] = {}
    made = indexed.for_texts(texts, abbr) if indexed is not None and abbr is not None and keys is None else None
    for i, (f, text) in enumerate(zip(TextField, texts, strict=True)):
        given = keys.get(f.value) if keys is not None else None
        if keys is not None:
            it = index_text(text, keys=(given[0], given[1]) if given else ((), ()))
        elif made is not None:
            it = made[i]
        else:
            it = index_text(text, abbr)
        values += [it.exact, it.folded]
        if it.exact_keys or it.folded_keys:
            used[f.value] = [list(it.exact_keys), list(it.folded_keys)]
    return values, used


class SearchIndex:
    """``search_text`` and ``search_meta`` of one connection's database."""

    def __init__(self, abbreviations: Abbreviations) -> None:
        self.abbreviations = abbreviations

    # --- keeping the index in step with documents -------------------------------------------
    def add(self, conn: sqlite3.Connection, rid: int, doc: Document, previous: sqlite3.Row | None = None) -> None:
        """Index ``doc`` under ``rid``.  ``previous``: its row as stored before this write
        (``title``, ``summary``, ``body``, ``index_keys`` and the filter values of
        ``search_meta``), whose tokens are removed first when the text or a filter value changed;
        only ``search_meta`` is rewritten otherwise."""
        texts = _texts(doc)
        v = indexed_values(doc)
        tokens = filter_tokens(doc.portal_id, v["province_key"], v["current_key"], doc.level, v["category_key"],
                               doc.published_at)
        keys_json: str | None
        if previous is not None and _texts(previous) == texts:
            keys_json = previous["index_keys"]
            if _row_tokens(previous) != tokens:  # same text, other filter values: its row again
                values = self.remove_text(conn, rid, texts, keys_json, _row_tokens(previous))
                conn.execute(_INSERT_TEXT, [rid, *values, tokens])
        else:
            if previous is not None:
                self.remove_text(conn, rid, _texts(previous), previous["index_keys"], _row_tokens(previous))
            values, used = _row_values(texts, self.abbreviations, indexed=doc.indexed_texts)
            conn.execute(_INSERT_TEXT, [rid, *values, tokens])
            keys_json = json.dumps(used, ensure_ascii=False, separators=(",", ":")) if used else None
        conn.execute(_UPSERT_META, [rid, doc.portal_id, doc.url, doc.published_at, v["month"], doc.view_count,
                                    v["province_key"], v["current_key"], doc.current_province, doc.level,
                                    doc.category, v["category_key"], keys_json])

    @staticmethod
    def remove_text(conn: sqlite3.Connection, rid: int, texts: Texts, keys_json: str | None, tokens: str
                    ) -> list[str]:
        """Remove the tokens a row was indexed with (contentless FTS5 needs them given back:
        its text's, with the abbreviation keys it got then, and its filter ``tokens``); the
        text columns' values."""
        keys = json.loads(keys_json) if keys_json else {}
        values, _ = _row_values(texts, None, keys)
        conn.execute(_DELETE_TEXT, [rid, *values, tokens])
        return values

    def rebuild(self, conn: sqlite3.Connection, batch: int = 2000) -> int:
        """Index every document again with the current abbreviations (``portalnews reindex``,
        the migration to schema 3); the number of documents."""
        conn.execute("INSERT INTO search_text(search_text) VALUES ('delete-all')")
        conn.execute("DELETE FROM search_meta")
        n = 0
        cur = conn.execute("SELECT * FROM documents ORDER BY rid")
        while rows := cur.fetchmany(batch):
            for row in rows:
                self.add(conn, int(row["rid"]), document_from_row(row))
                n += 1
        conn.execute("INSERT OR REPLACE INTO store_meta(key, value) VALUES ('abbreviations', ?)",
                     (self.abbreviations.fingerprint,))
        return n

    @staticmethod
    def refill_text(conn: sqlite3.Connection, batch: int = 2000) -> int:
        """Fill an empty ``search_text`` from the documents, each with the abbreviation keys it
        was indexed with (``search_meta.index_keys``: the same tokens as before, whatever the
        abbreviation list is now) and its filter tokens, then merge it into one segment (the
        migration to schema 6); the number of documents."""
        conn.execute("INSERT INTO search_text(search_text, rank) VALUES ('automerge', 0)")
        n = 0
        cur = conn.execute(f"SELECT d.rid, d.title, d.summary, d.body, m.index_keys, {_FILTER_VALUES}"
                           " FROM documents d JOIN search_meta m ON m.rid = d.rid ORDER BY d.rid")
        while rows := cur.fetchmany(batch):
            conn.executemany(_INSERT_TEXT, [
                [row["rid"], *_row_values(_texts(row), None, json.loads(row["index_keys"] or "{}"))[0],
                 _row_tokens(row)] for row in rows])
            n += len(rows)
            if n % 100_000 < batch:
                logger.info("search index: %d documents indexed again", n)
        conn.execute("INSERT INTO search_text(search_text) VALUES ('optimize')")
        conn.execute("INSERT INTO search_text(search_text, rank) VALUES ('automerge', 4)")  # FTS5's default
        return n

    # --- searching -----------------------------------------------------------------------------
    def search(self, conn: sqlite3.Connection, prep: PreparedSearch) -> Found:
        expr = to_fts5(prep.query)
        if not expr.match:
            return self._search_without_words(conn, prep, expr.exclude)
        with _snapshot(conn):
            return self._search_words(conn, prep, expr.match, expr.exact)

    def _search_without_words(self, conn: sqlite3.Connection, prep: PreparedSearch, exclude: str | None) -> Found:
        """Filters (and exclusions) only: ``search_meta`` and its indexes, no ranking."""
        where, params = _filters(prep)
        if exclude:
            where.append("m.rid NOT IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)")
            params.append(exclude)
        source = "search_meta m"
        cond = " WHERE " + " AND ".join(where) if where else ""
        total = int(conn.execute(f"SELECT count(*) FROM {source}{cond}", params).fetchone()[0])
        order = "m.view_count DESC, m.url" if prep.sort is SortOrder.VIEWS else "m.published_at DESC, m.url"
        rids = [int(r[0]) for r in conn.execute(f"SELECT m.rid FROM {source}{cond} ORDER BY {order} LIMIT ? OFFSET ?",
                                                [*params, prep.limit, prep.offset])]
        facets, step = (self._facets(conn, source, cond, params, total, "m.rid") if prep.facets else (None, 1))
        return Found([(rid, 0.0, False) for rid in rids], total, facets, step)

    def _search_words(self, conn: sqlite3.Connection, prep: PreparedSearch, match: str, exact: str | None) -> Found:
        """A query with words: its matches are found once, into ``temp.search_hits`` (scored
        with ``bm25()`` in the same pass when they are few enough to rank one by one), and the
        total, the page and the facets are read from there."""
        _clear_temp(conn)
        documents = _documents(conn)
        where, params = _filters(prep)
        narrowing = _narrowing(conn, prep)
        found_by = match if narrowing is None else f"({match}) AND {narrowing.expression}"  # to find the matches
        if narrowing is not None and narrowing.exact:  # the tokens say all the filters say
            where, params = [], []
        text_matches, estimate = _estimate(conn, found_by, where, params, documents)
        source, cond, cparams = "search_text", "", list(params)
        if where:
            if text_matches * 20 < documents:  # few matches of the text: look their filter values up
                source = "search_text CROSS JOIN search_meta m ON m.rid = search_text.rowid"
                cond = " AND " + " AND ".join(where)
            else:  # many: the documents that pass the filters first, then one pass of the index
                conn.execute(f"INSERT INTO temp.search_passing(rid) SELECT m.rid FROM search_meta m"
                             f" WHERE {' AND '.join(where)}", params)
                cond, cparams = " AND +search_text.rowid IN temp.search_passing", []
        scored = False
        if estimate <= RANK_ALL_UP_TO:
            n = conn.execute(f"INSERT INTO temp.search_hits(rid, score) SELECT search_text.rowid, {_SCORE}"
                             f" FROM {source} WHERE search_text MATCH ?{cond} LIMIT ?",
                             [found_by, *cparams, RANK_ALL_UP_TO + 1]).rowcount
            scored = n <= RANK_ALL_UP_TO
            if not scored:
                conn.execute("DELETE FROM temp.search_hits")
        if not scored:
            conn.execute(f"INSERT INTO temp.search_hits(rid) SELECT search_text.rowid FROM {source}"
                         f" WHERE search_text MATCH ?{cond}", [found_by, *cparams])
        total = int(conn.execute("SELECT count(*) FROM temp.search_hits").fetchone()[0])
        ranked_all = True
        if prep.sort is SortOrder.RELEVANCE:
            page, ranked_all = self._relevance_page(conn, prep, match, exact, scored, total)
        else:
            page = self._ordered_page(conn, prep, match, exact, scored, total, documents)
        facets, step = (self._facets(conn, "temp.search_hits h CROSS JOIN search_meta m ON m.rid = h.rid", "", [], total,
                                     "h.rid") if prep.facets else (None, 1))
        return Found(page, total, facets, step, ranked_all)

    def _relevance_page(self, conn: sqlite3.Connection, prep: PreparedSearch, match: str, exact: str | None,
                        scored: bool, total: int) -> tuple[list[tuple[int, float, bool]], bool]:
        """The relevance page: exact spellings first, then ``bm25()``, the newest, the URL.  Every
        match is ranked when there are at most :data:`RANK_ALL_UP_TO`; beyond, the page is ranked
        among candidates (:meth:`_candidates`) and the second value is False."""
        needed = prep.offset + prep.limit
        if not scored and total > RANK_ALL_UP_TO and needed <= RANK_CANDIDATES:
            page = self._candidates(conn, prep, match, exact)
            if page is not None:
                return page, False
        if not scored:  # too few candidates, or a page too deep for them: rank every match
            self._score_hits(conn, match)
        self._mark_exact(conn, exact, total)
        # the matches that rank at or above the page's last one (ties included): only those are
        # looked up for the tie-breaking date and URL
        cut = conn.execute("SELECT exact, score FROM temp.search_hits ORDER BY exact DESC, score DESC LIMIT 1 OFFSET ?",
                           [needed - 1]).fetchone()
        above, above_params = ("", []) if cut is None else (
            " WHERE h.exact > ? OR (h.exact = ? AND h.score >= ?)", [cut[0], cut[0], cut[1]])
        rows = conn.execute("SELECT h.rid, h.score, h.exact FROM temp.search_hits h CROSS JOIN search_meta m"
                            f" ON m.rid = h.rid{above} ORDER BY h.exact DESC, h.score DESC, m.published_at DESC, m.url"
                            " LIMIT ? OFFSET ?", [*above_params, prep.limit, prep.offset]).fetchall()
        return [(int(r[0]), float(r[1]), bool(r[2])) for r in rows], True

    def _candidates(self, conn: sqlite3.Connection, prep: PreparedSearch, match: str, exact: str | None
                    ) -> list[tuple[int, float, bool]] | None:
        """The relevance page of a very large match set, ranked among candidates instead of
        every match: the newest :data:`RANK_CANDIDATES` matches whose *title* matches the query
        (in its exact spelling when it has diacritics: the page is then all exact-spelling
        matches, which rank first), scored with ``bm25()`` of the whole query.  None when there
        are fewer candidates than the page needs (the caller ranks every match)."""
        needed = prep.offset + prep.limit
        n = conn.execute("INSERT INTO temp.search_candidates(rid) SELECT rowid FROM search_text"
                         " WHERE search_text MATCH ? AND +rowid IN (SELECT rid FROM temp.search_hits) ORDER BY rowid DESC LIMIT ?",
                         [f"{_TITLE_COLUMNS} : ({exact or match})", RANK_CANDIDATES]).rowcount
        if n < needed:
            return None
        low = int(conn.execute("SELECT min(rid) FROM temp.search_candidates").fetchone()[0])
        rows = conn.execute(
            f"SELECT c.rid, c.score FROM (SELECT rowid AS rid, {_SCORE} AS score FROM search_text"
            " WHERE search_text MATCH ? AND rowid >= ? AND +rowid IN temp.search_candidates) c"
            " JOIN search_meta m ON m.rid = c.rid ORDER BY c.score DESC, m.published_at DESC, m.url LIMIT ? OFFSET ?",
            [match, low, prep.limit, prep.offset]).fetchall()
        # candidates of the exact spelling have it: the exact tier comes first, as when ranking all
        return [(int(r[0]), float(r[1]), exact is not None) for r in rows]

    def _ordered_page(self, conn: sqlite3.Connection, prep: PreparedSearch, match: str, exact: str | None,
                      scored: bool, total: int, documents: int) -> list[tuple[int, float, bool]]:
        """A date or views page of the matches, with their scores and exact flags."""
        order = "m.view_count DESC, m.url" if prep.sort is SortOrder.VIEWS else "m.published_at DESC, m.url"
        index = "search_meta_views" if prep.sort is SortOrder.VIEWS else "search_meta_date"
        if _walk_the_order(total, prep, documents):
            # the documents in that order (its index) until a page of them are matches
            sql = (f"SELECT m.rid FROM search_meta m INDEXED BY {index} WHERE m.rid IN (SELECT rid FROM temp.search_hits)"
                   f" ORDER BY {order} LIMIT ? OFFSET ?")
        else:
            sql = (f"SELECT m.rid FROM temp.search_hits h CROSS JOIN search_meta m ON m.rid = h.rid"
                   f" ORDER BY {order} LIMIT ? OFFSET ?")
        rids = [int(r[0]) for r in conn.execute(sql, [prep.limit, prep.offset])]
        if not rids:
            return []
        marks = ", ".join("?" * len(rids))
        if scored:
            scores = dict(conn.execute(f"SELECT rid, score FROM temp.search_hits WHERE rid IN ({marks})", rids))
        else:  # one pass of the index for the page's scores (a rowid list would run the query once per row)
            scores = dict(conn.execute(
                f"SELECT rowid, {_SCORE} FROM search_text WHERE search_text MATCH ? AND rowid BETWEEN ? AND ?"
                f" AND +rowid IN ({marks})", [match, min(rids), max(rids), *rids]))
        exact_ids = self._exact_among(conn, exact, rids)
        return [(rid, float(scores.get(rid) or 0.0), rid in exact_ids) for rid in rids]

    @staticmethod
    def _score_hits(conn: sqlite3.Connection, match: str) -> None:
        """``bm25()`` of every match, in one pass of the index."""
        conn.execute(f"UPDATE temp.search_hits SET score = s.score FROM (SELECT rowid AS rid, {_SCORE} AS score"
                     " FROM search_text WHERE search_text MATCH ? AND +rowid IN (SELECT rid FROM temp.search_hits)) s"
                     " WHERE search_hits.rid = s.rid", [match])

    @staticmethod
    def _mark_exact(conn: sqlite3.Connection, exact: str | None, total: int) -> None:
        """Flag the matches that have every term in its exact spelling."""
        if not exact or not total:
            return
        # one pass of the exact expression (a look-up per match costs more: measured on phrases)
        conn.execute("UPDATE temp.search_hits SET exact = 1 WHERE rid IN (SELECT rowid FROM search_text"
                     " WHERE search_text MATCH ? AND +rowid IN (SELECT rid FROM temp.search_hits))", [exact])

    @staticmethod
    def _exact_among(conn: sqlite3.Connection, exact: str | None, rids: list[int]) -> set[int]:
        """Which of a page's ``rids`` have every term in its exact spelling (one look-up each)."""
        if not exact or not rids:
            return set()
        marks = ", ".join("?" * len(rids))
        return {int(r[0]) for r in conn.execute(
            f"SELECT rowid FROM search_text WHERE search_text MATCH ? AND rowid IN ({marks})", [exact, *rids])}

    @staticmethod
    def _facets(conn: sqlite3.Connection, source: str, cond: str, params: list[Any], total: int, rid: str
                ) -> tuple[FacetCounts, int]:
        """Every facet's (value, count) pairs; above :data:`EXACT_FACETS_UP_TO` matches they are
        counted on every ``step``-th document (by rowid) and scaled, and ``step`` says so."""
        step = 1
        if total > EXACT_FACETS_UP_TO:
            step = -(-total // EXACT_FACETS_UP_TO)
            cond = (cond + " AND " if cond else " WHERE ") + f"{rid} % {step} = 0"
        cols = ", ".join(f"m.{c} AS {c}" for c in _FACET_COLUMNS.values())
        union = " UNION ALL ".join(f"SELECT '{facet.value}', {col}, count(*) FROM f GROUP BY {col}"
                                   for facet, col in _FACET_COLUMNS.items())
        sql = f"WITH f AS MATERIALIZED (SELECT {cols} FROM {source}{cond}) {union}"
        out: FacetCounts = {facet: [] for facet in _FACET_COLUMNS}
        for name, value, count in conn.execute(sql, params):
            out[Facet(name)].append((value, int(count) * step))
        return out, step

    # --- export ----------------------------------------------------------------------------------
    def export_rows(self, conn: sqlite3.Connection, prep: PreparedSearch, batch: int = 500) -> Iterator[sqlite3.Row]:
        """The ``documents`` rows of every match, in export order (portal, newest first, URL)."""
        expr = to_fts5(prep.query)
        where, params = _filters(prep)
        if expr.match:
            where.append("d.rid IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)")
            params.append(expr.match)
        elif expr.exclude:
            where.append("d.rid NOT IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)")
            params.append(expr.exclude)
        join = " JOIN search_meta m ON m.rid = d.rid" if prep.has_filters else ""
        sql = (f"SELECT d.* FROM documents d{join}" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY d.portal_id, d.published_at DESC, d.url")
        cur = conn.execute(sql, params)
        while rows := cur.fetchmany(batch):
            yield from rows


def _walk_the_order(total: int, prep: PreparedSearch, documents: int) -> bool:
    """Whether a date or views page is found faster by walking that order's index, testing
    each document against the matches (a look-up in ``temp.search_hits``), than by sorting all
    ``total`` matches.  Walking reads about (offset + limit) / share documents, each a look-up
    (about WALK_FACTOR times the cost of sorting one match), so it wins once
    ``total ** 2 > WALK_FACTOR * (offset + limit) * documents``."""
    return total > 0 and total * total > WALK_FACTOR * (prep.offset + prep.limit) * documents


@dataclass(frozen=True)
class Narrowing:
    """The FTS5 expression of a search's filter tokens, and whether it says all its filters say
    (then ``search_meta`` need not check them)."""

    expression: str
    exact: bool


def _narrowing(conn: sqlite3.Connection, prep: PreparedSearch) -> Narrowing | None:
    """The filter tokens a search's filters need (every document that passes the filters has
    them), to be ANDed to its words to find the matches: FTS5 then reads the rows that have
    both, instead of every match of the words.  None without a filter that has tokens.  Not
    exact with a views filter (no tokens) or dates that are not whole months; a date range of
    more than :data:`NARROW_MONTHS` months narrows by nothing (its tokens would cost more than
    they save).  ``bm25()`` is unchanged: the ``filters`` column weighs 0."""
    groups: list[list[str]] = []
    exact = prep.min_views is None and prep.province_keys != frozenset()
    if prep.portals:
        groups.append([_token(FilterToken.PORTAL, p) for p in prep.portals])
    if prep.province_keys:
        groups.append([_token(FilterToken.PROVINCE, k) for k in sorted(prep.province_keys)])
    if prep.level:
        groups.append([_token(FilterToken.LEVEL, prep.level)])
    if prep.category_key:
        groups.append([_token(FilterToken.CATEGORY, prep.category_key)])
    if prep.since or prep.until:
        months, whole = _date_tokens(conn, prep.since, prep.until)
        exact = exact and whole
        if months:
            groups.append(months)
    if not groups:
        return None
    column = "{" + FILTER_COLUMN + "}"
    return Narrowing(" AND ".join(f"{column} : ({' OR '.join(group)})" for group in groups), exact)


_MONTH_START = re.compile(r"\d{4}-\d{2}-01\Z")


def _date_tokens(conn: sqlite3.Connection, since: str | None, until: str | None) -> tuple[list[str] | None, bool]:
    """The year and month tokens of the months from ``since`` to ``until`` (``published_at`` >=
    since and < until: until's month is left out when until is its first day), whole years as
    one year token, and whether they say exactly that (both bounds the first day of a month, or
    open).  An open end is the store's first or last date (its date index: instant).  No tokens
    for a range of more than :data:`NARROW_MONTHS` months, or bounds that are not dates."""
    whole = all(bound is None or _MONTH_START.match(bound) for bound in (since, until))
    if not since:
        since = conn.execute("SELECT min(published_at) FROM search_meta").fetchone()[0]
    if not until:
        last = conn.execute("SELECT max(published_at) FROM search_meta").fetchone()[0]
        high, end = _YEAR_MONTH.match(last or ""), 0
    else:
        high, end = _YEAR_MONTH.match(until), 1 if _MONTH_START.match(until) else 0
    low = _YEAR_MONTH.match(since or "")
    if low is None or high is None:
        return None, False
    first, last_month = int(low[1]) * 12 + int(low[2]) - 1, int(high[1]) * 12 + int(high[2]) - 1 - end
    if last_month < first or last_month - first + 1 > NARROW_MONTHS:
        return None, False
    tokens: list[str] = []
    month = first
    while month <= last_month:
        year = month // 12
        if month % 12 == 0 and month + 11 <= last_month:  # a whole year
            tokens.append(f"{FilterToken.YEAR}{year:04d}")
            month += 12
        else:
            tokens.append(f"{FilterToken.MONTH}{year:04d}{month % 12 + 1:02d}")
            month += 1
    return tokens, whole


def _documents(conn: sqlite3.Connection) -> int:
    """The number of documents, as the highest rowid (what the cost estimates need; instant)."""
    return int(conn.execute("SELECT max(rid) FROM search_meta").fetchone()[0] or 0)


def _estimate(conn: sqlite3.Connection, match: str, where: list[str], params: list[Any], documents: int
              ) -> tuple[float, float]:
    """How many documents a query's text will match, and how many of them pass the filters,
    estimated from the newest :data:`PROBE` documents (a rowid range of the index: a few
    look-ups, whatever the size of the store)."""
    if documents <= PROBE:
        return float(documents), float(documents)  # a small store: every way is fast
    passing = f"count(CASE WHEN {' AND '.join(where)} THEN 1 END)" if where else "count(*)"
    join = " CROSS JOIN search_meta m ON m.rid = search_text.rowid" if where else ""
    text, found = conn.execute(f"SELECT count(*), {passing} FROM search_text{join} WHERE search_text MATCH ?"
                               " AND search_text.rowid > ?", [*params, match, documents - PROBE]).fetchone()
    return int(text) * documents / PROBE, int(found) * documents / PROBE


def _clear_temp(conn: sqlite3.Connection) -> None:
    """This connection's scratch tables for one search (``temp``: private to the connection)."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS search_hits(rid INTEGER PRIMARY KEY, score REAL,"
                 " exact INTEGER NOT NULL DEFAULT 0)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS search_passing(rid INTEGER PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS search_candidates(rid INTEGER PRIMARY KEY)")
    for table in ("search_hits", "search_passing", "search_candidates"):
        conn.execute(f"DELETE FROM temp.{table}")


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction for the statements of a search, so they all see the same documents."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _filters(prep: PreparedSearch) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``search_meta m`` for the filters of a search."""
    where: list[str] = []
    params: list[Any] = []
    if prep.portals:
        where.append(f"m.portal_id IN ({', '.join('?' * len(prep.portals))})")
        params += prep.portals
    if prep.province_keys is not None:
        keys = sorted(prep.province_keys) or [""]
        marks = ", ".join("?" * len(keys))
        where.append(f"(m.province_key IN ({marks}) OR m.current_key IN ({marks}))")
        params += keys + keys
    single: tuple[tuple[str, Any], ...] = (
        ("m.level = ?", prep.level or None), ("m.category_key = ?", prep.category_key or None),
        ("m.published_at >= ?", prep.since or None), ("m.published_at < ?", prep.until or None),
        ("m.view_count >= ?", prep.min_views))
    for condition, value in single:  # one value each, a filter left out when it is None
        if value is not None:
            where.append(condition)
            params.append(value)
    return where, params


def document_from_row(row: sqlite3.Row) -> Document:
    """A :class:`Document` from a ``documents`` row."""
    names = Document.__dataclass_fields__
    data: dict[str, Any] = {k: row[k] for k in row.keys() if k in names and k != "extra"}  # noqa: SIM118
    doc = Document(**data)
    if row["extra"]:
        doc.extra.update(json.loads(row["extra"]))
    return doc
