"""Item definitions passed from the spider through the item pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageItem:
    """One fetched (or failed) page, as the spider saw it.

    The spider fills the fetch fields; :class:`pipelines.stages.extraction.ExtractionPipeline`
    fills ``kind`` and ``fields``.  Only pages whose ``kind`` is ``"article"`` are indexed;
    every page is recorded in the crawl state so that the next crawl can skip it.
    """

    url: str
    portal_id: str
    status: int
    fetched_at: str
    html: str = ""
    content_type: str = ""
    error: str | None = None
    depth: int = 0
    referer: str | None = None
    kind: str = "unknown"  # article | listing | other | error
    reason: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
