"""Search-engine implementation of :class:`~pipelines.storage.coordination.Coordination`.

Indices, next to ``<prefix>-articles``, ``-pages`` and ``-runs`` (their mappings are in
:mod:`pipelines.storage.engine_mappings`):

``<prefix>-leases``
    one document per held lease (``_id`` = lease name).  A free lease is taken with
    ``op_type=create``; an expired one (or one being renewed) is rewritten with
    ``if_seq_no`` / ``if_primary_term``, so of two workers racing for it exactly one
    wins and the other gets a 409.  Reads are realtime GETs: no refresh is needed.
``<prefix>-schedule``, ``<prefix>-backoffs``, ``<prefix>-alert-notices``
    the crawl calendar (``_id`` = portal id), the back-off records (``_id`` = host) and the
    last notification of each firing alert (``_id`` = portal id).
    Each holds epoch seconds for the crawlers and an ISO date (``*_at``) for dashboards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.storage.base import StoreError
from pipelines.storage.coordination import (
    AlertNotice,
    Backoff,
    Coordination,
    Lease,
    ScheduleEntry,
    iso_time,
    next_alert_notice,
)
from pipelines.storage.engine_client import EngineConnection

logger = logging.getLogger(__name__)

_PAGE = 5000


class EngineCoordination(EngineConnection, Coordination):
    """The coordination part of :class:`pipelines.storage.engine.EngineStore`."""

    def _put(self, index: str, doc_id: str, source: dict[str, Any], current: Mapping[str, Any] | None,
             refresh: bool = False) -> bool:
        """Create (``current`` None) or conditionally replace a document; False on a 409."""
        kwargs: dict[str, Any] = {"index": index, "id": doc_id, "body": source}
        if current is None:
            kwargs["op_type"] = "create"
        else:
            kwargs.update(if_seq_no=current["_seq_no"], if_primary_term=current["_primary_term"])
        if refresh:
            kwargs["refresh"] = "true"
        try:
            self._client().index(**kwargs)
        except Exception as exc:
            err = self._error(exc)
            if err.status == 409:
                return False
            raise err from None
        return True

    def _delete(self, index: str, current: Mapping[str, Any]) -> bool:
        try:
            self._client().delete(index=index, id=current["_id"], if_seq_no=current["_seq_no"],
                                  if_primary_term=current["_primary_term"])
        except Exception as exc:
            err = self._error(exc)
            if err.status in (404, 409):
                return False
            raise err from None
        return True

    def _sources(self, index: str, key: str, ids: Sequence[str] | None) -> list[dict[str, Any]]:
        """Every document of a coordination index (after a refresh, sorted by ``key``), or
        those with these ids (realtime mget)."""
        if ids is None:
            self._call(self._client().indices.refresh, index=index)
            query = {"size": _PAGE, "query": {"match_all": {}}, "sort": [{key: "asc"}]}
            return [h["_source"] for h in self._hits(index, query)]
        return list(self._mget_sources(index, ids).values())

    # --- leases ------------------------------------------------------------------------
    @staticmethod
    def _lease_source(lease: Lease) -> dict[str, Any]:
        return {**lease.to_dict(), "expires": iso_time(lease.expires_at)}

    @staticmethod
    def _lease(src: Mapping[str, Any]) -> Lease:
        return Lease(name=str(src["name"]), worker=str(src["worker"]), acquired_at=float(src["acquired_at"]),
                     renewed_at=float(src["renewed_at"]), expires_at=float(src["expires_at"]))

    def acquire_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        current = self._get(self.names.leases, name)
        held = self._lease(current["_source"]) if current is not None else None
        if held is not None and held.worker != worker and not held.expired(now):
            return False
        acquired = held.acquired_at if held is not None and held.worker == worker else now
        lease = Lease(name=name, worker=worker, acquired_at=acquired, renewed_at=now, expires_at=now + ttl)
        if not self._put(self.names.leases, name, self._lease_source(lease), current):
            return False  # another worker got there first
        if held is not None and held.worker != worker:
            logger.info("lease %s taken over from %s (expired %.1fs ago)", name, held.worker, now - held.expires_at)
        return True

    def renew_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        current = self._get(self.names.leases, name)
        if current is None:
            return False
        held = self._lease(current["_source"])
        if held.worker != worker:
            return False
        lease = Lease(name=name, worker=worker, acquired_at=held.acquired_at, renewed_at=now, expires_at=now + ttl)
        return self._put(self.names.leases, name, self._lease_source(lease), current)

    def release_lease(self, name: str, worker: str) -> bool:
        current = self._get(self.names.leases, name)
        if current is None or self._lease(current["_source"]).worker != worker:
            return False
        return self._delete(self.names.leases, current)

    def leases(self) -> list[Lease]:
        return [self._lease(s) for s in self._sources(self.names.leases, "name", None)]

    # --- calendar ----------------------------------------------------------------------
    @staticmethod
    def _entry(src: Mapping[str, Any]) -> ScheduleEntry:
        def num(key: str) -> float | None:
            value = src.get(key)
            return float(value) if value is not None else None

        return ScheduleEntry(portal_id=str(src["portal_id"]), next_due=num("next_due"), last_started=num("last_started"),
                             last_finished=num("last_finished"), last_worker=src.get("last_worker"),
                             last_status=src.get("last_status"))

    def schedule(self, portal_ids: Sequence[str] | None = None) -> dict[str, ScheduleEntry]:
        sources = self._sources(self.names.schedule, "portal_id", portal_ids)
        return {str(s["portal_id"]): self._entry(s) for s in sources}

    def save_schedule(self, entry: ScheduleEntry) -> None:
        src = {**entry.to_dict(), "next_due_at": iso_time(entry.next_due),
               "last_started_at": iso_time(entry.last_started), "last_finished_at": iso_time(entry.last_finished)}
        self._call(self._client().index, index=self.names.schedule, id=entry.portal_id, body=src)

    # --- back-off ----------------------------------------------------------------------
    @staticmethod
    def _backoff(src: Mapping[str, Any]) -> Backoff:
        return Backoff(host=str(src["host"]), until=float(src["until"]), delay=float(src.get("delay") or 0.0),
                       reason=str(src.get("reason") or ""), recorded_at=float(src.get("recorded_at") or 0.0),
                       count=int(src.get("count") or 1))

    def record_backoff(self, host: str, until: float, reason: str, delay: float = 0.0,
                       now: float | None = None) -> Backoff:
        now = time.time() if now is None else now
        for _ in range(10):  # optimistic concurrency: retry when another worker wrote meanwhile
            current = self._get(self.names.backoffs, host)
            old = self._backoff(current["_source"]) if current is not None else None
            record = Backoff(host=host, until=max(until, old.until) if old else until, delay=delay, reason=reason,
                             recorded_at=now, count=(old.count + 1) if old else 1)
            src = {**record.to_dict(), "until_at": iso_time(record.until), "recorded": iso_time(now)}
            if self._put(self.names.backoffs, host, src, current):
                return record
        raise StoreError(f"could not record the back-off of {host}: too many concurrent updates")

    def backoffs(self, hosts: Sequence[str] | None = None) -> dict[str, Backoff]:
        return {str(s["host"]): self._backoff(s) for s in self._sources(self.names.backoffs, "host", hosts)}

    # --- alert notifications -------------------------------------------------------------
    @staticmethod
    def _notice(src: Mapping[str, Any]) -> AlertNotice:
        return AlertNotice(portal_id=str(src["portal_id"]), fingerprint=str(src["fingerprint"]),
                           severity=str(src.get("severity") or "warning"), summary=str(src.get("summary") or ""),
                           first_sent=float(src.get("first_sent") or 0.0), last_sent=float(src.get("last_sent") or 0.0),
                           count=int(src.get("count") or 1))

    def claim_alert_notice(self, portal_id: str, fingerprint: str, repeat_after: float, severity: str = "warning",
                           summary: str = "", now: float | None = None) -> AlertNotice | None:
        now = time.time() if now is None else now
        for _ in range(10):  # optimistic concurrency: of two workers claiming at once, one sends
            current = self._get(self.names.alert_notices, portal_id)
            old = self._notice(current["_source"]) if current is not None else None
            record = next_alert_notice(old, portal_id, fingerprint, repeat_after, severity, summary, now)
            if record is None:
                return None
            src = {**record.to_dict(), "first_sent_at": iso_time(record.first_sent),
                   "last_sent_at": iso_time(record.last_sent)}
            if self._put(self.names.alert_notices, portal_id, src, current):
                return record
        raise StoreError(f"could not record the alert notice of {portal_id}: too many concurrent updates")

    def drop_alert_notice(self, portal_id: str, fingerprint: str | None = None) -> AlertNotice | None:
        for _ in range(10):
            current = self._get(self.names.alert_notices, portal_id)
            if current is None:
                return None
            old = self._notice(current["_source"])
            if fingerprint is not None and old.fingerprint != fingerprint:
                return None
            if self._delete(self.names.alert_notices, current):
                return old
        raise StoreError(f"could not drop the alert notice of {portal_id}: too many concurrent updates")

    def alert_notices(self, portal_ids: Sequence[str] | None = None) -> dict[str, AlertNotice]:
        sources = self._sources(self.names.alert_notices, "portal_id", portal_ids)
        return {str(s["portal_id"]): self._notice(s) for s in sources}
