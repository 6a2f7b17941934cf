"""SQLite implementation of :class:`~pipelines.storage.coordination.Coordination`.

Tables live in the store's own file, next to ``documents`` (defined in
:mod:`pipelines.storage.migrations`):

``leases(name, worker, acquired_at, renewed_at, expires_at)``
    one row per held lease; acquisition, renewal and release each run in one
    ``BEGIN IMMEDIATE`` transaction, so two processes on the same file never both
    get a lease.
``schedule(portal_id, next_due, …)``, ``backoffs(host, until, …)``, ``alert_notices(portal_id, …)``
    the crawl calendar, the back-off records and the last notice of each firing alert.

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

from pipelines.storage.base import StoreError
from pipelines.storage.coordination import (
    AlertNotice,
    Backoff,
    Coordination,
    Lease,
    ScheduleEntry,
    next_alert_notice,
)

logger = logging.getLogger(__name__)


class SQLiteCoordination(Coordination):
    """Mixin for :class:`pipelines.storage.sqlite.SQLiteStore` (needs its ``_conn()``)."""

    path: str

    @abc.abstractmethod
    def _conn(self) -> sqlite3.Connection: ...

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` waits on the busy timeout, so writers queue);
        a failure rolls it back."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path} is not writable: {exc}") from exc
        try:
            yield conn
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"SQLite write failed ({self.path}): {exc}") from exc
            raise
        conn.execute("COMMIT")

    def _rows(self, table: str, key: str, keys: Sequence[str] | None, columns: str = "*",
              order: str = "") -> list[sqlite3.Row]:
        """Every row of ``table`` (a fixed name of ours), or those whose ``key`` is in ``keys``
        (500 at a time: SQLite caps the number of parameters), ordered by ``order`` within each 500."""
        conn = self._conn()
        order_by = f" ORDER BY {order}" if order else ""
        if keys is None:
            return conn.execute(f"SELECT {columns} FROM {table}{order_by}").fetchall()
        ids = list(keys)
        rows: list[sqlite3.Row] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows += conn.execute(f"SELECT {columns} FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})"
                                 f"{order_by}", chunk).fetchall()
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
        return [lease for lease in map(self._lease, self._rows("leases", "name", None, order="name")) if lease]

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
