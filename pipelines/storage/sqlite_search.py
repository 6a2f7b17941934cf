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
* ``search_meta`` — one narrow row per document (rowid = ``documents.rid``) with what searches
  filter, sort and count by: portal, URL, date, month, views, province keys, current province,
  level, category.  Its indexes serve the date and views orders and the filters; facets group
  its rows, never the wide ``documents`` rows.

:class:`SearchIndex` keeps both in step with ``documents`` (inside the caller's transaction)
and answers :meth:`SearchIndex.search`.  Schema: step 3 of :mod:`pipelines.storage.migrations`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from pipelines.search import Abbreviations
from pipelines.search.analysis import index_text
from pipelines.search.fields import Form, TextField, column_weights, field_name
from pipelines.search.fts5 import to_fts5
from pipelines.storage.base import Document, Facet, SortOrder
from pipelines.storage.searching import EXACT_FACETS_UP_TO, PreparedSearch, indexed_values

logger = logging.getLogger(__name__)

__all__ = ["COLUMNS", "FacetCounts", "Found", "SearchIndex", "document_from_row"]

#: The FTS5 columns, field by field: title_exact, title_folded, summary_exact …
COLUMNS: tuple[str, ...] = tuple(field_name(f, form) for f in TextField for form in (Form.EXACT, Form.FOLDED))
_WEIGHTS = ", ".join(f"{w:g}" for w in column_weights(COLUMNS))
_SCORE = f"-bm25(search_text, {_WEIGHTS})"
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
WALK_FACTOR = 150

Texts = tuple[str | None, str | None, str | None]  # title, summary, body
FacetCounts = dict[Facet, list[tuple[Any, int]]]


class Found:
    """What :meth:`SearchIndex.search` found: the page (rid, score, exact), the total, and the
    facet counts (with the sampling step they were counted with: 1 = exact)."""

    def __init__(self, page: list[tuple[int, float, bool]], total: int, facets: FacetCounts | None,
                 facet_step: int) -> None:
        self.page = page
        self.total = total
        self.facets = facets
        self.facet_step = facet_step


def _texts(doc: Document | sqlite3.Row | Mapping[str, Any]) -> Texts:
    get = (lambda k: getattr(doc, k)) if isinstance(doc, Document) else (lambda k: doc[k])
    return get("title"), get("summary"), get("body")


def _row_values(texts: Texts, abbr: Abbreviations | None, keys: Mapping[str, Any] | None = None
                ) -> tuple[list[str], dict[str, list[list[str]]]]:
    """The six column values of a document's text, and the abbreviation keys each field got
    (``keys``: use those, the ones it was indexed with)."""
    values: list[str] = []
    used: dict[str, list[list[str]]] = {}
    for f, text in zip(TextField, texts, strict=True):
        given = keys.get(f.value) if keys is not None else None
        if keys is not None:
            it = index_text(text, keys=(given[0], given[1]) if given else ((), ()))
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
        (``title``, ``summary``, ``body``, ``index_keys``), whose tokens are removed first when
        the text changed; only the filter values are rewritten otherwise."""
        texts = _texts(doc)
        keys_json: str | None
        if previous is not None and _texts(previous) == texts:
            keys_json = previous["index_keys"]
        else:
            if previous is not None:
                self.remove_text(conn, rid, _texts(previous), previous["index_keys"])
            values, used = _row_values(texts, self.abbreviations)
            conn.execute(_INSERT_TEXT, [rid, *values])
            keys_json = json.dumps(used, ensure_ascii=False, separators=(",", ":")) if used else None
        v = indexed_values(doc)
        conn.execute(_UPSERT_META, [rid, doc.portal_id, doc.url, doc.published_at, v["month"], doc.view_count,
                                    v["province_key"], v["current_key"], doc.current_province, doc.level,
                                    doc.category, v["category_key"], keys_json])

    @staticmethod
    def remove_text(conn: sqlite3.Connection, rid: int, texts: Texts, keys_json: str | None) -> None:
        """Remove the tokens a row was indexed with (contentless FTS5 needs them given back)."""
        keys = json.loads(keys_json) if keys_json else {}
        values, _ = _row_values(texts, None, keys)
        conn.execute(_DELETE_TEXT, [rid, *values])

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

    # --- searching -----------------------------------------------------------------------------
    def search(self, conn: sqlite3.Connection, prep: PreparedSearch) -> Found:
        expr = to_fts5(prep.query)
        where, params = _filters(prep)
        if expr.match:
            source = "search_text CROSS JOIN search_meta m ON m.rid = search_text.rowid"
            where = ["search_text MATCH ?", *where]
            params = [expr.match, *params]
        else:
            source = "search_meta m"
            if expr.exclude:
                where.append("m.rid NOT IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)")
                params.append(expr.exclude)
        cond = " WHERE " + " AND ".join(where) if where else ""
        # without filters the matches are counted on the full-text index alone
        counted = "search_text" if expr.match and not prep.has_filters else source
        total = int(conn.execute(f"SELECT count(*) FROM {counted}{cond}", params).fetchone()[0])
        if expr.match and prep.sort is not SortOrder.RELEVANCE and _walk_the_order(conn, prep, total):
            page = self._page_in_order(conn, prep, expr.match, expr.exact)
        else:
            page = self._page(conn, prep, expr.match, expr.exact, source, cond, params)
        facets, step = (self._facets(conn, source, cond, params, total) if prep.facets else (None, 1))
        return Found(page, total, facets, step)

    def _page_in_order(self, conn: sqlite3.Connection, prep: PreparedSearch, match: str, exact: str | None
                       ) -> list[tuple[int, float, bool]]:
        """A date or views page of a query most documents match: the documents in that order
        (its index) until a page of them matches, instead of sorting every match."""
        where, params = _filters(prep)
        where.append("EXISTS (SELECT 1 FROM search_text WHERE search_text MATCH ? AND search_text.rowid = m.rid)")
        params.append(match)
        order = "m.view_count DESC, m.url" if prep.sort is SortOrder.VIEWS else "m.published_at DESC, m.url"
        rids = [int(r[0]) for r in conn.execute(
            f"SELECT m.rid FROM search_meta m WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, prep.limit, prep.offset])]
        return self._scored(conn, rids, match, exact)

    def _page(self, conn: sqlite3.Connection, prep: PreparedSearch, match: str | None, exact: str | None,
              source: str, cond: str, params: list[Any]) -> list[tuple[int, float, bool]]:
        window = [prep.limit, prep.offset]
        if match and prep.sort is SortOrder.RELEVANCE:
            exact_sql = "(search_text.rowid IN (SELECT rowid FROM search_text WHERE search_text MATCH ?))" \
                if exact else "0"
            sql = (f"SELECT m.rid, {_SCORE} AS score, {exact_sql} AS exact FROM {source}{cond}"
                   " ORDER BY exact DESC, score DESC, m.published_at DESC, m.url LIMIT ? OFFSET ?")
            rows = conn.execute(sql, [*([exact] if exact else []), *params, *window]).fetchall()
            return [(int(r[0]), float(r[1]), bool(r[2])) for r in rows]
        order = "m.view_count DESC, m.url" if prep.sort is SortOrder.VIEWS else "m.published_at DESC, m.url"
        rids = [int(r[0]) for r in conn.execute(f"SELECT m.rid FROM {source}{cond} ORDER BY {order} LIMIT ? OFFSET ?",
                                                [*params, *window])]
        return self._scored(conn, rids, match, exact)

    @staticmethod
    def _scored(conn: sqlite3.Connection, rids: list[int], match: str | None, exact: str | None
                ) -> list[tuple[int, float, bool]]:
        """The page ``rids`` (in their order) with their scores and exact flags."""
        if not match or not rids:
            return [(rid, 0.0, False) for rid in rids]
        marks = ", ".join("?" * len(rids))
        scores = dict(conn.execute(f"SELECT rowid, {_SCORE} FROM search_text WHERE search_text MATCH ?"
                                   f" AND rowid IN ({marks})", [match, *rids]).fetchall())
        exact_ids: set[int] = set()
        if exact:
            exact_ids = {int(r[0]) for r in conn.execute(
                f"SELECT rowid FROM search_text WHERE search_text MATCH ? AND rowid IN ({marks})", [exact, *rids])}
        return [(rid, float(scores.get(rid, 0.0)), rid in exact_ids) for rid in rids]

    @staticmethod
    def _facets(conn: sqlite3.Connection, source: str, cond: str, params: list[Any], total: int
                ) -> tuple[FacetCounts, int]:
        """Every facet's (value, count) pairs; above :data:`EXACT_FACETS_UP_TO` matches they are
        counted on every ``step``-th document (by rowid) and scaled, and ``step`` says so."""
        step = 1
        if total > EXACT_FACETS_UP_TO:
            step = -(-total // EXACT_FACETS_UP_TO)
            # on the full-text index's own rowids when there is one: no document is looked up
            # only to be skipped
            rid = "search_text.rowid" if source.startswith("search_text") else "m.rid"
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


def _walk_the_order(conn: sqlite3.Connection, prep: PreparedSearch, total: int) -> bool:
    """Whether a date or views page is found faster by walking that order's index, testing
    each document against the query, than by sorting all ``total`` matches.  Walking reads
    about (offset + limit) / share documents, each tested with a look-up of the query (measured
    about 150 times the cost of sorting one match), so it wins once
    ``total ** 2 > WALK_FACTOR * (offset + limit) * documents``: above about 17 % of 100,000 documents
    for a first page, 5 % of 1,000,000."""
    if total <= 0:
        return False
    documents = int(conn.execute("SELECT max(rid) FROM search_meta").fetchone()[0] or 0)
    return total * total > WALK_FACTOR * (prep.offset + prep.limit) * documents


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
    if prep.level:
        where.append("m.level = ?")
        params.append(prep.level)
    if prep.category_key:
        where.append("m.category_key = ?")
        params.append(prep.category_key)
    if prep.since:
        where.append("m.published_at >= ?")
        params.append(prep.since)
    if prep.until:
        where.append("m.published_at < ?")
        params.append(prep.until)
    if prep.min_views is not None:
        where.append("m.view_count >= ?")
        params.append(prep.min_views)
    return where, params


def document_from_row(row: sqlite3.Row) -> Document:
    """A :class:`Document` from a ``documents`` row."""
    names = Document.__dataclass_fields__
    data: dict[str, Any] = {k: row[k] for k in row.keys() if k in names and k != "extra"}  # noqa: SIM118
    doc = Document(**data)
    if row["extra"]:
        doc.extra.update(json.loads(row["extra"]))
    return doc
