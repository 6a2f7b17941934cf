"""The search engines' write path: one async core, a thin sync wrapper.

A batch of documents, page records and run records goes to the engine in bulk requests
through the client library's bulk helper.  Documents are upserted with optimistic
concurrency: a document the crawl did not know is written with ``create`` at once (no
lookup: most of a crawl's documents are new); a known one, or one whose ``create`` met an
existing document (409), has its current version looked up (mget) and is written with
``index`` + ``if_seq_no`` / ``if_primary_term``, so two crawlers writing the same document
never lose an update; a version conflict sends the document through another round (the one
retry the store makes itself).  The history of an article (``view_history``,
``previous_versions``) is extended in the same write.  Page records follow the same rule
(:func:`page_action`): ``create`` for a page the crawl did not know, a partial ``update``
with an upsert for a known one or when the ``create`` met an existing record.  The
lookups matter on the node, not only for the round trip: a realtime get of a shard makes
it track every id it indexes from then on and refresh before answering.

Retries of 429 and 5xx answers are the bulk helper's (``retry_on_status``, ``max_retries``,
``initial_backoff``).  opensearch-py's helper resends 429 only, so for OpenSearch the 5xx
answers go through another round here, with the helper's back-off.  Every record the engine
did not take comes back in the :class:`WriteReport` (retryable or rejected), never dropped:
the crawl's writer spools it (:mod:`pipelines.storage.async_writer`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Container, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from pipelines.model.kinds import RunOutcome
from pipelines.search import Abbreviations, abbreviations_from_settings, index_fields
from pipelines.storage.base import (
    Document,
    DocumentHistory,
    DocumentVersion,
    Observation,
    PageRecord,
    RunRecord,
    UpsertResult,
    canonical_url,
    merge_observations,
    now_iso,
    observations_from,
)
from pipelines.storage.engine_client import EngineError, Flavour, body, error_reason
from pipelines.storage.engine_mappings import SEARCH_FIELDS, IndexNames
from pipelines.storage.searching import indexed_values
from pipelines.storage.spool import Record
from pipelines.storage.stories_engine import (
    STORY_INTERNAL_FIELDS,
    STORY_SOURCE_FIELDS,
    kept_story_fields,
    story_source,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses worth sending again (the engine was busy or failing, the record is fine).
RETRY_ON_STATUS = frozenset({429, 502, 503, 504})
#: Bulk helper options; the retries are the helper's (see the module docstring).
BULK_OPTIONS: dict[str, Any] = {
    "chunk_size": 1000, "max_chunk_bytes": 20 * 1024 * 1024, "raise_on_error": False,
    "raise_on_exception": False, "max_retries": 3, "initial_backoff": 0.5, "max_backoff": 4.0,
}
#: Most archived versions kept in an article document (the oldest are dropped beyond it).
MAX_VERSIONS = 100
#: Fields of an existing article the upsert path needs to extend its history.
HISTORY_SOURCE_FIELDS = ("view_history", "previous_versions", "title", "summary", "body", "published_at")
#: Fields of an article ``_source`` that are history, not :class:`Document` fields.
HISTORY_FIELDS = ("view_history", "previous_versions")
#: Values computed from a document for searching (not :class:`Document` fields).
INDEXED_FIELDS = ("province_key", "current_key", "category_key", "month")
_INTERNAL_FIELDS = ("first_seen_at", "version", "indexed_at", *HISTORY_FIELDS, *INDEXED_FIELDS, *SEARCH_FIELDS,
                    *STORY_INTERNAL_FIELDS)
_MAX_ROUNDS = 5
_MGET_FIELDS = ["content_hash", "view_count", "first_seen_at", "version", "crawled_at", *HISTORY_SOURCE_FIELDS,
                *STORY_SOURCE_FIELDS]


def page_id(url: str, canonical: str | None = None) -> str:
    """``_id`` of a page record: SHA-1 of the canonical URL (URLs can exceed the id limit)."""
    return hashlib.sha1((canonical or canonical_url(url)).encode("utf-8")).hexdigest()


@dataclass
class WriteReport:
    """What happened to one batch of records."""

    per_portal: dict[str, UpsertResult] = field(default_factory=lambda: defaultdict(UpsertResult))
    documents: int = 0
    pages: int = 0
    runs: int = 0
    failed: list[tuple[Record, str]] = field(default_factory=list)  # retryable: spool and send later
    rejected: list[tuple[Record, str]] = field(default_factory=list)  # the engine refused the record itself
    error: EngineError | None = None  # the last request-level failure, if any
    requests: int = 0
    retries: int = 0

    @property
    def result(self) -> UpsertResult:
        total = UpsertResult()
        for r in self.per_portal.values():
            total.add(r)
        return total

    @property
    def ok(self) -> bool:
        return not self.failed and not self.rejected

    @property
    def written(self) -> int:
        return self.documents + self.pages + self.runs


_DOC_FIELDS = tuple(f for f in Document.__dataclass_fields__ if f not in ("extra", "indexed_texts"))


def search_source(doc: Document, abbreviations: Abbreviations | None) -> dict[str, Any]:
    """What a document is searched by: the sibling text fields (:mod:`pipelines.search.fields`;
    indexed, not kept in ``_source``) and the filter and facet values."""
    text = index_fields({"title": doc.title, "summary": doc.summary, "body": doc.body}, abbreviations,
                        doc.indexed_texts)
    return {**text, **indexed_values(doc)}


def _document_source(doc: Document, first_seen_at: str | None, version: int,
                     abbreviations: Abbreviations | None) -> dict[str, Any]:
    data = {name: getattr(doc, name) for name in _DOC_FIELDS}  # dataclasses.asdict is slow here
    if doc.extra:
        data["extra"] = dict(doc.extra)
    data["first_seen_at"] = first_seen_at or doc.crawled_at or None
    data["version"] = version
    data["indexed_at"] = now_iso()
    for key in ("published_at", "crawled_at"):
        if data.get(key) == "":
            data[key] = None
    data.update(search_source(doc, abbreviations))
    return data


def document_from_source(src: Mapping[str, Any]) -> Document:
    data = {k: v for k, v in src.items() if k not in _INTERNAL_FIELDS}
    if data.get("crawled_at") is None:
        data["crawled_at"] = ""
    return Document.from_dict(data)


def page_action(index: str, page: PageRecord, existing: Container[str] = ()) -> dict[str, Any]:
    """The bulk action of a page record.  A page that may exist (``page.known``, or its id is
    in ``existing``: its ``create`` met a record) is a partial update with an upsert, like SQLite's
    upsert: ``first_seen_at`` kept from the first sighting, ``content_hash`` and ``doc_id``
    kept when the new record has none.  Any other page is created whole: the same record the
    upsert would make, at the cost of one index operation on the shard instead of a realtime
    get, a merge and an index.  A ``create`` that meets a record (409) comes back through
    :meth:`BatchPlan.feed` and goes again as the update."""
    canon = canonical_url(page.url)  # computed once: it is the costly part
    full = {"url": canon, "portal_id": page.portal_id, "kind": page.kind, "status": page.status,
            "content_hash": page.content_hash, "doc_id": page.doc_id, "reason": page.reason,
            "first_seen_at": page.fetched_at, "fetched_at": page.fetched_at}
    pid = page_id(page.url, canon)
    if not (page.known or pid in existing):
        return {"_op_type": "create", "_index": index, "_id": pid, "_source": full}
    partial = {k: v for k, v in full.items()
               if k != "first_seen_at" and not (v is None and k in ("content_hash", "doc_id"))}
    return {"_op_type": "update", "_index": index, "_id": pid, "doc": partial, "upsert": full,
            "retry_on_conflict": 5}


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
            self.previous.append({**self.current, "replaced_at": doc.crawled_at or now_iso()})
            version = int(self.current["version"]) + 1
        else:
            version = int(self.current["version"])
        self.current = {"version": version, "content_hash": doc.content_hash, "title": doc.title,
                        "body": doc.body, "published_at": doc.published_at}
        self.observe(doc)

    def merge(self, imported: DocumentHistory) -> int:
        """Add an imported history (``portalnews import``): observations by time, archived
        versions by number; the current version number to record (the larger)."""
        self.observations = merge_observations(self.observations, imported.view_history)
        by_number = {int(v["version"]): v for v in self.previous if v.get("version") is not None}
        for v in imported.versions:
            by_number.setdefault(v.version, {k: val for k, val in v.to_dict().items() if k != "doc_id"})
        self.previous = [by_number[n] for n in sorted(by_number)]
        return max(int((self.current or {}).get("version") or 1), imported.version)

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


class BatchPlan:
    """The state of one batch across its rounds (no I/O: :func:`write_batch` does it).

    A round looks up the pending documents that may exist and sends everything pending in
    one bulk request.  Documents and page records the crawl did not know are created; known
    ones (a known page record and the document it names: the hint of
    :attr:`PageRecord.known`) are written over their current version (documents) or
    partially updated (page records).  A record that met an existing one or a version
    conflict, or a record answered with a status in ``resend`` (what the helper could not
    retry itself), goes through another round; run records are indexed by run id.
    """

    def __init__(self, names: IndexNames, records: Sequence[Record], replay: bool = False,
                 translate: Callable[[BaseException], EngineError] | None = None,
                 resend: frozenset[int] = frozenset(), abbreviations: Abbreviations | None = None,
                 histories: Mapping[str, DocumentHistory] | None = None) -> None:
        self.names = names
        self.histories = histories or {}
        self.abbreviations = abbreviations if abbreviations is not None else abbreviations_from_settings(None)
        self.replay = replay
        self.translate = translate
        self.resend = resend
        self._resending = False
        self.report = WriteReport()
        self.docs: dict[str, list[Document]] = {}
        self.pages: list[PageRecord] = []
        self._lookup: set[str] = set()  # ids of documents that may exist: looked up before writing
        self._existing_pages: set[str] = set()  # page ids whose create met a record
        self.runs: list[RunRecord] = []
        self.rounds = 0
        self._waiting: dict[tuple[str, str], deque[tuple[list[Record], UpsertResult | None]]] = {}
        self._failed_retryable: list[tuple[Record, str]] = []
        self._add(records)
        # the crawl writes an article's page record next to its document: a known page says
        # the document may exist too (the hint is only a guess: a wrong one costs a round)
        self._lookup.update(p.doc_id for p in self.pages if p.known and p.doc_id)

    def _add(self, records: Sequence[Record], exist: bool = False) -> None:
        """Add records to the next round; ``exist``: they met an existing record (409)."""
        for rec in records:
            if isinstance(rec, Document):
                self.docs.setdefault(rec.id, []).append(rec)
                if exist:
                    self._lookup.add(rec.id)
            elif isinstance(rec, PageRecord):
                self.pages.append(rec)
                if exist:
                    self._existing_pages.add(page_id(rec.url))
            else:
                self.runs.append(rec)

    @property
    def pending(self) -> bool:
        return bool(self.docs or self.pages or self.runs)

    def lookup_ids(self) -> list[str]:
        """Ids of the pending documents to look up before the round (the others are created)."""
        return [i for i in self.docs if i in self._lookup]

    def fail_pending(self, reason: str) -> None:
        for group in self.docs.values():
            self._failed_retryable.extend((d, reason) for d in group)
        self._failed_retryable.extend((p, reason) for p in self.pages)
        self._failed_retryable.extend((r, reason) for r in self.runs)
        self.docs, self.pages, self.runs = {}, [], []

    def start_round(self, existing: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Bulk actions for everything pending; ``existing``: id -> mget hit of the documents
        looked up and found (a document not in it is created)."""
        self.rounds += 1
        actions: list[dict[str, Any]] = []
        alias = self.names.articles
        for doc_id, group in self.docs.items():
            hit = existing.get(doc_id)
            src: Mapping[str, Any] = hit.get("_source", {}) if hit else {}
            prev_hash, prev_views = src.get("content_hash"), src.get("view_count")
            version = int(src.get("version") or 1) if hit else 0
            first_seen = src.get("first_seen_at") if hit else None
            outcome = UpsertResult()
            found = hit is not None
            for doc in group:
                if not found:
                    outcome.inserted += 1
                    version, first_seen, found = 1, doc.crawled_at, True
                elif prev_hash != doc.content_hash:
                    outcome.updated += 1
                    version += 1
                elif prev_views != doc.view_count:
                    outcome.updated += 1
                else:
                    outcome.unchanged += 1
                prev_hash, prev_views = doc.content_hash, doc.view_count
            final = group[-1]
            history = DocumentHistoryBuilder(src if hit is not None else None)  # view counts, versions
            if (self.replay and hit is not None and src.get("crawled_at") and final.crawled_at
                    and str(src["crawled_at"]) > final.crawled_at):
                # a replayed record older than what the engine has: keep the newer one, but not
                # without its view-count observation (a conditional partial update)
                observed = [history.observe(d) for d in group]  # every copy, not only up to the first
                if any(observed):
                    # the search fields are not in _source: the partial update must give them again
                    stored = document_from_source({**src, "url": final.url, "portal_id": final.portal_id})
                    text = index_fields({"title": stored.title, "summary": stored.summary, "body": stored.body},
                                        self.abbreviations)
                    actions.append({"_op_type": "update", "_index": alias, "_id": doc_id,
                                    "doc": {"view_history": history.fields()["view_history"], **text},
                                    "if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]})
                    self._waiting.setdefault(("doc", doc_id), deque()).append(
                        (list(group), UpsertResult(unchanged=len(group))))
                else:
                    self._ok(group, UpsertResult(unchanged=len(group)))
                continue
            for doc in group:
                history.add(doc)
            if doc_id in self.histories:
                version = history.merge(self.histories[doc_id])
            # the story fields stay what the store made of them (pipelines.storage.stories_engine)
            story = (kept_story_fields(src) if hit is not None else None) or story_source(doc_id, final.body,
                                                                                       presigned=final.story_signature)
            action: dict[str, Any] = {"_index": alias, "_id": doc_id,
                                      "_source": {**_document_source(final, first_seen, version, self.abbreviations),
                                                  **history.fields(), **story}}
            if hit is None:
                action["_op_type"] = "create"
            else:
                action.update(_op_type="index", if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            actions.append(action)
            self._waiting.setdefault(("doc", doc_id), deque()).append((list(group), outcome))
        for page in self.pages:
            action = page_action(self.names.pages, page, self._existing_pages)
            actions.append(action)
            self._waiting.setdefault(("page", action["_id"]), deque()).append(([page], None))
        for run in self.runs:
            op = "create" if self.replay and run.outcome == RunOutcome.RUNNING else "index"
            actions.append({"_op_type": op, "_index": self.names.runs, "_id": run.run_id, "_source": asdict(run)})
            self._waiting.setdefault(("run", run.run_id), deque()).append(([run], None))
        self.docs, self.pages, self.runs = {}, [], []
        self.report.requests += 1
        return actions

    def _family(self, index: str) -> str:
        if index == self.names.pages:
            return "page"
        if index == self.names.runs:
            return "run"
        return "doc"

    def _ok(self, records: Sequence[Record], outcome: UpsertResult | None) -> None:
        rec = records[0]
        if isinstance(rec, Document):
            assert outcome is not None
            self.report.per_portal[rec.portal_id].add(outcome)
            self.report.documents += len(records)
        elif isinstance(rec, PageRecord):
            self.report.pages += len(records)
        else:
            self.report.runs += len(records)

    def feed(self, ok: bool, item: Mapping[str, Any]) -> None:
        """One per-action result of the bulk helper."""
        op, info = next(iter(item.items()))
        family = self._family(str(info.get("_index", "")))
        key = (family, str(info.get("_id", "")))
        queue = self._waiting.get(key)
        if not queue:
            logger.warning("bulk result for an unknown action %s %s", op, key)
            return
        records, outcome = queue.popleft()
        if not queue:
            del self._waiting[key]
        if ok:
            self._ok(records, outcome)
            return
        status = info.get("status")
        exc = info.get("exception")
        if isinstance(exc, BaseException) and self.translate is not None:
            # the whole request failed and the helper reported it per action
            self.report.error = self.translate(exc)
            if self.report.error.unreachable:
                status = None
        reason = error_reason(info.get("error")) if info.get("error") is not None else f"HTTP {status}"
        if status == 409 and (family == "doc" or (op == "create" and family == "page")) and self.rounds < _MAX_ROUNDS:
            # created by someone else (or by an earlier crawl the hint did not know of), or
            # written meanwhile: look it up again (documents) or update it (page records)
            self._add(records, exist=True)
        elif status in self.resend and self.report.retries < BULK_OPTIONS["max_retries"]:
            self._add(records)
            self._resending = True
        elif status == 409 and family == "run" and op == "create":
            self._ok(records, outcome)  # a finished record is already there: keep it
        elif not isinstance(status, int) or status in (404, 408, 409, 429) or status >= 500:
            self._failed_retryable.extend((r, f"HTTP {status}: {reason}") for r in records)
        else:
            self.report.rejected.extend((r, f"HTTP {status}: {reason}") for r in records)

    def feed_exception(self, err: EngineError) -> None:
        """The bulk request itself failed: every action still waiting is retryable."""
        self.report.error = err
        for queue in self._waiting.values():
            for records, _ in queue:
                self._failed_retryable.extend((r, str(err)) for r in records)
        self._waiting.clear()

    def end_round(self) -> None:
        for queue in self._waiting.values():
            for records, _ in queue:
                self._failed_retryable.extend((r, "no answer for this record in the bulk response")
                                              for r in records)
        self._waiting.clear()

    def resend_delay(self) -> float:
        """Seconds to wait before the next round: the helper's back-off when it resends
        statuses the helper could not retry, else 0."""
        if not self._resending:
            return 0.0
        self._resending = False
        self.report.retries += 1
        return float(min(BULK_OPTIONS["max_backoff"], BULK_OPTIONS["initial_backoff"] * 2 ** (self.report.retries - 1)))

    def finish(self) -> WriteReport:
        self.fail_pending("not sent")
        self.report.failed = self._failed_retryable
        return self.report


async def write_batch(client: Any, flavour: Flavour, names: IndexNames, records: Sequence[Record], *,
                      translate: Callable[[BaseException], EngineError], refresh: bool = False,
                      replay: bool = False, abbreviations: Abbreviations | None = None,
                      histories: Mapping[str, DocumentHistory] | None = None) -> WriteReport:
    """Write one batch through an async client.  Never raises for engine problems: every
    record comes back in the report as written, failed (retryable) or rejected."""
    plan = BatchPlan(names, records, replay=replay, translate=translate,
                     resend=RETRY_ON_STATUS - flavour.helper_retries, abbreviations=abbreviations,
                     histories=histories)
    bulk = flavour.helpers().async_streaming_bulk
    options = {**BULK_OPTIONS, **flavour.bulk_options(), **({"refresh": True} if refresh else {})}
    while plan.pending:
        delay = plan.resend_delay()
        if delay:
            await asyncio.sleep(delay)
        existing: dict[str, dict[str, Any]] = {}
        if ids := plan.lookup_ids():
            try:
                resp = body(await client.mget(index=names.articles,
                                              body={"docs": [{"_id": i, "_source": _MGET_FIELDS} for i in ids]}))
            except Exception as exc:
                plan.report.error = translate(exc)
                plan.fail_pending(str(plan.report.error))
                break
            existing = {d["_id"]: d for d in resp.get("docs", []) if d.get("found")}
        actions = plan.start_round(existing)
        try:
            async for ok, item in bulk(client, actions, **options):
                plan.feed(ok, item)
        except Exception as exc:
            plan.feed_exception(translate(exc))
        plan.end_round()
    return plan.finish()


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end from sync code; from inside a running event loop (where
    ``asyncio.run`` is refused) on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1, thread_name_prefix="portalnews-sync") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
