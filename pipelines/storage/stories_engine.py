"""Stories on Elasticsearch / OpenSearch: the ``story_*`` fields of an article and their queries.

Each article carries ``story_signature`` (:meth:`pipelines.stories.Signature.to_bytes`,
base64 in a ``binary`` field: kept, not indexed), ``story_bands`` (the LSH band keys, a
``long`` field: the candidate query), ``story_id``, ``story_size``, ``is_source`` and
``story_pending`` (written since the last reconciliation).  A new article is signed where
the write path builds its ``_source`` (:func:`story_source`); an existing one keeps its
fields (the write path reads them with the current version).  A migration signs the copied
articles (:func:`sign_source`).

:func:`reconcile_engine` runs the shared algorithm (:mod:`pipelines.stories.reconcile`)
under the store-wide lease ``stories`` (:mod:`pipelines.storage.coordination_engine`), one
batch at a time with a refresh after each, so that two workers never make two stories of
one: a worker that finds the lease taken waits for it.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipelines.storage.base import StoreError
from pipelines.stories import Signature, SignatureParams, StoryFields, band_keys, signature_of
from pipelines.stories.reconcile import BATCH, ReconcileReport, StoredStoryDoc, reconcile

if TYPE_CHECKING:
    from pipelines.storage.engine import EngineStore

logger = logging.getLogger(__name__)

__all__ = ["STORY_SOURCE_FIELDS", "EngineStoryTables", "reconcile_engine", "sign_source", "story_source"]

#: The story fields of an article ``_source`` (the last three are also :class:`Document` fields).
STORY_SOURCE_FIELDS = ("story_signature", "story_bands", "story_pending", "story_id", "story_size", "is_source")
#: The fields that are not :class:`Document` fields.
STORY_INTERNAL_FIELDS = STORY_SOURCE_FIELDS[:3]
#: The store-wide lease reconciliation runs under.
LEASE = "stories"
LEASE_TTL = 120.0
#: How long a worker waits for another to finish reconciling before it leaves its documents
#: pending (the next reconciliation takes them).
LEASE_PATIENCE = 600.0
#: Most candidates or members one query returns (a band shared by more documents is boilerplate).
MAX_HITS = 10000
_MAX_ROUNDS = 5

_FIELDS = ["id", "published_at", "date_precision", "story_id", "story_size", "is_source"]


def story_source(doc_id: str, body: str | None, params: SignatureParams | None = None,
                 presigned: bytes | None = None) -> dict[str, Any]:
    """The story fields of an article stored for the first time: signed (``presigned``: see
    :func:`pipelines.stories.signature_of`), pending, a story of its own."""
    signature = signature_of(body, presigned, params)
    return {"story_signature": base64.b64encode(signature.to_bytes()).decode("ascii"),
            "story_bands": band_keys(signature, params), "story_pending": True,
            "story_id": doc_id, "story_size": 1, "is_source": True}


def _signature(src: Mapping[str, Any]) -> Signature | None:
    raw = src.get("story_signature")
    if not raw:
        return None
    try:
        return Signature.from_bytes(base64.b64decode(raw))
    except ValueError:
        return None


def kept_story_fields(src: Mapping[str, Any]) -> dict[str, Any] | None:
    """The story fields of a stored article, when it has a signature of this version."""
    raw = src.get("story_signature")
    if not raw or _signature(src) is None:
        return None
    return {name: src.get(name) for name in STORY_SOURCE_FIELDS}


def sign_source(src: dict[str, Any], params: SignatureParams | None = None) -> dict[str, Any]:
    """An article copied by a migration: signed (and pending) unless it has a signature this
    version reads (:data:`pipelines.stories.signature.SIGNATURE_VERSION`)."""
    if kept_story_fields(src) is None:
        fields = story_source(str(src.get("id") or ""), src.get("body"), params)
        for name in ("story_id", "story_size", "is_source"):  # keep a story already known
            if src.get(name) is not None:
                fields[name] = src[name]
        src.update(fields)
    return src


def _doc(hit_id: str, src: Mapping[str, Any], with_signature: bool) -> StoredStoryDoc:
    return StoredStoryDoc(key=str(src.get("id") or hit_id), published_at=src.get("published_at"),
                          day_only=src.get("date_precision") == "day", story_id=src.get("story_id"),
                          story_size=src.get("story_size"),
                          is_source=None if src.get("is_source") is None else bool(src["is_source"]),
                          signature=_signature(src) if with_signature else None)


class EngineStoryTables:
    """:class:`pipelines.stories.reconcile.StoryTables` on the articles alias (under the lease)."""

    def __init__(self, store: EngineStore) -> None:
        self.store = store
        self.index = store.names.articles

    def _search(self, query: dict[str, Any], fields: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        resp = self.store._search(self.index, {"size": MAX_HITS, "_source": list(fields), "query": query,
                                               "track_total_hits": True})
        hits = resp["hits"]["hits"]
        if int(resp["hits"]["total"]["value"]) > len(hits):
            logger.warning("stories: a query matched %s documents, the first %d are used",
                           resp["hits"]["total"]["value"], len(hits))
        return [(h["_id"], h.get("_source") or {}) for h in hits]

    def pending(self, limit: int) -> list[StoredStoryDoc]:
        resp = self.store._search(self.index, {"size": limit, "_source": [*_FIELDS, "story_signature"],
                                               "query": {"term": {"story_pending": True}}, "sort": [{"id": "asc"}]})
        return [_doc(h["_id"], h.get("_source") or {}, True) for h in resp["hits"]["hits"]]

    def candidates(self, bands: Sequence[int], max_docs: int) -> set[str]:
        if not bands:
            return set()
        counts = self.store._search(self.index, {
            "size": 0, "query": {"terms": {"story_bands": list(bands)}},
            "aggs": {"bands": {"terms": {"field": "story_bands", "include": list(bands), "size": len(bands)}}}})
        frequent = {int(b["key"]) for b in counts["aggregations"]["bands"]["buckets"] if b["doc_count"] > max_docs}
        wanted = [b for b in bands if b not in frequent]
        if not wanted:
            return set()
        return {str(src.get("id") or hit_id) for hit_id, src in
                self._search({"terms": {"story_bands": wanted}}, ["id"])}

    def signed(self, keys: Sequence[str]) -> dict[str, StoredStoryDoc]:
        sources = self.store._mget_sources(self.index, keys, [*_FIELDS, "story_signature"])
        return {key: _doc(key, src, True) for key, src in sources.items()}

    def members(self, story_ids: Sequence[str]) -> list[StoredStoryDoc]:
        out: list[StoredStoryDoc] = []
        for i in range(0, len(story_ids), 1000):
            out.extend(_doc(hit_id, src, False) for hit_id, src in
                       self._search({"terms": {"story_id": list(story_ids[i:i + 1000])}}, _FIELDS))
        return out

    def write(self, fields: Mapping[str, StoryFields], done: Sequence[str]) -> None:
        """Each changed article is indexed again whole, with its search fields (they are not in
        ``_source``, so a partial update would lose them) and ``if_seq_no``: an article a crawler
        rewrote meanwhile is read again and retried."""
        updates: dict[str, dict[str, Any]] = {key: {"story_pending": False} for key in done}
        for key, f in fields.items():
            updates.setdefault(key, {}).update(story_id=f.story_id, story_size=f.story_size, is_source=f.is_source)
        from pipelines.storage.engine_write import (  # it imports this module
            document_from_source,
            search_source,
        )

        store, client = self.store, self.store._client()
        helpers = store.flavour.helpers()
        for _ in range(_MAX_ROUNDS):
            if not updates:
                break
            actions = []
            for key, hit in self._current(list(updates)).items():
                src = {**hit["_source"], **updates[key]}
                src.update(search_source(document_from_source(src), store.abbreviations))
                actions.append({"_op_type": "index", "_index": self.index, "_id": key, "_source": src,
                                "if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]})
            updates = {k: v for k, v in updates.items() if k in {a["_id"] for a in actions}}
            try:
                _, errors = helpers.bulk(client, actions, chunk_size=500, raise_on_error=False, max_retries=3,
                                         initial_backoff=0.5, **store.flavour.bulk_options())
            except Exception as exc:
                raise store._error(exc) from None
            retry = {str(next(iter(e.values())).get("_id")) for e in errors
                     if next(iter(e.values())).get("status") == 409}
            if len(retry) < len(errors):
                raise StoreError(f"stories: {len(errors) - len(retry)} articles could not be updated")
            updates = {k: v for k, v in updates.items() if k in retry}
        if updates:
            raise StoreError(f"stories: {len(updates)} articles kept changing while their stories were written")
        store._call(client.indices.refresh, index=self.index)

    def _current(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Whole mget answers (``_source``, ``_seq_no``, ``_primary_term``) of the found articles."""
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            resp = self.store._call(self.store._client().mget, index=self.index,
                                    body={"docs": [{"_id": k} for k in keys[i:i + 500]]})
            out.update({d["_id"]: d for d in resp.get("docs", []) if d.get("found")})
        return out


def reconcile_engine(store: EngineStore, limit: int = BATCH, patience: float = LEASE_PATIENCE,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> ReconcileReport:
    """Every pending article, under the store-wide lease (see the module docstring)."""
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = clock() + patience
    while not store.acquire_lease(LEASE, worker, LEASE_TTL):
        if clock() > deadline:
            report = ReconcileReport()
            report.notes.append(f"another worker held the lease {LEASE!r} for {patience:.0f}s: "
                                "the new documents stay pending until the next reconciliation")
            logger.warning("stories: %s", report.notes[-1])
            return report
        sleep(0.5)
    try:
        store._call(store._client().indices.refresh, index=store.names.articles)

        @contextlib.contextmanager
        def batch() -> Iterator[EngineStoryTables]:
            if not store.renew_lease(LEASE, worker, LEASE_TTL):
                raise StoreError(f"stories: the lease {LEASE!r} was lost (a batch took longer than {LEASE_TTL:.0f}s)")
            yield EngineStoryTables(store)

        return reconcile(batch, limit)
    finally:
        store.release_lease(LEASE, worker)

