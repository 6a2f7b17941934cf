"""Search-engine store: Elasticsearch or OpenSearch behind the :class:`Store` interface.

The backend is chosen by the store URL (see :func:`engine_store`)::

    http(s)://HOST:9200, elasticsearch://HOST:9200, elasticsearch+https://HOST  -> elasticsearch client
    opensearch://HOST:9200, opensearch+https://HOST                             -> opensearch-py client

URL options: ``?prefix=NAME`` (index name prefix, default ``$PORTALNEWS_INDEX_PREFIX`` or
``portalnews``), ``?replicas=N`` (default ``$PORTALNEWS_INDEX_REPLICAS`` or 0) and
``?shards=N`` (default ``$PORTALNEWS_INDEX_SHARDS`` or 1).

Credentials and certificates come from the environment, never from code:
``PORTALNEWS_ES_USERNAME`` / ``PORTALNEWS_ES_PASSWORD`` (basic auth; ``user:pass@`` in the
URL works too), ``PORTALNEWS_ES_API_KEY`` (Elasticsearch only), ``PORTALNEWS_ES_CA_CERTS``
(CA bundle) and ``PORTALNEWS_ES_VERIFY_CERTS`` (certificate verification stays on unless
this is explicitly ``false``).  ``PORTALNEWS_ES_TIMEOUT`` sets the request timeout (s).

The synchronous methods (used by the CLI) use the synchronous clients and make their
writes visible at once, like SQLite.  The crawl indexes through the asynchronous
clients (:meth:`EngineStore.awrite`, driven by
:class:`pipelines.storage.async_writer.AsyncWriter`) without per-request refreshes.
Writes go through the bulk helpers; a 429 or 5xx answer is retried with back-off, and
every record the engine did not take is reported back (retryable or rejected), never
dropped: the writer spools it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pipelines.storage import engine_query as q
from pipelines.storage.base import (
    RUN_TOTAL_FIELDS,
    CoverageRow,
    Document,
    ExportFilter,
    PageRecord,
    RunRecord,
    SearchHit,
    SearchQuery,
    Store,
    StoreError,
    UpsertResult,
    apply_run,
    canonical_url,
    check_recent_field,
    now_iso,
    parse_instant,
    redact_url,
    snippet_source,
)
from pipelines.storage.coordination_engine import (
    HISTORY_FIELDS,
    HISTORY_SOURCE_FIELDS,
    DocumentHistoryBuilder,
    EngineCoordination,
)
from pipelines.storage.engine_mappings import (
    MAPPING_VERSION,
    IndexNames,
    article_mappings,
    article_template,
    index_settings,
    state_index_bodies,
)
from pipelines.storage.spool import Record, spool_dir_name
from pipelines.storage.textsearch import exact_match, make_snippet, parse_query

logger = logging.getLogger(__name__)

ELASTICSEARCH = "elasticsearch"
OPENSEARCH = "opensearch"

_SCHEMES: dict[str, tuple[str, str]] = {
    "http": (ELASTICSEARCH, "http"),
    "https": (ELASTICSEARCH, "https"),
    "elasticsearch": (ELASTICSEARCH, "http"),
    "elasticsearch+http": (ELASTICSEARCH, "http"),
    "elasticsearch+https": (ELASTICSEARCH, "https"),
    "es": (ELASTICSEARCH, "http"),
    "es+https": (ELASTICSEARCH, "https"),
    "opensearch": (OPENSEARCH, "http"),
    "opensearch+http": (OPENSEARCH, "http"),
    "opensearch+https": (OPENSEARCH, "https"),
}
_FALSE = {"false", "0", "no", "off"}
_TRUE = {"true", "1", "yes", "on"}
_URL_OPTIONS = {"prefix", "replicas", "shards"}
_INTERNAL_FIELDS = ("first_seen_at", "version", "indexed_at", *HISTORY_FIELDS)
_MAX_CONFLICT_ROUNDS = 5
_PAGE = 500
_SCROLL_PAGE = 5000



def page_id(url: str, canonical: str | None = None) -> str:
    """``_id`` of a page record: SHA-1 of the canonical URL (URLs can exceed the id limit)."""
    return hashlib.sha1((canonical or canonical_url(url)).encode("utf-8")).hexdigest()


# --- configuration ------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineConfig:
    """Everything needed to talk to one engine, parsed from a store URL and the environment."""

    flavour: str  # elasticsearch | opensearch
    base_url: str  # http(s)://host:port[/path], no credentials
    url: str  # the store URL as given, password masked
    prefix: str = "portalnews"
    replicas: int = 0
    shards: int = 1
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_certs: str | None = None
    verify_certs: bool = True
    timeout: float = 30.0
    write_attempts: int = 3  # tries of a batch that got 429/5xx, with back-off
    backoff: float = 0.5  # first back-off delay in seconds (doubles)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def names(self) -> IndexNames:
        return IndexNames(self.prefix)

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] | None = None) -> EngineConfig:
        env = os.environ if environ is None else environ
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise StoreError(f"store URL {redact_url(url)!r} is not a search-engine URL")
        flavour, transport = _SCHEMES[scheme]
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise StoreError(f"store URL {redact_url(url)!r}: {exc}") from None
        if not host:
            raise StoreError(f"store URL {redact_url(url)!r} names no host: use {scheme}://HOST:9200")
        netloc = f"[{host}]" if ":" in host else host
        base_url = f"{transport}://{netloc}:{port or 9200}{parts.path.rstrip('/')}"
        options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = set(options) - _URL_OPTIONS
        if unknown:
            raise StoreError(f"store URL {redact_url(url)!r}: unknown option(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(_URL_OPTIONS))})")
        prefix = options.get("prefix") or env.get("PORTALNEWS_INDEX_PREFIX") or "portalnews"
        try:
            IndexNames(prefix)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        replicas = _int_option("replicas", options.get("replicas") or env.get("PORTALNEWS_INDEX_REPLICAS"), 0)
        shards = _int_option("shards", options.get("shards") or env.get("PORTALNEWS_INDEX_SHARDS"), 1, minimum=1)
        username = unquote(parts.username) if parts.username else env.get("PORTALNEWS_ES_USERNAME") or None
        password = unquote(parts.password) if parts.password is not None else env.get("PORTALNEWS_ES_PASSWORD")
        api_key = env.get("PORTALNEWS_ES_API_KEY") or None
        if username and password is None and not api_key:
            raise StoreError("PORTALNEWS_ES_USERNAME is set but PORTALNEWS_ES_PASSWORD is not")
        if api_key and flavour == OPENSEARCH:
            raise StoreError("PORTALNEWS_ES_API_KEY is an Elasticsearch feature; for OpenSearch set "
                             "PORTALNEWS_ES_USERNAME and PORTALNEWS_ES_PASSWORD")
        ca_certs = env.get("PORTALNEWS_ES_CA_CERTS") or None
        if ca_certs and not Path(ca_certs).is_file():
            raise StoreError(f"PORTALNEWS_ES_CA_CERTS={ca_certs}: no such file")
        verify_raw = (env.get("PORTALNEWS_ES_VERIFY_CERTS") or "").strip().lower()
        if verify_raw and verify_raw not in _FALSE | _TRUE:
            raise StoreError(f"PORTALNEWS_ES_VERIFY_CERTS={verify_raw!r}: use true or false")
        try:
            timeout = float(env.get("PORTALNEWS_ES_TIMEOUT") or 30.0)
        except ValueError:
            raise StoreError("PORTALNEWS_ES_TIMEOUT must be a number of seconds") from None
        return cls(flavour=flavour, base_url=base_url, url=redact_url(url), prefix=prefix, replicas=replicas,
                   shards=shards, username=username, password=password, api_key=api_key, ca_certs=ca_certs,
                   verify_certs=verify_raw not in _FALSE, timeout=timeout)


def _int_option(name: str, value: str | None, default: int, minimum: int = 0) -> int:
    if value in (None, ""):
        return default
    try:
        n = int(value)  # type: ignore[arg-type]
    except ValueError:
        n = -1
    if n < minimum:
        raise StoreError(f"store option {name}={value!r}: expected an integer >= {minimum}")
    return n


# --- errors ---------------------------------------------------------------------------------
class EngineError(StoreError):
    """A request to the engine failed.  ``kind``: unreachable, timeout, tls, auth, forbidden,
    product, not_found, conflict, overloaded, server or request."""

    def __init__(self, message: str, kind: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status

    @property
    def retryable(self) -> bool:
        """Worth sending again later (the data is fine; the engine was not)."""
        return self.kind in {"unreachable", "timeout", "overloaded", "server", "not_found", "auth",
                             "forbidden", "tls"}

    @property
    def unreachable(self) -> bool:
        return self.kind in {"unreachable", "timeout", "tls"}


def _connection_cause(text: str) -> str:
    low = text.lower()
    for needles, cause in (
        (("connection refused", "connect call failed", "errno 111"), "connection refused"),
        (("name or service not known", "nodename nor servname", "temporary failure in name resolution",
          "getaddrinfo failed", "no address associated"), "host name not found"),
        (("certificate verify failed", "certificate_verify_failed"), "TLS certificate verification failed"),
        (("timed out", "timeout"), "timed out"),
        (("reset by peer", "connection reset"), "connection reset"),
        (("server disconnected", "remote end closed", "remotedisconnected", "connection aborted"),
         "the server closed the connection"),
        (("no route to host",), "no route to host"),
        (("network is unreachable",), "network is unreachable"),
    ):
        if any(n in low for n in needles):
            return cause
    return text.strip().splitlines()[0][:200] if text.strip() else "connection failed"


def _error_reason(info: Any) -> str:
    """A short reason from an error body (``{"error": {"type":…, "reason":…}}``) or a string."""
    if isinstance(info, Mapping):
        err = info.get("error", info)
        if isinstance(err, Mapping):
            root = err.get("root_cause")
            if isinstance(root, list) and root and isinstance(root[0], Mapping) and not err.get("reason"):
                err = root[0]
            reason = err.get("reason") or ""
            caused = err.get("caused_by")
            if isinstance(caused, Mapping) and caused.get("reason"):
                reason = f"{reason}: {caused.get('reason')}" if reason else str(caused.get("reason"))
            return f"{err.get('type', 'error')}: {reason}"[:500]
        return str(err)[:500]
    return str(info)[:500]


def _http_error(url: str, status: int, reason: str) -> EngineError:
    if status == 401:
        return EngineError(f"the search engine at {url} refused the credentials (HTTP 401): set "
                           "PORTALNEWS_ES_USERNAME and PORTALNEWS_ES_PASSWORD, or PORTALNEWS_ES_API_KEY", "auth", 401)
    if status == 403:
        return EngineError(f"the search engine at {url} denied access (HTTP 403): {reason}", "forbidden", 403)
    if status == 404:
        return EngineError(f"search engine at {url}: not found (HTTP 404): {reason}", "not_found", 404)
    if status == 409:
        return EngineError(f"search engine at {url}: conflict (HTTP 409): {reason}", "conflict", 409)
    if status == 429:
        return EngineError(f"the search engine at {url} is overloaded (HTTP 429): {reason}", "overloaded", 429)
    if status >= 500:
        return EngineError(f"the search engine at {url} failed (HTTP {status}): {reason}", "server", status)
    return EngineError(f"the search engine at {url} rejected the request (HTTP {status}): {reason}",
                       "request", status)


# --- client flavours ---------------------------------------------------------------------
class _Flavour:
    """What differs between the elasticsearch and opensearch-py clients."""

    name = ""

    def sync_client(self, cfg: EngineConfig) -> Any:
        raise NotImplementedError

    def async_client(self, cfg: EngineConfig) -> Any:
        raise NotImplementedError

    def streaming_bulk(self, client: Any, actions: list[dict[str, Any]], **kw: Any) -> Iterable[Any]:
        raise NotImplementedError

    def async_streaming_bulk(self, client: Any, actions: list[dict[str, Any]], **kw: Any) -> Any:
        raise NotImplementedError

    def translate(self, exc: BaseException, url: str) -> EngineError:
        raise NotImplementedError


class _Elasticsearch(_Flavour):
    name = ELASTICSEARCH

    def _kwargs(self, cfg: EngineConfig, max_retries: int) -> dict[str, Any]:
        kw: dict[str, Any] = {"hosts": [cfg.base_url], "request_timeout": cfg.timeout,
                              "max_retries": max_retries, "retry_on_timeout": False}
        if cfg.api_key:
            kw["api_key"] = cfg.api_key
        elif cfg.username:
            kw["basic_auth"] = (cfg.username, cfg.password or "")
        if cfg.https:
            kw["verify_certs"] = cfg.verify_certs
            if cfg.ca_certs:
                kw["ca_certs"] = cfg.ca_certs
            if not cfg.verify_certs:
                kw["ssl_show_warn"] = False
        return kw

    def sync_client(self, cfg: EngineConfig) -> Any:
        from elasticsearch import Elasticsearch

        return Elasticsearch(**self._kwargs(cfg, max_retries=1))

    def async_client(self, cfg: EngineConfig) -> Any:
        from elasticsearch import AsyncElasticsearch

        return AsyncElasticsearch(**self._kwargs(cfg, max_retries=0))

    def streaming_bulk(self, client: Any, actions: list[dict[str, Any]], **kw: Any) -> Iterable[Any]:
        from elasticsearch.helpers import streaming_bulk

        return streaming_bulk(client, actions, **kw)

    def async_streaming_bulk(self, client: Any, actions: list[dict[str, Any]], **kw: Any) -> Any:
        from elasticsearch.helpers import async_streaming_bulk

        return async_streaming_bulk(client, actions, **kw)

    def translate(self, exc: BaseException, url: str) -> EngineError:
        import elastic_transport
        import elasticsearch

        if isinstance(exc, EngineError):
            return exc
        if isinstance(exc, elasticsearch.UnsupportedProductError):
            return EngineError(f"the server at {url} is not Elasticsearch: for OpenSearch use "
                               "opensearch://HOST:PORT", "product")
        if isinstance(exc, elasticsearch.ApiError):
            return _http_error(url, int(exc.meta.status), _error_reason(exc.body) if exc.body else str(exc.message))
        if isinstance(exc, elastic_transport.ConnectionTimeout):
            return EngineError(f"cannot reach the search engine at {url}: timed out", "timeout")
        if isinstance(exc, elastic_transport.TlsError):
            return EngineError(f"TLS error talking to the search engine at {url}: {_connection_cause(str(exc))} "
                               "(set PORTALNEWS_ES_CA_CERTS to its CA bundle)", "tls")
        if isinstance(exc, (elastic_transport.TransportError, OSError, asyncio.TimeoutError)):
            return EngineError(f"cannot reach the search engine at {url}: {_connection_cause(str(exc))}",
                               "unreachable")
        return EngineError(f"search engine at {url}: {type(exc).__name__}: {exc}", "request")


class _OpenSearch(_Flavour):
    name = OPENSEARCH

    def _kwargs(self, cfg: EngineConfig, max_retries: int) -> dict[str, Any]:
        kw: dict[str, Any] = {"hosts": [cfg.base_url], "timeout": cfg.timeout, "max_retries": max_retries,
                              "retry_on_timeout": False}
        if cfg.username:
            kw["http_auth"] = (cfg.username, cfg.password or "")
        if cfg.https:
            kw.update(use_ssl=True, verify_certs=cfg.verify_certs, ssl_show_warn=cfg.verify_certs)
            if cfg.ca_certs:
                kw["ca_certs"] = cfg.ca_certs
            if not cfg.verify_certs:
                kw["ssl_assert_hostname"] = False
        return kw

    def sync_client(self, cfg: EngineConfig) -> Any:
        from opensearchpy import OpenSearch

        return OpenSearch(**self._kwargs(cfg, max_retries=1))

    def async_client(self, cfg: EngineConfig) -> Any:
        from opensearchpy import AsyncOpenSearch

        return AsyncOpenSearch(**self._kwargs(cfg, max_retries=0))

    def streaming_bulk(self, client: Any, actions: list[dict[str, Any]], **kw: Any) -> Iterable[Any]:
        from opensearchpy.helpers import streaming_bulk

        return streaming_bulk(client, actions, **kw)  # type: ignore[no-any-return]

    def async_streaming_bulk(self, client: Any, actions: list[dict[str, Any]], **kw: Any) -> Any:
        from opensearchpy.helpers import async_streaming_bulk

        return async_streaming_bulk(client, actions, **kw)

    def translate(self, exc: BaseException, url: str) -> EngineError:
        from opensearchpy import exceptions as ox

        if isinstance(exc, EngineError):
            return exc
        if isinstance(exc, ox.ConnectionTimeout):
            return EngineError(f"cannot reach the search engine at {url}: timed out", "timeout")
        if isinstance(exc, ox.SSLError):
            return EngineError(f"TLS error talking to the search engine at {url}: {_connection_cause(str(exc))} "
                               "(set PORTALNEWS_ES_CA_CERTS to its CA bundle)", "tls")
        if isinstance(exc, ox.ConnectionError):
            return EngineError(f"cannot reach the search engine at {url}: {_connection_cause(str(exc))}",
                               "unreachable")
        if isinstance(exc, ox.TransportError) and isinstance(exc.status_code, int):
            return _http_error(url, exc.status_code, _error_reason(exc.info) if exc.info else str(exc.error))
        if isinstance(exc, (ox.TransportError, OSError, asyncio.TimeoutError)):
            return EngineError(f"cannot reach the search engine at {url}: {_connection_cause(str(exc))}",
                               "unreachable")
        return EngineError(f"search engine at {url}: {type(exc).__name__}: {exc}", "request")


_FLAVOURS: dict[str, _Flavour] = {ELASTICSEARCH: _Elasticsearch(), OPENSEARCH: _OpenSearch()}


def _body(resp: Any) -> Any:
    """The JSON body of a client response (elasticsearch wraps it, opensearch-py does not)."""
    return getattr(resp, "body", resp)


# --- writing: one batch, without I/O ---------------------------------------------------------
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


_DOC_FIELDS = tuple(f for f in Document.__dataclass_fields__ if f != "extra")


def _document_source(doc: Document, first_seen_at: str | None, version: int) -> dict[str, Any]:
    data = {name: getattr(doc, name) for name in _DOC_FIELDS}  # dataclasses.asdict is slow here
    if doc.extra:
        data["extra"] = dict(doc.extra)
    data["first_seen_at"] = first_seen_at or doc.crawled_at or None
    data["version"] = version
    data["indexed_at"] = now_iso()
    for key in ("published_at", "crawled_at"):
        if data.get(key) == "":
            data[key] = None
    return data


def document_from_source(src: Mapping[str, Any]) -> Document:
    data = {k: v for k, v in src.items() if k not in _INTERNAL_FIELDS}
    if data.get("crawled_at") is None:
        data["crawled_at"] = ""
    return Document.from_dict(data)


def _page_action(index: str, page: PageRecord) -> dict[str, Any]:
    canon = canonical_url(page.url)  # computed once: it is the costly part
    full = {"url": canon, "portal_id": page.portal_id, "kind": page.kind, "status": page.status,
            "content_hash": page.content_hash, "doc_id": page.doc_id, "reason": page.reason,
            "first_seen_at": page.fetched_at, "fetched_at": page.fetched_at}
    # like SQLite: first_seen_at kept; content_hash and doc_id kept when the new record has none
    partial = {k: v for k, v in full.items()
               if k != "first_seen_at" and not (v is None and k in ("content_hash", "doc_id"))}
    return {"_op_type": "update", "_index": index, "_id": page_id(page.url, canon), "doc": partial,
            "upsert": full, "retry_on_conflict": 5}


class _BatchPlan:
    """The state of one batch across lookup rounds, version conflicts and retries.

    Documents are upserted with optimistic concurrency: their current version is looked
    up (mget), then each is written with ``create`` (new) or ``index`` + ``if_seq_no`` /
    ``if_primary_term`` (existing), so two crawlers writing the same document never lose
    an update; a conflict sends the document through another round.  Page records are
    partial-update upserts; run records are indexed by run id.  All in one bulk request.
    """

    def __init__(self, names: IndexNames, records: Sequence[Record], replay: bool = False,
                 translate: Callable[[BaseException], EngineError] | None = None) -> None:
        self.names = names
        self.replay = replay
        self.translate = translate
        self.report = WriteReport()
        self.docs: dict[str, list[Document]] = {}
        self.pages: list[PageRecord] = []
        self.runs: list[RunRecord] = []
        self.rounds = 0
        self._waiting: dict[tuple[str, str], deque[tuple[list[Record], UpsertResult | None]]] = {}
        self._failed_retryable: list[tuple[Record, str]] = []
        self._add(records)

    def _add(self, records: Sequence[Record]) -> None:
        for rec in records:
            if isinstance(rec, Document):
                self.docs.setdefault(rec.id, []).append(rec)
            elif isinstance(rec, PageRecord):
                self.pages.append(rec)
            else:
                self.runs.append(rec)

    @property
    def pending(self) -> bool:
        return bool(self.docs or self.pages or self.runs)

    def lookup_ids(self) -> list[str]:
        return list(self.docs)

    def fail_pending(self, reason: str) -> None:
        for group in self.docs.values():
            self._failed_retryable.extend((d, reason) for d in group)
        self._failed_retryable.extend((p, reason) for p in self.pages)
        self._failed_retryable.extend((r, reason) for r in self.runs)
        self.docs, self.pages, self.runs = {}, [], []

    def start_round(self, existing: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Bulk actions for everything pending; ``existing``: id -> mget hit of found documents."""
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
                    actions.append({"_op_type": "update", "_index": alias, "_id": doc_id,
                                    "doc": {"view_history": history.fields()["view_history"]},
                                    "if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]})
                    self._waiting.setdefault(("doc", doc_id), deque()).append(
                        (list(group), UpsertResult(unchanged=len(group))))
                else:
                    self._ok(group, UpsertResult(unchanged=len(group)))
                continue
            for doc in group:
                history.add(doc)
            action: dict[str, Any] = {"_index": alias, "_id": doc_id,
                                      "_source": {**_document_source(final, first_seen, version), **history.fields()}}
            if hit is None:
                action["_op_type"] = "create"
            else:
                action.update(_op_type="index", if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            actions.append(action)
            self._waiting.setdefault(("doc", doc_id), deque()).append((list(group), outcome))
        for page in self.pages:
            action = _page_action(self.names.pages, page)
            actions.append(action)
            self._waiting.setdefault(("page", action["_id"]), deque()).append(([page], None))
        for run in self.runs:
            op = "create" if self.replay and run.outcome == "running" else "index"
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
        reason = _error_reason(info.get("error")) if info.get("error") is not None else f"HTTP {status}"
        if status == 409 and family == "doc" and self.rounds < _MAX_CONFLICT_ROUNDS:
            self._add(records)  # someone else wrote it meanwhile: look it up again
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

    def should_retry(self) -> bool:
        """Whether the retryable failures are worth another try now (the engine answered)."""
        err = self.report.error
        return bool(self._failed_retryable) and not (err is not None and err.unreachable)

    def retry_failed(self) -> None:
        failed, self._failed_retryable = self._failed_retryable, []
        self._add([r for r, _ in failed])
        self.report.retries += 1

    def finish(self) -> WriteReport:
        self.fail_pending("not sent")
        self.report.failed = self._failed_retryable
        return self.report


_BULK_OPTIONS: dict[str, Any] = {
    "chunk_size": 1000, "max_chunk_bytes": 20 * 1024 * 1024, "raise_on_error": False,
    "raise_on_exception": False, "max_retries": 2, "initial_backoff": 0.5, "max_backoff": 4.0,
}


# --- the store ----------------------------------------------------------------------------
class EngineStore(EngineCoordination, Store):
    """Elasticsearch / OpenSearch store (see the module docstring)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.url = config.url
        self.names = config.names
        self.flavour = _FLAVOURS[config.flavour]
        self._sync: Any = None
        self._async: Any = None
        self._warned = False

    def __repr__(self) -> str:
        return f"EngineStore({self.config.flavour}, {self.config.base_url}, prefix={self.config.prefix!r})"

    @property
    def spool_name(self) -> str:
        """Folder name of this store's default spool (no credentials in it)."""
        suffix = "" if self.config.prefix == "portalnews" else f"_{self.config.prefix}"
        return spool_dir_name(f"{self.config.flavour}://{self.config.base_url.split('://', 1)[1]}") + suffix

    # --- plumbing --------------------------------------------------------------------
    def _warn_once(self) -> None:
        if self._warned:
            return
        self._warned = True
        # The clients log every failed request with a traceback; this store reports each
        # problem once, in its own words.  Quiet them unless someone configured them.
        for name in ("opensearch", "elastic_transport.transport", "elastic_transport.node_pool"):
            client_logger = logging.getLogger(name)
            if client_logger.level == logging.NOTSET:
                client_logger.setLevel(logging.CRITICAL)
        if self.config.https and not self.config.verify_certs:
            logger.warning("TLS certificate verification is OFF for %s (PORTALNEWS_ES_VERIFY_CERTS=false)",
                           self.config.base_url)
        host = urlsplit(self.config.base_url).hostname or ""
        if (self.config.username or self.config.api_key) and not self.config.https and not (
                host in ("localhost", "::1") or host.startswith("127.")):
            logger.warning("credentials are sent to %s over plain http: use https", self.config.base_url)

    def _client(self) -> Any:
        if self._sync is None:
            self._warn_once()
            try:
                self._sync = self.flavour.sync_client(self.config)
            except (ValueError, TypeError, OSError) as exc:
                raise StoreError(f"cannot configure the {self.config.flavour} client for "
                                 f"{self.config.base_url}: {exc}") from None
        return self._sync

    def _aclient(self) -> Any:
        if self._async is None:
            self._warn_once()
            try:
                self._async = self.flavour.async_client(self.config)
            except (ValueError, TypeError, OSError) as exc:
                raise StoreError(f"cannot configure the {self.config.flavour} client for "
                                 f"{self.config.base_url}: {exc}") from None
        return self._async

    def _error(self, exc: BaseException) -> EngineError:
        return self.flavour.translate(exc, self.config.base_url)

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return _body(fn(*args, **kwargs))
        except Exception as exc:
            raise self._error(exc) from None

    def _search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        resp: dict[str, Any] = self._call(self._client().search, index=index, body=body)
        return resp

    # --- lifecycle -------------------------------------------------------------------
    def open(self) -> None:
        client = self._client()
        info = self._call(client.info)
        distribution = (info.get("version") or {}).get("distribution") or "elasticsearch"
        if self.config.flavour == OPENSEARCH and distribution != "opensearch":
            raise StoreError(f"the server at {self.config.base_url} is Elasticsearch "
                             f"{(info.get('version') or {}).get('number', '')}: use "
                             f"elasticsearch://{self.config.base_url.split('://', 1)[1]} (or http://…)")
        self._ensure_schema(client)
        self._ensure_coordination_indices(client)  # leases, schedule, back-off (coordination_engine)

    def _exists(self, fn: Callable[..., Any], **kwargs: Any) -> bool:
        try:
            return bool(fn(**kwargs))
        except Exception as exc:
            err = self._error(exc)
            if err.kind == "not_found":
                return False
            raise err from None

    def _ensure_schema(self, client: Any) -> None:
        names, cfg = self.names, self.config
        template = self._get_template(client)
        if template is None or int(template.get("version") or 0) < MAPPING_VERSION:
            self._call(client.indices.put_index_template, name=names.template,
                       body=article_template(names, cfg.shards, cfg.replicas))
            if template is not None:
                logger.warning("updated the index template %s to mapping version %d: run `portalnews reindex` "
                               "to rebuild the documents with it", names.template, MAPPING_VERSION)
        elif int(template.get("version") or 0) > MAPPING_VERSION:
            logger.warning("index template %s has mapping version %s, newer than this portalnews (%d)",
                           names.template, template.get("version"), MAPPING_VERSION)
        if not self._exists(client.indices.exists_alias, name=names.articles):
            if self._exists(client.indices.exists, index=names.articles):
                raise StoreError(f"{names.articles} on {cfg.base_url} is an index, not an alias: move it away or "
                                 "choose another prefix (?prefix=NAME or PORTALNEWS_INDEX_PREFIX)")
            first = names.articles_version(1)
            self._create_index(client, first, {
                "settings": index_settings(cfg.shards, cfg.replicas), "mappings": article_mappings(),
                "aliases": {names.articles: {"is_write_index": True}}})
            if not self._exists(client.indices.exists_alias, name=names.articles):  # lost a creation race
                self._call(client.indices.update_aliases, body={"actions": [
                    {"add": {"index": first, "alias": names.articles, "is_write_index": True}}]})
            logger.info("created %s -> %s on %s", names.articles, first, cfg.base_url)
        for index, body in state_index_bodies(names, cfg.replicas).items():
            if not self._exists(client.indices.exists, index=index):
                self._create_index(client, index, body)

    def _create_index(self, client: Any, index: str, body: dict[str, Any]) -> None:
        try:
            client.indices.create(index=index, body=body)
        except Exception as exc:
            err = self._error(exc)
            if err.status == 400 and "already_exists" in str(err):
                return  # another crawler created it first
            raise err from None

    def _get_template(self, client: Any) -> dict[str, Any] | None:
        if not self._exists(client.indices.exists_index_template, name=self.names.template):
            return None
        try:
            resp = _body(client.indices.get_index_template(name=self.names.template))
        except Exception as exc:
            err = self._error(exc)
            if err.kind == "not_found":
                return None
            raise err from None
        for item in resp.get("index_templates", []):
            if item.get("name") == self.names.template:
                tmpl: dict[str, Any] = item.get("index_template", {})
                return tmpl
        return None

    def close(self) -> None:
        client, self._sync = self._sync, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing is best effort
                logger.debug("closing the engine client: %s", exc)

    def refresh(self) -> None:
        """Make every write so far visible to searches."""
        self._call(self._client().indices.refresh, index=",".join([self.names.articles, *self.names.state_indices()]))

    # --- writing (sync) ----------------------------------------------------------------
    def write(self, records: Sequence[Record], refresh: bool = True, replay: bool = False) -> WriteReport:
        """Write a batch; every record comes back in the report as written, failed or rejected."""
        plan = _BatchPlan(self.names, records, replay=replay, translate=self._error)
        client = self._client()
        kwargs = dict(_BULK_OPTIONS, refresh=True) if refresh else dict(_BULK_OPTIONS)
        for attempt in range(max(1, self.config.write_attempts)):
            while plan.pending:
                ids = plan.lookup_ids()
                try:
                    existing = self._mget(client, ids) if ids else {}
                except EngineError as err:
                    plan.report.error = err
                    plan.fail_pending(str(err))
                    break
                actions = plan.start_round(existing)
                try:
                    for ok, item in self.flavour.streaming_bulk(client, actions, **kwargs):
                        plan.feed(ok, item)
                except Exception as exc:
                    plan.feed_exception(self._error(exc))
                plan.end_round()
            if attempt + 1 >= self.config.write_attempts or not plan.should_retry():
                break
            time.sleep(self.config.backoff * 2 ** attempt)
            plan.retry_failed()
        return plan.finish()

    def _mget(self, client: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        resp = self._call(client.mget, index=self.names.articles, body=self._mget_body(ids))
        return {d["_id"]: d for d in resp.get("docs", []) if d.get("found")}

    @staticmethod
    def _mget_body(ids: list[str]) -> dict[str, Any]:
        fields = ["content_hash", "view_count", "first_seen_at", "version", "crawled_at", *HISTORY_SOURCE_FIELDS]
        return {"docs": [{"_id": i, "_source": fields} for i in ids]}

    @staticmethod
    def _raise_for(report: WriteReport, what: str) -> None:
        problems = report.failed + report.rejected
        if problems:
            record, reason = problems[0]
            url = str(getattr(record, "url", getattr(record, "run_id", "")))
            url = url if len(url) <= 200 else url[:200] + "…"
            raise StoreError(f"{len(problems)} {what} not stored (first: {url}: {reason})")

    def upsert_documents(self, docs: Sequence[Document]) -> UpsertResult:
        report = self.write(docs)
        self._raise_for(report, "documents")
        return report.result

    def record_pages(self, pages: Sequence[PageRecord]) -> None:
        self._raise_for(self.write(pages), "page records")

    def save_run(self, run: RunRecord) -> None:
        self._raise_for(self.write([run]), "run records")

    # --- writing (async, the crawl's path) -------------------------------------------
    async def awrite(self, records: Sequence[Record], replay: bool = False) -> WriteReport:
        """Like :meth:`write` through the async client, without refresh; never raises for
        engine problems: they come back in the report."""
        plan = _BatchPlan(self.names, records, replay=replay, translate=self._error)
        try:
            client = self._aclient()
        except StoreError as exc:
            plan.fail_pending(str(exc))
            return plan.finish()
        for attempt in range(max(1, self.config.write_attempts)):
            while plan.pending:
                ids = plan.lookup_ids()
                try:
                    existing = await self._amget(client, ids) if ids else {}
                except Exception as exc:
                    err = self._error(exc)
                    plan.report.error = err
                    plan.fail_pending(str(err))
                    break
                actions = plan.start_round(existing)
                try:
                    async for ok, item in self.flavour.async_streaming_bulk(client, actions, **_BULK_OPTIONS):
                        plan.feed(ok, item)
                except Exception as exc:
                    plan.feed_exception(self._error(exc))
                plan.end_round()
            if attempt + 1 >= self.config.write_attempts or not plan.should_retry():
                break
            await asyncio.sleep(self.config.backoff * 2 ** attempt)
            plan.retry_failed()
        return plan.finish()

    async def _amget(self, client: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        resp = _body(await client.mget(index=self.names.articles, body=self._mget_body(ids)))
        return {d["_id"]: d for d in resp.get("docs", []) if d.get("found")}

    async def aupsert_documents(self, docs: Sequence[Document]) -> UpsertResult:
        report = await self.awrite(docs)
        self._raise_for(report, "documents")
        return report.result

    async def arecord_pages(self, pages: Sequence[PageRecord]) -> None:
        self._raise_for(await self.awrite(pages), "page records")

    async def asave_run(self, run: RunRecord) -> None:
        self._raise_for(await self.awrite([run]), "run records")

    async def aping(self) -> bool:
        """Whether the engine answers (used to detect the end of an outage)."""
        try:
            await self._aclient().info()
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

    async def aclose(self) -> None:
        client, self._async = self._async, None
        if client is not None:
            try:
                await client.close()
            except Exception as exc:  # closing is best effort
                logger.debug("closing the async engine client: %s", exc)

    # --- reading -------------------------------------------------------------------------
    def get_document(self, doc_id: str) -> Document | None:
        try:
            resp = _body(self._client().get(index=self.names.articles, id=doc_id))
        except Exception as exc:
            err = self._error(exc)
            if err.kind == "not_found":
                return None
            raise err from None
        return document_from_source(resp["_source"]) if resp.get("found") else None

    def count_documents(self, portal_id: str | None = None) -> int:
        resp = self._call(self._client().count, index=self.names.articles, body=q.count_body(portal_id))
        return int(resp["count"])

    def iter_documents(self, flt: ExportFilter | None = None) -> Iterator[Document]:
        body = q.export_body(flt or ExportFilter(), _PAGE)
        while True:
            hits = self._search(self.names.articles, body)["hits"]["hits"]
            for hit in hits:
                yield document_from_source(hit["_source"])
            if len(hits) < _PAGE:
                return
            body["search_after"] = hits[-1]["sort"]

    def search(self, query: SearchQuery) -> list[SearchHit]:
        parsed = parse_query(query.text)
        resp = self._search(self.names.articles, q.search_body(query, parsed))
        hits = []
        for raw in resp["hits"]["hits"]:
            doc = document_from_source(raw["_source"])
            score, exact = q.hit_score(raw) if parsed.terms else (0.0, False)
            text = doc.title + " \n " + (doc.summary or "") + " \n " + doc.body
            exact = exact or (parsed.has_diacritics and exact_match(text, parsed))
            src = doc.body if not parsed.terms else snippet_source(doc, parsed)
            hits.append(SearchHit(document=doc, score=score, snippet=make_snippet(src, parsed), exact=exact))
        return hits

    # --- crawl state -----------------------------------------------------------------------
    def known_pages(self, portal_id: str) -> dict[str, str]:
        # Like SQLite: stored documents count as known articles even when their page record
        # is not there (a crawl killed between the two writes must not refetch them).
        out: dict[str, str] = {}
        for index, source in ((self.names.articles, ["url"]), (self.names.pages, ["url", "kind"])):
            body = q.known_pages_body(portal_id, _SCROLL_PAGE, source)
            while True:
                hits = self._search(index, body)["hits"]["hits"]
                for hit in hits:
                    src = hit["_source"]
                    if "kind" in src:
                        out[src["url"]] = src["kind"]
                    else:
                        out[canonical_url(src["url"])] = "article"
                if len(hits) < _SCROLL_PAGE:
                    break
                body["search_after"] = hits[-1]["sort"]
        return out

    def runs(self, portal_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        hits = self._search(self.names.runs, q.runs_body(portal_id, limit))["hits"]["hits"]
        return [_run_from_source(h["_source"]) for h in hits]

    def coverage(self) -> list[CoverageRow]:
        out: dict[str, CoverageRow] = {}
        after: dict[str, Any] | None = None
        while True:
            agg = self._search(self.names.articles, q.coverage_articles_body(after))["aggregations"]["portals"]
            for bucket in agg["buckets"]:
                pid = bucket["key"]["portal_id"]
                newest_hits = bucket["newest"]["hits"]["hits"]
                newest = newest_hits[0]["_source"].get("published_at") if newest_hits else None
                out[pid] = CoverageRow(portal_id=pid, articles=int(bucket["doc_count"]), newest_article=newest)
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                break
        after = None
        while True:
            agg = self._search(self.names.runs, q.coverage_runs_body(after))["aggregations"]["portals"]
            for bucket in agg["buckets"]:
                latest = bucket["latest"]["hits"]["hits"]
                if not latest:
                    continue
                run = _run_from_source(latest[0]["_source"])
                row = out.setdefault(run.portal_id, CoverageRow(portal_id=run.portal_id))
                apply_run(row, run)
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                break
        return [out[k] for k in sorted(out)]

    # --- monitoring (pipelines.monitoring) ---------------------------------------------------------
    def _composite_buckets(self, index: str, body_for: Callable[[dict[str, Any] | None], dict[str, Any]],
                           ) -> Iterator[dict[str, Any]]:
        after: dict[str, Any] | None = None
        while True:
            agg = self._search(index, body_for(after))["aggregations"]["portals"]
            yield from agg["buckets"]
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                return

    def recent_counts(self, since: Mapping[str, str], field: str = "published_at") -> dict[str, dict[str, int]]:
        check_recent_field(field)
        bounds = {label: parse_instant(value) for label, value in since.items()}
        known = {label: b.isoformat() for label, b in bounds.items() if b is not None}
        if not known:
            return {}
        earliest = min(b for b in bounds.values() if b is not None).isoformat()
        labels = list(known)
        out: dict[str, dict[str, int]] = {}
        for bucket in self._composite_buckets(
                self.names.articles, lambda after: q.recent_counts_body(field, known, earliest, after)):
            counts = {label: int(bucket[f"w{i}"]["doc_count"]) for i, label in enumerate(labels)}
            out[bucket["key"]["portal_id"]] = {label: counts.get(label, 0) for label in since}
        return out

    def published_per_day(self, since: str | None = None, until: str | None = None) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for bucket in self._composite_buckets(self.names.articles,
                                              lambda after: q.published_per_day_body(since, until, after)):
            out.setdefault(bucket["key"]["portal_id"], {})[bucket["key"]["day"]] = int(bucket["doc_count"])
        return out

    def run_totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for bucket in self._composite_buckets(self.names.runs, lambda after: q.run_totals_body(RUN_TOTAL_FIELDS, after)):
            t = out.setdefault(bucket["key"]["portal_id"], dict.fromkeys(RUN_TOTAL_FIELDS, 0))
            t[f"runs/{bucket['key']['outcome']}"] = int(bucket["doc_count"])
            for name in RUN_TOTAL_FIELDS:
                t[name] += round(bucket[name]["value"] or 0)
        return out

    # --- maintenance ---------------------------------------------------------------------------
    def reindex(self, delete_old: bool = False, poll: float = 1.0) -> dict[str, Any]:
        """Build ``<prefix>-articles-v(N+1)`` with the current template and mapping, copy the
        documents into it, swap the alias atomically and keep (or delete) the old index.

        Writes that reach the old index while the copy runs are copied again after the swap
        (a second pass over ``indexed_at`` ≥ the start time)."""
        client = self._client()
        names, cfg = self.names, self.config
        self._ensure_schema(client)
        self._call(client.indices.put_index_template, name=names.template,
                   body=article_template(names, cfg.shards, cfg.replicas))
        aliased = sorted(self._call(client.indices.get_alias, name=names.articles))
        if len(aliased) != 1:
            raise StoreError(f"alias {names.articles} points at {len(aliased)} indices ({', '.join(aliased)}): "
                             "fix it by hand before a reindex")
        old = aliased[0]
        existing = self._call(client.indices.get, index=names.articles_pattern)
        version = max([names.version_of(i) or 0 for i in existing] + [1]) + 1
        new = names.articles_version(version)
        started = datetime.now(UTC)
        self._create_index(client, new, {"settings": index_settings(cfg.shards, cfg.replicas),
                                         "mappings": article_mappings()})
        copied = self._reindex_task(client, {"source": {"index": old}, "dest": {"index": new}}, poll)
        self._call(client.indices.update_aliases, body={"actions": [
            {"remove": {"index": old, "alias": names.articles}},
            {"add": {"index": new, "alias": names.articles, "is_write_index": True}},
        ]})
        self._call(client.indices.refresh, index=old)
        # writers' clocks may differ a little: copy again everything indexed since shortly before the start
        since = (started - timedelta(minutes=5)).replace(microsecond=0).isoformat()
        late = self._reindex_task(client, {"source": {"index": old, "query": {"range": {"indexed_at": {"gte": since}}}},
                                           "dest": {"index": new}}, poll)
        self._call(client.indices.refresh, index=new)
        if delete_old:
            self._call(client.indices.delete, index=old)
        count = self.count_documents()
        logger.info("reindexed %s -> %s: %d documents (%d copied again after the swap)", old, new, count, late)
        return {"alias": names.articles, "old_index": old, "new_index": new, "documents": count,
                "copied": copied, "copied_after_swap": late, "old_index_deleted": delete_old}

    def _reindex_task(self, client: Any, body: dict[str, Any], poll: float) -> int:
        resp = self._call(client.reindex, body=body, wait_for_completion=False, refresh=True)
        task_id = resp["task"]
        while True:
            with warnings.catch_warnings():  # the tasks API is "technical preview" to the elasticsearch client
                warnings.simplefilter("ignore")
                status = self._call(client.tasks.get, task_id=task_id)
            if status.get("completed"):
                break
            time.sleep(poll)
        result = status.get("response") or {}
        if status.get("error") or result.get("failures"):
            problem = status.get("error") or result["failures"][0]
            raise StoreError(f"reindex into {body['dest']['index']} failed: {_error_reason(problem)}")
        return int(result.get("created", 0)) + int(result.get("updated", 0))


def _run_from_source(src: Mapping[str, Any]) -> RunRecord:
    known = RunRecord.__dataclass_fields__
    return RunRecord(**{k: v for k, v in src.items() if k in known})


def engine_store(url: str) -> EngineStore:
    """Build (not open) the store for an engine URL; raises StoreError for a bad URL."""
    return EngineStore(EngineConfig.from_url(url))
