"""The store contract: every backend gives the same answers for the same data.

Parametrized over the backends:

* ``sqlite``: always;
* ``opensearch``: a real single-node OpenSearch started for the session (mark ``engine``);
* ``elasticsearch``: a core Elasticsearch 8.19 node (the server and netty4 from Maven Central,
  no analysis-common, no painless, no ``_reindex``), through the official client with no shim,
  or the full Elasticsearch ``ELASTICSEARCH_URL`` names (mark ``engine``);
* ``es-client@opensearch``: the official ``elasticsearch`` client (the code path of
  ``http(s)://`` and ``elasticsearch://`` store URLs) against the same OpenSearch node
  through a header shim, so that path runs on every CI run, not only when an
  Elasticsearch is around.

The assertions are what a user sees: upserts never duplicate, "hoi nghi" finds
"Hội nghị", exact diacritics rank first, the query language (OR, -exclude, prefix*,
abbreviations), filters (a province formed in 2025 includes the ones merged into it), sorts,
totals, paging and facets, export and import, coverage, the incremental crawl state, and
identical ``portalnews search`` / ``coverage`` / ``export`` output on every backend — both for
data loaded through the API and for the labelled corpus crawled into each backend.

"Identical" is everything but the relevance score: each backend ranks with its own BM25
(FTS5's ``bm25()`` on SQLite, Lucene's on the engines) with the same field weights, so the
score values differ, and so may the order of two hits of one exact-spelling tier whose scores
are close.  For the relevance order the comparison takes the hits, their exact flags and
snippets and the tiers (exact spellings first); date and views orders are compared as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main as cli_main
from pipelines.storage import (
    Document,
    ExportFilter,
    PageRecord,
    RunRecord,
    SearchQuery,
    SearchResult,
    Store,
    UpsertResult,
    open_store,
)
from pipelines.storage.base import canonical_url
from pipelines.storage.engine import EngineStore
from pipelines.storage.engine_client import body
from pipelines.storage.engine_write import page_id
from pipelines.storage.sqlite import SQLiteStore
from tests.conftest import ServedCorpus
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix, with_prefix

CRAWLED = "2026-01-01T00:00:00+00:00"
ENGINE_BACKENDS = ("opensearch", "elasticsearch", "es-client@opensearch")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("opensearch", id="opensearch", marks=pytest.mark.engine),
    pytest.param("elasticsearch", id="elasticsearch", marks=pytest.mark.engine),
    pytest.param("es-client@opensearch", id="es-client@opensearch", marks=pytest.mark.engine),
]

StoreFactory = Callable[[], Store]


def doc(n: int, title: str, body: str, published: str | None, views: int | None = None, portal: str = "p1",
        province: str = "Phú Yên", summary: str | None = None) -> Document:
    return Document(url=f"http://127.0.0.1/a/{n:02d}.html", portal_id=portal, title=title, body=body,
                    summary=summary, published_at=published, view_count=views, crawled_at=CRAWLED,
                    province=province, level="district", category="Tin tức", portal_name=f"Cổng {portal}")


DOCS = [
    doc(1, "Hội nghị tổng kết công tác năm 2024", "Sáng 5/1, UBND huyện tổ chức hội nghị tổng kết công tác năm 2024.",
        "2025-01-05T08:00:00+07:00", 1234),
    doc(2, "Hoi nghi khong dau", "Bai viet khong dau ve hoi nghi cua huyen.", "2024-06-01T00:00:00+07:00", 10),
    doc(3, "Đường giao thông nông thôn", "Khánh thành đường mới ở xã Đồng Tiến.", "2023-03-03T00:00:00+07:00",
        None, portal="p2", province="Bến Tre"),
    doc(4, "Tin hoạt động tháng 3", "Nhiều hoạt động trong tháng.", "2024-06-01T00:00:00+07:00", 50, portal="p2",
        province="Bến Tre", summary="Lãnh đạo tỉnh dự hội nghị về chuyển đổi số."),
    doc(5, "Thông báo lịch tiếp công dân", "Lịch tiếp công dân của Chủ tịch UBND huyện trong tháng.", None, 5,
        portal="p3", province="Hà Giang"),
    doc(6, "Trao quà Tết cho hộ nghèo", "Huyện trao 500 suất quà cho hộ nghèo dịp Tết.", "2025-01-20T09:30:00+07:00",
        300),
    doc(7, "Phong trào thi đua yêu nước", "Phát động phong trào thi đua trong toàn huyện; hội nghị sơ kết được tổ chức.",
        "2025-01-20T09:30:00+07:00", 300, portal="p3", province="Hà Giang"),
]
RUNS = [
    RunRecord(run_id="r1", portal_id="p1", started_at="2026-01-01T00:00:00+00:00"),
    RunRecord(run_id="r2", portal_id="p1", started_at="2026-01-02T00:00:00+00:00",
              finished_at="2026-01-02T00:05:00+00:00", outcome="ok", pages_fetched=12, articles_new=3,
              http_errors={"404": 1}, drop_reasons={"too short": 2}, robots_blocked=1, message="1 broken link(s)"),
    RunRecord(run_id="r3", portal_id="p2", started_at="2026-01-01T12:00:00+00:00",
              finished_at="2026-01-01T12:00:09+00:00", outcome="failed", errors=1, http_errors={"network": 1},
              message="home page unreachable: timeout"),
    RunRecord(run_id="r4", portal_id="p4", started_at="2026-01-01T06:00:00+00:00",
              finished_at="2026-01-01T06:01:00+00:00", outcome="ok", pages_fetched=3),
]


def urls(items: Iterable[Any]) -> list[str]:
    """Short names ("01") of search hits or documents, in order."""
    return [getattr(h, "document", h).url.rsplit("/", 1)[-1].split(".")[0] for h in items]


def load(store: Store, docs: list[Document] = DOCS) -> None:
    store.upsert_documents(docs)
    for run in RUNS:
        store.save_run(run)
    store.save_run(replace(RUNS[0], finished_at="2026-01-01T00:03:00+00:00", outcome="ok", pages_fetched=9))


# --- backends ---------------------------------------------------------------------------
def _base_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "opensearch":
        return opensearch_store_url(request.getfixturevalue("opensearch_url"), unique_prefix())
    if backend == "elasticsearch":
        return with_prefix(request.getfixturevalue("elasticsearch_url"), unique_prefix())
    if backend == "es-client@opensearch":
        shim = request.getfixturevalue("es_shim_url")
        return with_prefix(shim.replace("http://", "elasticsearch://"), unique_prefix())
    raise AssertionError(backend)


@pytest.fixture()
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """``make_store(backend)`` -> a new, empty, opened store; removed after the test."""
    opened: list[tuple[Store, str]] = []

    def make(backend: str) -> Store:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'store-{len(opened)}.db'}"
        else:
            url = _base_url(backend, request)
        store = open_store(url)
        store.open()
        opened.append((store, url))
        return store

    yield make
    for store, url in opened:
        store.close()
        if not url.startswith("sqlite:"):
            drop_engine_indices(url)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, make_store: Callable[[str], Store]) -> Store:
    s = make_store(request.param)
    load(s)
    return s


@pytest.fixture(params=[p for p in BACKENDS if p.values[0] != "sqlite"])
def engine_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


# --- documents --------------------------------------------------------------------------
def test_upsert_twice_keeps_one_document_with_the_new_view_count(store: Store) -> None:
    again = replace(DOCS[0], view_count=1500)
    assert store.upsert_documents([again]) == UpsertResult(inserted=0, updated=1, unchanged=0)
    assert store.count_documents() == len(DOCS)
    got = store.get_document(DOCS[0].id)
    assert got is not None and got.view_count == 1500 and got.title == DOCS[0].title
    assert store.upsert_documents([again]) == UpsertResult(unchanged=1)
    edited = replace(again, body=again.body + " Đại biểu thảo luận sôi nổi.", content_hash="")
    assert store.upsert_documents([edited]) == UpsertResult(updated=1)
    assert urls(store.search(SearchQuery(text="thao luan soi noi"))) == ["01"]
    assert store.upsert_documents([doc(8, "Bài mới", "Nội dung bài mới đăng.", None)]) == UpsertResult(inserted=1)
    assert store.count_documents() == len(DOCS) + 1
    assert [d.url for d in store.iter_documents()].count(DOCS[0].url) == 1


def test_count_and_get(store: Store) -> None:
    assert store.count_documents() == 7
    assert store.count_documents("p1") == 3
    assert store.count_documents("nope") == 0
    got = store.get_document(DOCS[3].id)
    assert got is not None
    assert got.export_dict() == DOCS[3].export_dict()
    assert (got.province, got.level, got.portal_name) == ("Bến Tre", "district", "Cổng p2")
    assert store.get_document("0" * 40) is None


# --- search -----------------------------------------------------------------------------
def test_search_without_diacritics_finds_text_with_diacritics(store: Store) -> None:
    hits = store.search(SearchQuery(text="hoi nghi"))
    # BM25 with the field weights (title 8, summary 3, body 1): the two title matches, the
    # shorter first, then the summary match, then the body match
    assert urls(hits) == ["02", "01", "04", "07"]
    scores = [h.score for h in hits]
    assert all(score > 0 for score in scores) and scores == sorted(scores, reverse=True)
    assert hits.total == 4 and not any(h.exact for h in hits)
    assert urls(store.search(SearchQuery(text="dong tien"))) == ["03"]  # đ folds to d
    assert urls(store.search(SearchQuery(text="HỘI NGHỊ TỔNG KẾT"))) == ["01"]


def test_exact_diacritics_rank_first(store: Store) -> None:
    hits = store.search(SearchQuery(text="Hội nghị"))
    # "Hoi nghi khong dau" has the words in its title, but without diacritics: after every exact hit
    assert urls(hits)[0] == "01" and urls(hits)[-1] == "02" and sorted(urls(hits)) == ["01", "02", "04", "07"]
    assert [h.exact for h in hits] == [True, True, True, False]
    hits = store.search(SearchQuery(text="trào"))
    assert urls(hits) == ["07", "06"] and [h.exact for h in hits] == [True, False]
    # a word typed without diacritics must appear without them to count as exact
    hits = store.search(SearchQuery(text="trao thi đua"))
    assert urls(hits) == ["07"] and [h.exact for h in hits] == [False]
    hits = store.search(SearchQuery(text="trao quà"))
    assert urls(hits) == ["06"] and [h.exact for h in hits] == [True]


def test_phrases_and_all_terms_required(store: Store) -> None:
    assert urls(store.search(SearchQuery(text='"tong ket"'))) == ["01"]
    assert urls(store.search(SearchQuery(text='"ket tong"'))) == []
    assert urls(store.search(SearchQuery(text="tổng hội"))) == ["01"]
    assert urls(store.search(SearchQuery(text="hội nghị giao thông"))) == []
    assert urls(store.search(SearchQuery(text="trao"))) == ["06", "07"]  # 8+1 each, same date: by URL


def test_snippets_are_the_shared_ones(store: Store) -> None:
    """The snippets a user sees, written out by hand: cut from the body when it holds the words,
    else from the summary, the words marked whatever their diacritics."""
    by_url = {h.document.url: h.snippet for h in store.search(SearchQuery(text="hoi nghi"))}
    assert by_url == {
        DOCS[0].url: "Sáng 5/1, UBND huyện tổ chức <mark>hội nghị</mark> tổng kết công tác năm 2024.",
        DOCS[1].url: "Bai viet khong dau ve <mark>hoi nghi</mark> cua huyen.",
        DOCS[3].url: "Lãnh đạo tỉnh dự <mark>hội nghị</mark> về chuyển đổi số.",  # from the summary
        DOCS[6].url: "Phát động phong trào thi đua trong toàn huyện; <mark>hội nghị</mark> sơ kết được tổ chức.",
    }


def test_filters(store: Store) -> None:
    assert urls(store.search(SearchQuery(province="ben tre"))) == ["04", "03"]
    assert urls(store.search(SearchQuery(province="Bến Tre"))) == ["04", "03"]
    assert urls(store.search(SearchQuery(province="BEN TRE", text="hoi nghi"))) == ["04"]
    assert urls(store.search(SearchQuery(text="hoi nghi", portals=["p1"]))) == ["02", "01"]
    assert urls(store.search(SearchQuery(text="hoi nghi", portals=["p2", "p3"]))) == ["04", "07"]
    assert urls(store.search(SearchQuery(since="2024-06-01", until="2024-06-01"))) == ["02", "04"]
    assert urls(store.search(SearchQuery(since="2025-01-05", until="2025-01-05"))) == ["01"]  # until: whole day
    assert urls(store.search(SearchQuery(until="2024-01-01"))) == ["03"]
    assert urls(store.search(SearchQuery(min_views=300, sort="views"))) == ["01", "06", "07"]
    assert urls(store.search(SearchQuery(text="hoi nghi", min_views=11, since="2024-01-01"))) == ["01", "04", "07"]


def test_sorts_put_missing_values_last_and_break_ties_by_url(store: Store) -> None:
    assert urls(store.search(SearchQuery(sort="views"))) == ["01", "06", "07", "04", "02", "05", "03"]
    assert urls(store.search(SearchQuery(sort="date"))) == ["06", "07", "01", "02", "04", "03", "05"]
    assert urls(store.search(SearchQuery())) == ["06", "07", "01", "02", "04", "03", "05"]
    assert urls(store.search(SearchQuery(text="hoi nghi", sort="date"))) == ["07", "01", "02", "04"]
    assert urls(store.search(SearchQuery(text="Hội nghị", sort="views"))) == ["01", "07", "04", "02"]


def test_offset_and_limit_page_through_the_same_order(store: Store) -> None:
    full = urls(store.search(SearchQuery(text="Hội nghị", limit=50)))
    pages = [urls(store.search(SearchQuery(text="Hội nghị", offset=o, limit=2))) for o in range(0, 6, 2)]
    assert [u for p in pages for u in p] == full
    assert urls(store.search(SearchQuery(sort="views", offset=5, limit=5))) == ["05", "03"]


# --- export -----------------------------------------------------------------------------
def test_export_order_fields_and_filters(store: Store) -> None:
    exported = list(store.iter_documents())
    assert urls(exported) == ["06", "01", "02", "04", "03", "07", "05"]  # portal, newest first, no date last
    by_url = {d.url: d for d in DOCS}
    assert [d.export_dict() for d in exported] == [by_url[d.url].export_dict() for d in exported]
    assert urls(store.iter_documents(ExportFilter(since="2025-01-01"))) == ["06", "01", "07"]
    assert urls(store.iter_documents(ExportFilter(portals=["p3"]))) == ["07", "05"]
    assert urls(store.iter_documents(ExportFilter(until="2024-06-01", portals=["p1", "p2"]))) == ["02", "04", "03"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_export_pages_through_many_documents(backend: str, make_store: Callable[[str], Store]) -> None:
    s = make_store(backend)
    many = [doc(100 + i, f"Bài số {i}", f"Nội dung bài số {i} về hội nghị.", f"2025-{1 + i % 12:02d}-01T00:00:00+07:00",
                i, portal=f"p{i % 3}") for i in range(1234)]
    s.upsert_documents(many)
    exported = [d.url for d in s.iter_documents()]
    assert len(exported) == len(set(exported)) == 1234
    assert s.count_documents() == 1234
    assert len(s.search(SearchQuery(text="hoi nghi", limit=1000))) == 1000


# --- crawl state --------------------------------------------------------------------------
def test_known_pages_include_stored_documents_and_page_records(store: Store) -> None:
    store.record_pages([
        PageRecord(url=DOCS[0].url, portal_id="p1", kind="article", status=200, fetched_at=CRAWLED,
                   content_hash="h1", doc_id=DOCS[0].id),
        PageRecord(url="http://127.0.0.1/list?b=2&a=1#top", portal_id="p1", kind="listing", status=200,
                   fetched_at=CRAWLED),
        PageRecord(url="http://127.0.0.1/gone.html", portal_id="p1", kind="gone", status=404, fetched_at=CRAWLED),
        PageRecord(url="http://127.0.0.1/x.html", portal_id="p9", kind="other", status=200, fetched_at=CRAWLED),
    ])
    # a later record of the same URL replaces its kind
    store.record_pages([PageRecord(url="http://127.0.0.1/list?a=1&b=2", portal_id="p1", kind="other", status=200,
                                   fetched_at="2026-01-02T00:00:00+00:00")])
    assert store.known_pages("p1") == {
        canonical_url(DOCS[0].url): "article", canonical_url(DOCS[1].url): "article",
        canonical_url(DOCS[5].url): "article", "http://127.0.0.1/list?a=1&b=2": "other",
        "http://127.0.0.1/gone.html": "gone",
    }
    assert store.known_pages("p9") == {"http://127.0.0.1/x.html": "other"}
    assert store.known_pages("nope") == {}


def stored_page(store: Store, url: str) -> dict[str, Any]:
    """The page record of ``url`` as the backend keeps it (no Store method reads it whole)."""
    if isinstance(store, SQLiteStore):
        row = store._conn().execute("SELECT * FROM pages WHERE url = ?", (canonical_url(url),)).fetchone()
        return dict(row) if row is not None else {}
    assert isinstance(store, EngineStore)
    hit = body(store._client().mget(index=store.names.pages, body={"ids": [page_id(url)]}))["docs"][0]
    return dict(hit["_source"]) if hit.get("found") else {}


def test_page_records_keep_first_sighting_hash_and_document_whatever_the_hint(store: Store) -> None:
    """The spider's hint (``known``: an earlier crawl recorded the URL) only chooses how the
    engines write a page record (update in place, or create and update if it exists): the
    record is the same either way, and the same as SQLite's."""
    later, latest = "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"
    # not known and new, not known but existing (an earlier crawl the spider did not read),
    # known and existing, known but new (a wrong hint)
    urls_ = [f"http://127.0.0.1/page/{name}.html" for name in ("new", "seen", "known", "wrong")]
    first = [PageRecord(url=u, portal_id="p1", kind="article", status=200, fetched_at=CRAWLED, content_hash="h1",
                        doc_id="d1") for u in urls_[1:3]]
    store.record_pages(first)
    again = [PageRecord(url=u, portal_id="p1", kind=kind, status=status, fetched_at=later, known=known,
                        reason=reason)
             for u, kind, status, known, reason in [(urls_[0], "listing", 200, False, ""),
                                                   (urls_[1], "gone", 404, False, "HTTP 404"),
                                                   (urls_[2], "gone", 410, True, "HTTP 410"),
                                                   (urls_[3], "other", 200, True, "")]]
    # the same URL twice in one batch: the later record wins, the first sighting stays
    store.record_pages([*again, replace(again[0], fetched_at=latest, kind="other")])
    new, seen, known, wrong = (stored_page(store, u) for u in urls_)
    assert {k: new[k] for k in ("kind", "first_seen_at", "fetched_at", "content_hash", "doc_id")} == {
        "kind": "other", "first_seen_at": later, "fetched_at": latest, "content_hash": None, "doc_id": None}
    for got, status in ((seen, 404), (known, 410)):
        assert {k: got[k] for k in ("kind", "status", "first_seen_at", "fetched_at", "content_hash", "doc_id",
                                    "reason")} == {
            "kind": "gone", "status": status, "first_seen_at": CRAWLED, "fetched_at": later, "content_hash": "h1",
            "doc_id": "d1", "reason": f"HTTP {status}"}
    assert (wrong["kind"], wrong["first_seen_at"], wrong["fetched_at"]) == ("other", later, later)
    assert "known" not in new  # a hint, never stored
    assert {u: k for u, k in store.known_pages("p1").items() if "/page/" in u} == {
        canonical_url(urls_[0]): "other", canonical_url(urls_[1]): "gone", canonical_url(urls_[2]): "gone",
        canonical_url(urls_[3]): "other"}


def test_a_crawls_new_records_cost_the_node_no_lookup(engine_backend: str, make_store: Callable[[str], Store]) -> None:
    """New articles and page records (most of a crawl) are created in one bulk request: no
    mget, no update's realtime get (each makes the shard refresh and track every id).  Known
    ones (the spider's hint) are looked up and written over their current version."""
    s = make_store(engine_backend)
    assert isinstance(s, EngineStore)
    client = s._client()

    def gets() -> int:
        stats = body(client.indices.stats(index=f"{s.names.prefix}-*", metric="get"))
        return int(stats["_all"]["primaries"]["get"]["total"])

    pages = [PageRecord(url=d.url, portal_id=d.portal_id, kind="article", status=200, fetched_at=CRAWLED,
                        content_hash=d.content_hash, doc_id=d.id) for d in DOCS]
    before = gets()
    report = s.write([r for pair in zip(DOCS, pages, strict=True) for r in pair], refresh=False)
    assert (report.ok, report.requests, report.result, report.pages) == (True, 1, UpsertResult(inserted=7), 7)
    assert gets() == before
    seen = [replace(d, view_count=(d.view_count or 0) + 1) for d in DOCS]
    report = s.write([r for pair in zip(seen, [replace(p, known=True) for p in pages], strict=True) for r in pair])
    assert (report.ok, report.requests, report.result) == (True, 1, UpsertResult(updated=7))
    assert gets() > before
    assert s.count_documents() == 7 and s.get_document(DOCS[0].id).view_count == 1235  # type: ignore[union-attr]


def test_runs_newest_first_and_replaced_by_id(store: Store) -> None:
    assert [r.run_id for r in store.runs()] == ["r2", "r3", "r4", "r1"]
    assert [r.run_id for r in store.runs("p1")] == ["r2", "r1"]
    assert [r.run_id for r in store.runs("p1", limit=1)] == ["r2"]
    r1 = store.runs("p1")[1]
    assert (r1.outcome, r1.pages_fetched, r1.finished_at) == ("ok", 9, "2026-01-01T00:03:00+00:00")
    assert store.runs("p2")[0] == RUNS[2]


def test_coverage(store: Store) -> None:
    rows = {r.portal_id: r.to_dict() for r in store.coverage()}
    assert list(rows) == ["p1", "p2", "p3", "p4"]
    assert rows["p1"] == {
        "portal_id": "p1", "articles": 3, "newest_article": "2025-01-20T09:30:00+07:00",
        "last_crawl_started": "2026-01-02T00:00:00+00:00", "last_crawl_finished": "2026-01-02T00:05:00+00:00",
        "last_outcome": "ok", "pages_fetched": 12, "errors": 0, "http_errors": {"404": 1},
        "extra": {"drop_reasons": {"too short": 2}, "robots_blocked": 1, "message": "1 broken link(s)"}}
    assert (rows["p2"]["articles"], rows["p2"]["last_outcome"], rows["p2"]["http_errors"]) == (2, "failed",
                                                                                               {"network": 1})
    assert (rows["p3"]["articles"], rows["p3"]["newest_article"], rows["p3"]["last_outcome"]) == (
        2, "2025-01-20T09:30:00+07:00", None)
    assert (rows["p4"]["articles"], rows["p4"]["newest_article"], rows["p4"]["last_outcome"]) == (0, None, "ok")


# --- every backend answers like SQLite ------------------------------------------------------
QUERIES = [
    SearchQuery(text=t, sort=s, limit=50, facets=True) for t in
    ("hoi nghi", "Hội nghị", "hội nghị", "trao", "trào", "trao quà", "huyện", "huyen", "công dân", '"tiep cong dan"',
     "UBND huyện", "tháng", "", "2024", "ho ngheo", "UBND OR tháng", "hoi -nghi", "-huyen", "hoi*", "Ủy ban nhân dân",
     "hoà OR trào")
    for s in ("relevance", "date", "views")
] + [
    SearchQuery(text="huyen", province="phu yen", facets=True), SearchQuery(text="huyen", province="Đắk Lắk"),
    SearchQuery(province="Tỉnh Tuyên Quang", sort="views", facets=True), SearchQuery(level="huyện", category="tin tuc"),
    SearchQuery(text="huyện", portals=["p1", "p3"], offset=1, limit=2, sort="date"),
    SearchQuery(since="2024-06-01", until="2025-01-05", sort="views"), SearchQuery(text="hoi", min_views=100),
]


def result_answer(result: SearchResult, sort: str) -> dict[str, Any]:
    """What a user sees of a result, the relevance score aside (each backend's own BM25): in
    relevance order the exact-spelling tiers in order, within a tier by URL."""
    hits = [(h.document.url, h.exact, h.snippet, h.snippet_html, h.snippet_text, h.to_api()["province"])
            for h in result]
    if sort == "relevance":
        hits.sort(key=lambda h: (not h[1], h[0]))
    return {"total": result.total, "total_exact": result.total_exact, "page": result.page,
            "per_page": result.per_page, "query": result.query, "hits": hits,
            "facets": {k: [v.to_dict() for v in values] for k, values in result.facets.items()},
            "facets_exact": result.facets_exact}


def _answers(s: Store) -> dict[str, Any]:
    return {
        "search": [result_answer(s.search(q), q.sort) for q in QUERIES],
        "coverage": [r.to_dict() for r in s.coverage()],
        "export": [d.export_dict() for d in s.iter_documents()],
        "known": s.known_pages("p1"),
        "runs": s.runs(),
        "counts": [s.count_documents(p) for p in (None, "p1", "p2", "p3")],
    }


def test_same_answers_as_sqlite(engine_backend: str, make_store: Callable[[str], Store]) -> None:
    sqlite, engine = make_store("sqlite"), make_store(engine_backend)
    for s in (sqlite, engine):
        load(s)
        s.record_pages([PageRecord(url=d.url, portal_id=d.portal_id, kind="article", status=200, fetched_at=CRAWLED)
                        for d in DOCS])
    expected, got = _answers(sqlite), _answers(engine)
    for i, q in enumerate(QUERIES):
        assert got["search"][i] == expected["search"][i], q
    assert got == expected


# --- the command line gives the same output on every backend ----------------------------------
CLI_COMMANDS = [
    ["search", "hoi nghi", "--json"],
    ["search", "Hội nghị", "--json", "--limit", "3"],
    ["search", "Hội nghị", "--sort", "date"],
    ["search", "trao quà"],
    ["search", "huyện", "--sort", "views", "--json"],
    ["search", "huyện", "--sort", "views", "--jsonl", "--page", "2", "--per-page", "2"],
    ["search", "", "--province", "ben tre", "--json"],
    ["search", "", "--province", "Vĩnh Long", "--sort", "views"],
    ["search", "huyen", "--portal", "p1", "--portal", "p3", "--since", "2025-01-01", "--json"],
    ["search", "UBND OR tháng -trao", "--level", "district", "--category", "Tin tức", "--json"],
    ["search", "khong co gi", "--json"],
    ["coverage", "--json"],
    ["coverage"],
    ["export"],
    ["export", "--format", "csv", "--portal", "p2"],
    ["export", "--format", "csv", "--province", "Đắk Lắk", "--query", "hoi nghi"],
]


def comparable(command: list[str], out: str) -> Any:
    """What ``search --json`` prints, without the scores (each backend's BM25) and with the hits
    of a relevance order by exact tier, then URL; other output as it is."""
    if command[0] != "search":
        return out
    if "--jsonl" in command:
        return [{k: v for k, v in json.loads(line).items() if k != "score"} for line in out.splitlines()]
    if "--json" not in command:
        return out
    answer = json.loads(out)
    for hit in answer["hits"]:
        del hit["score"]
    if answer["sort"] == "relevance":
        answer["hits"].sort(key=lambda h: (not h["exact"], h["url"]))
    return answer


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_output_is_identical(engine_backend: str, make_store: Callable[[str], Store],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    sqlite, engine = make_store("sqlite"), make_store(engine_backend)
    for s in (sqlite, engine):
        load(s)
    for command in CLI_COMMANDS:
        a = run_main(capsys, *command, "--store", sqlite.url)
        b = run_main(capsys, *command, "--store", _url_of(engine))
        assert a[0] == b[0] == 0, (command, a[2], b[2])
        assert comparable(command, a[1]) == comparable(command, b[1]), command
        assert a[1].strip() or command[1] == "khong co gi"


def _url_of(store: Store) -> str:
    # the store's own URL, password masked: the tests use none
    return store.url


@pytest.mark.engine
def test_cli_says_in_one_line_when_the_engine_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import free_port

    port = free_port()
    for argv in (["search", "hoi nghi"], ["coverage"], ["export"]):
        code, out, err = run_main(capsys, *argv, "--store", f"opensearch://127.0.0.1:{port}")
        assert code == 2 and out == ""
        assert err == (f"portalnews {argv[0]}: error: cannot reach the search engine at http://127.0.0.1:{port}: "
                       "connection refused\n")
    code, _, err = run_main(capsys, "search", "x", "--store", f"http://127.0.0.1:{port}")
    assert code == 2 and "cannot reach the search engine" in err


def test_cli_reindex_swaps_the_alias_without_changing_answers(engine_backend: str,
                                                              make_store: Callable[[str], Store],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    s = make_store(engine_backend)
    load(s)
    before = _answers(s)
    code, out, err = run_main(capsys, "reindex", "--store", s.url, "--json")
    assert code == 0, err
    result = json.loads(out)
    prefix = s.names.prefix  # type: ignore[attr-defined]
    assert (result["old_index"], result["new_index"], result["documents"]) == (
        f"{prefix}-articles-v1", f"{prefix}-articles-v2", 7)
    assert _answers(s) == before
    s.upsert_documents([doc(9, "Sau khi đổi chỉ mục", "Bài viết mới sau reindex.", None)])
    assert urls(s.search(SearchQuery(text="sau reindex"))) == ["09"]
    code, out, err = run_main(capsys, "reindex", "--store", s.url, "--delete-old")
    assert code == 0, err
    assert f"now points at {prefix}-articles-v3 (8 documents)" in out and "was deleted" in out
    client = s._client()  # type: ignore[attr-defined]
    assert sorted(client.indices.get(index=f"{prefix}-articles-v*")) == [f"{prefix}-articles-v1",
                                                                         f"{prefix}-articles-v3"]


def test_cli_reindex_on_sqlite_indexes_every_document_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with open_store(url) as s:
        load(s)
        before = _answers(s)
    code, out, err = run_main(capsys, "reindex", "--store", url)
    assert code == 0, err
    assert out == f"indexed 7 documents of {tmp_path / 'x.db'} again for search\n"
    with open_store(url) as s:
        assert _answers(s) == before


# --- the labelled corpus, crawled into SQLite and into the engine -----------------------------
FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True, timeout=600)


def _search_answer(url: str, query: str, extra: list[str]) -> dict[str, Any]:
    """``search --json`` of one page, comparable across backends (:func:`comparable`); in the
    relevance order (each backend's BM25 may pick another top 30) every match instead, as
    ``export --query`` lists them, without crawled_at (two crawls never run at the same second)."""
    command = ["search", query, "--json", "--per-page", "30", *extra]
    answer = comparable(command, _cli(*command, "--store", url).stdout)
    if not extra:
        answer["hits"] = [{k: v for k, v in json.loads(line).items() if k != "crawled_at"}
                          for line in _cli("export", "--query", query, "--store", url).stdout.splitlines()]
    return answer


@pytest.mark.engine
@pytest.mark.slow
def test_corpus_crawled_into_opensearch_scores_and_answers_like_sqlite(
        served_corpus: ServedCorpus, opensearch_url: str, tmp_path: Path) -> None:
    engine_url = opensearch_store_url(opensearch_url, unique_prefix())
    stores = {"sqlite": f"sqlite:///{tmp_path / 'corpus.db'}", "opensearch": engine_url}
    scores: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    try:
        for name, url in stores.items():
            crawl = _cli("crawl", "--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}",
                         "--store", url, "-s", f"PORTALNEWS_SPOOL_DIR={tmp_path / 'spool' / name}", *FAST)
            assert crawl.returncode == 0, crawl.stderr[-3000:]
            export = tmp_path / f"{name}.jsonl"
            assert _cli("export", "--store", url, "-o", str(export)).returncode == 0
            score = subprocess.run([sys.executable, str(served_corpus.root / "score.py"), str(served_corpus.root),
                                    str(export), "--json"], capture_output=True, text=True, timeout=120)
            assert score.returncode == 0, score.stderr
            scores[name] = json.loads(score.stdout)
            outputs[name] = {
                "export": [{k: v for k, v in json.loads(line).items() if k != "crawled_at"}
                           for line in export.read_text("utf-8").splitlines()],
                "search": [_search_answer(url, q, extra)
                           for q in ("hội nghị", "hoi nghi", "giao thông", '"nông thôn mới"', "UBND xã", "tuyen dung")
                           for extra in ([], ["--sort", "views"], ["--sort", "date", "--since", "2025-01-01"])],
                "coverage": [{k: v for k, v in row.items() if not k.startswith("last_crawl")}
                             for row in json.loads(_cli("coverage", "--json", "--store", url).stdout)],
            }
        for card in scores.values():
            card.pop("export", None)  # the file name
        assert scores["opensearch"] == scores["sqlite"]
        overall = scores["sqlite"].get("overall", scores["sqlite"])
        assert overall["recall"] >= 0.95
        assert len(outputs["sqlite"]["export"]) == 240
        assert outputs["opensearch"]["export"] == outputs["sqlite"]["export"]
        assert outputs["opensearch"]["coverage"] == outputs["sqlite"]["coverage"]
        for got, expected in zip(outputs["opensearch"]["search"], outputs["sqlite"]["search"], strict=True):
            assert got == expected
        assert sum(1 for s in outputs["sqlite"]["search"] if s["total"]) >= 15
    finally:
        drop_engine_indices(engine_url)


# --- coordination: leases, the crawl calendar, back-off records (pipelines.storage.coordination) --
def _twin(store: Store) -> Store:
    """A second, independent handle on the same store (another worker)."""
    other = open_store(_url_of(store))
    other.open()
    return other


@pytest.mark.parametrize("backend", BACKENDS)
def test_leases_are_exclusive_expire_and_are_taken_over(backend: str, make_store: Callable[[str], Store]) -> None:
    a = make_store(backend)
    b = _twin(a)
    try:
        t = 1_000_000.0
        assert a.acquire_lease("p1", "w1", 10, now=t)
        assert not b.acquire_lease("p1", "w2", 10, now=t + 5)  # held
        assert a.acquire_lease("p1", "w1", 10, now=t + 5)  # the holder may take it again
        assert a.renew_lease("p1", "w1", 10, now=t + 6)
        assert not b.renew_lease("p1", "w2", 10, now=t + 6)
        assert not b.acquire_lease("p1", "w2", 10, now=t + 15.9)  # renewed until t + 16
        assert b.acquire_lease("p1", "w2", 10, now=t + 16.1)  # expired: taken over
        assert not a.renew_lease("p1", "w1", 10, now=t + 17)  # w1 learns it lost the lease
        assert not a.release_lease("p1", "w1")
        assert a.acquire_lease("host:127.0.0.1", "w1", 10, now=t + 17)
        leases = {lease.name: lease for lease in b.leases()}
        assert (leases["p1"].worker, leases["p1"].acquired_at, leases["p1"].expires_at) == ("w2", t + 16.1, t + 26.1)
        assert leases["host:127.0.0.1"].worker == "w1"
        assert b.release_lease("p1", "w2") and a.release_lease("host:127.0.0.1", "w1")
        assert a.leases() == []
    finally:
        b.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_winner_when_workers_race_for_a_lease(backend: str, make_store: Callable[[str], Store]) -> None:
    first = make_store(backend)
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        s = _twin(first)
        try:
            barrier.wait()
            if s.acquire_lease("contended", f"w{i}", 30):
                winners.append(i)
        finally:
            s.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(winners) == 1
    assert [lease.worker for lease in first.leases()] == [f"w{winners[0]}"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_crawl_calendar_and_backoff_records(backend: str, make_store: Callable[[str], Store]) -> None:
    from pipelines.storage.coordination import Backoff, ScheduleEntry

    s = make_store(backend)
    other = _twin(s)
    try:
        assert s.next_due(["p1", "p2"]) == {"p1": None, "p2": None}
        s.set_next_due("p1", 1234.5, last_started=1000.0, last_finished=1010.25, last_worker="w1", last_status="ok")
        assert other.schedule(["p1", "p2"]) == {"p1": ScheduleEntry("p1", 1234.5, 1000.0, 1010.25, "w1", "ok")}
        other.set_next_due("p1", 2000.0)  # keeps the other fields
        assert s.schedule()["p1"] == ScheduleEntry("p1", 2000.0, 1000.0, 1010.25, "w1", "ok")
        assert s.next_due(["p1", "p2"]) == {"p1": 2000.0, "p2": None}
        assert s.backoff("h1") is None
        assert s.record_backoff("h1", 5000.0, "HTTP 429, Retry-After 60s", delay=60.0, now=4940.0) == Backoff(
            "h1", 5000.0, 60.0, "HTTP 429, Retry-After 60s", 4940.0, 1)
        # a later record with an earlier end keeps the later end, and counts
        assert other.record_backoff("h1", 4990.0, "HTTP 503", delay=5.0, now=4950.0) == Backoff(
            "h1", 5000.0, 5.0, "HTTP 503", 4950.0, 2)
        assert s.backoffs() == {"h1": Backoff("h1", 5000.0, 5.0, "HTTP 503", 4950.0, 2)}
        assert s.backoffs(["h1", "h2"]).keys() == {"h1"}
        record = s.backoff("h1")
        assert record is not None and record.active(4999.0) and not record.active(5000.0)
    finally:
        other.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_alert_notices_are_sent_once_per_interval_and_shared_by_workers(
        backend: str, make_store: Callable[[str], Store]) -> None:
    s = make_store(backend)
    other = _twin(s)
    day = 86400.0
    try:
        first = s.claim_alert_notice("p1", "warning:stale", day, summary="newest article 40 days old", now=1000.0)
        assert first is not None and (first.first_sent, first.last_sent, first.count) == (1000.0, 1000.0, 1)
        # another worker, an hour later: same alert, not due again
        assert other.claim_alert_notice("p1", "warning:stale", day, now=1000.0 + 3600) is None
        # what fires changed: sent at once, a new first_sent
        changed = other.claim_alert_notice("p1", "critical:crawl_failed,stale", day, severity="critical",
                                           now=2000.0)
        assert changed is not None and (changed.first_sent, changed.count) == (2000.0, 1)
        # a day later: due again, counted
        again = s.claim_alert_notice("p1", "critical:crawl_failed,stale", day, severity="critical", now=2000.0 + day)
        assert again is not None and (again.first_sent, again.last_sent, again.count) == (2000.0, 2000.0 + day, 2)
        assert set(other.alert_notices()) == {"p1"} and other.alert_notices(["p1", "p2"])["p1"].count == 2
        # releasing a claim only removes the notice it names
        assert s.drop_alert_notice("p1", "warning:stale") is None
        dropped = other.drop_alert_notice("p1")
        assert dropped is not None and dropped.severity == "critical"
        assert s.drop_alert_notice("p1") is None and s.alert_notices() == {}
    finally:
        other.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_of_workers_claiming_one_alert_at_once_exactly_one_sends(
        backend: str, make_store: Callable[[str], Store]) -> None:
    s = make_store(backend)
    winners: list[int] = []

    def race(i: int) -> None:
        twin = _twin(s)
        try:
            if twin.claim_alert_notice("p9", "warning:stale", 3600.0, now=5000.0) is not None:
                winners.append(i)
        finally:
            twin.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(winners) == 1


# --- history: view counts over time, archived versions, recrawl candidates ----------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_fetch_adds_a_view_observation_and_a_content_change_archives_a_version(
        backend: str, make_store: Callable[[str], Store]) -> None:
    from pipelines.storage.base import DocumentVersion, Observation

    s = make_store(backend)
    first = doc(1, "Hội nghị", "Nội dung ban đầu của bài viết.", "2026-11-20T08:00:00+07:00", 10)
    assert s.upsert_documents([first]) == UpsertResult(inserted=1)
    h = s.histories([first.id])[first.id]
    assert (h.version, h.view_history, h.versions) == (1, [Observation(CRAWLED, 10)], [])
    t2, t3, t4 = "2026-01-01T06:00:00+00:00", "2026-01-01T12:00:00+00:00", "2026-01-02T00:00:00+00:00"
    assert s.upsert_documents([replace(first, view_count=25, crawled_at=t2)]) == UpsertResult(updated=1)
    assert s.upsert_documents([replace(first, view_count=25, crawled_at=t3)]) == UpsertResult(unchanged=1)
    edited = replace(first, body="Nội dung đã sửa của bài viết.", content_hash="", view_count=40, crawled_at=t4)
    assert s.upsert_documents([edited]) == UpsertResult(updated=1)
    got = s.get_document(first.id)
    assert got is not None and got.body == edited.body and got.view_count == 40
    assert s.count_documents() == 1
    h = s.histories([first.id, "0" * 40])[first.id]
    assert h.version == 2
    assert h.view_history == [Observation(CRAWLED, 10), Observation(t2, 25), Observation(t3, 25), Observation(t4, 40)]
    assert h.versions == [DocumentVersion(doc_id=first.id, version=1, content_hash=first.content_hash,
                                          title=first.title, body=first.body, published_at=first.published_at,
                                          replaced_at=t4)]
    assert list(s.histories(["0" * 40])) == []
    # the same copy written again (a replayed batch) adds nothing; no view count adds no point
    assert s.upsert_documents([edited]) == UpsertResult(unchanged=1)
    assert s.upsert_documents([replace(edited, view_count=None, crawled_at="2026-01-03T00:00:00+00:00")]) == \
        UpsertResult(updated=1)
    h = s.histories([first.id])[first.id]
    assert len(h.view_history) == 4 and h.version == 2
    # the history is not part of the document itself; the story fields are the store's (a
    # story of its own until a reconciliation finds copies)
    stored = replace(edited, story_id=first.id, story_size=1, is_source=True)
    assert got.export_dict() == stored.export_dict() and "view_history" not in got.extra


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_copies_in_one_batch_keep_both_observations(backend: str, make_store: Callable[[str], Store]) -> None:
    s = make_store(backend)
    a = doc(1, "Tin", "Nội dung bài viết số một.", "2026-11-20T08:00:00+07:00", 1)
    b = replace(a, view_count=2, crawled_at="2026-01-01T01:00:00+00:00", body="Nội dung mới.", content_hash="")
    assert s.upsert_documents([a, b]) == UpsertResult(inserted=1, updated=1)
    h = s.histories([a.id])[a.id]
    assert [o.views for o in h.view_history] == [1, 2] and h.version == 2 and [v.body for v in h.versions] == [a.body]


@pytest.mark.parametrize("backend", BACKENDS)
def test_recent_documents_for_the_recrawl_policy(backend: str, make_store: Callable[[str], Store]) -> None:
    from pipelines.storage.base import RecentDocument

    s = make_store(backend)
    load(s)
    got = s.recent_documents("p1", "2025-01-05T00:00:00+07:00")
    assert got == [RecentDocument(DOCS[5].url, DOCS[5].published_at, CRAWLED),
                   RecentDocument(DOCS[0].url, DOCS[0].published_at, CRAWLED)]
    assert s.recent_documents("p3", "2020-01-01T00:00:00+07:00") == [
        RecentDocument(DOCS[6].url, DOCS[6].published_at, CRAWLED)]  # no date: never recent
    assert s.recent_documents("p9", "2020-01-01") == []


def test_history_answers_are_the_same_as_sqlite(engine_backend: str, make_store: Callable[[str], Store]) -> None:
    sqlite, engine = make_store("sqlite"), make_store(engine_backend)
    later = [replace(d, view_count=(d.view_count or 0) + 5, crawled_at="2026-01-05T00:00:00+00:00") for d in DOCS]
    edited = [replace(DOCS[2], body=DOCS[2].body + " Đã sửa.", content_hash="",
                      crawled_at="2026-01-06T00:00:00+00:00")]
    ids = [d.id for d in DOCS]
    for s in (sqlite, engine):
        load(s)
        s.upsert_documents(later)
        s.upsert_documents(edited)
    assert engine.histories(ids) == sqlite.histories(ids)
    assert engine.recent_documents("p1", "2024-01-01") == sqlite.recent_documents("p1", "2024-01-01")


def test_cli_export_with_history_is_identical(engine_backend: str, make_store: Callable[[str], Store],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sqlite, engine = make_store("sqlite"), make_store(engine_backend)
    for s in (sqlite, engine):
        load(s)
        s.upsert_documents([replace(DOCS[0], view_count=1300, crawled_at="2026-01-05T00:00:00+00:00")])
    outputs = []
    for s in (sqlite, engine):
        for fmt in ("jsonl", "csv"):
            code, out, err = run_main(capsys, "export", "--with-history", "--format", fmt, "--store", _url_of(s))
            assert code == 0, err
            outputs.append(out)
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3]
    rows = {json.loads(line)["url"]: json.loads(line) for line in outputs[0].splitlines()}
    first = rows[DOCS[0].url]
    assert first["version"] == 1 and first["previous_versions"] == []
    assert first["view_history"] == [{"t": CRAWLED, "views": 1234}, {"t": "2026-01-05T00:00:00+00:00", "views": 1300}]
    assert rows[DOCS[2].url]["view_history"] == []  # no view count shown


def test_export_import_export_round_trip_through_the_engine(engine_backend: str, make_store: Callable[[str], Store],
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``export`` from SQLite, ``import`` into an empty engine, ``export`` there, ``import`` into
    an empty SQLite store, ``export`` again: the same files every time (JSON lines with the
    histories, and CSV), and the same search answers."""
    source, engine, back = make_store("sqlite"), make_store(engine_backend), make_store("sqlite")
    load(source)
    source.upsert_documents([replace(d, view_count=(d.view_count or 0) + 7, crawled_at="2026-01-05T00:00:00+00:00")
                             for d in DOCS if d.view_count is not None])
    source.upsert_documents([replace(DOCS[2], title=DOCS[2].title + " (cập nhật)", body=DOCS[2].body + " Đã sửa.",
                                     content_hash="", crawled_at="2026-01-06T00:00:00+00:00")])

    def export(store: Store, name: str) -> dict[str, bytes]:
        files = {}
        for fmt in ("jsonl", "csv"):
            path = tmp_path / f"{name}.{fmt}"
            code, _, err = run_main(capsys, "export", "--with-history", "--format", fmt, "-o", str(path),
                                    "--store", _url_of(store))
            assert code == 0, err
            files[fmt] = path.read_bytes()
        return files

    def import_into(store: Store, path: Path) -> str:
        code, _, err = run_main(capsys, "import", str(path), "--store", _url_of(store))
        assert code == 0, err
        return err.strip().splitlines()[-1]

    first = export(source, "sqlite")
    assert first["csv"].startswith("\ufeff".encode())
    rows = [json.loads(line) for line in first["jsonl"].decode("utf-8").splitlines()]
    assert len(rows) == len(DOCS) and any(r["previous_versions"] for r in rows)
    assert any(len(r["view_history"]) == 2 for r in rows)
    assert f"{len(DOCS)} new, 0 updated, 0 unchanged" in import_into(engine, tmp_path / "sqlite.jsonl")
    second = export(engine, "engine")
    assert second == first
    assert f"{len(DOCS)} new" in import_into(back, tmp_path / "engine.jsonl")
    assert export(back, "back") == first
    # importing the same file again changes nothing
    assert f"0 new, 0 updated, {len(DOCS)} unchanged" in import_into(engine, tmp_path / "sqlite.jsonl")
    assert export(engine, "engine-again") == first
    for q in (SearchQuery(text="hoi nghi"), SearchQuery(text="UBND", sort="date"), SearchQuery(text="cập nhật")):
        expected = [(h.document.url, h.exact) for h in source.search(q).hits]
        assert expected, q
        assert sorted(expected) == sorted((h.document.url, h.exact) for h in engine.search(q).hits), q
        assert expected == [(h.document.url, h.exact) for h in back.search(q).hits], q


# --- stories (issue 13) -------------------------------------------------------------------------
STORIES_SET = Path(__file__).parent / "fixtures" / "stories"


def _story_docs() -> tuple[list[Document], dict[str, str]]:
    """The blind evaluation set's articles (tests/fixtures/stories) as documents, and the true
    story of each URL."""
    docs, truth = [], {}
    for line in (STORIES_SET / "articles.jsonl").read_text("utf-8").splitlines():
        a = json.loads(line)
        docs.append(Document(url=a["url"], portal_id=a["portal_id"], portal_name=a["portal_name"], title=a["title"],
                             body=a["body"], published_at=a["published_at"], author=a.get("author"),
                             crawled_at=CRAWLED, province="Lào Cai", level="commune"))
        truth[a["url"]] = a["story"]
    return docs, truth


def _stories_of(store: Store) -> dict[str, tuple[str | None, int | None, bool | None]]:
    return {d.url: (d.story_id, d.story_size, d.is_source) for d in store.iter_documents()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stories_are_those_of_the_pure_algorithm_and_stay_stable(backend: str,
                                                                 make_store: Callable[[str], Store]) -> None:
    """The blind evaluation set written in two crawls (the second adds reprints and the
    originals of some): after each reconciliation every document's story id, size and source
    flag are what the in-memory StoryIndex gives for the same documents, the pairs meet the
    issue's precision and recall, and a story id given after the first crawl changes only
    where the second brought an earlier publication of that story."""
    from pipelines.stories import StoryDoc, StoryIndex

    docs, truth = _story_docs()
    first, second = docs[::2], docs[1::2]
    store = make_store(backend)
    index = StoryIndex()
    for batch in (first, second):
        store.upsert_documents(batch)
        store.reconcile_stories()
        index.add(StoryDoc.from_text(d.id, d.published_at, d.body, day_only=d.date_precision == "day") for d in batch)
        got = _stories_of(store)
        want = {d.url: (f.story_id, f.story_size, f.is_source) for d in docs if d.id in index
                for f in [index.fields(d.id)]}
        assert got == want
        if batch is first:
            after_first = got
    # stable: a story id from the first crawl changes only for an earlier source (a copy had
    # started the story, or two stories merged and the older one's id is kept)
    from pipelines.stories import order_key

    by_id = {d.id: d for d in docs}

    def when(doc_id: str | None) -> tuple[Any, str]:
        d = by_id[str(doc_id)]
        return order_key(d.published_at, d.id, d.date_precision == "day")

    changed = [u for u in after_first if after_first[u][0] != got[u][0]]
    assert all(when(got[u][0]) < when(after_first[u][0]) for u in changed)
    assert len(changed) < len(after_first) / 2
    pairs = found = right = 0
    by_url = got
    urls_ = sorted(by_url)
    for i, a in enumerate(urls_):
        for b in urls_[i + 1:]:
            same, pred = truth[a] == truth[b], by_url[a][0] == by_url[b][0]
            pairs += same
            found += pred
            right += same and pred
    assert right / found >= 0.98 and right / pairs >= 0.95
    # reconciling again changes nothing
    assert store.reconcile_stories().rewritten == 0
    # the story's members, the source first
    story = max(got.values(), key=lambda v: v[1] or 0)[0]
    assert story is not None
    members = store.story_members(story)
    assert members[0].id == story and members[0].is_source and len(members) == got[members[0].url][1]


def test_the_same_story_ids_on_sqlite_and_on_the_engine(engine_backend: str,
                                                         make_store: Callable[[str], Store]) -> None:
    """The evaluation set in one batch on SQLite, in four on the engine: the same story ids."""
    docs, _ = _story_docs()
    sqlite, engine = make_store("sqlite"), make_store(engine_backend)
    sqlite.upsert_documents(docs)
    sqlite.reconcile_stories()
    for i in range(4):
        engine.upsert_documents(docs[i::4])
        engine.reconcile_stories()
    assert _stories_of(engine) == _stories_of(sqlite)
    assert len({v[0] for v in _stories_of(sqlite).values()}) < len(docs) * 0.7


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_workers_reconciling_at_once_make_one_story(backend: str, make_store: Callable[[str], Store]) -> None:
    """Eight workers each write one copy of the same story and reconcile at the same moment:
    one story, with the earliest copy as its source."""
    docs, truth = _story_docs()
    by_story: dict[str, list[Document]] = {}
    for d in docs:
        by_story.setdefault(truth[d.url], []).append(d)
    copies = max(by_story.values(), key=len)[:8]
    first = make_store(backend)
    barrier = threading.Barrier(len(copies))
    errors: list[BaseException] = []

    def work(d: Document) -> None:
        s = _twin(first)
        try:
            s.upsert_documents([d])
            barrier.wait()
            s.reconcile_stories()
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(d,)) for d in copies]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    refresh = getattr(first, "refresh", None)
    if callable(refresh):
        refresh()
    got = _stories_of(first)
    assert len(got) == len(copies)
    assert len({v[0] for v in got.values()}) == 1 and {v[1] for v in got.values()} == {len(copies)}
    assert sum(bool(v[2]) for v in got.values()) == 1
