"""Search-engine implementation of :mod:`pipelines.storage.coordination` (Elasticsearch and OpenSearch).

Indices, next to ``<prefix>-articles``, ``-pages`` and ``-runs``:

``<prefix>-leases``
    one document per held lease (``_id`` = lease name).  A free lease is taken with
    ``op_type=create``; an expired one (or one being renewed) is rewritten with
    ``if_seq_no`` / ``if_primary_term``, so of two workers racing for it exactly one
    wins and the other gets a 409.  Reads are realtime GETs: no refresh is needed.
``<prefix>-schedule``, ``<prefix>-backoffs``, ``<prefix>-alert-notices``
    the crawl calendar (``_id`` = portal id), the back-off records (``_id`` = host) and the
    last notification of each firing alert (``_id`` = portal id).
    Each holds epoch seconds for the crawlers and an ISO date (``*_at``) for dashboards.

Article history lives **in the article document itself**, so that one conditional
write (the upsert's ``if_seq_no``) keeps the document, its history and its archive
consistent, and Kibana or any engine client sees them:

``view_history: [{t, views}, …]``
    every view-count observation, oldest first (at most
    :data:`~pipelines.storage.coordination.MAX_OBSERVATIONS`);
``previous_versions: [{version, content_hash, title, body, published_at, replaced_at}, …]``
    the earlier contents (not indexed, kept in ``_source``; at most :data:`MAX_VERSIONS`).

The upsert path reads them with the mget it already does (no scripts are needed, so
this works on engines without painless) and writes them back with the document.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipelines.storage.base import Document, StoreError
from pipelines.storage.coordination import (
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
    iso_time,
    merge_observations,
    next_alert_notice,
    observations_from,
)

logger = logging.getLogger(__name__)

#: Most archived versions kept in an article document (the oldest are dropped beyond it).
MAX_VERSIONS = 100
#: Fields of an existing article the upsert path needs to extend its history.
HISTORY_SOURCE_FIELDS = ("view_history", "previous_versions", "title", "body", "published_at")
#: Fields of an article ``_source`` that are history, not :class:`Document` fields.
HISTORY_FIELDS = ("view_history", "previous_versions")

_PAGE = 5000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- mappings -----------------------------------------------------------------------------
def history_mappings() -> dict[str, Any]:
    """Article mapping properties of the history fields (merged into the articles mapping)."""
    return {
        "view_history": {"type": "object", "properties": {
            "t": {"type": "date", "ignore_malformed": True}, "views": {"type": "integer"}}},
        "previous_versions": {"type": "object", "enabled": False},
    }


def coordination_index_bodies(prefix: str, replicas: int) -> dict[str, dict[str, Any]]:
    """``PUT <index>`` bodies of the coordination indices."""
    settings = {"number_of_shards": 1, "number_of_replicas": replicas}
    keyword = {"type": "keyword"}
    epoch = {"type": "double"}
    date = {"type": "date", "ignore_malformed": True}
    return {
        f"{prefix}-leases": {"settings": settings, "mappings": {"dynamic": False, "properties": {
            "name": keyword, "worker": keyword, "acquired_at": epoch, "renewed_at": epoch, "expires_at": epoch,
            "expires": date}}},
        f"{prefix}-schedule": {"settings": settings, "mappings": {"dynamic": False, "properties": {
            "portal_id": keyword, "next_due": epoch, "last_started": epoch, "last_finished": epoch,
            "last_worker": keyword, "last_status": keyword, "next_due_at": date, "last_started_at": date,
            "last_finished_at": date}}},
        f"{prefix}-backoffs": {"settings": settings, "mappings": {"dynamic": False, "properties": {
            "host": keyword, "until": epoch, "delay": {"type": "float"}, "reason": {"type": "keyword",
                                                                                    "ignore_above": 512},
            "recorded_at": epoch, "count": {"type": "integer"}, "until_at": date, "recorded": date}}},
        f"{prefix}-alert-notices": {"settings": settings, "mappings": {"dynamic": False, "properties": {
            "portal_id": keyword, "fingerprint": keyword, "severity": keyword,
            "summary": {"type": "text"}, "first_sent": epoch, "last_sent": epoch, "count": {"type": "integer"},
            "first_sent_at": date, "last_sent_at": date}}},
    }


# --- the upsert path's history (pure: no I/O) ------------------------------------------------
class DocumentHistoryBuilder:
    """Extends an article's ``view_history`` and ``previous_versions`` with newly fetched copies.

    ``source``: the stored document's ``_source`` (with :data:`HISTORY_SOURCE_FIELDS`, and
    ``content_hash`` / ``version``), or None for a new document."""

    def __init__(self, source: Mapping[str, Any] | None) -> None:
        src = source or {}
        self.observations = observations_from(src.get("view_history"))
        self.previous: list[dict[str, Any]] = [v for v in src.get("previous_versions") or []
                                               if isinstance(v, dict)]
        self.current: dict[str, Any] | None = None
        if source is not None:
            self.current = {"version": int(src.get("version") or 1), "content_hash": src.get("content_hash"),
                            "title": src.get("title"), "body": src.get("body"),
                            "published_at": src.get("published_at")}

    def observe(self, doc: Document) -> bool:
        """Add the document's view count as an observation; True when the history changed."""
        if doc.view_count is None or not doc.crawled_at:
            return False
        before = self.observations
        self.observations = merge_observations(before, [Observation(t=doc.crawled_at, views=int(doc.view_count))])
        return self.observations != before

    def add(self, doc: Document) -> None:
        """A newer copy of the article: archive the current content if it changed, observe the views."""
        if self.current is None:
            version = 1
        elif self.current["content_hash"] != doc.content_hash:
            self.previous.append({**self.current, "replaced_at": doc.crawled_at or _now_iso()})
            version = int(self.current["version"]) + 1
        else:
            version = int(self.current["version"])
        self.current = {"version": version, "content_hash": doc.content_hash, "title": doc.title,
                        "body": doc.body, "published_at": doc.published_at}
        self.observe(doc)

    def fields(self) -> dict[str, Any]:
        """The history fields to write into the document's ``_source``."""
        return {"view_history": [o.to_dict() for o in self.observations],
                "previous_versions": self.previous[-MAX_VERSIONS:]}


def history_from_source(doc_id: str, src: Mapping[str, Any]) -> DocumentHistory:
    versions = []
    for v in src.get("previous_versions") or []:
        if isinstance(v, dict) and v.get("version") is not None:
            versions.append(DocumentVersion(
                doc_id=doc_id, version=int(v["version"]), content_hash=str(v.get("content_hash") or ""),
                title=str(v.get("title") or ""), body=str(v.get("body") or ""), published_at=v.get("published_at"),
                replaced_at=v.get("replaced_at")))
    return DocumentHistory(doc_id=doc_id, version=int(src.get("version") or 1),
                           view_history=observations_from(src.get("view_history")),
                           versions=sorted(versions, key=lambda v: v.version))


# --- the mixin ------------------------------------------------------------------------------------
class EngineCoordination(Coordination, History):
    """Mixin for :class:`pipelines.storage.engine.EngineStore` (needs its client helpers)."""

    names: Any  # IndexNames
    config: Any  # EngineConfig

    @abc.abstractmethod
    def _client(self) -> Any: ...

    @abc.abstractmethod
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    @abc.abstractmethod
    def _error(self, exc: BaseException) -> StoreError: ...

    @abc.abstractmethod
    def _search(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...

    # --- plumbing ------------------------------------------------------------------------
    @property
    def _leases_index(self) -> str:
        return f"{self.names.prefix}-leases"

    @property
    def _schedule_index(self) -> str:
        return f"{self.names.prefix}-schedule"

    @property
    def _backoffs_index(self) -> str:
        return f"{self.names.prefix}-backoffs"

    @property
    def _notices_index(self) -> str:
        return f"{self.names.prefix}-alert-notices"

    def _ensure_coordination_indices(self, client: Any) -> None:
        """Create the coordination indices that do not exist yet (idempotent, race-safe)."""
        for index, body in coordination_index_bodies(self.names.prefix, int(self.config.replicas)).items():
            try:
                exists = bool(client.indices.exists(index=index))
            except Exception as exc:
                raise self._error(exc) from None
            if exists:
                continue
            try:
                client.indices.create(index=index, body=body)
            except Exception as exc:
                err = self._error(exc)
                if getattr(err, "status", None) == 400 and "already_exists" in str(err):
                    continue  # another worker created it first
                raise err from None

    def _get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        """A realtime GET: the whole answer (``_source``, ``_seq_no``, ``_primary_term``) or None."""
        try:
            resp = self._client().get(index=index, id=doc_id)
        except Exception as exc:
            err = self._error(exc)
            if getattr(err, "kind", None) == "not_found":
                return None
            raise err from None
        body: dict[str, Any] = getattr(resp, "body", resp)
        return body if body.get("found") else None

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
            if getattr(err, "status", None) == 409:
                return False
            raise err from None
        return True

    def _delete(self, index: str, current: Mapping[str, Any]) -> bool:
        try:
            self._client().delete(index=index, id=current["_id"], if_seq_no=current["_seq_no"],
                                  if_primary_term=current["_primary_term"])
        except Exception as exc:
            err = self._error(exc)
            if getattr(err, "status", None) in (404, 409):
                return False
            raise err from None
        return True

    def _mget_sources(self, index: str, ids: Sequence[str], fields: Sequence[str] | None = None
                      ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            docs = [{"_id": d, **({"_source": list(fields)} if fields is not None else {})} for d in chunk]
            resp = self._call(self._client().mget, index=index, body={"docs": docs})
            for d in resp.get("docs", []):
                if d.get("found"):
                    out[d["_id"]] = d.get("_source") or {}
        return out

    def _sources(self, index: str, key: str, ids: Sequence[str] | None) -> list[dict[str, Any]]:
        """Every document of a coordination index (after a refresh, sorted by ``key``), or
        those with these ids (realtime mget)."""
        if ids is None:
            self._call(self._client().indices.refresh, index=index)
            return [h["_source"] for h in self._scan(index, {"match_all": {}}, True, key)]
        return list(self._mget_sources(index, ids).values())

    def _scan(self, index: str, query: dict[str, Any], source: Sequence[str] | bool, sort_field: str
              ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"size": _PAGE, "query": query, "_source": source if isinstance(source, bool)
                                else list(source), "sort": [{sort_field: "asc"}]}
        out: list[dict[str, Any]] = []
        while True:
            hits = self._search(index, body)["hits"]["hits"]
            out.extend(hits)
            if len(hits) < _PAGE:
                return out
            body["search_after"] = hits[-1]["sort"]

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
        current = self._get(self._leases_index, name)
        held = self._lease(current["_source"]) if current is not None else None
        if held is not None and held.worker != worker and not held.expired(now):
            return False
        acquired = held.acquired_at if held is not None and held.worker == worker else now
        lease = Lease(name=name, worker=worker, acquired_at=acquired, renewed_at=now, expires_at=now + ttl)
        if not self._put(self._leases_index, name, self._lease_source(lease), current):
            return False  # another worker got there first
        if held is not None and held.worker != worker:
            logger.info("lease %s taken over from %s (expired %.1fs ago)", name, held.worker, now - held.expires_at)
        return True

    def renew_lease(self, name: str, worker: str, ttl: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        current = self._get(self._leases_index, name)
        if current is None:
            return False
        held = self._lease(current["_source"])
        if held.worker != worker:
            return False
        lease = Lease(name=name, worker=worker, acquired_at=held.acquired_at, renewed_at=now, expires_at=now + ttl)
        return self._put(self._leases_index, name, self._lease_source(lease), current)

    def release_lease(self, name: str, worker: str) -> bool:
        current = self._get(self._leases_index, name)
        if current is None or self._lease(current["_source"]).worker != worker:
            return False
        return self._delete(self._leases_index, current)

    def leases(self) -> list[Lease]:
        self._call(self._client().indices.refresh, index=self._leases_index)
        hits = self._scan(self._leases_index, {"match_all": {}}, True, "name")
        return [self._lease(h["_source"]) for h in hits]

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
        sources = self._sources(self._schedule_index, "portal_id", portal_ids)
        return {str(s["portal_id"]): self._entry(s) for s in sources}

    def save_schedule(self, entry: ScheduleEntry) -> None:
        src = {**entry.to_dict(), "next_due_at": iso_time(entry.next_due),
               "last_started_at": iso_time(entry.last_started), "last_finished_at": iso_time(entry.last_finished)}
        self._call(self._client().index, index=self._schedule_index, id=entry.portal_id, body=src)

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
            current = self._get(self._backoffs_index, host)
            old = self._backoff(current["_source"]) if current is not None else None
            record = Backoff(host=host, until=max(until, old.until) if old else until, delay=delay, reason=reason,
                             recorded_at=now, count=(old.count + 1) if old else 1)
            src = {**record.to_dict(), "until_at": iso_time(record.until), "recorded": iso_time(now)}
            if self._put(self._backoffs_index, host, src, current):
                return record
        raise StoreError(f"could not record the back-off of {host}: too many concurrent updates")

    def backoffs(self, hosts: Sequence[str] | None = None) -> dict[str, Backoff]:
        return {str(s["host"]): self._backoff(s) for s in self._sources(self._backoffs_index, "host", hosts)}

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
            current = self._get(self._notices_index, portal_id)
            old = self._notice(current["_source"]) if current is not None else None
            record = next_alert_notice(old, portal_id, fingerprint, repeat_after, severity, summary, now)
            if record is None:
                return None
            src = {**record.to_dict(), "first_sent_at": iso_time(record.first_sent),
                   "last_sent_at": iso_time(record.last_sent)}
            if self._put(self._notices_index, portal_id, src, current):
                return record
        raise StoreError(f"could not record the alert notice of {portal_id}: too many concurrent updates")

    def drop_alert_notice(self, portal_id: str, fingerprint: str | None = None) -> AlertNotice | None:
        for _ in range(10):
            current = self._get(self._notices_index, portal_id)
            if current is None:
                return None
            old = self._notice(current["_source"])
            if fingerprint is not None and old.fingerprint != fingerprint:
                return None
            if self._delete(self._notices_index, current):
                return old
        raise StoreError(f"could not drop the alert notice of {portal_id}: too many concurrent updates")

    def alert_notices(self, portal_ids: Sequence[str] | None = None) -> dict[str, AlertNotice]:
        sources = self._sources(self._notices_index, "portal_id", portal_ids)
        return {str(s["portal_id"]): self._notice(s) for s in sources}

    # --- history -----------------------------------------------------------------------
    def histories(self, doc_ids: Sequence[str]) -> dict[str, DocumentHistory]:
        sources = self._mget_sources(self.names.articles, doc_ids, ["version", *HISTORY_FIELDS])
        return {doc_id: history_from_source(doc_id, src) for doc_id, src in sources.items()}

    def recent_documents(self, portal_id: str, since: str) -> list[RecentDocument]:
        query = {"bool": {"filter": [{"term": {"portal_id": portal_id}},
                                     {"range": {"published_at": {"gte": since}}}]}}
        hits = self._scan(self.names.articles, query, ["url", "published_at", "crawled_at"], "url")
        docs = [RecentDocument(url=h["_source"]["url"], published_at=h["_source"].get("published_at"),
                               last_fetched=h["_source"].get("crawled_at") or None) for h in hits]
        docs.sort(key=lambda d: d.url)
        docs.sort(key=lambda d: d.published_at or "", reverse=True)  # like SQLite: newest first, then by URL
        return docs
