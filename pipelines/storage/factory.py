"""Choose and build a store from a URL (``--store``, ``PORTALNEWS_STORE``, ``ELASTICSEARCH_URL``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from pipelines.storage.base import Store, StoreError

logger = logging.getLogger(__name__)

DEFAULT_STORE_URL = "sqlite:///data/portalnews.db"


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
    unknown scheme or a missing client library."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from pipelines.storage.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), url=url)
    if scheme in {"http", "https", "elasticsearch", "elasticsearch+https", "es", "opensearch",
                  "opensearch+https"}:
        try:
            from pipelines.storage.engine import engine_store
        except ImportError as exc:  # pragma: no cover - depends on optional extras
            raise StoreError(
                f"store {url!r} needs the search-engine clients: pip install 'portalnews[engines]' ({exc})"
            ) from None
        return engine_store(url)
    raise StoreError(
        f"unknown store URL {url!r}: use sqlite:///PATH, http(s)://HOST:9200, elasticsearch://HOST:9200 "
        "or opensearch://HOST:9200"
    )
