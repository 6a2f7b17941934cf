"""Schema versions of the stores and the migrations between them.

Every store records the schema version it was written with: SQLite in ``PRAGMA
user_version``, the search engines in the ``_meta`` of the articles index behind the alias
(``portalnews_mapping_version``).  A store at an older version refuses to open, in one line
that names ``portalnews migrate``; that command upgrades it in place after a backup:

* SQLite: a copy of the file next to it (``NAME.vN-backup.db``), then the SQL of every
  step in one transaction (and a step's Python part, such as rebuilding the full-text index
  from the documents, in the same transaction);
* Elasticsearch / OpenSearch: a new versioned index ``<prefix>-articles-v(K+1)`` with the
  current mapping, the documents copied into it through every step's ``engine`` transform,
  and the alias moved to it; the old index stays as the backup.

A new SQLite store runs every step from version 0, so the steps below are the SQLite
schema; a new engine store gets the current mapping (:mod:`pipelines.storage.engine_mappings`).
A step that changes nothing for the engines is ``sqlite_only``: the engines' version
(:data:`ENGINE_VERSION`) is the last step that did, so their stores need no rebuild for it.

Changing what is stored (a new field, renamed provinces, story ids …) = append a
:class:`Migration` with the next version: its SQL, its document transform for the engines
(and the new mapping in ``engine_mappings``), and a test that opens a store written before
it and migrates it (``tests/test_store_migrations.py``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.storage.base import StoreError, redact_url

logger = logging.getLogger(__name__)

#: A document ``_source`` of the articles index -> the same document at the step's version.
SourceTransform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Migration:
    """One step: from ``version - 1`` to ``version``."""

    version: int
    summary: str
    sqlite: str  # statements, run in order inside the migration's transaction
    engine: SourceTransform | None = None  # applied to every article while it is copied
    sqlite_after: Callable[[sqlite3.Connection], None] | None = None  # after the statements, same transaction
    sqlite_only: bool = False  # no change for the engines: their mapping version stays (ENGINE_VERSION)


# --- version 1: documents, full-text indices, crawl state --------------------------------------
_V1 = """
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

# --- version 2: shared coordination, article history, the version in user_version --------------
# Version-1 stores got these tables at different times (IF NOT EXISTS), and their history was
# started from the view counts shown then, once (the meta flag).  The same is done here for
# the stores that never had it: one observation per article from what it shows now.
_V2 = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    worker TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    renewed_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule (
    portal_id TEXT PRIMARY KEY,
    next_due REAL,
    last_started REAL,
    last_finished REAL,
    last_worker TEXT,
    last_status TEXT
);
CREATE TABLE IF NOT EXISTS alert_notices (
    portal_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    severity TEXT,
    summary TEXT,
    first_sent REAL NOT NULL,
    last_sent REAL NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS backoffs (
    host TEXT PRIMARY KEY,
    until REAL NOT NULL,
    delay REAL NOT NULL DEFAULT 0,
    reason TEXT,
    recorded_at REAL,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS view_history (
    doc_id TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    views INTEGER NOT NULL,
    PRIMARY KEY (doc_id, observed_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    doc_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT,
    title TEXT,
    body TEXT,
    published_at TEXT,
    replaced_at TEXT,
    PRIMARY KEY (doc_id, version)
);
INSERT OR IGNORE INTO view_history(doc_id, observed_at, views)
SELECT id, COALESCE(NULLIF(crawled_at, ''), first_seen_at), view_count FROM documents
WHERE view_count IS NOT NULL AND COALESCE(NULLIF(crawled_at, ''), first_seen_at) IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM meta WHERE key = 'history_backfilled');
DROP TABLE IF EXISTS meta;
"""


def _engine_v2(src: dict[str, Any]) -> dict[str, Any]:
    """Engine stores of version 1 had no history fields: start the history like SQLite does."""
    if "view_history" not in src:
        t = src.get("crawled_at") or src.get("first_seen_at")
        views = src.get("view_count")
        src["view_history"] = [{"t": t, "views": views}] if t and isinstance(views, int) else []
    src.setdefault("previous_versions", [])
    return src


# --- version 3: the search language (pipelines.search) and current provinces ------------------------
# (The ``filters`` column is version 6's; the step's Python part indexes with today's code, so a
# store this old gets it here already and step 6 only indexes it again.)
# The old full-text tables (docs_fold, docs_exact: text as written and folded, ranked by one
# sub-query per term and column) give way to one contentless FTS5 table of the six sibling
# columns of pipelines.search.fields, ranked by bm25() in one pass, and to search_meta, the
# narrow table that filters, sorts and facets use (pipelines/storage/sqlite_search.py).  The
# documents get their current province (pipelines.admin).  Both are filled from the documents
# by the step's Python part.
_V3 = """
DROP TABLE IF EXISTS docs_fold;
DROP TABLE IF EXISTS docs_exact;
ALTER TABLE documents ADD COLUMN current_province TEXT;
CREATE VIRTUAL TABLE search_text USING fts5(
    title_exact, title_folded, summary_exact, summary_folded, body_exact, body_folded, filters,
    content = '', tokenize = 'unicode61 remove_diacritics 0');
CREATE TABLE search_meta (
    rid INTEGER PRIMARY KEY,
    portal_id TEXT NOT NULL,
    url TEXT NOT NULL,
    published_at TEXT,
    month TEXT,
    view_count INTEGER,
    province_key TEXT,
    current_key TEXT,
    current_province TEXT,
    level TEXT,
    category TEXT,
    category_key TEXT,
    index_keys TEXT
);
CREATE INDEX search_meta_date ON search_meta(published_at DESC, url);
CREATE INDEX search_meta_views ON search_meta(view_count DESC, url);
CREATE INDEX search_meta_portal ON search_meta(portal_id, published_at DESC, url);
CREATE INDEX search_meta_province ON search_meta(province_key);
CREATE INDEX search_meta_current ON search_meta(current_key);
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT);
"""


def _sqlite_v3(conn: sqlite3.Connection) -> None:
    """Every document gets its current province and is indexed for the search language."""
    from pipelines.admin import current_province
    from pipelines.search import abbreviations_from_settings
    from pipelines.storage.sqlite_search import SearchIndex

    rows = conn.execute("SELECT rid, province FROM documents WHERE province IS NOT NULL").fetchall()
    conn.executemany("UPDATE documents SET current_province = ? WHERE rid = ?",
                     [(current_province(r[1]) or r[1], r[0]) for r in rows])
    SearchIndex(abbreviations_from_settings(None)).rebuild(conn)


def _engine_v3(src: dict[str, Any]) -> dict[str, Any]:
    """Engine documents get their current province (the search fields are added to every
    document that is copied: pipelines.storage.engine_write.search_source)."""
    from pipelines.admin import current_province

    if not src.get("current_province") and src.get("province"):
        src["current_province"] = current_province(src["province"]) or src["province"]
    return src


# --- version 4: stories (issue 13) ------------------------------------------------------------------
# Every document gets its story signature and band keys (pipelines.stories) and is pending;
# the step's Python part signs the documents and reconciles them into stories, in the
# migration's transaction.  story_id is the id of the story's earliest document.
_V4 = """
ALTER TABLE documents ADD COLUMN story_signature BLOB;
ALTER TABLE documents ADD COLUMN story_id TEXT;
ALTER TABLE documents ADD COLUMN story_size INTEGER;
ALTER TABLE documents ADD COLUMN is_source INTEGER;
ALTER TABLE documents ADD COLUMN story_pending INTEGER;
CREATE INDEX documents_story ON documents(story_id);
CREATE INDEX documents_story_pending ON documents(rid) WHERE story_pending = 1;
CREATE TABLE story_bands (
    band INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (band, rid)
) WITHOUT ROWID;
"""


def _sqlite_v4(conn: sqlite3.Connection) -> None:
    """Sign every document and put the documents into stories."""
    from pipelines.storage.stories_sqlite import reconcile_in, sign_all

    if sign_all(conn):
        reconcile_in(conn)


def _engine_v4(src: dict[str, Any]) -> dict[str, Any]:
    """Engine documents are signed while they are copied and reconciled after the copy
    (pipelines.storage.stories_engine); fields of another version are dropped here."""
    from pipelines.storage.stories_engine import sign_source

    return sign_source(src)


# --- version 5: indexes for filtered searches (SQLite only) ---------------------------------------------
# A province filter with a date range (the province of a merged province is several keys) was
# answered by listing every document of the province through the single-column key indexes and
# reading each row's date; with the date in the index it is a range of the index per key.  The
# engines need no change: their mapping stays at version 4.
_V5 = """
DROP INDEX IF EXISTS search_meta_province;
DROP INDEX IF EXISTS search_meta_current;
CREATE INDEX search_meta_province ON search_meta(province_key, published_at);
CREATE INDEX search_meta_current ON search_meta(current_key, published_at);
"""


# --- version 6: filter tokens in the full-text index (SQLite only) -----------------------------------
# A common word with a province and a year was found by testing every match of the word against
# search_meta (790,000 look-ups at 1,000,000 articles).  The full-text table gains a column of
# filter tokens (portal, province keys, level, category, year, month; weight 0 in bm25()), so FTS5
# intersects them with the words (pipelines/storage/sqlite_search.py).  A contentless FTS5 table
# cannot gain a column: it is made again and filled from the documents, each with the
# abbreviation keys it was indexed with.
_V6 = """
DROP TABLE search_text;
CREATE VIRTUAL TABLE search_text USING fts5(
    title_exact, title_folded, summary_exact, summary_folded, body_exact, body_folded, filters,
    content = '', tokenize = 'unicode61 remove_diacritics 0');
"""


def _sqlite_v6(conn: sqlite3.Connection) -> None:
    """Fill the new full-text table from the documents."""
    from pipelines.storage.sqlite_search import SearchIndex

    SearchIndex.refill_text(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "documents, full-text indices, pages and runs", _V1),
    Migration(2, "leases, calendar, back-offs, alert notices; view-count history and archived versions",
              _V2, engine=_engine_v2),
    Migration(3, "search: the query language on FTS5 with exact and folded columns ranked by bm25(), "
                 "filter and facet table; engines: sibling fields analysed by `standard` (no plugin); "
                 "current provinces", _V3, engine=_engine_v3, sqlite_after=_sqlite_v3),
    Migration(4, "stories: every document signed (MinHash of its body, LSH bands) and put into its story "
                 "(story_id, story_size, is_source)", _V4, engine=_engine_v4, sqlite_after=_sqlite_v4),
    Migration(5, "SQLite: the search table's province indexes include the date (a province filter with a date "
                 "range reads only that range)", _V5, sqlite_only=True),
    Migration(6, "SQLite: filter tokens in the full-text index (a common word in one province and year reads only "
                 "the rows that have both)", _V6, sqlite_after=_sqlite_v6, sqlite_only=True),
)
#: The schema version this portalnews writes (SQLite: ``user_version``).
SCHEMA_VERSION = MIGRATIONS[-1].version
#: The version of the engines' mapping: the last step that changed something for them.
ENGINE_VERSION = max(m.version for m in MIGRATIONS if not m.sqlite_only)


def pending(version: int, engine: bool = False) -> list[Migration]:
    """The steps that bring a store at ``version`` to :data:`SCHEMA_VERSION` (``engine``: an
    engine store to :data:`ENGINE_VERSION`, without the SQLite-only steps), in order."""
    return [m for m in MIGRATIONS if m.version > version and not (engine and m.sqlite_only)]


def engine_transform(version: int) -> SourceTransform | None:
    """One transform that applies the engine steps after ``version`` in order (None: none to apply)."""
    steps = [m.engine for m in pending(version, engine=True) if m.engine is not None]
    if not steps:
        return None

    def transform(src: dict[str, Any]) -> dict[str, Any]:
        for step in steps:
            src = step(src)
        return src

    return transform


def sqlite_statements(script: str) -> Iterator[str]:
    """The complete statements of an SQL script (``executescript`` would commit first)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement: {buf[:80]!r}")


def check_version(version: int, what: str, url: str, needed: int = SCHEMA_VERSION) -> None:
    """Raise the one-line :class:`StoreError` for a store that is not at ``needed`` (SQLite:
    :data:`SCHEMA_VERSION`; engines: :data:`ENGINE_VERSION`)."""
    if version < needed:
        raise StoreError(f"{what} has schema version {version}, this portalnews needs {needed}: "
                         f"run `portalnews migrate --store {redact_url(url)}` (it keeps a backup)")
    if version > needed:
        raise StoreError(f"{what} has schema version {version}, newer than this portalnews knows "
                         f"({needed}): upgrade portalnews")
