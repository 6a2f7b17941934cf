"""Talking to Elasticsearch or OpenSearch: the store URL's configuration, the clients, errors.

The client library is chosen by the store URL's scheme (:data:`pipelines.storage.factory.SCHEMES`)::

    http(s)://HOST:9200, elasticsearch(+http|+https)://HOST, es(+http|+https)://HOST -> elasticsearch
    opensearch(+http|+https)://HOST:9200                                             -> opensearch-py

URL options: ``?prefix=NAME`` (index name prefix, default ``$PORTALNEWS_INDEX_PREFIX`` or
``portalnews``), ``?replicas=N`` (default ``$PORTALNEWS_INDEX_REPLICAS`` or 0) and
``?shards=N`` (default ``$PORTALNEWS_INDEX_SHARDS`` or 1).

Credentials and certificates come from the environment, never from code:
``PORTALNEWS_ES_USERNAME`` / ``PORTALNEWS_ES_PASSWORD`` (basic auth; ``user:pass@`` in the
URL works too), ``PORTALNEWS_ES_API_KEY`` (Elasticsearch only), ``PORTALNEWS_ES_CA_CERTS``
(CA bundle) and ``PORTALNEWS_ES_VERIFY_CERTS`` (certificate verification stays on unless
this is explicitly ``false``).  ``PORTALNEWS_ES_TIMEOUT`` sets the request timeout (s).

Every client error becomes one :class:`EngineError` whose message names the server and the
cause ("cannot reach the search engine at http://127.0.0.1:9200: connection refused").
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pipelines.storage.base import StoreError, redact_url
from pipelines.storage.engine_mappings import IndexNames
from pipelines.storage.factory import ELASTICSEARCH, ENGINE, OPENSEARCH, scheme_of

logger = logging.getLogger(__name__)

_FALSE = {"false", "0", "no", "off"}
_TRUE = {"true", "1", "yes", "on"}
_URL_OPTIONS = {"prefix", "replicas", "shards"}


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
        scheme = scheme_of(url)
        if scheme.backend != ENGINE or scheme.client is None:
            raise StoreError(f"store URL {redact_url(url)!r} is not a search-engine URL")
        flavour, transport = scheme.client, "https" if scheme.tls else "http"
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise StoreError(f"store URL {redact_url(url)!r}: {exc}") from None
        if not host:
            raise StoreError(f"store URL {redact_url(url)!r} names no host: use {parts.scheme}://HOST:9200")
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


def error_reason(info: Any) -> str:
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


def _unreachable(url: str, exc: BaseException, kind: str = "unreachable") -> EngineError:
    if kind == "timeout":
        return EngineError(f"cannot reach the search engine at {url}: timed out", kind)
    if kind == "tls":
        return EngineError(f"TLS error talking to the search engine at {url}: {_connection_cause(str(exc))} "
                           "(set PORTALNEWS_ES_CA_CERTS to its CA bundle)", kind)
    return EngineError(f"cannot reach the search engine at {url}: {_connection_cause(str(exc))}", kind)


# --- client flavours ---------------------------------------------------------------------
class Flavour:
    """What differs between the elasticsearch and opensearch-py clients."""

    name = ""
    #: Statuses the library's bulk helper resends itself (``max_retries``, ``initial_backoff``).
    helper_retries: frozenset[int] = frozenset()

    timeout_option = "timeout"

    def kwargs(self, cfg: EngineConfig) -> dict[str, Any]:
        """The client's constructor arguments, retries aside."""
        kw: dict[str, Any] = {"hosts": [cfg.base_url], self.timeout_option: cfg.timeout, "retry_on_timeout": False,
                              **self.auth(cfg)}
        if cfg.https:
            kw.update(verify_certs=cfg.verify_certs, ssl_show_warn=cfg.verify_certs, **self.tls(cfg))
            if cfg.ca_certs:
                kw["ca_certs"] = cfg.ca_certs
        return kw

    def auth(self, cfg: EngineConfig) -> dict[str, Any]:
        raise NotImplementedError

    def tls(self, cfg: EngineConfig) -> dict[str, Any]:
        return {}

    def library(self) -> tuple[type, type, ModuleType]:
        """The client library's sync and async client classes and its ``helpers`` module."""
        raise NotImplementedError

    def client(self, cfg: EngineConfig, asynchronous: bool) -> Any:
        """A sync client (the store's reads; the transport tries twice) or an async one (the
        writes, whose retries are the bulk helper's)."""
        sync, async_, _ = self.library()
        return (async_ if asynchronous else sync)(**self.kwargs(cfg), max_retries=0 if asynchronous else 1)

    def helpers(self) -> ModuleType:
        return self.library()[2]

    def bulk_options(self) -> dict[str, Any]:
        return {}

    def translate(self, exc: BaseException, url: str) -> EngineError:
        """Any client error as one :class:`EngineError` naming the server and the cause."""
        if isinstance(exc, EngineError):
            return exc
        err = self._answered(exc, url)
        if err is not None:
            return err
        timeout, tls, transport = self._connection_errors()
        for cls, kind in ((timeout, "timeout"), (tls, "tls"), ((transport, OSError, asyncio.TimeoutError), "unreachable")):
            if isinstance(exc, cls):
                return _unreachable(url, exc, kind)
        return EngineError(f"search engine at {url}: {type(exc).__name__}: {exc}", "request")

    def _answered(self, exc: BaseException, url: str) -> EngineError | None:
        """The error of an answer the server gave (an HTTP status), else None."""
        raise NotImplementedError

    def _connection_errors(self) -> tuple[type, type, type]:
        """The library's timeout, TLS and transport (any other connection) error classes."""
        raise NotImplementedError


class _Elasticsearch(Flavour):
    name = ELASTICSEARCH
    helper_retries = frozenset({429, 502, 503, 504})

    timeout_option = "request_timeout"

    def auth(self, cfg: EngineConfig) -> dict[str, Any]:
        if cfg.api_key:
            return {"api_key": cfg.api_key}
        return {"basic_auth": (cfg.username, cfg.password or "")} if cfg.username else {}

    def library(self) -> tuple[type, type, ModuleType]:
        import elasticsearch
        import elasticsearch.helpers

        return elasticsearch.Elasticsearch, elasticsearch.AsyncElasticsearch, elasticsearch.helpers

    def bulk_options(self) -> dict[str, Any]:
        return {"retry_on_status": tuple(sorted(self.helper_retries))}

    def _answered(self, exc: BaseException, url: str) -> EngineError | None:
        import elasticsearch

        if isinstance(exc, elasticsearch.UnsupportedProductError):
            return EngineError(f"the server at {url} is not Elasticsearch: for OpenSearch use "
                               "opensearch://HOST:PORT", "product")
        if isinstance(exc, elasticsearch.ApiError):
            return _http_error(url, int(exc.meta.status), error_reason(exc.body) if exc.body else str(exc.message))
        return None

    def _connection_errors(self) -> tuple[type, type, type]:
        import elastic_transport

        return elastic_transport.ConnectionTimeout, elastic_transport.TlsError, elastic_transport.TransportError


class _OpenSearch(Flavour):
    name = OPENSEARCH
    # opensearch-py's bulk helpers have no retry_on_status: the write core resends 5xx itself
    helper_retries = frozenset({429})

    def auth(self, cfg: EngineConfig) -> dict[str, Any]:
        return {"http_auth": (cfg.username, cfg.password or "")} if cfg.username else {}

    def tls(self, cfg: EngineConfig) -> dict[str, Any]:
        return {"use_ssl": True, **({} if cfg.verify_certs else {"ssl_assert_hostname": False})}

    def library(self) -> tuple[type, type, ModuleType]:
        import opensearchpy
        import opensearchpy.helpers

        return opensearchpy.OpenSearch, opensearchpy.AsyncOpenSearch, opensearchpy.helpers

    def _answered(self, exc: BaseException, url: str) -> EngineError | None:
        from opensearchpy import exceptions as ox

        if isinstance(exc, ox.TransportError) and isinstance(exc.status_code, int):
            return _http_error(url, exc.status_code, error_reason(exc.info) if exc.info else str(exc.error))
        return None

    def _connection_errors(self) -> tuple[type, type, type]:
        from opensearchpy import exceptions as ox

        return ox.ConnectionTimeout, ox.SSLError, ox.TransportError


FLAVOURS: dict[str, Flavour] = {ELASTICSEARCH: _Elasticsearch(), OPENSEARCH: _OpenSearch()}


def body(resp: Any) -> Any:
    """The JSON body of a client response (elasticsearch wraps it, opensearch-py does not)."""
    return getattr(resp, "body", resp)


def make_client(cfg: EngineConfig, asynchronous: bool = False) -> Any:
    """A configured client of the URL's library; :class:`StoreError` when it cannot be built."""
    try:
        return FLAVOURS[cfg.flavour].client(cfg, asynchronous)
    except ImportError as exc:
        raise StoreError(f"store {cfg.url} needs the search-engine clients: pip install 'portalnews[engines]' "
                         f"({exc})") from None
    except (ValueError, TypeError, OSError) as exc:
        raise StoreError(f"cannot configure the {cfg.flavour} client for {cfg.base_url}: {exc}") from None


class EngineConnection:
    """One engine's clients and the plumbing every part of the engine store uses: a sync
    client for the reads and the coordination, an async one for the crawl's writes."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.url = config.url
        self.names = config.names
        self.flavour = FLAVOURS[config.flavour]
        self._sync: Any = None
        self._async: Any = None
        self._warned = False

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
            self._sync = make_client(self.config)
        return self._sync

    def _aclient(self) -> Any:
        if self._async is None:
            self._warn_once()
            self._async = make_client(self.config, asynchronous=True)
        return self._async

    def _error(self, exc: BaseException) -> EngineError:
        return self.flavour.translate(exc, self.config.base_url)

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return body(fn(*args, **kwargs))
        except Exception as exc:
            raise self._error(exc) from None

    def _search(self, index: str, query: dict[str, Any]) -> dict[str, Any]:
        """One search; a 5xx answer is asked once more.  A search is a read, and a cluster answers
        a search that met a member as it left ("search_phase_execution_exception … Node not
        connected", HTTP 500) correctly a moment later from the shard's other copy; the
        client library resends only 502/503/504 itself."""
        try:
            resp: dict[str, Any] = self._call(self._client().search, index=index, body=query)
        except EngineError as exc:
            if exc.kind != "server":
                raise
            logger.info("search failed (%s): asking once more", exc)
            resp = self._call(self._client().search, index=index, body=query)
        return resp

    def _hits(self, index: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every hit of a sorted search (``query`` has ``size`` and ``sort``), page after page."""
        query = dict(query)
        while True:
            hits = self._search(index, query)["hits"]["hits"]
            yield from hits
            if len(hits) < query["size"]:
                return
            query["search_after"] = hits[-1]["sort"]

    def _buckets(self, index: str, query_for: Callable[[dict[str, Any] | None], dict[str, Any]]
                 ) -> Iterator[dict[str, Any]]:
        """Every bucket of the composite aggregation ``portals``, page after page."""
        after: dict[str, Any] | None = None
        while True:
            agg = self._search(index, query_for(after))["aggregations"]["portals"]
            yield from agg["buckets"]
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                return

    def _get(self, index: str, doc_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """A realtime GET: the whole answer (``_source``, ``_seq_no``, ``_primary_term``) or None."""
        try:
            resp = body(self._client().get(index=index, id=doc_id, **kwargs))
        except Exception as exc:
            err = self._error(exc)
            if err.kind == "not_found":
                return None
            raise err from None
        return resp if resp.get("found") else None

    def _mget_sources(self, index: str, ids: Sequence[str], fields: Sequence[str] | None = None
                      ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 1000):
            docs = [{"_id": d, **({"_source": list(fields)} if fields is not None else {})} for d in ids[i:i + 1000]]
            for d in self._call(self._client().mget, index=index, body={"docs": docs}).get("docs", []):
                if d.get("found"):
                    out[d["_id"]] = d.get("_source") or {}
        return out

    def _exists(self, fn: Callable[..., Any], **kwargs: Any) -> bool:
        try:
            return bool(fn(**kwargs))
        except Exception as exc:
            err = self._error(exc)
            if err.kind == "not_found":
                return False
            raise err from None

    def _create_index(self, index: str, index_body: dict[str, Any]) -> None:
        """Create ``index`` unless it exists (another worker may create it at the same moment)."""
        client = self._client()
        if self._exists(client.indices.exists, index=index):
            return
        try:
            client.indices.create(index=index, body=index_body)
        except Exception as exc:
            err = self._error(exc)
            if err.status == 400 and "already_exists" in str(err):
                return  # another crawler created it first
            raise err from None

    def close(self) -> None:
        client, self._sync = self._sync, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing is best effort
                logger.debug("closing the engine client: %s", exc)

    async def aclose(self) -> None:
        client, self._async = self._async, None
        if client is not None:
            try:
                await client.close()
            except Exception as exc:  # closing is best effort
                logger.debug("closing the async engine client: %s", exc)
