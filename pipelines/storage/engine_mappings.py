"""Index names, the index template and the mappings of the search-engine backends.

Identical for Elasticsearch and OpenSearch.  Documents live in a versioned index
(``<prefix>-articles-v1``, ``-v2`` …) behind the alias ``<prefix>-articles``; the index
template ``<prefix>-articles`` gives every versioned index its settings and mapping, so
``portalnews reindex`` can build ``-v(N+1)`` and swap the alias without downtime.  Crawl
state has indices of its own (``<prefix>-pages``, ``<prefix>-runs``) so coverage and
incremental crawls work from the engine alone and several crawler machines share them.

The text analyzer uses built-in components only: the standard tokenizer, lowercase and
asciifolding with ``preserve_original``, so "hoi nghi" and "Hội nghị" find the same
documents.  Each text field has an ``.exact`` subfield (standard tokenizer and lowercase
only) that tells which documents have every query word with its exact diacritics: they
rank first.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from pipelines.storage.coordination_engine import history_mappings

logger = logging.getLogger(__name__)

#: Bump when the template or a mapping changes; ``open()`` then updates the template and
#: ``portalnews reindex`` rebuilds the documents with it.
#: 2: ``view_history`` and ``previous_versions`` (pipelines/storage/coordination_engine.py).
MAPPING_VERSION = 2

#: Index-time analyzer of the text fields (original and folded tokens at one position).
TEXT_ANALYZER = "portalnews_vi"
#: Search-time analyzer: folded tokens only, the recall query.
SEARCH_ANALYZER = "portalnews_vi_search"
#: Analyzer of the ``.exact`` subfields: the words as written, lower-cased, no folding.
EXACT_ANALYZER = "portalnews_vi_exact"
#: Keyword normalizer for comparisons without diacritics (province).
FOLD_NORMALIZER = "portalnews_fold"

_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,100}$")


@dataclass(frozen=True)
class IndexNames:
    """Every index, alias and template name for one prefix (default ``portalnews``)."""

    prefix: str = "portalnews"

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(f"index prefix {self.prefix!r} must be lower-case letters, digits, '-', '_' or '.'")

    @property
    def articles(self) -> str:
        """The alias that every read and write of documents goes through."""
        return f"{self.prefix}-articles"

    @property
    def template(self) -> str:
        return f"{self.prefix}-articles"

    @property
    def articles_pattern(self) -> str:
        return f"{self.prefix}-articles-v*"

    def articles_version(self, version: int) -> str:
        return f"{self.prefix}-articles-v{version}"

    def version_of(self, index: str) -> int | None:
        """``portalnews-articles-v7`` -> 7; None for a name outside the scheme."""
        m = re.fullmatch(re.escape(self.prefix) + r"-articles-v(\d+)", index)
        return int(m.group(1)) if m else None

    @property
    def pages(self) -> str:
        return f"{self.prefix}-pages"

    @property
    def runs(self) -> str:
        return f"{self.prefix}-runs"

    # Reserved for the scheduling issue (crawl leases and per-portal history).
    @property
    def leases(self) -> str:
        return f"{self.prefix}-leases"

    @property
    def history(self) -> str:
        return f"{self.prefix}-history"

    def state_indices(self) -> tuple[str, ...]:
        return (self.pages, self.runs)


def analysis_settings() -> dict[str, Any]:
    return {
        "filter": {
            "portalnews_folding": {"type": "asciifolding", "preserve_original": True},
        },
        "analyzer": {
            TEXT_ANALYZER: {"type": "custom", "tokenizer": "standard",
                            "filter": ["lowercase", "portalnews_folding"]},
            SEARCH_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
            EXACT_ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]},
        },
        "normalizer": {
            FOLD_NORMALIZER: {"type": "custom", "filter": ["lowercase", "asciifolding"]},
        },
    }


def _text() -> dict[str, Any]:
    """A text field searched without diacritics; ``.exact`` keeps only the words as written
    (a word without diacritics in the query must not match a folded one in ``.exact``)."""
    return {"type": "text", "analyzer": TEXT_ANALYZER, "search_analyzer": SEARCH_ANALYZER,
            "fields": {"exact": {"type": "text", "analyzer": EXACT_ANALYZER, "norms": False,
                                 "index_options": "positions"}}}


def _date(raw: bool = False) -> dict[str, Any]:
    """A date that never rejects a document; ``raw`` adds the string as written, which
    sorts and filters exactly like the SQLite backend's ISO strings."""
    field: dict[str, Any] = {"type": "date", "ignore_malformed": True}
    if raw:
        field["fields"] = {"raw": {"type": "keyword", "ignore_above": 64}}
    return field


def article_mappings() -> dict[str, Any]:
    keyword = {"type": "keyword"}
    return {
        "dynamic": False,  # unknown fields are kept in _source, not indexed
        "_meta": {"portalnews_mapping_version": MAPPING_VERSION},
        "properties": {
            "id": keyword,
            "url": keyword,
            "portal_id": keyword,
            "portal_name": {"type": "keyword", "ignore_above": 512},
            "province": {"type": "keyword",
                         "fields": {"folded": {"type": "keyword", "normalizer": FOLD_NORMALIZER}}},
            "level": keyword,
            "category": {"type": "keyword", "ignore_above": 512},
            "author": {"type": "keyword", "ignore_above": 512},
            "profile": keyword,
            "date_precision": keyword,
            "content_hash": keyword,
            "published_at": _date(raw=True),
            "crawled_at": _date(),
            "first_seen_at": _date(),
            "indexed_at": _date(),
            "view_count": {"type": "integer", "ignore_malformed": True},
            "version": {"type": "integer"},
            "title": {**_text(), "fields": {**_text()["fields"], "raw": {"type": "keyword", "ignore_above": 1024}}},
            "summary": _text(),
            "body": _text(),
            "extra": {"type": "object", "enabled": False},
            **history_mappings(),  # view_history: [{t, views}], previous_versions (not indexed)
        },
    }


#: Searches see new documents within this delay; a longer interval than the default 1 s
#: keeps bulk indexing fast on a small node (tests refresh explicitly when they read).
REFRESH_INTERVAL = "5s"


def index_settings(shards: int, replicas: int) -> dict[str, Any]:
    return {"number_of_shards": shards, "number_of_replicas": replicas,
            "refresh_interval": REFRESH_INTERVAL, "analysis": analysis_settings()}


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
    keyword = {"type": "keyword"}
    return {
        "dynamic": False,
        "_meta": {"portalnews_mapping_version": MAPPING_VERSION},
        "properties": {
            "url": keyword,
            "portal_id": keyword,
            "kind": keyword,
            "status": {"type": "integer"},
            "content_hash": keyword,
            "doc_id": keyword,
            "reason": {"type": "keyword", "ignore_above": 512},
            "first_seen_at": _date(),
            "fetched_at": _date(),
        },
    }


def run_mappings() -> dict[str, Any]:
    keyword = {"type": "keyword"}
    count = {"type": "integer"}
    return {
        "dynamic": False,
        "_meta": {"portalnews_mapping_version": MAPPING_VERSION},
        "properties": {
            "run_id": keyword,
            "portal_id": keyword,
            "outcome": keyword,
            "started_at": _date(raw=True),
            "finished_at": _date(raw=True),
            "pages_fetched": count,
            "articles_new": count,
            "articles_updated": count,
            "articles_unchanged": count,
            "nonarticles": count,
            "errors": count,
            "dropped": count,
            "robots_blocked": count,
            "http_errors": {"type": "object", "enabled": False},
            "drop_reasons": {"type": "object", "enabled": False},
            "message": {"type": "keyword", "ignore_above": 1024},
        },
    }


def state_index_bodies(names: IndexNames, replicas: int) -> dict[str, dict[str, Any]]:
    """``PUT <index>`` bodies of the crawl-state indices."""
    settings = {"number_of_shards": 1, "number_of_replicas": replicas, "refresh_interval": REFRESH_INTERVAL}
    return {
        names.pages: {"settings": settings, "mappings": page_mappings()},
        names.runs: {"settings": settings, "mappings": run_mappings()},
    }
