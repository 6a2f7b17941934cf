"""Search-engine implementation of :class:`~pipelines.storage.watchlists.Watchlists`.

Two indices of their own, created on first use (the articles' mapping and the store's schema
version are unchanged):

``<prefix>-watchlists``
    one document per watchlist (``_id`` = its key, created with ``op_type=create``, so a name
    is taken once), and the cursor (``_id`` ``~cursor``);
``<prefix>-watch-notices``
    one document per watchlist and notified article (``_id`` = key and document id), created
    with ``op_type=create``: of two workers claiming one article, one gets a 409 and does not
    send it.  Kept notices are taken over with ``if_seq_no``/``if_primary_term``.

The cursor is a time: the articles whose ``indexed_at`` is at most
:data:`~pipelines.storage.watchlists.ENGINE_MARGIN_SECONDS` before it are read again (the
notice records keep them from being sent twice), and only those first seen less than a day
before it (an update of an old article is not a new article).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from pipelines.storage.base import StoreError, now_iso, parse_instant
from pipelines.storage.coordination_engine import EngineCoordination
from pipelines.storage.engine_write import document_from_source
from pipelines.storage.watchlists import (
    CLAIM_TTL_SECONDS,
    ENGINE_MARGIN_SECONDS,
    NoticeState,
    StoredArticle,
    Watchlist,
    WatchlistExists,
    Watchlists,
    WatchNotice,
    watchlist_key,
)

logger = logging.getLogger(__name__)

_CURSOR_ID = "~cursor"
_PAGE = 1000
#: Articles first seen this long before the cursor may still be new to the check (a crawl's
#: writes queued or spooled while the engine was slow); older ones are updates.
_FIRST_SEEN_LAG = timedelta(days=1)
_KEYWORD = {"type": "keyword"}
_WATCHLISTS_MAPPING = {"dynamic": False, "properties": {"kind": _KEYWORD, "key": _KEYWORD, "name": _KEYWORD,
                                                        "created_at": {"type": "date", "ignore_malformed": True}}}
_NOTICES_MAPPING = {"dynamic": False, "properties": {
    "watchlist": _KEYWORD, "doc_id": _KEYWORD, "state": _KEYWORD, "claimed_at": {"type": "double"},
    "sent_at": {"type": "double"}}}


def _notice_id(n: WatchNotice) -> str:
    return f"{hashlib.sha1(n.watchlist.encode('utf-8')).hexdigest()[:16]}:{n.doc_id}"


class EngineWatchlists(EngineCoordination, Watchlists):
    """The watchlist part of :class:`pipelines.storage.engine.EngineStore` (on the coordination's
    conditional writes)."""

    _watch_ready = False  # the indices exist
    _watch_created = False  # and this object made sure of both

    @property
    def _watchlists_index(self) -> str:
        return f"{self.names.prefix}-watchlists"

    @property
    def _notices_index(self) -> str:
        return f"{self.names.prefix}-watch-notices"

    def _watch_indices_exist(self) -> bool:
        """Whether the indices exist (a store that never had a watchlist has none)."""
        if not self._watch_ready:
            self._watch_ready = self._exists(self._client().indices.exists, index=self._watchlists_index)
        return self._watch_ready

    def _watch_indices(self) -> None:
        """Create the indices that are missing (before the writes; once per store object)."""
        if not self._watch_created:
            settings = {"number_of_shards": 1, "number_of_replicas": self.config.replicas}
            self._create_index(self._watchlists_index, {"settings": settings, "mappings": _WATCHLISTS_MAPPING})
            self._create_index(self._notices_index, {"settings": settings, "mappings": _NOTICES_MAPPING})
            self._watch_created = self._watch_ready = True

    # --- the watchlists --------------------------------------------------------------------
    def add_watchlist(self, watchlist: Watchlist) -> None:
        self._watch_indices()
        first = not self.watchlists()
        if not self._put(self._watchlists_index, watchlist.key,
                         {"kind": "watchlist", "key": watchlist.key, **watchlist.to_dict()}, None, refresh=True):
            raise WatchlistExists(watchlist.name)
        if first:
            self.set_watch_cursor(self.watch_position(), force=True)

    def watchlists(self) -> list[Watchlist]:
        if not self._watch_indices_exist():
            return []
        self._call(self._client().indices.refresh, index=self._watchlists_index)
        query = {"size": _PAGE, "query": {"term": {"kind": "watchlist"}}, "sort": [{"key": "asc"}]}
        return [Watchlist.from_dict(h["_source"]) for h in self._hits(self._watchlists_index, query)]

    def remove_watchlist(self, name: str) -> Watchlist | None:
        if not self._watch_indices_exist():
            return None
        key = watchlist_key(name)
        found = self._get(self._watchlists_index, key)
        if found is None or found["_source"].get("kind") != "watchlist":
            return None
        self._call(self._client().delete, index=self._watchlists_index, id=key, refresh="true")
        self._call(self._client().delete_by_query, index=self._notices_index, refresh=True, conflicts="proceed",
                   body={"query": {"term": {"watchlist": key}}})
        return Watchlist.from_dict(found["_source"])

    # --- the cursor ------------------------------------------------------------------------
    def watch_position(self) -> str:
        return now_iso()

    def watch_cursor(self) -> str | None:
        if not self._watch_indices_exist():
            return None
        found = self._get(self._watchlists_index, _CURSOR_ID)
        return str(found["_source"]["position"]) if found is not None else None

    def set_watch_cursor(self, position: str, force: bool = False) -> None:
        self._watch_indices()
        new = parse_instant(position)
        if new is None:
            raise StoreError(f"not a watchlist cursor: {position!r}")
        for _ in range(10):
            current = self._get(self._watchlists_index, _CURSOR_ID)
            old = parse_instant(current["_source"]["position"]) if current is not None else None
            if not force and old is not None and old >= new:
                return
            if self._put(self._watchlists_index, _CURSOR_ID, {"kind": "cursor", "position": position}, current):
                return
        raise StoreError("could not move the watchlist cursor: too many concurrent updates")

    def articles_stored_after(self, position: str, upto: str | None = None) -> Iterator[StoredArticle]:
        at = parse_instant(position)
        if at is None:
            raise StoreError(f"not a watchlist cursor: {position!r}")
        self._call(self._client().indices.refresh, index=self.names.articles)
        since = (at - timedelta(seconds=ENGINE_MARGIN_SECONDS)).replace(microsecond=0).isoformat()
        first_seen = (at - _FIRST_SEEN_LAG).replace(microsecond=0).isoformat()
        query = {"size": _PAGE, "sort": [{"indexed_at": "asc"}, {"url": "asc"}],
                 "query": {"bool": {"filter": [{"range": {"indexed_at": {"gte": since}}},
                                               {"range": {"first_seen_at": {"gte": first_seen}}}]}}}
        for hit in self._hits(self.names.articles, query):
            src = hit["_source"]
            yield StoredArticle(document_from_source(src), src.get("first_seen_at"))

    # --- notice records ----------------------------------------------------------------------
    def _watch_pending(self, key: str, now: float, ttl: float) -> list[dict[str, Any]]:
        self._call(self._client().indices.refresh, index=self._notices_index)
        query = {"size": _PAGE, "seq_no_primary_term": True, "sort": [{"claimed_at": "asc"}, {"doc_id": "asc"}],
                 "query": {"bool": {"filter": [{"term": {"watchlist": key}}], "should": [
                     {"term": {"state": NoticeState.PENDING.value}},
                     {"bool": {"filter": [{"term": {"state": NoticeState.CLAIMED.value}},
                                          {"range": {"claimed_at": {"lt": now - ttl}}}]}}],
                     "minimum_should_match": 1}}}
        return list(self._hits(self._notices_index, query))

    def claim_watch_notices(self, name: str, notices: Sequence[WatchNotice], now: float,
                            ttl: float = CLAIM_TTL_SECONDS) -> list[WatchNotice]:
        self._watch_indices()
        claimed: list[WatchNotice] = []
        for hit in self._watch_pending(watchlist_key(name), now, ttl):
            n = WatchNotice.from_dict(hit["_source"])
            n.state, n.claimed_at = NoticeState.CLAIMED, now
            try:
                self._client().index(index=self._notices_index, id=hit["_id"], body=n.to_dict(),
                                     if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            except Exception as exc:
                err = self._error(exc)
                if err.status == 409:
                    continue  # another worker took it over
                raise err from None
            claimed.append(n)
        fresh = []
        for n in notices:
            n.state, n.claimed_at = NoticeState.CLAIMED, now
            fresh.append(n)
        if fresh:
            claimed += self._watch_create_notices(fresh)
        return claimed

    def _watch_create_notices(self, notices: list[WatchNotice]) -> list[WatchNotice]:
        """Bulk ``create`` (the library's helper): the notices created, not those that existed."""
        helpers = self.flavour.helpers()
        by_id = {_notice_id(n): n for n in notices}
        actions = [{"_op_type": "create", "_index": self._notices_index, "_id": i, "_source": n.to_dict()}
                   for i, n in by_id.items()]
        created: list[WatchNotice] = []
        try:
            for ok, item in helpers.streaming_bulk(self._client(), actions, chunk_size=_PAGE, raise_on_error=False,
                                                   refresh="true", **self.flavour.bulk_options()):
                result = item.get("create") or {}
                if ok:
                    created.append(by_id[result["_id"]])
                elif result.get("status") != 409:
                    raise StoreError(f"cannot record a watchlist notice: {result.get('error')}")
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        return created

    def settle_watch_notices(self, notices: Sequence[WatchNotice], sent: bool, now: float) -> None:
        if not notices:
            return
        state = NoticeState.SENT if sent else NoticeState.PENDING
        for n in notices:
            n.state, n.sent_at = state, (now if sent else None)
        helpers = self.flavour.helpers()
        actions = [{"_op_type": "index", "_index": self._notices_index, "_id": _notice_id(n), "_source": n.to_dict()}
                   for n in notices]
        try:
            _ok, errors = helpers.bulk(self._client(), actions, chunk_size=_PAGE, raise_on_error=False,
                                       refresh="true", **self.flavour.bulk_options())
        except Exception as exc:
            raise self._error(exc) from None
        if errors:
            raise StoreError(f"cannot record {len(errors)} watchlist notice(s) as {state.value}")

    def watch_notices(self, name: str) -> list[WatchNotice]:
        if not self._watch_indices_exist():
            return []
        self._call(self._client().indices.refresh, index=self._notices_index)
        query = {"size": _PAGE, "sort": [{"claimed_at": "asc"}, {"doc_id": "asc"}],
                 "query": {"term": {"watchlist": watchlist_key(name)}}}
        return [WatchNotice.from_dict(h["_source"]) for h in self._hits(self._notices_index, query)]
