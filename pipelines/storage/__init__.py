"""Storage backends behind one interface, chosen by URL (see :func:`open_store`)."""

from pipelines.storage.base import (
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
)
from pipelines.storage.factory import open_store, resolve_store_url

__all__ = [
    "CoverageRow",
    "Document",
    "ExportFilter",
    "PageRecord",
    "RunRecord",
    "SearchHit",
    "SearchQuery",
    "Store",
    "StoreError",
    "UpsertResult",
    "open_store",
    "resolve_store_url",
]
