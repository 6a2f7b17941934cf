"""SQLite implementation of :class:`~pipelines.storage.watchlists.Watchlists`.

Three tables in the store's file, created on first use (``IF NOT EXISTS``, so the schema
version of :mod:`pipelines.storage.migrations` is unchanged and older portalnews versions
still open the file):

``watchlists(key, name, data, created_at)``
    one row per watchlist; ``data`` is the watchlist as JSON;
``watch_notices(watchlist, doc_id, …, state, claimed_at, sent_at)``
    one row per watchlist and notified article, claimed in a ``BEGIN IMMEDIATE``
    transaction so that two processes never both send it;
``watch_state(key, value)``
    the cursor: the ``documents.rid`` up to which articles were checked.  A row id is given
    when an article is first stored and kept by its updates, so ``rid > cursor`` is exactly
    the articles stored since.
"""

from __future__ import annotations

import abc
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from pipelines.storage.sqlite_search import document_from_row
from pipelines.storage.watchlists import (
    CLAIM_TTL_SECONDS,
    NoticeState,
    StoredArticle,
    Watchlist,
    WatchlistExists,
    Watchlists,
    WatchNotice,
    watchlist_key,
)

_TABLES = """
CREATE TABLE IF NOT EXISTS watchlists (key TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL,
                                       created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watch_notices (
    watchlist TEXT NOT NULL, doc_id TEXT NOT NULL, url TEXT NOT NULL, title TEXT NOT NULL, portal_id TEXT NOT NULL,
    published_at TEXT, state TEXT NOT NULL, claimed_at REAL NOT NULL, sent_at REAL,
    PRIMARY KEY (watchlist, doc_id)
);
CREATE INDEX IF NOT EXISTS watch_notices_state ON watch_notices(watchlist, state);
CREATE TABLE IF NOT EXISTS watch_state (key TEXT PRIMARY KEY, value TEXT);
"""
_CURSOR = "cursor"
_BATCH = 500


class SQLiteWatchlists(Watchlists):
    """Mixin for :class:`pipelines.storage.sqlite.SQLiteStore` (needs ``_conn`` and ``_immediate``)."""

    _watch_ready = False

    @abc.abstractmethod
    def _conn(self) -> sqlite3.Connection: ...

    @abc.abstractmethod
    def _immediate(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _watch_tables(self) -> bool:
        """Whether the tables exist (a store that never had a watchlist has none)."""
        if not self._watch_ready:
            self._watch_ready = self._conn().execute(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('watchlists', 'watch_notices', 'watch_state')"
            ).fetchone()[0] == 3
        return self._watch_ready

    def _watch_conn(self) -> sqlite3.Connection:
        """The connection, after creating the tables when they are missing (the writes)."""
        if not self._watch_tables():
            with self._immediate() as c:
                for statement in filter(str.strip, _TABLES.split(";")):
                    c.execute(statement)
            self._watch_ready = True
        return self._conn()

    # --- the watchlists --------------------------------------------------------------------
    def add_watchlist(self, watchlist: Watchlist) -> None:
        self._watch_conn()
        data = json.dumps(watchlist.to_dict(), ensure_ascii=False)
        with self._immediate() as conn:
            first = conn.execute("SELECT count(*) FROM watchlists").fetchone()[0] == 0
            try:
                conn.execute("INSERT INTO watchlists(key, name, data, created_at) VALUES (?, ?, ?, ?)",
                             (watchlist.key, watchlist.name, data, watchlist.created_at))
            except sqlite3.IntegrityError:
                raise WatchlistExists(watchlist.name) from None
            if first:  # start checking from the articles stored from now on
                conn.execute("INSERT OR REPLACE INTO watch_state(key, value) VALUES (?, ?)",
                             (_CURSOR, self._position(conn)))

    def watchlists(self) -> list[Watchlist]:
        if not self._watch_tables():
            return []
        rows = self._conn().execute("SELECT data FROM watchlists ORDER BY key").fetchall()
        return [Watchlist.from_dict(json.loads(r[0])) for r in rows]

    def remove_watchlist(self, name: str) -> Watchlist | None:
        key = watchlist_key(name)
        if not self._watch_tables():
            return None
        with self._immediate() as conn:
            row = conn.execute("SELECT data FROM watchlists WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM watchlists WHERE key = ?", (key,))
            conn.execute("DELETE FROM watch_notices WHERE watchlist = ?", (key,))
        return Watchlist.from_dict(json.loads(row[0]))

    # --- the cursor ------------------------------------------------------------------------
    @staticmethod
    def _position(conn: sqlite3.Connection) -> str:
        return str(conn.execute("SELECT coalesce(max(rid), 0) FROM documents").fetchone()[0])

    def watch_position(self) -> str:
        return self._position(self._conn())

    def watch_cursor(self) -> str | None:
        if not self._watch_tables():
            return None
        row = self._conn().execute("SELECT value FROM watch_state WHERE key = ?", (_CURSOR,)).fetchone()
        return str(row[0]) if row is not None else None

    def set_watch_cursor(self, position: str, force: bool = False) -> None:
        self._watch_conn()
        with self._immediate() as conn:
            row = conn.execute("SELECT value FROM watch_state WHERE key = ?", (_CURSOR,)).fetchone()
            if force or row is None or int(position) > int(row[0]):
                conn.execute("INSERT OR REPLACE INTO watch_state(key, value) VALUES (?, ?)", (_CURSOR, position))

    def articles_stored_after(self, position: str, upto: str | None = None) -> Iterator[StoredArticle]:
        conn = self._conn()
        last, end = int(position), int(upto) if upto is not None else None
        while True:
            sql = "SELECT * FROM documents WHERE rid > ?" + (" AND rid <= ?" if end is not None else "")
            rows = conn.execute(sql + " ORDER BY rid LIMIT ?", [last, *([end] if end is not None else []),
                                                                 _BATCH]).fetchall()
            for row in rows:
                yield StoredArticle(document_from_row(row), row["first_seen_at"])
            if len(rows) < _BATCH:
                return
            last = int(rows[-1]["rid"])

    # --- notice records ----------------------------------------------------------------------
    @staticmethod
    def _watch_notice(row: sqlite3.Row) -> WatchNotice:
        return WatchNotice(watchlist=row["watchlist"], doc_id=row["doc_id"], url=row["url"], title=row["title"],
                           portal_id=row["portal_id"], published_at=row["published_at"], state=row["state"],
                           claimed_at=row["claimed_at"], sent_at=row["sent_at"])

    def claim_watch_notices(self, name: str, notices: Sequence[WatchNotice], now: float,
                            ttl: float = CLAIM_TTL_SECONDS) -> list[WatchNotice]:
        key = watchlist_key(name)
        self._watch_conn()
        claimed: list[WatchNotice] = []
        with self._immediate() as conn:
            rows = conn.execute("SELECT * FROM watch_notices WHERE watchlist = ? AND (state = ? OR "
                                "(state = ? AND claimed_at < ?)) ORDER BY claimed_at, doc_id",
                                (key, NoticeState.PENDING.value, NoticeState.CLAIMED.value, now - ttl)).fetchall()
            claimed += [self._watch_notice(r) for r in rows]
            conn.execute("UPDATE watch_notices SET state = ?, claimed_at = ? WHERE watchlist = ?"
                         " AND (state = ? OR (state = ? AND claimed_at < ?))",
                         (NoticeState.CLAIMED.value, now, key, NoticeState.PENDING.value,
                          NoticeState.CLAIMED.value, now - ttl))
            for n in notices:
                cur = conn.execute("INSERT OR IGNORE INTO watch_notices(watchlist, doc_id, url, title, portal_id,"
                                   " published_at, state, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   (n.watchlist, n.doc_id, n.url, n.title, n.portal_id, n.published_at,
                                    NoticeState.CLAIMED.value, now))
                if cur.rowcount == 1:
                    claimed.append(n)
        for n in claimed:
            n.state, n.claimed_at = NoticeState.CLAIMED, now
        return claimed

    def settle_watch_notices(self, notices: Sequence[WatchNotice], sent: bool, now: float) -> None:
        state = NoticeState.SENT if sent else NoticeState.PENDING
        self._watch_conn()
        with self._immediate() as conn:
            for i in range(0, len(notices), _BATCH):
                conn.executemany("UPDATE watch_notices SET state = ?, sent_at = ? WHERE watchlist = ? AND doc_id = ?",
                                 [(state.value, now if sent else None, n.watchlist, n.doc_id)
                                  for n in notices[i:i + _BATCH]])
        for n in notices:
            n.state, n.sent_at = state, (now if sent else None)

    def watch_notices(self, name: str) -> list[WatchNotice]:
        if not self._watch_tables():
            return []
        rows = self._conn().execute("SELECT * FROM watch_notices WHERE watchlist = ? ORDER BY claimed_at,"
                                          " doc_id", (watchlist_key(name),)).fetchall()
        return [self._watch_notice(r) for r in rows]
