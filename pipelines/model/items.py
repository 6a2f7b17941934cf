"""The item that travels from the spider through the item pipelines, and the document an
article item is validated and stored as.

Item pipelines read and write items through :class:`itemadapter.ItemAdapter`, so any item
type ItemAdapter knows works; the spider yields :class:`PageItem` (a dataclass).
"""

# No "from __future__ import annotations" here: TypedDict reads NotRequired[...] from the
# evaluated annotations to know which keys are required.
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, cast

from itemadapter import ItemAdapter

from pipelines.model.kinds import DatePrecision, PageKind, PageRole


class ArticleFields(TypedDict, total=False):
    """What extraction found on a page, named as in ``pipelines/schemas/document.schema.json``.
    ``url`` identifies the document (the page's canonical link when it stays on the portal's
    host); without it the fetched URL does."""

    url: str
    title: str | None
    body: str | None
    published_at: str | None
    date_precision: DatePrecision | None
    view_count: int | None
    summary: str | None
    author: str | None
    category: str | None
    profile: str | None


class ArticleDocument(TypedDict):
    """An article as it is checked against ``pipelines/schemas/document.schema.json`` and then
    stored: the extracted fields plus the portal and the fetch time (a test checks that the
    schema and this definition name the same fields with compatible types)."""

    url: str
    portal_id: str
    title: str
    body: str
    crawled_at: str
    published_at: NotRequired[str | None]
    date_precision: NotRequired[DatePrecision | None]
    view_count: NotRequired[int | None]
    summary: NotRequired[str | None]
    author: NotRequired[str | None]
    category: NotRequired[str | None]
    profile: NotRequired[str | None]


#: The extracted fields a document takes (all of :class:`ArticleFields` but ``url``).
EXTRACTED_FIELDS: tuple[str, ...] = tuple(name for name in ArticleFields.__annotations__ if name != "url")


@dataclass
class PageItem:
    """One fetched (or failed) page, as the spider saw it.

    The spider fills the fetch fields; :class:`pipelines.stages.extraction.ExtractionPipeline`
    fills ``kind``, ``reason`` and ``fields``.  Only pages whose ``kind`` is
    :attr:`PageKind.ARTICLE` are indexed; every page is recorded in the crawl state so that
    the next crawl can skip it.
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
    kind: PageKind = PageKind.UNKNOWN
    reason: str = ""
    fields: ArticleFields = field(default_factory=lambda: ArticleFields())
    content_hash: str | None = None
    role: PageRole = PageRole.PAGE
    known: bool = False  # an earlier crawl recorded this URL (a hint for the store's write path)
    #: The story signature of ``fields["body"]`` made where the page was extracted
    #: (:func:`pipelines.stories.make_signature`, as bytes), so that the store does not sign it
    #: on the crawl's process; None: the store signs the body itself.
    story_signature: bytes | None = None
    #: The indexed forms of the article's title, summary and body made where it was extracted,
    #: with the store's abbreviations (:class:`pipelines.search.IndexedTexts`); None: the store
    #: analyses the text itself.
    indexed_texts: Any = None

    def __post_init__(self) -> None:
        self.kind = PageKind(self.kind)
        self.role = PageRole(self.role)


def article_document(item: Any) -> ArticleDocument:
    """The document an article item is stored as (any item type :class:`ItemAdapter` reads).
    Validation checks it against the schema before the storage stage stores it."""
    adapter = item if isinstance(item, ItemAdapter) else ItemAdapter(item)
    fields: ArticleFields = adapter.get("fields") or ArticleFields()
    doc: dict[str, Any] = {"url": fields.get("url") or adapter["url"], "portal_id": adapter["portal_id"],
                           "crawled_at": adapter["fetched_at"]}
    doc.update((name, fields.get(name)) for name in EXTRACTED_FIELDS)
    return cast(ArticleDocument, doc)
