"""Crawl coordination: the part of the store several workers share.

:class:`Coordination` is what lets several crawler processes (or machines) pointed at the
same store share the portals:

* **leases**: ``acquire_lease(name, worker, ttl)`` gives one worker a named lease (a
  portal id, or ``host:<hostname>``) until ``ttl`` seconds from now; the holder renews it
  while it works and releases it when done.  A lease whose holder stopped renewing
  (the worker died) expires and another worker may take it.  Acquisition is atomic:
  SQLite does it in a ``BEGIN IMMEDIATE`` transaction, the search engines with
  ``op_type=create`` and ``if_seq_no``/``if_primary_term`` optimistic concurrency.
  Expiry compares epoch seconds from each worker's clock: keep clocks in sync (NTP)
  and the TTL well above any skew.
* **the crawl calendar**: ``next_due`` / ``set_next_due`` keep each portal's next-due
  time in the store, so it survives a restart of any worker.
* **back-off records**: ``record_backoff(host, until, reason)`` notes that a host
  answered 429/503 or slowed down; every worker and the next crawl see it.
* **alert notices**: what was last sent for a portal's alert, so that several workers
  never send one alert twice (:mod:`pipelines.monitoring.notices`).

All times in this interface are epoch seconds (``time.time()``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pipelines.model.record import DictRecord

logger = logging.getLogger(__name__)


def iso_time(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string (milliseconds), for people and dashboards."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass
class Lease(DictRecord):
    """Who holds a named lease, and until when (epoch seconds)."""

    name: str
    worker: str
    acquired_at: float
    renewed_at: float
    expires_at: float

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


@dataclass
class ScheduleEntry(DictRecord):
    """A portal's place in the crawl calendar."""

    portal_id: str
    next_due: float | None = None
    last_started: float | None = None
    last_finished: float | None = None
    last_worker: str | None = None
    last_status: str | None = None  # e.g. "ok", "exit 1", "killed by signal 9"


@dataclass
class Backoff(DictRecord):
    """A host that asked the crawlers to slow down (429/503, Retry-After, slow answers)."""

    host: str
    until: float
    delay: float = 0.0  # seconds between two requests while backed off
    reason: str = ""
    recorded_at: float = 0.0
    count: int = 1  # back-offs recorded for this host so far

    def active(self, now: float) -> bool:
        return self.until > now


@dataclass
class AlertNotice(DictRecord):
    """The notification last sent for a portal's alert; it keeps repeats from spamming.

    ``fingerprint`` names what fired (severity and rules): the same alert is sent again only
    after the repeat interval, a different one at once.  The record is removed when the
    portal passes again, which is when a "resolved" notice goes out."""

    portal_id: str
    fingerprint: str
    severity: str = "warning"
    summary: str = ""
    first_sent: float = 0.0  # when this alert was first notified
    last_sent: float = 0.0
    count: int = 1  # notifications sent for it so far


def next_alert_notice(old: AlertNotice | None, portal_id: str, fingerprint: str, repeat_after: float,
                      severity: str, summary: str, now: float) -> AlertNotice | None:
    """The record to store when the alert is to be sent now, else None (shared by backends)."""
    if old is not None and old.fingerprint == fingerprint and now - old.last_sent < repeat_after:
        return None
    same = old is not None and old.fingerprint == fingerprint
    return AlertNotice(portal_id=portal_id, fingerprint=fingerprint, severity=severity, summary=summary,
                       first_sent=old.first_sent if same and old is not None else now, last_sent=now,
                       count=(old.count + 1) if same and old is not None else 1)


class Coordination(Protocol):
    """Leases, the crawl calendar, back-off records and alert notices (see the module docstring)."""

    # --- leases ------------------------------------------------------------------------
    def acquire_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        """Take the lease ``name`` for ``worker`` until ``now + ttl``.  True when ``worker``
        holds it afterwards: it was free, expired, or already held by ``worker``."""

    def renew_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        """Extend a lease ``worker`` holds.  False when it is gone or another worker holds it
        (the caller must then stop the work the lease protects)."""

    def release_lease(self, name: str, worker: str) -> bool:
        """Give a lease up; False (and no change) when ``worker`` does not hold it."""

    def leases(self) -> list[Lease]:
        """Every lease record, expired ones included, by name."""

    # --- the crawl calendar ------------------------------------------------------------
    def schedule(self, portal_ids: Sequence[str] | None = None) -> dict[str, ScheduleEntry]:
        """Calendar entries of these portals (all when None); portals never scheduled are absent."""

    def save_schedule(self, entry: ScheduleEntry) -> None:
        """Insert or replace a portal's calendar entry."""

    def next_due(self, portal_ids: Sequence[str]) -> dict[str, float | None]:
        """Next-due time per portal; None for a portal never scheduled (due now)."""
        entries = self.schedule(portal_ids)
        return {pid: (entries[pid].next_due if pid in entries else None) for pid in portal_ids}

    def set_next_due(self, portal_id: str, when: float, **info: Any) -> None:
        """Set a portal's next-due time; ``info`` may set the other :class:`ScheduleEntry` fields."""
        entry = self.schedule([portal_id]).get(portal_id) or ScheduleEntry(portal_id=portal_id)
        entry.next_due = when
        for key, value in info.items():
            if not hasattr(entry, key):
                raise TypeError(f"unknown schedule field {key!r}")
            setattr(entry, key, value)
        self.save_schedule(entry)

    # --- back-off ------------------------------------------------------------------------
    def record_backoff(self, host: str, until: float, reason: str, delay: float = 0.0,
                       now: float | None = None) -> Backoff:
        """Note that ``host`` must be spared until ``until``; returns the stored record (its
        ``count`` says how many back-offs the host has had).  An earlier, later ``until``
        is kept."""

    def backoffs(self, hosts: Sequence[str] | None = None) -> dict[str, Backoff]:
        """Back-off records of these hosts (all when None), expired ones included."""

    def backoff(self, host: str) -> Backoff | None:
        return self.backoffs([host]).get(host)

    # --- alert notifications -------------------------------------------------------------
    def claim_alert_notice(self, portal_id: str, fingerprint: str, repeat_after: float, severity: str = "warning",
                           summary: str = "", now: float | None = None) -> AlertNotice | None:
        """Decide, atomically across workers, whether the alert ``fingerprint`` of a portal is
        to be sent now: yes (the stored record, updated) when none was sent, a different one
        was, or the last was sent ``repeat_after`` seconds ago or more; else None."""

    def drop_alert_notice(self, portal_id: str, fingerprint: str | None = None) -> AlertNotice | None:
        """Remove a portal's notice record (only if it has ``fingerprint``, when given) and
        return it; None when there was none."""

    def alert_notices(self, portal_ids: Sequence[str] | None = None) -> dict[str, AlertNotice]:
        """Notice records of these portals (all when None)."""
