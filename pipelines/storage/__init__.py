"""Storage: the interface split by job, its backends, and the store URL that chooses one (see :func:`open_store`)."""

from pipelines.storage.base import (
    CoverageRow,
    CrawlState,
    Document,
    DocumentIndex,
    ExportFilter,
    Facet,
    FacetValue,
    MigrationReport,
    PageRecord,
    RunRecord,
    SearchHit,
    SearchQuery,
    SearchResult,
    SortOrder,
    Store,
    StoreError,
    UpsertResult,
)
from pipelines.storage.coordination import Coordination
from pipelines.storage.factory import open_store, resolve_store_url

__all__ = [
    "Coordination",
    "CoverageRow",
    "CrawlState",
    "Document",
    "DocumentIndex",
    "ExportFilter",
    "Facet",
    "FacetValue",
    "MigrationReport",
    "PageRecord",
    "RunRecord",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SortOrder",
    "Store",
    "StoreError",
    "UpsertResult",
    "open_store",
    "resolve_store_url",
]
