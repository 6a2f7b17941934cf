"""Search-engine store: Elasticsearch or OpenSearch behind the :class:`~pipelines.storage.base.Store` interface.

The pieces: :mod:`~pipelines.storage.engine_client` (store URL, clients, errors),
:mod:`~pipelines.storage.engine_mappings` (indices and mappings),
:mod:`~pipelines.storage.engine_query` (query DSL), :mod:`~pipelines.storage.engine_write`
(the write path), :mod:`~pipelines.storage.coordination_engine` (leases, calendar, back-offs,
notices).  This module puts them together: the store's lifecycle and schema version, the
reads of the document index and of the crawl state, and the rebuilds behind the alias
(``reindex``, ``migrate``).

The CLI's writes go through :meth:`EngineStore.write` and are visible at once, like SQLite;
the crawl indexes through :meth:`EngineStore.awrite` on its own event loop, driven by
:class:`pipelines.storage.async_writer.AsyncWriter`, without per-request refreshes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.search import Abbreviations, abbreviations_from_settings
from pipelines.storage import engine_query as q
from pipelines.storage import migrations
from pipelines.storage.base import (
    RUN_TOTAL_FIELDS,
    CoverageRow,
    Document,
    DocumentHistory,
    ExportFilter,
    Facet,
    MigrationReport,
    PageRecord,
    RecentDocument,
    RunRecord,
    SearchQuery,
    SearchResult,
    Store,
    StoreError,
    UpsertResult,
    apply_run,
    canonical_url,
    check_recent_field,
    parse_instant,
    sort_story,
)
from pipelines.storage.engine_client import OPENSEARCH, EngineConfig, EngineError, error_reason, make_client
from pipelines.storage.engine_mappings import (
    article_mappings,
    article_template,
    coordination_index_bodies,
    index_settings,
    state_index_bodies,
)
from pipelines.storage.engine_write import (
    HISTORY_FIELDS,
    WriteReport,
    document_from_source,
    history_from_source,
    run_sync,
    search_source,
    write_batch,
)
from pipelines.storage.migrations import SourceTransform
from pipelines.storage.searching import facet_values, make_hit, prepare
from pipelines.storage.spool import Record, spool_dir_name
from pipelines.storage.stories_engine import reconcile_engine
from pipelines.storage.watchlists_engine import EngineWatchlists
from pipelines.stories.reconcile import ReconcileReport

logger = logging.getLogger(__name__)

_PAGE = 500
_SCROLL_PAGE = 5000


class EngineStore(EngineWatchlists, Store):
    """Elasticsearch / OpenSearch store (see the module docstring)."""

    _abbreviations: Abbreviations | None = None
    _health_only = False  # the node has no GET / (a core Elasticsearch): liveness is cluster health

    def __repr__(self) -> str:
        return f"EngineStore({self.config.flavour}, {self.config.base_url}, prefix={self.config.prefix!r})"

    @property
    def abbreviations(self) -> Abbreviations:
        """The abbreviations documents are indexed and searched with (``PORTALNEWS_ABBREVIATIONS``, read once)."""
        if self._abbreviations is None:
            self._abbreviations = abbreviations_from_settings(None)
        return self._abbreviations

    @property
    def spool_name(self) -> str:
        """Folder name of this store's default spool (no credentials in it)."""
        suffix = "" if self.config.prefix == "portalnews" else f"_{self.config.prefix}"
        return spool_dir_name(f"{self.config.flavour}://{self.config.base_url.split('://', 1)[1]}") + suffix

    # --- lifecycle and schema version -------------------------------------------------
    def open(self, create: bool = True) -> None:
        self._connect()
        version = self._version()
        if version == 0 and not create:
            raise StoreError(f"no portalnews store at {self.config.base_url}: the alias {self.names.articles} "
                             "does not exist (check --store, PORTALNEWS_STORE or the ?prefix=); "
                             "`portalnews crawl` creates a store, this command only reads one")
        if version == 0:
            self._create_articles()
        else:
            migrations.check_version(version, self._what, self.url, migrations.ENGINE_VERSION)
        self._create_other_indices()

    @property
    def _what(self) -> str:
        return f"the store {self.names.articles} at {self.config.base_url}"

    def _connect(self) -> None:
        try:
            info = self._call(self._client().info)
        except EngineError as exc:
            if exc.status != 405:
                raise
            # A node without the rest-root module (the core Elasticsearch server: GET / answers
            # 405, tests/engine/ELASTICSEARCH.md) is still a node: cluster health says it is up.
            self._call(self._client().cluster.health)
            self._health_only = True
            info = {}
        distribution = (info.get("version") or {}).get("distribution") or "elasticsearch"
        if self.config.flavour == OPENSEARCH and distribution != "opensearch":
            raise StoreError(f"the server at {self.config.base_url} is Elasticsearch "
                             f"{(info.get('version') or {}).get('number', '')}: use "
                             f"elasticsearch://{self.config.base_url.split('://', 1)[1]} (or http://…)")

    def _version(self) -> int:
        """The schema version in the ``_meta`` of the index behind the alias; 0: no store yet."""
        client, names = self._client(), self.names
        if not self._exists(client.indices.exists_alias, name=names.articles):
            if self._exists(client.indices.exists, index=names.articles):
                raise StoreError(f"{names.articles} on {self.config.base_url} is an index, not an alias: move it "
                                 "away or choose another prefix (?prefix=NAME or PORTALNEWS_INDEX_PREFIX)")
            return 0
        indices = self._call(client.indices.get_mapping, index=names.articles).values()
        return min(int(((i.get("mappings") or {}).get("_meta") or {}).get("portalnews_mapping_version") or 1)
                   for i in indices)

    def _put_template(self) -> None:
        cfg = self.config
        self._call(self._client().indices.put_index_template, name=self.names.template,
                   body=article_template(self.names, cfg.shards, cfg.replicas))

    def _create_articles(self) -> None:
        client, names, cfg = self._client(), self.names, self.config
        self._put_template()
        first = names.articles_version(1)
        self._create_index(first, {"settings": index_settings(cfg.shards, cfg.replicas),
                                   "mappings": article_mappings(),
                                   "aliases": {names.articles: {"is_write_index": True}}})
        if not self._exists(client.indices.exists_alias, name=names.articles):  # lost a creation race
            self._call(client.indices.update_aliases, body={"actions": [
                {"add": {"index": first, "alias": names.articles, "is_write_index": True}}]})
        logger.info("created %s -> %s on %s", names.articles, first, cfg.base_url)

    def _create_other_indices(self) -> None:
        """The crawl-state and coordination indices that do not exist yet (idempotent, race-safe)."""
        for index, index_body in {**state_index_bodies(self.names, self.config.replicas),
                                  **coordination_index_bodies(self.names, self.config.replicas)}.items():
            self._create_index(index, index_body)

    def refresh(self) -> None:
        """Make every write so far visible to searches."""
        self._call(self._client().indices.refresh, index=",".join([self.names.articles, *self.names.state_indices()]))

    # --- writing -------------------------------------------------------------------------
    async def awrite(self, records: Sequence[Record], replay: bool = False) -> WriteReport:
        """Write a batch through the async client, without refresh (the crawl's path).  Never
        raises for engine problems: they come back in the report."""
        try:
            client = self._aclient()
        except StoreError as exc:
            return WriteReport(failed=[(r, str(exc)) for r in records])
        return await write_batch(client, self.flavour, self.names, records, translate=self._error, replay=replay,
                                 abbreviations=self.abbreviations)

    def write(self, records: Sequence[Record], replay: bool = False,
              histories: Mapping[str, DocumentHistory] | None = None, refresh: bool = True) -> WriteReport:
        """The sync face of the write path (CLI, tests): a client of its own on an event loop of
        its own; the writes are visible to searches at once (unless ``refresh`` is False).
        ``histories``: imported histories to merge into the documents' (``portalnews import``)."""
        async def once() -> WriteReport:
            client = make_client(self.config, asynchronous=True)
            try:
                return await write_batch(client, self.flavour, self.names, records, translate=self._error,
                                         refresh=refresh, replay=replay, abbreviations=self.abbreviations,
                                         histories=histories)
            finally:
                await client.close()

        return run_sync(once)

    def _write_or_raise(self, records: Sequence[Record], what: str,
                        histories: Mapping[str, DocumentHistory] | None = None, refresh: bool = True) -> WriteReport:
        report = self.write(records, histories=histories, refresh=refresh)
        problems = report.failed + report.rejected
        if problems:
            record, reason = problems[0]
            url = str(getattr(record, "url", getattr(record, "run_id", "")))
            url = url if len(url) <= 200 else url[:200] + "…"
            raise StoreError(f"{len(problems)} {what} not stored (first: {url}: {reason})")
        return report

    def upsert_documents(self, docs: Sequence[Document]) -> UpsertResult:
        return self._write_or_raise(docs, "documents").result

    def import_documents(self, items: Sequence[tuple[Document, DocumentHistory | None]]) -> UpsertResult:
        """Like the SQLite store; the documents are searchable after the next refresh (at most
        ``refresh_interval`` later, or :meth:`refresh`)."""
        histories = {doc.id: hist for doc, hist in items if hist is not None}
        return self._write_or_raise([doc for doc, _ in items], "documents", histories=histories, refresh=False).result

    def record_pages(self, pages: Sequence[PageRecord]) -> None:
        self._write_or_raise(pages, "page records")

    def save_run(self, run: RunRecord) -> None:
        self._write_or_raise([run], "run records")

    async def aping(self) -> bool:
        """Whether the engine answers (used to detect the end of an outage)."""
        try:
            client = self._aclient()
            await (client.cluster.health() if self._health_only else client.info())
            return True
        except Exception as exc:
            logger.debug("engine ping failed: %s", self._error(exc))
            return False

    async def arefresh(self) -> None:
        index = ",".join([self.names.articles, *self.names.state_indices()])
        try:
            await self._aclient().indices.refresh(index=index)
        except Exception as exc:
            raise self._error(exc) from None

    # --- the document index ------------------------------------------------------------
    def get_document(self, doc_id: str) -> Document | None:
        found = self._get(self.names.articles, doc_id)
        return document_from_source(found["_source"]) if found else None

    def count_documents(self, portal_id: str | None = None) -> int:
        resp = self._call(self._client().count, index=self.names.articles, body=q.count_body(portal_id))
        return int(resp["count"])

    def iter_documents(self, flt: ExportFilter | None = None) -> Iterator[Document]:
        prep = prepare((flt or ExportFilter()).as_query(), self.abbreviations, paged=False)
        for hit in self._hits(self.names.articles, q.export_body(prep, _PAGE)):
            yield document_from_source(hit["_source"])

    def search(self, query: SearchQuery) -> SearchResult:
        prep = prepare(query, self.abbreviations)
        resp = self._search(self.names.articles, q.search_body(prep))
        ranked = bool(prep.query.include)
        hits = [make_hit(document_from_source(raw["_source"]), prep.query,
                         *(q.hit_score(raw) if ranked else (0.0, False)))
                for raw in resp["hits"]["hits"]]
        total = resp["hits"]["total"]
        facets: dict[str, Any] = {}
        facets_exact = True
        for name, agg in (resp.get("aggregations") or {}).items():
            facets[name] = facet_values(Facet(name), ((b["key"], b["doc_count"]) for b in agg["buckets"]))
            facets_exact = facets_exact and not agg.get("doc_count_error_upper_bound")
        return SearchResult(hits=hits, total=int(total["value"]), total_exact=total.get("relation", "eq") == "eq",
                            page=prep.page, per_page=prep.limit, sort=prep.sort.value, query=prep.query.source,
                            facets=facets, facets_exact=facets_exact)

    def reconcile_stories(self) -> ReconcileReport:
        """Put the articles written since the last reconciliation into their stories, under
        the store-wide lease (:mod:`pipelines.storage.stories_engine`)."""
        return reconcile_engine(self)

    def story_members(self, story_id: str) -> list[Document]:
        query = {"size": 10000, "query": {"term": {"story_id": story_id}}}
        return sort_story(document_from_source(h["_source"]) for h in
                          self._search(self.names.articles, query)["hits"]["hits"])

    def story_groups(self) -> Iterator[Document]:
        query = {"size": _SCROLL_PAGE, "query": {"range": {"story_size": {"gte": 2}}}, "sort": [{"id": "asc"}],
                 "_source": {"excludes": ["body", "story_signature", "story_bands", *HISTORY_FIELDS]}}
        for hit in self._hits(self.names.articles, query):
            yield document_from_source({**hit["_source"], "body": ""})

    def story_counts(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}

        def body_for(after: dict[str, Any] | None) -> dict[str, Any]:
            composite: dict[str, Any] = {"size": 1000, "sources": [{"portal_id": {"terms": {"field": "portal_id"}}}]}
            if after:
                composite["after"] = after
            return {"size": 0, "aggs": {"portals": {"composite": composite, "aggs": {
                "reprints": {"filter": {"term": {"is_source": False}}}}}}}

        for bucket in self._buckets(self.names.articles, body_for):
            out[bucket["key"]["portal_id"]] = (int(bucket["doc_count"]), int(bucket["reprints"]["doc_count"]))
        return out

    def histories(self, doc_ids: Sequence[str]) -> dict[str, DocumentHistory]:
        sources = self._mget_sources(self.names.articles, doc_ids, ["version", *HISTORY_FIELDS])
        return {doc_id: history_from_source(doc_id, src) for doc_id, src in sources.items()}

    def recent_documents(self, portal_id: str, since: str) -> list[RecentDocument]:
        query = {"size": _SCROLL_PAGE, "_source": ["url", "published_at", "crawled_at"], "sort": [{"url": "asc"}],
                 "query": {"bool": {"filter": [{"term": {"portal_id": portal_id}},
                                               {"range": {"published_at": {"gte": since}}}]}}}
        docs = [RecentDocument(url=h["_source"]["url"], published_at=h["_source"].get("published_at"),
                               last_fetched=h["_source"].get("crawled_at") or None)
                for h in self._hits(self.names.articles, query)]
        docs.sort(key=lambda d: d.published_at or "", reverse=True)  # like SQLite: newest first, then by URL
        return docs

    # --- crawl state -----------------------------------------------------------------------
    def known_pages(self, portal_id: str) -> dict[str, str]:
        # Like SQLite: stored documents count as known articles even when their page record
        # is not there (a crawl killed between the two writes must not refetch them).
        out = {canonical_url(h["_source"]["url"]): "article" for h in
               self._hits(self.names.articles, q.known_pages_body(portal_id, _SCROLL_PAGE, ["url"]))}
        for hit in self._hits(self.names.pages, q.known_pages_body(portal_id, _SCROLL_PAGE, ["url", "kind"])):
            out[hit["_source"]["url"]] = hit["_source"]["kind"]
        return out

    def runs(self, portal_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        hits = self._search(self.names.runs, q.runs_body(portal_id, limit))["hits"]["hits"]
        return [RunRecord.from_dict(h["_source"]) for h in hits]

    def coverage(self) -> list[CoverageRow]:
        out: dict[str, CoverageRow] = {}
        for bucket in self._buckets(self.names.articles, q.coverage_articles_body):
            pid = bucket["key"]["portal_id"]
            newest = bucket["newest"]["hits"]["hits"]
            out[pid] = CoverageRow(portal_id=pid, articles=int(bucket["doc_count"]),
                                   newest_article=newest[0]["_source"].get("published_at") if newest else None)
        for bucket in self._buckets(self.names.runs, q.coverage_runs_body):
            latest = bucket["latest"]["hits"]["hits"]
            if latest:
                run = RunRecord.from_dict(latest[0]["_source"])
                apply_run(out.setdefault(run.portal_id, CoverageRow(portal_id=run.portal_id)), run)
        return [out[k] for k in sorted(out)]

    def recent_counts(self, since: Mapping[str, str], field: str = "published_at") -> dict[str, dict[str, int]]:
        check_recent_field(field)
        bounds = {label: parse_instant(value) for label, value in since.items()}
        known = {label: b.isoformat() for label, b in bounds.items() if b is not None}
        if not known:
            return {}
        earliest = min(b for b in bounds.values() if b is not None).isoformat()
        labels = list(known)
        out: dict[str, dict[str, int]] = {}
        for bucket in self._buckets(self.names.articles,
                                    lambda after: q.recent_counts_body(field, known, earliest, after)):
            counts = {label: int(bucket[f"w{i}"]["doc_count"]) for i, label in enumerate(labels)}
            out[bucket["key"]["portal_id"]] = {label: counts.get(label, 0) for label in since}
        return out

    def published_per_day(self, since: str | None = None, until: str | None = None) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for bucket in self._buckets(self.names.articles, lambda after: q.published_per_day_body(since, until, after)):
            out.setdefault(bucket["key"]["portal_id"], {})[bucket["key"]["day"]] = int(bucket["doc_count"])
        return out

    def run_totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for bucket in self._buckets(self.names.runs, lambda after: q.run_totals_body(RUN_TOTAL_FIELDS, after)):
            t = out.setdefault(bucket["key"]["portal_id"], dict.fromkeys(RUN_TOTAL_FIELDS, 0))
            t[f"runs/{bucket['key']['outcome']}"] = int(bucket["doc_count"])
            for name in RUN_TOTAL_FIELDS:
                t[name] += round(bucket[name]["value"] or 0)
        return out

    # --- rebuilds behind the alias -------------------------------------------------------
    def reindex(self, delete_old: bool = False) -> dict[str, Any]:
        """Build ``<prefix>-articles-v(N+1)`` with the current template and mapping, copy the
        documents into it and swap the alias atomically; keep (or delete) the old index."""
        self._put_template()
        return self._rebuild(None, delete_old)

    def migrate(self) -> MigrationReport:
        """Rebuild the articles of an older store with the current mapping, through the steps'
        document transforms (:mod:`pipelines.storage.migrations`); the old index is the backup."""
        self._connect()
        version = self._version()
        if version == 0:
            raise StoreError(f"no portalnews store {self.names.articles} at {self.config.base_url}: nothing to migrate")
        if version >= migrations.ENGINE_VERSION:
            migrations.check_version(version, self._what, self.url, migrations.ENGINE_VERSION)  # newer: say so
            return MigrationReport(self.url, version, version)
        self._put_template()
        result = self._rebuild(migrations.engine_transform(version))
        self._create_other_indices()
        self.reconcile_stories()  # the copied articles were signed: put them into stories
        logger.info("migrated %s from schema version %d to %d (backup: index %s)", self._what, version,
                    migrations.ENGINE_VERSION, result["old_index"])
        return MigrationReport(self.url, version, migrations.ENGINE_VERSION, result["old_index"],
                               [m.summary for m in migrations.pending(version, engine=True)])

    def _rebuild(self, transform: SourceTransform | None, delete_old: bool = False) -> dict[str, Any]:
        """Writes that reach the old index while the copy runs are copied again after the swap
        (a second pass over ``indexed_at`` ≥ the start time)."""
        client, names, cfg = self._client(), self.names, self.config
        aliased = sorted(self._call(client.indices.get_alias, name=names.articles))
        if len(aliased) != 1:
            raise StoreError(f"alias {names.articles} points at {len(aliased)} indices ({', '.join(aliased)}): "
                             "fix it by hand before a reindex")
        old = aliased[0]
        existing = self._call(client.indices.get, index=names.articles_pattern)
        new = names.articles_version(max([names.version_of(i) or 0 for i in existing] + [1]) + 1)
        started = datetime.now(UTC)
        self._create_index(new, {"settings": index_settings(cfg.shards, cfg.replicas), "mappings": article_mappings()})
        copied = self._copy(old, new, {"match_all": {}}, transform)
        self._call(client.indices.update_aliases, body={"actions": [
            {"remove": {"index": old, "alias": names.articles}},
            {"add": {"index": new, "alias": names.articles, "is_write_index": True}},
        ]})
        self._call(client.indices.refresh, index=old)
        # writers' clocks may differ a little: copy again everything indexed since shortly before the start
        since = (started - timedelta(minutes=5)).replace(microsecond=0).isoformat()
        late = self._copy(old, new, {"range": {"indexed_at": {"gte": since}}}, transform)
        self._call(client.indices.refresh, index=new)
        if delete_old:
            self._call(client.indices.delete, index=old)
        count = self.count_documents()
        logger.info("rebuilt %s -> %s: %d documents (%d copied again after the swap)", old, new, count, late)
        return {"alias": names.articles, "old_index": old, "new_index": new, "documents": count,
                "copied": copied, "copied_after_swap": late, "old_index_deleted": delete_old}

    def _copy(self, source: str, dest: str, query: dict[str, Any], transform: SourceTransform | None) -> int:
        """Copy the documents of ``source`` that match ``query`` into ``dest`` (the library's scan
        and bulk helpers), each through ``transform``; the number copied."""
        client, helpers = self._client(), self.flavour.helpers()

        def actions() -> Iterator[dict[str, Any]]:
            for hit in helpers.scan(client, index=source, query={"query": query}, size=1000):
                src = transform(hit["_source"]) if transform else hit["_source"]
                # the search fields are not in _source: computed again (with today's abbreviations)
                src.update(search_source(document_from_source(src), self.abbreviations))
                yield {"_index": dest, "_id": hit["_id"], "_source": src}

        try:
            copied, errors = helpers.bulk(client, actions(), chunk_size=1000, raise_on_error=False, max_retries=3,
                                          initial_backoff=0.5, **self.flavour.bulk_options())
        except Exception as exc:
            raise self._error(exc) from None
        if errors:
            raise StoreError(f"copying {source} into {dest} failed for {len(errors)} documents (first: "
                             f"{error_reason(next(iter(errors[0].values())).get('error'))})")
        return int(copied)


def engine_store(url: str) -> EngineStore:
    """Build (not open) the store for an engine URL; raises StoreError for a bad URL."""
    return EngineStore(EngineConfig.from_url(url))
