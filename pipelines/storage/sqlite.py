"""Embedded store: one SQLite file with an FTS5 full-text index.

Documents live in ``documents``; the search language (:mod:`pipelines.search`) runs on a
contentless FTS5 table of their exact and folded words and a narrow filter/facet table, kept
in step by :class:`pipelines.storage.sqlite_search.SearchIndex`.  The article history
(``view_history``, ``versions``), the crawl state (``pages``, ``runs``) and the coordination
tables (:mod:`pipelines.storage.coordination_sqlite`) live in the same file; the tables are
defined by the steps of :mod:`pipelines.storage.migrations`, and ``PRAGMA user_version``
holds the schema version.  Connections are per thread; WAL mode lets the CLI read while
a crawl writes.
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

from pipelines.search import Abbreviations, abbreviations_from_settings
from pipelines.storage import migrations
from pipelines.storage.base import (
    MAX_OBSERVATIONS,
    RUN_TOTAL_FIELDS,
    CoverageRow,
    Document,
    DocumentHistory,
    DocumentVersion,
    ExportFilter,
    MigrationReport,
    Observation,
    PageRecord,
    RecentDocument,
    RunRecord,
    SearchQuery,
    SearchResult,
    Store,
    StoreError,
    UpsertResult,
    _day_after,
    apply_run,
    canonical_url,
    check_recent_field,
    merge_observations,
    now_iso,
    parse_instant,
    sort_story,
)
from pipelines.storage.coordination_sqlite import SQLiteCoordination
from pipelines.storage.searching import facet_values, make_hit, prepare
from pipelines.storage.sqlite_search import SearchIndex, document_from_row
from pipelines.storage.stories_sqlite import add_document, add_unsigned, reconcile_sqlite
from pipelines.storage.watchlists_sqlite import SQLiteWatchlists
from pipelines.stories.reconcile import ReconcileReport

logger = logging.getLogger(__name__)

#: FTS5's default ``automerge``.
_FTS5_AUTOMERGE = 4
#: The page cache of a bulk import (KiB): the indexes of a large store stay in memory.
_BULK_CACHE_KIB = 256 * 1024

_DOC_COLUMNS = (
    "id", "url", "portal_id", "portal_name", "province", "current_province", "level", "title", "published_at",
    "date_precision", "view_count", "body", "summary", "author", "category", "crawled_at",
    "profile", "content_hash",
)


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


class SQLiteStore(SQLiteCoordination, SQLiteWatchlists, Store):
    """SQLite + FTS5 store.  ``path`` may be ``:memory:`` only for single-thread use."""

    def __init__(self, path: str | Path, url: str = "") -> None:
        self.path = str(path)
        self.url = url or f"sqlite:///{self.path}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._abbreviations: Abbreviations | None = None
        self._index: SearchIndex | None = None
        #: Set by :meth:`bulk_import` with ``stories=False``: new documents are not signed.
        self._stories_later = False

    @property
    def search_index(self) -> SearchIndex:
        """The full-text index, with the abbreviations of ``PORTALNEWS_ABBREVIATIONS`` (read once)."""
        if self._index is None:
            self._abbreviations = abbreviations_from_settings(None)
            self._index = SearchIndex(self._abbreviations)
        return self._index

    # --- connection handling ----------------------------------------------
    @property
    def abbreviations(self) -> Abbreviations:
        """The abbreviations documents are indexed and searched with (``PORTALNEWS_ABBREVIATIONS``, read once)."""
        return self.search_index.abbreviations

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
                # a search's scratch tables (sqlite_search: temp.search_hits …) stay in memory
                conn.execute("PRAGMA temp_store=MEMORY")
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreError(f"{self.path} is not a usable portalnews SQLite store: {exc}") from None
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def open(self, create: bool = True) -> None:
        if self.path != ":memory:" and not create:
            if not Path(self.path).is_file():
                raise StoreError(f"no portalnews store at {self.path} (SQLite): check --store (or PORTALNEWS_STORE); "
                                 "`portalnews crawl` creates a store, this command only reads one")
            if Path(self.path).stat().st_size == 0:
                raise StoreError(f"{self.path} is an empty file, not a portalnews store: check --store "
                                 "(or PORTALNEWS_STORE)")
        if self.path != ":memory:" and create:
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create folder {parent} for the SQLite store: {exc}") from None
        with self._usable():
            conn = self._conn()
            if self._version(conn) == 0:
                if not create:
                    raise StoreError(f"{self.path} is not a portalnews store (no portalnews table in it): "
                                     "check --store (or PORTALNEWS_STORE)")
                self._upgrade()  # a new store: every step from version 0
            migrations.check_version(self._version(conn), f"SQLite store {self.path}", self.url)
            self._check_abbreviations(conn)

    def _check_abbreviations(self, conn: sqlite3.Connection) -> None:
        """Say once when the documents were indexed with another abbreviation list."""
        row = conn.execute("SELECT value FROM store_meta WHERE key = 'abbreviations'").fetchone()
        current = self.search_index.abbreviations.fingerprint
        if row is None:
            with self._immediate() as c:
                c.execute("INSERT OR IGNORE INTO store_meta(key, value) VALUES ('abbreviations', ?)", (current,))
        elif row[0] != current:
            logger.warning("%s was indexed with another list of abbreviations: documents indexed before "
                           "know only the old ones until `portalnews reindex --store %s`", self.path, self.url)

    @contextlib.contextmanager
    def _usable(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable portalnews SQLite store: {exc}") from None

    def _version(self, conn: sqlite3.Connection) -> int:
        """The schema version: ``user_version``; 1 for stores written before it was recorded
        there; 0 for a new, empty file."""
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version:
            return version
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "documents" in tables:
            return 1
        if tables:
            raise StoreError(f"{self.path} is an SQLite database but not a portalnews store "
                             f"(tables: {', '.join(sorted(tables)[:5])})")
        return 0

    def _upgrade(self) -> list[migrations.Migration]:
        """Run the pending steps in one write transaction (workers that open one new store
        together queue on it instead of failing)."""
        with self._immediate() as conn:
            steps = migrations.pending(self._version(conn))  # again, under the lock
            for step in steps:
                for statement in migrations.sqlite_statements(step.sqlite):
                    conn.execute(statement)
                if step.sqlite_after is not None:
                    step.sqlite_after(conn)
            conn.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION}")
        return steps

    def migrate(self) -> MigrationReport:
        if self.path == ":memory:" or not Path(self.path).is_file():
            raise StoreError(f"no portalnews store at {self.path} (SQLite): nothing to migrate")
        with self._usable():
            conn = self._conn()
            version = self._version(conn)
            if version >= migrations.SCHEMA_VERSION:
                migrations.check_version(version, f"SQLite store {self.path}", self.url)  # newer: say so
                return MigrationReport(self.url, version, version)
            backup = self._backup(version)
            steps = self._upgrade()
        logger.info("migrated %s from schema version %d to %d (backup %s)", self.path, version,
                    migrations.SCHEMA_VERSION, backup)
        return MigrationReport(self.url, version, migrations.SCHEMA_VERSION, str(backup), [m.summary for m in steps])

    def _backup(self, version: int) -> Path:
        """A consistent copy of the file next to it, ``NAME.vN-backup.db`` (``-2`` … when taken)."""
        path = Path(self.path)
        target = path.with_name(f"{path.stem}.v{version}-backup{path.suffix}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.stem}.v{version}-backup-{n}{path.suffix}")
        copy = sqlite3.connect(target)
        try:
            self._conn().backup(copy)
        finally:
            copy.close()
        return target

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):  # closing is best effort
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    # --- documents -----------------------------------------------------------
    def upsert_documents(self, docs: Sequence[Document]) -> UpsertResult:
        result = UpsertResult()
        if docs:
            with self._immediate() as conn:
                for doc in docs:
                    result.add(self._upsert_one(conn, doc))
        return result

    def _upsert_one(self, conn: sqlite3.Connection, doc: Document) -> UpsertResult:
        row = conn.execute(
            "SELECT d.rid, d.content_hash, d.view_count, d.version, d.title, d.summary, d.body, m.rid AS indexed,"
            " m.index_keys, m.portal_id, m.province_key, m.current_key, m.level, m.category_key, m.published_at"
            " FROM documents d LEFT JOIN search_meta m ON m.rid = d.rid WHERE d.id = ?",
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
            self.search_index.add(conn, int(cur.lastrowid or 0), doc)
            if self._stories_later:
                add_unsigned(conn, int(cur.lastrowid or 0), doc)
            else:
                add_document(conn, int(cur.lastrowid or 0), doc)
            self._observe(conn, doc)
            return UpsertResult(inserted=1)
        rid = int(row["rid"])
        changed = row["content_hash"] != doc.content_hash
        sets = ", ".join(f"{c} = ?" for c in _DOC_COLUMNS)
        version = int(row["version"]) + (1 if changed else 0)
        if changed:  # nothing is overwritten silently: the previous content is kept as its version
            conn.execute(
                "INSERT OR IGNORE INTO versions(doc_id, version, content_hash, title, body, published_at, replaced_at)"
                " SELECT id, version, content_hash, title, body, published_at, ? FROM documents WHERE rid = ?",
                (doc.crawled_at or now_iso(), rid))
        self._observe(conn, doc)
        conn.execute(
            f"UPDATE documents SET {sets}, extra = ?, version = ? WHERE rid = ?",
            [*values, extra, version, rid],
        )
        # the search index follows the stored row: its text when it changed, its filter values always
        self.search_index.add(conn, rid, doc, previous=row if row["indexed"] is not None else None)
        if changed:
            return UpsertResult(updated=1)
        if row["view_count"] != doc.view_count:
            return UpsertResult(updated=1)
        return UpsertResult(unchanged=1)

    @staticmethod
    def _observe(conn: sqlite3.Connection, doc: Document) -> None:
        """Append ``(crawled_at, view_count)`` to the article's history (no view count: nothing)."""
        if doc.view_count is not None and doc.crawled_at:
            conn.execute("INSERT OR REPLACE INTO view_history(doc_id, observed_at, views) VALUES (?, ?, ?)",
                         (doc.id, doc.crawled_at, int(doc.view_count)))

    def import_documents(self, items: Sequence[tuple[Document, DocumentHistory | None]]) -> UpsertResult:
        result = UpsertResult()
        if not items:
            return result
        with self._immediate() as conn:
            for doc, history in items:
                result.add(self._upsert_one(conn, doc))
                if history is not None:
                    self._merge_history(conn, doc.id, history)
        return result

    @contextlib.contextmanager
    def bulk_import(self, stories: bool = True) -> Iterator[None]:
        """A large import (``portalnews import``): a bigger page cache for this connection, and
        the full-text index's merges deferred (FTS5 ``automerge`` 0; its ``crisismerge`` still
        bounds the segments) until the end, when an import that at least doubled the store is
        merged into one segment (``optimize``: smaller and faster to search).  With
        ``stories=False`` (``--stories later``) the new documents are stored unsigned, each a
        story of its own, and the next :meth:`reconcile_stories` signs them and finds their
        stories (signing and reconciling template-heavy text costs milliseconds a document)."""
        conn = self._conn()
        self._stories_later = not stories
        before = int(conn.execute("SELECT count(*) FROM search_meta").fetchone()[0])
        row = conn.execute("SELECT v FROM search_text_config WHERE k = 'automerge'").fetchone()
        automerge = int(row[0]) if row is not None else _FTS5_AUTOMERGE
        conn.execute(f"PRAGMA cache_size = {-_BULK_CACHE_KIB}")
        conn.execute("INSERT INTO search_text(search_text, rank) VALUES ('automerge', 0)")
        try:
            yield
        finally:
            conn.execute("INSERT INTO search_text(search_text, rank) VALUES ('automerge', ?)", (automerge,))
            after = int(conn.execute("SELECT count(*) FROM search_meta").fetchone()[0])
            if after >= 2 * before and after > before:
                with self._immediate() as c:
                    c.execute("INSERT INTO search_text(search_text) VALUES ('optimize')")
            conn.execute("PRAGMA cache_size = -2000")
            self._stories_later = False

    @staticmethod
    def _merge_history(conn: sqlite3.Connection, doc_id: str, history: DocumentHistory) -> None:
        stored = [Observation(t=r[0], views=int(r[1])) for r in conn.execute(
            "SELECT observed_at, views FROM view_history WHERE doc_id = ?", (doc_id,))]
        merged = merge_observations(stored, history.view_history)
        kept = {o.t for o in merged}
        conn.executemany("DELETE FROM view_history WHERE doc_id = ? AND observed_at = ?",
                         [(doc_id, o.t) for o in stored if o.t not in kept])
        conn.executemany("INSERT OR REPLACE INTO view_history(doc_id, observed_at, views) VALUES (?, ?, ?)",
                         [(doc_id, o.t, o.views) for o in merged])
        conn.executemany(
            "INSERT OR IGNORE INTO versions(doc_id, version, content_hash, title, body, published_at, replaced_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(doc_id, v.version, v.content_hash, v.title, v.body, v.published_at, v.replaced_at)
             for v in history.versions])
        conn.execute("UPDATE documents SET version = MAX(version, ?) WHERE id = ?", (history.version, doc_id))

    @staticmethod
    def _row_to_doc(row: sqlite3.Row) -> Document:
        return document_from_row(row)

    def get_document(self, doc_id: str) -> Document | None:
        row = self._conn().execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return self._row_to_doc(row) if row else None

    def iter_documents(self, flt: ExportFilter | None = None) -> Iterator[Document]:
        prep = prepare((flt or ExportFilter()).as_query(), self.search_index.abbreviations, paged=False)
        for row in self.search_index.export_rows(self._conn(), prep):
            yield self._row_to_doc(row)

    def count_documents(self, portal_id: str | None = None) -> int:
        if portal_id:
            return int(self._conn().execute("SELECT COUNT(*) FROM documents WHERE portal_id = ?",
                                            (portal_id,)).fetchone()[0])
        return int(self._conn().execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def search(self, query: SearchQuery) -> SearchResult:
        prep = prepare(query, self.search_index.abbreviations)
        conn = self._conn()
        try:
            found = self.search_index.search(conn, prep)
            rids = [rid for rid, _, _ in found.page]
            docs = {int(r["rid"]): self._row_to_doc(r) for r in conn.execute(
                f"SELECT * FROM documents WHERE rid IN ({', '.join('?' * len(rids))})", rids)} if rids else {}
        except sqlite3.OperationalError as exc:
            raise StoreError(f"search failed: {exc}") from None
        hits = [make_hit(docs[rid], prep.query, score, exact) for rid, score, exact in found.page if rid in docs]
        facets = {facet.value: facet_values(facet, counts) for facet, counts in found.facets.items()} \
            if found.facets is not None else {}
        return SearchResult(hits=hits, total=found.total, page=prep.page, per_page=prep.limit, sort=prep.sort.value,
                            query=prep.query.source, facets=facets, facets_exact=found.facet_step == 1,
                            rank_exact=found.ranked_all)

    def reindex(self, delete_old: bool = False) -> dict[str, Any]:
        """Index every document again (after the abbreviation list changed)."""
        with self._immediate() as conn:
            n = self.search_index.rebuild(conn)
        return {"alias": "search_text", "old_index": "search_text", "new_index": "search_text", "documents": n,
                "copied": n, "copied_after_swap": 0, "old_index_deleted": False,
                "message": f"indexed {n} documents of {self.path} again for search"}

    def reconcile_stories(self) -> ReconcileReport:
        """Put the documents written since the last reconciliation into their stories, one
        ``BEGIN IMMEDIATE`` transaction a batch (:mod:`pipelines.storage.stories_sqlite`);
        documents a bulk load left unsigned (``bulk_import(stories=False)``) are signed first."""
        return reconcile_sqlite(self._immediate)

    def story_members(self, story_id: str) -> list[Document]:
        rows = self._conn().execute("SELECT * FROM documents WHERE story_id = ?", (story_id,)).fetchall()
        return sort_story([self._row_to_doc(r) for r in rows])

    def story_groups(self) -> Iterator[Document]:
        cols = ", ".join(c for c in _DOC_COLUMNS if c != "body")
        for row in self._conn().execute(f"SELECT {cols}, '' AS body, extra, story_id, story_size, is_source"
                                        " FROM documents WHERE story_size >= 2"):
            yield self._row_to_doc(row)

    def story_counts(self) -> dict[str, tuple[int, int]]:
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in self._conn().execute(
            "SELECT portal_id, COUNT(*), SUM(is_source = 0) FROM documents GROUP BY portal_id")}

    def histories(self, doc_ids: Sequence[str]) -> dict[str, DocumentHistory]:
        out: dict[str, DocumentHistory] = {}
        for r in self._rows("documents", "id", list(dict.fromkeys(doc_ids)), columns="id, version"):
            out[r["id"]] = DocumentHistory(doc_id=r["id"], version=int(r["version"]))
        ids = list(out)
        for r in self._rows("view_history", "doc_id", ids, order="doc_id, observed_at"):
            out[r["doc_id"]].view_history.append(Observation(t=r["observed_at"], views=int(r["views"])))
        for r in self._rows("versions", "doc_id", ids, order="doc_id, version"):
            out[r["doc_id"]].versions.append(DocumentVersion(
                doc_id=r["doc_id"], version=int(r["version"]), content_hash=r["content_hash"] or "",
                title=r["title"] or "", body=r["body"] or "", published_at=r["published_at"],
                replaced_at=r["replaced_at"]))
        for hist in out.values():
            hist.view_history = hist.view_history[-MAX_OBSERVATIONS:]
        return out

    def recent_documents(self, portal_id: str, since: str) -> list[RecentDocument]:
        rows = self._conn().execute(
            "SELECT url, published_at, crawled_at FROM documents WHERE portal_id = ? AND published_at >= ?"
            " ORDER BY published_at DESC, url", (portal_id, since)).fetchall()
        return [RecentDocument(url=r["url"], published_at=r["published_at"], last_fetched=r["crawled_at"] or None)
                for r in rows]

    # --- crawl state ----------------------------------------------------------
    def record_pages(self, pages: Sequence[PageRecord]) -> None:
        if not pages:
            return
        with self._immediate() as conn:
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
        sql = "SELECT data FROM runs" + (" WHERE portal_id = ?" if portal_id else "") + " ORDER BY started_at DESC LIMIT ?"
        rows = self._conn().execute(sql, (portal_id, limit) if portal_id else (limit,))
        return [RunRecord.from_dict(json.loads(r["data"])) for r in rows]

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
            run = RunRecord.from_dict(json.loads(r["data"]))
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


