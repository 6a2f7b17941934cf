"""SQLite implementation of :mod:`pipelines.storage.coordination` (leases, calendar, back-off, history).

Tables live in the store's own file, next to ``documents``:

``leases(name, worker, acquired_at, renewed_at, expires_at)``
    one row per held lease; acquisition, renewal and release each run in one
    ``BEGIN IMMEDIATE`` transaction, so two processes on the same file never both
    get a lease.
``schedule(portal_id, next_due, …)``, ``backoffs(host, until, …)``
    the crawl calendar and the back-off records.
``view_history(doc_id, observed_at, views)``
    one row per view-count observation (one per article per fetch time).
``versions(doc_id, version, content_hash, title, body, published_at, replaced_at)``
    earlier contents of articles whose content changed.

A SQLite store is shared by processes on one machine; several machines share an
engine store instead.
"""

from __future__ import annotations

import abc
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from pipelines.storage.base import Document, StoreError
from pipelines.storage.coordination import (
    MAX_OBSERVATIONS,
    AlertNotice,
    Backoff,
    Coordination,
    DocumentHistory,
    DocumentVersion,
    History,
    Lease,
    Observation,
    RecentDocument,
    ScheduleEntry,
    next_alert_notice,
)

logger = logging.getLogger(__name__)

COORDINATION_SCHEMA = """
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
"""

# Stores created before the history tables existed: one observation per article from
# what the document shows now, so every article's history starts somewhere. Runs once:
# the meta flag written after it turns it into a no-op.
_BACKFILL = """
INSERT OR IGNORE INTO view_history(doc_id, observed_at, views)
SELECT id, COALESCE(NULLIF(crawled_at, ''), first_seen_at), view_count FROM documents
WHERE view_count IS NOT NULL AND COALESCE(NULLIF(crawled_at, ''), first_seen_at) IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM meta WHERE key = 'history_backfilled');
INSERT OR IGNORE INTO meta(key, value) VALUES ('history_backfilled', '1');
"""


def coordination_schema_script() -> str:
    """SQL that creates the tables (idempotent) and backfills older stores' history once.

    The caller runs it inside its own write transaction, so that several processes opening
    one new store at the same moment queue on the lock instead of failing.
    """
    return COORDINATION_SCHEMA + _BACKFILL


# --- the upsert path's history hooks (called inside SQLiteStore's write transaction) --------
def add_observation(conn: sqlite3.Connection, doc: Document) -> None:
    """Append ``(crawled_at, view_count)`` to the article's history (no view count: nothing)."""
    if doc.view_count is None or not doc.crawled_at:
        return
    conn.execute("INSERT OR REPLACE INTO view_history(doc_id, observed_at, views) VALUES (?, ?, ?)",
                 (doc.id, doc.crawled_at, int(doc.view_count)))


def archive_version(conn: sqlite3.Connection, rid: int, replaced_at: str | None) -> None:
    """Copy the current content of document ``rid`` into ``versions`` before it is replaced
    (``replaced_at``: the new copy's fetch time, default now)."""
    replaced_at = replaced_at or datetime.now(UTC).isoformat(timespec="seconds")
    conn.execute(
        "INSERT OR IGNORE INTO versions(doc_id, version, content_hash, title, body, published_at, replaced_at)"
        " SELECT id, version, content_hash, title, body, published_at, ? FROM documents WHERE rid = ?",
        (replaced_at, rid))


class SQLiteCoordination(Coordination, History):
    """Mixin for :class:`pipelines.storage.sqlite.SQLiteStore` (needs its ``_conn()``)."""

    path: str

    @abc.abstractmethod
    def _conn(self) -> sqlite3.Connection: ...

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path} is not writable: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _rows(self, table: str, key: str, keys: Sequence[str] | None) -> list[sqlite3.Row]:
        """Every row of ``table`` (a fixed name of ours), or those whose ``key`` is in ``keys``
        (500 at a time: SQLite caps the number of parameters)."""
        conn = self._conn()
        if keys is None:
            return conn.execute(f"SELECT * FROM {table}").fetchall()
        ids = list(keys)
        rows: list[sqlite3.Row] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows += conn.execute(f"SELECT * FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})",
                                 chunk).fetchall()
        return rows

    # --- leases ------------------------------------------------------------------------
    @staticmethod
    def _lease(row: sqlite3.Row | None) -> Lease | None:
        if row is None:
            return None
        return Lease(name=row["name"], worker=row["worker"], acquired_at=row["acquired_at"],
                     renewed_at=row["renewed_at"], expires_at=row["expires_at"])

    def acquire_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._immediate() as conn:
            current = self._lease(conn.execute("SELECT * FROM leases WHERE name = ?", (name,)).fetchone())
            if current is not None and current.worker != worker and not current.expired(now):
                return False
            acquired = current.acquired_at if current is not None and current.worker == worker else now
            conn.execute("INSERT OR REPLACE INTO leases(name, worker, acquired_at, renewed_at, expires_at)"
                         " VALUES (?, ?, ?, ?, ?)", (name, worker, acquired, now, now + ttl))
        if current is not None and current.worker != worker:
            logger.info("lease %s taken over from %s (expired %.1fs ago)", name, current.worker,
                        now - current.expires_at)
        return True

    def renew_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._immediate() as conn:
            cur = conn.execute("UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ? AND worker = ?",
                               (now, now + ttl, name, worker))
            return cur.rowcount == 1

    def release_lease(self, name: str, worker: str) -> bool:
        with self._immediate() as conn:
            cur = conn.execute("DELETE FROM leases WHERE name = ? AND worker = ?", (name, worker))
            return cur.rowcount == 1

    def leases(self) -> list[Lease]:
        rows = self._conn().execute("SELECT * FROM leases ORDER BY name").fetchall()
        return [lease for lease in (self._lease(r) for r in rows) if lease is not None]

    # --- calendar ----------------------------------------------------------------------
    def schedule(self, portal_ids: Sequence[str] | None = None) -> dict[str, ScheduleEntry]:
        rows = self._rows("schedule", "portal_id", portal_ids)
        return {r["portal_id"]: ScheduleEntry(portal_id=r["portal_id"], next_due=r["next_due"],
                                              last_started=r["last_started"], last_finished=r["last_finished"],
                                              last_worker=r["last_worker"], last_status=r["last_status"])
                for r in rows}

    def save_schedule(self, entry: ScheduleEntry) -> None:
        with self._immediate() as conn:
            conn.execute("INSERT OR REPLACE INTO schedule(portal_id, next_due, last_started, last_finished,"
                         " last_worker, last_status) VALUES (?, ?, ?, ?, ?, ?)",
                         (entry.portal_id, entry.next_due, entry.last_started, entry.last_finished,
                          entry.last_worker, entry.last_status))

    # --- back-off ----------------------------------------------------------------------
    @staticmethod
    def _backoff(row: sqlite3.Row) -> Backoff:
        return Backoff(host=row["host"], until=row["until"], delay=row["delay"], reason=row["reason"] or "",
                       recorded_at=row["recorded_at"] or 0.0, count=row["count"])

    def record_backoff(self, host: str, until: float, reason: str, delay: float = 0.0,
                       now: float | None = None) -> Backoff:
        now = time.time() if now is None else now
        with self._immediate() as conn:
            row = conn.execute("SELECT * FROM backoffs WHERE host = ?", (host,)).fetchone()
            count = (int(row["count"]) + 1) if row is not None else 1
            keep_until = max(until, float(row["until"])) if row is not None else until
            conn.execute("INSERT OR REPLACE INTO backoffs(host, until, delay, reason, recorded_at, count)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (host, keep_until, delay, reason, now, count))
        return Backoff(host=host, until=keep_until, delay=delay, reason=reason, recorded_at=now, count=count)

    def backoffs(self, hosts: Sequence[str] | None = None) -> dict[str, Backoff]:
        return {r["host"]: self._backoff(r) for r in self._rows("backoffs", "host", hosts)}

    # --- alert notifications -------------------------------------------------------------
    @staticmethod
    def _notice(row: sqlite3.Row | None) -> AlertNotice | None:
        if row is None:
            return None
        return AlertNotice(portal_id=row["portal_id"], fingerprint=row["fingerprint"],
                           severity=row["severity"] or "warning", summary=row["summary"] or "",
                           first_sent=row["first_sent"], last_sent=row["last_sent"], count=row["count"])

    def claim_alert_notice(self, portal_id: str, fingerprint: str, repeat_after: float, severity: str = "warning",
                           summary: str = "", now: float | None = None) -> AlertNotice | None:
        now = time.time() if now is None else now
        with self._immediate() as conn:
            old = self._notice(conn.execute("SELECT * FROM alert_notices WHERE portal_id = ?",
                                            (portal_id,)).fetchone())
            record = next_alert_notice(old, portal_id, fingerprint, repeat_after, severity, summary, now)
            if record is not None:
                conn.execute("INSERT OR REPLACE INTO alert_notices(portal_id, fingerprint, severity, summary,"
                             " first_sent, last_sent, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (record.portal_id, record.fingerprint, record.severity, record.summary,
                              record.first_sent, record.last_sent, record.count))
        return record

    def drop_alert_notice(self, portal_id: str, fingerprint: str | None = None) -> AlertNotice | None:
        with self._immediate() as conn:
            old = self._notice(conn.execute("SELECT * FROM alert_notices WHERE portal_id = ?",
                                            (portal_id,)).fetchone())
            if old is None or (fingerprint is not None and old.fingerprint != fingerprint):
                return None
            conn.execute("DELETE FROM alert_notices WHERE portal_id = ?", (portal_id,))
        return old

    def alert_notices(self, portal_ids: Sequence[str] | None = None) -> dict[str, AlertNotice]:
        rows = self._rows("alert_notices", "portal_id", portal_ids)
        return {n.portal_id: n for n in (self._notice(r) for r in rows) if n is not None}

    # --- history -----------------------------------------------------------------------
    def histories(self, doc_ids: Sequence[str]) -> dict[str, DocumentHistory]:
        conn = self._conn()
        out: dict[str, DocumentHistory] = {}
        ids = list(dict.fromkeys(doc_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for r in conn.execute(f"SELECT id, version FROM documents WHERE id IN ({marks})", chunk):
                out[r["id"]] = DocumentHistory(doc_id=r["id"], version=int(r["version"]))
            for r in conn.execute(f"SELECT doc_id, observed_at, views FROM view_history WHERE doc_id IN ({marks})"
                                  " ORDER BY doc_id, observed_at", chunk):
                if r["doc_id"] in out:
                    out[r["doc_id"]].view_history.append(Observation(t=r["observed_at"], views=int(r["views"])))
            for r in conn.execute(f"SELECT * FROM versions WHERE doc_id IN ({marks}) ORDER BY doc_id, version",
                                  chunk):
                if r["doc_id"] in out:
                    out[r["doc_id"]].versions.append(DocumentVersion(
                        doc_id=r["doc_id"], version=int(r["version"]), content_hash=r["content_hash"] or "",
                        title=r["title"] or "", body=r["body"] or "", published_at=r["published_at"],
                        replaced_at=r["replaced_at"]))
        for hist in out.values():
            if len(hist.view_history) > MAX_OBSERVATIONS:
                hist.view_history = hist.view_history[-MAX_OBSERVATIONS:]
        return out

    def recent_documents(self, portal_id: str, since: str) -> list[RecentDocument]:
        rows = self._conn().execute(
            "SELECT url, published_at, crawled_at FROM documents WHERE portal_id = ? AND published_at >= ?"
            " ORDER BY published_at DESC, url", (portal_id, since)).fetchall()
        return [RecentDocument(url=r["url"], published_at=r["published_at"], last_fetched=r["crawled_at"] or None)
                for r in rows]
