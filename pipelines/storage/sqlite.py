"""Embedded store: one SQLite file with FTS5 full-text indices.

Two FTS5 tables index every document: ``docs_fold`` holds diacritic-folded text
("hoi nghi" finds "Hội nghị") and ``docs_exact`` the text as written, so that an
exact diacritic match ranks above a folded one.  Crawl state (``pages``, ``runs``)
lives in the same file.  Connections are per thread; WAL mode lets the CLI read
while a crawl writes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.storage.base import (
    FIELD_WEIGHTS,
    RUN_TOTAL_FIELDS,
    CoverageRow,
    Document,
    ExportFilter,
    PageRecord,
    RunRecord,
    SearchHit,
    SearchQuery,
    Store,
    StoreError,
    UpsertResult,
    _day_after,
    apply_run,
    canonical_url,
    check_recent_field,
    date_bounds,
    parse_instant,
    snippet_source,
)
from pipelines.storage.coordination_sqlite import (
    SQLiteCoordination,
    add_observation,
    archive_version,
    coordination_schema_script,
)
from pipelines.storage.textsearch import exact_match, fold, make_snippet, parse_query

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_DOC_COLUMNS = (
    "id", "url", "portal_id", "portal_name", "province", "level", "title", "published_at",
    "date_precision", "view_count", "body", "summary", "author", "category", "crawled_at",
    "profile", "content_hash",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS documents (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    portal_id TEXT NOT NULL,
    portal_name TEXT, province TEXT, level TEXT,
    title TEXT NOT NULL,
    published_at TEXT, date_precision TEXT,
    view_count INTEGER,
    body TEXT NOT NULL,
    summary TEXT, author TEXT, category TEXT,
    crawled_at TEXT, first_seen_at TEXT,
    profile TEXT,
    content_hash TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    extra TEXT
);
CREATE INDEX IF NOT EXISTS documents_portal ON documents(portal_id, published_at);
CREATE INDEX IF NOT EXISTS documents_published ON documents(published_at);
CREATE INDEX IF NOT EXISTS documents_province ON documents(province);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fold USING fts5(
    title, summary, body, tokenize = 'unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS docs_exact USING fts5(
    title, summary, body, tokenize = 'unicode61 remove_diacritics 0');
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY,
    portal_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status INTEGER,
    content_hash TEXT,
    doc_id TEXT,
    reason TEXT,
    first_seen_at TEXT,
    fetched_at TEXT
);
CREATE INDEX IF NOT EXISTS pages_portal ON pages(portal_id, kind);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    portal_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_portal ON runs(portal_id, started_at);
"""

# Relevance score (see base.FIELD_WEIGHTS): weighted count of the query terms found per column.
_TERM_IN_COLUMN = "(d.rid IN (SELECT rowid FROM docs_fold WHERE docs_fold MATCH ?)) * {weight}"



def _switch_to_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Put the file in WAL mode; another process doing the same first can make it "locked"."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)

class SQLiteStore(SQLiteCoordination, Store):
    """SQLite + FTS5 store.  ``path`` may be ``:memory:`` only for single-thread use."""

    def __init__(self, path: str | Path, url: str = "") -> None:
        self.path = str(path)
        self.url = url or f"sqlite:///{self.path}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened = False

    # --- connection handling ----------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from None
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("PRAGMA busy_timeout=30000")
                _switch_to_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreError(f"{self.path} is not a usable portalnews SQLite store: {exc}") from None
            self._local.conn = conn
            with self._lock:
                self._all_conns().append(conn)
        return conn

    def _all_conns(self) -> list[sqlite3.Connection]:
        conns: list[sqlite3.Connection] | None = getattr(self, "_conns", None)
        if conns is None:
            conns = []
            self._conns = conns
        return conns

    def open(self) -> None:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create folder {parent} for the SQLite store: {exc}") from None
        conn: sqlite3.Connection | None = None
        try:
            conn = self._conn()
            # One write transaction taken up front (BEGIN IMMEDIATE waits on the busy timeout):
            # workers that open one new store together queue instead of failing with "locked".
            conn.executescript(
                "BEGIN IMMEDIATE;\n" + _SCHEMA
                + f"INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');\n"
                + coordination_schema_script()  # leases, calendar, back-off, view history, versions
                + "COMMIT;")
        except sqlite3.DatabaseError as exc:
            if conn is not None and conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise StoreError(f"{self.path} is not a usable portalnews SQLite store: {exc}") from None
        self._opened = True

    def close(self) -> None:
        with self._lock:
            for conn in self._all_conns():
                with contextlib.suppress(sqlite3.Error):  # closing is best effort
                    conn.close()
            self._all_conns().clear()
        self._local = threading.local()
        self._opened = False

    # --- documents -----------------------------------------------------------
    def upsert_documents(self, docs: Sequence[Document]) -> UpsertResult:
        result = UpsertResult()
        if not docs:
            return result
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for doc in docs:
                result.add(self._upsert_one(conn, doc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"SQLite write failed ({self.path}): {exc}") from exc
        return result

    def _upsert_one(self, conn: sqlite3.Connection, doc: Document) -> UpsertResult:
        row = conn.execute(
            "SELECT rid, content_hash, view_count, first_seen_at, version FROM documents WHERE id = ?",
            (doc.id,),
        ).fetchone()
        values = [getattr(doc, c) for c in _DOC_COLUMNS]
        extra = json.dumps(doc.extra, ensure_ascii=False) if doc.extra else None
        if row is None:
            cur = conn.execute(
                f"INSERT INTO documents ({', '.join(_DOC_COLUMNS)}, first_seen_at, extra) "
                f"VALUES ({', '.join('?' * (len(_DOC_COLUMNS) + 2))})",
                [*values, doc.crawled_at, extra],
            )
            self._index(conn, int(cur.lastrowid or 0), doc, replace=False)
            add_observation(conn, doc)
            return UpsertResult(inserted=1)
        rid = int(row["rid"])
        changed = row["content_hash"] != doc.content_hash
        sets = ", ".join(f"{c} = ?" for c in _DOC_COLUMNS)
        version = int(row["version"]) + (1 if changed else 0)
        if changed:  # nothing is overwritten silently: the previous content is kept as its version
            archive_version(conn, rid, doc.crawled_at)
        add_observation(conn, doc)
        conn.execute(
            f"UPDATE documents SET {sets}, extra = ?, version = ? WHERE rid = ?",
            [*values, extra, version, rid],
        )
        if changed:
            self._index(conn, rid, doc, replace=True)
            return UpsertResult(updated=1)
        if row["view_count"] != doc.view_count:
            return UpsertResult(updated=1)
        return UpsertResult(unchanged=1)

    @staticmethod
    def _index(conn: sqlite3.Connection, rid: int, doc: Document, replace: bool) -> None:
        if replace:
            conn.execute("DELETE FROM docs_fold WHERE rowid = ?", (rid,))
            conn.execute("DELETE FROM docs_exact WHERE rowid = ?", (rid,))
        summary = doc.summary or ""
        conn.execute(
            "INSERT INTO docs_fold(rowid, title, summary, body) VALUES (?, ?, ?, ?)",
            (rid, fold(doc.title), fold(summary), fold(doc.body)),
        )
        conn.execute(
            "INSERT INTO docs_exact(rowid, title, summary, body) VALUES (?, ?, ?, ?)",
            (rid, doc.title.lower(), summary.lower(), doc.body.lower()),
        )

    @staticmethod
    def _row_to_doc(row: sqlite3.Row) -> Document:
        data: dict[str, Any] = {c: row[c] for c in _DOC_COLUMNS}
        doc = Document(**data)
        if row["extra"]:
            doc.extra.update(json.loads(row["extra"]))
        return doc

    def get_document(self, doc_id: str) -> Document | None:
        row = self._conn().execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return self._row_to_doc(row) if row else None

    def iter_documents(self, flt: ExportFilter | None = None) -> Iterator[Document]:
        flt = flt or ExportFilter()
        where, params = self._filters(flt.portals, None, flt.since, flt.until, None)
        sql = "SELECT * FROM documents d" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY d.portal_id, d.published_at DESC, d.url"
        cur = self._conn().execute(sql, params)
        while True:
            rows = cur.fetchmany(500)
            if not rows:
                break
            for row in rows:
                yield self._row_to_doc(row)

    def count_documents(self, portal_id: str | None = None) -> int:
        if portal_id:
            row = self._conn().execute(
                "SELECT COUNT(*) FROM documents WHERE portal_id = ?", (portal_id,)).fetchone()
        else:
            row = self._conn().execute("SELECT COUNT(*) FROM documents").fetchone()
        return int(row[0])

    @staticmethod
    def _filters(portals: list[str], province: str | None, since: str | None, until: str | None,
                 min_views: int | None) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if portals:
            where.append(f"d.portal_id IN ({', '.join('?' * len(portals))})")
            params.extend(portals)
        if province:
            where.append("(d.province = ? COLLATE NOCASE OR d.province = ?)")
            params.extend([province, province])
        lo, hi = date_bounds(since, until)
        if lo:
            where.append("d.published_at >= ?")
            params.append(lo)
        if hi:
            where.append("d.published_at < ?")
            params.append(hi)
        if min_views is not None:
            where.append("d.view_count >= ?")
            params.append(min_views)
        return where, params

    def search(self, query: SearchQuery) -> list[SearchHit]:
        parsed = parse_query(query.text)
        province = query.province
        where, params = self._filters(query.portals, province, query.since, query.until, query.min_views)
        conn = self._conn()
        if province:
            # Province names are matched without diacritics too ("Phu Yen" = "Phú Yên").
            where = [w for w in where if "province" not in w]
            params = [p for p in params if p != province]
            conn.create_function("pn_fold", 1, lambda s: fold(s) if s else s, deterministic=True)
            where.append("pn_fold(d.province) = ?")
            params.append(fold(province))
        order = {  # ties are broken by URL, like the search-engine backends do
            "date": "d.published_at IS NULL, d.published_at DESC, d.url",
            "views": "d.view_count IS NULL, d.view_count DESC, d.url",
        }.get(query.sort)
        if parsed.terms:
            exact_expr = parsed.fts5(folded=False) if parsed.has_diacritics else None
            score_parts, score_args = [], []
            for term in parsed.folded_terms:
                phrase = '"' + " ".join(w.replace('"', "") for w in term) + '"'
                for column, weight in FIELD_WEIGHTS:
                    score_parts.append(_TERM_IN_COLUMN.format(weight=weight))
                    score_args.append(f"{column} : {phrase}")
            sql = (
                f"SELECT d.*, ({' + '.join(score_parts)}) AS score"
                + (", (e.rowid IS NOT NULL) AS exact" if exact_expr else ", 0 AS exact")
                + " FROM docs_fold JOIN documents d ON d.rid = docs_fold.rowid"
                + (" LEFT JOIN (SELECT rowid FROM docs_exact WHERE docs_exact MATCH ?) e"
                   " ON e.rowid = d.rid" if exact_expr else "")
                + " WHERE docs_fold MATCH ?"
                + ("".join(" AND " + w for w in where))
                + " ORDER BY " + (order or "exact DESC, score DESC, d.published_at IS NULL, d.published_at DESC,"
                                           " d.url")
                + " LIMIT ? OFFSET ?"
            )
            lowered = [tuple(w.lower() for w in t) for t in parsed.terms]
            exact_param = " AND ".join('"' + " ".join(t) + '"' for t in lowered)
            args: list[Any] = [*score_args, *([exact_param] if exact_expr else []), parsed.fts5(folded=True),
                               *params, query.limit, query.offset]
        else:
            sql = ("SELECT d.*, 0.0 AS score, 0 AS exact FROM documents d"
                   + (" WHERE " + " AND ".join(where) if where else "")
                   + " ORDER BY " + (order or "d.published_at IS NULL, d.published_at DESC, d.url")
                   + " LIMIT ? OFFSET ?")
            args = [*params, query.limit, query.offset]
        try:
            rows = conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"search failed: {exc}") from None
        hits = []
        for row in rows:
            doc = self._row_to_doc(row)
            text = doc.title + " \n " + (doc.summary or "") + " \n " + doc.body
            exact = bool(row["exact"]) or (parsed.has_diacritics and exact_match(text, parsed))
            snippet_src = doc.body if not parsed.terms else snippet_source(doc, parsed)
            hits.append(SearchHit(document=doc, score=float(row["score"] or 0.0),
                                  snippet=make_snippet(snippet_src, parsed), exact=exact))
        return hits

    # --- crawl state ----------------------------------------------------------
    def record_pages(self, pages: Sequence[PageRecord]) -> None:
        if not pages:
            return
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO pages(url, portal_id, kind, status, content_hash, doc_id, reason,"
                " first_seen_at, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(url) DO UPDATE SET portal_id = excluded.portal_id, kind = excluded.kind,"
                " status = excluded.status, content_hash = COALESCE(excluded.content_hash, pages.content_hash),"
                " doc_id = COALESCE(excluded.doc_id, pages.doc_id), reason = excluded.reason,"
                " fetched_at = excluded.fetched_at",
                [(canonical_url(p.url), p.portal_id, p.kind, p.status, p.content_hash, p.doc_id, p.reason,
                  p.fetched_at, p.fetched_at) for p in pages],
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"SQLite write failed ({self.path}): {exc}") from exc

    def known_pages(self, portal_id: str) -> dict[str, str]:
        conn = self._conn()
        # Stored documents count as known articles even when their page record was not
        # written yet (a crawl killed between the two writes must not refetch them).
        known = {canonical_url(r["url"]): "article"
                 for r in conn.execute("SELECT url FROM documents WHERE portal_id = ?", (portal_id,))}
        for r in conn.execute("SELECT url, kind FROM pages WHERE portal_id = ?", (portal_id,)):
            known[r["url"]] = r["kind"]
        return known

    def save_run(self, run: RunRecord) -> None:
        data = json.dumps(asdict(run), ensure_ascii=False)
        self._conn().execute(
            "INSERT INTO runs(run_id, portal_id, started_at, finished_at, outcome, data) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id) DO UPDATE SET finished_at = excluded.finished_at,"
            " outcome = excluded.outcome, data = excluded.data",
            (run.run_id, run.portal_id, run.started_at, run.finished_at, run.outcome, data),
        )

    def runs(self, portal_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        if portal_id:
            rows = self._conn().execute(
                "SELECT data FROM runs WHERE portal_id = ? ORDER BY started_at DESC LIMIT ?",
                (portal_id, limit))
        else:
            rows = self._conn().execute("SELECT data FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
        return [RunRecord(**json.loads(r["data"])) for r in rows]

    def coverage(self) -> list[CoverageRow]:
        conn = self._conn()
        out: dict[str, CoverageRow] = {}
        for r in conn.execute(
            "SELECT portal_id, COUNT(*) AS n, MAX(published_at) AS newest FROM documents GROUP BY portal_id"
        ):
            out[r["portal_id"]] = CoverageRow(portal_id=r["portal_id"], articles=int(r["n"]),
                                              newest_article=r["newest"])
        for r in conn.execute(
            "SELECT r.portal_id, r.data FROM runs r JOIN (SELECT portal_id, MAX(started_at) AS s FROM runs"
            " GROUP BY portal_id) m ON m.portal_id = r.portal_id AND m.s = r.started_at"
        ):
            run = RunRecord(**json.loads(r["data"]))
            row = out.setdefault(run.portal_id, CoverageRow(portal_id=run.portal_id))
            apply_run(row, run)
        return [out[k] for k in sorted(out)]

    # --- monitoring ----------------------------------------------------------------------------
    # Instants are compared with julianday(), which reads the UTC offset of ISO strings, so
    # "2026-02-28T01:00:00+07:00" and "2026-02-27T18:00:00+00:00" are the same moment.
    def recent_counts(self, since: Mapping[str, str], field: str = "published_at") -> dict[str, dict[str, int]]:
        check_recent_field(field)
        labels = list(since)
        if not labels:
            return {}
        bounds = [parse_instant(since[label]) for label in labels]
        known = [b for b in bounds if b is not None]
        if not known:
            return {}
        cols = ", ".join(f"SUM(julianday({field}) >= julianday(?)) AS c{i}" for i in range(len(labels)))
        sql = (f"SELECT portal_id, {cols} FROM documents WHERE {field} IS NOT NULL"
               f" AND julianday({field}) >= julianday(?) GROUP BY portal_id")
        params = [b.isoformat() if b is not None else "9999-12-31" for b in bounds] + [min(known).isoformat()]
        out: dict[str, dict[str, int]] = {}
        for row in self._conn().execute(sql, params):
            out[row["portal_id"]] = {label: int(row[f"c{i}"] or 0) for i, label in enumerate(labels)}
        return out

    def published_per_day(self, since: str | None = None, until: str | None = None) -> dict[str, dict[str, int]]:
        where, params = ["published_at IS NOT NULL"], []
        if since:
            where.append("julianday(published_at) >= julianday(?)")
            params.append(f"{since[:10]}T00:00:00+07:00")
        if until:
            where.append("julianday(published_at) < julianday(?)")
            params.append(f"{_day_after(until)}T00:00:00+07:00")
        sql = ("SELECT portal_id, date(published_at, '+7 hours') AS day, COUNT(*) AS n FROM documents"
               f" WHERE {' AND '.join(where)} GROUP BY portal_id, day")
        out: dict[str, dict[str, int]] = {}
        for row in self._conn().execute(sql, params):
            if row["day"]:
                out.setdefault(row["portal_id"], {})[row["day"]] = int(row["n"])
        return out

    def run_totals(self) -> dict[str, dict[str, int]]:
        sums = ", ".join(f"SUM(COALESCE(json_extract(data, '$.{name}'), 0)) AS {name}" for name in RUN_TOTAL_FIELDS)
        sql = (f"SELECT portal_id, outcome, COUNT(*) AS n, {sums} FROM runs"
               " WHERE outcome IS NOT NULL AND outcome != 'running' GROUP BY portal_id, outcome")
        out: dict[str, dict[str, int]] = {}
        for row in self._conn().execute(sql):
            t = out.setdefault(row["portal_id"], dict.fromkeys(RUN_TOTAL_FIELDS, 0))
            t[f"runs/{row['outcome']}"] = int(row["n"])
            for name in RUN_TOTAL_FIELDS:
                t[name] += int(row[name] or 0)
        return out



__all__ = ["SQLiteStore", "apply_run", "date_bounds"]  # apply_run/date_bounds now live in base
