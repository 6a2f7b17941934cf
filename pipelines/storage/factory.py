"""Choose and build a store from a URL (``--store``, ``PORTALNEWS_STORE``, ``ELASTICSEARCH_URL``).

:data:`SCHEMES` is the one table of store URL schemes: every part of the program that reads
a store URL (this factory, :class:`pipelines.storage.engine_client.EngineConfig`) asks it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipelines.storage.base import Store, StoreError, redact_url

logger = logging.getLogger(__name__)

DEFAULT_STORE_URL = "sqlite:///data/portalnews.db"

SQLITE = "sqlite"
ENGINE = "engine"
ELASTICSEARCH = "elasticsearch"
OPENSEARCH = "opensearch"


@dataclass(frozen=True)
class Scheme:
    """What a store URL scheme stands for."""

    backend: str  # SQLITE or ENGINE
    client: str | None = None  # engines: ELASTICSEARCH (official client) or OPENSEARCH (opensearch-py)
    tls: bool = False  # engines: https to the server


SCHEMES: dict[str, Scheme] = {
    "sqlite": Scheme(SQLITE),
    "http": Scheme(ENGINE, ELASTICSEARCH),
    "https": Scheme(ENGINE, ELASTICSEARCH, tls=True),
    "elasticsearch": Scheme(ENGINE, ELASTICSEARCH),
    "elasticsearch+http": Scheme(ENGINE, ELASTICSEARCH),
    "elasticsearch+https": Scheme(ENGINE, ELASTICSEARCH, tls=True),
    "es": Scheme(ENGINE, ELASTICSEARCH),
    "es+http": Scheme(ENGINE, ELASTICSEARCH),
    "es+https": Scheme(ENGINE, ELASTICSEARCH, tls=True),
    "opensearch": Scheme(ENGINE, OPENSEARCH),
    "opensearch+http": Scheme(ENGINE, OPENSEARCH),
    "opensearch+https": Scheme(ENGINE, OPENSEARCH, tls=True),
}


def scheme_of(url: str) -> Scheme:
    """The :class:`Scheme` of a store URL; :class:`StoreError` naming the known ones otherwise."""
    scheme = SCHEMES.get(urlsplit(url).scheme.lower())
    if scheme is None:
        engines = ", ".join(name for name, s in SCHEMES.items() if s.backend == ENGINE)
        raise StoreError(f"unknown store URL {redact_url(url)!r}: use sqlite:///PATH, or SCHEME://HOST:9200 "
                         f"for a search engine (SCHEME: {engines})")
    return scheme


def resolve_store_url(explicit: str | None = None, environ: Mapping[str, str] | None = None,
                      default: str = DEFAULT_STORE_URL) -> str:
    """The store URL in force: explicit value, then PORTALNEWS_STORE, then ELASTICSEARCH_URL."""
    env = os.environ if environ is None else environ
    for value in (explicit, env.get("PORTALNEWS_STORE"), env.get("ELASTICSEARCH_URL")):
        if value:
            return value
    return default


def sqlite_path(url: str) -> str:
    """``sqlite:///rel/path.db`` -> ``rel/path.db``; ``sqlite:////abs/path.db`` -> ``/abs/path.db``."""
    rest = url[len("sqlite://"):]
    if rest.startswith("/"):
        rest = rest[1:]
    if not rest:
        raise StoreError(f"store URL {url!r} names no file: use sqlite:///PATH")
    return rest


def open_store(url: str) -> Store:
    """Build (but do not open) the store for ``url``.  Raises :class:`StoreError` for an
    unknown scheme or a bad URL."""
    if scheme_of(url).backend == SQLITE:
        from pipelines.storage.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), url=url)
    from pipelines.storage.engine import engine_store

    return engine_store(url)
