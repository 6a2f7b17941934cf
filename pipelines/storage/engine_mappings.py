"""Index names, the index template and the mappings of the search-engine backends.

Identical for Elasticsearch and OpenSearch.  Documents live in a versioned index
(``<prefix>-articles-v1``, ``-v2`` …) behind the alias ``<prefix>-articles``; the index
template ``<prefix>-articles`` gives every versioned index its settings and mapping, so
``portalnews reindex`` can build ``-v(N+1)`` and swap the alias without downtime.  Crawl
state has indices of its own (``<prefix>-pages``, ``<prefix>-runs``) so coverage and
incremental crawls work from the engine alone and several crawler machines share them.

No analysis plugin is needed, so the same mapping runs on a stock Elasticsearch node (even
the core server without analysis-common), on OpenSearch and on managed services: the text is
analysed in Python (:mod:`pipelines.search`: tone placement, folding, abbreviations) into the
sibling fields of :func:`pipelines.search.fields.engine_properties` (``title_exact``,
``title_folded`` …), which the built-in ``standard`` analyzer only splits into words.  Those
fields are indexed but left out of ``_source`` (they are computed again whenever a document
is written or copied: :func:`pipelines.storage.engine_write.search_source`).  Filters, sorts
and facets use keyword fields computed in Python too (province keys, month, category key:
:func:`pipelines.storage.searching.indexed_values`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from pipelines.search.fields import Form, engine_properties, search_fields
from pipelines.storage.migrations import ENGINE_VERSION

logger = logging.getLogger(__name__)

#: The store's schema version, in the ``_meta`` of every index this module maps: a change of
#: the template or a mapping comes with a step in :mod:`pipelines.storage.migrations`, and
#: ``portalnews migrate`` rebuilds the documents with it (SQLite-only steps leave it as it is).
MAPPING_VERSION = ENGINE_VERSION

_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,100}$")


class _Name:
    """An index (or alias, or template) name: ``<prefix>-<suffix>``."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def __get__(self, names: IndexNames, owner: type | None = None) -> str:
        return f"{names.prefix}-{self.suffix}"


@dataclass(frozen=True)
class IndexNames:
    """Every index, alias and template name for one prefix (default ``portalnews``)."""

    prefix: str = "portalnews"

    articles = _Name("articles")  # the alias that every read and write of documents goes through
    template = _Name("articles")  # the index template of the versioned article indices
    articles_pattern = _Name("articles-v*")
    pages, runs = _Name("pages"), _Name("runs")  # crawl state
    # coordination (pipelines.storage.coordination_engine)
    leases, schedule = _Name("leases"), _Name("schedule")
    backoffs, alert_notices = _Name("backoffs"), _Name("alert-notices")
    history = _Name("history")  # reserved; the article history lives in the article documents

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(f"index prefix {self.prefix!r} must be lower-case letters, digits, '-', '_' or '.'")

    def articles_version(self, version: int) -> str:
        return f"{self.prefix}-articles-v{version}"

    def version_of(self, index: str) -> int | None:
        """``portalnews-articles-v7`` -> 7; None for a name outside the scheme."""
        m = re.fullmatch(re.escape(self.prefix) + r"-articles-v(\d+)", index)
        return int(m.group(1)) if m else None

    def state_indices(self) -> tuple[str, ...]:
        return (self.pages, self.runs)


def _date(raw: bool = False) -> dict[str, Any]:
    """A date that never rejects a document; ``raw`` adds the string as written, which
    sorts and filters exactly like the SQLite backend's ISO strings."""
    field: dict[str, Any] = {"type": "date", "ignore_malformed": True}
    if raw:
        field["fields"] = {"raw": {"type": "keyword", "ignore_above": 64}}
    return field


_KEYWORD: dict[str, Any] = {"type": "keyword"}
_LONG_KEYWORD: dict[str, Any] = {"type": "keyword", "ignore_above": 512}
_INTEGER: dict[str, Any] = {"type": "integer"}
_OPAQUE: dict[str, Any] = {"type": "object", "enabled": False}  # kept in _source, not indexed


def _mapping(properties: dict[str, Any]) -> dict[str, Any]:
    """A mapping that indexes ``properties`` only and records the schema version."""
    return {"dynamic": False,  # unknown fields are kept in _source, not indexed
            "_meta": {"portalnews_mapping_version": MAPPING_VERSION}, "properties": properties}


#: The sibling search fields: indexed, not kept in ``_source``.
SEARCH_FIELDS: tuple[str, ...] = (*search_fields(Form.EXACT), *search_fields(Form.FOLDED))


def article_mappings() -> dict[str, Any]:
    """The articles' mapping.  ``title``, ``summary`` and ``body`` are kept in ``_source`` only;
    searches go to the sibling fields."""
    mapping = _mapping({
        **dict.fromkeys(("id", "url", "portal_id", "level", "profile", "date_precision", "content_hash", "month",
                         "province_key", "current_key", "category_key"), _KEYWORD),
        **dict.fromkeys(("portal_name", "category", "author", "province", "current_province"), _LONG_KEYWORD),
        "published_at": _date(raw=True),
        **{name: _date() for name in ("crawled_at", "first_seen_at", "indexed_at")},
        "view_count": {"type": "integer", "ignore_malformed": True},
        "version": _INTEGER,
        **engine_properties(),
        "extra": _OPAQUE,
        # the article's history (pipelines.storage.engine_write): every view-count observation,
        # and the earlier contents
        "view_history": {"type": "object", "properties": {
            "t": {"type": "date", "ignore_malformed": True}, "views": {"type": "integer"}}},
        "previous_versions": _OPAQUE,
        # stories (pipelines.storage.stories_engine): the signature is kept, not indexed; the
        # band keys are the candidate query
        "story_signature": {"type": "binary"},
        "story_bands": {"type": "long"},
        "story_id": _KEYWORD,
        "story_size": _INTEGER,
        "is_source": {"type": "boolean"},
        "story_pending": {"type": "boolean"},
    })
    mapping["_source"] = {"excludes": list(SEARCH_FIELDS)}
    return mapping


#: Searches see new documents within this delay; a longer interval than the default 1 s
#: keeps bulk indexing fast on a small node (tests refresh explicitly when they read).
REFRESH_INTERVAL = "5s"


def index_settings(shards: int, replicas: int) -> dict[str, Any]:
    return {"number_of_shards": shards, "number_of_replicas": replicas, "refresh_interval": REFRESH_INTERVAL}


def article_template(names: IndexNames, shards: int, replicas: int) -> dict[str, Any]:
    """Body of ``PUT _index_template/<prefix>-articles``."""
    return {
        "index_patterns": [names.articles_pattern],
        "priority": 100,
        "version": MAPPING_VERSION,
        "_meta": {"description": "portalnews articles; see pipelines/storage/engine_mappings.py"},
        "template": {"settings": index_settings(shards, replicas), "mappings": article_mappings()},
    }


def page_mappings() -> dict[str, Any]:
    return _mapping({
        **dict.fromkeys(("url", "portal_id", "kind", "content_hash", "doc_id"), _KEYWORD),
        "status": _INTEGER,
        "reason": _LONG_KEYWORD,
        "first_seen_at": _date(),
        "fetched_at": _date(),
    })


def run_mappings() -> dict[str, Any]:
    return _mapping({
        **dict.fromkeys(("run_id", "portal_id", "outcome"), _KEYWORD),
        "started_at": _date(raw=True),
        "finished_at": _date(raw=True),
        **dict.fromkeys(("pages_fetched", "articles_new", "articles_updated", "articles_unchanged", "nonarticles",
                         "errors", "dropped", "robots_blocked"), _INTEGER),
        "http_errors": _OPAQUE,
        "drop_reasons": _OPAQUE,
        "message": {"type": "keyword", "ignore_above": 1024},
    })


def state_index_bodies(names: IndexNames, replicas: int) -> dict[str, dict[str, Any]]:
    """``PUT <index>`` bodies of the crawl-state indices."""
    settings = {"number_of_shards": 1, "number_of_replicas": replicas, "refresh_interval": REFRESH_INTERVAL}
    return {
        names.pages: {"settings": settings, "mappings": page_mappings()},
        names.runs: {"settings": settings, "mappings": run_mappings()},
    }


def coordination_index_bodies(names: IndexNames, replicas: int) -> dict[str, dict[str, Any]]:
    """``PUT <index>`` bodies of the coordination indices (epoch seconds, and ISO dates for dashboards)."""
    settings = {"number_of_shards": 1, "number_of_replicas": replicas}
    epoch = {"type": "double"}
    date = {"type": "date", "ignore_malformed": True}
    properties = {
        names.leases: {"name": _KEYWORD, "worker": _KEYWORD, **dict.fromkeys(("acquired_at", "renewed_at", "expires_at"),
                                                                             epoch), "expires": date},
        names.schedule: {**dict.fromkeys(("portal_id", "last_worker", "last_status"), _KEYWORD),
                         **dict.fromkeys(("next_due", "last_started", "last_finished"), epoch),
                         **dict.fromkeys(("next_due_at", "last_started_at", "last_finished_at"), date)},
        names.backoffs: {"host": _KEYWORD, "until": epoch, "delay": {"type": "float"}, "reason": _LONG_KEYWORD,
                         "recorded_at": epoch, "count": _INTEGER, "until_at": date, "recorded": date},
        names.alert_notices: {**dict.fromkeys(("portal_id", "fingerprint", "severity"), _KEYWORD),
                              "summary": {"type": "text"}, "first_sent": epoch, "last_sent": epoch,
                              "count": _INTEGER, "first_sent_at": date, "last_sent_at": date},
    }
    return {index: {"settings": settings, "mappings": _mapping(props)} for index, props in properties.items()}
