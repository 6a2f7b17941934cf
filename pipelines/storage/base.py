"""The storage interface, split by job, and the records it exchanges.

A store does three jobs, each a protocol that callers type against when it is all they use:

:class:`DocumentIndex`
    the indexed articles: upsert, read, search, export and count, and each article's
    history (view counts over time, archived versions, recrawl candidates);
:class:`CrawlState`
    every URL seen (kind, content hash), one run record per portal per crawl, and the
    coverage aggregates built from them;
:class:`~pipelines.storage.coordination.Coordination`
    what several workers share: leases, the crawl calendar, back-offs and alert notices.

:class:`Store` is all three plus a lifecycle (open, close, schema version, migrate).
Backends: :mod:`pipelines.storage.sqlite` (embedded default) and
:mod:`pipelines.storage.engine` (Elasticsearch / OpenSearch), chosen by URL in
:mod:`pipelines.storage.factory`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, overload
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from pipelines.admin import current_province
from pipelines.model.record import DictRecord
from pipelines.search.fields import IndexedTexts
from pipelines.storage.coordination import Coordination
from pipelines.storage.watchlists import Watchlists
from pipelines.stories import order_key
from pipelines.stories.reconcile import ReconcileReport

logger = logging.getLogger(__name__)

#: The fields of a document in ``portalnews export`` (JSON lines and CSV) and ``import``, in
#: column order: the first ten are the original export's, the others were added for the
#: analysts' CSV (province, level, date precision) and so that ``export | import`` moves a
#: store without losing what its facets are made of.
EXPORT_FIELDS = (
    "url", "portal_id", "title", "published_at", "view_count", "body",
    "summary", "author", "category", "crawled_at",
    "date_precision", "province", "current_province", "level", "portal_name", "profile",
    "story_id", "story_size", "is_source",
)
#: The story fields of a document (issue 13; :mod:`pipelines.stories`): set by the store when it
#: reconciles stories, never by a crawl or an import.
STORY_FIELDS = ("story_id", "story_size", "is_source")
#: Most view-count observations kept per article (the oldest are dropped beyond it).
MAX_OBSERVATIONS = 1000


class StoreError(RuntimeError):
    """A store could not be opened, read or written; the message names the cause."""


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (crawl and run timestamps)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def canonical_url(url: str) -> str:
    """Normalise a URL for identity: lower-case scheme and host, sorted query, no fragment."""
    return canonicalize_url(url, keep_fragments=False)


def document_id(url: str) -> str:
    """Stable document id derived from the canonical URL."""
    return hashlib.sha1(canonical_url(url).encode("utf-8")).hexdigest()


def redact_url(url: str) -> str:
    """``url`` without a password (``http://user:secret@h`` -> ``http://user:***@h``), for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{parts.username}:***@{host}", parts.path, parts.query, parts.fragment))


# --- documents and their history -----------------------------------------------------------
@dataclass
class Document:
    """An indexed article."""

    url: str
    portal_id: str
    title: str
    body: str
    published_at: str | None = None
    date_precision: str | None = None
    view_count: int | None = None
    summary: str | None = None
    author: str | None = None
    category: str | None = None
    crawled_at: str = ""
    portal_name: str | None = None
    #: The province as the registry (or the article) names it, before or after the 2025 reform.
    province: str | None = None
    level: str | None = None
    profile: str | None = None
    content_hash: str = ""
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: The province since the 2025 reform (34 units) that ``province`` is part of, derived from
    #: :mod:`pipelines.admin` unless given (the registry key ``current_province`` overrides it);
    #: ``province`` itself when it names no province.  Search facets and filters use it.
    current_province: str | None = None
    #: The story (:mod:`pipelines.stories`): the id of its earliest document, how many documents
    #: it has, and whether this document is that earliest one.  The store sets them.
    story_id: str | None = None
    story_size: int | None = None
    is_source: bool | None = None
    #: The story signature of ``body`` (:meth:`pipelines.stories.Signature.to_bytes`), made by
    #: the extraction worker so that the crawl's own process does not sign; the store signs
    #: the body itself when it is absent.  Not a stored field.
    story_signature: bytes | None = field(default=None, repr=False, compare=False)
    #: The indexed forms of the title, summary and body (:func:`pipelines.search.indexed_texts`),
    #: made by the extraction worker; the store analyses the text itself when they are absent
    #: or were made of other text or with other abbreviations.  Not a stored field.
    indexed_texts: IndexedTexts | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.is_source is not None:
            self.is_source = bool(self.is_source)
        if not self.id:
            self.id = document_id(self.url)
        if not self.content_hash:
            self.content_hash = content_hash(self.title, self.body, self.published_at)
        if not self.current_province and self.province:
            self.current_province = current_province(self.province) or self.province

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("story_signature")  # made again from the body when needed
        data.pop("indexed_texts")  # made again from the text when needed
        if not data["extra"]:
            data.pop("extra")
        return data

    def export_dict(self, extra_fields: Sequence[str] = ()) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in EXPORT_FIELDS}
        for name in extra_fields:
            data[name] = getattr(self, name, None) if hasattr(self, name) else self.extra.get(name)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        doc = cls(**known)
        if extra:
            doc.extra.update(extra)
        return doc


def content_hash(title: str, body: str, published_at: str | None) -> str:
    h = hashlib.sha1()
    for part in (title, published_at or "", body):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass(frozen=True)
class Observation:
    """One view-count reading of an article: when it was fetched and what it showed."""

    t: str
    views: int

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "views": self.views}


@dataclass
class DocumentVersion(DictRecord):
    """An earlier content of an article, archived when its content hash changed."""

    doc_id: str
    version: int
    content_hash: str
    title: str
    body: str
    published_at: str | None = None
    replaced_at: str | None = None


@dataclass
class DocumentHistory:
    """An article's current version number, its view-count history and earlier versions.

    Every fetch of an article that shows a view count adds an observation; a content change
    archives the previous content with its version number (nothing is overwritten silently)."""

    doc_id: str
    version: int = 1
    view_history: list[Observation] = field(default_factory=list)
    versions: list[DocumentVersion] = field(default_factory=list)

    def export_fields(self) -> dict[str, Any]:
        """The fields ``export --with-history`` adds to a document's line."""
        return {"version": self.version, "view_history": [o.to_dict() for o in self.view_history],
                "previous_versions": [v.to_dict() for v in self.versions]}


@dataclass(frozen=True)
class RecentDocument:
    """What the recrawl policy (:mod:`crawler.scheduling.intervals`) needs to know about an article."""

    url: str
    published_at: str | None
    last_fetched: str | None


def merge_observations(existing: Iterable[Observation], new: Iterable[Observation],
                       limit: int = MAX_OBSERVATIONS) -> list[Observation]:
    """Union of two histories ordered by time; one observation per time (the newer reading wins)."""
    by_time: dict[str, Observation] = {o.t: o for o in existing}
    for o in new:
        by_time[o.t] = o
    merged = [by_time[t] for t in sorted(by_time)]
    return merged[-limit:] if limit and len(merged) > limit else merged


def observations_from(raw: Any) -> list[Observation]:
    """``[{"t": …, "views": …}, …]`` (as stored in a search-engine document) -> observations."""
    out = []
    for item in raw or ():
        if isinstance(item, dict) and item.get("t") and isinstance(item.get("views"), int):
            out.append(Observation(t=str(item["t"]), views=int(item["views"])))
    return out


# --- crawl state ------------------------------------------------------------------------------
@dataclass
class PageRecord:
    """Crawl state for one URL: what it was last time and when it was fetched.

    ``known`` is a hint, not state (never stored, not compared): the crawl knew the URL when
    it started (the spider's known pages).  The search engines update a known page's record in
    place and create the others, updating only those that turn out to exist; a wrong hint
    costs a request, never the record (:func:`pipelines.storage.engine_write.page_action`)."""

    url: str
    portal_id: str
    kind: str  # article | listing | other | error | blocked | gone
    status: int
    fetched_at: str
    content_hash: str | None = None
    doc_id: str | None = None
    reason: str = ""
    known: bool = field(default=False, compare=False)


@dataclass
class RunRecord:
    """One crawl of one portal."""

    run_id: str
    portal_id: str
    started_at: str
    finished_at: str | None = None
    outcome: str = "running"  # running | ok | partial | failed | interrupted
    pages_fetched: int = 0
    articles_new: int = 0
    articles_updated: int = 0
    articles_unchanged: int = 0
    nonarticles: int = 0
    errors: int = 0
    dropped: int = 0
    http_errors: dict[str, int] = field(default_factory=dict)
    drop_reasons: dict[str, int] = field(default_factory=dict)
    robots_blocked: int = 0
    message: str = ""
    # monitoring (pipelines.monitoring): article pages seen, monitored fields not found on
    # them, and the portal's registry facts (so coverage can roll up without the registry)
    article_pages: int = 0
    missing_fields: dict[str, int] = field(default_factory=dict)
    portal_name: str | None = None
    province: str | None = None
    level: str | None = None
    # the origin the portal's start URL moved to during this crawl (https, www.), shown by
    # coverage until the registry is fixed (crawler.middlewares.scope)
    origin_moved_to: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """A run record from stored fields (fields this version does not know are ignored)."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


class SortOrder(StrEnum):
    """How search results are ordered."""

    RELEVANCE = "relevance"  # exact spellings first, then BM25, then the newest, then by URL
    DATE = "date"  # newest first (undated last), then by URL
    VIEWS = "views"  # most viewed first (no view count last), then by URL


class Facet(StrEnum):
    """The facets a search result counts, by the name the API gives them."""

    PROVINCE = "province"  # the current province (pipelines.admin)
    LEVEL = "level"
    PORTAL = "portal_id"
    CATEGORY = "category"
    MONTH = "month"  # YYYY-MM of publication at +07:00


@dataclass
class SearchQuery:
    """One search: the query language (:mod:`pipelines.search.query`), filters, order and page.

    ``province`` matches the documents of that province whatever its spelling, and for a
    province formed in 2025 also those of the provinces merged into it; ``level`` is a
    registry level or its Vietnamese word ("huyện"); ``category`` is compared without case and
    diacritics.  ``limit``/``offset`` are the page (see :meth:`paged`); ``facets`` asks for the
    counts of :class:`Facet` over every match."""

    text: str = ""
    portals: list[str] = field(default_factory=list)
    province: str | None = None
    since: str | None = None  # inclusive, ISO date or datetime
    until: str | None = None  # inclusive day when a bare date
    min_views: int | None = None
    sort: str = "relevance"  # a SortOrder
    limit: int = 20
    offset: int = 0
    level: str | None = None
    category: str | None = None
    facets: bool = False

    @classmethod
    def paged(cls, page: int = 1, per_page: int = 20, **kwargs: Any) -> SearchQuery:
        """The query for page ``page`` (from 1) of ``per_page`` hits."""
        return cls(limit=per_page, offset=(max(1, page) - 1) * per_page, **kwargs)

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1 if self.limit > 0 else 1


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "count": self.count}


@dataclass
class SearchHit:
    """One document of a result, with its snippet in three forms: ``snippet`` (the text with
    ``<mark>``…``</mark>`` around matches, nothing escaped: for a terminal), ``snippet_html``
    (escaped, matches in ``<mark>``) and ``snippet_text`` (plain)."""

    document: Document
    score: float
    snippet: str
    exact: bool = False
    snippet_html: str = ""
    snippet_text: str = ""

    def to_api(self) -> dict[str, Any]:
        """The hit as ``/api/search`` and ``search --json`` give it (README, "/api/search")."""
        d = self.document
        return {"id": d.id, "url": d.url, "portal_id": d.portal_id, "title": d.title,
                "published_at": d.published_at, "view_count": d.view_count,
                "province": d.current_province, "registry_province": d.province, "level": d.level,
                "category": d.category, "snippet_html": self.snippet_html, "snippet_text": self.snippet_text,
                "score": float(f"{self.score:.6g}"), "exact": self.exact}


@dataclass
class SearchResult(Sequence[SearchHit]):
    """Everything one search answers: a page of hits, the total, the facets.

    ``total`` is exact (``total_exact``: always True today).  ``facets`` (when the query asked
    for them) count every match by :class:`Facet`, most frequent first (``month``: in
    chronological order); over more than :data:`pipelines.storage.searching.EXACT_FACETS_UP_TO`
    matches they may be estimated from a sample, and ``facets_exact`` is then False.  A
    relevance page of a very large match set may be ranked among candidates rather than among
    every match (the embedded store: the newest matches of the title), and ``rank_exact`` is
    then False.  The result is also the sequence of its hits."""

    hits: list[SearchHit]
    total: int
    page: int = 1
    per_page: int = 20
    sort: str = "relevance"
    query: str = ""  # the query as understood, in the query language
    total_exact: bool = True
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    facets_exact: bool = True
    rank_exact: bool = True

    @overload
    def __getitem__(self, index: int) -> SearchHit: ...

    @overload
    def __getitem__(self, index: slice) -> list[SearchHit]: ...

    def __getitem__(self, index: int | slice) -> SearchHit | list[SearchHit]:
        return self.hits[index]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.hits)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page)) if self.per_page > 0 else 1

    def to_api(self) -> dict[str, Any]:
        """The answer of ``/api/search`` (documented in the README)."""
        out: dict[str, Any] = {"total": self.total, "total_exact": self.total_exact, "page": self.page,
                               "per_page": self.per_page, "pages": self.pages, "sort": self.sort,
                               "query": self.query, "rank_exact": self.rank_exact,
                               "hits": [h.to_api() for h in self.hits]}
        if self.facets:
            out["facets"] = {name: [v.to_dict() for v in values] for name, values in self.facets.items()}
            out["facets_exact"] = self.facets_exact
        return out


@dataclass
class ExportFilter:
    """Which documents an export (or ``iter_documents``) gives: the filters of
    :class:`SearchQuery`, and optionally its query text (every match, in export order)."""

    portals: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    province: str | None = None
    level: str | None = None
    category: str | None = None
    min_views: int | None = None
    text: str = ""

    def as_query(self) -> SearchQuery:
        return SearchQuery(text=self.text, portals=list(self.portals), province=self.province, since=self.since,
                           until=self.until, min_views=self.min_views, level=self.level, category=self.category)


@dataclass
class CoverageRow(DictRecord):
    portal_id: str
    articles: int = 0
    newest_article: str | None = None
    last_crawl_started: str | None = None
    last_crawl_finished: str | None = None
    last_outcome: str | None = None
    pages_fetched: int = 0
    errors: int = 0
    http_errors: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MigrationReport:
    """What ``portalnews migrate`` did to one store."""

    store: str
    from_version: int
    to_version: int
    backup: str | None = None  # the copy of the store as it was (file or index), when one was made
    steps: list[str] = field(default_factory=list)

    @property
    def migrated(self) -> bool:
        return self.from_version != self.to_version


# --- the interface, by job ------------------------------------------------------------------
class DocumentIndex(Protocol):
    """The indexed articles and their history."""

    def upsert_documents(self, docs: Sequence[Document]) -> UpsertResult:
        """Insert or update by id; appends view-count observations and archives changed content."""

    def get_document(self, doc_id: str) -> Document | None: ...

    def iter_documents(self, flt: ExportFilter | None = None) -> Iterator[Document]:
        """Every document (of the filter), by portal, newest first, then URL: the export order."""

    def count_documents(self, portal_id: str | None = None) -> int: ...

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of hits with the total and, when asked, the facets (one call, every backend)."""

    def import_documents(self, items: Sequence[tuple[Document, DocumentHistory | None]]) -> UpsertResult:
        """Load documents as ``export --with-history`` wrote them (``portalnews import``): each is
        upserted by URL like :meth:`upsert_documents`, and its history, when given, is merged
        into the stored one (observations and archived versions by time and number; the version
        number is the larger)."""

    def histories(self, doc_ids: Sequence[str]) -> dict[str, DocumentHistory]:
        """History of each stored document among ``doc_ids`` (unknown ids are absent)."""

    def reconcile_stories(self) -> ReconcileReport:
        """Put every document written since the last reconciliation into its story
        (:mod:`pipelines.stories.reconcile`), serialised against other workers; after each
        crawl, import and migration."""

    def story_members(self, story_id: str) -> list[Document]:
        """The documents of one story, the source first (:func:`sort_story`)."""

    def story_groups(self) -> Iterator[Document]:
        """Every document of a story of two or more (bodies left out: ``body`` is empty)."""

    def story_counts(self) -> dict[str, tuple[int, int]]:
        """Per portal: its articles, and how many of them are reprints (``is_source`` false)."""

    def recent_documents(self, portal_id: str, since: str) -> list[RecentDocument]:
        """Stored articles of a portal published at or after ``since`` (ISO), newest first."""


class CrawlState(Protocol):
    """Every URL seen, the run records, and the coverage aggregates built from them."""

    def record_pages(self, pages: Sequence[PageRecord]) -> None: ...

    def known_pages(self, portal_id: str) -> dict[str, str]:
        """Canonical URL -> kind for every URL recorded for the portal (stored documents count
        as articles even without a page record)."""

    def save_run(self, run: RunRecord) -> None:
        """Insert or replace a run record."""

    def runs(self, portal_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Most recent runs first."""

    def coverage(self) -> list[CoverageRow]:
        """Per portal: article count, newest article and the latest run."""

    def recent_counts(self, since: Mapping[str, str], field: str = "published_at") -> dict[str, dict[str, int]]:
        """Per portal, for each label of ``since``: the documents whose ``field`` (``published_at``
        or ``first_seen_at``) is at or after that instant (ISO 8601; naive means UTC).  Portals
        without such a document are left out."""

    def published_per_day(self, since: str | None = None, until: str | None = None) -> dict[str, dict[str, int]]:
        """Per portal: documents per publication day (``YYYY-MM-DD`` at +07:00), for the days
        from ``since`` to ``until`` (inclusive ISO dates, both optional).  Undated documents
        are not counted."""

    def run_totals(self) -> dict[str, dict[str, int]]:
        """Per portal, over every finished run (not ``running``): ``runs/<outcome>`` counts and the
        sums of :data:`RUN_TOTAL_FIELDS`."""


class Store(DocumentIndex, CrawlState, Coordination, Watchlists, Protocol):
    """A whole store: the three jobs and the watchlists (:mod:`pipelines.storage.watchlists`) plus its lifecycle.  All methods are synchronous; the
    storage pipeline writes from a background writer so the crawl never waits."""

    url: str

    def open(self, create: bool = True) -> None:
        """Connect, and create the schema of a new store.  Raises :class:`StoreError`, also for a
        store written by an older portalnews (the message names ``portalnews migrate``).

        ``create=False`` (the read-only commands: check, coverage, report, search, export,
        metrics) never creates anything: a store that does not exist (no SQLite file, no
        engine alias) is a :class:`StoreError` naming where it was looked for."""

    def close(self) -> None: ...

    def migrate(self) -> MigrationReport:
        """Upgrade the store to this version's schema in place, after a backup (call it on an
        unopened store; see :mod:`pipelines.storage.migrations`)."""

    def reindex(self, delete_old: bool = False) -> dict[str, Any]:
        """Rebuild the document index with the current mapping (search-engine stores only)."""
        raise StoreError(f"reindex rebuilds a search-engine index; the store {redact_url(self.url)} has none")

    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- helpers shared by the backends so that they give the same answers -----------------
def _day_after(value: str) -> str:
    return (date.fromisoformat(value[:10]) + timedelta(days=1)).isoformat()


def date_bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """Turn user bounds into string bounds on ISO ``published_at`` (until is inclusive)."""
    lo = since[:10] if since and len(since) <= 10 else since
    hi = _day_after(until) if until and len(until) <= 10 else until
    return lo, hi


def apply_run(row: CoverageRow, run: RunRecord) -> None:
    """Fill the last-crawl columns of a coverage row from the portal's latest run."""
    row.last_crawl_started = run.started_at
    row.last_crawl_finished = run.finished_at
    row.last_outcome = run.outcome
    row.pages_fetched = run.pages_fetched
    row.errors = run.errors
    row.http_errors = dict(run.http_errors)
    row.extra["drop_reasons"] = dict(run.drop_reasons)
    row.extra["robots_blocked"] = run.robots_blocked
    row.extra["message"] = run.message


#: Run-record counters summed by :meth:`CrawlState.run_totals`.
RUN_TOTAL_FIELDS = ("pages_fetched", "articles_new", "articles_updated", "errors", "dropped", "robots_blocked")
RECENT_FIELDS = ("published_at", "first_seen_at")


def check_recent_field(field_name: str) -> None:
    if field_name not in RECENT_FIELDS:
        raise ValueError(f"recent_counts counts {' or '.join(RECENT_FIELDS)}, not {field_name!r}")


def sort_story(docs: Iterable[Document]) -> list[Document]:
    """The documents of a story in publication order, the source (the story's id) first."""
    return sorted(docs, key=lambda d: order_key(d.published_at, d.id, d.date_precision == "day"))


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time as an aware datetime (naive values are UTC), or None."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

